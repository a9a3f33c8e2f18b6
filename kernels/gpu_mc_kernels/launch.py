"""The one kernel pattern of this package: a row function, its CPU twin, its CUDA kernel.

Every kernel is written once, as a *row function*::

    @register_jitable
    def _thing_row(i, columns, params, outputs):
        a, b = columns          # per-row input arrays, in the kernel's input order
        scale, table = params   # scalars and arrays shared by every row
        (out,) = outputs        # arrays the row writes at index i
        out[i] = _helper(a[i], b[i], table) * scale

    THING = RowKernel(_thing_row)

The row and every helper it calls are plain Python that Numba compiles, decorated with
:func:`numba.extending.register_jitable` so that both Numba targets can call them, and they
live in the kernel's own module. :class:`RowKernel` compiles that one source twice: the CPU
twin, a ``numba.njit(parallel=True, cache=True)`` loop over rows (the CPU path and the test
oracle), and the CUDA kernel, ``numba.cuda.jit`` with one thread per row. Each module then
has one public launcher (e.g. :func:`gpu_mc_kernels.features.compute_features`) that checks
its arguments, allocates the outputs on the inputs' side with :func:`empty_like_side`,
decides the side once with :func:`decide_device` and calls the :class:`RowKernel` with
``(columns, params, outputs)``. Every CUDA launch goes through :func:`launch`: grid from
:data:`THREADS_PER_BLOCK`, CuPy's current stream, CuPy arrays handed over with
``sync=False``. Nothing copies between host and device. A launcher's ``device=True`` runs the
CUDA kernel on NumPy arrays under the Numba CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``),
which is how the tests compare it with the twin.

Nothing here imports :mod:`numba.cuda` or :mod:`cupy` at import time: the CUDA kernel is
compiled on first launch (:func:`cuda_module` imports Numba CUDA then), and CuPy is imported
only for an input that already is a CuPy array.
"""

from __future__ import annotations

import functools
import os
import types
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numba
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


def decide_device(arrays: Sequence[Any], names: Sequence[str], device: bool | None) -> bool:
    """Where a launcher runs its kernel: the arrays' side, or the side asked for.

    Parameters
    ----------
    arrays, names : sequence
        As in :func:`on_device`.
    device : bool or None
        None to follow the arrays; True for the CUDA kernel, False for the CPU twin. The CUDA
        kernel takes NumPy arrays only under the Numba CUDA simulator.

    Returns
    -------
    bool
        True to launch the CUDA kernel, False to run the CPU twin.

    Raises
    ------
    TypeError
        When host and device arrays are mixed, or the side asked for is not the arrays' side
        (outside the simulator).
    """
    arrays_on_device = on_device(arrays, names)
    if device is None or device == arrays_on_device:
        return arrays_on_device
    if device and numba.config.ENABLE_CUDASIM:
        return True
    side = "CUDA device" if arrays_on_device else "host (NumPy)"
    raise TypeError(
        f"device={device} asked for, but the arrays are {side} arrays (kernels never copy "
        "between host and device; the CUDA kernel takes NumPy arrays only under "
        "NUMBA_ENABLE_CUDASIM=1)"
    )


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


def _numba_view(a: Any) -> Any:
    """CuPy arrays (also inside tuples) as Numba device arrays, without a host sync."""
    if isinstance(a, tuple):
        return tuple(_numba_view(x) for x in a)
    if _is_cupy(a):
        return cuda_module().as_cuda_array(a, sync=False)
    return a


def launch(kernel: Any, n: int, args: tuple[Any, ...]) -> None:
    """Launch a 1-D kernel over ``n`` rows on the stream of its first array.

    CuPy arrays are handed to Numba with ``sync=False``: by default Numba synchronises the
    host on the stream a CUDA Array Interface object names at every launch, which would
    serialise batches for nothing, since the launch already goes on CuPy's current stream.
    Numba's low-occupancy warning for small launches (a few hundred rows) is silenced.

    Parameters
    ----------
    kernel : numba.cuda dispatcher
        A ``@cuda.jit`` kernel taking ``args``, one thread per row.
    n : int
        Number of rows.
    args : tuple
        Kernel arguments, tuples of arrays among them; the first array (``args[0][0]`` for
        a tuple) decides the stream.
    """
    first = args[0][0] if isinstance(args[0], tuple) else args[0]
    stream = stream_for(first)
    from numba.core.errors import NumbaPerformanceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        kernel[grid_size(n), THREADS_PER_BLOCK, stream](*_numba_view(args))


# The CUDA kernel template. Each RowKernel binds ``cuda`` (numba.cuda, which the CUDA simulator
# swaps for its fake module through these globals) and ``row`` in a private globals dict; they
# stay None here so that importing this module imports no CUDA library.
cuda: Any = None
row: Any = None


def _cuda_rows(columns, params, outputs):
    """One thread per row: ``row(i, columns, params, outputs)`` for ``i < len(columns[0])``."""
    i = cuda.grid(1)
    if i < columns[0].shape[0]:
        row(i, columns, params, outputs)


def _cpu_loop(row_fn: Callable[..., None]) -> Any:
    """The CPU twin of ``row_fn``: a parallel, cached Numba loop over rows."""

    def rows(columns, params, outputs):
        for i in numba.prange(columns[0].shape[0]):
            row_fn(i, columns, params, outputs)

    # Numba files a cached function under its source file and recompiles when that file
    # changes; filing the loop under the row's module makes an edit of a kernel recompile its
    # twin (the loop itself is part of the cache key through its bytecode).
    source = row_fn.__code__
    rows.__code__ = rows.__code__.replace(
        co_filename=source.co_filename,
        co_firstlineno=source.co_firstlineno,
        co_qualname=f"{row_fn.__qualname__}_twin",
    )
    rows.__qualname__ = f"{row_fn.__qualname__}_twin"
    # A row typed at a prompt has no source file to cache under.
    return numba.njit(parallel=True, cache=os.path.isfile(source.co_filename))(rows)


class RowKernel:
    """A kernel given by its row function: the CPU twin and the CUDA kernel of one source.

    Parameters
    ----------
    row_fn : callable
        ``row_fn(i, columns, params, outputs)``, decorated with
        :func:`numba.extending.register_jitable`; it computes row ``i`` and writes it into
        ``outputs``.

    Attributes
    ----------
    name : str
        The row function's name.
    """

    def __init__(self, row_fn: Callable[..., None]) -> None:
        self.row_fn = row_fn
        self.name = row_fn.__name__

    def __repr__(self) -> str:
        return f"RowKernel({self.name})"

    @functools.cached_property
    def twin(self) -> Any:
        """The CPU twin: ``twin(columns, params, outputs)`` on NumPy arrays, parallel over rows."""
        return _cpu_loop(self.row_fn)

    @functools.cached_property
    def cuda_kernel(self) -> Any:
        """The CUDA kernel, one thread per row; compiled (and numba.cuda imported) on first use."""
        cuda_mod = cuda_module()
        names = {**globals(), "cuda": cuda_mod, "row": self.row_fn}
        code = _cuda_rows.__code__.replace(co_name=f"{self.name}_kernel")
        return cuda_mod.jit(types.FunctionType(code, names, f"{self.name}_kernel"))

    def __call__(
        self, columns: tuple[Any, ...], params: tuple[Any, ...], outputs: tuple[Any, ...],
        device: bool,
    ) -> None:  # fmt: skip
        """Run every row: the CUDA kernel when ``device``, else the CPU twin.

        Parameters
        ----------
        columns : tuple of arrays, each shape (n,)
            Per-row inputs, in the kernel's input order.
        params : tuple
            Scalars and arrays shared by every row.
        outputs : tuple of arrays
            Written at each row index.
        device : bool
            From :func:`decide_device`.
        """
        if device:
            launch(self.cuda_kernel, columns[0].shape[0], (columns, params, outputs))
        else:
            self.twin(columns, params, outputs)
