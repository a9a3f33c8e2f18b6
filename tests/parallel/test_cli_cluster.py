"""`gpu-mc simulate --partitions` and `gpu-mc score --cluster local` as a user runs them.

Scoring on a local cluster runs in its own process, as a user's would (it starts dask worker
processes); the other commands run in process.
"""

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from cli_runner import gpu_mc

SMALL = ["--n-stars", "12000", "--backend", "cpu", "-q"]


def gpu_mc_process(*args):
    return subprocess.run([sys.executable, "-m", "gpu_mc", *args], capture_output=True, text=True)


def test_simulate_partitions_then_score_on_a_local_cluster(mock, tmp_path):
    from gpu_mc.io.readers import read_gaia_table
    from gpu_mc.model.checkpoint import load_model
    from gpu_mc.pipeline import score
    from gpu_mc.progress import Reporter

    parts = tmp_path / "parts"
    r = gpu_mc("simulate", "--partitions", "4", "--out", str(parts), *SMALL)
    assert r.returncode == 0, r.stderr
    names = [f"part-{i:03d}.parquet" for i in range(4)]
    assert sorted(p.name for p in parts.iterdir()) == names
    out = tmp_path / "scores"
    args = ["score", str(parts), "--model", str(mock["model"]), "--out", str(out), "-q"]
    r = gpu_mc_process(*args, "--cluster", "local", "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert "dask dashboard" in r.stderr + r.stdout
    assert sorted(p.name for p in out.iterdir()) == names
    # Single-process reference: the whole catalogue scored at once in this process.
    cols = [read_gaia_table(parts / n) for n in names]
    table = {k: np.concatenate([c[k] for c in cols]) for k in cols[0]}
    want = score(table, load_model(mock["model"]), mock["cfg"], Reporter(enabled=False))
    order = np.argsort(want["source_id"])
    got = pa.concat_tables(pq.read_table(out / n) for n in names).sort_by("source_id")
    assert np.array_equal(got["source_id"].to_numpy(), want["source_id"][order])
    assert got["p_mc"].to_numpy().tobytes() == want["p_mc"][order].tobytes()


def test_cluster_options_need_a_directory_and_bad_clusters_are_named(mock, tmp_path):
    model = str(mock["model"])
    r = gpu_mc("score", "x.parquet", "--model", model, "--out", "o.parquet", "--workers", "2")
    assert r.returncode == 2 and "--workers" in r.stderr
    r = gpu_mc(
        "score",
        str(mock["parts"]),
        "--model",
        model,
        "--out",
        str(tmp_path / "o"),
        "--cluster",
        "yarn",
    )
    assert r.returncode == 2 and "yarn" in r.stderr
    assert not (tmp_path / "o").exists()
