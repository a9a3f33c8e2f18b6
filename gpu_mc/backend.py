"""One decision point for CPU versus GPU execution.

``get_backend`` resolves an explicit name, then the ``GPU_MC_BACKEND`` environment variable,
then detection. Asking for ``"gpu"`` where no usable CUDA device exists raises a
:class:`~gpu_mc.errors.BackendError` naming what is missing; nothing falls back silently.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.errors import BackendError

log = logging.getLogger(__name__)

BACKEND_NAMES = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class Backend:
    """A resolved compute backend.

    Attributes
    ----------
    name : str
        ``"cpu"`` or ``"gpu"``.
    xp : module
        Array namespace: :mod:`numpy` or :mod:`cupy`.
    torch_device : str
        Device string for torch: ``"cpu"`` or ``"cuda"``.
    frame_lib : str
        ``"pandas"`` or ``"cudf"`` (the GPU path uses cuDF only when it is installed).
    capabilities : dict
        Library versions and device facts, for ``gpu-mc info`` and benchmark records.
    """

    name: str
    xp: ModuleType
    torch_device: str
    frame_lib: str
    capabilities: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_gpu(self) -> bool:
        """True on the GPU backend."""
        return self.name == "gpu"


def _module_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@cache
def cudf_usable() -> bool:
    """Whether cuDF imports: installed is not enough (a CUDA or pandas mismatch can break
    its import), and without it the GPU path takes its pyarrow + CuPy and CuPy-sort routes."""
    if not _module_available("cudf"):
        return False
    try:
        import cudf  # noqa: F401
    except Exception as exc:
        log.warning(
            "cuDF is installed but does not import (%s: %s); not using it", type(exc).__name__, exc
        )
        return False
    return True


def gpu_problem() -> str | None:
    """Say why the GPU backend is unusable, or return None when it is usable.

    Returns
    -------
    str or None
        A sentence naming the missing piece (library, device, or simulator mode).
    """
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "NUMBA_ENABLE_CUDASIM=1 is set (the Numba CUDA simulator is not a GPU)"
    if not _module_available("cupy"):
        return (
            "CuPy is not installed (CUDA 13: pip install torch==2.13.0 -e '.[gpu-cu13]'; "
            "CUDA 12: see the README's GPU section)"
        )
    try:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return f"CuPy cannot see a CUDA device ({type(exc).__name__}: {exc})"
    if n < 1:
        return "no CUDA device is visible to CuPy"
    import torch

    if not torch.cuda.is_available():
        return f"torch {torch.__version__} has no CUDA support or sees no CUDA device"
    if not _module_available("numba"):
        return "Numba is not installed"
    try:
        from numba import cuda

        if not cuda.is_available():
            return "Numba CUDA (numba-cuda) finds no usable CUDA driver"
    except Exception as exc:
        return f"Numba CUDA cannot start ({type(exc).__name__}: {exc})"
    return None


@cache
def _make_backend(name: str) -> Backend:
    import torch

    caps: dict[str, Any] = {"numpy": np.__version__, "torch": torch.__version__}
    if name == "cpu":
        caps["torch_threads"] = torch.get_num_threads()
        return Backend("cpu", np, "cpu", "pandas", caps)
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    caps.update(
        cupy=cupy.__version__,
        device_name=props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
        device_count=cupy.cuda.runtime.getDeviceCount(),
        cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
        driver=cupy.cuda.runtime.driverGetVersion(),
    )
    frame_lib = "cudf" if cudf_usable() else "pandas"
    caps["load_route"] = "cudf" if frame_lib == "cudf" else "pyarrow+cupy"
    return Backend("gpu", cupy, "cuda", frame_lib, caps)


def get_backend(name: str | None = "auto") -> Backend:
    """Resolve a compute backend.

    Parameters
    ----------
    name : {"auto", "cpu", "gpu"} or None
        Explicit choice. ``None`` or ``"auto"`` consults ``GPU_MC_BACKEND`` and then detects.

    Returns
    -------
    Backend

    Raises
    ------
    BackendError
        If the name is unknown, or ``"gpu"`` is asked for and no usable CUDA device exists.
    """
    requested = name or "auto"
    if requested == "auto":
        requested = os.environ.get("GPU_MC_BACKEND", "auto").strip().lower() or "auto"
    if requested not in BACKEND_NAMES:
        raise BackendError(
            f"unknown backend {requested!r}; choose one of {', '.join(BACKEND_NAMES)}"
        )
    if requested == "gpu":
        problem = gpu_problem()
        if problem is not None:
            raise BackendError(f"the GPU backend was requested but is unavailable: {problem}")
        return _make_backend("gpu")
    if requested == "auto":
        problem = gpu_problem()
        chosen = "gpu" if problem is None else "cpu"
        _log_auto_choice(chosen, problem)
        return _make_backend(chosen)
    return _make_backend("cpu")


@cache
def _log_auto_choice(chosen: str, problem: str | None) -> None:
    reason = "" if problem is None else f" ({problem})"
    log.info("backend auto: using %s%s", chosen, reason)


def _is_device_array(a: Any) -> bool:
    """A non-NumPy array of the array API (its ``__array_namespace__``), such as CuPy's."""
    return not isinstance(a, np.ndarray | np.generic) and hasattr(a, "__array_namespace__")


def array_namespace(*arrays: Any) -> ModuleType:
    """The array namespace of the arguments: :mod:`cupy` for a CuPy array, the namespace
    of any other non-NumPy array-API array (``__array_namespace__``), else :mod:`numpy`."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            return importlib.import_module("cupy")
        if _is_device_array(a):
            return a.__array_namespace__()
    return np


def to_host(a: Any) -> np.ndarray:
    """Copy an array to host memory: ``a.get()`` for a CuPy (or CuPy-like) device array,
    no copy for NumPy input."""
    if type(a).__module__.startswith("cupy") or (_is_device_array(a) and hasattr(a, "get")):
        return a.get()
    return np.asarray(a)


def bincount(xp: ModuleType, x: Any, minlength: int, weights: Any = None) -> Any:
    """``xp.bincount`` that also accepts an empty ``x`` (CuPy 13 raises on one).

    Parameters
    ----------
    xp : module
        :mod:`numpy` or :mod:`cupy`.
    x : array of non-negative int, shape (n,)
    minlength : int
        Length of the result at least.
    weights : array of float, shape (n,), optional

    Returns
    -------
    array, shape (max(minlength, max(x) + 1),)
        Counts (int64) or sums of weights (float64).
    """
    if x.shape[0] == 0:
        return xp.zeros(minlength, dtype=xp.int64 if weights is None else xp.float64)
    return xp.bincount(x, weights=weights, minlength=minlength)


def repeat(xp: ModuleType, a: Any, counts: Any) -> Any:
    """Repeat ``a[i]`` ``counts[i]`` times, in order, without leaving the device.

    ``cupy.repeat`` accepts only a Python int or sequence as its counts before CuPy 14, so
    the counts are turned into output positions with a cumulative sum and a binary search.

    Parameters
    ----------
    xp : module
    a : array, shape (n,)
    counts : array of non-negative int, shape (n,)

    Returns
    -------
    array, shape (sum(counts),)
    """
    ends = xp.cumsum(counts)
    total = int(ends[-1]) if ends.shape[0] else 0
    return a[xp.searchsorted(ends, xp.arange(total, dtype=ends.dtype), side="right")]


def to_device(a: Any, backend: Backend) -> Any:
    """Place an array on the backend's device (no copy when already there)."""
    return backend.xp.asarray(a)


#: Libraries reported by ``gpu-mc info``, each with the distributions that provide it, in the
#: order looked up: GPU libraries install under a name that carries the CUDA major.
LIBRARY_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "numba": ("numba",),
    "numba-cuda": ("numba-cuda",),
    "torch": ("torch",),
    "pyarrow": ("pyarrow",),
    "pandas": ("pandas",),
    "cupy": ("cupy-cuda13x", "cupy-cuda12x", "cupy"),
    "cudf": ("cudf-cu13", "cudf-cu12", "cudf"),
    "rmm": ("rmm-cu13", "rmm-cu12", "rmm"),
    "cuda-bindings": ("cuda-bindings",),
    "dask": ("dask",),
    "distributed": ("distributed",),
    "dask-cuda": ("dask-cuda",),
    "pygaia": ("pygaia",),
    "astropy": ("astropy",),
    "safetensors": ("safetensors",),
}


def library_versions() -> dict[str, tuple[str, str] | None]:
    """Installed version of each library in :data:`LIBRARY_DISTRIBUTIONS`, without importing it.

    Returns
    -------
    dict
        Library name to ``(distribution, version)`` of the first of its distributions that is
        installed, or None when none is.
    """
    import importlib.metadata as md

    found: dict[str, tuple[str, str] | None] = {}
    for lib, dists in LIBRARY_DISTRIBUTIONS.items():
        found[lib] = None
        for dist in dists:
            try:
                found[lib] = (dist, md.version(dist))
                break
            except md.PackageNotFoundError:
                continue
    return found
