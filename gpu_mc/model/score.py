"""Score every star in one pass: fused features, then the MLP, batch by batch on the device.

The score column is allocated once on the columns' device and filled in place, so nothing
goes back to the host between load and write. On the GPU the MLP runs in torch on a
zero-copy view of the features. On the CPU, an MLP of Linear and ReLU layers runs in a
Numba kernel that keeps each star's activations in cache (four stars at a time, parallel
over blocks of stars) and writes P(MC) straight into the score column; it agrees with the
torch forward pass to float32 rounding (|Δp| of order 1e-7).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numba
import numpy as np
import torch
from torch import nn

from gpu_mc.backend import array_namespace
from gpu_mc.errors import GpuMcError
from gpu_mc.features import features
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.tensors import as_tensor

#: Stars per parallel task of the CPU kernel.
_TASK_ROWS = 512
#: Stars evaluated together in the CPU kernel (its four accumulators; each weight is loaded
#: once for all of them).
_TILE = 4


@numba.njit(parallel=True, fastmath={"reassoc", "contract"}, cache=True)
def _mlp_probability_cpu(x, weights, biases, out):
    """P(MC) of each row of ``x`` through Linear/ReLU layers and a logistic output.

    ``weights[l]`` is float32 (out, in) as torch stores it, ``biases[l]`` float32 (out,);
    ReLU follows every layer but the last, whose single output is the logit.
    """
    n, k = x.shape
    n_layers = len(weights)
    width = k
    for layer in range(n_layers):
        width = max(width, weights[layer].shape[0])
    for task in numba.prange((n + _TASK_ROWS - 1) // _TASK_ROWS):
        h = np.empty((_TILE, width), np.float32)
        o = np.empty((_TILE, width), np.float32)
        start = task * _TASK_ROWS
        stop = min(n, start + _TASK_ROWS)
        for i in range(start, stop, _TILE):
            for r in range(_TILE):
                row = min(i + r, stop - 1)
                for c in range(k):
                    h[r, c] = x[row, c]
            n_in = k
            for layer in range(n_layers):
                w = weights[layer]
                b = biases[layer]
                n_out = w.shape[0]
                for j in range(n_out):
                    a0 = b[j]
                    a1 = b[j]
                    a2 = b[j]
                    a3 = b[j]
                    for c in range(n_in):
                        wc = w[j, c]
                        a0 += wc * h[0, c]
                        a1 += wc * h[1, c]
                        a2 += wc * h[2, c]
                        a3 += wc * h[3, c]
                    o[0, j] = a0
                    o[1, j] = a1
                    o[2, j] = a2
                    o[3, j] = a3
                if layer < n_layers - 1:
                    for r in range(_TILE):
                        for j in range(n_out):
                            h[r, j] = max(o[r, j], np.float32(0.0))
                n_in = n_out
            for r in range(min(_TILE, stop - i)):
                z = np.float64(o[r, 0])
                if z >= 0.0:
                    out[i + r] = 1.0 / (1.0 + math.exp(-z))
                else:
                    e = math.exp(z)
                    out[i + r] = e / (1.0 + e)


def _cpu_layers(net: nn.Module) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]] | None:
    """Float32 weights and biases of a CPU network of alternating Linear and ReLU layers
    ending in a one-output Linear layer, or None for any other network."""
    mods = list(net.net) if isinstance(getattr(net, "net", None), nn.Sequential) else []
    linears = mods[0::2]
    shape_ok = (
        len(mods) % 2 == 1
        and all(isinstance(m, nn.Linear) for m in linears)
        and all(isinstance(m, nn.ReLU) for m in mods[1::2])
    )
    if not shape_ok or linears[-1].out_features != 1 or linears[0].weight.device.type != "cpu":
        return None
    w = tuple(np.ascontiguousarray(m.weight.detach().numpy(), np.float32) for m in linears)
    b = tuple(np.ascontiguousarray(m.bias.detach().numpy(), np.float32) for m in linears)
    return w, b


PRECISIONS = ("fp32", "tf32", "bf16")


@contextlib.contextmanager
def precision_mode(precision: str, device_type: str) -> Iterator[None]:
    """Matrix precision of the torch forward pass on the GPU.

    ``"fp32"`` (default, everywhere), ``"tf32"`` (TF32 tensor-core matmuls) or ``"bf16"``
    (bfloat16 autocast); the reduced modes exist on CUDA devices only. The benchmark suite
    measures their speed and max |Δp| against fp32.
    """
    if precision not in PRECISIONS:
        raise GpuMcError(f"run.precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "fp32":
        yield
        return
    if device_type != "cuda":
        raise GpuMcError(f"run.precision {precision!r} needs the GPU backend; the CPU uses fp32")
    if precision == "bf16":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
        return
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def score_table(
    table: Mapping[str, Any],
    model: TrainedModel,
    batch_size: int = 1 << 20,
    progress: Callable[[int], None] | None = None,
    precision: str = "fp32",
) -> tuple[Any, Any]:
    """P(MC) for every row of ``table``, in row order.

    Parameters
    ----------
    table : mapping of str to array
        Gaia columns (NumPy or CuPy), length n. The model's network must be on the matching
        torch device.
    model : TrainedModel
    batch_size : int
        Rows per batch.
    progress : callable, optional
        Called with the number of rows finished after each batch.
    precision : {"fp32", "tf32", "bf16"}
        See :func:`precision_mode`.

    Returns
    -------
    p : float32 array, shape (n,)
        P(MC) in [0, 1].
    flags : uint16 array, shape (n,)
        Bit i set where feature i of FEATURE_NAMES was missing and imputed.
    """
    xp = array_namespace(table["ra"])
    n = int(table["ra"].shape[0])
    p = xp.empty(n, dtype=xp.float32)
    flags = xp.empty(n, dtype=xp.uint16)
    mean = xp.asarray(model.mean)
    scale = xp.asarray(model.scale)
    net = model.network
    layers = _cpu_layers(net) if xp is np else None
    p_t = as_tensor(p)
    device_type = next(net.parameters()).device.type
    with torch.inference_mode(), precision_mode(precision, device_type):
        for s in range(0, n, batch_size):
            e = min(s + batch_size, n)
            part = {k: v[s:e] for k, v in table.items()}
            x, f = features(part, model.cloud, model.features, mean, scale)
            flags[s:e] = f
            if layers is not None:
                _mlp_probability_cpu(x, layers[0], layers[1], p[s:e])
            else:
                p_t[s:e] = torch.sigmoid(net(as_tensor(x)))
            if progress is not None:
                progress(e - s)
    return p, flags
