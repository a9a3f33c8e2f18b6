"""Label noise of the mock validation catalogues against the mixture formula on the truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpu_mc.config import Config, SkyConfig
from gpu_mc.sky import catalogues as cat_mod
from gpu_mc.sky import mock_catalogues, simulate_sky
from gpu_mc.validate.mock import mock_validation_catalogues

CFG = SkyConfig(cloud="lmc", n_stars=60_000, seed=13)

_phi = np.vectorize(lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0)))


@pytest.fixture(scope="module")
def sky() -> dict[str, np.ndarray]:
    return simulate_sky(CFG)


def _members_in_mw_list(sky, cats) -> np.ndarray:
    """Rows of the sky that are true members listed as MW StarHorse stars."""
    listed = np.isin(sky["source_id"], cats["starhorse_mw"]["source_id"])
    return listed & (sky["true_class"] == 1)


def _expected_share(sky, label_noise: bool) -> np.ndarray:
    """Probability that each bright member lands in the MW list, from the module constants.

    Scatter: lognormal about the true distance with σ_ln(G); mixture: with probability
    f(G) the distance is lognormal about the prior's median instead.
    """
    g = sky["phot_g_mean_mag"].astype(float)
    x = np.clip((g - 12.0) / 6.5, 0.0, None)
    sigma = cat_mod.STARHORSE_SIGMA_BRIGHT + cat_mod.STARHORSE_SIGMA_SLOPE * x * x
    cut = cat_mod.STARHORSE_MC_DISTANCE
    p_scatter = _phi(np.log(cut / sky["true_distance_kpc"]) / sigma)
    if not label_noise:
        return p_scatter
    t = (g - cat_mod.STARHORSE_CATASTROPHIC_G_ON) / (
        cat_mod.STARHORSE_G_MAX - cat_mod.STARHORSE_CATASTROPHIC_G_ON
    )
    f = (
        cat_mod.STARHORSE_CATASTROPHIC_MAX
        * np.clip(t, 0, 1) ** cat_mod.STARHORSE_CATASTROPHIC_POWER
    )
    p_prior = _phi(np.log(cut / cat_mod.STARHORSE_PRIOR_DISTANCE) / cat_mod.STARHORSE_PRIOR_SIGMA)
    return f * p_prior + (1.0 - f) * p_scatter


@pytest.mark.parametrize("label_noise", [True, False])
def test_mw_starhorse_holds_the_mixtures_share_of_members(sky, label_noise: bool) -> None:
    cats = mock_catalogues(sky, CFG, seed=5, label_noise=label_noise)
    got = _members_in_mw_list(sky, cats)
    g = sky["phot_g_mean_mag"]
    bright_member = (sky["true_class"] == 1) & (g < cat_mod.STARHORSE_G_MAX)
    p = _expected_share(sky, label_noise)
    for lo, hi in ((10.0, 16.0), (16.0, 17.0), (17.0, 18.0), (18.0, 18.5), (10.0, 18.5)):
        rows = bright_member & (g >= lo) & (g < hi)
        expected = p[rows].sum()
        sd = np.sqrt((p[rows] * (1.0 - p[rows])).sum())
        assert abs(got[rows].sum() - expected) < 4.0 * sd + 2.0, (lo, hi, got[rows].sum(), expected)
    if label_noise:
        # The faintest members: about a third lost to the prior, far more than the scatter.
        faint = bright_member & (g >= 18.0)
        assert got[faint].mean() > 0.2
        assert got[bright_member & (g < 16.0)].mean() < 0.01


def test_noise_changes_members_only_and_off_is_the_scatter_alone(sky) -> None:
    on = mock_catalogues(sky, CFG, seed=5)
    off = mock_catalogues(sky, CFG, seed=5, label_noise=False)
    for name in ("cepheids", "rr_lyrae", "los_velocity"):
        for k in on[name]:
            np.testing.assert_array_equal(on[name][k], off[name][k])
    dist = {}
    for which, cats in (("on", on), ("off", off)):
        ids = np.concatenate([cats["starhorse_mc"]["source_id"], cats["starhorse_mw"]["source_id"]])
        d = np.concatenate(
            [cats["starhorse_mc"]["distance_kpc"], cats["starhorse_mw"]["distance_kpc"]]
        )
        order = np.argsort(ids)
        dist[which] = (ids[order], d[order])
    np.testing.assert_array_equal(dist["on"][0], dist["off"][0])
    changed = dist["on"][1] != dist["off"][1]
    by_id = dict(zip(sky["source_id"], range(sky["source_id"].size), strict=True))
    rows = np.array([by_id[s] for s in dist["on"][0][changed]])
    # Only faint members change (the same scatter draws otherwise), about Σ f(G) of them.
    assert (sky["true_class"][rows] == 1).all()
    assert (sky["phot_g_mean_mag"][rows] > cat_mod.STARHORSE_CATASTROPHIC_G_ON).all()
    member = (sky["true_class"] == 1) & (sky["phot_g_mean_mag"] < cat_mod.STARHORSE_G_MAX)
    f = cat_mod.catastrophic_fraction(sky["phot_g_mean_mag"][member].astype(float))
    assert abs(changed.sum() - f.sum()) < 4.0 * np.sqrt((f * (1 - f)).sum()) + 2.0
    # Non-members are listed exactly as without noise.
    non = sky["source_id"][sky["true_class"] == 0]
    for name in ("starhorse_mc", "starhorse_mw"):
        np.testing.assert_array_equal(
            np.isin(on[name]["source_id"], non).sum(), np.isin(off[name]["source_id"], non).sum()
        )


def test_config_switch_reaches_the_validation_catalogues(sky) -> None:
    on = Config().replace(sky={"n_stars": CFG.n_stars, "seed": CFG.seed})
    off = on.replace(validate={"mock_label_noise": False})
    cats_on, _, _ = mock_validation_catalogues(sky, on)
    cats_off, _, _ = mock_validation_catalogues(sky, off)
    assert _members_in_mw_list(sky, cats_on).sum() > 2 * _members_in_mw_list(sky, cats_off).sum()
