"""The whole job through the library: acceptance figures on the mock truth, repeatability."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from gpu_mc.backend import get_backend
from gpu_mc.config import Config
from gpu_mc.pipeline import run
from gpu_mc.progress import Reporter


def _run(tmp_path, name, **sections):
    cfg = Config().replace(**sections)
    out = tmp_path / name
    metrics = run(cfg, get_backend("cpu"), out, Reporter(enabled=False))
    return metrics, pq.read_table(out / "scores.parquet")


@pytest.fixture(scope="module")
def lmc_run(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("lmc"), "o", sky={"n_stars": 100_000})


def test_acceptance_on_mock_truth(lmc_run):
    m, _ = lmc_run
    assert m["roc_auc"] >= 0.98
    bright = m["truth"]["g_lt_19"]["optimal"]
    assert bright["purity"] >= 0.95 and bright["completeness"] >= 0.90
    cmp_ = m["baseline"]["at_matched_completeness"]
    assert cmp_["nn_purity"] > cmp_["baseline_purity"]


def test_every_star_scored_in_input_order(lmc_run):
    m, scores = lmc_run
    assert m["n_input"] == m["n_scored"] == scores.num_rows == 100_000
    from gpu_mc.sky import simulate_sky

    sky = simulate_sky(Config().replace(sky={"n_stars": 100_000}).sky)
    np.testing.assert_array_equal(scores["source_id"].to_numpy(), sky["source_id"])
    p = scores["p_mc"].to_numpy()
    assert np.all((p >= 0) & (p <= 1))
    for k in ("complete", "optimal", "truncated_optimal"):
        assert m["samples"][k] == int(scores[f"in_{k}"].to_numpy().sum())
    assert m["samples"]["complete"] >= m["samples"]["optimal"] >= m["samples"]["truncated_optimal"]


def test_truth_table_counts_are_consistent(lmc_run):
    m, scores = lmc_run
    rows = m["truth"]["optimal"]
    # the G bins cover 10 <= G < 20.5: all base-sample stars but the very brightest
    assert 0.99 * m["samples"]["optimal"] <= rows[-1]["n_selected"] <= m["samples"]["optimal"]
    assert rows[-1]["n_selected"] <= int(scores["in_optimal"].to_numpy().sum())
    assert sum(r["n_true"] for r in rows[:-1]) == rows[-1]["n_true"]


def test_same_command_twice_is_bit_identical(tmp_path):
    small = {"sky": {"n_stars": 20_000}, "train": {"max_epochs": 4}}
    _, a = _run(tmp_path, "a", **small)
    _, b = _run(tmp_path, "b", **small)
    assert a["p_mc"].to_numpy().tobytes() == b["p_mc"].to_numpy().tobytes()


def test_smc_runs(tmp_path):
    m, _ = _run(tmp_path, "smc", sky={"cloud": "smc", "n_stars": 30_000}, train={"max_epochs": 8})
    assert m["cloud"] == "smc" and m["roc_auc"] > 0.8 and m["n_scored"] == 30_000


def test_scores_carry_the_three_probabilities(lmc_run):
    m, scores = lmc_run
    p, sd, p_sky = (scores[c].to_numpy() for c in ("p_mc", "p_mc_std", "p_mc_sky"))
    for col in (p, sd, p_sky):
        assert col.dtype == np.float32 and np.all((col >= 0) & (col <= 1))
    assert m["config"]["train"]["members"] == 5 and sd.max() > 0
    # the sky is richer in MC than the 20%-MC training set: rescaling raises every p
    # strictly inside (0, 1) (p_sky/(1-p_sky) = p/(1-p) * w(1-pi)/((1-w)pi))
    inner = (p > 1e-4) & (p < 1 - 1e-4)
    assert np.all(p_sky[inner] >= p[inner])
    meta = scores.schema.metadata
    assert (
        abs(json.loads(meta[b"mc_fraction"])["mc_fraction"] - m["estimated"]["mc_fraction"]) < 1e-12
    )


def test_estimated_purity_and_completeness_match_the_truth(lmc_run):
    """Issue 16: without truth, within 0.02 (MC fraction) and 2 points (per sample) of it."""
    m, _ = lmc_run
    est, truth = m["estimated"], m["truth"]
    true_fraction = truth["complete"][-1]["n_true"] / m["n_input"]
    assert abs(est["mc_fraction"] - true_fraction) < 0.02
    for k in ("complete", "optimal", "truncated_optimal", "baseline"):
        for q in ("purity", "completeness"):
            assert abs(est[k][q] - truth[k][-1][q]) < 0.02, (k, q, est[k][q], truth[k][-1][q])
    cal = m["calibration"]
    assert 0 <= cal["test"]["after"]["ece"] < 0.05 and 0 <= cal["sky"]["before"]["ece"] < 0.05
    assert m["n_out_of_domain"] < 0.01 * m["n_input"]


def test_mc_class_drawn_from_the_target_model(tmp_path):
    m, scores = _run(
        tmp_path,
        "model",
        sky={"n_stars": 20_000},
        sample={"mc_selection": "model"},
        train={"members": 1, "max_epochs": 5},
    )
    assert m["n_scored"] == scores.num_rows == 20_000
    rep = m["mc_class"]
    assert rep["selection"] == "model"
    for name in ("error_aware", "pm_cut", "model", "both"):
        assert rep[name][-1]["n_true_mc"] == m["truth"]["optimal"][-1]["n_true"]
    # The drawn class holds no MW star; "both" represents at least what either part does.
    assert all(r["mw_share"] == 0.0 for r in rep["model"] if r["n_selected"])
    for a, b, both in zip(rep["error_aware"], rep["model"], rep["both"], strict=True):
        if a["n_true_mc"]:
            assert both["fraction_of_true_mc"] >= max(
                a["fraction_of_true_mc"], b["fraction_of_true_mc"]
            )
    # The MC class is the draw alone: as many stars as the sky's expected members.
    counts = m["training"]["counts"]
    n_mc = sum(part["mc"] for part in counts.values())
    kept = m["training"]["keep_prob"]["mc"]
    assert abs(n_mc - kept * round(20_000 * 0.60)) < 5 * (kept * 12_000) ** 0.5
