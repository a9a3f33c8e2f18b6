"""Every real third-party catalogue in ../shared/data/real/ loads with the right shape."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import REAL_DATA

from gpu_mc.errors import InputError
from gpu_mc.io.readers import detect_format, read_gaia_table, read_table

pytestmark = pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"{REAL_DATA} not present")

ROWS = {
    "gaia_dr2_cepheids.csv": 967,
    "vmc_ogle4_cepheids.csv": 3051,
    "ogle3_lmc_cepheids.tsv": 3375,
    "gaia_field_47tuc.csv": 7834,
}


def test_every_real_file_is_covered():
    present = {p.name for p in REAL_DATA.iterdir() if p.name != "README.md"}
    assert present == set(ROWS)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_real_file_row_count(name):
    table = read_table(REAL_DATA / name)
    assert {len(v) for v in table.values()} == {ROWS[name]}


def test_dr2_cepheids_repeated_source_id():
    table = read_table(REAL_DATA / "gaia_dr2_cepheids.csv")
    assert list(table).count("source_id") == 1
    assert table["source_id"].dtype == np.int64
    assert np.unique(table["source_id"]).size == 967
    assert table["ra"].dtype == np.float64 and table["pf"].dtype == np.float64
    assert set(table["type_best_classification"].tolist()) == {"DCEP"}


def test_47tuc_field_types_and_empty_colours():
    table = read_table(
        REAL_DATA / "gaia_field_47tuc.csv",
        columns=["source_id", "ra", "dec", "pmra", "pmdec", "phot_g_mean_mag"],
        optional=["bp_rp"],
    )
    assert table["source_id"].dtype == np.int64
    assert int(np.isnan(table["bp_rp"]).sum()) == 639
    assert not np.isnan(table["pmra"]).any()


def test_47tuc_field_lacks_astrometric_errors():
    with pytest.raises(InputError) as err:
        read_gaia_table(REAL_DATA / "gaia_field_47tuc.csv")
    message = str(err.value)
    for name in ("parallax", "parallax_error", "pmra_error", "phot_bp_mean_mag"):
        assert name in message


def test_ogle3_vizier_tsv():
    path = REAL_DATA / "ogle3_lmc_cepheids.tsv"
    assert detect_format(path) == ("vizier_tsv", False)
    table = read_table(
        path,
        columns=["ra", "dec", "Per"],
        optional=["Mode"],
        column_map={"_RAJ2000": "ra", "_DEJ2000": "dec"},
    )
    assert table["ra"].dtype == np.float64
    assert 60.0 < table["ra"].min() and table["ra"].max() < 100.0
    assert -76.0 < table["dec"].min() and table["dec"].max() < -60.0
    assert table["Mode"].dtype.kind == "U" and "F" in set(table["Mode"].tolist())


def test_vmc_positions_via_column_map():
    table = read_table(
        REAL_DATA / "vmc_ogle4_cepheids.csv",
        columns=["ra", "dec", "CEPHTYPE"],
        column_map={"RA2000": "ra", "DEC2000": "dec"},
    )
    counts = dict(zip(*np.unique(table["CEPHTYPE"], return_counts=True), strict=True))
    assert counts == {"DCEP": 2951, "T2CEP": 76, "ACEP": 24}
