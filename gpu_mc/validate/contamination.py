"""Milky Way contamination of each selection, estimated from a nearby comparison field.

A field with the same foreground but no Cloud, scored with the same model and cut at the same
thresholds, tells how many foreground stars per square degree each selection accepts. Times
the area of the Cloud's cone, that is the number of Milky Way stars expected in the selection;
divided by the selection's size, its contamination. On the mock sky the truth is known, so the
estimate can be checked against the Milky Way stars actually selected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.backend import array_namespace, to_host
from gpu_mc.config import SkyConfig
from gpu_mc.sky import expected_mw_fraction, simulate_comparison_field


def cone_area_deg2(radius_deg: float) -> float:
    """Solid angle of a cone on the sky.

    Parameters
    ----------
    radius_deg : float
        Cone radius, deg.

    Returns
    -------
    float
        Area, deg² (``2π (1 − cos r)`` sr).
    """
    return 2.0 * math.pi * (1.0 - math.cos(math.radians(radius_deg))) * (180.0 / math.pi) ** 2


def mock_comparison_field(
    sky_cfg: SkyConfig, n_sky: int, seed: int, area_factor: float = 1.0, xp: ModuleType = np
) -> tuple[dict[str, Any], float]:
    """Simulate the mock sky's comparison field at the mock's foreground density.

    The mirror field of :func:`~gpu_mc.sky.simulate_comparison_field` has, by the symmetry
    of our Galaxy model, the foreground density of the Cloud's cone, which the mock sets to
    ``n_sky × (1 − MC fraction)`` stars over the cone. A field of ``area_factor`` times the
    cone's area therefore holds ``area_factor`` times that many stars; a factor above 1
    lowers the Poisson noise of the estimate.

    Parameters
    ----------
    sky_cfg : SkyConfig
        Configuration of the mock sky (Cloud, faint limit, errors, member fraction).
    n_sky : int
        Rows of the mock sky.
    seed : int
        Seed of the field.
    area_factor : float
        Area of the field in units of the cone's area, ``> 0``.
    xp : module
        Array namespace (:mod:`numpy` or :mod:`cupy`) of the field's columns.

    Returns
    -------
    field : dict of arrays, shape (n_field,)
        Gaia columns and truth (all Milky Way), on ``xp``.
    area_deg2 : float
        Area the field stands for, deg².
    """
    if not (math.isfinite(area_factor) and area_factor > 0):
        raise ValueError(f"area_factor must be positive, got {area_factor!r}")
    n_field = max(1, round(area_factor * n_sky * expected_mw_fraction(sky_cfg)))
    field = simulate_comparison_field(sky_cfg, n_field, seed, xp)
    area = area_factor * cone_area_deg2(sky_cfg.target.cone_radius)
    return field, area


def count_selected(selections: Mapping[str, Any]) -> dict[str, int]:
    """Number of rows in each selection, with one device-to-host transfer.

    Parameters
    ----------
    selections : mapping of str to bool array, shape (n,)

    Returns
    -------
    dict of str to int
    """
    if not selections:
        return {}
    xp = array_namespace(*selections.values())
    counts = to_host(xp.stack([xp.count_nonzero(m) for m in selections.values()]))
    return {k: int(c) for k, c in zip(selections, counts, strict=True)}


def contamination_estimate(
    field_counts: Mapping[str, int],
    field_area_deg2: float,
    target_area_deg2: float,
    sample_sizes: Mapping[str, int],
    true_mw: Mapping[str, int] | None = None,
) -> dict[str, dict[str, float | int | None]]:
    """Contamination per selection from the field's accepted-star surface density.

    Parameters
    ----------
    field_counts : mapping of str to int
        Field stars accepted by each selection.
    field_area_deg2 : float
        Area of the comparison field, deg².
    target_area_deg2 : float
        Area of the Cloud's field (the cone), deg².
    sample_sizes : mapping of str to int
        Stars in each selection on the Cloud's field.
    true_mw : mapping of str to int, optional
        Milky Way stars actually in each selection (mock truth).

    Returns
    -------
    dict of str to dict
        Per selection: ``n_sample``; ``field_accepted``; ``density_deg2`` (accepted field
        stars per deg²); ``expected_mw`` and its Poisson error ``expected_mw_err`` (stars in
        the cone); ``estimate`` and ``estimate_err`` (``expected_mw / n_sample``); with
        ``true_mw``, also ``true_mw`` and ``truth`` (``true_mw / n_sample``). Fractions are
        None for an empty selection.
    """
    out: dict[str, dict[str, float | int | None]] = {}
    for key, n_sample in sample_sizes.items():
        n_field = field_counts[key]
        density = n_field / field_area_deg2
        expected = density * target_area_deg2
        err = math.sqrt(n_field) / field_area_deg2 * target_area_deg2
        row: dict[str, float | int | None] = {
            "n_sample": n_sample,
            "field_accepted": n_field,
            "density_deg2": density,
            "expected_mw": expected,
            "expected_mw_err": err,
            "estimate": expected / n_sample if n_sample else None,
            "estimate_err": err / n_sample if n_sample else None,
        }
        if true_mw is not None:
            row["true_mw"] = true_mw[key]
            row["truth"] = true_mw[key] / n_sample if n_sample else None
        out[key] = row
    return out
