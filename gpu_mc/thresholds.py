"""ROC and precision-recall curves, named threshold criteria, and the three samples.

Everything works on NumPy or CuPy arrays (sorts and binary searches on the device); only
the handful of scalars that define a threshold are brought to the host.

Our reading of the papers (Jiménez-Arranz et al. 2023a, b): the "complete" sample keeps
every star with a low P(MC) (0.01 by default), the "optimal" sample uses the threshold of
the ROC point nearest the perfect classifier (FPR, TPR) = (0, 1), and the
"truncated-optimal" sample is the optimal one restricted to G < 19.5. All are configurable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gpu_mc.backend import array_namespace, bincount, to_host
from gpu_mc.config import ThresholdsConfig
from gpu_mc.errors import GpuMcError

SAMPLE_NAMES = ("complete", "optimal", "truncated_optimal")


@dataclass(frozen=True)
class Curves:
    """ROC and PR curves of a binary classifier, on the arrays' device.

    Attributes
    ----------
    thresholds : array, shape (m,)
        Distinct scores in decreasing order; point k accepts ``p >= thresholds[k]``.
    tpr, fpr : array, shape (m,)
        True- and false-positive rates at each threshold.
    precision, recall : array, shape (m,)
        Precision and recall (= tpr) at each threshold.
    n_pos, n_neg : int
        Number of positives and negatives.
    """

    thresholds: Any
    tpr: Any
    fpr: Any
    precision: Any
    recall: Any
    n_pos: int
    n_neg: int

    def roc_auc(self) -> float:
        """Area under the ROC curve (trapezoidal, from (0, 0) to (1, 1))."""
        xp = array_namespace(self.fpr)
        fpr = xp.concatenate([xp.zeros(1), self.fpr])
        tpr = xp.concatenate([xp.zeros(1), self.tpr])
        return float(xp.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0))

    def average_precision(self) -> float:
        """Area under the PR curve as average precision: Σ (R_k − R_{k−1}) P_k."""
        xp = array_namespace(self.recall)
        recall = xp.concatenate([xp.zeros(1), self.recall])
        return float(xp.sum((recall[1:] - recall[:-1]) * self.precision))

    def to_host(self, max_points: int = 2000) -> dict[str, list[float]]:
        """Down-sampled host copy for JSON and plots."""
        m = int(self.thresholds.shape[0])
        idx = np.unique(np.linspace(0, m - 1, min(m, max_points)).astype(np.int64))
        xp = array_namespace(self.thresholds)
        take = xp.asarray(idx)
        return {
            k: [float(v) for v in to_host(getattr(self, k)[take])]
            for k in ("thresholds", "tpr", "fpr", "precision", "recall")
        }


def curves(y_true: Any, p: Any) -> Curves:
    """Compute ROC and PR curves.

    Parameters
    ----------
    y_true : array of bool or int, shape (n,)
        1 for the positive class (Cloud member).
    p : array of float, shape (n,)
        Scores; non-finite scores are not allowed.

    Returns
    -------
    Curves
    """
    xp = array_namespace(p)
    y = xp.asarray(y_true).astype(bool)
    p = xp.asarray(p)
    n = int(p.shape[0])
    n_pos = int(y.sum())
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        raise GpuMcError(f"ROC needs both classes; got {n_pos} positives and {n_neg} negatives")
    n_bad = int((~xp.isfinite(p)).sum())
    if n_bad:
        raise GpuMcError(f"ROC needs finite scores; {n_bad} of {n} are NaN or infinite")
    # Two value sorts and a search instead of an argsort and gathers (about 3x faster on
    # the CPU at 18M stars): with the scores in decreasing order, the last star of each run
    # of equal scores closes a curve point; the number of stars with p >= t is its position
    # + 1, and the number of positives with p >= t comes from the sorted positive scores.
    ps = xp.sort(p)[::-1]
    last = xp.concatenate([ps[1:] != ps[:-1], xp.ones(1, dtype=bool)])
    thr = ps[last]
    n_accepted = (xp.flatnonzero(last) + 1).astype(xp.float64)
    positives = xp.sort(p[y])
    tp = (n_pos - xp.searchsorted(positives, thr[::-1], side="left")[::-1]).astype(xp.float64)
    tpr = tp / n_pos
    return Curves(
        thresholds=thr,
        tpr=tpr,
        fpr=(n_accepted - tp) / n_neg,
        precision=tp / n_accepted,
        recall=tpr,
        n_pos=n_pos,
        n_neg=n_neg,
    )


def pick_threshold(c: Curves, criterion: str, value: float) -> float:
    """Return the score threshold of a named criterion.

    Parameters
    ----------
    c : Curves
        Curves on the test set.
    criterion : {"fixed", "roc_corner", "max_f1", "youden"}
        "fixed" returns ``value``; "roc_corner" the point nearest (FPR, TPR) = (0, 1);
        "max_f1" the maximum of F1 on the PR curve; "youden" the maximum of TPR − FPR.
    value : float
        Threshold used by "fixed".
    """
    xp = array_namespace(c.thresholds)
    if criterion == "fixed":
        return float(value)
    if criterion == "roc_corner":
        k = xp.argmin(c.fpr**2 + (1.0 - c.tpr) ** 2)
    elif criterion == "max_f1":
        f1 = 2 * c.precision * c.recall / (c.precision + c.recall)
        k = xp.argmax(f1)
    elif criterion == "youden":
        k = xp.argmax(c.tpr - c.fpr)
    else:
        raise GpuMcError(f"unknown threshold criterion {criterion!r}")
    return float(c.thresholds[k])


def choose_thresholds(c: Curves, cfg: ThresholdsConfig) -> dict[str, float]:
    """Thresholds of the three samples from the test-set curves.

    Returns
    -------
    dict
        ``{"complete": t_c, "optimal": t_o, "truncated_optimal": t_o}`` (P(MC) thresholds);
        the truncated-optimal sample adds ``G < cfg.truncated_g_max``.
    """
    t_complete = pick_threshold(c, cfg.complete_criterion, cfg.complete_value)
    t_optimal = pick_threshold(c, cfg.optimal_criterion, cfg.optimal_value)
    return {"complete": t_complete, "optimal": t_optimal, "truncated_optimal": t_optimal}


def sample_masks(
    p: Any, g: Any, thresholds: dict[str, float], cfg: ThresholdsConfig
) -> dict[str, Any]:
    """Boolean membership of each star in the three samples.

    Parameters
    ----------
    p : array, shape (n,)
        P(MC); NaN never passes.
    g : array, shape (n,)
        G magnitude, mag.
    thresholds : dict
        Output of :func:`choose_thresholds`.
    cfg : ThresholdsConfig

    Returns
    -------
    dict of bool arrays, shape (n,)
    """
    complete = p >= thresholds["complete"]
    optimal = p >= thresholds["optimal"]
    truncated = (p >= thresholds["truncated_optimal"]) & (g < cfg.truncated_g_max)
    return {"complete": complete, "optimal": optimal, "truncated_optimal": truncated}


def completeness_purity_by_bin(
    selected: Any, truth: Any, g: Any, edges: tuple[float, ...]
) -> list[dict[str, float | int | None]]:
    """Completeness and purity of a selection against the truth, per G bin.

    Parameters
    ----------
    selected, truth : bool arrays, shape (n,)
    g : array, shape (n,)
        G magnitude, mag.
    edges : tuple of float
        Bin edges in G; a last row covers all stars.

    Returns
    -------
    list of dict
        Per bin: ``g_min``, ``g_max``, ``n_true``, ``n_selected``, ``n_true_selected``,
        ``completeness`` and ``purity`` (None when undefined).
    """
    xp = array_namespace(g)
    e = xp.asarray(np.asarray(edges, dtype=np.float64))
    b = xp.searchsorted(e, g, side="right") - 1
    nb = len(edges) - 1
    valid = (b >= 0) & (b < nb)
    bc = xp.where(valid, b, nb)
    sel = xp.asarray(selected, dtype=bool)
    tru = xp.asarray(truth, dtype=bool)
    counts = [
        bincount(xp, bc, minlength=nb + 1, weights=w.astype(xp.float64))
        for w in (tru, sel, sel & tru)
    ]
    n_true, n_sel, n_both = (to_host(c)[:nb] for c in counts)
    rows = []
    for i in range(nb):
        rows.append(_row(edges[i], edges[i + 1], n_true[i], n_sel[i], n_both[i]))
    rows.append(_row(edges[0], edges[-1], n_true.sum(), n_sel.sum(), n_both.sum()))
    return rows


def _row(lo: float, hi: float, n_true: float, n_sel: float, n_both: float) -> dict[str, Any]:
    return {
        "g_min": float(lo),
        "g_max": float(hi),
        "n_true": int(n_true),
        "n_selected": int(n_sel),
        "n_true_selected": int(n_both),
        "completeness": float(n_both / n_true) if n_true else None,
        "purity": float(n_both / n_sel) if n_sel else None,
    }


def purity_at_completeness(p: Any, truth: Any, completeness: float) -> dict[str, float]:
    """Purity of the highest-P selection that reaches a given completeness on the truth.

    Parameters
    ----------
    p : array, shape (n,)
        P(MC); NaN rows are never selected.
    truth : bool array, shape (n,)
    completeness : float
        Target completeness in (0, 1].

    Returns
    -------
    dict
        ``threshold``, ``completeness`` reached, ``purity`` and ``n_selected``.
    """
    xp = array_namespace(p)
    pf = xp.where(xp.isfinite(p), p, -xp.inf)
    order = xp.argsort(-pf, kind="stable")  # CuPy sorts stably: ties in the same order
    t = xp.asarray(truth, dtype=xp.float64)[order]
    cum = xp.cumsum(t)
    n_true = float(cum[-1])
    k = int(xp.searchsorted(cum, xp.asarray([completeness * n_true - 1e-9]), side="left")[0])
    k = min(k, int(p.shape[0]) - 1)
    return {
        "threshold": float(pf[order[k]]),
        "completeness": float(cum[k]) / n_true,
        "purity": float(cum[k]) / (k + 1),
        "n_selected": k + 1,
    }
