"""The report's figures, drawn with matplotlib's Agg canvas (no pyplot, no display).

Every function takes host arrays or parts of ``metrics.json`` and returns a
:class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG. Star-level maps are binned
(2-D histograms with a logarithmic colour scale), never scatter plots, so the cost and the
file size do not grow with the number of stars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from gpu_mc.thresholds import SAMPLE_NAMES

#: Line colour and label of each sample and of the PM/parallax baseline.
STYLE: dict[str, tuple[str, str]] = {
    "complete": ("#1f77b4", "complete"),
    "optimal": ("#d62728", "optimal"),
    "truncated_optimal": ("#2ca02c", "truncated-optimal"),
    "baseline": ("#333333", "PM/parallax baseline"),
}

#: Colour map of the 2-D histograms; empty bins are left white.
DENSITY_CMAP = "magma_r"

#: Resolution of the saved PNGs (dots per inch).
DPI = 100


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> None:
    """Write ``fig`` to ``path`` as PNG at :data:`DPI`."""
    fig.savefig(path, dpi=DPI, format="png")


def _operating_point(curves: Mapping[str, Sequence[float]], threshold: float) -> int:
    """Index of the curve point that accepts ``p >= threshold`` (thresholds decrease)."""
    thr = np.asarray(curves["thresholds"])
    return max(int(np.searchsorted(-thr, -threshold, side="right")) - 1, 0)


def _threshold_label(name: str, value: float, g_max: float | None) -> str:
    label = f"{STYLE[name][1]} (P ≥ {value:.3g}"
    if name == "truncated_optimal" and g_max is not None:
        label += f", G < {g_max:g}"
    return label + ")"


def roc_pr(
    curves: Mapping[str, Sequence[float]],
    thresholds: Mapping[str, float],
    roc_auc: float,
    pr_auc: float,
    truncated_g_max: float | None = None,
) -> Figure:
    """ROC and precision-recall curves of the test set with the chosen thresholds marked.

    Parameters
    ----------
    curves : mapping
        ``metrics["curves"]``: ``thresholds`` (decreasing), ``tpr``, ``fpr``, ``precision``,
        ``recall``, each a sequence of m floats.
    thresholds : mapping of str to float
        P(MC) threshold of each sample.
    roc_auc, pr_auc : float
        Areas under the curves, for the titles.
    truncated_g_max : float, optional
        G limit of the truncated-optimal sample, for its label. That sample shares the
        optimal P threshold, so it is marked at the same point of the curves.
    """
    fig = _figure(10.0, 4.4)
    ax_roc, ax_pr = fig.subplots(1, 2)
    fpr, tpr = np.asarray(curves["fpr"]), np.asarray(curves["tpr"])
    rec, prec = np.asarray(curves["recall"]), np.asarray(curves["precision"])
    ax_roc.plot(np.r_[0.0, fpr], np.r_[0.0, tpr], color="k", lw=1.2)
    ax_roc.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
    ax_pr.plot(rec, prec, color="k", lw=1.2)
    markers = {"complete": "o", "optimal": "s", "truncated_optimal": "x"}
    for name in SAMPLE_NAMES:
        if name not in thresholds:
            continue
        k = _operating_point(curves, thresholds[name])
        colour = STYLE[name][0]
        label = _threshold_label(name, thresholds[name], truncated_g_max)
        kw = {"color": colour, "marker": markers[name], "ms": 8, "ls": "none", "mew": 2}
        ax_roc.plot(fpr[k], tpr[k], label=label, mfc="none", **kw)
        ax_pr.plot(rec[k], prec[k], mfc="none", **kw)
    ax_roc.set(
        xlabel="false-positive rate (MW accepted)",
        ylabel="true-positive rate (MC recovered)",
        title=f"ROC, test set (AUC = {roc_auc:.4f})",
        xlim=(-0.01, 1.0),
        ylim=(0.0, 1.01),
    )
    ax_pr.set(
        xlabel="recall (completeness)",
        ylabel="precision (purity)",
        title=f"Precision-recall, test set (AP = {pr_auc:.4f})",
        xlim=(0.0, 1.01),
        ylim=(max(0.0, float(np.min(prec)) - 0.05), 1.01),
    )
    zoom = ax_roc.inset_axes((0.35, 0.3, 0.6, 0.45))
    zoom.plot(fpr, tpr, color="k", lw=1.2)
    for name in SAMPLE_NAMES:
        if name in thresholds:
            k = _operating_point(curves, thresholds[name])
            zoom.plot(
                fpr[k], tpr[k], color=STYLE[name][0], marker=markers[name], ms=8, mfc="none", mew=2
            )
    top = [_operating_point(curves, t) for t in thresholds.values()]
    fmax = max(0.02, 1.5 * float(max(fpr[top], default=0.02)))
    tmin = float(np.interp(fmax * 0.02, fpr, tpr)) if fpr.size else 0.9
    zoom.set(xlim=(0, fmax), ylim=(max(0.0, tmin - 0.02), 1.005))
    zoom.tick_params(labelsize=7)
    zoom.grid(alpha=0.3)
    ax_roc.indicate_inset_zoom(zoom, edgecolor="0.5")
    ax_roc.legend(loc="lower right", fontsize=8)
    for ax in (ax_roc, ax_pr):
        ax.grid(alpha=0.3)
    return fig


def p_histogram(
    p: np.ndarray, thresholds: Mapping[str, float], truth: np.ndarray | None = None
) -> Figure:
    """Histogram of P(MC) for all stars, split by mock truth where known.

    Parameters
    ----------
    p : numpy.ndarray, float, shape (n,)
        P(MC) of every star.
    thresholds : mapping of str to float
        P(MC) threshold of each sample, drawn as vertical lines.
    truth : numpy.ndarray, shape (n,), optional
        1 for a Cloud star, 0 for MW (the mock's ``true_class``).
    """
    fig = _figure(7.5, 4.2)
    ax = fig.subplots()
    edges = np.linspace(0.0, 1.0, 51)
    ax.hist(p, bins=edges, histtype="stepfilled", color="0.85", label=f"all ({p.size:,})")
    if truth is not None:
        mc = truth == 1
        ax.hist(
            p[mc],
            bins=edges,
            histtype="step",
            lw=1.6,
            color="#d62728",
            label=f"true MC ({int(mc.sum()):,})",
        )
        ax.hist(
            p[~mc],
            bins=edges,
            histtype="step",
            lw=1.6,
            color="#1f77b4",
            label=f"true MW ({int((~mc).sum()):,})",
        )
    by_value: dict[float, list[str]] = {}
    for name in SAMPLE_NAMES:
        if name in thresholds:
            by_value.setdefault(thresholds[name], []).append(name)
    for t, names in by_value.items():
        label = " / ".join(STYLE[n][1] for n in names) + f": P ≥ {t:.3g}"
        ax.axvline(t, color=STYLE[names[0]][0], ls="--", lw=1, label=label)
    ax.set(yscale="log", xlabel="P(MC)", ylabel="stars per bin of 0.02", xlim=(0, 1))
    ax.set_title("Distribution of P(MC)")
    ax.legend(fontsize=8, loc="upper center")
    return fig


def _hist2d(ax: Any, u: np.ndarray, v: np.ndarray, edges_u: np.ndarray, edges_v: np.ndarray) -> Any:
    counts, _, _ = np.histogram2d(u, v, bins=(edges_u, edges_v))
    img = np.ma.masked_equal(counts.T, 0.0)
    vmax = max(float(counts.max()), 2.0)
    return ax.pcolormesh(
        edges_u,
        edges_v,
        img,
        cmap=DENSITY_CMAP,
        norm=LogNorm(vmin=1.0, vmax=vmax),
        rasterized=True,
    )


def density_bins(n: int, lo: int = 40, hi: int = 240) -> int:
    """Bins per axis for a 2-D histogram of n stars: about 5 stars per bin, in [lo, hi]."""
    return int(np.clip(np.sqrt(max(n, 1) / 5.0), lo, hi))


def panels(
    u: np.ndarray,
    v: np.ndarray,
    selections: Sequence[tuple[str, np.ndarray]],
    limits_u: tuple[float, float],
    limits_v: tuple[float, float],
    labels: tuple[str, str],
    suptitle: str,
    invert_v: bool = False,
    panel_size: float = 3.6,
) -> Figure:
    """A row of 2-D histograms of (u, v), one per selection, on a common grid.

    Parameters
    ----------
    u, v : numpy.ndarray, float, shape (n,)
        Coordinates of every star (non-finite values are left out).
    selections : sequence of (str, numpy.ndarray of bool, shape (n,))
        Panel title and the stars it shows.
    limits_u, limits_v : (float, float)
        Axis ranges, in the units of u and v.
    labels : (str, str)
        Axis labels.
    suptitle : str
        Title of the whole figure.
    invert_v : bool
        Draw v increasing downwards (magnitudes).
    panel_size : float
        Width of one panel, inches.
    """
    ok = np.isfinite(u) & np.isfinite(v)
    n_max = max(int((ok & m).sum()) for _, m in selections)
    nb = density_bins(n_max)
    eu = np.linspace(*limits_u, nb + 1)
    ev = np.linspace(*limits_v, nb + 1)
    fig = _figure(panel_size * len(selections) + 0.6, panel_size + 0.5)
    axes = np.atleast_1d(fig.subplots(1, len(selections), sharex=True, sharey=True))
    for ax, (title, mask) in zip(axes, selections, strict=True):
        m = ok & mask
        mesh = _hist2d(ax, u[m], v[m], eu, ev)
        ax.set_title(f"{title}\n{int(m.sum()):,} stars", fontsize=10)
        ax.set_xlabel(labels[0])
        fig.colorbar(mesh, ax=ax, shrink=0.85, pad=0.01, label="stars per bin")
    axes[0].set_ylabel(labels[1])
    axes[0].set_xlim(*limits_u)
    axes[0].set_ylim(*(limits_v[::-1] if invert_v else limits_v))
    fig.suptitle(suptitle)
    return fig


def completeness_purity(truth: Mapping[str, Sequence[Mapping[str, Any]]]) -> Figure:
    """Completeness and purity against G for the NN samples and the PM/parallax baseline.

    Parameters
    ----------
    truth : mapping
        ``metrics["truth"]``: for each sample and ``baseline``, the rows of
        :func:`gpu_mc.thresholds.completeness_purity_by_bin` (``g_min``, ``g_max``,
        ``n_selected``, ``completeness``, ``purity``), one per G bin, then one over all bins,
        which is not drawn. Bins where a selection holds no star (the truncated-optimal
        sample beyond its G limit) are left out.
    """
    fig = _figure(10.0, 4.2)
    ax_c, ax_p = fig.subplots(1, 2, sharex=True)
    for name in (*SAMPLE_NAMES, "baseline"):
        rows = truth.get(name)
        if not rows:
            continue
        rows = rows[:-1]
        lo = np.array([r["g_min"] for r in rows], dtype=float)
        hi = np.array([r["g_max"] for r in rows], dtype=float)
        colour, label = STYLE[name]
        ls = "--" if name == "baseline" else "-"
        empty = np.array([r.get("n_selected", 1) == 0 for r in rows])
        for ax, key in ((ax_c, "completeness"), (ax_p, "purity")):
            val = np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
            val[empty] = np.nan
            ax.stairs(
                val, np.r_[lo, hi[-1]], baseline=None, color=colour, ls=ls, lw=1.6, label=label
            )
    for ax, key in ((ax_c, "Completeness"), (ax_p, "Purity")):
        ax.set(xlabel="G (mag)", ylabel=key.lower(), title=f"{key} against G (mock truth)")
        ax.grid(alpha=0.3)
    ax_c.legend(fontsize=8, loc="lower left")
    return fig


def reliability(p: np.ndarray, truth: np.ndarray, n_bins: int = 20) -> Figure:
    """Reliability diagram: observed fraction of true Cloud stars against predicted P(MC).

    Parameters
    ----------
    p : numpy.ndarray, float, shape (n,)
        P(MC) of every star.
    truth : numpy.ndarray, shape (n,)
        1 for a Cloud star, 0 for MW.
    n_bins : int
        Equal-width bins in P(MC).
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    n = np.bincount(idx, minlength=n_bins).astype(float)
    k = np.bincount(idx, weights=(truth == 1).astype(float), minlength=n_bins)
    mean_p = np.bincount(idx, weights=p, minlength=n_bins)
    has = n > 0
    frac = np.divide(k, n, out=np.full(n_bins, np.nan), where=has)
    mean_p = np.divide(mean_p, n, out=np.full(n_bins, np.nan), where=has)
    err = np.sqrt(np.divide(frac * (1 - frac), n, out=np.zeros(n_bins), where=has))
    ece = float(np.nansum(n * np.abs(frac - mean_p)) / n.sum())

    fig = _figure(6.0, 6.0)
    ax, ax_n = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", label="perfectly calibrated")
    ax.errorbar(
        mean_p[has],
        frac[has],
        yerr=err[has],
        marker="o",
        color="#d62728",
        ms=4,
        lw=1.2,
        capsize=2,
        label=f"NN (ECE = {ece:.3f})",
    )
    ax.set(ylabel="observed fraction of true MC stars", xlim=(0, 1), ylim=(-0.02, 1.02))
    ax.set_title("Reliability of P(MC) on the mock sky")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    ax_n.stairs(np.where(has, n, np.nan), edges, color="k", fill=True, alpha=0.3)
    ax_n.set(yscale="log", xlabel="predicted P(MC)", ylabel="stars")
    return fig


def pm_limits(mu_x: np.ndarray, mu_y: np.ndarray, half_max: float = 12.0) -> tuple[float, ...]:
    """Square proper-motion window about the median holding 99% of the stars in each axis.

    The half-width is the larger 99th percentile of |mu - median| of the two axes, kept
    within [1, half_max] mas/yr.

    Returns
    -------
    (x_lo, x_hi, y_lo, y_hi) : tuple of float
        In mas/yr.
    """
    ok = np.isfinite(mu_x) & np.isfinite(mu_y)
    cx, cy = np.median(mu_x[ok]), np.median(mu_y[ok])
    qx = np.percentile(np.abs(mu_x[ok] - cx), 99.0)
    qy = np.percentile(np.abs(mu_y[ok] - cy), 99.0)
    h = float(min(max(qx, qy, 1.0), half_max))
    return (cx - h, cx + h, cy - h, cy + h)


def los_velocity(
    v: np.ndarray,
    panels: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
    v_cloud: float,
    cloud: str,
) -> Figure:
    """Histograms of the line-of-sight velocity of the stars that have one.

    Parameters
    ----------
    v : numpy.ndarray, float, shape (n,)
        Heliocentric line-of-sight velocity, km/s; NaN where there is none (left out).
    panels : sequence of (title, curves)
        One panel each; ``curves`` is a sequence of (label, bool mask of shape (n,)), drawn
        as step histograms, the first in the Cloud's colour and the second in the MW's.
    v_cloud : float
        The Cloud's systemic line-of-sight velocity, km/s, drawn as a dotted line.
    cloud : str
        Cloud name for the title.
    """
    has = np.isfinite(v)
    lo, hi = np.percentile(v[has], [0.5, 99.5])
    lo = max(np.floor(min(lo, v_cloud - 100.0) / 10.0) * 10.0, -600.0)
    hi = min(np.ceil(max(hi, v_cloud + 100.0) / 10.0) * 10.0, 900.0)
    edges = np.arange(lo, hi + 10.0, 10.0)
    fig = _figure(5.0 * len(panels), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    colours = ("#d62728", "#1f77b4")
    for ax, (title, curves) in zip(axes, panels, strict=True):
        for (label, mask), colour in zip(curves, colours, strict=False):
            sel = v[has & mask]
            med = f", median {np.median(sel):.0f} km/s" if sel.size else ""
            ax.hist(
                sel,
                bins=edges,
                histtype="step",
                lw=1.6,
                color=colour,
                label=f"{label} ({sel.size:,}{med})",
            )
        ax.axvline(v_cloud, color="0.3", ls=":", lw=1, label=f"{cloud} systemic {v_cloud:g} km/s")
        ax.set(xlabel="line-of-sight velocity (km/s)", title=title, yscale="log")
        ax.legend(fontsize=7.5, loc="upper right")
        ax.grid(alpha=0.3)
    top = axes[0].get_ylim()[1]
    axes[0].set_ylim(0.7, top * 8.0)
    axes[0].set_ylabel("stars per 10 km/s")
    return fig


def spread(p: np.ndarray, p_std: np.ndarray, n_bins: int = 80) -> Figure:
    """Ensemble spread ``p_mc_std`` against ``p_mc`` (log-scaled star density).

    Parameters
    ----------
    p, p_std : numpy.ndarray, float, shape (n,)
        Ensemble mean and standard deviation of P(MC) of every star.
    n_bins : int
        Bins per axis.
    """
    fig = _figure(6.0, 4.6)
    ax = fig.subplots()
    top = max(float(np.max(p_std)), 1e-3)
    h, xe, ye = np.histogram2d(p, p_std, bins=(n_bins, n_bins), range=((0, 1), (0, top)))
    mesh = ax.pcolormesh(xe, ye, np.where(h > 0, h, np.nan).T, norm="log", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="stars")
    ax.set(xlabel="p_mc (ensemble mean)", ylabel="p_mc_std (spread over members)")
    ax.set_title("How much the ensemble members disagree")
    return fig


def estimated_vs_true(
    estimated: Mapping[str, Any], truth: Mapping[str, Sequence[Mapping[str, Any]]] | None
) -> Figure:
    """Purity and completeness per G bin estimated from ``p_mc_sky`` (no truth), with 1σ
    errors, beside the mock truth (dashed) where ``truth`` is given.

    Parameters
    ----------
    estimated : mapping
        ``metrics["estimated"]``: per sample name a record with ``by_g`` rows (``g_min``,
        ``g_max``, ``purity``, ``purity_error``, ``completeness``, ``completeness_error``).
    truth : mapping or None
        ``metrics["truth"]`` (rows per G bin, then one over all bins).
    """
    fig = _figure(10.0, 4.2)
    ax_c, ax_p = fig.subplots(1, 2, sharex=True)
    for name in (*SAMPLE_NAMES, "baseline"):
        rec = estimated.get(name)
        if not rec:
            continue
        rows = rec["by_g"][:-1]  # the last row covers all bins
        mid = np.array([(r["g_min"] + r["g_max"]) / 2 for r in rows])
        empty = np.array([r.get("n_selected", 1) == 0 for r in rows])
        colour, label = STYLE[name]
        for ax, key in ((ax_c, "completeness"), (ax_p, "purity")):
            val = np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
            err = np.array(
                [np.nan if r[f"{key}_error"] is None else r[f"{key}_error"] for r in rows],
                dtype=float,
            )
            val[empty] = np.nan
            ax.errorbar(mid, val, yerr=err, color=colour, marker="o", ms=3, lw=1.2, label=label)
            if truth and truth.get(name):
                t_rows = truth[name][:-1]
                t_mid = np.array([(r["g_min"] + r["g_max"]) / 2 for r in t_rows])
                t_val = np.array(
                    [
                        np.nan if r[key] is None or r.get("n_selected", 1) == 0 else r[key]
                        for r in t_rows
                    ],
                    dtype=float,
                )
                ax.plot(t_mid, t_val, color=colour, ls="--", lw=1.0)
    for ax, key in ((ax_c, "Completeness"), (ax_p, "Purity")):
        ax.set(xlabel="G (mag)", ylabel=key.lower(), title=f"{key}: estimated (—), truth (--)")
        ax.grid(alpha=0.3)
    ax_c.legend(fontsize=8, loc="lower left")
    return fig


def calibration(records: Mapping[str, Any]) -> Figure:
    """Reliability diagrams before and after the stored calibration.

    Parameters
    ----------
    records : mapping
        ``metrics["calibration"]``: ``test`` (and, on the mock, ``sky``) with ``before`` and
        ``after`` reliability records (``confidence``, ``frequency``, ``count``, ``ece``).
    """
    parts = [k for k in ("test", "sky") if k in records]
    fig = _figure(5.0 * len(parts), 5.0)
    axes = np.atleast_1d(fig.subplots(1, len(parts)))
    for ax, part in zip(axes, parts, strict=True):
        ax.plot([0, 1], [0, 1], color="0.6", ls=":", label="perfectly calibrated")
        for key, colour in (("before", "#d62728"), ("after", "#1f77b4")):
            r = records[part][key]
            conf = np.array([np.nan if v is None else v for v in r["confidence"]], dtype=float)
            freq = np.array([np.nan if v is None else v for v in r["frequency"]], dtype=float)
            ax.plot(conf, freq, marker="o", ms=3, color=colour, label=f"{key} (ECE {r['ece']:.3f})")
        where = "test set" if part == "test" else "mock sky (rescaled to its prior)"
        ax.set(xlabel="predicted P(MC)", ylabel="observed MC fraction", xlim=(0, 1), ylim=(0, 1))
        ax.set_title(f"Calibration on the {where}")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    return fig
