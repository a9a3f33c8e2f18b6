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

The row function :func:`_features_row` is written once and compiled as the CPU twin and as the
CUDA kernel (:class:`gpu_mc_kernels.launch.RowKernel`); :func:`compute_features` is the
launcher.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba.extending import register_jitable

from gpu_mc_kernels.launch import RowKernel, decide_device, empty_like_side, is_device_array

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

#: Gaia DR3 columns taken by :func:`compute_features`, in the order of its ``columns``.
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


@register_jitable
def _raw_features(i, columns, ra0_rad, sin_dec0, cos_dec0):
    """The 11 raw features of star ``i``, in float64.

    ``columns`` as in :func:`compute_features`; ``ra0_rad`` (rad) and the sine and cosine of
    δ0 give the centre. Inputs are promoted to float64 first (explicitly, so that the CUDA
    simulator, which evaluates this in Python with NumPy scalars, agrees with compiled code).
    Returns a tuple of 11 float64 in the order of :data:`FEATURE_ORDER`.
    """
    ra, dec, pmra, pmdec, pmra_error, pmdec_error, corr, parallax, parallax_error, g, bp, rp = (
        columns
    )
    d_ra = np.float64(ra[i]) * _DEG_TO_RAD - ra0_rad
    dec_rad = np.float64(dec[i]) * _DEG_TO_RAD
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
    mu_a = np.float64(pmra[i])
    mu_d = np.float64(pmdec[i])
    s_a = np.float64(pmra_error[i])
    s_d = np.float64(pmdec_error[i])
    cov = np.float64(corr[i]) * s_a * s_d
    var_x = a1 * a1 * s_a * s_a + a2 * a2 * s_d * s_d + 2.0 * a1 * a2 * cov
    var_y = b1 * b1 * s_a * s_a + b2 * b2 * s_d * s_d + 2.0 * b1 * b2 * cov
    return (
        x * _RAD_TO_DEG,
        y * _RAD_TO_DEG,
        a1 * mu_a + a2 * mu_d,
        b1 * mu_a + b2 * mu_d,
        0.0 if var_x < 0.0 else math.sqrt(var_x),
        0.0 if var_y < 0.0 else math.sqrt(var_y),
        np.float64(parallax[i]),
        np.float64(parallax_error[i]),
        np.float64(g[i]),
        np.float64(bp[i]),
        np.float64(rp[i]),
    )


@register_jitable
def _features_row(i, columns, params, outputs):
    """Row ``i``: raw features, standardisation of the selected ones, imputation of the
    non-finite ones with 0, float32 store in ``out[i]`` and the imputed bits in ``flags[i]``.

    ``params`` is ``(ra0_rad, sin_dec0, cos_dec0, select, mean, scale)`` and ``outputs`` is
    ``(out, flags)``, as in :func:`compute_features`.
    """
    ra0_rad, sin_dec0, cos_dec0, select, mean, scale = params
    out, flags = outputs
    raw = _raw_features(i, columns, ra0_rad, sin_dec0, cos_dec0)
    flag = 0
    for j in range(select.shape[0]):
        f = select[j]
        v = np.float32((raw[f] - mean[j]) / scale[j])
        if not math.isfinite(v):
            v = np.float32(0.0)
            flag |= 1 << f
        out[i, j] = v
    flags[i] = flag


#: The fused feature kernel (CPU twin and CUDA kernel of :func:`_features_row`).
FEATURES = RowKernel(_features_row)


def _as_param(a: Any, dtype: type, name: str) -> Any:
    """A 1-D parameter array of the wanted dtype, converted on its own side."""
    if not is_device_array(a):
        a = np.ascontiguousarray(a, dtype=dtype)
    elif a.dtype != dtype:
        a = a.astype(dtype)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return a


def compute_features(
    columns: Sequence[Any],
    ra0: float,
    dec0: float,
    select: Any,
    mean: Any,
    scale: Any,
    out: Any = None,
    *,
    device: bool | None = None,
) -> tuple[Any, Any]:
    """Compute standardised classifier features in one fused pass (launcher).

    Runs the CUDA kernel when the arrays are CUDA device arrays (CuPy or anything with
    ``__cuda_array_interface__``) and the CPU twin for NumPy arrays. Data never move between
    host and device; the launch is asynchronous on CuPy's current stream for CuPy input.

    Parameters
    ----------
    columns : sequence of 12 arrays, each shape (n,)
        The Gaia columns of :data:`INPUT_ORDER`, in that order (float64 or float32):
        ``ra, dec`` (ICRS, deg); ``pmra, pmdec`` (μα* = μα cos δ and μδ, mas/yr);
        ``pmra_error, pmdec_error`` (σα, σδ, mas/yr); ``pmra_pmdec_corr`` (ρ; NaN stays NaN:
        it is not taken as 0, and the σμx, σμy it feeds are flagged and imputed);
        ``parallax, parallax_error`` (mas); the G, BP and RP mean magnitudes (mag).
    ra0, dec0 : float
        Projection centre (α0, δ0), deg.
    select : array of int, shape (k,)
        Indices into :data:`FEATURE_ORDER` of the features to output, in output order.
    mean, scale : array of float, shape (k,)
        Standardisation: ``out[:, j] = (raw[select[j]] - mean[j]) / scale[j]``. Use zeros and
        ones for raw features.
    out : array of float32, shape (n, k), C-contiguous, optional
        Preallocated output on the same side as the inputs.
    device : bool, optional
        Force the CUDA kernel (True) or the CPU twin (False); by default the arrays decide
        (see :func:`gpu_mc_kernels.launch.decide_device`).

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
        On a wrong number of columns, shape mismatches, a bad ``select`` (host arrays only:
        device values are not inspected) or a bad ``out``.
    TypeError
        When host and device arrays are mixed, or ``device`` asks for the other side.
    """
    columns = tuple(columns)
    if len(columns) != len(INPUT_ORDER):
        raise ValueError(
            f"columns must be the {len(INPUT_ORDER)} arrays of INPUT_ORDER, got {len(columns)}"
        )
    names = [*INPUT_ORDER, "select", "mean", "scale"]
    arrays = [*columns, select, mean, scale]
    if out is not None:
        names.append("out")
        arrays.append(out)
    device = decide_device(arrays, names, device)
    columns = tuple(c if is_device_array(c) else np.asarray(c) for c in columns)
    n = columns[0].shape[0]
    for name, c in zip(INPUT_ORDER, columns, strict=True):
        if c.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) like ra, got {c.shape}")
    select = _as_param(select, np.int32, "select")
    mean = _as_param(mean, np.float64, "mean")
    scale = _as_param(scale, np.float64, "scale")
    k = select.shape[0]
    if mean.shape != (k,) or scale.shape != (k,):
        raise ValueError(f"mean and scale must have shape ({k},) like select")
    if not is_device_array(select) and k and (select.min() < 0 or select.max() >= _N_FEATURES):
        raise ValueError(f"select holds indices outside [0, {_N_FEATURES})")
    if out is None:
        out = empty_like_side(columns[0], (n, k), np.dtype(np.float32))
    elif out.shape != (n, k) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape ({n}, {k})")
    flags = empty_like_side(columns[0], (n,), np.dtype(np.uint16))
    dec0_rad = float(dec0) * _DEG_TO_RAD
    params = (float(ra0) * _DEG_TO_RAD, math.sin(dec0_rad), math.cos(dec0_rad), select, mean, scale)
    FEATURES(columns, params, (out, flags), device)
    return out, flags
