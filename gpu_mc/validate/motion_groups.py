"""Classification of stars grouped by where they sit in the proper-motion plane.

A field such as the globular cluster 47 Tuc in front of the SMC holds two populations that
proper motions alone separate cleanly: stars moving with the cluster (Milky Way) and stars
moving with the Cloud. The fraction of each group that the classifier puts in the expected
class is a check on real data that needs no truth table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpu_mc.backend import array_namespace


@dataclass(frozen=True)
class MotionGroup:
    """Stars within ``radius`` mas/yr of (``pmra``, ``pmdec``) expected in one class.

    Attributes
    ----------
    name : str
    pmra, pmdec : float
        Centre of the group in the proper-motion plane (μα*, μδ), mas/yr.
    radius : float
        Radius of the group, mas/yr.
    expect_member : bool
        True when the group should be classified as Cloud members.
    """

    name: str
    pmra: float
    pmdec: float
    radius: float
    expect_member: bool


def classify_groups(
    pmra: Any, pmdec: Any, is_member: Any, groups: list[MotionGroup]
) -> list[dict[str, Any]]:
    """Fraction of each motion group that lands in its expected class.

    Parameters
    ----------
    pmra, pmdec : array, shape (n,)
        Proper motions, mas/yr.
    is_member : bool array, shape (n,)
        The classifier's decision (e.g. ``in_optimal``).
    groups : list of MotionGroup

    Returns
    -------
    list of dict
        Per group: ``name``, ``n`` (stars in the group), ``n_expected`` (classified as
        expected) and ``fraction`` (None for an empty group).
    """
    xp = array_namespace(pmra)
    rows = []
    for grp in groups:
        inside = (pmra - grp.pmra) ** 2 + (pmdec - grp.pmdec) ** 2 < grp.radius**2
        right = is_member if grp.expect_member else ~is_member
        n = int(xp.count_nonzero(inside))
        k = int(xp.count_nonzero(inside & right))
        rows.append({"name": grp.name, "n": n, "n_expected": k, "fraction": k / n if n else None})
    return rows
