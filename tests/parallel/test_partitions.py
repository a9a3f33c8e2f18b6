"""Partition layout, completeness checks and cluster options (no cluster needed)."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from gpu_mc.errors import BackendError, GpuMcError, InputError
from gpu_mc.healpix import source_id_to_healpix
from gpu_mc.io.partitions import (
    INPUT_ROWS_KEY,
    MODEL_HASH_KEY,
    healpix_partitions,
    list_partitions,
    output_is_complete,
    parquet_rows,
    write_partitions,
)
from gpu_mc.parallel import ClusterSpec, connect


def _sids(pixels12):
    """One source_id per entry, in the given HEALPix level-12 pixels."""
    pixels12 = np.asarray(pixels12, dtype=np.int64)
    return (pixels12 << 35) + np.arange(pixels12.size)


def test_partitions_are_balanced_contiguous_source_id_ranges():
    rng = np.random.default_rng(3)
    # A dense clump plus a sparse spread, like a Cloud over its foreground.
    pix = np.concatenate(
        [rng.integers(5_000_000, 5_000_400, 30_000), rng.integers(0, 12 * 4**12, 10_000)]
    )
    sid = _sids(pix)
    level, part = healpix_partitions(sid, 8)
    counts = np.bincount(part, minlength=8)
    assert counts.size == 8 and counts.min() > 0
    assert counts.max() < 2 * sid.size / 8
    order = np.argsort(sid)
    assert np.all(np.diff(part[order]) >= 0)
    # Partitions are unions of whole pixels at the chosen level.
    pixel = source_id_to_healpix(sid, level)
    for p in np.unique(pixel):
        assert np.unique(part[pixel == p]).size == 1


def test_too_few_pixels_is_an_error():
    with pytest.raises(InputError, match="occupy only 2"):
        healpix_partitions(_sids([7, 7, 9]), 3)


def test_write_partitions_round_trip_and_refuses_stale_files(tmp_path):
    sid = _sids(np.repeat(np.arange(100, 140), 5))
    cols = {"source_id": sid, "x": np.arange(sid.size, dtype=np.float64)}
    files = write_partitions(cols, tmp_path / "p", 4, metadata={"k": "v"})
    assert [f.name for f in files] == [f"part-{i:03d}.parquet" for i in range(4)]
    assert list_partitions(tmp_path / "p") == files
    back = pa.concat_tables(pq.read_table(f) for f in files)
    assert sorted(back["source_id"].to_pylist()) == sorted(sid.tolist())
    meta = pq.read_metadata(files[0]).metadata
    assert meta[b"k"] == b"v" and b"healpix_level" in meta
    with pytest.raises(InputError, match="already holds other partition files"):
        write_partitions(cols, tmp_path / "p", 2)


def test_list_partitions_ignores_hidden_and_rejects_empty(tmp_path):
    (tmp_path / ".part-000.parquet.abc.tmp").write_bytes(b"x")
    with pytest.raises(InputError, match="no partition files"):
        list_partitions(tmp_path)
    with pytest.raises(InputError, match="not a directory"):
        list_partitions(tmp_path / "missing")


def test_output_is_complete_checks_rows_model_and_readability(tmp_path):
    out = tmp_path / "s.parquet"
    meta = {MODEL_HASH_KEY: "abc", INPUT_ROWS_KEY: "3"}
    pq.write_table(pa.table({"p_mc": [0.1, 0.2, 0.3]}).replace_schema_metadata(meta), out)
    assert parquet_rows(out) == 3
    assert output_is_complete(out, 3, "abc")
    assert not output_is_complete(out, 4, "abc")
    assert not output_is_complete(out, 3, "other")
    out.write_bytes(out.read_bytes()[:20])
    assert not output_is_complete(out, 3, "abc")
    assert not output_is_complete(tmp_path / "absent.parquet", 3, "abc")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"address": "yarn"}, "use local, local-cuda or tcp"),
        ({"n_workers": 0}, "at least 1"),
        ({"rmm_pool_size": "10GB"}, "need --cluster local-cuda"),
    ],
)
def test_cluster_spec_validation(kwargs, match):
    with pytest.raises(GpuMcError, match=match):
        ClusterSpec(**kwargs)


def test_local_cuda_without_dask_cuda_names_it():
    pytest.importorskip("distributed")
    try:
        import dask_cuda  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("dask-cuda is installed")
    with pytest.raises(BackendError, match="dask-cuda"), connect(ClusterSpec("local-cuda")):
        pass


def test_thread_count_does_not_change_scores(mock):
    import numba

    from gpu_mc.io.readers import read_gaia_table
    from gpu_mc.model.checkpoint import load_model
    from gpu_mc.model.score import score_table

    table = read_gaia_table(list_partitions(mock["parts"])[0])
    model = load_model(mock["model"])
    before = torch.get_num_threads(), numba.get_num_threads()
    try:
        runs = []
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            torch.set_num_threads(threads)
            numba.set_num_threads(threads)
            runs.append(score_table(table, model)[0].tobytes())
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])
    assert runs[0] == runs[1]


def test_scores_of_any_subset_match_the_whole_table(mock):
    """A row's score does not depend on the rows scored with it (what partitioning needs)."""
    from gpu_mc.io.readers import read_gaia_table
    from gpu_mc.model.checkpoint import load_model
    from gpu_mc.pipeline import score
    from gpu_mc.progress import Reporter

    whole = {}
    for p in list_partitions(mock["parts"]):
        for k, v in read_gaia_table(p).items():
            whole.setdefault(k, []).append(v)
    table = {k: np.concatenate(v) for k, v in whole.items()}
    ref = mock["reference"]
    p_of = dict(zip(ref["source_id"].tolist(), ref["p_mc"].tolist(), strict=True))
    model = load_model(mock["model"])
    rng = np.random.default_rng(5)
    for n in (1, 7, 63, 65, 200, 1001, 4097):
        rows = rng.choice(table["ra"].size, n, replace=False)
        got = score({k: v[rows] for k, v in table.items()}, model, mock["cfg"], Reporter(False))
        want = np.array([p_of[s] for s in table["source_id"][rows].tolist()], dtype=np.float32)
        assert got["p_mc"].tobytes() == want.tobytes(), n
