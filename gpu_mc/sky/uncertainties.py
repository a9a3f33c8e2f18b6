"""Gaia DR3-like uncertainties, noise, radial velocities and BP/RP nulls for the mock sky.

PyGaia's DR3 uncertainty models (``pygaia.errors``) are tabulated once on a fine NumPy G grid
and interpolated with ``xp.interp``, so drawing errors never leaves the device.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.sky.photometry import bp_rp_from_g

#: G grid of the PyGaia tables, mag (PyGaia's models are valid from 4 to 21).
TABLE_G = np.linspace(4.0, 21.0, 1701)

#: Star-to-star scatter of the astrometric errors at fixed G (different numbers of
#: observations and colours), lognormal with median 1, dex (our assumption).
ERROR_SCATTER_DEX = 0.08

#: Range of pmra_pmdec_corr, drawn uniformly (our assumption; Gaia DR3 values near the south
#: ecliptic pole are mostly within ±0.3).
PM_CORR_MAX = 0.3

#: Radial velocities are given for G below this, mag (Gaia DR3 RVS reaches G_RVS ≈ 14,
#: about G ≈ 15.5 for red stars; our simplification ignores the colour dependence).
RV_G_LIMIT = 15.5

#: Radial-velocity error σ = RV_ERROR_FLOOR + RV_ERROR_FAINT × 10**(0.4 (G − RV_G_LIMIT)),
#: km/s: about 1 km/s at G = 13 and 3.5 km/s at the limit (our assumption after Katz et al.
#: 2023, A&A 674, A5).
RV_ERROR_FLOOR = 0.4
RV_ERROR_FAINT = 3.0

#: Probability that BP and RP are both missing: BP_RP_NULL_MAX × ((G − G0) / (20.5 − G0))²
#: for G > G0 = BP_RP_NULL_START, zero brighter. It reaches 8 % at G = 20.5, a few % on
#: average over the faintest magnitude (our assumption; Riello et al. 2021, A&A 649, A3 find
#: missing BP/RP mainly among the faintest and most crowded sources).
BP_RP_NULL_START = 19.0
BP_RP_NULL_MAX = 0.08


@cache
def pygaia_tables() -> dict[str, np.ndarray]:
    """PyGaia DR3 uncertainties tabulated on :data:`TABLE_G`.

    Returns
    -------
    dict of numpy.ndarray, shape (1701,)
        ``parallax`` (mas), ``pmra`` and ``pmdec`` (mas/yr), ``g``, ``bp``, ``rp`` (mag); the
        photometric tables are functions of the band's own magnitude.
    """
    from pygaia.errors.astrometric import parallax_uncertainty, proper_motion_uncertainty
    from pygaia.errors.photometric import magnitude_uncertainty

    pm_ra, pm_dec = proper_motion_uncertainty(TABLE_G, release="dr3")
    return {
        "parallax": np.asarray(parallax_uncertainty(TABLE_G, release="dr3")) / 1000.0,
        "pmra": np.asarray(pm_ra) / 1000.0,
        "pmdec": np.asarray(pm_dec) / 1000.0,
        "g": np.asarray(magnitude_uncertainty("g", TABLE_G, release="dr3")) / 1000.0,
        "bp": np.asarray(magnitude_uncertainty("bp", TABLE_G, release="dr3")) / 1000.0,
        "rp": np.asarray(magnitude_uncertainty("rp", TABLE_G, release="dr3")) / 1000.0,
    }


def _grid_position(mag: Any, xp: ModuleType) -> tuple[Any, Any]:
    """Lower index and weight of ``mag`` on the uniform :data:`TABLE_G` (clipped to its ends).

    The arithmetic is in float64 whatever ``mag``'s dtype: CuPy 13 keeps a float32 array
    minus a NumPy float64 scalar in float32, where NumPy 2 (and CuPy 14) promote to float64.
    """
    step = TABLE_G[1] - TABLE_G[0]
    mag = xp.asarray(mag, dtype=xp.float64)
    j = xp.clip((mag - TABLE_G[0]) / step, 0.0, TABLE_G.size - 1.000001)
    j0 = j.astype(xp.int64)
    return j0, j - j0


def _lookup(name: str, where: tuple[Any, Any], xp: ModuleType) -> Any:
    table = xp.asarray(pygaia_tables()[name])
    j0, w = where
    return table[j0] * (1.0 - w) + table[j0 + 1] * w


def uncertainty(name: str, mag: Any, xp: ModuleType = np) -> Any:
    """Interpolate one PyGaia DR3 table (see :func:`pygaia_tables`) at ``mag``, shape (n,).

    Linear interpolation on the uniform grid (the same as ``xp.interp``, by direct indexing);
    magnitudes outside 4–21 take the value at the nearer end.
    """
    return _lookup(name, _grid_position(mag, xp), xp)


def observe(
    true: dict[str, Any], rng: Any, error_scale: float, xp: ModuleType = np
) -> dict[str, Any]:
    """Turn true quantities into Gaia DR3-like observed columns.

    Parameters
    ----------
    true : dict of arrays, shape (n,)
        ``distance_kpc`` (kpc), ``pmra``, ``pmdec`` (mas/yr), ``vlos`` (km/s), ``g`` (true
        apparent G, mag) and ``colour`` (apparent BP − RP, mag).
    rng : Generator
        Random generator of namespace ``xp``.
    error_scale : float
        Factor on PyGaia's sky-averaged astrometric errors.
    xp : module
        Array namespace.

    Returns
    -------
    dict of float64 arrays, shape (n,)
        ``parallax``, ``parallax_error`` (mas), ``pmra``, ``pmdec``, ``pmra_error``,
        ``pmdec_error`` (mas/yr), ``pmra_pmdec_corr``, ``phot_g_mean_mag``,
        ``phot_bp_mean_mag``, ``phot_rp_mean_mag`` (mag, NaN where missing) and
        ``radial_velocity`` (km/s, NaN beyond :data:`RV_G_LIMIT`).
    """
    n = true["g"].shape[0]
    g_true = true["g"]
    at_g = _grid_position(g_true, xp)
    scatter = error_scale * 10.0 ** (ERROR_SCATTER_DEX * rng.standard_normal(n))
    plx_err = _lookup("parallax", at_g, xp) * scatter
    pmra_err = _lookup("pmra", at_g, xp) * scatter
    pmdec_err = _lookup("pmdec", at_g, xp) * scatter
    rho = PM_CORR_MAX * (2.0 * rng.random(n) - 1.0)
    n1 = rng.standard_normal(n)
    n2 = rng.standard_normal(n)
    out = {
        "parallax": 1.0 / true["distance_kpc"] + plx_err * rng.standard_normal(n),
        "parallax_error": plx_err,
        "pmra": true["pmra"] + pmra_err * n1,
        "pmdec": true["pmdec"] + pmdec_err * (rho * n1 + xp.sqrt(1.0 - rho * rho) * n2),
        "pmra_error": pmra_err,
        "pmdec_error": pmdec_err,
        "pmra_pmdec_corr": rho,
    }
    bp_true, rp_true = bp_rp_from_g(g_true, true["colour"])
    g = g_true + _lookup("g", at_g, xp) * rng.standard_normal(n)
    bp = bp_true + uncertainty("bp", bp_true, xp) * rng.standard_normal(n)
    rp = rp_true + uncertainty("rp", rp_true, xp) * rng.standard_normal(n)
    x = xp.clip((g - BP_RP_NULL_START) / (20.5 - BP_RP_NULL_START), 0.0, None)
    missing = rng.random(n) < BP_RP_NULL_MAX * x * x
    out["phot_g_mean_mag"] = g
    out["phot_bp_mean_mag"] = xp.where(missing, xp.nan, bp)
    out["phot_rp_mean_mag"] = xp.where(missing, xp.nan, rp)
    rv_err = RV_ERROR_FLOOR + RV_ERROR_FAINT * 10.0 ** (0.4 * (g - RV_G_LIMIT))
    rv = true["vlos"] + rv_err * rng.standard_normal(n)
    out["radial_velocity"] = xp.where(g < RV_G_LIMIT, rv, xp.nan)
    return out
