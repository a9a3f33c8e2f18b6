"""Partitioned scoring on a 2-worker LocalCluster: equality, resume, killed workers, failures."""

import os
import shutil
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, WorkerPlugin
from parallel_helpers import assert_equal_to_reference

from gpu_mc.errors import GpuMcError
from gpu_mc.io.partitions import list_partitions
from gpu_mc.parallel import ClusterSpec, score_partitions

# Worker processes cannot import this test module; ship its classes by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class KillOnce(WorkerPlugin):
    """Kills the worker process when it starts a task of ``partition``, unless ``marker`` exists."""

    name = "test-kill-once"

    def __init__(self, partition: str, marker: Path) -> None:
        self.partition = partition
        self.marker = str(marker)

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).endswith(self.partition):
            if not os.path.exists(self.marker):
                with open(self.marker, "w") as fh:
                    fh.write(str(os.getpid()))
                os._exit(1)


def _spec(cluster):
    return ClusterSpec(address=cluster.scheduler_address)


def _run(mock, cluster, out, **kwargs):
    return score_partitions(
        kwargs.pop("parts", mock["parts"]),
        mock["model"],
        out,
        mock["cfg"],
        _spec(cluster),
        progress=False,
        **kwargs,
    )


def test_partitioned_scores_equal_single_process(mock, cluster, tmp_path):
    done = _run(mock, cluster, tmp_path / "out")
    names = [p.name for p in list_partitions(mock["parts"])]
    assert sorted(done.scored) == names and not done.failed and not done.skipped
    assert sum(done.scored.values()) == mock["reference"]["p_mc"].size
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names
    assert_equal_to_reference(tmp_path / "out", mock["reference"])


def test_resume_skips_complete_outputs_and_redoes_a_truncated_one(mock, cluster, tmp_path):
    out = tmp_path / "out"
    _run(mock, cluster, out)
    files = sorted(out.iterdir())
    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    broken = files[3]
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    done = _run(mock, cluster, out, resume=True)
    assert list(done.scored) == [broken.name]
    assert sorted(done.skipped) == sorted(n for n in stamps if n != broken.name)
    for f in files:
        if f != broken:
            assert f.stat().st_mtime_ns == stamps[f.name]
    assert_equal_to_reference(out, mock["reference"])
    again = _run(mock, cluster, out, resume=True)
    assert not again.scored and len(again.skipped) == len(files)


def test_killed_worker_is_replaced_and_its_partition_retried(mock, cluster, tmp_path):
    marker = tmp_path / "killed.pid"
    target = list_partitions(mock["parts"])[2].name
    with Client(cluster) as client:
        client.register_plugin(KillOnce(target, marker))
        try:
            done = _run(mock, cluster, tmp_path / "out")
        finally:
            client.unregister_worker_plugin(KillOnce.name)
        assert marker.exists(), "the fault was never injected"
        killed = int(marker.read_text())
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid).values()
    assert killed not in pids
    assert target in done.scored and not done.failed
    assert_equal_to_reference(tmp_path / "out", mock["reference"])


def test_a_partition_that_always_fails_is_named_and_leaves_no_file(mock, cluster, tmp_path):
    parts = tmp_path / "parts"
    shutil.copytree(mock["parts"], parts)
    bad = pq.read_table(parts / "part-005.parquet").drop_columns(["pmra"])
    pq.write_table(bad, parts / "part-005.parquet")
    out = tmp_path / "out"
    with pytest.raises(GpuMcError, match=r"1 of 8 partitions failed.*part-005\.parquet.*pmra"):
        _run(mock, cluster, out, parts=parts)
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"part-{i:03d}.parquet" for i in range(8) if i != 5]
    good = pa.concat_tables(pq.read_table(out / n) for n in written)
    assert good.num_rows == mock["reference"]["p_mc"].size - bad.num_rows
    ref = mock["reference"]
    want = dict(zip(ref["source_id"].tolist(), ref["p_mc"].tolist(), strict=True))
    got = good["p_mc"].to_numpy()
    assert np.array_equal(got, [want[s] for s in good["source_id"].to_pylist()])
