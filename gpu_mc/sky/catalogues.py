"""Mock validation catalogues drawn from the truth of a mock sky.

They stand in for the external catalogues the papers compare with: Gaia DR3 Cepheids and
RR Lyrae of the Clouds, StarHorse distances (Anders et al. 2022, A&A 658, A91) and
spectroscopic line-of-sight velocities of bright stars.
"""

from __future__ import annotations

from typing import Any

from gpu_mc.backend import array_namespace
from gpu_mc.config import SkyConfig
from gpu_mc.sky.rng import make_rng

#: StarHorse-like catalogue: stars brighter than this G, mag.
STARHORSE_G_MAX = 18.5

#: StarHorse-like distances: lognormal scatter σ_ln = A + B ((G − 12) / 6.5)², clipped at
#: G = 12 (0.05 at the bright end, 0.35 at G = 18.5; our assumption for photo-astrometric
#: distances of stars with parallaxes far below their errors).
STARHORSE_SIGMA_BRIGHT, STARHORSE_SIGMA_SLOPE = 0.05, 0.30

#: A StarHorse-like distance above this classifies a star as a Cloud member, kpc.
STARHORSE_MC_DISTANCE = 30.0

_SEED_KEY = 97


def mock_catalogues(sky: dict[str, Any], cfg: SkyConfig, seed: int) -> dict[str, dict[str, Any]]:
    """Validation catalogues from a mock sky's truth columns.

    Parameters
    ----------
    sky : dict of arrays, shape (n,)
        A table from :func:`~gpu_mc.sky.simulate_sky` (NumPy or CuPy).
    cfg : SkyConfig
        The sky's configuration (for the target).
    seed : int
        Seed of the catalogue noise.

    Returns
    -------
    dict of dict of arrays
        Every catalogue has ``source_id``, ``ra``, ``dec`` (deg):

        - ``"cepheids"``: Cloud members with ``true_variable == 1``;
        - ``"rr_lyrae"``: Cloud members with ``true_variable == 2``;
        - ``"starhorse_mc"``, ``"starhorse_mw"``: stars with G < 18.5 split by a noisy
          distance ``distance_kpc`` (lognormal about the truth, wider when fainter) at 30 kpc;
        - ``"los_velocity"``: stars with a radial velocity, with ``radial_velocity`` (km/s)
          and ``is_mc_velocity`` (above the target's ``los_velocity_threshold``).
    """
    xp = array_namespace(sky["ra"])
    rng = make_rng(xp, seed, _SEED_KEY)
    member = sky["true_class"] == 1

    def subset(mask: Any, **extra: Any) -> dict[str, Any]:
        table = {k: sky[k][mask] for k in ("source_id", "ra", "dec")}
        table.update({k: v[mask] for k, v in extra.items()})
        return table

    g = sky["phot_g_mean_mag"].astype(xp.float64)
    x = xp.clip((g - 12.0) / 6.5, 0.0, None)
    sigma = STARHORSE_SIGMA_BRIGHT + STARHORSE_SIGMA_SLOPE * x * x
    dist = sky["true_distance_kpc"] * xp.exp(sigma * rng.standard_normal(g.shape[0]))
    dist = dist.astype(xp.float32)
    bright = g < STARHORSE_G_MAX
    far = dist > STARHORSE_MC_DISTANCE

    rv = sky["radial_velocity"]
    has_rv = xp.isfinite(rv)
    return {
        "cepheids": subset(member & (sky["true_variable"] == 1)),
        "rr_lyrae": subset(member & (sky["true_variable"] == 2)),
        "starhorse_mc": subset(bright & far, distance_kpc=dist),
        "starhorse_mw": subset(bright & ~far, distance_kpc=dist),
        "los_velocity": subset(
            has_rv,
            radial_velocity=rv,
            is_mc_velocity=rv > cfg.target.los_velocity_threshold,
        ),
    }
