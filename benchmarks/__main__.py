"""``python -m benchmarks``: run the suite and/or compare result files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.cli import bench


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and call :func:`benchmarks.cli.bench`; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--sizes", default="1e5,1e6,1e7,1.8e7", help="comma-separated sizes")
    parser.add_argument("--backend", default="auto", choices=("auto", "cpu", "gpu"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--quick", action="store_true", help="one repeat, small training set")
    parser.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar=("OLD", "NEW"),
        help="compare OLD with NEW, or with a fresh run when NEW is not given",
    )
    args = parser.parse_args(argv)
    if args.compare is not None and len(args.compare) > 2:
        parser.error("--compare takes OLD.json and optionally NEW.json")
    return bench(args.sizes, args.backend, args.compare, args.out, args.quick)


if __name__ == "__main__":
    sys.exit(main())
