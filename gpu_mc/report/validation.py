"""Printing and Markdown rendering of a validation result (recovery, contamination, baseline).

Input is the JSON-able dictionary of :func:`gpu_mc.validate.mock.validate_mock` (or of
``gpu-mc validate``, which holds only ``recovery``); the recovery table is laid out like the
papers': one row per selection, one column per catalogue headed by its number of matched
stars, cells "kept (percentage)".
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from gpu_mc.validate.recovery import SELECTION_LABELS


def _int(n: int) -> str:
    """Integer with thin groups as in the papers' tables: 4 467."""
    return f"{n:,}".replace(",", " ")


def _pct(v: float | None) -> str:
    """A percentage (already × 100)."""
    return "—" if v is None else f"{v:.1f}%"


def _frac(v: float | None) -> str:
    """A fraction in [0, 1] as a percentage."""
    return "—" if v is None else f"{100 * v:.1f}%"


def _selection_keys(recovery: list[dict[str, Any]]) -> list[str]:
    return list(recovery[0]["classified"]) if recovery else []


def _cloud(validation: dict[str, Any]) -> str:
    cloud = validation.get("cloud")
    return cloud.upper() if cloud else "Cloud"


def _recovery_cells(recovery: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Column headings and rows (selection label first) of the recovery table."""
    heads = [f"{c['label']} ({_int(c['n_matched'])})" for c in recovery]
    rows = []
    for key in _selection_keys(recovery):
        cells = [SELECTION_LABELS.get(key, key)]
        for c in recovery:
            got = c["classified"][key]
            cells.append(f"{_int(got['n'])} ({_pct(got['percent'])})")
        rows.append(cells)
    return heads, rows


def _contamination_cells(contamination: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Column headings and rows of the contamination table."""
    heads = ["selection", "stars", "field accepted", "expected MW", "estimate", "mock truth"]
    rows = []
    for key, r in contamination["selections"].items():
        est = (
            "—"
            if r["estimate"] is None
            else f"{100 * r['estimate']:.2f} ± {100 * r['estimate_err']:.2f}%"
        )
        truth = r.get("truth")
        rows.append(
            [
                SELECTION_LABELS.get(key, key),
                _int(r["n_sample"]),
                _int(r["field_accepted"]),
                f"{_int(round(r['expected_mw']))} ± {_int(round(r['expected_mw_err']))}",
                est,
                "—" if truth is None else f"{100 * truth:.2f}% ({_int(r['true_mw'])})",
            ]
        )
    return heads, rows


def _match_notes(recovery: list[dict[str, Any]]) -> list[str]:
    """One line per catalogue whose rows did not all match distinct scored stars."""
    return [
        f"{c['label']}: {_int(c['n_rows'])} rows, {_int(c['n_matched'])} scored stars matched, "
        f"{_int(c['n_repeat_pairs'])} repeated matches."
        for c in recovery
        if c["n_rows"] != c["n_matched"] or c["n_repeat_pairs"]
    ]


def _field_note(contamination: dict[str, Any]) -> str:
    field = contamination["field"]
    return (
        f"Comparison field: {_int(field['n_stars'])} MW stars over {field['area_deg2']:.0f} deg² "
        f"(cone {contamination['cone_area_deg2']:.0f} deg²); estimate = accepted field stars "
        "per deg² × cone area / sample size."
    )


def _baseline_note(b: dict[str, Any]) -> str:
    return (
        f"PM/parallax baseline: {_int(b['n_selected'])} stars, completeness "
        f"{_frac(b['completeness'])}, purity {_frac(b['purity'])}"
        f" on the mock truth. NN at the same completeness (P ≥ {b['nn_threshold']:.3f}): "
        f"{_int(b['nn_n_selected'])} stars, completeness {_frac(b['nn_completeness'])}, "
        f"purity {_frac(b['nn_purity'])}."
    )


def print_validation(validation: dict[str, Any], console: Console | None = None) -> None:
    """Print the recovery table, contamination estimate and baseline comparison.

    Parameters
    ----------
    validation : dict
        Output of :func:`gpu_mc.validate.mock.validate_mock`, or any dict with a
        ``recovery`` list (``contamination`` and ``baseline`` are printed when present).
    console : rich.console.Console, optional
        Where to print (default: a new console at least 112 columns wide).
    """
    console = console or Console(width=max(112, Console().width))
    heads, rows = _recovery_cells(validation["recovery"])
    how = "source_id" if validation.get("by", "source_id") == "source_id" else "position"
    table = Table(
        title=f"Stars classified as {_cloud(validation)}",
        caption=f"Catalogues matched by {how}; in brackets: their stars matched.",
    )
    table.add_column("selection")
    for h in heads:
        table.add_column(h, justify="right")
    for r in rows:
        table.add_row(*r)
    console.print(table)
    for line in _match_notes(validation["recovery"]):
        console.print(line)

    contamination = validation.get("contamination")
    if contamination is not None:
        heads, rows = _contamination_cells(contamination)
        table = Table(title="Milky Way contamination: comparison-field estimate vs mock truth")
        for i, h in enumerate(heads):
            table.add_column(h, justify="left" if i == 0 else "right")
        for r in rows:
            table.add_row(*r)
        console.print(table)
        console.print(_field_note(contamination))
    baseline = validation.get("baseline")
    if baseline is not None:
        console.print(_baseline_note(baseline))


def _markdown_table(heads: list[str], rows: list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(heads) + " |",
        "|" + "|".join(["---", *["---:"] * (len(heads) - 1)]) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def validation_markdown(validation: dict[str, Any]) -> str:
    """Render a validation result as Markdown.

    Parameters
    ----------
    validation : dict
        As for :func:`print_validation`.

    Returns
    -------
    str
        A recovery table in the papers' layout, then (when present) the contamination table
        and the baseline comparison; ends with a newline.
    """
    heads, rows = _recovery_cells(validation["recovery"])
    lines = [
        "## Recovery of known catalogues",
        "",
        *_markdown_table([f"Stars classified as {_cloud(validation)}", *heads], rows),
        "",
        "In brackets after each catalogue: its stars matched to the scored stars; in each "
        "cell: those in the selection and their percentage.",
    ]
    notes = _match_notes(validation["recovery"])
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]
    contamination = validation.get("contamination")
    if contamination is not None:
        heads, rows = _contamination_cells(contamination)
        lines += ["", "## Milky Way contamination", "", *_markdown_table(heads, rows), ""]
        lines.append(_field_note(contamination))
    baseline = validation.get("baseline")
    if baseline is not None:
        lines += ["", "## Baseline at matched completeness", "", _baseline_note(baseline)]
    return "\n".join(lines) + "\n"
