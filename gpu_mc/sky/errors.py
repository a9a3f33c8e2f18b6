"""An empirical Gaia (E)DR3 astrometric error model on top of PyGaia's sky-average curves.

PyGaia (:mod:`gpu_mc.sky.uncertainties`) gives the sky-averaged DR3 errors as functions of
G. Real Gaia EDR3 errors towards the Clouds differ from a Gaussian with those widths in
ways that matter to a classifier (issue 12 lists the facts measured on real EDR3 in the SMC
field). This module draws, for every star:

* a **quoted** error ``σ_q = σ_PyGaia(G) × s × scan(λ, β) × colour(BP − RP) ×
  (1 + g_c c) × core × tail``, where ``s`` is the ecliptic-pole scale of the sky config,
  ``scan`` a smooth scanning-law pattern in ecliptic coordinates, ``c ∈ [0, 1]`` the
  crowding level from the local source density, ``core`` a lognormal of width
  :attr:`~EmpiricalErrorParams.core_scatter_dex` and ``tail`` a lognormal upper tail for a
  small fraction of stars (the 99th percentile of σ at fixed G is 2.0–2.6 × the median on
  real EDR3, against 1.55 × for a plain 0.08 dex lognormal);
* a **true** error ``σ_t = u(c) σ_q``: errors are underestimated by ``u`` = 1.13 in sparse
  fields growing to 1.40 in the crowded centre (residuals of SMC stars on real EDR3;
  El-Badry et al. 2021, MNRAS 506, 2269 and Fabricius et al. 2021, A&A 649, A5 find quoted
  EDR3 errors underestimated by similar factors);
* **spurious solutions**: a fraction of stars whose astrometric noise is
  :attr:`~EmpiricalErrorParams.spurious_scale` times wider (parallax, and proper motions,
  together), calibrated so that 1.4 % of the normalised parallax residuals lie beyond
  3 u σ_q, as on real EDR3 (Gaussian: 0.27 %);
* the **parallax zero-point** −0.017 mas (Lindegren et al. 2021, A&A 649, A4, quasars);
* a non-zero, **position-dependent** ``pmra_pmdec_corr``: a smooth pattern in ecliptic
  longitude plus star-to-star scatter.

The crowding level comes from a :class:`DensityMap` of the base sample's source density,
scaled to the real number of base-sample stars of the target (so a 10⁵-star mock has the
crowding of the real 18M-star sky). Every array operation is written once for NumPy and
CuPy (``xp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.sky.uncertainties import observe, uncertainty

#: Obliquity of the ecliptic at J2000, deg (IAU 1976/1980 value, as in the IERS Conventions).
OBLIQUITY_DEG = 23.4392911


@dataclass(frozen=True)
class EmpiricalErrorParams:
    """Parameters of the empirical error model (each with its source).

    Attributes
    ----------
    zero_point : float
        Added to every parallax, mas. Lindegren et al. 2021 (A&A 649, A4): −17 µas, the
        median parallax of EDR3 quasars (issue 12 measures about −0.02 mas on SMC stars).
    core_scatter_dex : float
        Star-to-star lognormal width of σ at fixed G, dex. Issue 12: 0.035–0.06 dex on real
        EDR3; we take 0.04 (the spread over a field is wider: crowding,
        colour and scanning terms add to it).
    tail_fraction, tail_scatter_dex : float
        Share of stars with an extra factor 10**|N(0, tail_scatter_dex)| on σ (our
        calibration, 0.06 and 0.25 dex, so that the 99th percentile of σ at fixed G is
        2.0–2.6 × the median, issue 12).
    colour_slope : float
        Relative change of σ per mag of BP − RP away from 1 (clipped to −0.5…2 mag): our
        assumption, after the colour dependence of EDR3 errors in Lindegren et al. 2021.
    scan_amplitude : float
        Amplitude of the scanning-law pattern 1 + a cos 2λ cos β (our assumption: the
        pattern's amplitude vanishes at the ecliptic pole, where scans cross at all angles).
    crowd_error_gain : float
        σ_q grows by up to this fraction at crowding level 1 (our assumption; Lindegren et
        al. 2021 and Fabricius et al. 2021 find larger errors in crowded fields).
    underestimation_sparse, underestimation_crowded : float
        Ratio true/quoted error at crowding levels 0 and 1: 1.13 and 1.40 (issue 12, real
        EDR3 parallax residuals of SMC stars, growing towards the centre).
    crowd_density_low, crowd_density_high : float
        Source densities (base sample, G ≤ 20.5, stars/deg²) of crowding levels 0 and 1;
        the level is linear in log density between them. Low: 3000 stars/deg², about the
        foreground alone (our assumption). High: 4e5 stars/deg², about the density of our
        SMC model's centre scaled to the real 5M-star base sample (our calibration: the
        real 1.40 is measured in the SMC centre).
    spurious_fraction, spurious_scale : float
        Share of spurious astrometric solutions and the factor on their noise: 0.035 and 5
        (our calibration: 1.4 % of normalised parallax residuals beyond 3σ, issue 12;
        Fabricius et al. 2021 and Rybizki et al. 2022, MNRAS 510, 2597, describe such
        solutions).
    corr_amplitude, corr_scatter : float
        pmra_pmdec_corr = a sin 2λ + N(0, scatter), clipped to ±0.95: a = 0.25, scatter 0.12
        (our assumption; DR3 correlations near the south ecliptic pole are mostly within
        ±0.4 and follow the scanning pattern).
    """

    zero_point: float = -0.017
    core_scatter_dex: float = 0.04
    tail_fraction: float = 0.06
    tail_scatter_dex: float = 0.25
    colour_slope: float = 0.08
    scan_amplitude: float = 0.3
    crowd_error_gain: float = 0.3
    underestimation_sparse: float = 1.13
    underestimation_crowded: float = 1.40
    crowd_density_low: float = 3.0e3
    crowd_density_high: float = 4.0e5
    spurious_fraction: float = 0.035
    spurious_scale: float = 5.0
    corr_amplitude: float = 0.25
    corr_scatter: float = 0.12


EMPIRICAL = EmpiricalErrorParams()


def orthographic(ra: Any, dec: Any, ra0: float, dec0: float, xp: ModuleType = np) -> tuple:
    """Orthographic coordinates (x, y) of (ra, dec) about (ra0, dec0), deg; shape (n,) each."""
    a, d = xp.deg2rad(ra), xp.deg2rad(dec)
    a0, d0 = np.deg2rad(ra0), np.deg2rad(dec0)
    x = xp.cos(d) * xp.sin(a - a0)
    y = xp.sin(d) * np.cos(d0) - xp.cos(d) * np.sin(d0) * xp.cos(a - a0)
    return xp.rad2deg(x), xp.rad2deg(y)


def ecliptic(ra: Any, dec: Any, xp: ModuleType = np) -> tuple[Any, Any]:
    """Ecliptic longitude and latitude (mean J2000 ecliptic) of ICRS (ra, dec), radians."""
    a, d = xp.deg2rad(ra), xp.deg2rad(dec)
    x, y, z = xp.cos(d) * xp.cos(a), xp.cos(d) * xp.sin(a), xp.sin(d)
    e = np.deg2rad(OBLIQUITY_DEG)
    ye = np.cos(e) * y + np.sin(e) * z
    ze = -np.sin(e) * y + np.cos(e) * z
    return xp.arctan2(ye, x), xp.arcsin(xp.clip(ze, -1.0, 1.0))


@dataclass(frozen=True)
class DensityMap:
    """Source density of the base sample on an orthographic (x, y) grid about a centre.

    Attributes
    ----------
    ra0, dec0, half_width : float
        Centre and half-width of the grid, deg.
    density : array, shape (n_cells, n_cells)
        Stars per deg² (real-sky equivalent), indexed [ix, iy].
    """

    ra0: float
    dec0: float
    half_width: float
    density: Any

    def at(self, ra: Any, dec: Any, xp: ModuleType = np) -> Any:
        """Density at (ra, dec), stars/deg², shape (n,) (nearest cell; edges clipped)."""
        n = int(self.density.shape[0])
        x, y = orthographic(ra, dec, self.ra0, self.dec0, xp)
        ix = xp.clip(((x + self.half_width) / (2 * self.half_width) * n).astype(xp.int64), 0, n - 1)
        iy = xp.clip(((y + self.half_width) / (2 * self.half_width) * n).astype(xp.int64), 0, n - 1)
        return self.density[ix, iy]


def density_map_from_positions(
    ra: Any,
    dec: Any,
    ra0: float,
    dec0: float,
    half_width: float,
    n_real: float,
    n_cells: int = 48,
    xp: ModuleType = np,
) -> DensityMap:
    """A :class:`DensityMap` from a sample of positions representing ``n_real`` stars.

    Parameters
    ----------
    ra, dec : array, shape (m,)
        Positions of a representative draw of the base sample, deg.
    ra0, dec0, half_width : float
        Grid centre and half-width, deg.
    n_real : float
        Number of stars the draw stands for (the real base sample).
    n_cells : int
        Cells per axis.
    xp : module
        Array namespace.
    """
    m = int(ra.shape[0])
    x, y = orthographic(ra, dec, ra0, dec0, xp)
    ix = xp.clip(((x + half_width) / (2 * half_width) * n_cells).astype(xp.int64), 0, n_cells - 1)
    iy = xp.clip(((y + half_width) / (2 * half_width) * n_cells).astype(xp.int64), 0, n_cells - 1)
    counts = xp.bincount(ix * n_cells + iy, minlength=n_cells * n_cells).reshape(n_cells, n_cells)
    # Orthographic cell area on the sphere: dx dy / cos(c), cos(c) = sqrt(1 − r²) at the cell.
    step = 2 * half_width / n_cells
    centres = np.deg2rad(-half_width + (np.arange(n_cells) + 0.5) * step)
    r2 = centres[:, None] ** 2 + centres[None, :] ** 2
    area = step * step / np.sqrt(np.clip(1.0 - r2, 1e-6, None))
    density = counts * (n_real / max(m, 1)) / xp.asarray(area)
    return DensityMap(ra0, dec0, half_width, density)


def crowding_level(density: Any, params: EmpiricalErrorParams, xp: ModuleType = np) -> Any:
    """Crowding level in [0, 1]: linear in log density between the params' two densities."""
    lo, hi = np.log10(params.crowd_density_low), np.log10(params.crowd_density_high)
    return xp.clip((xp.log10(xp.maximum(density, 1.0)) - lo) / (hi - lo), 0.0, 1.0)


def underestimation(level: Any, params: EmpiricalErrorParams = EMPIRICAL) -> Any:
    """True/quoted error ratio at crowding ``level``."""
    u0, u1 = params.underestimation_sparse, params.underestimation_crowded
    return u0 + (u1 - u0) * level


def quoted_error_factor(
    g: Any,
    colour: Any,
    ra: Any,
    dec: Any,
    level: Any,
    rng: Any,
    params: EmpiricalErrorParams = EMPIRICAL,
    xp: ModuleType = np,
) -> Any:
    """Factor on PyGaia's sky-average astrometric errors for each star, shape (n,).

    The product of the scanning pattern, colour term, crowding term, lognormal core and the
    heavy upper tail (see the module docstring). ``g`` is unused but fixes the length.
    """
    n = int(g.shape[0])
    lam, beta = ecliptic(ra, dec, xp)
    scan = 1.0 + params.scan_amplitude * xp.cos(2.0 * lam) * xp.cos(beta)
    col = xp.where(xp.isfinite(colour), colour, 1.0)
    colour_term = 1.0 + params.colour_slope * xp.clip(col - 1.0, -0.5, 2.0)
    crowd = 1.0 + params.crowd_error_gain * level
    core = 10.0 ** (params.core_scatter_dex * rng.standard_normal(n))
    in_tail = rng.random(n) < params.tail_fraction
    tail = xp.where(
        in_tail, 10.0 ** (params.tail_scatter_dex * xp.abs(rng.standard_normal(n))), 1.0
    )
    return scan * colour_term * crowd * core * tail


def pm_correlation(
    ra: Any, dec: Any, rng: Any, params: EmpiricalErrorParams = EMPIRICAL, xp: ModuleType = np
) -> Any:
    """Position-dependent pmra_pmdec_corr, shape (n,)."""
    lam, _ = ecliptic(ra, dec, xp)
    n = int(ra.shape[0])
    rho = params.corr_amplitude * xp.sin(2.0 * lam) + params.corr_scatter * rng.standard_normal(n)
    return xp.clip(rho, -0.95, 0.95)


def observe_empirical(
    true: dict[str, Any],
    rng: Any,
    error_scale: float,
    density: DensityMap,
    params: EmpiricalErrorParams = EMPIRICAL,
    xp: ModuleType = np,
) -> dict[str, Any]:
    """Gaia EDR3-like observed columns with the empirical error model.

    Photometry, BP/RP nulls and radial velocities are those of
    :func:`gpu_mc.sky.uncertainties.observe`; the astrometry is redrawn here.

    Parameters
    ----------
    true : dict of arrays, shape (n,)
        As for :func:`~gpu_mc.sky.uncertainties.observe`, plus ``ra`` and ``dec`` (deg).
    rng : Generator
        Random generator of namespace ``xp``.
    error_scale : float
        Factor on PyGaia's sky-average errors (the ecliptic-pole scale).
    density : DensityMap
        Source density of the base sample, for the crowding level.
    params : EmpiricalErrorParams
    xp : module

    Returns
    -------
    dict of float64 arrays, shape (n,)
        The columns of :func:`~gpu_mc.sky.uncertainties.observe`.
    """
    out = observe(true, rng, error_scale, xp)
    n = int(true["g"].shape[0])
    g = true["g"]
    level = crowding_level(density.at(true["ra"], true["dec"], xp), params, xp)
    factor = error_scale * quoted_error_factor(
        g, true["colour"], true["ra"], true["dec"], level, rng, params, xp
    )
    plx_err = uncertainty("parallax", g, xp) * factor
    pmra_err = uncertainty("pmra", g, xp) * factor
    pmdec_err = uncertainty("pmdec", g, xp) * factor
    spurious = rng.random(n) < params.spurious_fraction
    inflate = underestimation(level, params) * xp.where(spurious, params.spurious_scale, 1.0)
    rho = pm_correlation(true["ra"], true["dec"], rng, params, xp)
    n1, n2 = rng.standard_normal(n), rng.standard_normal(n)
    out["parallax"] = (
        1.0 / true["distance_kpc"] + params.zero_point + plx_err * inflate * rng.standard_normal(n)
    )
    out["parallax_error"] = plx_err
    out["pmra"] = true["pmra"] + pmra_err * inflate * n1
    out["pmdec"] = true["pmdec"] + pmdec_err * inflate * (rho * n1 + xp.sqrt(1.0 - rho * rho) * n2)
    out["pmra_error"] = pmra_err
    out["pmdec_error"] = pmdec_err
    out["pmra_pmdec_corr"] = rho
    return out
