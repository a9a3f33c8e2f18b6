"""Numba kernels of gpu_mc, all written in one pattern (see :mod:`gpu_mc_kernels.launch`).

Each kernel is a row function written once and compiled as the CPU twin and as the CUDA
kernel (:class:`~gpu_mc_kernels.launch.RowKernel`), with one launcher per kernel that picks
the side from the input arrays. Importing this package imports neither :mod:`numba.cuda` nor
:mod:`cupy`; the CUDA kernels are compiled on first launch.
"""

from gpu_mc_kernels.features import FEATURE_ORDER, INPUT_ORDER, compute_features
from gpu_mc_kernels.launch import THREADS_PER_BLOCK, RowKernel, grid_size
from gpu_mc_kernels.split import SPLIT_CODES, assign_split, uniform

__all__ = [
    "FEATURE_ORDER",
    "INPUT_ORDER",
    "SPLIT_CODES",
    "THREADS_PER_BLOCK",
    "RowKernel",
    "assign_split",
    "compute_features",
    "grid_size",
    "uniform",
]
