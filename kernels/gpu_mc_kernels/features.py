"""Fused feature kernel: the 11 classifier inputs in one pass over the Gaia columns.

For each star the kernel projects position and proper motion orthographically about the
Cloud centre (Gaia Collaboration, Luri et al. 2021, A&A 649, A7, eqs. 1-2), propagates the
proper-motion covariance through the same transform, standardises the selected features and
writes them as float32.

With Δα = α − α0:

* x = cos δ sin Δα, y = sin δ cos δ0 − cos δ sin δ0 cos Δα, reported in degrees
  (times 180/π);
* μx = μα* cos Δα − μδ sin δ sin Δα,
  μy = μα* sin δ0 sin Δα + μδ (cos δ cos δ0 + sin δ sin δ0 cos Δα), in mas/yr;
* σμx² = a₁²σα² + a₂²σδ² + 2a₁a₂ρσασδ with (a₁, a₂) = (cos Δα, −sin δ sin Δα), and σμy²
  likewise with (b₁, b₂) = (sin δ0 sin Δα, cos δ cos δ0 + sin δ sin δ0 cos Δα), in mas/yr;
* parallax, parallax_error (mas) and the G, BP, RP magnitudes pass through.

Null policy: a missing (NaN) ``pmra_pmdec_corr`` is *not* taken as zero; it makes both
σμx and σμy non-finite, so they are flagged like any other missing value. Every selected
feature whose standardised float32 value is not finite (a NaN or infinite input, or an
overflow) is replaced by 0.0, the training mean after standardisation (imputation), and its
bit is set in the per-star flags.

Three parts, as for every kernel of this package: the CUDA kernel (in
:mod:`gpu_mc_kernels._features_cuda`, imported on first use), the CPU twin
:func:`features_cpu` (Numba, parallel over stars; also the test oracle) and the launcher
:func:`compute_features`, which picks one by the array type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from .launch import (
    empty_like_side,
    launch,
    on_device,
)

#: The 11 raw features, in the order of their indices in ``select`` and of the flag bits.
FEATURE_ORDER: tuple[str, ...] = (
    "x",
    "y",
    "mu_x",
    "mu_y",
    "sigma_mu_x",
    "sigma_mu_y",
    "parallax",
    "parallax_error",
    "g",
    "bp",
    "rp",
)

#: Gaia DR3 columns taken by :func:`compute_features`, in the order of its first 12 arguments.
INPUT_ORDER: tuple[str, ...] = (
    "ra",
    "dec",
    "pmra",
    "pmdec",
    "pmra_error",
    "pmdec_error",
    "pmra_pmdec_corr",
    "parallax",
    "parallax_error",
    "phot_g_mean_mag",
    "phot_bp_mean_mag",
    "phot_rp_mean_mag",
)

_N_FEATURES = len(FEATURE_ORDER)
_RAD_TO_DEG = 180.0 / math.pi
_DEG_TO_RAD = math.pi / 180.0


def _raw_features(
    ra, dec, pmra, pmdec, pmra_error, pmdec_error, corr, parallax, parallax_error, g, bp, rp,
    ra0_rad, sin_dec0, cos_dec0,
):  # fmt: skip
    """The 11 raw features of one star, in float64 (compiled for the CPU and for CUDA).

    Scalar arguments as in :func:`compute_features`, except ``ra0_rad`` (rad) and the sine
    and cosine of δ0. Inputs are promoted to float64 first (explicitly, so that the CUDA
    simulator, which evaluates this in Python with NumPy scalars, agrees with compiled code).
    Returns a tuple of 11 float64 in the order of :data:`FEATURE_ORDER`.
    """
    d_ra = np.float64(ra) * _DEG_TO_RAD - ra0_rad
    dec_rad = np.float64(dec) * _DEG_TO_RAD
    sin_da = math.sin(d_ra)
    cos_da = math.cos(d_ra)
    sin_d = math.sin(dec_rad)
    cos_d = math.cos(dec_rad)
    x = cos_d * sin_da
    y = sin_d * cos_dec0 - cos_d * sin_dec0 * cos_da
    a1 = cos_da
    a2 = -sin_d * sin_da
    b1 = sin_dec0 * sin_da
    b2 = cos_d * cos_dec0 + sin_d * sin_dec0 * cos_da
    mu_a = np.float64(pmra)
    mu_d = np.float64(pmdec)
    s_a = np.float64(pmra_error)
    s_d = np.float64(pmdec_error)
    cov = np.float64(corr) * s_a * s_d
    var_x = a1 * a1 * s_a * s_a + a2 * a2 * s_d * s_d + 2.0 * a1 * a2 * cov
    var_y = b1 * b1 * s_a * s_a + b2 * b2 * s_d * s_d + 2.0 * b1 * b2 * cov
    return (
        x * _RAD_TO_DEG,
        y * _RAD_TO_DEG,
        a1 * mu_a + a2 * mu_d,
        b1 * mu_a + b2 * mu_d,
        0.0 if var_x < 0.0 else math.sqrt(var_x),
        0.0 if var_y < 0.0 else math.sqrt(var_y),
        np.float64(parallax),
        np.float64(parallax_error),
        np.float64(g),
        np.float64(bp),
        np.float64(rp),
    )


def _store_row(i, raw, select, mean, scale, out, flags):
    """Standardise the selected features of star ``i``, impute non-finite ones with 0 and
    write row ``i`` of ``out`` (float32) and ``flags[i]`` (bit ``select[j]`` per imputed
    feature)."""
    flag = 0
    for j in range(select.shape[0]):
        f = select[j]
        v = np.float32((raw[f] - mean[j]) / scale[j])
        if not math.isfinite(v):
            v = np.float32(0.0)
            flag |= 1 << f
        out[i, j] = v
    flags[i] = flag


_raw_features_cpu = numba.njit(_raw_features)
_store_row_cpu = numba.njit(_store_row)


@numba.njit(parallel=True, cache=True)
def _features_twin(
    ra, dec, pmra, pmdec, pmra_error, pmdec_error, corr, parallax, parallax_error, g, bp, rp,
    ra0_rad, sin_dec0, cos_dec0, select, mean, scale, out, flags,
):  # fmt: skip
    for i in numba.prange(out.shape[0]):
        raw = _raw_features_cpu(
            ra[i], dec[i], pmra[i], pmdec[i], pmra_error[i], pmdec_error[i], corr[i],
            parallax[i], parallax_error[i], g[i], bp[i], rp[i], ra0_rad, sin_dec0, cos_dec0,
        )  # fmt: skip
        _store_row_cpu(i, raw, select, mean, scale, out, flags)


def _cuda_kernel() -> Callable[..., None]:
    """The CUDA kernel, compiled on first use (imports :mod:`numba.cuda` only then)."""
    from ._features_cuda import features_kernel

    return features_kernel


def _centre(ra0: float, dec0: float) -> tuple[float, float, float]:
    dec0_rad = float(dec0) * _DEG_TO_RAD
    return float(ra0) * _DEG_TO_RAD, math.sin(dec0_rad), math.cos(dec0_rad)


def _outputs(template: Any, n: int, k: int, out: Any) -> tuple[Any, Any]:
    if out is None:
        out = empty_like_side(template, (n, k), np.dtype(np.float32))
    flags = empty_like_side(template, (n,), np.dtype(np.uint16))
    return out, flags


def features_cpu(
    ra, dec, pmra, pmdec, pmra_error, pmdec_error, pmra_pmdec_corr, parallax, parallax_error,
    g, bp, rp, ra0: float, dec0: float, select, mean, scale, out=None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """CPU twin: the fused feature pass with Numba on NumPy arrays (parallel over stars).

    Arguments and returns as in :func:`compute_features`, without validation; the arrays
    must be NumPy arrays.
    """
    out, flags = _outputs(ra, ra.shape[0], select.shape[0], out)
    _features_twin(
        ra, dec, pmra, pmdec, pmra_error, pmdec_error, pmra_pmdec_corr, parallax,
        parallax_error, g, bp, rp, *_centre(ra0, dec0), select, mean, scale, out, flags,
    )  # fmt: skip
    return out, flags


def features_cuda(
    ra, dec, pmra, pmdec, pmra_error, pmdec_error, pmra_pmdec_corr, parallax, parallax_error,
    g, bp, rp, ra0: float, dec0: float, select, mean, scale, out=None,
) -> tuple[Any, Any]:  # fmt: skip
    """CUDA path: launch the fused feature kernel, one thread per star.

    Arguments and returns as in :func:`compute_features`, without validation. The arrays are
    CUDA device arrays, or NumPy arrays under the Numba CUDA simulator
    (``NUMBA_ENABLE_CUDASIM=1``), which is how the tests call it. The launch is asynchronous
    on CuPy's current stream for CuPy input.
    """
    n = ra.shape[0]
    out, flags = _outputs(ra, n, select.shape[0], out)
    launch(
        _cuda_kernel(), n, ra, dec, pmra, pmdec, pmra_error, pmdec_error, pmra_pmdec_corr,
        parallax, parallax_error, g, bp, rp, *_centre(ra0, dec0), select, mean, scale, out,
        flags,
    )  # fmt: skip
    return out, flags


_COLUMN_NAMES = (
    "ra", "dec", "pmra", "pmdec", "pmra_error", "pmdec_error", "pmra_pmdec_corr", "parallax",
    "parallax_error", "g", "bp", "rp",
)  # fmt: skip


def _as_param(a: Any, dtype: type, device: bool, name: str) -> Any:
    """A 1-D parameter array of the wanted dtype, converted on its own side."""
    if not device:
        a = np.ascontiguousarray(a, dtype=dtype)
    elif a.dtype != dtype:
        a = a.astype(dtype)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return a


def compute_features(
    ra, dec, pmra, pmdec, pmra_error, pmdec_error, pmra_pmdec_corr, parallax, parallax_error,
    g, bp, rp, ra0: float, dec0: float, select, mean, scale, out=None,
) -> tuple[Any, Any]:  # fmt: skip
    """Compute standardised classifier features in one fused pass (launcher).

    Runs the CUDA kernel when the arrays are CUDA device arrays (CuPy or anything with
    ``__cuda_array_interface__``) and the CPU twin for NumPy arrays. Data never move between
    host and device.

    Parameters
    ----------
    ra, dec : array, shape (n,)
        ICRS position, deg (float64 or float32).
    pmra, pmdec : array, shape (n,)
        Proper motion μα* = μα cos δ and μδ, mas/yr.
    pmra_error, pmdec_error : array, shape (n,)
        Their standard uncertainties σα, σδ, mas/yr.
    pmra_pmdec_corr : array, shape (n,)
        Correlation ρ between μα* and μδ (dimensionless). NaN stays NaN: it is not taken
        as 0, and the σμx, σμy it feeds are flagged and imputed.
    parallax, parallax_error : array, shape (n,)
        Parallax and its uncertainty, mas.
    g, bp, rp : array, shape (n,)
        Gaia G, BP and RP mean magnitudes, mag.
    ra0, dec0 : float
        Projection centre (α0, δ0), deg.
    select : array of int, shape (k,)
        Indices into :data:`FEATURE_ORDER` of the features to output, in output order.
    mean, scale : array of float, shape (k,)
        Standardisation: ``out[:, j] = (raw[select[j]] - mean[j]) / scale[j]``. Use zeros and
        ones for raw features.
    out : array of float32, shape (n, k), C-contiguous, optional
        Preallocated output on the same side as the inputs.

    Returns
    -------
    out : array of float32, shape (n, k), C-contiguous
        Standardised features (x, y in deg, proper motions and their errors in mas/yr,
        parallaxes in mas, magnitudes in mag, before standardisation); non-finite values
        replaced by 0.0.
    flags : array of uint16, shape (n,)
        Bit ``select[j]`` set where feature ``select[j]`` was non-finite and imputed.

    Raises
    ------
    ValueError
        On shape mismatches, a bad ``select`` (host arrays only: device values are not
        inspected) or a bad ``out``.
    TypeError
        When host and device arrays are mixed.
    """
    columns = (
        ra, dec, pmra, pmdec, pmra_error, pmdec_error, pmra_pmdec_corr, parallax,
        parallax_error, g, bp, rp,
    )  # fmt: skip
    names = [*_COLUMN_NAMES, "select", "mean", "scale"]
    arrays = [*columns, select, mean, scale]
    if out is not None:
        names.append("out")
        arrays.append(out)
    device = on_device(arrays, names)
    if not device:
        columns = tuple(np.asarray(c) for c in columns)
    n = columns[0].shape[0]
    for name, c in zip(_COLUMN_NAMES, columns, strict=True):
        if c.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) like ra, got {c.shape}")
    select = _as_param(select, np.int32, device, "select")
    mean = _as_param(mean, np.float64, device, "mean")
    scale = _as_param(scale, np.float64, device, "scale")
    k = select.shape[0]
    if mean.shape != (k,) or scale.shape != (k,):
        raise ValueError(f"mean and scale must have shape ({k},) like select")
    if not device and k and (select.min() < 0 or select.max() >= _N_FEATURES):
        raise ValueError(f"select holds indices outside [0, {_N_FEATURES})")
    if out is not None and (
        out.shape != (n, k) or out.dtype != np.float32 or not out.flags.c_contiguous
    ):
        raise ValueError(f"out must be a C-contiguous float32 array of shape ({n}, {k})")
    run = features_cuda if device else features_cpu
    return run(*columns, ra0, dec0, select, mean, scale, out)
