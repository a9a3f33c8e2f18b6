"""Score every star in one pass: fused features, then the network, batch by batch on the
device.

The score column is allocated once on the columns' device and filled in place, so nothing
goes back to the host between load and write. On the GPU the network runs in torch on a
zero-copy view of the features, a whole batch at a time. On the CPU it runs the network's own
fast forward pass (:meth:`~gpu_mc.model.network.Classifier.cpu_forward`, for the MLP tile by
tile into preallocated buffers that stay in cache); on a 2-core CPU that is several times
faster than one forward call over a million-star batch (the benchmark suite's
``score_vs_torch_plain``), with the same result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from gpu_mc.backend import array_namespace
from gpu_mc.config import PRECISIONS
from gpu_mc.errors import GpuMcError
from gpu_mc.features import features
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.network import Classifier
from gpu_mc.model.tensors import as_tensor


def probabilities(net: Classifier, x: torch.Tensor) -> torch.Tensor:
    """``sigmoid(net(x))`` with the output layer and the logistic function in float32.

    Under bfloat16 autocast (``run.precision = "bf16"``) the hidden layers run in bfloat16,
    but the last matrix product accumulates into a float32 logit and the sigmoid runs in
    float32: a bfloat16 sigmoid alone rounds P(MC) to 8 significant bits (|Δp| up to ~2e-3).
    Outside autocast this is exactly ``torch.sigmoid(net(x))``.

    Parameters
    ----------
    net : Classifier
    x : torch.Tensor, shape (n, n_inputs)
        Standardised features, float32.

    Returns
    -------
    torch.Tensor of float32, shape (n,)
        P(MC) in [0, 1].
    """
    body, head = net.body_and_head()
    h = body(x)
    with torch.autocast(x.device.type, enabled=False):
        return torch.sigmoid(head(h.float()).squeeze(-1))


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
        P(MC) in [0, 1] (an ensemble's mean).
    flags : uint16 array, shape (n,)
        Bit i set where feature i of FEATURE_NAMES was missing and imputed.
    """
    p, _, flags = _score_rows(table, model, batch_size, progress, precision)
    return p, flags


def score_table_std(
    table: Mapping[str, Any],
    model: TrainedModel,
    batch_size: int = 1 << 20,
    progress: Callable[[int], None] | None = None,
    precision: str = "fp32",
) -> tuple[Any, Any, Any]:
    """P(MC), its spread over ensemble members, and the flags of every row, in row order.

    Like :func:`score_table`; an ensemble network (architecture ``"ensemble"``) computes all
    its members from one read of each batch, and its mean is ``p`` and its standard
    deviation the spread. Any other network has a spread of 0.

    Returns
    -------
    p : float32 array, shape (n,)
    p_std : float32 array, shape (n,)
    flags : uint16 array, shape (n,)
    """
    p, sd, flags = _score_rows(table, model, batch_size, progress, precision)
    if sd is None:
        sd = array_namespace(p).zeros_like(p)
    return p, sd, flags


#: Scores the standardised features of one batch (a float32 tensor) into rows [s, e).
BatchForward = Callable[[torch.Tensor, int, int], None]


def _batch_forward(net: Classifier, p_t: torch.Tensor, sd_t: torch.Tensor | None) -> BatchForward:
    """The per-batch forward pass of ``net``, writing into the score tensors in place.

    A single network writes P(MC) into ``p_t``; an ensemble (``sd_t`` given) writes its mean
    into ``p_t`` and its spread into ``sd_t``. On the CPU the network's tiled pass, elsewhere
    torch on the whole batch.
    """
    on_cpu = next(net.parameters()).device.type == "cpu"
    if sd_t is None:
        if on_cpu:
            tiled = net.cpu_forward()
            return lambda x, s, e: tiled(x, p_t[s:e])

        def single(x: torch.Tensor, s: int, e: int) -> None:
            p_t[s:e] = probabilities(net, x)

        return single
    if on_cpu:
        tiled_std = net.cpu_forward_std()
        return lambda x, s, e: tiled_std(x, p_t[s:e], sd_t[s:e])

    def ensemble(x: torch.Tensor, s: int, e: int) -> None:
        mu, spread = net.mean_std(x)
        p_t[s:e] = mu.float()
        sd_t[s:e] = spread.float()

    return ensemble


def _score_rows(
    table: Mapping[str, Any],
    model: TrainedModel,
    batch_size: int,
    progress: Callable[[int], None] | None,
    precision: str,
) -> tuple[Any, Any | None, Any]:
    """The batch loop of :func:`score_table` and :func:`score_table_std`.

    Returns ``(p, p_std, flags)``; ``p_std`` is None unless the network is an ensemble (one
    that has ``mean_std``), whose mean and spread come from one pass over each batch.
    """
    net = model.network
    xp = array_namespace(table["ra"])
    n = int(table["ra"].shape[0])
    p = xp.empty(n, dtype=xp.float32)
    sd = xp.empty(n, dtype=xp.float32) if hasattr(net, "mean_std") else None
    flags = xp.empty(n, dtype=xp.uint16)
    mean = xp.asarray(model.mean)
    scale = xp.asarray(model.scale)
    forward = _batch_forward(net, as_tensor(p), None if sd is None else as_tensor(sd))
    device_type = next(net.parameters()).device.type
    with torch.inference_mode(), precision_mode(precision, device_type):
        for s in range(0, n, batch_size):
            e = min(s + batch_size, n)
            part = {k: v[s:e] for k, v in table.items()}
            x, f = features(part, model.target, model.features, mean, scale)
            flags[s:e] = f
            forward(as_tensor(x), s, e)
            if progress is not None:
                progress(e - s)
    return p, sd, flags
