"""An error-aware MC training class, and how much of the true Cloud a selection represents.

The proper-motion cut of :func:`gpu_mc.sample.pm_parallax_selection` keeps stars within a
fixed radius of the systemic motion whatever their errors, so faint members whose measured
motion scatters further never reach the MC class. The error-aware selection instead measures
each star's offset from the Cloud's *local* systemic motion (the centre-of-mass velocity
projected at the star's position, which carries the perspective effect across the cone, plus
the target's stretching field where it has one, e.g. the SMC's tidal expansion)
against the star's own proper-motion covariance plus the Cloud's internal dispersion:

    d² = Δμᵀ (C_μ + σ_int² I)⁻¹ Δμ < ``sample.mc_chi2_max``

with C_μ from ``pmra_error``, ``pmdec_error`` and ``pmra_pmdec_corr``, together with the same
parallax consistency test as the cut (|ϖ − 1/D| < ``parallax_nsigma`` σϖ). The default
threshold 9.21 is the 99 % point of χ² with two degrees of freedom (our choice). σ_int is the
Cloud's velocity dispersion and half its flat rotation speed added in quadrature, over its
distance (our assumption: rotation is not modelled in the local motion, so it is treated as
dispersion).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gpu_mc.backend import array_namespace
from gpu_mc.constants import K_MASYR_KPC, CloudParams, Target, as_target
from gpu_mc.sky.cloud import with_expansion
from gpu_mc.sky.geometry import project_velocity, systemic_velocity, unit_vector

#: Choices of :data:`~gpu_mc.config.MC_SELECTIONS` whose MC class holds a draw of the
#: target's model.
DRAWN_SELECTIONS = ("model", "both")

#: A true member counts as represented by a drawn MC class when its proper-motion d² and its
#: parallax offset in units of its error both lie at or below this quantile of the drawn
#: stars' values in its G bin (our choice: the drawn class's range, less its 0.1 % tail).
REPRESENTED_QUANTILE = 0.999


def internal_dispersion(cloud: CloudParams) -> float:
    """σ_int of the error-aware selection, mas/yr (see the module docstring)."""
    v = np.hypot(cloud.sigma_v, 0.5 * cloud.v_flat)
    return float(v / (K_MASYR_KPC * cloud.distance))


def local_systemic_motion(ra: Any, dec: Any, cloud: CloudParams) -> tuple[Any, Any]:
    """The Cloud's systemic motion seen at (ra, dec) at the Cloud's distance, mas/yr.

    The centre-of-mass motion plus the target's stretching field
    (:func:`gpu_mc.sky.cloud.with_expansion`), both taken at the point at the Cloud's
    distance along (ra, dec).
    """
    xp = array_namespace(ra)
    v0 = systemic_velocity(
        cloud.ra0, cloud.dec0, cloud.distance, cloud.pmra0, cloud.pmdec0, cloud.vlos0
    )
    vel = tuple(xp.full(ra.shape, float(c)) for c in v0)
    pos = tuple(cloud.distance * c for c in unit_vector(ra, dec, xp))
    vel = with_expansion(pos, vel, cloud)
    pmra, pmdec, _ = project_velocity(ra, dec, xp.full(ra.shape, cloud.distance), vel, xp)
    return pmra, pmdec


def pm_mahalanobis2(table: Mapping[str, Any], cloud: CloudParams) -> Any:
    """d² of each star's proper motion from the local systemic motion, shape (n,).

    Non-finite where the proper motion or its errors are missing (a missing correlation is
    taken as 0).
    """
    xp = array_namespace(table["ra"])
    mra, mdec = local_systemic_motion(table["ra"], table["dec"], cloud)
    da = table["pmra"] - mra
    dd = table["pmdec"] - mdec
    s2 = internal_dispersion(cloud) ** 2
    sa, sd = table["pmra_error"], table["pmdec_error"]
    rho = xp.nan_to_num(table["pmra_pmdec_corr"], nan=0.0)
    caa = sa * sa + s2
    cdd = sd * sd + s2
    cad = rho * sa * sd
    det = caa * cdd - cad * cad
    return (cdd * da * da - 2.0 * cad * da * dd + caa * dd * dd) / det


def error_aware_selection(
    table: Mapping[str, Any], cloud: str | Target, chi2_max: float, parallax_nsigma: float
) -> Any:
    """Boolean mask of the error-aware MC class (see the module docstring), shape (n,)."""
    c = as_target(cloud)
    xp = array_namespace(table["ra"])
    d2 = pm_mahalanobis2(table, c)
    plx_ok = xp.abs(table["parallax"] - c.parallax) < parallax_nsigma * table["parallax_error"]
    return plx_ok & xp.isfinite(d2) & (d2 < chi2_max)


def parallax_offset(table: Mapping[str, Any], cloud: str | Target) -> Any:
    """|ϖ − ϖ_Cloud| / σϖ of each star, shape (n,)."""
    xp = array_namespace(table["parallax"])
    return xp.abs(table["parallax"] - as_target(cloud).parallax) / table["parallax_error"]


def represented_by_draw(
    table: Mapping[str, Any],
    drawn: Mapping[str, Any],
    cloud: str | Target,
    edges: Sequence[float],
) -> Any:
    """Stars of ``table`` inside the range a drawn MC class spans, per G bin, shape (n,).

    A star is inside when its proper-motion d² (:func:`pm_mahalanobis2`) and its parallax
    offset (:func:`parallax_offset`) are both at or below the :data:`REPRESENTED_QUANTILE`
    quantile of the drawn stars' values in the star's G bin (``edges``, mag). A drawn class
    trained on stars with other errors than the sky's (e.g. PyGaia's where the sky has
    heavier tails) leaves the sky's outliers outside; stars outside every bin, or in a bin
    with no drawn star, are outside.
    """
    xp = array_namespace(table["ra"])
    c = as_target(cloud)
    d2, z = pm_mahalanobis2(table, c), parallax_offset(table, c)
    d2_drawn, z_drawn = pm_mahalanobis2(drawn, c), parallax_offset(drawn, c)
    g, g_drawn = table["phot_g_mean_mag"], drawn["phot_g_mean_mag"]
    inside = xp.zeros(d2.shape[0], dtype=bool)
    for lo, hi in itertools.pairwise(edges):
        ref = (g_drawn >= lo) & (g_drawn < hi) & xp.isfinite(d2_drawn) & xp.isfinite(z_drawn)
        if not bool(xp.any(ref)):
            continue
        d2_max = xp.quantile(d2_drawn[ref], REPRESENTED_QUANTILE)
        z_max = xp.quantile(z_drawn[ref], REPRESENTED_QUANTILE)
        inside |= (g >= lo) & (g < hi) & (d2 <= d2_max) & (z <= z_max)
    return inside


def representation_by_g(
    selected: Any, truth: Any, g: Any, edges: Sequence[float]
) -> list[dict[str, Any]]:
    """Per G bin: the fraction of true Cloud stars a selection holds, and its MW share.

    Parameters
    ----------
    selected, truth : bool array, shape (n,)
        The selection and the mock truth (True for Cloud members).
    g : array, shape (n,)
        G magnitude.
    edges : sequence of float
        Bin edges, mag; a last entry covers all of them.

    Returns
    -------
    list of dict
        ``g_min``, ``g_max``, ``n_true_mc``, ``n_selected``, ``fraction_of_true_mc`` (share
        of the bin's true members that are selected) and ``mw_share`` (share of the selected
        that are MW), NaN where undefined.
    """
    xp = array_namespace(selected)
    rows = []
    bins = [*itertools.pairwise(edges), (edges[0], edges[-1])]
    for lo, hi in bins:
        inside = (g >= lo) & (g < hi)
        n_true = int(xp.count_nonzero(inside & truth))
        n_sel = int(xp.count_nonzero(inside & selected))
        n_hit = int(xp.count_nonzero(inside & truth & selected))
        rows.append(
            {
                "g_min": float(lo),
                "g_max": float(hi),
                "n_true_mc": n_true,
                "n_selected": n_sel,
                "fraction_of_true_mc": n_hit / n_true if n_true else float("nan"),
                "mw_share": (n_sel - n_hit) / n_sel if n_sel else float("nan"),
            }
        )
    return rows
