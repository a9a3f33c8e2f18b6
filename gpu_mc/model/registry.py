"""Classifier architectures by name, without importing torch.

A checkpoint stores an architecture's name and its settings; :func:`get_architecture` turns
the name back into the network class. A new architecture is a subclass of
:class:`gpu_mc.model.network.Classifier` plus one :func:`register_architecture` call (or one
entry in :data:`_BUILT_IN`).
"""

from __future__ import annotations

import importlib
from typing import Any

from gpu_mc.errors import ConfigError

#: Built-in architectures: name → "module:Class", imported on first use.
_BUILT_IN = {
    "mlp": "gpu_mc.model.network:MLP",
    "logistic": "gpu_mc.model.network:Logistic",
    "ensemble": "gpu_mc.model.ensemble:Ensemble",
}

_REGISTRY: dict[str, Any] = dict(_BUILT_IN)


def register_architecture(name: str, cls: Any) -> None:
    """Make ``cls`` (a Classifier subclass, or a "module:Class" path) available as ``name``."""
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"architecture name must be an identifier, got {name!r}")
    _REGISTRY[name] = cls


def architecture_names() -> tuple[str, ...]:
    """Names of the registered architectures."""
    return tuple(_REGISTRY)


def get_architecture(name: str) -> Any:
    """The Classifier subclass registered as ``name``.

    Raises
    ------
    ConfigError
        If no architecture has that name.
    """
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ConfigError(
            f"unknown architecture {name!r}; known: {', '.join(architecture_names())}"
        )
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
        _REGISTRY[name] = entry
    return entry
