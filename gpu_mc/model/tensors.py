"""Zero-copy hand-off between NumPy/CuPy arrays and torch tensors."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gpu_mc.backend import array_namespace


def as_tensor(a: Any) -> torch.Tensor:
    """View a NumPy array (``torch.from_numpy``) or CuPy array (DLPack) as a tensor, no copy."""
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a)
    return torch.from_dlpack(a)


def as_array(t: torch.Tensor, like: Any) -> Any:
    """View a tensor as an array of the same kind as ``like`` (NumPy or CuPy), no copy."""
    if isinstance(like, np.ndarray):
        return t.numpy()
    return array_namespace(like).from_dlpack(t)
