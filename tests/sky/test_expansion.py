"""The SMC's proper motion varying across its face: the targets' stretching field."""

from __future__ import annotations

import dataclasses

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import CartesianDifferential, CartesianRepresentation, SkyCoord

from gpu_mc.config import SampleConfig, SkyConfig
from gpu_mc.constants import K_MASYR_KPC, LMC, SMC
from gpu_mc.mc_class import error_aware_selection, local_systemic_motion, representation_by_g
from gpu_mc.sky import simulate_sky
from gpu_mc.sky.cloud import draw_cloud
from gpu_mc.sky.rng import make_rng


def _on_axis(target, phi_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Two points on the stretching axis at ±phi from the centre (astropy offsets)."""
    c = SkyCoord(target.ra0 * u.deg, target.dec0 * u.deg)
    ahead = c.directional_offset_by(target.expansion_angle * u.deg, phi_deg * u.deg)
    behind = c.directional_offset_by((target.expansion_angle + 180.0) * u.deg, phi_deg * u.deg)
    return np.array([ahead.ra.deg, behind.ra.deg]), np.array([ahead.dec.deg, behind.dec.deg])


def test_builtin_fields_lmc_none_smc_towards_lmc() -> None:
    assert LMC.expansion_rate == 0.0
    assert SMC.expansion_rate > 0.0
    pa = SkyCoord(SMC.ra0 * u.deg, SMC.dec0 * u.deg).position_angle(
        SkyCoord(LMC.ra0 * u.deg, LMC.dec0 * u.deg)
    )
    assert SMC.expansion_angle == pytest.approx(pa.deg, abs=0.1)


@pytest.mark.parametrize("phi_deg", [0.5, 3.0, 8.0])
def test_stars_on_the_axis_move_apart_at_the_configured_rate(phi_deg: float) -> None:
    # Closed form: at ±φ on the axis (sky-plane offsets ±D sin φ), each point moves along
    # the great circle by rate · D sin φ · cos φ km/s, so the two separate by
    # rate · sin 2φ / K mas/yr, whatever the distance; across the axis nothing changes.
    ra, dec = _on_axis(SMC, phi_deg)
    still = dataclasses.replace(SMC, expansion_rate=0.0)
    pmra, pmdec = local_systemic_motion(ra, dec, SMC)
    pmra0, pmdec0 = local_systemic_motion(ra, dec, still)
    d_ra, d_dec = pmra - pmra0, pmdec - pmdec0
    # Unit vectors along the axis (away from the centre) at each point, from astropy.
    points = SkyCoord(ra * u.deg, dec * u.deg)
    centre = SkyCoord(SMC.ra0 * u.deg, SMC.dec0 * u.deg)
    pa_out = np.deg2rad(points.position_angle(centre).deg) + np.pi  # away from the centre
    along = d_ra * np.sin(pa_out) + d_dec * np.cos(pa_out)
    across = d_ra * np.cos(pa_out) - d_dec * np.sin(pa_out)
    expected = SMC.expansion_rate * np.sin(np.deg2rad(phi_deg)) * np.cos(np.deg2rad(phi_deg))
    expected /= K_MASYR_KPC
    np.testing.assert_allclose(along, [expected, expected], rtol=1e-9)
    rate = SMC.expansion_rate * np.sin(np.deg2rad(2 * phi_deg)) / K_MASYR_KPC
    assert along.sum() == pytest.approx(rate, rel=1e-9)
    np.testing.assert_allclose(across, 0.0, atol=1e-12)


def test_drawn_members_carry_the_field_astropy_oracle() -> None:
    n = 3000
    still = dataclasses.replace(SMC, expansion_rate=0.0)
    moving = draw_cloud(n, SMC, make_rng(np, 5, 1), 20.5, 0.0, 0.0)
    base = draw_cloud(n, still, make_rng(np, 5, 1), 20.5, 0.0, 0.0)
    for k in ("ra", "dec", "distance_kpc", "g", "colour"):
        np.testing.assert_array_equal(moving[k], base[k])
    # Oracle: the field's velocity rate (r · ê) ê built and projected by astropy.
    c = SkyCoord(SMC.ra0 * u.deg, SMC.dec0 * u.deg)
    step = c.directional_offset_by(SMC.expansion_angle * u.deg, 1e-4 * u.deg)
    u0 = c.cartesian.xyz.value
    e = step.cartesian.xyz.value - u0
    e -= (e @ u0) * u0  # the tangent at the centre: drop the chord's second-order part
    e /= np.linalg.norm(e)
    stars = SkyCoord(moving["ra"] * u.deg, moving["dec"] * u.deg)
    pos = stars.cartesian.xyz.value * moving["distance_kpc"]
    dv = SMC.expansion_rate * (e @ pos)[None, :] * e[:, None]
    rep = CartesianRepresentation(pos * u.kpc).with_differentials(
        CartesianDifferential(dv * u.km / u.s)
    )
    moved = SkyCoord(rep, frame="icrs")
    np.testing.assert_allclose(
        moving["pmra"] - base["pmra"], moved.pm_ra_cosdec.to_value(u.mas / u.yr), atol=1e-9
    )
    np.testing.assert_allclose(
        moving["pmdec"] - base["pmdec"], moved.pm_dec.to_value(u.mas / u.yr), atol=1e-9
    )


def test_lmc_unchanged_bit_for_bit() -> None:
    # The LMC's field is 0: its axis is irrelevant and its members and local motion are the
    # same arrays whatever the axis.
    turned = dataclasses.replace(LMC, expansion_angle=37.0)
    a = draw_cloud(2000, LMC, make_rng(np, 3, 1), 20.5, 0.01, 0.01)
    b = draw_cloud(2000, turned, make_rng(np, 3, 1), 20.5, 0.01, 0.01)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    ra, dec = _on_axis(LMC, 5.0)
    for x, y in zip(
        local_systemic_motion(ra, dec, LMC), local_systemic_motion(ra, dec, turned), strict=True
    ):
        np.testing.assert_array_equal(x, y)


def test_smc_mc_class_represents_as_many_members() -> None:
    # On a 100k SMC mock (which has the field), the error-aware class measured against the
    # local motion with the field represents the true members per G bin at least as well
    # as the same class measured without it (binomial tolerance).
    sky = simulate_sky(SkyConfig(cloud="smc", n_stars=100_000, seed=23))
    truth = sky["true_class"] == 1
    g = sky["phot_g_mean_mag"]
    s = SampleConfig()
    still = dataclasses.replace(SMC, expansion_rate=0.0)
    edges = (10.0, 17.0, 18.0, 19.0, 19.5, 20.0, 20.5)
    rows = {}
    for name, target in (("with", SMC), ("without", still)):
        sel = error_aware_selection(sky, target, s.mc_chi2_max, s.parallax_nsigma)
        rows[name] = representation_by_g(sel, truth, g, edges)
    for w, wo in zip(rows["with"], rows["without"], strict=True):
        f = wo["fraction_of_true_mc"]
        tol = 2.0 * np.sqrt(f * (1.0 - f) / w["n_true_mc"])
        assert w["fraction_of_true_mc"] >= f - tol, (w, wo)
        assert w["mw_share"] <= wo["mw_share"] + 0.01, (w, wo)
    assert rows["with"][-1]["fraction_of_true_mc"] > rows["without"][-1]["fraction_of_true_mc"]
