"""Scoring a HATS catalogue on a dask cluster: partition by partition within the target's
cone, the same scores as the single-process route, --resume, and LSDB reads the output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hats")

from gpu_mc.backend import get_backend
from gpu_mc.io.hats import hats_partitions, read_hats_columns, write_hats
from gpu_mc.model.checkpoint import load_model
from gpu_mc.parallel import ClusterSpec, score_partitions
from gpu_mc.progress import Reporter
from gpu_mc.score_hats import score_hats, target_cone


@pytest.fixture(scope="module")
def hats_input(mock, tmp_path_factory) -> Path:
    """The partitioned mock written again as a HATS catalogue of many pixels."""
    from gpu_mc.io.partitions import list_partitions
    from gpu_mc.io.readers import read_gaia_table

    cols = [read_gaia_table(p) for p in list_partitions(mock["parts"])]
    table = {k: np.concatenate([c[k] for c in cols]) for k in cols[0]}
    root = tmp_path_factory.mktemp("hats") / "gaia"
    write_hats(table, root, max_rows=6000)
    return root


def _sorted(root: Path) -> dict[str, np.ndarray]:
    got = read_hats_columns(root, ["source_id", "p_mc", "score_flag"])
    order = np.argsort(got["source_id"])
    return {k: v[order] for k, v in got.items()}


def test_cluster_scores_hats_like_one_process_and_resumes(mock, hats_input, cluster, tmp_path):
    spec = ClusterSpec(address=cluster.scheduler_address)
    model = load_model(mock["model"])
    n_parts = len(hats_partitions(hats_input, target_cone(model)))
    assert n_parts > 2
    out = tmp_path / "scores"
    done = score_partitions(hats_input, mock["model"], out, mock["cfg"], spec, progress=False)
    assert len(done.scored) == n_parts and not done.failed
    serial = tmp_path / "serial"
    score_hats(hats_input, model, mock["cfg"], get_backend("cpu"), serial, Reporter(False))
    got, want = _sorted(out), _sorted(serial)
    np.testing.assert_array_equal(got["source_id"], want["source_id"])
    assert got["p_mc"].tobytes() == want["p_mc"].tobytes()
    ref = mock["reference"]
    at = np.searchsorted(ref["source_id"], got["source_id"], sorter=np.argsort(ref["source_id"]))
    idx = np.argsort(ref["source_id"])[at]
    np.testing.assert_array_equal(ref["source_id"][idx], got["source_id"])
    assert got["p_mc"].tobytes() == ref["p_mc"][idx].tobytes()
    assert sum(done.scored.values()) == got["source_id"].size

    again = score_partitions(
        hats_input, mock["model"], out, mock["cfg"], spec, resume=True, progress=False
    )
    assert not again.scored and len(again.skipped) == n_parts
    lost = sorted(out.glob("dataset/Norder=*/Dir=*/Npix=*.parquet"))[0]
    lost.unlink()
    redo = score_partitions(
        hats_input, mock["model"], out, mock["cfg"], spec, resume=True, progress=False
    )
    assert list(redo.scored) == [str(lost.relative_to(out))]
    assert len(redo.skipped) == n_parts - 1
    assert _sorted(out)["p_mc"].tobytes() == got["p_mc"].tobytes()


def test_lsdb_reads_the_cluster_output(mock, hats_input, cluster, tmp_path):
    lsdb = pytest.importorskip("lsdb")
    spec = ClusterSpec(address=cluster.scheduler_address)
    out = tmp_path / "scores"
    done = score_partitions(hats_input, mock["model"], out, mock["cfg"], spec, progress=False)
    frame = lsdb.read_hats(out).compute()
    assert len(frame) == sum(done.scored.values())
    assert {"source_id", "ra", "dec", "p_mc"} <= set(frame.columns)  # the default columns


def test_output_of_another_input_is_refused(mock, hats_input, cluster, tmp_path):
    from gpu_mc.errors import InputError

    spec = ClusterSpec(address=cluster.scheduler_address)
    out = tmp_path / "scores"
    out.mkdir()
    (out / "stray.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        score_partitions(hats_input, mock["model"], out, mock["cfg"], spec, progress=False)


def test_cli_scores_a_hats_catalogue_on_a_local_cluster(mock, hats_input, tmp_path):
    import subprocess
    import sys

    def gpu_mc(*args):
        cmd = [sys.executable, "-m", "gpu_mc", "score", str(hats_input)]
        cmd += ["--model", str(mock["model"]), "--backend", "cpu", "-q"]
        return subprocess.run([*cmd, *args], capture_output=True, text=True)

    r = gpu_mc("--out", str(tmp_path / "s.parquet"), "--cluster", "local")
    assert r.returncode == 2 and "give a directory" in r.stderr
    assert not (tmp_path / "s.parquet").exists()
    out = tmp_path / "scores"
    r = gpu_mc("--out", str(out), "--cluster", "local", "--workers", "1")
    assert r.returncode == 0, r.stderr
    got = _sorted(out)
    ref = mock["reference"]
    order = np.argsort(ref["source_id"])
    np.testing.assert_array_equal(got["source_id"], ref["source_id"][order])
    assert got["p_mc"].tobytes() == ref["p_mc"][order].tobytes()
    r = gpu_mc("--out", str(out), "--cluster", "local", "--workers", "1", "--resume")
    assert r.returncode == 0, r.stderr
    assert "in 0 partitions" in r.stdout
