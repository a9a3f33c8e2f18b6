"""write_table round trips (parquet, FITS, VOTable, ECSV, CSV) checked with the libraries."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.io.votable import parse
from astropy.table import Table
from io_helpers import make_gaia_columns

from gpu_mc.io.readers import read_gaia_table, read_table
from gpu_mc.io.writers import write_cds_table, write_table

PROVENANCE = {
    "gpu_mc_version": "0.1.0",
    "model_hash": "sha256:0123abcd",
    "config": '[sky]\ncloud = "lmc"\nnote = "Jiménez-Arranz"',
}


def _scores(n: int = 12) -> dict[str, np.ndarray]:
    cols = make_gaia_columns(n, seed=3)
    rng = np.random.default_rng(5)
    cols["p_mc"] = rng.uniform(0.0, 1.0, n).astype(np.float32)
    cols["in_complete"] = rng.uniform(size=n) > 0.5
    return cols


@pytest.mark.parametrize("ext", ["parquet", "fits", "vot", "ecsv", "csv"])
def test_round_trip_values_and_gaia_validation(tmp_path, ext):
    cols = _scores()
    path = write_table(tmp_path / f"scores.{ext}", cols, metadata=PROVENANCE)
    back = read_table(path)
    assert list(back) == list(cols)
    for name, values in cols.items():
        if ext == "csv":  # plain CSV carries no types: float32 comes back as float64
            np.testing.assert_array_equal(back[name].astype(values.dtype), values, name)
        else:
            np.testing.assert_array_equal(back[name], values, err_msg=name)
            assert back[name].dtype == values.dtype, name
    gaia = read_gaia_table(path)
    np.testing.assert_array_equal(gaia["source_id"], cols["source_id"])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_parquet_units_and_metadata(tmp_path):
    path = write_table(tmp_path / "s.parquet", _scores(), units={"p_mc": ""}, metadata=PROVENANCE)
    arrow = pq.read_schema(path)
    assert arrow.field("ra").metadata == {b"unit": b"deg"}
    assert arrow.field("pmra").metadata == {b"unit": b"mas/yr"}
    assert arrow.field("p_mc").metadata is None
    assert arrow.metadata[b"model_hash"] == b"sha256:0123abcd"
    assert arrow.metadata[b"config"].decode() == PROVENANCE["config"]


def test_fits_units_and_header(tmp_path):
    path = write_table(tmp_path / "s.fits", _scores(), metadata={**PROVENANCE, "MODEL": "m1"})
    with fits.open(path) as hdul:
        header = hdul[1].header
        units = {header[f"TTYPE{i}"]: header.get(f"TUNIT{i}") for i in range(1, 16)}
        assert units["ra"] == "deg" and units["parallax"] == "mas"
        assert units["pmra_error"] in ("mas yr-1", "mas/yr") and units["p_mc"] is None
        assert header["MODEL"] == "m1"
        assert header["gpu_mc_version"] == "0.1.0"  # HIERARCH card
        comments = "\n".join(str(c) for c in header["COMMENT"])
        assert "config:" in comments and 'cloud = "lmc"' in comments
        assert "Jim\\xe9nez-Arranz" in comments


def test_votable_units_ucds_and_infos(tmp_path):
    path = write_table(tmp_path / "s.vot", _scores(), metadata=PROVENANCE)
    votable = parse(str(path))
    table = votable.get_first_table()
    fields = {f.name: f for f in table.fields}
    assert fields["source_id"].ucd == "meta.id;meta.main"
    assert fields["ra"].ucd == "pos.eq.ra;meta.main"
    assert fields["dec"].ucd == "pos.eq.dec;meta.main"
    assert fields["p_mc"].ucd == "stat.probability"
    assert str(fields["pmra"].unit) == "mas / yr"
    infos = {i.name: i.value for i in votable.resources[0].infos}
    assert infos["model_hash"] == "sha256:0123abcd"


def test_ecsv_units_and_meta(tmp_path):
    path = write_table(tmp_path / "s.ecsv", _scores(), metadata=PROVENANCE)
    table = Table.read(path, format="ascii.ecsv")
    assert str(table["parallax_error"].unit) == "mas"
    assert table.meta["gpu_mc_version"] == "0.1.0"


def test_explicit_format_overrides_extension(tmp_path):
    path = write_table(tmp_path / "scores.out", _scores(), fmt="fits")
    with fits.open(path) as hdul:
        assert isinstance(hdul[1], fits.BinTableHDU)


def test_cds_table_layout_and_astropy_reader(tmp_path):
    sid = np.array([4657000000000000000, 12, 5284186916701857536], dtype=np.int64)
    prob = np.array([0.98765, np.nan, 0.0])
    path = write_cds_table(tmp_path / "catalogue.dat", sid, prob)
    lines = path.read_text(encoding="ascii").splitlines()
    assert lines[0].startswith("Title:")
    data = lines[-3:]
    assert data[0] == "4657000000000000000 0.9877"
    assert data[1] == "                 12       "
    assert all(len(line) == 26 for line in data)
    table = Table.read(path, format="ascii.cds")
    assert table["GaiaDR3"].tolist() == sid.tolist()
    assert table["P"].mask.tolist() == [False, True, False]
    back = read_table(path)
    np.testing.assert_array_equal(back["GaiaDR3"], sid)


def test_parquet_dictionary_only_for_narrow_columns(tmp_path):
    n = 5000
    cols = {
        "source_id": np.arange(n, dtype=np.int64),
        "p_mc": np.linspace(0, 1, n, dtype=np.float32),
        "score_flag": (np.arange(n) % 3).astype(np.uint16),
        "in_optimal": np.arange(n) % 2 == 0,
    }
    path = write_table(tmp_path / "s.parquet", cols)
    meta = pq.ParquetFile(path).metadata.row_group(0)
    dictionary = {
        meta.column(i).path_in_schema: "RLE_DICTIONARY" in meta.column(i).encodings
        for i in range(meta.num_columns)
    }
    # parquet booleans are bit-packed, never dictionary-encoded
    expected = {"source_id": False, "p_mc": False, "score_flag": True, "in_optimal": False}
    assert dictionary == expected
    back = pq.read_table(path)
    for k, v in cols.items():
        np.testing.assert_array_equal(back[k].to_numpy(), v)
