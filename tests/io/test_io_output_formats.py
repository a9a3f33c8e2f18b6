"""Every output format read back by independent clients: astropy always, and where installed
STILTS (``stilts tpipe`` for every format it reads, ``stilts votlint`` for VOTable) and
``fitsverify`` (no errors and no warnings). ``.ci/run`` installs both; each check skips
when its tool is absent."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.io.votable import parse
from astropy.table import Table

from gpu_mc.io.readers import read_table
from gpu_mc.io.writers import write_cds_table, write_table

#: Provenance like the score command's: long values (FITS CONTINUE cards), several lines,
#: non-ASCII text.
METADATA = {
    "package": "gpu_mc 0.1.0",
    "model_sha256": "0123456789abcdef" * 4,
    "thresholds": '{"complete": 0.01, "optimal": 0.4321, "truncated_optimal": 0.4321}',
    "input": "/data/gaia/" + "very_long_directory_name/" * 4 + "lmc_cone.parquet",
    "config": '[sky]\ncloud = "lmc"\nnote = "Jiménez-Arranz et al. 2023"',
}

#: Extension → (format name for stilts, how our writer is called).
FORMATS = {
    "parquet": "parquet",
    "fits": "fits",
    "vot": "votable",
    "xml": "votable",
    "ecsv": "ecsv",
    "csv": "csv",
}


def _scores(n: int = 9) -> dict[str, np.ndarray]:
    """A score table with the types the score command writes, and the awkward values."""
    rng = np.random.default_rng(11)
    p = rng.uniform(0.0, 1.0, n).astype(np.float32)
    p[4] = np.nan
    flags = rng.integers(0, 2**16, n).astype(np.uint16)
    flags[:3] = (0, 2**15 + 1, 2**16 - 1)  # above the int16 range
    return {
        "source_id": 4657000000000000000 + np.arange(n, dtype=np.int64) * 2**35,
        "ra": rng.uniform(70.0, 90.0, n),
        "p_mc": p,
        "score_flag": flags,
        "in_optimal": p > 0.5,
        "true_component": (np.arange(n) % 5 - 2).astype(np.int8),
    }


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def _stilts_csv(path: Path, ifmt: str) -> list[dict[str, str]]:
    """The table as STILTS reads it, written back as CSV text."""
    if shutil.which("stilts") is None:
        pytest.skip("stilts is not installed (apt-get install stilts)")
    done = _run("stilts", "tpipe", f"in={path}", f"ifmt={ifmt}", "ofmt=csv", "out=-")
    if ifmt == "parquet" and "No table handler available for parquet" in done.stderr:
        pytest.skip("this STILTS build has no parquet reader")
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def _assert_same_values(rows: list[dict[str, str]], cols: dict[str, np.ndarray]) -> None:
    """Text values from a client equal the columns written (floats to their precision)."""
    assert len(rows) == len(cols["source_id"])
    assert list(rows[0]) == list(cols)
    for name, values in cols.items():
        text = [row[name] for row in rows]
        if values.dtype.kind == "f":
            got = np.array([float(t) if t not in ("", "NaN", "nan") else np.nan for t in text])
            np.testing.assert_array_equal(got.astype(values.dtype), values, err_msg=name)
        elif values.dtype.kind == "b":
            assert [t.lower() == "true" for t in text] == values.tolist(), name
        else:
            assert [int(t) for t in text] == values.tolist(), name


@pytest.fixture(params=list(FORMATS), scope="module")
def written(request, tmp_path_factory) -> tuple[Path, str, dict[str, np.ndarray]]:
    ext = request.param
    cols = _scores()
    path = write_table(tmp_path_factory.mktemp(ext) / f"scores.{ext}", cols, metadata=METADATA)
    return path, FORMATS[ext], cols


def test_astropy_reads_every_value_back(written):
    path, fmt, cols = written
    if fmt == "parquet":
        table = Table.read(path, format="parquet")
    elif fmt == "csv":
        table = Table.read(path, format="ascii.csv")
    else:
        table = Table.read(path, format={"ecsv": "ascii.ecsv"}.get(fmt, fmt))
    assert table.colnames == list(cols)
    for name, values in cols.items():
        got = np.asarray(table[name].filled(np.nan) if table.masked else table[name])
        if fmt == "csv" and values.dtype.kind == "b":
            got = np.char.lower(got.astype(str)) == "true"
        np.testing.assert_array_equal(got.astype(values.dtype), values, err_msg=name)


def test_our_reader_reads_every_value_back(written):
    path, _, cols = written
    back = read_table(path)
    assert list(back) == list(cols)
    for name, values in cols.items():
        np.testing.assert_array_equal(back[name].astype(values.dtype), values, err_msg=name)


def test_types_are_legal_and_lossless_for_the_format(written):
    path, fmt, _ = written
    if fmt == "votable":
        fields = {f.name: f.datatype for f in parse(str(path)).get_first_table().fields}
        # VOTable has no unsigned 16-bit or signed 8-bit integer: the next wider signed type
        assert fields["score_flag"] == "int" and fields["true_component"] == "short"
        assert fields["source_id"] == "long" and fields["p_mc"] == "float"
    elif fmt == "fits":
        with fits.open(path) as hdul:
            assert hdul[1].data["score_flag"].dtype == np.uint16  # I with TZERO = 32768
            assert hdul[1].columns["true_component"].format == "I"  # astropy: int8 -> L
    elif fmt == "parquet":
        arrow = pq.read_schema(path)
        assert str(arrow.field("score_flag").type) == "uint16"


def test_stilts_reads_every_value(written):
    path, fmt, cols = written
    _assert_same_values(_stilts_csv(path, fmt), cols)


def test_stilts_votlint_finds_nothing(written):
    path, fmt, _ = written
    if fmt != "votable":
        pytest.skip("votlint checks VOTables only")
    if shutil.which("stilts") is None:
        pytest.skip("stilts is not installed (apt-get install stilts)")
    done = _run("stilts", "votlint", f"votable={path}")
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def test_fitsverify_finds_no_error_and_no_warning(written):
    path, fmt, _ = written
    if fmt != "fits":
        pytest.skip("fitsverify checks FITS files only")
    if shutil.which("fitsverify") is None:
        pytest.skip("fitsverify is not installed (apt-get install fitsverify)")
    done = _run("fitsverify", str(path))
    assert "Verification found 0 warning(s) and 0 error(s)" in done.stdout, done.stdout
    assert done.returncode == 0


def test_fits_long_strings_are_announced_and_read_back(tmp_path):
    path = write_table(tmp_path / "s.fits", _scores(), metadata=METADATA)
    with fits.open(path) as hdul:
        header = hdul[1].header
        assert header["LONGSTRN"] == "OGIP 1.0"
        assert header["INPUT"] == METADATA["input"]
        assert header["model_sha256"] == METADATA["model_sha256"]


def test_cds_table_read_by_astropy_and_stilts(tmp_path):
    sid = np.array([4657000000000000000, 12, 5284186916701857536], dtype=np.int64)
    prob = np.array([0.98765, np.nan, 0.0])
    path = write_cds_table(tmp_path / "catalogue.dat", sid, prob)
    table = Table.read(path, format="ascii.cds")
    assert table["GaiaDR3"].tolist() == sid.tolist()
    assert table["P"].mask.tolist() == [False, True, False]
    rows = _stilts_csv(path, "mrt")
    assert [int(r["GaiaDR3"]) for r in rows] == sid.tolist()
    assert [r["P"] for r in rows] == ["0.9877", "", "0.0"]


def test_uint64_beyond_int64_cannot_go_to_votable(tmp_path):
    from gpu_mc.errors import InputError

    out = tmp_path / "big.vot"
    with pytest.raises(InputError, match=r"big\.vot.*'big'.*int64"):
        write_table(out, {"big": np.array([1, 2**63 + 1], dtype=np.uint64)})
    assert not out.exists()
