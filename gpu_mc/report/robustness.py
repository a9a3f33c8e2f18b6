"""The robustness table and the MC-class representation of a run (see :mod:`gpu_mc.robustness`)
as rich tables, Markdown and HTML."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from gpu_mc.report.tables import table as html_table

#: Column headers after the scenario's.
HEADERS = ("complete", "optimal", "truncated-optimal", "PM/parallax", "opt. G < 19")

#: Columns of the table: the three samples and the baseline.
COLUMNS = ("complete", "optimal", "truncated_optimal", "baseline")

#: Row labels of the scenarios.
LABELS = {
    "matched": "matched models",
    "mismatched": "mismatched models (default)",
    "errors_x1.3": "errors x1.3 (+ noise)",
    "errors_x2": "errors x2 (+ noise)",
    "quoted_x2": "quoted errors x2 only",
}


def robustness_rows(robustness: dict[str, Any]) -> list[list[str]]:
    """One row of strings per scenario: label, C/P of each column, optimal C/P for G < 19."""
    rows = []
    for name, row in robustness["scenarios"].items():
        cells = [LABELS.get(name, name)]
        for k in COLUMNS:
            cells.append(f"{100 * row[k]['completeness']:.1f} / {100 * row[k]['purity']:.1f}")
        g19 = row["optimal"]["g_lt_19"]
        cells.append(f"{100 * g19['completeness']:.1f} / {100 * g19['purity']:.1f}")
        rows.append(cells)
    return rows


def print_robustness(metrics: dict[str, Any], console: Console) -> None:
    """Print the robustness table of ``metrics`` (nothing when the run has none)."""
    robustness = metrics.get("robustness")
    if not robustness:
        return
    table = Table(
        title=f"Robustness on a fresh mock sky (seed {robustness['seed']}): C / P (%) vs truth"
    )
    for name in ("scenario", "complete", "optimal", "truncated-optimal", "PM/plx", "opt G<19"):
        table.add_column(name, justify="left" if name == "scenario" else "right")
    for cells in robustness_rows(robustness):
        table.add_row(*cells)
    console.print(table)


def robustness_markdown(robustness: dict[str, Any]) -> str:
    """The robustness table as Markdown (for the README and the report)."""
    names = ("scenario", *HEADERS)
    head = "| " + " | ".join(n if i == 0 else f"{n} C / P" for i, n in enumerate(names)) + " |"
    lines = [head, "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cells) + " |" for cells in robustness_rows(robustness)]
    return "\n".join(lines)


def robustness_html(robustness: dict[str, Any]) -> str:
    """The robustness table as an HTML table (for the report)."""
    return html_table(
        ["scenario", *(f"{h} C / P (%)" for h in HEADERS)],
        robustness_rows(robustness),
        f"Fresh mock sky (seed {robustness['seed']}); completeness / purity against the truth",
    )


#: MC-class choices in the order they are shown (see :data:`gpu_mc.config.MC_SELECTIONS`).
MC_CLASS_LABELS = {
    "error_aware": "error-aware selection",
    "pm_cut": "PM/parallax cut",
    "model": "draw of the target's model",
    "both": "error-aware + draw",
}


def mc_class_rows(mc_class: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per G bin) of the share (%) of the true Cloud stars each MC-class
    choice represents, with its MW share in brackets."""
    names = [k for k in MC_CLASS_LABELS if k in mc_class]
    header = ["G bin", "true Cloud stars", *(MC_CLASS_LABELS[k] for k in names)]
    rows = []
    first = mc_class[names[0]]
    for i, row in enumerate(first):
        label = "all" if i == len(first) - 1 else f"{row['g_min']:g}–{row['g_max']:g}"
        cells = [label, f"{row['n_true_mc']:,}"]
        for k in names:
            r = mc_class[k][i]
            frac, mw = r["fraction_of_true_mc"], r["mw_share"]
            text = "—" if frac != frac else f"{100 * frac:.1f}"
            cells.append(text if mw != mw else f"{text} ({100 * mw:.1f})")
        rows.append(cells)
    return header, rows


def print_mc_class(metrics: dict[str, Any], console: Console) -> None:
    """Print the MC-class representation of ``metrics`` (nothing when the run has none)."""
    mc_class = metrics.get("mc_class")
    if not mc_class:
        return
    header, rows = mc_class_rows(mc_class)
    table = Table(
        title=f"True Cloud stars the MC class can represent (%; MW share of the class in "
        f"brackets); this run: {MC_CLASS_LABELS.get(mc_class['selection'], mc_class['selection'])}"
    )
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for cells in rows:
        table.add_row(*cells)
    console.print(table)


def mc_class_html(mc_class: dict[str, Any]) -> str:
    """The MC-class representation as an HTML table (for the report)."""
    header, rows = mc_class_rows(mc_class)
    chosen = MC_CLASS_LABELS.get(mc_class["selection"], mc_class["selection"])
    return html_table(
        header,
        rows,
        "Share (%) of the mock's true Cloud stars per G bin that each MC-class choice "
        "represents (a selection: the members it selects; a draw of the model: the members "
        f"inside the drawn class's range), MW share of the class in brackets. This run: {chosen}.",
    )
