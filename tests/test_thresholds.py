import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from gpu_mc.config import ThresholdsConfig
from gpu_mc.errors import GpuMcError
from gpu_mc.thresholds import (
    choose_thresholds,
    completeness_purity_by_bin,
    curves,
    pick_threshold,
    purity_at_completeness,
    sample_masks,
)


@pytest.fixture
def scored():
    rng = np.random.default_rng(3)
    y = rng.random(20000) < 0.25
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0, 1).round(3)
    return y, p


def test_auc_and_ap_match_scikit_learn(scored):
    y, p = scored
    c = curves(y, p)
    assert c.roc_auc() == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert c.average_precision() == pytest.approx(average_precision_score(y, p), abs=1e-12)
    fpr, tpr, thr = roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(c.thresholds, thr[1:])
    np.testing.assert_allclose(c.tpr, tpr[1:])
    np.testing.assert_allclose(c.fpr, fpr[1:])


def test_criteria(scored):
    y, p = scored
    c = curves(y, p)
    fpr, tpr, thr = roc_curve(y, p, drop_intermediate=False)
    k = np.argmin(fpr**2 + (1 - tpr) ** 2)
    assert pick_threshold(c, "roc_corner", 0) == pytest.approx(thr[k])
    assert pick_threshold(c, "youden", 0) == pytest.approx(thr[np.argmax(tpr - fpr)])
    assert pick_threshold(c, "fixed", 0.3) == 0.3
    f1 = [2 * (np.sum((p >= t) & y)) / (np.sum(p >= t) + y.sum()) for t in c.thresholds]
    assert pick_threshold(c, "max_f1", 0) == pytest.approx(c.thresholds[int(np.argmax(f1))])


def test_samples_and_truncation():
    cfg = ThresholdsConfig()
    p = np.array([0.005, 0.02, 0.6, 0.9, 0.95, np.nan])
    g = np.array([15.0, 16, 17, 19.6, 19.4, 15])
    thr = {"complete": 0.01, "optimal": 0.5, "truncated_optimal": 0.5}
    m = sample_masks(p, g, thr, cfg)
    assert m["complete"].tolist() == [False, True, True, True, True, False]
    assert m["optimal"].tolist() == [False, False, True, True, True, False]
    assert m["truncated_optimal"].tolist() == [False, False, True, False, True, False]


def test_choose_thresholds_uses_config(scored):
    y, p = scored
    t = choose_thresholds(curves(y, p), ThresholdsConfig(complete_value=0.05))
    assert t["complete"] == 0.05 and t["optimal"] == t["truncated_optimal"]


def test_completeness_purity_closed_form():
    g = np.array([14.0, 14.5, 16.0, 16.2, 18.0, 22.0])
    truth = np.array([1, 1, 1, 0, 1, 1], bool)
    sel = np.array([1, 0, 1, 1, 0, 1], bool)
    rows = completeness_purity_by_bin(sel, truth, g, (10.0, 15.0, 17.0, 20.5))
    assert [r["n_true"] for r in rows] == [2, 1, 1, 4]
    assert rows[0]["completeness"] == 0.5 and rows[0]["purity"] == 1.0
    assert rows[1]["purity"] == 0.5
    assert rows[2]["n_selected"] == 0 and rows[2]["purity"] is None
    assert rows[3]["completeness"] == 0.5


def test_purity_at_completeness():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    truth = np.array([1, 0, 1, 1, 0], bool)
    r = purity_at_completeness(p, truth, 2 / 3)
    assert r["n_selected"] == 3 and r["purity"] == pytest.approx(2 / 3)
    assert r["threshold"] == 0.7


def test_curves_refuse_non_finite_scores(scored):
    y, p = scored
    p = p.copy()
    p[[3, 8]] = [np.nan, np.inf]
    with pytest.raises(GpuMcError, match="2 of"):
        curves(y, p)
