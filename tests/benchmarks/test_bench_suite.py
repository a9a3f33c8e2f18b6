"""The benchmark suite: a tiny CPU run, the comparison of results, and the sklearn oracle."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from benchmarks import baselines
from benchmarks.__main__ import main as bench_main
from benchmarks.compare import compare, format_table
from benchmarks.suite import parse_sizes, run_suite
from gpu_mc.config import FEATURE_NAMES
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.network import MLP
from gpu_mc.model.score import score_table

STAGES = ("load", "features", "score", "thresholds", "pass")
RECORD_KEYS = {
    "n",
    "cold_s",
    "warm_median_s",
    "warm_min_s",
    "warm_max_s",
    "spread",
    "repeats",
    "stars_per_s",
    "gb_per_s",
    "peak_rss_bytes",
    "rss_growth_bytes",
    "peak_device_bytes",
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    path = run_suite([20_000], "cpu", out, quick=True, log=lambda _: None)
    return path, json.loads(path.read_text())


def test_tiny_run_writes_documented_json(tiny_run):
    path, doc = tiny_run
    assert path.name.endswith("_cpu.json")
    assert doc["schema"] == "gpu_mc-bench/1" and doc["backends"] == ["cpu"]
    env = doc["environment"]
    assert env["device"] == env["cpu_model"] and env["gpu"] is None
    assert env["libraries"]["torch"] and env["libraries"]["numpy"]
    cpu = doc["results"]["cpu"]
    for stage in STAGES:
        rec = cpu["sizes"]["20000"][stage]
        assert RECORD_KEYS <= rec.keys()
        assert rec["n"] == 20_000 and rec["cold_s"] > 0 and rec["warm_median_s"] > 0
        assert rec["peak_rss_bytes"] > 0 and rec["peak_device_bytes"] == 0
    assert cpu["sizes"]["20000"]["load"]["gb_per_s"] > 0
    base = cpu["baselines"]["20000"]
    for name in ("load_pyarrow", "features_numpy", "score_torch_plain", "score_sklearn"):
        assert base[name]["cold_s"] is None and base[name]["warm_median_s"] > 0
    ratios = cpu["ratios"]["20000"]
    assert ratios["score_vs_torch_plain"] > 0 and ratios["score_vs_sklearn"] > 0
    assert cpu["checks"]["20000"]["max_abs_dp_vs_sklearn"] < 1e-5
    assert cpu["checks"]["20000"]["max_abs_dp_vs_torch_plain"] < 1e-5
    assert cpu["train"]["epochs"] == 2 and cpu["train_vs_torch_dataloader"] > 0
    assert {"cpu_score_stars_per_s", "cpu_pass_peak_rss_bytes"} <= doc["targets"].keys()
    assert "gpu_vs_cpu" not in doc
    # the ensemble's scoring cost, K = 5 against K = 1 (issue 16)
    ens = {(r["members"], r["method"]): r for r in doc["ensemble"]["results"]}
    assert {(1, "score_ensemble"), (5, "score_ensemble"), (1, "score_table")} <= ens.keys()
    assert all(r["n"] == 20_000 and r["warm_s"] > 0 for r in ens.values())
    assert ens[(1, "score_ensemble")]["ratio_to_k1"] == 1.0


def test_torch_compile_is_weighed_against_the_eager_forward(tiny_run):
    rec = tiny_run[1]["results"]["cpu"]["compile"]
    if "skipped" in rec:
        pytest.skip(rec["skipped"])
    eager, compiled = rec["eager"], rec["compiled"]
    assert eager["n"] == compiled["n"] == 20_000
    assert compiled["cold_s"] > compiled["warm_median_s"] > 0  # the first call compiles
    assert 0 <= compiled["max_abs_dp_vs_eager"] < 1e-5
    faster = compiled["warm_median_s"] < eager["warm_median_s"]
    assert compiled["keep"] is faster


def _slowed(doc: dict, factor: float) -> dict:
    new = copy.deepcopy(doc)
    new["results"]["cpu"]["sizes"]["20000"]["score"]["warm_median_s"] *= factor
    return new


def test_compare_flags_a_20_percent_regression_only(tiny_run):
    _, doc = tiny_run
    flagged = {(r["stage"], r["regression"]) for r in compare(doc, _slowed(doc, 1.20))}
    assert ("score", True) in flagged
    assert not any(reg for stage, reg in flagged if stage != "score")
    assert not any(r["regression"] for r in compare(doc, _slowed(doc, 1.05)))
    table = format_table(compare(doc, _slowed(doc, 1.20)), "old", "new")
    assert "REGRESSION" in table and "+20.0%" in table


def test_command_line_compare_exit_status(tiny_run, tmp_path, capsys):
    path, doc = tiny_run
    slow, fine = tmp_path / "slow.json", tmp_path / "fine.json"
    slow.write_text(json.dumps(_slowed(doc, 1.20)))
    fine.write_text(json.dumps(_slowed(doc, 1.05)))
    assert bench_main(["--compare", str(path), str(slow)]) == 1
    assert "REGRESSION" in capsys.readouterr().out
    assert bench_main(["--compare", str(path), str(fine)]) == 0


def test_parse_sizes():
    assert parse_sizes("1.8e7, 1e5,1e5") == [100_000, 18_000_000]
    with pytest.raises(ValueError):
        parse_sizes("1.5")


def test_sklearn_baseline_matches_our_score_on_the_same_weights(gaia_table):
    torch.manual_seed(3)
    net = MLP(len(FEATURE_NAMES), (64, 64, 32)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    rng = np.random.default_rng(0)
    model = TrainedModel(net, FEATURE_NAMES, rng.normal(0, 1, 11), rng.uniform(0.5, 2, 11), "lmc")
    ours, _ = score_table(gaia_table, model)
    clf = baselines.sklearn_classifier(model)
    theirs = baselines.sklearn_score(gaia_table, model, clf)
    assert 0.01 < ours.std() and np.max(np.abs(ours - theirs)) < 1e-5
    assert np.max(np.abs(ours - baselines.torch_plain_score(gaia_table, model))) < 1e-5


def test_numpy_features_match_the_fused_kernel(gaia_table):
    from gpu_mc.features import features

    t = dict(gaia_table)
    t["pmra_pmdec_corr"] = t["pmra_pmdec_corr"].copy()
    t["pmra_pmdec_corr"][:5] = np.nan
    model = TrainedModel(MLP(11, (8,)), FEATURE_NAMES, np.zeros(11), np.ones(11), "lmc")
    x, flags = baselines.numpy_features(t, model)
    x_ref, flags_ref = features(t, "lmc", FEATURE_NAMES, model.mean, model.scale)
    np.testing.assert_allclose(x, x_ref, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(flags, flags_ref)
