"""read_table / read_gaia_table on every supported format, detected by content."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.table import Table
from io_helpers import make_gaia_columns, write_csv

from gpu_mc.errors import InputError
from gpu_mc.io import schema
from gpu_mc.io.readers import detect_format, read_gaia_table, read_table


def test_csv_archive_nulls_are_nan(tmp_path):
    cols = {k: v.astype(str).astype(object) for k, v in make_gaia_columns(4).items()}
    cols["phot_bp_mean_mag"][1] = ""
    cols["phot_bp_mean_mag"][2] = "null"
    cols["parallax"][3] = "null"
    path = write_csv(tmp_path / "archive.csv", cols)
    out = read_gaia_table(path)
    assert np.isnan(out["phot_bp_mean_mag"]).tolist() == [False, True, True, False]
    assert np.isnan(out["parallax"]).tolist() == [False, False, False, True]
    assert out["source_id"].dtype == np.int64
    assert out["phot_bp_mean_mag"].dtype == np.float32


def test_gzip_csv_detected_by_content(tmp_path):
    plain = write_csv(tmp_path / "a.csv", make_gaia_columns(5))
    packed = tmp_path / "no_extension"
    with plain.open("rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect_format(packed) == ("csv", True)
    out = read_gaia_table(packed)
    np.testing.assert_array_equal(out["source_id"], make_gaia_columns(5)["source_id"])


def test_gaia_bulk_ecsv_gz(tmp_path):
    header = [
        "# %ECSV 1.0",
        "# ---",
        "# delimiter: ','",
        "# datatype:",
        "# - {name: source_id, datatype: int64}",
        "# - {name: ra, unit: deg, datatype: float64}",
        "# - {name: dec, unit: deg, datatype: float64}",
        "# - {name: parallax, unit: mas, datatype: float64}",
        "# - {name: parallax_error, unit: mas, datatype: float32}",
        "# - {name: pmra, unit: mas.yr**-1, datatype: float64}",
        "# - {name: pmdec, unit: mas.yr**-1, datatype: float64}",
        "# - {name: pmra_error, unit: mas.yr**-1, datatype: float32}",
        "# - {name: pmdec_error, unit: mas.yr**-1, datatype: float32}",
        "# - {name: pmra_pmdec_corr, datatype: float32}",
        "# - {name: phot_g_mean_mag, unit: mag, datatype: float32}",
        "# - {name: phot_bp_mean_mag, unit: mag, datatype: float32}",
        "# - {name: phot_rp_mean_mag, unit: mag, datatype: float32}",
        "# - {name: ruwe, datatype: float32}",
        "# schema: astropy-2.0",
        "source_id,ra,dec,parallax,parallax_error,pmra,pmdec,pmra_error,pmdec_error,"
        "pmra_pmdec_corr,phot_g_mean_mag,phot_bp_mean_mag,phot_rp_mean_mag,ruwe",
    ]
    rows = [
        "5284186916701857536,81.1,-69.2,0.01,0.02,1.8,0.3,0.03,0.04,0.1,18.5,19.0,17.9,1.01",
        "5284186916701857537,81.2,-69.3,null,null,null,null,null,null,null,20.1,null,null,null",
    ]
    path = tmp_path / "GaiaSource_000000-003111.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(header + rows) + "\n")
    assert detect_format(path) == ("ecsv", True)
    out = read_gaia_table(path)
    assert out["source_id"].tolist() == [5284186916701857536, 5284186916701857537]
    assert np.isnan(out["parallax"][1]) and np.isnan(out["ruwe"][1])
    assert out["pmra"][0] == pytest.approx(1.8)
    assert "radial_velocity" not in out


def test_parquet_reads_only_requested_columns(tmp_path):
    cols = make_gaia_columns(6)
    cols["unrelated"] = np.arange(6)
    path = tmp_path / "sky.bin"
    pq.write_table(pa.table(cols), path)
    out = read_table(path, columns=["source_id", "ra"], optional=["ruwe", "unrelated"])
    assert list(out) == ["source_id", "ra", "unrelated"]
    np.testing.assert_array_equal(out["ra"], cols["ra"])


def test_case_insensitive_names_and_column_map(tmp_path):
    cols = make_gaia_columns(5)
    upper = {k.upper(): v for k, v in cols.items() if k not in ("ra", "dec")}
    upper["RA_ICRS"] = cols["ra"]
    upper["DE_ICRS"] = cols["dec"]
    path = tmp_path / "vizier.fits"
    Table(upper).write(path)
    out = read_gaia_table(path, column_map={"RA_ICRS": "ra", "de_icrs": "dec"})
    assert list(out)[: len(schema.REQUIRED_COLUMNS)] == list(schema.REQUIRED_COLUMNS)
    np.testing.assert_array_equal(out["dec"], cols["dec"])
    np.testing.assert_array_equal(out["source_id"], cols["source_id"])


def test_mapped_column_wins_over_native_name(tmp_path):
    path = write_csv(tmp_path / "both.csv", {"ra": [1.0, 2.0], "RA_ICRS": [3.0, 4.0]})
    out = read_table(path, columns=["ra"], column_map={"RA_ICRS": "ra"})
    assert out["ra"].tolist() == [3.0, 4.0]


def test_missing_columns_are_all_named(tmp_path):
    cols = make_gaia_columns(3)
    del cols["pmra"], cols["phot_rp_mean_mag"]
    path = write_csv(tmp_path / "short.csv", cols)
    with pytest.raises(InputError) as err:
        read_table(path, columns=schema.REQUIRED_COLUMNS)
    msg = str(err.value)
    assert "short.csv" in msg and "pmra" in msg and "phot_rp_mean_mag" in msg


def test_identical_repeated_header_keeps_first(tmp_path):
    path = write_csv(
        tmp_path / "rep.csv",
        {"a": [1, 2], "b": [0.5, 0.25], "c": [1, 2]},
        header=["source_id", "ra", "source_id"],
    )
    out = read_table(path)
    assert list(out) == ["source_id", "ra"]
    assert out["source_id"].tolist() == [1, 2]


def test_integer_nulls_rejected_float_nulls_kept(tmp_path):
    path = write_csv(tmp_path / "n.csv", {"count": [1, "", 3], "x": [1.5, "", "null"]})
    assert np.isnan(read_table(path, columns=["x"])["x"][1:]).all()
    with pytest.raises(InputError, match=r"n\.csv.*'count'.*null"):
        read_table(path, columns=["count"])


def test_all_null_column_reads_as_nan(tmp_path):
    path = write_csv(tmp_path / "e.csv", {"source_id": [1, 2], "radial_velocity": ["", "null"]})
    out = read_table(path, columns=["source_id"], optional=["radial_velocity"])
    assert out["radial_velocity"].dtype == np.float64
    assert np.isnan(out["radial_velocity"]).all()


def test_fits_masked_integers_and_big_endian(tmp_path):
    cols = make_gaia_columns(4)
    path = tmp_path / "t.fits"
    Table(cols).write(path)
    out = read_gaia_table(path)
    assert out["ra"].dtype == np.dtype("float64") and out["ra"].dtype.isnative
    np.testing.assert_array_equal(out["pmra"], cols["pmra"])


def test_fits_table_in_second_extension(tmp_path):
    cols = make_gaia_columns(3)
    hdul = fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 2))), fits.table_to_hdu(Table(cols))]
    )
    path = tmp_path / "multi.fits"
    hdul.writeto(path)
    np.testing.assert_array_equal(read_gaia_table(path)["source_id"], cols["source_id"])


def test_votable_by_content(tmp_path):
    cols = make_gaia_columns(4)
    path = tmp_path / "result.dat"
    Table(cols).write(path, format="votable")
    assert detect_format(path) == ("votable", False)
    np.testing.assert_array_equal(read_gaia_table(path)["dec"], cols["dec"])


def test_optional_columns_cast_to_schema(tmp_path):
    cols = make_gaia_columns(3)
    cols["ruwe"] = np.array([1.0, 1.2, 0.9])
    path = tmp_path / "o.parquet"
    pq.write_table(pa.table(cols), path)
    out = read_gaia_table(path)
    assert out["ruwe"].dtype == np.float32
    assert "radial_velocity" not in out


def test_vizier_tsv_with_units(tmp_path):
    text = "\n".join(
        [
            "#",
            "#   VizieR Astronomical Server",
            "#Title: test",
            "_RAJ2000\t_DEJ2000\tStar\tPer",
            "deg\tdeg\t \td",
            "-----------\t-----------\t----\t-----------",
            "067.7405417\t-69.0603889\t0001\t  0.3068149",
            "067.9460000\t-69.8193333\t0002\t           ",
            "",
        ]
    )
    path = tmp_path / "ogle.tsv"
    path.write_text(text, encoding="utf-8")
    assert detect_format(path) == ("vizier_tsv", False)
    out = read_table(
        path, columns=["ra", "dec", "Per"], column_map={"_RAJ2000": "ra", "_DEJ2000": "dec"}
    )
    assert out["ra"].tolist() == [67.7405417, 67.946]
    assert out["Per"][0] == pytest.approx(0.3068149) and np.isnan(out["Per"][1])


@pytest.mark.parametrize(("fmt", "name"), [("fits", "t.fits.gz"), ("votable", "t.vot.gz")])
def test_gzipped_fits_and_votable(tmp_path, fmt, name):
    cols = make_gaia_columns(4)
    plain = tmp_path / "plain"
    Table(cols).write(plain, format=fmt)
    path = tmp_path / name
    path.write_bytes(gzip.compress(plain.read_bytes()))
    assert detect_format(path) == (fmt, True)
    np.testing.assert_array_equal(read_gaia_table(path)["pmdec"], cols["pmdec"])


def test_duplicate_check_agrees_with_numpy_unique():
    from gpu_mc.io.readers.checks import has_duplicates as _has_duplicates

    rng = np.random.default_rng(5)
    for n in (1, 2, 1000):
        ids = rng.choice(10 * n, n, replace=False)
        for case in (np.sort(ids), ids, np.sort(ids)[::-1]):
            assert _has_duplicates(case) is (np.unique(case).size != case.size)
        if n > 1:
            repeated = np.sort(ids)
            repeated[n // 2] = repeated[n // 2 - 1]
            assert _has_duplicates(repeated) and _has_duplicates(rng.permutation(repeated))
