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

from gpu_mc.backend import Backend, get_backend, to_host
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


# --- the cuDF route's logic, run on the CPU through a stand-in for cuDF -----------------------


class _FakeColumn:
    """The few cuDF Series methods the loader calls, on a pyarrow array (NumPy for CuPy)."""

    def __init__(self, arr: pa.ChunkedArray):
        self._arr = arr

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._arr.type.to_pandas_dtype())

    @property
    def has_nulls(self) -> bool:
        return self._arr.null_count > 0

    def to_cupy(self, na_value=None) -> np.ndarray:
        if self._arr.null_count and na_value is None:
            raise ValueError("cuDF refuses to convert a column with nulls without na_value")
        return self._arr.to_numpy(zero_copy_only=False)

    def fillna(self, value) -> _FakeColumn:
        return _FakeColumn(self._arr.fill_null(pa.scalar(value, self._arr.type)))

    def isna(self) -> _FakeColumn:
        return _FakeColumn(self._arr.is_null())


class _FakeCudf:
    """``cudf.read_parquet(path, columns=..., row_groups=[[...]])`` on pyarrow, counting calls."""

    def __init__(self):
        self.calls: list[tuple[list[str], object]] = []

    def read_parquet(self, path, columns, row_groups=None):
        self.calls.append((list(columns), row_groups))
        pfile = pq.ParquetFile(path)
        if row_groups is None:
            table = pfile.read(columns=columns)
        else:
            (groups,) = row_groups
            table = pfile.read_row_groups(groups, columns=columns)
        return {name: _FakeColumn(table.column(name)) for name in columns}


@pytest.fixture
def fake_cudf(monkeypatch):
    import sys

    fake = _FakeCudf()
    monkeypatch.setitem(sys.modules, "cudf", fake)
    return fake


#: A backend that takes the cuDF route with NumPy arrays standing in for CuPy ones.
CUDF_ON_CPU = Backend("cpu", np, "cpu", "cudf")


def _renamed(cols, names):
    return {names.get(k, k): v for k, v in cols.items()}


def _set(column, values):
    def change(cols):
        cols[column] = values

    return change


ROUTE_CASES = {
    "good": (lambda cols: None, {}),
    "upper_case_names": (None, {"RA": "ra", "DEC": "dec", "Source_ID": "source_id"}),
    "float_source_id": (_set("source_id", np.arange(1.0, 21.0)), {}),
    "uint64_source_id_in_range": (_set("source_id", np.arange(1, 21, dtype=np.uint64)), {}),
    "uint64_source_id_too_big": (
        _set("source_id", np.arange(21, dtype=np.uint64)[1:] + np.uint64(2**63)),
        {},
    ),
    "bool_pmra": (_set("pmra", np.arange(20) % 2 == 0), {}),
    "negative_source_id": (_set("source_id", np.arange(-10, 10, dtype=np.int64)), {}),
    "corr_5": (_set("pmra_pmdec_corr", np.full(20, 5.0, dtype=np.float32)), {}),
    "negative_error": (_set("pmra_error", np.full(20, -0.1, dtype=np.float32)), {}),
    "g_99": (_set("phot_g_mean_mag", np.full(20, 99.0, dtype=np.float32)), {}),
    "int_parallax": (_set("parallax", np.arange(20, dtype=np.int32)), {}),
    "duplicate_source_id": (_with("source_id", 7, 4657000000000000000), {}),
    "radians": (_radians, {}),
    "missing_pmdec": (lambda cols: cols.pop("pmdec"), {}),
}


def _route_result(load):
    try:
        return {k: to_host(v) for k, v in load().items()}
    except InputError as err:
        return str(err)


@pytest.mark.parametrize("case", list(ROUTE_CASES))
def test_cudf_route_makes_the_host_routes_checks(tmp_path, fake_cudf, case):
    change, names = ROUTE_CASES[case]
    cols = make_gaia_columns(20)
    if change is not None:
        change(cols)
    path = _parquet(tmp_path / f"{case}.parquet", _renamed(cols, names))
    host = _route_result(lambda: load_gaia_table(path, get_backend("cpu")))
    device = _route_result(lambda: load_gaia_table(path, CUDF_ON_CPU))
    # the cuDF route itself ran (a missing column is refused before anything is read)
    assert len(fake_cudf.calls) == (0 if case == "missing_pmdec" else 1)
    if isinstance(host, str):
        assert device == host
        expected = {
            "float_source_id": "floating-point",
            "uint64_source_id_too_big": "int64 range",
            "bool_pmra": "booleans",
            "negative_source_id": "negative",
            "corr_5": "'pmra_pmdec_corr' has 20 row(s)",
            "negative_error": "'pmra_error' has 20 row(s)",
            "g_99": "'phot_g_mean_mag' has 20 row(s)",
        }.get(case)
        assert expected is None or expected in host, host
        return
    assert case in ("good", "upper_case_names", "uint64_source_id_in_range", "int_parallax")
    assert list(device) == list(host)
    for key in host:
        assert device[key].dtype == host[key].dtype, key
        np.testing.assert_array_equal(device[key], host[key], err_msg=key)


def test_cudf_route_nulls_in_integer_columns(tmp_path, fake_cudf):
    table = pa.table(make_gaia_columns(4))
    table = table.set_column(3, "parallax", pa.array([1, None, 3, 4], pa.int64()))
    good = tmp_path / "intnull.parquet"
    pq.write_table(table, good)
    host = load_gaia_table(good, get_backend("cpu"))
    device = load_gaia_table(good, CUDF_ON_CPU)
    np.testing.assert_array_equal(device["parallax"], host["parallax"])
    assert np.isnan(device["parallax"]).tolist() == [False, True, False, False]
    bad = tmp_path / "nullsid.parquet"
    pq.write_table(table.set_column(0, "source_id", pa.array([1, None, 3, 4])), bad)
    with pytest.raises(InputError, match=r"'source_id' has 1 null"):
        load_gaia_table(bad, CUDF_ON_CPU)


def test_cudf_route_reads_row_groups_and_a_column_map(tmp_path, fake_cudf):
    cols = make_gaia_columns(30)
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.table(_renamed(cols, {"ra": "RA_ICRS"})), path, row_group_size=10)
    cmap = {"ra_icrs": "ra"}
    got = load_gaia_table(path, CUDF_ON_CPU, column_map=cmap, row_groups=(1, 3))
    assert fake_cudf.calls[-1][1] == [[1, 2]]
    np.testing.assert_array_equal(got["ra"], cols["ra"][10:30])
    np.testing.assert_array_equal(got["source_id"], cols["source_id"][10:30])


def test_cudf_route_leaves_clashing_names_to_the_host(tmp_path, fake_cudf):
    cols = make_gaia_columns(5)
    cols["RA"] = cols["ra"] + 1.0
    path = _parquet(tmp_path / "clash.parquet", cols)
    with pytest.raises(InputError, match=r"columns 'ra' and 'RA' both give 'ra'"):
        load_gaia_table(path, CUDF_ON_CPU)
    assert fake_cudf.calls == []


def test_file_is_sniffed_once_on_the_way_to_the_reader(tmp_path, monkeypatch):
    from gpu_mc.io.readers import detect as detect_module
    from gpu_mc.io.readers import parquet_row_groups, sniff

    reads = []
    real = detect_module._read_head
    monkeypatch.setattr(detect_module, "_read_head", lambda p: reads.append(p) or real(p))
    path = _parquet(tmp_path / "once.parquet", make_gaia_columns(20))
    load_gaia_table(path, get_backend("cpu"))
    assert len(reads) == 1
    source = sniff(path)
    assert parquet_row_groups(source) == [20]
    load_gaia_table(source, get_backend("cpu"), row_groups=(0, 1))
    assert len(reads) == 2  # only the explicit sniff read the file's head


def test_host_columns_are_not_copied_on_the_cpu():
    from gpu_mc.io.device import to_device_columns

    cols = make_gaia_columns(8)
    out = to_device_columns(cols, get_backend("cpu"))
    assert all(out[k] is cols[k] for k in cols)


@pytest.mark.gpu
def test_pinned_copy_matches_the_host_columns(gpu_backend, monkeypatch):
    import gpu_mc.io.device as device

    monkeypatch.setattr(device, "PINNED_CHUNK_BYTES", 1000)  # many chunks, both buffers
    cols = make_gaia_columns(5000)
    cols["flag"] = np.arange(5000) % 3 == 0
    cols["empty"] = np.zeros(0)
    out = device.to_device_columns(cols, gpu_backend)
    for key, values in cols.items():
        assert out[key].dtype == values.dtype
        np.testing.assert_array_equal(to_host(out[key]), values)


@pytest.mark.gpu
def test_gpu_route_reads_row_groups_like_the_host(tmp_path, gpu_backend):
    cols = _renamed(make_gaia_columns(30), {"ra": "RA", "pmdec": "PMDEC"})
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.table(cols), path, row_group_size=10)
    host = load_gaia_table(path, get_backend("cpu"), row_groups=(1, 3))
    gpu = load_gaia_table(path, gpu_backend, row_groups=(1, 3))
    assert list(gpu) == list(host)
    for key in host:
        np.testing.assert_array_equal(to_host(gpu[key]), host[key], err_msg=key)
