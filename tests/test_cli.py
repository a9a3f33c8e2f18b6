"""End-to-end checks of the command line as a user runs it (exit codes, streams, files).

The commands run in process (:mod:`cli_runner`); the signal and entry-point tests that need a
real process live in ``test_bad_inputs.py`` and ``test_install.py``.
"""

import json
import os
import signal
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from cli_runner import gpu_mc

SMALL = ["--n-stars", "20000", "--quiet", "--backend", "cpu"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = out / "fast.toml"
    cfg.write_text("[train]\nmax_epochs = 6\nbatch_size = 1024\n")
    r = gpu_mc("run", *SMALL, "--config", str(cfg), "--out", str(out / "o"))
    assert r.returncode == 0, r.stderr
    return out / "o", r


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    """The mock sky of ``small_run`` written by ``gpu-mc simulate`` (same size and seed)."""
    path = tmp_path_factory.mktemp("sky") / "sky.parquet"
    r = gpu_mc("simulate", "--out", str(path), *SMALL)
    assert r.returncode == 0, r.stderr
    return path


def test_run_writes_outputs(small_run):
    out, r = small_run
    assert {p.name for p in out.iterdir()} == {"scores.parquet", "metrics.json", "model"}
    m = json.loads((out / "metrics.json").read_text())
    for key in (
        "n_input",
        "n_scored",
        "roc_auc",
        "pr_auc",
        "thresholds",
        "samples",
        "truth",
        "baseline",
    ):
        assert key in m
    assert m["n_input"] == m["n_scored"] == 20000
    s = pq.read_table(out / "scores.parquet")
    assert s.num_rows == 20000
    assert set(s.column_names) >= {
        "source_id",
        "p_mc",
        "in_complete",
        "in_optimal",
        "in_truncated_optimal",
    }
    assert len(np.unique(s["source_id"].to_numpy())) == 20000
    assert m["samples"]["optimal"] == int(s["in_optimal"].to_numpy().sum())
    assert "completeness" in r.stdout.lower() or "purity" in r.stdout.lower()


def test_score_reproduces_run_scores(small_run, sky, tmp_path):
    out, _ = small_run
    r = gpu_mc(
        "score", str(sky), "--model", str(out / "model"), "--out", str(tmp_path / "s.parquet"), "-q"
    )
    assert r.returncode == 0, r.stderr
    mine = pq.read_table(tmp_path / "s.parquet")
    ref = pq.read_table(out / "scores.parquet")
    np.testing.assert_array_equal(mine["source_id"].to_numpy(), ref["source_id"].to_numpy())
    np.testing.assert_array_equal(mine["p_mc"].to_numpy(), ref["p_mc"].to_numpy())


def test_missing_column_empty_and_corrupt_inputs(small_run, sky, tmp_path):
    out, _ = small_run
    model = str(out / "model")
    good = sky
    t = pq.read_table(good)
    cases = {
        "missing.parquet": lambda p: pq.write_table(t.drop(["pmra"]), p),
        "empty.parquet": lambda p: pq.write_table(t.slice(0, 0), p),
        "corrupt.parquet": lambda p: p.write_bytes(good.read_bytes()[: good.stat().st_size // 2]),
    }
    for name, make in cases.items():
        path = tmp_path / name
        make(path)
        target = tmp_path / f"out-{name}"
        r = gpu_mc("score", str(path), "--model", model, "--out", str(target), "-q")
        assert r.returncode != 0, name
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and "error" in lines[0], (name, r.stderr)
        assert name in lines[0]
        assert not target.exists()
        assert not list(tmp_path.glob(f".out-{name}*")), "temporary file left behind"
    assert (
        "pmra"
        in gpu_mc(
            "score",
            str(tmp_path / "missing.parquet"),
            "--model",
            model,
            "--out",
            str(tmp_path / "x"),
            "-q",
        ).stderr
    )


def test_gpu_request_fails_cleanly_without_gpu(tmp_path):
    from gpu_mc.backend import gpu_problem

    if gpu_problem() is None:
        pytest.skip("a GPU is available")
    r = gpu_mc("run", "--backend", "gpu", "--n-stars", "2000", "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "GPU backend was requested but is unavailable" in r.stderr
    assert not (tmp_path / "o").exists()


def test_bad_config_exit_code(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[sky]\nn_stars = -5\n")
    r = gpu_mc("run", "--config", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "sky.n_stars" in r.stderr
    assert not (tmp_path / "o").exists()


def test_info():
    r = gpu_mc("info")
    assert r.returncode == 0 and "auto backend" in r.stdout


def test_score_writes_cds_and_fits(small_run, sky, tmp_path):
    from astropy.io import ascii as astro_ascii
    from astropy.table import Table

    out, _ = small_run
    ref = pq.read_table(out / "scores.parquet")
    for name in ("s.dat", "s.fits"):
        r = gpu_mc(
            "score", str(sky), "--model", str(out / "model"), "--out", str(tmp_path / name), "-q"
        )
        assert r.returncode == 0, r.stderr
    cds = astro_ascii.read(tmp_path / "s.dat", format="cds")
    np.testing.assert_array_equal(np.asarray(cds.columns[0]), ref["source_id"].to_numpy())
    np.testing.assert_allclose(np.asarray(cds.columns[1]), ref["p_mc"].to_numpy(), atol=5e-5)
    fits = Table.read(tmp_path / "s.fits")
    np.testing.assert_array_equal(np.asarray(fits["p_mc"]), ref["p_mc"].to_numpy())


def test_score_with_column_map(small_run, sky, tmp_path):
    out, _ = small_run
    renamed = tmp_path / "renamed.parquet"
    pq.write_table(
        pq.read_table(sky).rename_columns(
            [
                "RA_ICRS" if c == "ra" else "DE_ICRS" if c == "dec" else c
                for c in pq.read_table(sky).column_names
            ]
        ),
        renamed,
    )
    model = str(out / "model")
    r = gpu_mc("score", str(renamed), "--model", model, "--out", str(tmp_path / "x.parquet"), "-q")
    assert r.returncode == 2 and "ra" in r.stderr
    r = gpu_mc(
        "score",
        str(renamed),
        "--model",
        model,
        "--out",
        str(tmp_path / "m.parquet"),
        "-q",
        "--column-map",
        "RA_ICRS=ra,DE_ICRS=dec",
    )
    assert r.returncode == 0, r.stderr
    ref = pq.read_table(out / "scores.parquet")
    np.testing.assert_array_equal(
        pq.read_table(tmp_path / "m.parquet")["p_mc"].to_numpy(), ref["p_mc"].to_numpy()
    )
    r = gpu_mc(
        "score",
        str(renamed),
        "--model",
        model,
        "--out",
        str(tmp_path / "y.parquet"),
        "-q",
        "--column-map",
        "RA_ICRS",
    )
    assert (
        r.returncode == 2 and "--column-map" in r.stderr and not (tmp_path / "y.parquet").exists()
    )


def _in_process(args, monkeypatch, action):
    """Run the CLI in this process with scoring replaced by ``action``; return status, stderr."""
    from typer.testing import CliRunner

    import gpu_mc.scoring
    from gpu_mc.cli import run_cli

    monkeypatch.setattr(gpu_mc.scoring, "score_file", lambda *a, **k: action())
    with CliRunner().isolation() as (_, err, _):
        status = run_cli(args)
        sys.stderr.flush()
        return status, err.getvalue().decode()


def _ctrl_c():
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("raise_it", "status", "line"),
    [
        (_ctrl_c, 130, "gpu-mc: interrupted (SIGINT)"),
        (lambda: os.kill(os.getpid(), signal.SIGTERM), 143, "gpu-mc: terminated (SIGTERM)"),
    ],
)
def test_interrupt_gives_its_status_and_one_line(
    small_run, tmp_path, monkeypatch, raise_it, status, line
):
    out, _ = small_run
    sky = tmp_path / "sky.parquet"
    pq.write_table(pq.read_table(out / "scores.parquet"), sky)
    args = ["score", str(sky), "--model", str(out / "model"), "--out", str(tmp_path / "s.parquet")]
    got, stderr = _in_process(args, monkeypatch, raise_it)
    assert got == status
    assert stderr.strip().splitlines() == [line]
    assert not (tmp_path / "s.parquet").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
