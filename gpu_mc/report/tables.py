"""HTML tables for the report, from ``metrics.json`` values of any nesting."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any


def fmt(value: Any) -> str:
    """Format one table cell: integers with thousands separators, floats to 4 digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.4g}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, Mapping | list | tuple):
        return html.escape(json.dumps(value, default=str))
    return html.escape(str(value))


def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal, or a dash."""
    return "—" if value is None else f"{100 * value:.1f}%"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    """An HTML table; cells are inserted as given (already formatted and escaped).

    Parameters
    ----------
    header : sequence of str
        Column titles (plain text; escaped here).
    rows : sequence of sequence of str
        Cell HTML, one sequence per row.
    caption : str
        Plain-text caption.
    """
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _records(rows: Sequence[Mapping[str, Any]]) -> str:
    flat = [_flatten(r) for r in rows]
    keys: list[str] = []
    for r in flat:
        keys.extend(k for k in r if k not in keys)
    return table(keys, [[fmt(r.get(k)) for k in keys] for r in flat])


def auto_table(value: Any) -> str:
    """Render a JSON value of unknown shape as tables.

    A list of objects becomes one table (a column per key, nested keys joined by dots); an
    object of scalars a
    two-column table; an object of objects of scalars one table with a row per key; any
    other object a heading per key and its value rendered recursively; a scalar its text.

    Parameters
    ----------
    value : Any
        A value decoded from JSON.

    Returns
    -------
    str
        HTML.
    """
    if isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
        return _records(value)
    if isinstance(value, Mapping):
        if all(_is_scalar(v) for v in value.values()):
            return table(
                ["quantity", "value"], [[html.escape(str(k)), fmt(v)] for k, v in value.items()]
            )
        if all(
            isinstance(v, Mapping) and all(_is_scalar(x) for x in v.values())
            for v in value.values()
        ):
            keys: list[str] = []
            for v in value.values():
                keys.extend(k for k in v if k not in keys)
            rows = [[html.escape(str(n)), *(fmt(v.get(k)) for k in keys)] for n, v in value.items()]
            return table(["", *keys], rows)
        parts = [
            f"<h4>{html.escape(str(k))}</h4>{auto_table(v)}"
            if not _is_scalar(v)
            else f"<p><b>{html.escape(str(k))}</b>: {fmt(v)}</p>"
            for k, v in value.items()
        ]
        return "".join(parts)
    return f"<p>{fmt(value)}</p>"
