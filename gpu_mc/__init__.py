"""gpu_mc: tell Magellanic Cloud stars from Milky Way foreground in Gaia DR3, star by star.

Importing this package imports no CUDA library; the GPU is touched only when a backend is
resolved to ``"gpu"``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from gpu_mc.backend import Backend, get_backend
from gpu_mc.config import Config, load_config
from gpu_mc.errors import BackendError, ConfigError, GpuMcError, InputError, ModelError

__all__ = [
    "Backend",
    "BackendError",
    "Config",
    "ConfigError",
    "GpuMcError",
    "InputError",
    "ModelError",
    "__version__",
    "get_backend",
    "load_config",
]
