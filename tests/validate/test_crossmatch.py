"""Cross-matches by position (oracle: astropy) and by source_id (oracle: pandas merge)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, match_coordinates_sky

from gpu_mc.errors import InputError
from gpu_mc.healpix import source_id_to_healpix
from gpu_mc.io.readers import read_table as read_columns
from gpu_mc.validate import (
    crossmatch_files,
    join_source_id,
    match_positions,
)

REAL = Path(__file__).parents[2].parent / "shared" / "data" / "real"


def astropy_pairs(ra1, dec1, ra2, dec2, radius_arcsec):
    """Nearest catalogue-2 neighbour within the radius, by astropy."""
    c1 = SkyCoord(ra1 * u.deg, dec1 * u.deg)
    c2 = SkyCoord(ra2 * u.deg, dec2 * u.deg)
    idx, sep, _ = match_coordinates_sky(c1, c2)
    sep = sep.to_value(u.arcsec)
    keep = np.nonzero(sep <= radius_arcsec)[0]
    return keep, idx[keep], sep[keep]


def assert_same_as_astropy(ra1, dec1, ra2, dec2, radius_arcsec=1.0):
    i1, i2, sep = astropy_pairs(ra1, dec1, ra2, dec2, radius_arcsec)
    got = match_positions(ra1, dec1, ra2, dec2, radius_arcsec=radius_arcsec)
    assert set(zip(got.idx1.tolist(), got.idx2.tolist(), strict=True)) == set(
        zip(i1.tolist(), i2.tolist(), strict=True)
    )
    np.testing.assert_array_equal(got.idx1, i1)  # ordered by idx1
    np.testing.assert_allclose(got.sep_arcsec, sep, rtol=0, atol=1e-6)
    return got


# --- real catalogues -------------------------------------------------------------------------


def real(name: str) -> Path:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real catalogue {path} not available")
    return path


@pytest.fixture(scope="module")
def gaia_cepheids() -> pd.DataFrame:
    return read_table(real("gaia_dr2_cepheids.csv"))


def read_table(path) -> pd.DataFrame:
    return pd.DataFrame(read_columns(path))


@pytest.mark.parametrize(
    ("name", "ra", "dec"),
    [
        ("ogle3_lmc_cepheids.tsv", "_RAJ2000", "_DEJ2000"),
        ("vmc_ogle4_cepheids.csv", "RA2000", "DEC2000"),
    ],
)
def test_real_cepheids_match_astropy_exactly(gaia_cepheids, name, ra, dec):
    other = read_table(real(name))
    got = assert_same_as_astropy(
        gaia_cepheids["ra"].to_numpy(),
        gaia_cepheids["dec"].to_numpy(),
        other[ra].to_numpy(dtype=float),
        other[dec].to_numpy(dtype=float),
    )
    assert len(got.idx1) > 50  # LMC Cepheids do match (README of the data)


def test_crossmatch_files_on_real_files_writes_parquet(tmp_path):
    out = tmp_path / "m.parquet"
    got = crossmatch_files(
        real("gaia_dr2_cepheids.csv"),
        real("ogle3_lmc_cepheids.tsv"),
        1.0,
        out,
        right_ra="_RAJ2000",
        right_dec="_DEJ2000",
        backend="cpu",
    )
    table = pd.read_parquet(out)
    assert list(table.columns) == ["left_index", "right_index", "sep_arcsec"]
    np.testing.assert_array_equal(table["left_index"], got.idx1)
    np.testing.assert_array_equal(table["right_index"], got.idx2)
    assert (table["sep_arcsec"] <= 1.0).all() and len(table) > 50
    assert [p.name for p in tmp_path.iterdir()] == ["m.parquet"]


# --- synthetic catalogues --------------------------------------------------------------------


def perturbed(rng, ra, dec, sigma_arcsec):
    """Offset positions by a random angle of ~sigma in a random direction (exact on the sphere)."""
    c = SkyCoord(ra * u.deg, dec * u.deg)
    moved = c.directional_offset_by(
        rng.uniform(0, 360, ra.size) * u.deg,
        np.abs(rng.normal(0, sigma_arcsec, ra.size)) * u.arcsec,
    )
    return moved.ra.deg, moved.dec.deg


@pytest.mark.parametrize(
    ("ra_lo", "ra_hi", "dec_lo", "dec_hi"),
    [
        (0.0, 360.0, -90.0, 90.0),  # whole sky (sparse)
        (-0.01, 0.01, -30.0, -29.98),  # across ra = 0/360
        (0.0, 360.0, 89.9, 90.0),  # north pole cap
        (0.0, 360.0, -90.0, -89.9),  # south pole cap
        (80.0, 80.05, -69.05, -69.0),  # dense LMC-like patch
    ],
)
def test_random_catalogues_match_astropy(ra_lo, ra_hi, dec_lo, dec_hi):
    rng = np.random.default_rng(abs(hash((ra_lo, dec_lo))) % 2**32)
    n = 3000
    ra = np.mod(rng.uniform(ra_lo, ra_hi, n), 360.0)
    dec = np.degrees(
        np.arcsin(rng.uniform(np.sin(np.radians(dec_lo)), np.sin(np.radians(dec_hi)), n))
    )
    ra2, dec2 = perturbed(rng, ra, dec, 0.7)
    extra_ra = np.mod(rng.uniform(ra_lo, ra_hi, n), 360.0)
    extra_dec = rng.uniform(dec_lo, dec_hi, n)
    ra2, dec2 = np.concatenate([ra2, extra_ra]), np.concatenate([dec2, extra_dec])
    perm = rng.permutation(ra2.size)
    got = assert_same_as_astropy(ra, dec, ra2[perm], dec2[perm], radius_arcsec=1.0)
    assert len(got.idx1) > n // 3
    assert_same_as_astropy(ra, dec, ra2[perm], dec2[perm], radius_arcsec=5.0)


def test_radius_larger_than_a_degree_and_pole_crossing():
    rng = np.random.default_rng(7)
    ra = rng.uniform(0, 360, 400)
    dec = rng.uniform(85, 90, 400)
    ra2 = rng.uniform(0, 360, 300)
    dec2 = rng.uniform(84, 90, 300)
    assert_same_as_astropy(ra, dec, ra2, dec2, radius_arcsec=2.5 * 3600)


def test_nan_positions_never_match_and_ra_is_wrapped():
    ra1 = np.array([np.nan, 10.0, 370.0, -350.0])
    dec1 = np.array([0.0, np.nan, 5.0, 5.0])
    ra2 = np.array([10.0, 10.0 + 0.5 / 3600, np.nan])
    dec2 = np.array([5.0, 5.0, 5.0])
    got = match_positions(ra1, dec1, ra2, dec2)
    np.testing.assert_array_equal(got.idx1, [2, 3])
    np.testing.assert_array_equal(got.idx2, [0, 0])
    np.testing.assert_allclose(got.sep_arcsec, 0.0, atol=1e-9)


def test_ties_go_to_the_smaller_index():
    got = match_positions(
        np.array([1.0]), np.array([1.0]), np.array([1.0, 1.0, 1.0]), np.array([1.0] * 3)
    )
    assert got.idx2.tolist() == [0]


def test_one_to_one_keeps_the_nearest_partner():
    # sources 0-3 of catalogue 1 all lie nearest to source 0 of catalogue 2, at 0.6", 0.2",
    # 0.4" and 0.2" (3 sits on 1: an exact tie); source 4 matches catalogue-2 source 1 alone
    d = 1 / 3600
    ra1 = np.array([10 + 0.6 * d, 10 - 0.2 * d, 10, 10, 20.0])
    dec1 = np.array([0, 0, 0.4 * d, 0, 0.0])
    ra1[3] = ra1[1]
    ra2 = np.array([10.0, 20.0 + 0.1 * d])
    dec2 = np.array([0.0, 0.0])
    many = match_positions(ra1, dec1, ra2, dec2)
    assert many.idx1.tolist() == [0, 1, 2, 3, 4] and many.idx2.tolist() == [0, 0, 0, 0, 1]
    one = match_positions(ra1, dec1, ra2, dec2, one_to_one=True)
    assert one.idx1.tolist() == [1, 4]  # 1 and 3 tie at 0.2": the smaller index wins
    assert one.idx2.tolist() == [0, 1]
    np.testing.assert_allclose(one.sep_arcsec, [0.2, 0.1], rtol=1e-9)


def test_empty_catalogues():
    empty = np.array([], dtype=float)
    got = match_positions(empty, empty, np.array([1.0]), np.array([1.0]))
    assert got.idx1.shape == (0,)
    got = match_positions(np.array([1.0]), np.array([1.0]), empty, empty, one_to_one=True)
    assert got.idx1.shape == (0,)


# --- source_id joins -------------------------------------------------------------------------


def pandas_join(left, right, how):
    lf = pd.DataFrame({"k": left, "li": np.arange(left.size)})
    rf = pd.DataFrame({"k": right, "ri": np.arange(right.size)})
    m = lf.merge(rf, on="k", how=how)
    m["ri"] = m["ri"].fillna(-1).astype(np.int64)
    return m.sort_values(["li", "ri"], kind="stable")


@pytest.mark.parametrize("how", ["inner", "left"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_join_equals_pandas_merge(how, seed):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 2**62, 500)
    left = rng.choice(keys, 3000)  # duplicates on the left
    right = np.concatenate([rng.choice(keys, 400), rng.integers(0, 2**62, 100)])  # dups, misses
    got = join_source_id(left, right, how=how)
    want = pandas_join(left, right, how)
    np.testing.assert_array_equal(got.left_index, want["li"].to_numpy())
    np.testing.assert_array_equal(got.right_index, want["ri"].to_numpy())
    pairs = want[want["ri"] >= 0]
    per_key = pairs.groupby("k").agg(nl=("li", "nunique"), nr=("ri", "nunique"))
    assert got.left_duplicate_keys == int((per_key["nl"] > 1).sum()) > 0
    assert got.right_duplicate_keys == int((per_key["nr"] > 1).sum()) > 0
    assert got.n_pairs == len(want)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ([5, -3, 7, 5], [5, 5, -3, 9]),  # negative keys, one bucket
        ([0, 2**63 - 1, -(2**63)], [2**63 - 1, -(2**63)]),  # the full int64 range
        ([1, 2, 3], [4]),  # no match
        ([], [1, 2]),
        ([1, 2], []),
    ],
)
@pytest.mark.parametrize("how", ["inner", "left"])
def test_join_edge_cases_equal_pandas(left, right, how):
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    got = join_source_id(left, right, how=how)
    want = pandas_join(left, right, how)
    np.testing.assert_array_equal(got.left_index, want["li"].to_numpy())
    np.testing.assert_array_equal(got.right_index, want["ri"].to_numpy())


def test_join_on_gaia_like_clustered_ids():
    rng = np.random.default_rng(3)
    pix = rng.integers(0, 12 * 4**12, 40)
    ids = np.unique((pix[:, None] * 2**35 + rng.integers(0, 2**20, (40, 500))).ravel())
    left = rng.permutation(ids)
    right = rng.choice(ids, 2000, replace=False)
    got = join_source_id(left, right)
    want = pandas_join(left, right, "inner")
    np.testing.assert_array_equal(got.left_index, want["li"].to_numpy())
    np.testing.assert_array_equal(got.right_index, want["ri"].to_numpy())
    assert got.left_duplicate_keys == got.right_duplicate_keys == 0


def test_healpix12_from_source_id():
    sid = np.array([0, 34359738367, 34359738368, 4687430588516326656])
    np.testing.assert_array_equal(
        source_id_to_healpix(sid, 12), [0, 0, 1, 4687430588516326656 // 2**35]
    )
    assert int(source_id_to_healpix(5 * 2**35 + 3, 12)) == 5


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_radius(radius, tmp_path):
    with pytest.raises(InputError, match="radius"):
        match_positions(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), radius_arcsec=radius)
    with pytest.raises(InputError, match="radius"):
        crossmatch_files(tmp_path / "a.csv", tmp_path / "b.csv", radius, tmp_path / "x.parquet")


def test_missing_column_names_file_and_column(tmp_path):
    path = tmp_path / "cat.csv"
    pd.DataFrame({"RA_ICRS": [1.0], "dec": [2.0]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"cat\.csv.*ra"):
        crossmatch_files(path, path, 1.0, tmp_path / "out.parquet", right_ra="RA_ICRS")
    assert not (tmp_path / "out.parquet").exists()


def test_non_numeric_column_and_unreadable_file(tmp_path):
    path = tmp_path / "text.csv"
    pd.DataFrame({"ra": ["a"], "dec": [2.0]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"text\.csv.*'ra'"):
        crossmatch_files(path, path, 1.0, tmp_path / "out.parquet")
    missing = tmp_path / "nope.parquet"
    with pytest.raises(InputError, match=r"nope\.parquet"):
        crossmatch_files(missing, path, 1.0, tmp_path / "out.parquet")
    broken = tmp_path / "broken.tsv"
    broken.write_text("# header\nra\tdec\ndeg\tdeg\n--\t--\n1.0\t2.0\t3.0\n")
    with pytest.raises(InputError, match=r"broken\.tsv"):
        crossmatch_files(broken, path, 1.0, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_bad_declination_and_shapes():
    with pytest.raises(InputError, match="declination"):
        match_positions(np.zeros(1), np.array([91.0]), np.zeros(1), np.zeros(1))
    with pytest.raises(InputError, match="equal length"):
        match_positions(np.zeros(2), np.zeros(1), np.zeros(1), np.zeros(1))


def test_bad_join_arguments():
    ids = np.arange(3)
    with pytest.raises(InputError, match="how"):
        join_source_id(ids, ids, how="outer")
    with pytest.raises(InputError, match="integer"):
        join_source_id(ids.astype(float), ids)
    with pytest.raises(InputError, match="cudf"):
        join_source_id(ids, ids, method="cudf")
