"""Score every star in one pass: fused features, then the MLP, batch by batch on the device.

The score column is allocated once on the columns' device and filled in place through a
zero-copy torch view, so nothing goes back to the host between load and write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from gpu_mc.backend import array_namespace
from gpu_mc.features import features
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.tensors import as_tensor


def score_table(
    table: Mapping[str, Any],
    model: TrainedModel,
    batch_size: int = 1 << 20,
    progress: Callable[[int], None] | None = None,
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
    p_t = as_tensor(p)
    mean = xp.asarray(model.mean)
    scale = xp.asarray(model.scale)
    net = model.network
    with torch.inference_mode():
        for s in range(0, n, batch_size):
            e = min(s + batch_size, n)
            part = {k: v[s:e] for k, v in table.items()}
            x, f = features(part, model.cloud, model.features, mean, scale)
            flags[s:e] = f
            p_t[s:e] = torch.sigmoid(net(as_tensor(x)))
            if progress is not None:
                progress(e - s)
    return p, flags
