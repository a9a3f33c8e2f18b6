"""Numba kernels of gpu_mc, each with a CUDA kernel, a CPU twin and a launcher.

Importing this package imports neither :mod:`numba.cuda` nor :mod:`cupy`; the CUDA kernels
are compiled on first use.
"""

from .features import FEATURE_ORDER, INPUT_ORDER, compute_features
from .launch import THREADS_PER_BLOCK, grid_size
from .split import SPLIT_CODES, assign_split, uniform

__all__ = [
    "FEATURE_ORDER",
    "INPUT_ORDER",
    "SPLIT_CODES",
    "THREADS_PER_BLOCK",
    "assign_split",
    "compute_features",
    "grid_size",
    "uniform",
]
