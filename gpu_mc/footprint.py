"""Does a table of stars lie in a target's cone? Guards against scoring or training one
target's model on another target's sky (an LMC model on an SMC field)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from gpu_mc.backend import array_namespace
from gpu_mc.constants import TARGETS, Target
from gpu_mc.errors import InputError

#: Below this share of stars inside the target's cone, a table is another target's sky
#: (our choice: a base sample of the target lies wholly inside it).
MIN_IN_CONE = 0.5

log = logging.getLogger("gpu_mc")


def in_cone_fraction(table: Mapping[str, Any], target: Target) -> float:
    """Share of the rows with finite (ra, dec) that lie within ``target.cone_radius`` of its
    centre (NaN for a table with no such row)."""
    xp = array_namespace(table["ra"])
    ra = xp.deg2rad(xp.asarray(table["ra"], dtype=xp.float64))
    dec = xp.deg2rad(xp.asarray(table["dec"], dtype=xp.float64))
    ra0, dec0 = np.deg2rad(target.ra0), np.deg2rad(target.dec0)
    cos_sep = xp.sin(dec) * np.sin(dec0) + xp.cos(dec) * np.cos(dec0) * xp.cos(ra - ra0)
    ok = xp.isfinite(cos_sep)
    n = int(xp.count_nonzero(ok))
    if n == 0:
        return float("nan")
    inside = cos_sep >= np.cos(np.deg2rad(target.cone_radius)) - 1e-12
    return int(xp.count_nonzero(inside & ok)) / n


def _describe(fraction: float, target: Target) -> str:
    return (
        f"only {100 * fraction:.1f}% of the input's stars lie in the cone of target "
        f"{target.name!r} ({target.cone_radius:g}° about ra {target.ra0:g}, dec {target.dec0:g})"
    )


def best_target(table: Mapping[str, Any]) -> Target | None:
    """The built-in target whose cone holds most of the table's stars, if it holds half."""
    best = max(TARGETS.values(), key=lambda t: in_cone_fraction(table, t))
    return best if in_cone_fraction(table, best) >= MIN_IN_CONE else None


def warn_if_outside(table: Mapping[str, Any], target: Target) -> bool:
    """Log a warning when the table is not the target's sky; return whether it warned."""
    frac = in_cone_fraction(table, target)
    if not frac < MIN_IN_CONE:
        return False
    log.warning(
        "%s: the model's target does not match the input's footprint", _describe(frac, target)
    )
    return True


def require_inside(table: Mapping[str, Any], target: Target) -> None:
    """Refuse a table that is not the target's sky (training data for the wrong target).

    Raises
    ------
    InputError
        Naming the share inside the cone and, where one fits, the built-in target to use.
    """
    frac = in_cone_fraction(table, target)
    if not frac < MIN_IN_CONE:
        return
    other = best_target(table)
    hint = f"; it is the {other.name!r} sky: use --cloud {other.name}" if other else ""
    raise InputError(
        f"{_describe(frac, target)}{hint} (or give its target table in the configuration)"
    )
