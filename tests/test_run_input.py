"""`gpu-mc run --input` on a Gaia cone without truth columns, and `gpu-mc report` after the
fact (the stars regenerated from a mock run's config, or re-read from a recorded input)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gpu_mc.cli import run_cli
from gpu_mc.config import Config
from gpu_mc.errors import InputError
from gpu_mc.io.schema import TRUTH_COLUMNS
from gpu_mc.sky import simulate_sky

N = 20_000
FAST = "[train]\nmax_epochs = 4\n"
#: Every figure the report draws; the two after the first six need the truth.
FIGURES = {
    "roc_pr.png",
    "p_mc_hist.png",
    "sky_xy.png",
    "cmd.png",
    "pm.png",
    "los_velocity.png",
    "p_mc_std.png",
}
TRUTH_FIGURES = {
    "completeness_purity.png",
    "reliability.png",
    "calibration.png",
    "estimated_vs_true.png",
}
#: Catalogue positions are offset by this much from the stars' (well inside 1 arcsec).
OFFSET_DEG = 0.2 / 3600


@pytest.fixture(scope="module")
def cone(tmp_path_factory):
    """A mock cone written without its truth columns, a member list by position, the truth."""
    d = tmp_path_factory.mktemp("cone")
    sky = simulate_sky(Config().replace(sky={"n_stars": N}).sky)
    pq.write_table(
        pa.table({k: v for k, v in sky.items() if k not in TRUTH_COLUMNS}), d / "cone.parquet"
    )
    members = np.flatnonzero(sky["true_class"] == 1)[:400]
    pq.write_table(
        pa.table({"RA_deg": sky["ra"][members], "DE_deg": sky["dec"][members] + OFFSET_DEG}),
        d / "members.parquet",
    )
    (d / "fast.toml").write_text(FAST)
    return d, sky, members


@pytest.fixture(scope="module")
def input_run(cone):
    d, _, _ = cone
    out = d / "run"
    status = run_cli(
        [
            "run",
            "--input",
            str(d / "cone.parquet"),
            "--catalogue",
            str(d / "members.parquet"),
            "--by",
            "position",
            "--ra-col",
            "RA_deg",
            "--dec-col",
            "DE_deg",
            "--config",
            str(d / "fast.toml"),
            "--backend",
            "cpu",
            "--out",
            str(out),
            "--report",
            "--quiet",
        ]
    )
    assert status == 0
    return out


def _srcs(page: Path) -> set[str]:
    return set(re.findall(r'<img src="([^"]+)"', page.read_text(encoding="utf-8")))


def test_input_run_scores_every_star_in_input_order(input_run, cone):
    _, sky, _ = cone
    m = json.loads((input_run / "metrics.json").read_text())
    s = pq.read_table(input_run / "scores.parquet")
    np.testing.assert_array_equal(s["source_id"].to_numpy(), sky["source_id"])
    assert m["n_input"] == m["n_scored"] == s.num_rows == N
    assert m["truth"] is None and m["input"]["kind"] == "file"
    assert m["input"]["n_rows"] == N and len(m["input"]["sha256"]) == 64
    t = m["thresholds"]
    assert 0 < t["complete"] <= t["optimal"] < 1
    p = s["p_mc"].to_numpy()
    for k in ("complete", "optimal"):
        assert m["samples"][k] == int((p >= t[k]).sum()) == int(s[f"in_{k}"].to_numpy().sum())
    assert set(m["sources"]) >= {"input", "mc_class", "mw_class", "thresholds", "validation"}


def test_validation_by_position_counts_the_members_in_each_sample(input_run, cone):
    _, _, members = cone
    m = json.loads((input_run / "metrics.json").read_text())
    v = m["validation"]
    assert v["by"] == "position" and len(v["recovery"]) == 1
    row = v["recovery"][0]
    assert row["label"] == "members" and row["n_rows"] == row["n_matched"] == members.size
    s = pq.read_table(input_run / "scores.parquet")  # rows follow the sky: index = row
    for k in ("complete", "optimal", "truncated_optimal"):
        assert row["classified"][k]["n"] == int(s[f"in_{k}"].to_numpy()[members].sum())


def test_input_report_draws_every_figure_that_needs_no_truth(input_run):
    page = input_run / "report" / "report.html"
    drawn = {p.name for p in page.parent.glob("*.png")}
    assert drawn == FIGURES and _srcs(page) == FIGURES
    text = page.read_text(encoding="utf-8")
    assert "members" in text and "SHA-256 checked" in text


def test_report_refuses_a_changed_input(input_run, cone, tmp_path):
    d, sky, _ = cone
    import shutil

    run = tmp_path / "run"
    shutil.copytree(input_run, run)
    shutil.rmtree(run / "report")
    m = json.loads((run / "metrics.json").read_text())
    changed = tmp_path / "changed.parquet"
    t = pq.read_table(d / "cone.parquet")
    pq.write_table(t.set_column(1, "ra", pa.array(sky["ra"] + 1e-9)), changed)
    m["input"]["path"] = str(changed)
    (run / "metrics.json").write_text(json.dumps(m))
    from gpu_mc.report.html import make_report

    with pytest.raises(InputError, match="changed since the run"):
        make_report(run)
    assert not (run / "report").exists()


def test_report_after_a_plain_mock_run_draws_every_figure(cone, tmp_path):
    d, _, _ = cone
    out = tmp_path / "run"
    args = ["--n-stars", str(N), "--config", str(d / "fast.toml"), "--backend", "cpu"]
    assert run_cli(["run", *args, "--out", str(out), "--quiet"]) == 0
    assert not (out / "sky.parquet").exists()
    assert run_cli(["report", str(out)]) == 0
    page = out / "report" / "report.html"
    assert {p.name for p in page.parent.glob("*.png")} == FIGURES | TRUTH_FIGURES
    assert _srcs(page) == FIGURES | TRUTH_FIGURES
    assert "simulated again from the recorded configuration" in page.read_text(encoding="utf-8")


def test_partition_directory_input_gives_the_same_table(cone, tmp_path):
    from gpu_mc.io.partitions import write_partitions
    from gpu_mc.io.run_input import read_run_input

    d, sky, _ = cone
    host = {k: v for k, v in sky.items() if k not in TRUTH_COLUMNS}
    write_partitions(host, tmp_path / "parts", 4)
    target = Config().target
    a = read_run_input(tmp_path / "parts", target)
    b = read_run_input(d / "cone.parquet", target)
    assert a.record["kind"] == "partitions" and a.record["n_files"] >= 2
    order = np.argsort(a.table["source_id"])
    np.testing.assert_array_equal(a.table["source_id"][order], np.sort(b.table["source_id"]))
    back = np.argsort(b.table["source_id"])
    np.testing.assert_array_equal(a.table["pmra"][order], b.table["pmra"][back])


def test_hats_input_is_read_within_the_cone(cone, tmp_path):
    pytest.importorskip("hats")
    from gpu_mc.io.hats import write_hats
    from gpu_mc.io.run_input import read_run_input, reread_input

    _, sky, _ = cone
    host = {k: v for k, v in sky.items() if k not in TRUTH_COLUMNS}
    write_hats(host, tmp_path / "hats", max_rows=5000)
    target = Config().target
    got = read_run_input(tmp_path / "hats", target)
    assert got.record["kind"] == "hats" and got.record["n_rows"] == N  # the mock lies in the cone
    assert set(got.table["source_id"]) == set(sky["source_id"])
    again = reread_input(got.record, target)
    np.testing.assert_array_equal(again["source_id"], got.table["source_id"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--catalogue", "x.parquet"], "only with --input"),
        (["--mw-simulation", "x.parquet"], "only with --input"),
    ],
)
def test_input_only_options_refused_for_the_mock(args, message, tmp_path, capsys):
    assert run_cli(["run", *args, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_mock_options_refused_with_input(cone, tmp_path, capsys):
    d, _, _ = cone
    status = run_cli(
        ["run", "--input", str(d / "cone.parquet"), "--n-stars", "10", "--out", str(tmp_path / "o")]
    )
    assert status == 2 and "only for the mock sky" in capsys.readouterr().err


def test_input_run_with_the_mc_class_drawn_from_the_model(cone):
    d, _, _ = cone
    (d / "model.toml").write_text(FAST + 'members = 1\n[sample]\nmc_selection = "model"\n')
    out = d / "run_model"
    args = ["run", "--input", str(d / "cone.parquet"), "--config", str(d / "model.toml")]
    status = run_cli([*args, "--backend", "cpu", "--out", str(out), "--quiet"])
    assert status == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["sources"]["mc_class"] == "drawn from the target's built-in model"
    assert m["n_scored"] == N
    # The MC class is the draw (the built-in model's expected members of an N-star cone),
    # not stars of the input: balancing kept keep_prob of it.
    n_mc = sum(part["mc"] for part in m["training"]["counts"].values())
    expected = m["training"]["keep_prob"]["mc"] * round(N * 0.60)
    assert abs(n_mc - expected) < 5 * expected**0.5
