"""The mock Gaia sky: shape, determinism, geometry, kinematics, errors, truth, catalogues."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gpu_mc.config import SkyConfig
from gpu_mc.constants import CLOUDS, ECLIPTIC_POLE_ERROR_SCALE, LMC, MILKY_WAY
from gpu_mc.healpix import healpix_nested_index, source_id_to_healpix
from gpu_mc.io.schema import GAIA_COLUMNS, TRUTH_COLUMNS
from gpu_mc.sky import (
    COMPONENTS,
    expected_mw_fraction,
    mock_catalogues,
    simulate_comparison_field,
    simulate_milky_way,
    simulate_sky,
)
from gpu_mc.sky.geometry import project_velocity, systemic_velocity, unit_vector
from gpu_mc.sky.uncertainties import pygaia_tables, uncertainty

N = 60_000
# The PyGaia (Gaussian) error path without the base-sample parallax cut; the empirical model
# and the cut are tested in tests/sky/test_errors.py.
CFG = SkyConfig(
    cloud="lmc",
    n_stars=N,
    seed=11,
    chunk_size=25_000,
    error_model="pygaia",
    parallax_over_error_max=None,
)


@pytest.fixture(scope="module")
def sky() -> dict[str, np.ndarray]:
    return simulate_sky(CFG)


def _separation_deg(ra, dec, ra0, dec0) -> np.ndarray:
    u = np.array(unit_vector(ra, dec))
    u0 = np.array(unit_vector(ra0, dec0))
    return np.rad2deg(np.arccos(np.clip(u0 @ u, -1.0, 1.0)))


def test_rows_columns_dtypes(sky) -> None:
    expected = {**GAIA_COLUMNS, **TRUTH_COLUMNS}
    assert set(sky) == set(expected) | {"radial_velocity"}
    for name, (dtype, _) in expected.items():
        assert sky[name].dtype == dtype, name
        assert sky[name].shape == (N,)
    assert sky["radial_velocity"].dtype == np.float32
    assert set(COMPONENTS) == {0, 1, 2, 3, 4, 5}


def test_deterministic_per_seed(sky) -> None:
    again = simulate_sky(CFG)
    for k in sky:
        np.testing.assert_array_equal(sky[k], again[k], err_msg=k)
    other = simulate_sky(dataclasses.replace(CFG, seed=12))
    assert not np.array_equal(sky["ra"], other["ra"])
    assert not np.array_equal(sky["phot_g_mean_mag"], other["phot_g_mean_mag"])


def test_member_fraction_and_shuffle(sky) -> None:
    f = 1.0 - expected_mw_fraction(CFG)
    assert f == pytest.approx(0.60)
    frac = sky["true_class"].mean()
    assert abs(frac - f) < 4.0 * np.sqrt(f * (1 - f) / N)
    # Members are spread through the rows, not stacked first.
    first, last = sky["true_class"][: N // 10].mean(), sky["true_class"][-N // 10 :].mean()
    assert abs(first - f) < 0.05 and abs(last - f) < 0.05
    smc = simulate_sky(SkyConfig(cloud="smc", n_stars=20_000, seed=1))
    assert abs(smc["true_class"].mean() - 0.45) < 4.0 * np.sqrt(0.45 * 0.55 / 20_000)
    custom = dataclasses.replace(CFG, mc_fraction=0.3)
    assert expected_mw_fraction(custom) == pytest.approx(0.7)


def test_cone_and_magnitude_limit(sky) -> None:
    sep = _separation_deg(sky["ra"], sky["dec"], LMC.ra0, LMC.dec0)
    assert sep.max() <= LMC.cone_radius + 1e-9
    assert sep.max() > 0.9 * LMC.cone_radius  # the foreground fills the cone
    assert sky["phot_g_mean_mag"].max() <= CFG.g_limit
    assert np.isfinite(sky["phot_g_mean_mag"]).all()


def test_counts_rise_to_faint_end_with_red_clump(sky) -> None:
    g = sky["phot_g_mean_mag"]
    counts = np.histogram(g, bins=[17.5, 18.0, 18.5, 19.0, 19.5, 20.0, 20.5])[0]
    assert counts[-1] > counts[-2] and counts[-1] > counts[0] * 2
    member = sky["true_class"] == 1
    clump = np.histogram(g[member], bins=[18.6, 18.8, 19.0, 19.2, 19.5, 19.7])[0]
    assert clump[2] > 1.3 * clump[0] and clump[2] > 1.3 * clump[4]


def test_member_parallax_and_proper_motion(sky) -> None:
    m = sky["true_class"] == 1
    w = 1.0 / sky["parallax_error"][m].astype(float) ** 2
    plx = np.sum(w * sky["parallax"][m]) / w.sum()
    assert plx == pytest.approx(LMC.parallax, abs=5.0 / np.sqrt(w.sum()) + 0.001)
    assert np.median(sky["true_distance_kpc"][m]) == pytest.approx(LMC.distance, rel=0.03)
    # Noise removed by averaging: the members' mean motion is the systemic one (rotation and
    # perspective shift it by a few hundredths of a mas/yr over the whole cone).
    pmra = sky["pmra"][m].mean()
    pmdec = sky["pmdec"][m].mean()
    se = sky["pmra"][m].std() / np.sqrt(m.sum())
    assert abs(pmra - LMC.pmra0) < 0.08 + 4 * se
    assert abs(pmdec - LMC.pmdec0) < 0.08 + 4 * se
    rv = sky["radial_velocity"][m]
    assert np.nanmean(rv) == pytest.approx(LMC.vlos0, abs=15.0)


def test_north_east_side_is_nearer(sky) -> None:
    m = sky["true_class"] == 1
    u = np.array(unit_vector(sky["ra"][m], sky["dec"][m]))
    from gpu_mc.sky.geometry import sky_basis

    e_a, e_d, _ = (np.array(b) for b in sky_basis(LMC.ra0, LMC.dec0))
    pa = np.deg2rad(LMC.position_angle - 90.0)  # the near side of the line of nodes
    toward = np.cos(pa) * e_d + np.sin(pa) * e_a
    offset = toward @ u
    d = sky["true_distance_kpc"][m]
    assert np.median(d[offset > 0.02]) < LMC.distance < np.median(d[offset < -0.02])


@pytest.mark.parametrize("cloud", ["lmc", "smc"])
def test_velocity_projection_closed_form(cloud: str) -> None:
    c = CLOUDS[cloud]
    v = systemic_velocity(c.ra0, c.dec0, c.distance, c.pmra0, c.pmdec0, c.vlos0)
    pmra, pmdec, vlos = project_velocity(
        np.array([c.ra0]), np.array([c.dec0]), np.array([c.distance]), tuple(v[:, None])
    )
    np.testing.assert_allclose([pmra[0], pmdec[0], vlos[0]], [c.pmra0, c.pmdec0, c.vlos0])
    # Elsewhere on the sky the same velocity is split differently but keeps its length.
    pmra, pmdec, vlos = project_velocity(
        np.array([c.ra0 + 15.0]),
        np.array([c.dec0 + 5.0]),
        np.array([c.distance]),
        tuple(v[:, None]),
    )
    k = 4.740470463533348 * c.distance
    assert np.hypot(k * np.hypot(pmra, pmdec), vlos)[0] == pytest.approx(np.linalg.norm(v))
    assert not np.isclose(pmra[0], c.pmra0, atol=0.01)


def test_galactocentric_velocities_match_astropy() -> None:
    coords = pytest.importorskip("astropy.coordinates")
    import astropy.units as u

    from gpu_mc.sky.milky_way import galactocentric_velocity_to_icrs, icrs_to_galactocentric

    rng = np.random.default_rng(3)
    n = 50
    ra, dec = 360 * rng.random(n), np.rad2deg(np.arcsin(2 * rng.random(n) - 1))
    d = 0.1 + 20 * rng.random(n)
    vel_gc = tuple(200 * rng.standard_normal((3, n)))
    pos = tuple(np.array(unit_vector(ra, dec)) * d)
    gc = np.array(icrs_to_galactocentric(pos, MILKY_WAY))
    v_icrs = galactocentric_velocity_to_icrs(vel_gc, MILKY_WAY)
    pmra, pmdec, vlos = project_velocity(ra, dec, d, v_icrs)

    origin = coords.SkyCoord(l=0 * u.deg, b=0 * u.deg, frame="galactic").icrs
    frame = coords.Galactocentric(
        galcen_coord=origin,
        galcen_distance=MILKY_WAY.r_sun * u.kpc,
        z_sun=MILKY_WAY.z_sun * u.kpc,
        galcen_v_sun=coords.CartesianDifferential(
            [MILKY_WAY.u_sun, MILKY_WAY.v_circ + MILKY_WAY.v_sun, MILKY_WAY.w_sun] * u.km / u.s
        ),
        roll=0 * u.deg,
    )
    star = coords.SkyCoord(ra=ra * u.deg, dec=dec * u.deg, distance=d * u.kpc).transform_to(frame)
    np.testing.assert_allclose(
        gc, [star.x.to_value(u.kpc), star.y.to_value(u.kpc), star.z.to_value(u.kpc)], atol=1e-4
    )
    moving = coords.SkyCoord(
        x=gc[0] * u.kpc,
        y=gc[1] * u.kpc,
        z=gc[2] * u.kpc,
        v_x=vel_gc[0] * u.km / u.s,
        v_y=vel_gc[1] * u.km / u.s,
        v_z=vel_gc[2] * u.km / u.s,
        frame=frame,
    ).icrs
    np.testing.assert_allclose(
        pmra, moving.pm_ra_cosdec.to_value(u.mas / u.yr), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(pmdec, moving.pm_dec.to_value(u.mas / u.yr), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        vlos, moving.radial_velocity.to_value(u.km / u.s), rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("g0", [15.0, 18.0, 20.0])
def test_parallax_errors_follow_pygaia(sky, g0: float) -> None:
    g = sky["phot_g_mean_mag"]
    sel = (g > g0) & (g < g0 + 0.2)
    assert sel.sum() > 100
    ratio = np.median(sky["parallax_error"][sel]) / uncertainty("parallax", g0 + 0.1)
    assert ratio == pytest.approx(ECLIPTIC_POLE_ERROR_SCALE, rel=0.06)
    pm_ratio = np.median(sky["pmra_error"][sel]) / uncertainty("pmra", g0 + 0.1)
    assert pm_ratio == pytest.approx(ECLIPTIC_POLE_ERROR_SCALE, rel=0.06)
    assert pygaia_tables()["parallax"][0] > 0


def test_noise_matches_errors(sky) -> None:
    mw = sky["true_class"] == 0
    pull = (sky["parallax"][mw] - 1.0 / sky["true_distance_kpc"][mw]) / sky["parallax_error"][mw]
    assert np.std(pull) == pytest.approx(1.0, abs=0.05)
    corr = sky["pmra_pmdec_corr"]
    assert corr.min() >= -0.3 and corr.max() <= 0.3 and np.std(corr) > 0.1


def test_bp_rp_nulls(sky) -> None:
    g = sky["phot_g_mean_mag"]
    bp_nan = np.isnan(sky["phot_bp_mean_mag"])
    np.testing.assert_array_equal(bp_nan, np.isnan(sky["phot_rp_mean_mag"]))
    assert not bp_nan[g < 18.0].any()
    assert 0.01 < bp_nan[g > 20.0].mean() < 0.10
    assert 0.005 < bp_nan.mean() < 0.05


def test_truth_consistent(sky) -> None:
    member = sky["true_class"] == 1
    comp = sky["true_component"]
    np.testing.assert_array_equal(member, np.isin(comp, [3, 4]))
    assert set(np.unique(comp)) == {0, 1, 2, 3, 4}
    assert not sky["true_variable"][~member].any()
    assert (sky["true_distance_kpc"] > 0).all()
    assert (sky["true_distance_kpc"][member] > 30).all()
    has_rv = np.isfinite(sky["radial_velocity"])
    assert has_rv.any() and (sky["phot_g_mean_mag"][has_rv] < 15.5).all()


def test_source_ids(sky) -> None:
    sid = sky["source_id"]
    assert np.unique(sid).size == N
    np.testing.assert_array_equal(
        source_id_to_healpix(sid), healpix_nested_index(sky["ra"], sky["dec"], 12)
    )
    mw = simulate_milky_way(CFG, 5000, CFG.seed)
    comp = simulate_comparison_field(CFG, 5000, CFG.seed)
    assert not np.intersect1d(sid, mw["source_id"]).size
    assert not np.intersect1d(sid, comp["source_id"]).size
    assert not np.intersect1d(mw["source_id"], comp["source_id"]).size


def test_milky_way_and_comparison_tables() -> None:
    mw = simulate_milky_way(CFG, 20_000, 4)
    again = simulate_milky_way(CFG, 20_000, 4)
    np.testing.assert_array_equal(mw["pmra"], again["pmra"])
    assert not np.array_equal(mw["pmra"], simulate_milky_way(CFG, 20_000, 5)["pmra"])
    comp = simulate_comparison_field(CFG, 20_000, 4)
    for table in (mw, comp):
        assert table["ra"].shape == (20_000,)
        assert not table["true_class"].any()
        assert set(np.unique(table["true_component"])) <= {0, 1, 2}
        assert _separation_deg(table["ra"], table["dec"], LMC.ra0, LMC.dec0).max() <= 20 + 1e-9
        assert table["phot_g_mean_mag"].max() <= CFG.g_limit
    # Same foreground model, similar but not identical motions.
    for k in ("pmra", "pmdec"):
        assert abs(np.median(mw[k]) - np.median(comp[k])) < 3.0
    assert not np.allclose(np.median(mw["pmra"]), np.median(comp["pmra"]), atol=0.05)


def test_progress_reports_rows() -> None:
    seen: list[int] = []
    cfg = SkyConfig(n_stars=25_000, seed=2, chunk_size=10_000)
    simulate_sky(cfg, progress=seen.append)
    assert seen == [10_000, 20_000, 25_000]


def test_mock_catalogues(sky) -> None:
    # The scatter alone; the label noise is tested in tests/sky/test_catalogues.py.
    cats = mock_catalogues(sky, CFG, seed=1, label_noise=False)
    assert set(cats) == {"cepheids", "rr_lyrae", "starhorse_mc", "starhorse_mw", "los_velocity"}
    by_id = {s: i for i, s in enumerate(sky["source_id"])}
    for name, code, rate in (("cepheids", 1, 4.5e3 / 18e6), ("rr_lyrae", 2, 21e3 / 18e6)):
        cat = cats[name]
        rows = np.array([by_id[s] for s in cat["source_id"]])
        assert (sky["true_class"][rows] == 1).all() and (sky["true_variable"][rows] == code).all()
        expected = rate * N
        assert abs(rows.size - expected) < 5 * np.sqrt(expected) + 2
        np.testing.assert_array_equal(cat["ra"], sky["ra"][rows])
    bright = sky["phot_g_mean_mag"] < 18.5
    mc, mw = cats["starhorse_mc"], cats["starhorse_mw"]
    assert mc["source_id"].size + mw["source_id"].size == bright.sum()
    assert (mc["distance_kpc"] > 30).all() and (mw["distance_kpc"] <= 30).all()
    member_ids = set(sky["source_id"][sky["true_class"] == 1])
    lost = np.isin(mw["source_id"], list(member_ids)).sum()
    assert 0 < lost < 0.2 * mc["source_id"].size  # some members land in the MW list
    los = cats["los_velocity"]
    assert np.isfinite(los["radial_velocity"]).all()
    rows = np.array([by_id[s] for s in los["source_id"]])
    is_member = sky["true_class"][rows] == 1
    assert los["is_mc_velocity"][is_member].mean() > 0.9
    # Halo stars towards the LMC carry the solar reflex (~ +200 km/s): a few pass the cut.
    assert los["is_mc_velocity"][~is_member].mean() < 0.15
