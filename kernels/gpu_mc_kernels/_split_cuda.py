"""CUDA kernel of :mod:`gpu_mc_kernels.split`; imported only when first launched.

The kernel refers to :mod:`numba.cuda` through a module global so that the Numba CUDA
simulator can substitute its fake module.
"""

import numpy as np
from numba import cuda

from .split import _make_unit, _mix64, _split_code

_unit_cuda = cuda.jit(device=True)(_make_unit(cuda.jit(device=True)(_mix64)))
_split_code_cuda = cuda.jit(device=True)(_split_code)


@cuda.jit
def split_kernel(
    labels, start, key_keep, key_split, keep_mw, keep_mc, train_fraction, val_threshold, out
):
    """One thread per star: the two counter-based uniforms and the split code."""
    i = cuda.grid(1)
    if i < labels.shape[0]:
        c = np.uint64(start + i)
        out[i] = _split_code_cuda(
            labels[i],
            _unit_cuda(key_keep, c),
            _unit_cuda(key_split, c),
            keep_mw,
            keep_mc,
            train_fraction,
            val_threshold,
        )
