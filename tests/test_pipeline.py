"""The whole job through the library: acceptance figures on the mock truth, repeatability."""

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
