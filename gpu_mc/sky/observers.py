"""Which error model observes a mock table: PyGaia's Gaussian errors or the empirical model.

:func:`make_observer` returns the function the sky generator calls on each batch of true
quantities. The empirical model needs the source density of the base sample; it is taken
from a pilot draw of the same Cloud and foreground models (:func:`pilot_density_map`),
scaled to the real base-sample size of the target.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.config import SkyConfig
from gpu_mc.sky.cloud import G_MARGIN, draw_cloud
from gpu_mc.sky.errors import (
    EMPIRICAL,
    DensityMap,
    density_map_from_positions,
    observe_empirical,
)
from gpu_mc.sky.foreground import draw_foreground, get_model
from gpu_mc.sky.milky_way import foreground_field
from gpu_mc.sky.rng import make_rng
from gpu_mc.sky.uncertainties import observe

#: Error models known to :func:`make_observer`.
ERROR_MODELS = ("pygaia", "empirical")

#: Stars in the pilot draw of the density map (our assumption: about 90 per cell of the
#: 48 × 48 grid where the cone fills it).
PILOT_STARS = 200_000

Observer = Callable[[dict[str, Any], Any], dict[str, Any]]


@lru_cache(maxsize=8)
def pilot_density_map(
    cfg: SkyConfig, foreground: str, mc_fraction: float, xp: ModuleType, members: bool = True
) -> DensityMap:
    """Source density of the base sample towards ``cfg.cloud`` from a pilot draw.

    Parameters
    ----------
    cfg : SkyConfig
        Cloud, faint limit and seed (the pilot has its own random stream).
    foreground : str
        Foreground model of the sky.
    mc_fraction : float
        Share of Cloud members in the base sample.
    xp : module
        Array namespace.
    members : bool
        Count the Cloud's members (True) or only the foreground (False: the density of a
        field without the Cloud, such as the comparison field).
    """
    cloud = cfg.target
    model = get_model(foreground)
    rng = make_rng(xp, cfg.seed, 99, 0, 0)
    n_mc = int(PILOT_STARS * mc_fraction)
    mc = draw_cloud(int(n_mc * 1.3) + 100, cloud, rng, cfg.g_limit, 0.0, 0.0, xp)
    keep = mc["keep"] & (mc["g"] <= cfg.g_limit)
    ra_mc, dec_mc = mc["ra"][keep][:n_mc], mc["dec"][keep][:n_mc]
    field = foreground_field(
        cloud.ra0, cloud.dec0, cloud.cone_radius, cfg.g_limit + G_MARGIN, model.galaxy, xp
    )
    mw = draw_foreground(model, field, int((PILOT_STARS - n_mc) * 1.3) + 100, rng, xp)
    keep = mw["g"] <= cfg.g_limit
    n_mw = PILOT_STARS - int(ra_mc.shape[0])
    ra = xp.concatenate([ra_mc, mw["ra"][keep][:n_mw]])
    dec = xp.concatenate([dec_mc, mw["dec"][keep][:n_mw]])
    n_real = cloud.base_sample_rows or float(cfg.n_stars)
    if not members:
        n_mc = int(ra_mc.shape[0])
        ra, dec, n_real = ra[n_mc:], dec[n_mc:], n_real * (1.0 - n_mc / PILOT_STARS)
    return density_map_from_positions(
        ra, dec, cloud.ra0, cloud.dec0, cloud.cone_radius, n_real, xp=xp
    )


def make_observer(
    cfg: SkyConfig,
    error_model: str,
    foreground: str,
    mc_fraction: float,
    xp: ModuleType = np,
    members: bool = True,
) -> Observer:
    """The function ``observer(true, rng) -> observed columns`` of an error model.

    Parameters
    ----------
    cfg : SkyConfig
    error_model : {"pygaia", "empirical"}
    foreground : str
        The sky's foreground model (sets the density map of the empirical model).
    mc_fraction : float
        Share of Cloud members in the sky (for the density map).
    xp : module
    members : bool
        Whether the Cloud's members add to the crowding (see :func:`pilot_density_map`).
    """
    if error_model == "pygaia":
        return lambda true, rng: observe(true, rng, cfg.astrometric_error_scale, xp)
    if error_model == "empirical":
        density = pilot_density_map(cfg, foreground, mc_fraction, xp, members)
        return lambda true, rng: observe_empirical(
            true, rng, cfg.astrometric_error_scale, density, EMPIRICAL, xp
        )
    raise KeyError(f"unknown error model {error_model!r}; known: {', '.join(ERROR_MODELS)}")
