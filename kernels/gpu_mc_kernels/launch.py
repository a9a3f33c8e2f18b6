"""Launch geometry and the device-or-host decision shared by every kernel.

Nothing here imports :mod:`numba.cuda` or :mod:`cupy` at import time: :func:`cuda_module`
imports Numba CUDA on first use, and CuPy is imported only for an input that already is a
CuPy array.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

#: Threads per block of every 1-D launch: a multiple of the 32-thread warp that keeps
#: several blocks resident per streaming multiprocessor.
THREADS_PER_BLOCK = 256


def grid_size(n: int, threads_per_block: int = THREADS_PER_BLOCK) -> int:
    """Number of blocks for a one-thread-per-element launch.

    Parameters
    ----------
    n : int
        Number of elements (rows), ``n >= 0``.
    threads_per_block : int, optional
        Block size; :data:`THREADS_PER_BLOCK` by default.

    Returns
    -------
    int
        ``ceil(n / threads_per_block)``, at least 1 so that an empty launch stays valid.
    """
    return max(1, -(-n // threads_per_block))


@functools.cache
def cuda_module() -> ModuleType:
    """Import :mod:`numba.cuda` on first use and return it."""
    from numba import cuda

    return cuda


def is_device_array(a: Any) -> bool:
    """True for CUDA device arrays (CuPy, Numba device arrays, anything with
    ``__cuda_array_interface__``)."""
    return hasattr(a, "__cuda_array_interface__")


def _is_cupy(a: Any) -> bool:
    return type(a).__module__.startswith("cupy")


def on_device(arrays: Sequence[Any], names: Sequence[str]) -> bool:
    """Decide where a kernel runs from its array arguments.

    Parameters
    ----------
    arrays : sequence of array-like
        The kernel's array arguments.
    names : sequence of str
        Their parameter names, for the error message.

    Returns
    -------
    bool
        True when every array is a CUDA device array, False when none is.

    Raises
    ------
    TypeError
        When host and device arrays are mixed: kernels never copy between host and device.
    """
    where = [is_device_array(a) for a in arrays]
    if all(where):
        return True
    if any(where):
        host = [n for n, d in zip(names, where, strict=True) if not d]
        raise TypeError(
            f"host arrays {', '.join(host)} mixed with CUDA device arrays; move all inputs "
            "to one side first (kernels never copy between host and device)"
        )
    return False


def empty_like_side(template: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """Allocate an uninitialised array on the same side (and library) as ``template``.

    Parameters
    ----------
    template : array-like
        A NumPy array, a CuPy array or another CUDA device array.
    shape : tuple of int
        Shape of the new array.
    dtype : numpy.dtype
        Its dtype.

    Returns
    -------
    array
        :func:`cupy.empty` for CuPy input, :func:`numba.cuda.device_array` for other device
        arrays, :func:`numpy.empty` otherwise (also under the CUDA simulator).
    """
    if _is_cupy(template):
        import cupy

        return cupy.empty(shape, dtype=dtype)
    if is_device_array(template):
        return cuda_module().device_array(shape, dtype=dtype)
    return np.empty(shape, dtype=dtype)


def stream_for(template: Any) -> Any:
    """The CUDA stream to launch on: CuPy's current stream for CuPy input, else the default.

    Parameters
    ----------
    template : array-like
        An argument of the launch.

    Returns
    -------
    numba.cuda stream or int
        An external stream wrapping CuPy's current stream, or 0 (Numba's default stream; also
        for NumPy arrays under the CUDA simulator).
    """
    if _is_cupy(template):
        import cupy

        return cuda_module().external_stream(cupy.cuda.get_current_stream().ptr)
    return 0


def launch(kernel: Any, n: int, *args: Any) -> None:
    """Launch a 1-D kernel over ``n`` rows on the stream of its first argument.

    CuPy arguments are handed to Numba with ``sync=False``: by default Numba synchronises
    the host on the stream a CUDA Array Interface object names at every launch, which would
    serialise batches for nothing, since the launch already goes on CuPy's current stream.
    Numba's low-occupancy warning for small launches (a few hundred rows) is silenced.

    Parameters
    ----------
    kernel : numba.cuda dispatcher
        A ``@cuda.jit`` kernel taking ``args``, one thread per row.
    n : int
        Number of rows.
    *args
        Kernel arguments; the first is an array that decides the stream.
    """
    stream = stream_for(args[0])
    if _is_cupy(args[0]):
        as_array = cuda_module().as_cuda_array
        args = tuple(as_array(a, sync=False) if _is_cupy(a) else a for a in args)
    from numba.core.errors import NumbaPerformanceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        kernel[grid_size(n), THREADS_PER_BLOCK, stream](*args)
