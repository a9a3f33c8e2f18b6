"""Compare two benchmark JSON files stage by stage and flag regressions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: A warm median this much slower than before (as a fraction) is a regression.
REGRESSION_THRESHOLD = 0.10


def load_result(path: str | Path) -> dict[str, Any]:
    """Read a benchmark JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _timed_records(doc: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    """Warm medians keyed by (backend, size, stage), baselines and training included."""
    out = {}
    for backend, res in doc.get("results", {}).items():
        for size, stages in res.get("sizes", {}).items():
            for stage, rec in stages.items():
                out[(backend, size, stage)] = rec["warm_median_s"]
        for size, stages in res.get("baselines", {}).items():
            for stage, rec in stages.items():
                if "warm_median_s" in rec:
                    out[(backend, size, f"baseline:{stage}")] = rec["warm_median_s"]
        for key, stage in (("train", "train"), ("train_baseline", "baseline:train")):
            if key in res:
                out[(backend, str(res[key]["n"]), stage)] = res[key]["warm_median_s"]
    return out


def compare(
    old: dict[str, Any], new: dict[str, Any], threshold: float = REGRESSION_THRESHOLD
) -> list[dict[str, Any]]:
    """Rows of changes between two runs, for every (backend, size, stage) present in both.

    Parameters
    ----------
    old, new : dict
        Benchmark documents (as written by :func:`benchmarks.suite.run_suite`).
    threshold : float
        Relative slow-down above which a row is a regression (0.10 = 10%).

    Returns
    -------
    list of dict
        ``backend``, ``size``, ``stage``, ``old_s``, ``new_s``, ``change`` (new/old − 1;
        positive is slower) and ``regression`` (bool), sorted by backend, size and stage.
    """
    a, b = _timed_records(old), _timed_records(new)
    rows = []
    for key in sorted(a.keys() & b.keys(), key=lambda k: (k[0], int(k[1]), k[2])):
        change = b[key] / a[key] - 1.0 if a[key] > 0 else 0.0
        rows.append(
            {
                "backend": key[0],
                "size": int(key[1]),
                "stage": key[2],
                "old_s": a[key],
                "new_s": b[key],
                "change": change,
                "regression": change > threshold,
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]], old_name: str, new_name: str) -> str:
    """A plain-text table of :func:`compare` rows, regressions marked ``REGRESSION``."""
    lines = [
        f"old: {old_name}",
        f"new: {new_name}",
        f"{'backend':<8}{'size':>12}  {'stage':<34}{'old s':>11}{'new s':>11}{'change':>9}",
    ]
    for r in rows:
        flag = "  REGRESSION" if r["regression"] else ""
        lines.append(
            f"{r['backend']:<8}{r['size']:>12,}  {r['stage']:<34}{r['old_s']:>11.4g}"
            f"{r['new_s']:>11.4g}{r['change']:>+9.1%}{flag}"
        )
    n_reg = sum(r["regression"] for r in rows)
    lines.append(
        f"{len(rows)} timings compared, {n_reg} regression(s) over {REGRESSION_THRESHOLD:.0%}"
        if rows
        else "no timings in common"
    )
    return "\n".join(lines)
