"""Error-inflation augmentation and the per-star error-range check.

A network trained on one error distribution learns that "errors larger than usual" means
"Milky Way" when the two classes' error distributions differ, and fails on real stars whose
errors are larger than the mock's. Augmentation breaks that link: a share of the training
rows of both classes is copied with every parallax and proper-motion error multiplied by a
factor k (log-uniform in [1, ``augment_max_scale``]) and noise of the matching extra width
√(k² − 1) σ added to the measurements (with the star's own pmra–pmdec correlation), so the
copy is what the same star would look like with k times worse astrometry.

The error-range check flags stars whose errors, relative to PyGaia's sky-average curve at
their G, lie outside the range seen in training (after augmentation): their scores are
extrapolations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gpu_mc.backend import array_namespace, to_host
from gpu_mc.sample import TEST, TrainingSet
from gpu_mc.sky.rng import make_rng
from gpu_mc.sky.uncertainties import uncertainty

#: Columns an error inflation changes.
ASTROMETRY = ("parallax", "pmra", "pmdec", "parallax_error", "pmra_error", "pmdec_error")

#: Quantiles of the training error ratios that bound the accepted range (our assumption).
RANGE_QUANTILES = (0.001, 0.999)


def inflate_errors(
    table: Mapping[str, Any], factor: Any, rng: Any | None, add_noise: bool = True
) -> dict[str, Any]:
    """A copy of ``table`` with astrometric errors × ``factor`` and matching extra noise.

    Parameters
    ----------
    table : mapping of str to array
        Gaia columns, length n.
    factor : float or array, shape (n,)
        Error scale factor k ≥ 1.
    rng : Generator or None
        Random generator of the table's namespace (unused without noise).
    add_noise : bool
        Add noise of width √(k² − 1) σ to parallax and proper motions (True), or only
        quote the larger errors on unchanged measurements (False).

    Returns
    -------
    dict of str to array
        All columns of ``table``; the six astrometric ones replaced.
    """
    xp = array_namespace(table["ra"])
    n = int(table["ra"].shape[0])
    k = xp.asarray(factor, dtype=xp.float64) * xp.ones(n)
    out = dict(table)
    for c in ("parallax_error", "pmra_error", "pmdec_error"):
        out[c] = table[c] * k
    if add_noise:
        extra = xp.sqrt(xp.maximum(k * k - 1.0, 0.0))
        rho = xp.nan_to_num(table["pmra_pmdec_corr"], nan=0.0)
        n1, n2 = rng.standard_normal(n), rng.standard_normal(n)
        out["parallax"] = table["parallax"] + extra * table["parallax_error"] * rng.standard_normal(
            n
        )
        out["pmra"] = table["pmra"] + extra * table["pmra_error"] * n1
        out["pmdec"] = table["pmdec"] + extra * table["pmdec_error"] * (
            rho * n1 + xp.sqrt(1.0 - rho * rho) * n2
        )
    return out


def augment_training_set(
    ts: TrainingSet, fraction: float, max_scale: float, seed: int
) -> TrainingSet:
    """Append error-inflated copies of a share of the training and validation rows.

    Parameters
    ----------
    ts : TrainingSet
    fraction : float
        Share of the kept, non-test rows that get a copy (0 returns ``ts`` unchanged).
    max_scale : float
        Largest error factor; factors are log-uniform in [1, max_scale].
    seed : int
        Seed of the copies' choice, factors and noise.

    Returns
    -------
    TrainingSet
        The rows of ``ts`` followed by the copies, which keep their labels and split codes
        (test rows are never copied, so thresholds are chosen on unaugmented stars).
    """
    if fraction <= 0.0 or max_scale <= 1.0:
        return ts
    xp = array_namespace(ts.labels)
    rng = make_rng(xp, seed, 77, 0, 0)
    n = int(ts.labels.shape[0])
    pick = (ts.codes != 0) & (ts.codes != TEST) & (rng.random(n) < fraction)
    rows = xp.nonzero(pick)[0]
    m = int(rows.shape[0])
    if m == 0:
        return ts
    part = {k: v[rows] for k, v in ts.table.items()}
    k = xp.exp(rng.random(m) * np.log(max_scale))
    copy = inflate_errors(part, k, rng)
    table = {c: xp.concatenate([ts.table[c], copy[c]]) for c in ts.table}
    return TrainingSet(
        table,
        xp.concatenate([ts.labels, ts.labels[rows]]),
        xp.concatenate([ts.codes, ts.codes[rows]]),
        dict(ts.keep_prob),
    )


def error_ratios(table: Mapping[str, Any]) -> Any:
    """log10 of parallax and pmra errors over PyGaia's sky average at G, shape (n, 2)."""
    xp = array_namespace(table["ra"])
    g = table["phot_g_mean_mag"]
    plx = xp.log10(table["parallax_error"] / uncertainty("parallax", g, xp))
    pm = xp.log10(table["pmra_error"] / uncertainty("pmra", g, xp))
    return xp.stack([plx, pm], axis=1)


def error_range(ts: TrainingSet) -> dict[str, list[float]]:
    """Accepted range of :func:`error_ratios` from the training rows (host floats).

    Returns
    -------
    dict
        ``{"parallax": [lo, hi], "pm": [lo, hi]}``, the :data:`RANGE_QUANTILES` of the
        training and validation rows' log10 error ratios.
    """
    r = to_host(error_ratios(ts.table))
    used = to_host((ts.codes != 0) & (ts.codes != TEST))
    r = r[used & np.isfinite(r).all(axis=1)]
    q = np.quantile(r, RANGE_QUANTILES, axis=0)
    return {"parallax": [float(q[0, 0]), float(q[1, 0])], "pm": [float(q[0, 1]), float(q[1, 1])]}


def outside_error_range(table: Mapping[str, Any], accepted: Mapping[str, Any]) -> Any:
    """True for stars whose parallax or PM error ratio lies outside ``accepted``, shape (n,).

    Stars with missing errors are not flagged here (the missing-feature flags cover them).
    """
    r = error_ratios(table)
    lo_p, hi_p = accepted["parallax"]
    lo_m, hi_m = accepted["pm"]
    return (r[:, 0] < lo_p) | (r[:, 0] > hi_p) | (r[:, 1] < lo_m) | (r[:, 1] > hi_m)
