"""The value policy of read_gaia_table (issue 14): wrong types and impossible values are
one-line errors naming the file, the column and how many rows; suspicious values are
warnings; valid inputs refused before (byte-order mark, integer TNULL, stated degrees near
ra = 0) are read."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.table import Table
from io_helpers import make_gaia_columns, write_csv

from gpu_mc.errors import InputError
from gpu_mc.io.readers import IMPOSSIBLE, read_gaia_table
from gpu_mc.validate.crossmatch import crossmatch_files


def _parquet(path: Path, cols: dict[str, np.ndarray]) -> Path:
    pq.write_table(pa.table(cols), path)
    return path


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(InputError) as err:
        read_gaia_table(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


# --- wrong types ---------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["pmra", "source_id", "phot_g_mean_mag"])
def test_boolean_column_is_refused_in_parquet(tmp_path, column):
    cols = make_gaia_columns(12)
    cols[column] = np.arange(12) % 2 == 0
    path = _parquet(tmp_path / "bool.parquet", cols)
    _refused(path, f"'{column}'", "booleans")


def test_boolean_column_is_refused_in_csv(tmp_path):
    cols: dict[str, object] = dict(make_gaia_columns(3))
    cols["pmra"] = ["true", "false", "true"]
    _refused(write_csv(tmp_path / "bool.csv", cols), "'pmra'", "booleans")


def test_boolean_column_is_refused_in_fits(tmp_path):
    table = Table(make_gaia_columns(4))
    table["pmdec"] = np.array([True, False, True, True])
    path = tmp_path / "bool.fits"
    table.write(path)
    _refused(path, "'pmdec'", "booleans")


def test_uint64_source_id_beyond_int64_is_refused(tmp_path):
    cols = make_gaia_columns(3)
    cols["source_id"] = np.array([1, 2, 2**63 + 5], dtype=np.uint64)
    _refused(_parquet(tmp_path / "u64.parquet", cols), "'source_id'", "int64 range")


def test_float_source_id_is_refused_in_parquet(tmp_path):
    cols = make_gaia_columns(3)
    cols["source_id"] = cols["source_id"].astype(np.float64)
    _refused(_parquet(tmp_path / "f.parquet", cols), "'source_id'", "floating-point")


# --- valid input that was refused ----------------------------------------------------------


def test_csv_with_byte_order_mark(tmp_path):
    cols = make_gaia_columns(5)
    path = write_csv(tmp_path / "bom.csv", cols)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    out = read_gaia_table(path)
    np.testing.assert_array_equal(out["source_id"], cols["source_id"])
    np.testing.assert_array_equal(out["ra"], cols["ra"])


def test_csv_with_byte_order_mark_and_comment_lines(tmp_path):
    cols = make_gaia_columns(4)
    path = write_csv(tmp_path / "bomc.csv", cols)
    path.write_bytes(b"\xef\xbb\xbf# exported\n# by a spreadsheet\n" + path.read_bytes())
    np.testing.assert_array_equal(read_gaia_table(path)["pmdec"], cols["pmdec"])


def test_integer_fits_parallax_with_tnull_is_imputed_as_nan(tmp_path):
    cols = make_gaia_columns(6)
    parallax = np.array([1, 2, -999, 4, 5, -999], dtype=np.int32)
    cols["parallax"] = parallax
    hdu = fits.BinTableHDU(Table(cols))
    index = hdu.columns.names.index("parallax") + 1
    hdu.header[f"TNULL{index}"] = -999
    path = tmp_path / "tnull.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    out = read_gaia_table(path)
    assert out["parallax"].dtype == np.float64
    assert np.isnan(out["parallax"]).tolist() == [False, False, True, False, False, True]
    np.testing.assert_array_equal(out["parallax"][[0, 1, 3, 4]], [1.0, 2.0, 4.0, 5.0])


def test_integer_parquet_parallax_with_nulls_is_imputed_as_nan(tmp_path):
    cols = make_gaia_columns(3)
    table = pa.table(cols).set_column(3, "parallax", pa.array([1, None, 3], pa.int64()))
    path = tmp_path / "intnull.parquet"
    pq.write_table(table, path)
    out = read_gaia_table(path)
    assert np.isnan(out["parallax"]).tolist() == [False, True, False]


def _near_ra_zero(n: int = 40) -> dict[str, np.ndarray]:
    """An equatorial field at ra 0.5-6 deg, dec within 1.5 deg: radian-like numbers."""
    cols = make_gaia_columns(n)
    rng = np.random.default_rng(1)
    cols["ra"] = rng.uniform(0.5, 6.0, n)
    cols["dec"] = rng.uniform(-1.5, 1.5, n)
    return cols


def test_stated_degrees_are_trusted_near_ra_zero(tmp_path):
    cols = _near_ra_zero()
    table = Table(cols)
    table["ra"].unit = "deg"
    table["dec"].unit = "deg"
    path = tmp_path / "equator.fits"
    table.write(path)
    np.testing.assert_array_equal(read_gaia_table(path)["ra"], cols["ra"])


def test_radians_are_still_guessed_when_no_unit_is_stated(tmp_path):
    path = write_csv(tmp_path / "equator.csv", _near_ra_zero())
    _refused(path, "radians", "states no unit")


# --- impossible values ---------------------------------------------------------------------

IMPOSSIBLE_CASES = {
    "corr_5": ("pmra_pmdec_corr", [0.1, 5.0, 0.2, -3.0], 2),
    "negative_parallax_error": ("parallax_error", [0.1, -0.2, 0.3, 0.4], 1),
    "negative_pmra_error": ("pmra_error", [-0.1, -0.2, 0.3, 0.4], 2),
    "negative_pmdec_error": ("pmdec_error", [0.1, 0.2, 0.3, -1e-3], 1),
    "g_99": ("phot_g_mean_mag", [18.0, 99.0, 19.0, 20.0], 1),
    "g_minus_5": ("phot_g_mean_mag", [18.0, -5.0, 19.0, 20.0], 1),
    "bp_1e30": ("phot_bp_mean_mag", [18.0, 19.0, 1e30, 20.0], 1),
    "rp_99": ("phot_rp_mean_mag", [99.0, 99.0, 99.0, 20.0], 3),
}


@pytest.mark.parametrize("case", list(IMPOSSIBLE_CASES))
def test_impossible_value_names_file_column_and_rows(tmp_path, case):
    column, values, n_bad = IMPOSSIBLE_CASES[case]
    cols: dict[str, object] = dict(make_gaia_columns(len(values)))
    cols[column] = values
    path = write_csv(tmp_path / f"{case}.csv", cols)
    limit = IMPOSSIBLE[column]
    _refused(path, f"'{column}'", f"{n_bad} row(s) outside [{limit.low:g}, {limit.high:g}]")


def test_impossible_values_are_refused_in_parquet_too(tmp_path):
    cols = make_gaia_columns(5)
    cols["pmra_pmdec_corr"][3] = np.float32(1.5)
    _refused(_parquet(tmp_path / "corr.parquet", cols), "'pmra_pmdec_corr'", "1 row(s)")


def test_negative_source_id_is_refused_by_the_reader(tmp_path):
    cols: dict[str, object] = dict(make_gaia_columns(3))
    cols["source_id"] = [5, -7, -9]
    _refused(write_csv(tmp_path / "neg.csv", cols), "'source_id'", "2 negative")


def test_limits_are_inclusive_and_nulls_allowed(tmp_path):
    cols: dict[str, object] = dict(make_gaia_columns(4))
    cols["pmra_pmdec_corr"] = [-1.0, 1.0, "", 0.0]
    cols["parallax_error"] = [0.5, "null", 0.1, 0.2]
    out = read_gaia_table(write_csv(tmp_path / "edge.csv", cols))
    assert out["pmra_pmdec_corr"][:2].tolist() == [-1.0, 1.0]
    assert np.isnan(out["pmra_pmdec_corr"][2]) and np.isnan(out["parallax_error"][1])


# --- suspicious values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values", "n_odd"),
    [
        ("pmra_error", [0.0, 0.1, 0.0, 0.2], 2),
        ("phot_g_mean_mag", [25.0, 18.0, 19.0, 20.0], 1),
        ("parallax", [0.1, 900.0, 0.2, 0.3], 1),
        ("pmdec", [1.0, 2.0, -20000.0, 3.0], 1),
    ],
)
def test_suspicious_value_is_a_warning_and_the_table_is_kept(
    tmp_path, caplog, column, values, n_odd
):
    cols: dict[str, object] = dict(make_gaia_columns(len(values)))
    cols[column] = values
    path = write_csv(tmp_path / "odd.csv", cols)
    with caplog.at_level(logging.WARNING, logger="gpu_mc.io.readers"):
        out = read_gaia_table(path)
    np.testing.assert_allclose(out[column], np.asarray(values, dtype=float), rtol=1e-6)
    warned = [r.getMessage() for r in caplog.records if f"'{column}'" in r.getMessage()]
    assert len(warned) == 1 and f"{n_odd} row(s)" in warned[0] and str(path) in warned[0]


def test_valid_table_gives_no_warning(tmp_path, caplog):
    path = write_csv(tmp_path / "good.csv", make_gaia_columns(30))
    with caplog.at_level(logging.WARNING, logger="gpu_mc.io.readers"):
        read_gaia_table(path)
    assert caplog.records == []


# --- crossmatch input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values", "words"),
    [
        ("ra", [10.0, 400.0, 20.0], ["'ra'", "1 row(s)", "[0, 360]"]),
        ("dec", [-95.0, 10.0, 95.0], ["'dec'", "2 row(s)", "[-90, 90]"]),
    ],
)
def test_crossmatch_refuses_positions_out_of_range_naming_the_file(tmp_path, column, values, words):
    good = write_csv(tmp_path / "good.csv", {"ra": [10.0, 20.0, 30.0], "dec": [1.0, 2.0, 3.0]})
    cols = {"ra": [10.0, 20.0, 30.0], "dec": [1.0, 2.0, 3.0], column: values}
    bad = write_csv(tmp_path / "bad.csv", cols)
    out = tmp_path / "pairs.parquet"
    with pytest.raises(InputError) as err:
        crossmatch_files(good, bad, 1.0, out, backend="cpu")
    message = str(err.value)
    assert message.startswith(f"{bad}: ")
    for word in words:
        assert word in message, message
    assert not out.exists()
