"""The summary table `gpu-mc run` prints: sample sizes, AUCs, completeness and purity."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from gpu_mc.report.robustness import print_mc_class, print_robustness
from gpu_mc.thresholds import SAMPLE_NAMES


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def print_summary(metrics: dict[str, Any], console: Console | None = None) -> None:
    """Print the run summary (sizes, AUCs, thresholds, truth per G bin, baseline).

    Parameters
    ----------
    metrics : dict
        The content of ``metrics.json``.
    console : rich.console.Console, optional
    """
    console = console or Console(width=max(112, Console().width))
    sky = "mock sky" if metrics.get("input", {}).get("kind", "mock") == "mock" else "input"
    head = Table(title=f"gpu_mc run — {metrics['cloud'].upper()} {sky} ({metrics['backend']})")
    head.add_column("quantity")
    head.add_column("value", justify="right")
    head.add_row("stars in base sample", f"{metrics['n_input']:,}")
    head.add_row("stars scored", f"{metrics['n_scored']:,}")
    head.add_row("with missing features (flagged)", f"{metrics['n_flagged']:,}")
    for i, n in enumerate(metrics.get("n_by_fallback", [])):
        head.add_row(f"  scored by fallback model {i}", f"{n:,}")
    head.add_row("test ROC AUC", f"{metrics['roc_auc']:.4f}")
    head.add_row("test PR AUC", f"{metrics['pr_auc']:.4f}")
    for k in SAMPLE_NAMES:
        label = f"{k.replace('_', '-')} sample (P ≥ {metrics['thresholds'][k]:.3f})"
        head.add_row(label, f"{metrics['samples'][k]:,}")
    head.add_row("PM/parallax baseline", f"{metrics['baseline']['n_selected']:,}")
    console.print(head)
    if metrics.get("sources"):
        where = Table(title="Where each part comes from")
        where.add_column("part")
        where.add_column("source")
        for part, source in metrics["sources"].items():
            where.add_row(part.replace("_", " "), source)
        console.print(where)
    truth = metrics.get("truth")
    if not truth:
        print_robustness(metrics, console)
        return
    bins = Table(title="Completeness C / purity P (%) against the mock truth, per G bin")
    bins.add_column("G bin")
    bins.add_column("N Cloud", justify="right")
    short = {
        "complete": "compl",
        "optimal": "opt",
        "truncated_optimal": "trunc",
        "baseline": "PM/plx",
    }
    for k in (*SAMPLE_NAMES, "baseline"):
        bins.add_column(f"{short[k]} C", justify="right")
        bins.add_column(f"{short[k]} P", justify="right")
    last = len(truth["complete"]) - 1
    for i, row in enumerate(truth["complete"]):
        label = "all" if i == last else f"{row['g_min']:g}–{row['g_max']:g}"
        cells = []
        for k in (*SAMPLE_NAMES, "baseline"):
            cells += [_num(truth[k][i]["completeness"]), _num(truth[k][i]["purity"])]
        bins.add_row(label, f"{row['n_true']:,}", *cells)
    console.print(bins)

    cmp_ = metrics["baseline"]["at_matched_completeness"]
    console.print(
        f"At the baseline's completeness ({_pct(cmp_['completeness'])}): "
        f"baseline purity {_pct(cmp_['baseline_purity'])}, NN purity {_pct(cmp_['nn_purity'])}."
    )
    g19 = truth["g_lt_19"]["optimal"]
    console.print(
        f"Optimal sample for G < 19: completeness {_pct(g19['completeness'])}, "
        f"purity {_pct(g19['purity'])}."
    )
    print_estimated(metrics, console)
    print_mc_class(metrics, console)
    print_robustness(metrics, console)


def _pm(value: float | None, error: float | None) -> str:
    if value is None or value != value:
        return "—"
    err = "" if error is None or error != error else f" ± {100 * error:.1f}"
    return f"{100 * value:.1f}{err}"


def print_estimated(metrics: dict[str, Any], console: Console) -> None:
    """Purity and completeness estimated from the probabilities alone (no truth), beside
    the mock truth where ``metrics`` has it (issue 16)."""
    est = metrics.get("estimated")
    if not est:
        return
    truth = metrics.get("truth")
    table = Table(
        title=(
            f"Estimated without truth (%): sky MC fraction "
            f"{_pm(est['mc_fraction'], est['mc_fraction_error'])}"
        )
    )
    table.add_column("sample")
    table.add_column("est. purity", justify="right")
    table.add_column("true purity", justify="right")
    table.add_column("est. completeness", justify="right")
    table.add_column("true completeness", justify="right")
    for k in (*SAMPLE_NAMES, "baseline"):
        e = est[k]
        t = truth[k][-1] if truth else {"purity": None, "completeness": None}
        table.add_row(
            k.replace("_", "-"),
            _pm(e["purity"], e["purity_error"]),
            _num(t["purity"]),
            _pm(e["completeness"], e["completeness_error"]),
            _num(t["completeness"]),
        )
    console.print(table)
    cal = metrics.get("calibration") or {}
    if "test" in cal:
        line = (
            f"Calibration ECE, test set: {cal['test']['before']['ece']:.4f} before, "
            f"{cal['test']['after']['ece']:.4f} after"
        )
        if "sky" in cal:
            line += (
                f"; mock sky: {cal['sky']['before']['ece']:.4f} before, "
                f"{cal['sky']['after']['ece']:.4f} after"
            )
        console.print(line + f". Out of the training domain: {metrics['n_out_of_domain']:,}.")
