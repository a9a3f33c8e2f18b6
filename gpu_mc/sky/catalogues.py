"""Mock validation catalogues drawn from the truth of a mock sky.

They stand in for the external catalogues the papers compare with: Gaia DR3 Cepheids and
RR Lyrae of the Clouds, StarHorse distances (Anders et al. 2022, A&A 658, A91) and
spectroscopic line-of-sight velocities of bright stars.

Real labels are noisy, and the StarHorse ones most. StarHorse distances come from parallax,
photometry and a Galactic prior; a Cloud star's parallax (0.016–0.020 mas) is far below its
error at G ≳ 16, so its distance rests on photometry and the prior, and a share of faint
Cloud stars gets a Galactic distance of a few kpc (a red giant of the Cloud also fits a
nearby dwarf of the same colour). The "MW StarHorse" list of the papers therefore holds Cloud
stars with poor distances. With ``label_noise`` (the default) the mock's StarHorse distances
of Cloud members are, with a probability that rises steeply towards G = 18.5, replaced by a
draw from a Galactic prior; the lognormal scatter about the truth stays as it was.
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

#: Catastrophic StarHorse distances of Cloud members: a share
#: f(G) = F_MAX · clip((G − G_ON) / (STARHORSE_G_MAX − G_ON), 0, 1) ** POWER gets a distance
#: from the Galactic prior instead of one about the truth. None at G ≤ 16, where a Cloud
#: star is a luminous supergiant or AGB star with no Galactic look-alike at the Clouds'
#: latitudes, rising quadratically to a third at G = 18.5, where the parallax carries no
#: information (σϖ ≈ 0.1 mas against ϖ ≈ 0.02 mas) and the red giant branch overlaps the
#: colours and magnitudes of K dwarfs a few kpc away (our assumption; Anders et al. 2022,
#: A&A 658, A91 publish no per-target failure rate, and these values were set before the
#: recovery table was looked at, not fitted to the papers' figures).
STARHORSE_CATASTROPHIC_G_ON, STARHORSE_CATASTROPHIC_MAX, STARHORSE_CATASTROPHIC_POWER = (
    16.0,
    1.0 / 3.0,
    2.0,
)

#: Distances of the catastrophic solutions: lognormal with median 3 kpc and σ_ln = 0.5
#: (1.8–5 kpc at ±1σ: the thick disc and inner halo along the Clouds' lines of sight at
#: |b| ≈ 33–44°, where the Galactic prior of such stars peaks; our assumption).
STARHORSE_PRIOR_DISTANCE, STARHORSE_PRIOR_SIGMA = 3.0, 0.5

_SEED_KEY = 97


def catastrophic_fraction(g: Any) -> Any:
    """Share of Cloud members with a catastrophic StarHorse-like distance at G, shape of g.

    See :data:`STARHORSE_CATASTROPHIC_MAX` and the module docstring.
    """
    xp = array_namespace(g)
    span = STARHORSE_G_MAX - STARHORSE_CATASTROPHIC_G_ON
    x = xp.clip((g - STARHORSE_CATASTROPHIC_G_ON) / span, 0.0, 1.0)
    return STARHORSE_CATASTROPHIC_MAX * x**STARHORSE_CATASTROPHIC_POWER


def mock_catalogues(
    sky: dict[str, Any], cfg: SkyConfig, seed: int, label_noise: bool = True
) -> dict[str, dict[str, Any]]:
    """Validation catalogues from a mock sky's truth columns.

    Parameters
    ----------
    sky : dict of arrays, shape (n,)
        A table from :func:`~gpu_mc.sky.simulate_sky` (NumPy or CuPy).
    cfg : SkyConfig
        The sky's configuration (for the target).
    seed : int
        Seed of the catalogue noise.
    label_noise : bool
        Give a share of the faint Cloud members a Galactic StarHorse-like distance
        (:func:`catastrophic_fraction`); False keeps the lognormal scatter alone, the
        catalogues of earlier versions, with the same draws.

    Returns
    -------
    dict of dict of arrays
        Every catalogue has ``source_id``, ``ra``, ``dec`` (deg):

        - ``"cepheids"``: Cloud members with ``true_variable == 1``;
        - ``"rr_lyrae"``: Cloud members with ``true_variable == 2``;
        - ``"starhorse_mc"``, ``"starhorse_mw"``: stars with G < 18.5 split by a noisy
          distance ``distance_kpc`` (lognormal about the truth, wider when fainter, and for
          a share of faint members drawn from a Galactic prior) at 30 kpc;
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
    n = g.shape[0]
    dist = sky["true_distance_kpc"] * xp.exp(sigma * rng.standard_normal(n))
    if label_noise:
        lost = member & (rng.random(n) < catastrophic_fraction(g))
        prior = STARHORSE_PRIOR_DISTANCE * xp.exp(STARHORSE_PRIOR_SIGMA * rng.standard_normal(n))
        dist = xp.where(lost, prior, dist)
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
