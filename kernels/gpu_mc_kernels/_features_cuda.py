"""CUDA kernel of :mod:`gpu_mc_kernels.features`; imported only when first launched.

The kernel refers to :mod:`numba.cuda` through a module global so that the Numba CUDA
simulator can substitute its fake module.
"""

from numba import cuda

from .features import _raw_features, _store_row

_raw_features_cuda = cuda.jit(device=True)(_raw_features)
_store_row_cuda = cuda.jit(device=True)(_store_row)


@cuda.jit
def features_kernel(
    ra, dec, pmra, pmdec, pmra_error, pmdec_error, corr, parallax, parallax_error, g, bp, rp,
    ra0_rad, sin_dec0, cos_dec0, select, mean, scale, out, flags,
):  # fmt: skip
    """One thread per star: raw features, standardisation, imputation, float32 store."""
    i = cuda.grid(1)
    if i < out.shape[0]:
        raw = _raw_features_cuda(
            ra[i], dec[i], pmra[i], pmdec[i], pmra_error[i], pmdec_error[i], corr[i],
            parallax[i], parallax_error[i], g[i], bp[i], rp[i], ra0_rad, sin_dec0, cos_dec0,
        )  # fmt: skip
        _store_row_cuda(i, raw, select, mean, scale, out, flags)
