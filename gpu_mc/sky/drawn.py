"""The table of drawn stars that every mock population returns before it is observed.

:func:`~gpu_mc.sky.cloud.draw_cloud` and :func:`~gpu_mc.sky.milky_way.draw_milky_way` both
end in :func:`drawn_stars`, so the two populations hand the observer the same columns.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.sky.geometry import Vec, project_velocity


def drawn_stars(
    ra: Any,
    dec: Any,
    distance_kpc: Any,
    velocity: Vec,
    g: Any,
    colour: Any,
    component: Any,
    variable: Any | None = None,
    keep: Any | None = None,
    xp: ModuleType = np,
) -> dict[str, Any]:
    """Drawn stars as columns, their proper motions projected from 3-D velocities.

    Parameters
    ----------
    ra, dec : array, shape (n,)
        Position, deg.
    distance_kpc : array, shape (n,)
        Heliocentric distance, kpc.
    velocity : tuple of 3 arrays, shape (n,)
        Heliocentric ICRS Cartesian velocity, km/s.
    g : array, shape (n,)
        True apparent G, mag.
    colour : array, shape (n,)
        True apparent BP − RP, mag.
    component : int array, shape (n,)
        Code of the population (see :data:`gpu_mc.sky.COMPONENTS`).
    variable : int array, shape (n,), optional
        0 none, 1 Cepheid-like, 2 RR-Lyrae-like; None: 0 for every star.
    keep : bool array, shape (n,), optional
        Inside the base-sample cone; None: True for every star.
    xp : module
        Array namespace.

    Returns
    -------
    dict of arrays, shape (n,)
        ``ra``, ``dec``, ``distance_kpc``, ``pmra``, ``pmdec`` (mas/yr), ``vlos`` (km/s),
        ``g``, ``colour``, ``component`` (int8), ``variable`` (int8) and ``keep``.
    """
    n = ra.shape[0]
    pmra, pmdec, vlos = project_velocity(ra, dec, distance_kpc, velocity, xp)
    return {
        "ra": ra,
        "dec": dec,
        "distance_kpc": distance_kpc,
        "pmra": pmra,
        "pmdec": pmdec,
        "vlos": vlos,
        "g": g,
        "colour": colour,
        "component": component.astype(xp.int8),
        "variable": xp.zeros(n, dtype=xp.int8) if variable is None else variable.astype(xp.int8),
        "keep": xp.ones(n, dtype=bool) if keep is None else keep,
    }
