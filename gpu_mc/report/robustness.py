"""The robustness table of a run (see :mod:`gpu_mc.robustness`) as a rich table and Markdown."""

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
