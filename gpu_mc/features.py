"""The classifier's inputs: the 11 features of Jiménez-Arranz et al. (2023a, b).

x, y are the orthographic coordinates about the Cloud centre (deg); mu_x, mu_y the proper
motions in the same frame (mas/yr); sigma_mu_x, sigma_mu_y their uncertainties propagated
with ``pmra_pmdec_corr``; then parallax and its error (mas) and G, BP, RP (mag). The work is
done by the fused kernel in :mod:`gpu_mc_kernels.features` on whichever device holds the
columns.

Null policy: a non-finite input of a selected feature is imputed with the training mean
(0 after standardisation) and flagged in ``score_flag`` (bit i set for feature i of
:data:`~gpu_mc.config.FEATURE_NAMES`). Rows are never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gpu_mc.backend import array_namespace
from gpu_mc.config import FEATURE_NAMES
from gpu_mc.constants import Target, as_target
from gpu_mc.errors import InputError
from gpu_mc.io.schema import FEATURE_INPUTS
from gpu_mc_kernels.features import compute_features

#: Input columns each feature reads.
FEATURE_REQUIRES: dict[str, tuple[str, ...]] = {
    "x": ("ra", "dec"),
    "y": ("ra", "dec"),
    "mu_x": ("ra", "dec", "pmra", "pmdec"),
    "mu_y": ("ra", "dec", "pmra", "pmdec"),
    "sigma_mu_x": ("ra", "dec", "pmra_error", "pmdec_error", "pmra_pmdec_corr"),
    "sigma_mu_y": ("ra", "dec", "pmra_error", "pmdec_error", "pmra_pmdec_corr"),
    "parallax": ("parallax",),
    "parallax_error": ("parallax_error",),
    "g": ("phot_g_mean_mag",),
    "bp": ("phot_bp_mean_mag",),
    "rp": ("phot_rp_mean_mag",),
}


def required_inputs(names: Sequence[str]) -> tuple[str, ...]:
    """Columns a table needs for the named features: ``source_id`` first, then the inputs.

    ``source_id``, ``ra``, ``dec`` and ``phot_g_mean_mag`` are always included: they identify
    the star and define the samples. The inputs follow in :data:`FEATURE_INPUTS` order.
    """
    needed = {"ra", "dec", "phot_g_mean_mag"}
    for n in names:
        needed.update(FEATURE_REQUIRES[n])
    return ("source_id", *(c for c in FEATURE_INPUTS if c in needed))


def feature_indices(names: Sequence[str]) -> np.ndarray:
    """Indices of feature names in :data:`FEATURE_NAMES`, int32 shape (k,)."""
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise InputError(
            f"unknown feature {unknown[0]!r}; known features: {', '.join(FEATURE_NAMES)}"
        )
    return np.asarray([FEATURE_NAMES.index(n) for n in names], dtype=np.int32)


def features(
    table: Mapping[str, Any],
    cloud: str | Target,
    names: Sequence[str] = FEATURE_NAMES,
    mean: Any = None,
    scale: Any = None,
) -> tuple[Any, Any]:
    """Compute (optionally standardised) float32 features on the columns' device.

    Parameters
    ----------
    table : mapping of str to array
        Gaia columns (see :data:`gpu_mc.io.schema.FEATURE_INPUTS`), NumPy or CuPy, length n.
    cloud : Target or str
        The target (or a built-in target's name) whose centre defines the projection.
    names : sequence of str
        Features to compute, in output order.
    mean, scale : array-like, shape (k,), optional
        Standardisation; default none (raw features).

    Returns
    -------
    X : array, float32, shape (n, k)
        Features; non-finite values replaced by 0 after standardisation.
    flags : array, uint16, shape (n,)
        Bit i set where feature i of FEATURE_NAMES was non-finite.
    """
    missing = [c for c in required_inputs(names)[1:] if c not in table]
    if missing:
        raise InputError(f"table lacks the feature input columns {', '.join(missing)}")
    c = as_target(cloud)
    xp = array_namespace(table["ra"])
    n = int(table["ra"].shape[0])
    unused = None
    select = xp.asarray(feature_indices(names))
    k = int(select.shape[0])
    mean = xp.zeros(k) if mean is None else xp.asarray(mean, dtype=xp.float64)
    scale = xp.ones(k) if scale is None else xp.asarray(scale, dtype=xp.float64)
    cols = []
    for name in FEATURE_INPUTS:
        if name not in table:
            unused = xp.full(n, xp.nan) if unused is None else unused
        cols.append(table.get(name, unused))
    return compute_features(cols, c.ra0, c.dec0, select, mean, scale)


def concat_tables(tables: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, Any]:
    """Concatenate the named columns of several tables on their device."""
    xp = array_namespace(tables[0][columns[0]])
    return {c: xp.concatenate([t[c] for t in tables]) for c in columns}
