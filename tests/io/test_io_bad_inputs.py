"""Malformed inputs: each must raise InputError with one line naming the file and the column.

Every case builds its file in ``tmp_path`` and returns ``(path, words)``: the words the
message must contain besides the file name (the column, or what is wrong with the file).
Writer cases also check that no output file, temporary or final, is left behind.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.io.votable.tree import Resource, VOTableFile
from astropy.table import Table
from io_helpers import make_gaia_columns, write_csv

from gpu_mc.errors import InputError
from gpu_mc.io.readers import read_gaia_table
from gpu_mc.io.writers import write_cds_table, write_table

Case = Callable[[Path], tuple[Path, list[str]]]


def _csv_with(tmp: Path, name: str, column: str, values: list[object]) -> Path:
    cols: dict[str, object] = dict(make_gaia_columns(len(values)))
    cols[column] = values
    return write_csv(tmp / name, cols)


def _units_table(column: str, unit: str) -> Table:
    table = Table(make_gaia_columns(5))
    for name, u in (("ra", "deg"), ("dec", "deg"), ("parallax", "mas"), ("pmra", "mas/yr")):
        table[name].unit = u
    table[column].unit = unit
    return table


def missing_one(tmp):
    cols = make_gaia_columns(3)
    del cols["pmra_error"]
    return write_csv(tmp / "missing_one.csv", cols), ["pmra_error", "missing"]


def missing_many(tmp):
    cols = make_gaia_columns(3)
    for name in ("parallax", "pmdec", "phot_bp_mean_mag"):
        del cols[name]
    return write_csv(tmp / "missing_many.csv", cols), ["parallax", "pmdec", "phot_bp_mean_mag"]


def strings_in_parallax(tmp):
    return _csv_with(tmp, "str.csv", "parallax", ["0.1", "abc", "0.3"]), ["parallax", "abc"]


def radians(tmp):
    cols = make_gaia_columns(20)
    cols["ra"] = np.deg2rad(cols["ra"])
    cols["dec"] = np.deg2rad(cols["dec"])
    return write_csv(tmp / "radians.csv", cols), ["ra", "radians"]


def ra_out_of_range(tmp):
    return _csv_with(tmp, "ra400.csv", "ra", [10.0, 400.0, 20.0]), ["ra", "[0, 360]"]


def dec_out_of_range(tmp):
    return _csv_with(tmp, "dec.csv", "dec", [-95.0, -70.0, -60.0]), ["dec", "[-90, 90]"]


def nan_ra(tmp):
    return _csv_with(tmp, "nanra.csv", "ra", [10.0, "nan", 20.0]), ["ra", "NaN"]


def null_dec(tmp):
    return _csv_with(tmp, "nulldec.csv", "dec", [-70.0, "null", -71.0]), ["dec", "NaN"]


def inf_pmra(tmp):
    return _csv_with(tmp, "inf.csv", "pmra", [1.0, "inf", 2.0]), ["pmra", "infinite"]


def inf_parallax_parquet(tmp):
    cols = make_gaia_columns(4)
    cols["parallax"][2] = -np.inf
    path = tmp / "inf.parquet"
    pq.write_table(pa.table(cols), path)
    return path, ["parallax", "infinite"]


def float32_overflow(tmp):
    return _csv_with(tmp, "big.csv", "parallax_error", [0.1, 1e40, 0.2]), [
        "parallax_error",
        "range",
    ]


def duplicate_source_id(tmp):
    cols = make_gaia_columns(6)
    cols["source_id"][4] = cols["source_id"][1]
    return write_csv(tmp / "dup.csv", cols), ["source_id", "1 duplicated", "2 times"]


def null_source_id_csv(tmp):
    return _csv_with(tmp, "nullsid.csv", "source_id", [1, "", 3]), ["source_id", "null"]


def null_source_id_parquet(tmp):
    cols = make_gaia_columns(3)
    table = pa.table(cols).set_column(0, "source_id", pa.array([1, None, 3], pa.int64()))
    path = tmp / "nullsid.parquet"
    pq.write_table(table, path)
    return path, ["source_id", "null"]


def _masked_source_id_table() -> Table:
    table = Table(make_gaia_columns(4), masked=True)
    table["source_id"].mask = [False, False, True, False]
    return table


def null_source_id_fits(tmp):
    path = tmp / "tnull.fits"
    _masked_source_id_table().write(path)
    return path, ["source_id", "null"]


def null_source_id_votable(tmp):
    path = tmp / "null.vot"
    _masked_source_id_table().write(path, format="votable")
    return path, ["source_id", "null"]


def float_source_id(tmp):
    return _csv_with(tmp, "fsid.csv", "source_id", [1.5, 2.0, 3.0]), ["source_id", "float"]


def empty_file(tmp):
    path = tmp / "empty.csv"
    path.touch()
    return path, ["empty", "0 bytes"]


def header_only_csv(tmp):
    path = write_csv(tmp / "header.csv", {k: [] for k in make_gaia_columns(1)})
    return path, ["no rows"]


def zero_row_parquet(tmp):
    cols = {k: v[:0] for k, v in make_gaia_columns(3).items()}
    path = tmp / "zero.parquet"
    pq.write_table(pa.table(cols), path)
    return path, ["no rows"]


def truncated_parquet(tmp):
    path = tmp / "cut.parquet"
    pq.write_table(pa.table(make_gaia_columns(50)), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, ["parquet"]


def csv_named_parquet(tmp):
    path = write_csv(tmp / "fake.parquet", make_gaia_columns(3))
    return path, ["PAR1"]


def gzip_not_gzip(tmp):
    path = write_csv(tmp / "plain.csv.gz", make_gaia_columns(3))
    return path, ["gzip"]


def corrupt_gzip(tmp):
    path = tmp / "broken.csv.gz"
    blob = gzip.compress(b"source_id,ra\n" + b"1,2.0\n" * 5000)
    path.write_bytes(blob[:40])
    return path, ["gzip"]


def fits_without_table(tmp):
    path = tmp / "image.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((4, 4))), fits.ImageHDU(np.ones(3))]).writeto(path)
    return path, ["binary table"]


def text_named_fits(tmp):
    path = write_csv(tmp / "notfits.fits", make_gaia_columns(3))
    return path, ["FITS", "SIMPLE"]


def votable_without_table(tmp):
    votable = VOTableFile()
    votable.resources.append(Resource())
    path = tmp / "empty.vot"
    votable.to_xml(str(path))
    return path, ["TABLE"]


def broken_xml(tmp):
    path = tmp / "broken.xml"
    path.write_text('<?xml version="1.0"?>\n<VOTABLE><RESOURCE><TABLE><FIELD name="ra"', "utf-8")
    return path, ["VOTable"]


def binary_garbage(tmp):
    path = tmp / "garbage.dat"
    path.write_bytes(bytes(range(256)) * 4)
    return path, ["binary"]


def fits_ra_in_radians_unit(tmp):
    path = tmp / "rad.fits"
    _units_table("ra", "rad").write(path)
    return path, ["'ra'", "rad"]


def votable_parallax_arcsec(tmp):
    path = tmp / "arcsec.vot"
    _units_table("parallax", "arcsec").write(path, format="votable")
    return path, ["'parallax'", "arcsec"]


def parquet_pmra_deg_per_yr(tmp):
    cols = make_gaia_columns(4)
    fields = [
        pa.field(k, pa.array(v).type, metadata={"unit": "deg/yr"} if k == "pmra" else None)
        for k, v in cols.items()
    ]
    path = tmp / "unit.parquet"
    pq.write_table(pa.table(cols, schema=pa.schema(fields)), path)
    return path, ["'pmra'", "deg/yr"]


def ecsv_dec_unknown_unit(tmp):
    path = tmp / "weird.ecsv"
    _units_table("dec", "furlong").write(path, format="ascii.ecsv")
    return path, ["'dec'", "furlong"]


def repeated_header_differs(tmp):
    cols = make_gaia_columns(3)
    path = write_csv(
        tmp / "rep.csv",
        {**cols, "extra": [7, 8, 9]},
        header=[*cols, "source_id"],
    )
    return path, ["repeats 'source_id'", "different values"]


def case_clash_differs(tmp):
    cols = make_gaia_columns(3)
    path = write_csv(tmp / "clash.csv", {**cols, "RA": [1.0, 2.0, 3.0]})
    return path, ["'ra'", "'RA'"]


READ_CASES: list[Case] = [
    missing_one,
    missing_many,
    strings_in_parallax,
    radians,
    ra_out_of_range,
    dec_out_of_range,
    nan_ra,
    null_dec,
    inf_pmra,
    inf_parallax_parquet,
    float32_overflow,
    duplicate_source_id,
    null_source_id_csv,
    null_source_id_parquet,
    null_source_id_fits,
    null_source_id_votable,
    float_source_id,
    empty_file,
    header_only_csv,
    zero_row_parquet,
    truncated_parquet,
    csv_named_parquet,
    gzip_not_gzip,
    corrupt_gzip,
    fits_without_table,
    text_named_fits,
    votable_without_table,
    broken_xml,
    binary_garbage,
    fits_ra_in_radians_unit,
    votable_parallax_arcsec,
    parquet_pmra_deg_per_yr,
    ecsv_dec_unknown_unit,
    repeated_header_differs,
    case_clash_differs,
]


@pytest.mark.parametrize("case", READ_CASES, ids=[c.__name__ for c in READ_CASES])
def test_bad_input_is_one_line_naming_file_and_column(tmp_path, case):
    path, words = case(tmp_path)
    with pytest.raises(InputError) as err:
        read_gaia_table(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def _bad_extension(out: Path) -> None:
    write_table(out.with_suffix(".xlsx"), make_gaia_columns(3))


def _ragged(out: Path) -> None:
    write_table(out, {"source_id": np.arange(3), "p_mc": np.zeros(4)})


def _two_dimensional(out: Path) -> None:
    write_table(out.with_suffix(".fits"), {"p_mc": np.zeros((3, 2))})


def _cds_probability_above_one(out: Path) -> None:
    write_cds_table(out.with_suffix(".dat"), np.arange(3), np.array([0.1, 1.5, 0.2]))


def _cds_float_source_id(out: Path) -> None:
    write_cds_table(out.with_suffix(".dat"), np.array([1.0, 2.0]), np.array([0.1, 0.2]))


WRITE_CASES = {
    "unknown extension": (_bad_extension, ".xlsx"),
    "columns of different lengths": (_ragged, "p_mc=4"),
    "2-D column": (_two_dimensional, "p_mc"),
    "CDS P outside [0, 1]": (_cds_probability_above_one, "'P'"),
    "CDS non-integer source_id": (_cds_float_source_id, "'source_id'"),
}


@pytest.mark.parametrize("name", list(WRITE_CASES))
def test_bad_write_leaves_no_file(tmp_path, name):
    action, word = WRITE_CASES[name]
    out = tmp_path / "out" / "scores.parquet"
    with pytest.raises(InputError) as err:
        action(out)
    message = str(err.value)
    assert "\n" not in message and "scores" in message and word in message
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_failure_inside_writer_leaves_no_file(tmp_path):
    out = tmp_path / "scores.parquet"
    with pytest.raises(InputError, match=r"scores\.parquet.*cannot write parquet"):
        write_table(out, {"mixed": np.array([1, "a", None], dtype=object)})
    assert list(tmp_path.iterdir()) == []
