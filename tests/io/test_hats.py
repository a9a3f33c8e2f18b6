"""HATS catalogues: our writer → LSDB → our reader, LSDB's cross-match, cone restriction.

Oracles: LSDB (the community reader of HATS), hats' own strict validator, gpu_mc.healpix (our
independent HEALPix implementation) for ``_healpix_29`` and partition membership,
astropy_healpix pixel boundaries for which partitions a cone overlaps, and astropy's
``match_coordinates_sky`` / ``separation`` for cross-match pairs and cone membership.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord, match_coordinates_sky
from cli_runner import Result, gpu_mc

from gpu_mc.errors import InputError
from gpu_mc.healpix import healpix_nested_index
from gpu_mc.io import hats as gh
from gpu_mc.io import schema

HAVE_HATS = all(importlib.util.find_spec(m) is not None for m in ("hats", "lsdb"))
if HAVE_HATS:
    import astropy_healpix
    import hats
    import lsdb

#: nested-pandas (under LSDB) calls pandas methods with ``inplace``, deprecated in pandas 3.1.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")

#: Every test but the import one needs the hats extra.
needs_hats = pytest.mark.skipif(
    not HAVE_HATS, reason="hats/lsdb not installed (pip install 'gpu_mc[hats]')"
)

N_STARS = 12_000
MAX_ROWS = 900
LMC = (81.28, -69.78)


def _cap_positions(rng: np.random.Generator, n: int, centre, radius_deg: float):
    """Uniform positions in a spherical cap (deg), through astropy's offset frames."""
    cos_r = np.cos(np.deg2rad(radius_deg))
    sep = np.rad2deg(np.arccos(rng.uniform(cos_r, 1.0, n)))
    pa = rng.uniform(0.0, 360.0, n)
    c = SkyCoord(*centre, unit="deg").directional_offset_by(pa * u.deg, sep * u.deg)
    return c.ra.deg, c.dec.deg


def _gaia_columns(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Valid Gaia columns of ``n`` stars spread over a 15° cap around the LMC, plus a score."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for name, (dtype, _) in {**schema.GAIA_COLUMNS, **schema.OPTIONAL_COLUMNS}.items():
        cols[name] = rng.uniform(0.1, 2.0, n).astype(dtype)
    cols["source_id"] = rng.permutation(np.arange(n, dtype=np.int64) * 7919 + 10**15)
    cols["ra"], cols["dec"] = _cap_positions(rng, n, LMC, 15.0)
    cols["pmra_pmdec_corr"] = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    cols["p_mc"] = rng.uniform(0.0, 1.0, n).astype(np.float32)
    return cols


@pytest.fixture(scope="module")
def table() -> dict[str, np.ndarray]:
    return _gaia_columns(N_STARS)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory, table) -> gh.HatsWritten:
    out = tmp_path_factory.mktemp("hats") / "mock_gaia"
    return gh.write_hats(table, out, max_rows=MAX_ROWS, metadata={"package": "gpu_mc test"})


def _by_id(ids: np.ndarray) -> np.ndarray:
    return np.argsort(ids, kind="stable")


# --------------------------------------------------------------------------- round trip


@needs_hats
def test_written_catalogue_is_valid_hats(catalogue, table):
    from hats.io.validation import is_valid_catalog

    assert is_valid_catalog(catalogue.root, strict=True)
    cat = hats.read_hats(catalogue.root)
    assert cat.catalog_info.total_rows == N_STARS
    assert cat.catalog_info.healpix_column == "_healpix_29"
    pixels = [(p.order, p.pixel) for p in cat.get_healpix_pixels()]
    assert sorted(pixels) == sorted(catalogue.partitions)
    assert len(pixels) >= -(-N_STARS // MAX_ROWS)
    rows = 0
    for order, pixel in pixels:
        path = gh.hats_output_file(catalogue.root, order, pixel)
        assert path.relative_to(catalogue.root).parts[:3] == (
            "dataset",
            f"Norder={order}",
            f"Dir={pixel // 10000 * 10000}",
        )
        import pyarrow.parquet as pq

        t = pq.read_table(path)
        rows += t.num_rows
        assert t.num_rows <= MAX_ROWS
        # every row lies in its partition's pixel, by our independent HEALPix code
        own = healpix_nested_index(t["ra"].to_numpy(), t["dec"].to_numpy(), order)
        assert np.all(own == pixel)
        assert np.all(np.diff(t["_healpix_29"].to_numpy()) >= 0)
    assert rows == N_STARS


@needs_hats
def test_round_trip_writer_lsdb_reader(catalogue, table):
    frame = lsdb.read_hats(catalogue.root).compute()
    assert frame.index.name == "_healpix_29"
    assert len(frame) == N_STARS
    got = frame.sort_values("source_id")
    want = _by_id(table["source_id"])
    np.testing.assert_array_equal(got["source_id"].to_numpy(), table["source_id"][want])
    np.testing.assert_array_equal(got["ra"].to_numpy(), table["ra"][want])
    np.testing.assert_array_equal(got["p_mc"].to_numpy(), table["p_mc"][want])
    # LSDB's index is the order-29 pixel of each star, by our independent HEALPix code
    expect29 = healpix_nested_index(table["ra"][want], table["dec"][want], 29)
    np.testing.assert_array_equal(got.index.to_numpy(), expect29)

    ours = gh.read_gaia_hats(catalogue.root)
    assert ours["source_id"].size == N_STARS
    order = _by_id(ours["source_id"])
    for key in (*schema.REQUIRED_COLUMNS, "radial_velocity", "ruwe"):
        np.testing.assert_array_equal(ours[key][order], table[key][want], err_msg=key)
    scores = gh.read_hats_columns(catalogue.root, ["source_id", "p_mc"])
    order = _by_id(scores["source_id"])
    np.testing.assert_array_equal(scores["p_mc"][order], table["p_mc"][want])


@needs_hats
def test_lsdb_crossmatch_matches_astropy(catalogue, table):
    import pandas as pd

    rng = np.random.default_rng(7)
    near = rng.choice(N_STARS, 1500, replace=False)
    offset = SkyCoord(table["ra"][near], table["dec"][near], unit="deg").directional_offset_by(
        rng.uniform(0, 360, near.size) * u.deg, rng.uniform(0.0, 0.8, near.size) * u.arcsec
    )
    far_ra, far_dec = _cap_positions(rng, 1500, LMC, 15.0)
    other = pd.DataFrame(
        {
            "other_id": np.arange(3000),
            "ra": np.concatenate([offset.ra.deg, far_ra]),
            "dec": np.concatenate([offset.dec.deg, far_dec]),
        }
    )
    radius = 1.0
    right = lsdb.from_dataframe(other, ra_column="ra", dec_column="dec", margin_threshold=5.0)
    left = lsdb.read_hats(catalogue.root, columns=["source_id", "ra", "dec"])
    matched = left.crossmatch(
        right,
        radius_arcsec=radius,
        n_neighbors=1,
        suffixes=("_ours", "_other"),
        suffix_method="all_columns",
    ).compute()
    got = set(zip(matched["source_id_ours"], matched["other_id_other"], strict=True))

    mine = SkyCoord(table["ra"], table["dec"], unit="deg")
    theirs = SkyCoord(other["ra"].to_numpy(), other["dec"].to_numpy(), unit="deg")
    idx, sep, _ = match_coordinates_sky(mine, theirs)
    ok = sep.arcsec <= radius
    want = set(zip(table["source_id"][ok], other["other_id"].to_numpy()[idx[ok]], strict=True))
    assert len(want) >= 1500
    assert got == want


# --------------------------------------------------------------------------- cones


def _pixel_distance_deg(order: int, pixel: int, ra0: float, dec0: float) -> float:
    """Smallest angular distance (deg) from a point to a HEALPix pixel (0 when inside)."""
    if healpix_nested_index(np.array([ra0]), np.array([dec0]), order)[0] == pixel:
        return 0.0
    hp = astropy_healpix.HEALPix(nside=2**order, order="nested")
    lon, lat = hp.boundaries_lonlat(np.array([pixel]), step=256)
    edge = SkyCoord(lon.ravel(), lat.ravel())
    return float(edge.separation(SkyCoord(ra0, dec0, unit="deg")).deg.min())


@needs_hats
@pytest.mark.parametrize(("centre", "radius"), [(LMC, 4.0), ((70.0, -60.0), 1.5)])
def test_cone_selects_overlapping_pixels_and_exact_stars(catalogue, table, centre, radius):
    cone = gh.Cone(centre[0], centre[1], radius)
    got = {(p.order, p.pixel) for p in gh.hats_partitions(catalogue.root, cone)}
    distance = {(o, p): _pixel_distance_deg(o, p, *centre) for o, p in catalogue.partitions}
    # hats filters with a MOC of the cone at the catalogue's coverage order (8 here: the
    # point map), so a pixel within one order-8 cell (< 0.25°) of the cone may be kept
    slack = 0.25
    assert {k for k, d in distance.items() if d <= radius} <= got
    assert got <= {k for k, d in distance.items() if d <= radius + slack}
    assert len(got) < len(catalogue.partitions)

    stars = gh.read_gaia_hats(catalogue.root, cone)
    sep = SkyCoord(table["ra"], table["dec"], unit="deg").separation(SkyCoord(*centre, unit="deg"))
    want = np.sort(table["source_id"][sep.deg <= radius])
    assert want.size > 0
    np.testing.assert_array_equal(np.sort(stars["source_id"]), want)


@needs_hats
def test_cone_reads_only_its_partitions(catalogue, monkeypatch):
    import gpu_mc.io.readers as readers

    opened: list[Path] = []
    real = readers.read_gaia_table

    def spy(path, *args, **kwargs):
        opened.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(readers, "read_gaia_table", spy)
    cone = gh.Cone(*LMC, 2.0)
    allowed = {p.path for p in gh.hats_partitions(catalogue.root, cone)}
    pieces = list(gh.iter_gaia_partitions(catalogue.root, cone))
    assert opened and set(opened) <= allowed
    assert len(set(opened)) < len(catalogue.partitions)
    assert all(part.path in allowed for part, _ in pieces)


@needs_hats
def test_reads_a_collection_written_by_lsdb(tmp_path, table):
    import pandas as pd

    frame = pd.DataFrame({k: v for k, v in table.items() if k != "p_mc"})
    written = tmp_path / "by_lsdb"
    lsdb.from_dataframe(frame, ra_column="ra", dec_column="dec").write_catalog(
        written, progress_bar=False
    )
    assert (written / "collection.properties").is_file()
    assert gh.is_hats_catalogue(written)
    cone = gh.Cone(75.0, -65.0, 3.0)
    stars = gh.read_gaia_hats(written, cone)
    inside = cone.contains(table["ra"], table["dec"])
    sep = SkyCoord(table["ra"], table["dec"], unit="deg").separation(
        SkyCoord(75.0, -65.0, unit="deg")
    )
    np.testing.assert_array_equal(inside, sep.deg <= 3.0)
    np.testing.assert_array_equal(np.sort(stars["source_id"]), np.sort(table["source_id"][inside]))
    order = np.argsort(stars["source_id"])
    want = np.argsort(table["source_id"][inside])
    np.testing.assert_array_equal(stars["pmra"][order], table["pmra"][inside][want])


# --------------------------------------------------------------------------- partitioned output


@needs_hats
def test_partition_by_partition_output_is_a_catalogue(catalogue, tmp_path):
    out = tmp_path / "scores"
    n = 0
    for part, cols in gh.iter_gaia_partitions(catalogue.root):
        scores = {
            "source_id": cols["source_id"],
            "ra": cols["ra"],
            "dec": cols["dec"],
            "p_mc": np.full(cols["ra"].size, 0.5, np.float32),
        }
        gh.write_hats_partition(out, part.order, part.pixel, scores)
        n += cols["ra"].size
    assert gh.finish_hats(out, "scores") == n == N_STARS
    frame = lsdb.read_hats(out).compute()
    assert len(frame) == N_STARS
    assert sorted(frame["source_id"]) == sorted(gh.read_gaia_hats(catalogue.root)["source_id"])


@needs_hats
def test_partition_rows_outside_pixel_are_refused(tmp_path, table):
    rows = slice(0, 50)
    cols = {k: v[rows] for k, v in table.items()}
    with pytest.raises(InputError, match="outside HEALPix pixel"):
        gh.write_hats_partition(tmp_path / "x", 0, 0, cols)


# --------------------------------------------------------------------------- errors


@needs_hats
def test_not_a_hats_directory(tmp_path, catalogue):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "part-000.parquet").write_bytes(b"PAR1")
    for bad in (plain, tmp_path / "missing", catalogue.root / "partition_info.csv"):
        with pytest.raises(InputError) as err:
            gh.hats_partitions(bad)
        assert "\n" not in str(err.value)
    assert not gh.is_hats_catalogue(plain)
    assert gh.is_hats_catalogue(catalogue.root)


@needs_hats
def test_missing_columns_named_in_one_line(tmp_path, table):
    cols = {k: v for k, v in table.items() if k not in ("pmra", "phot_g_mean_mag")}
    written = gh.write_hats(cols, tmp_path / "thin", max_rows=5000)
    with pytest.raises(InputError) as err:
        gh.read_gaia_hats(written.root)
    msg = str(err.value)
    assert "\n" not in msg and "pmra" in msg and "phot_g_mean_mag" in msg
    with pytest.raises(InputError, match="p_mc_std"):
        gh.read_hats_columns(written.root, ["source_id", "p_mc_std"])


@needs_hats
def test_write_refuses_and_leaves_nothing(tmp_path, table):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not an empty directory"):
        gh.write_hats(table, busy)
    bad = dict(table, dec=np.where(np.arange(N_STARS) == 3, np.nan, table["dec"]))
    with pytest.raises(InputError, match="ra/dec"):
        gh.write_hats(bad, tmp_path / "nan")
    with pytest.raises(InputError, match="at least 1"):
        gh.write_hats(table, tmp_path / "zero", max_rows=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_gpu_mc_imports_without_hats():
    code = (
        "import sys; sys.modules['hats'] = None; sys.modules['lsdb'] = None\n"
        "import gpu_mc, gpu_mc.io.hats as gh\n"
        "from gpu_mc.errors import InputError\n"
        "try:\n    gh.open_hats('.')\nexcept InputError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install hats lsdb" in out.stdout


# --------------------------------------------------------------------------- command line


def _cli(*args: str) -> Result:
    return gpu_mc(*args, "--quiet")


@needs_hats
@pytest.mark.slow
def test_cli_simulate_hats_then_score_hats(tmp_path):
    import pyarrow.parquet as pq

    fast = tmp_path / "fast.toml"
    fast.write_text("[train]\nmax_epochs = 2\nbatch_size = 1024\n")
    small = ["--n-stars", "20000", "--backend", "cpu"]
    for args in (
        ["simulate", *small, "--partitions", "6", "--hats", "--out", str(tmp_path / "sky")],
        ["train", *small, "--config", str(fast), "--out", str(tmp_path / "model")],
    ):
        r = _cli(*args)
        assert r.returncode == 0, r.stderr
    from gpu_mc.io.writers import write_table

    sky = gh.read_hats_columns(tmp_path / "sky")
    sky.pop("_healpix_29")
    write_table(tmp_path / "sky.parquet", sky)
    cat = hats.read_hats(tmp_path / "sky")
    assert cat.catalog_info.total_rows == 20000
    assert len(cat.get_healpix_pixels()) >= 6
    assert cat.catalog_info.hats_max_rows <= -(-20000 // 6)

    model = ["--model", str(tmp_path / "model"), "--backend", "cpu"]
    for out in ("scores", "scores.parquet", "plain.parquet"):
        src = tmp_path / ("sky.parquet" if out == "plain.parquet" else "sky")
        r = _cli("score", str(src), *model, "--out", str(tmp_path / out))
        assert r.returncode == 0, r.stderr
    plain = pq.read_table(tmp_path / "plain.parquet").to_pandas().set_index("source_id")
    one = pq.read_table(tmp_path / "scores.parquet").to_pandas().set_index("source_id")
    lsdb_scores = lsdb.read_hats(tmp_path / "scores").compute().set_index("source_id")
    # the mock sky is the target cone, so every star is scored, identically on all routes
    assert len(plain) == len(one) == len(lsdb_scores) == 20000
    np.testing.assert_array_equal(one.loc[plain.index, "p_mc"], plain["p_mc"])
    np.testing.assert_array_equal(lsdb_scores.loc[plain.index, "p_mc"], plain["p_mc"])

    again = _cli("score", str(tmp_path / "sky"), *model, "--out", str(tmp_path / "scores"))
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = _cli(
        "score", str(tmp_path / "sky"), *model, "--out", str(tmp_path / "scores"), "--resume"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"({len(cat.get_healpix_pixels())} partitions already complete)" in " ".join(
        resumed.stdout.split()
    )
