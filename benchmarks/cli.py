"""The one entry point shared by ``python -m benchmarks`` and ``gpu-mc bench``."""

from __future__ import annotations

from pathlib import Path

from benchmarks.compare import compare, format_table, load_result
from benchmarks.suite import parse_sizes, run_suite


def bench(
    sizes: str,
    backend: str,
    compare_with: list[Path] | None,
    out: Path,
    quick: bool,
) -> int:
    """Run the suite (unless two files are compared) and print any comparison.

    Parameters
    ----------
    sizes : str
        Comma-separated sizes, e.g. ``"1e5,1e6,1e7,1.8e7"``.
    backend : {"auto", "cpu", "gpu"}
        Backends to run (the CPU always runs).
    compare_with : list of Path, optional
        ``[OLD]``: run, then compare OLD with the new result; ``[OLD, NEW]``: only compare.
    out : Path
        Directory of the result files.
    quick : bool
        One repeat per stage and a small training set.

    Returns
    -------
    int
        0, or 1 when the comparison finds a regression over 10%.
    """
    if compare_with and len(compare_with) == 2:
        old_path, new_path = compare_with
    else:
        new_path = run_suite(parse_sizes(sizes), backend, out, quick)
        print(f"wrote {new_path}")
        if not compare_with:
            return 0
        old_path = compare_with[0]
    rows = compare(load_result(old_path), load_result(new_path))
    print(format_table(rows, str(old_path), str(new_path)))
    return 1 if any(r["regression"] for r in rows) else 0
