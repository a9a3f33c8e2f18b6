"""The classifier: networks, training, batched scoring and safetensors checkpoints.

The names below are imported on first use, so ``gpu_mc.model.registry`` (which the
configuration checks architecture names against) imports without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "Classifier": "gpu_mc.model.network",
    "Logistic": "gpu_mc.model.network",
    "MLP": "gpu_mc.model.network",
    "TrainedModel": "gpu_mc.model.checkpoint",
    "load_model": "gpu_mc.model.checkpoint",
    "save_model": "gpu_mc.model.checkpoint",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'gpu_mc.model' has no attribute {name!r}")
