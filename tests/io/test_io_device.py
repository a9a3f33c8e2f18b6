"""``load_gaia_table``: both device routes refuse what the host reader refuses.

The GPU route reads parquet with cuDF where it is installed, so it makes its own checks; each
bad parquet file here must fail with an InputError naming the column on every backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from io_helpers import make_gaia_columns

from gpu_mc.backend import get_backend, to_host
from gpu_mc.errors import InputError
from gpu_mc.io.device import load_gaia_table


def _parquet(path: Path, cols: dict[str, np.ndarray], units: dict[str, str] | None = None) -> Path:
    units = units or {}
    fields = [
        pa.field(k, pa.array(v).type, metadata={"unit": units[k]} if k in units else None)
        for k, v in cols.items()
    ]
    pq.write_table(pa.table(cols, schema=pa.schema(fields)), path)
    return path


def _with(column: str, index: int, value: object):
    def change(cols):
        cols[column] = cols[column].copy()
        cols[column][index] = value

    return change


def _radians(cols):
    cols["ra"] = np.radians(cols["ra"])
    cols["dec"] = np.radians(cols["dec"])


BAD = {
    "ra_out_of_range": (_with("ra", 3, 361.0), None, ["'ra'", "outside"]),
    "nan_dec": (_with("dec", 2, np.nan), None, ["'dec'", "NaN"]),
    "inf_pmra": (_with("pmra", 5, np.inf), None, ["'pmra'", "infinite"]),
    "duplicate_source_id": (_with("source_id", 7, 4657000000000000000), None, ["source_id"]),
    "radians": (_radians, None, ["radians"]),
    "pmra_in_deg_per_yr": (None, {"pmra": "deg/yr"}, ["'pmra'", "deg/yr"]),
}
BACKENDS = ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(BAD))
def test_bad_parquet_is_refused_naming_the_column(tmp_path, case, backend, request):
    change, units, words = BAD[case]
    cols = make_gaia_columns(20)
    if change is not None:
        change(cols)
    path = _parquet(tmp_path / f"{case}.parquet", cols, units)
    be = request.getfixturevalue("gpu_backend") if backend == "gpu" else get_backend("cpu")
    with pytest.raises(InputError) as err:
        load_gaia_table(path, be)
    for word in words:
        assert word in str(err.value), str(err.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_good_parquet_loads_every_column_unchanged(tmp_path, backend, request):
    cols = make_gaia_columns(50)
    path = _parquet(tmp_path / "good.parquet", cols, {"ra": "deg", "pmra": "mas / yr"})
    be = request.getfixturevalue("gpu_backend") if backend == "gpu" else get_backend("cpu")
    got = load_gaia_table(path, be)
    assert set(got) == set(cols)
    for k, v in cols.items():
        np.testing.assert_array_equal(to_host(got[k]), v)
