"""Score a full LMC base sample: one Gaia parquet file, or every ``*.parquet`` in a directory.

Usage::

    python scripts/score_lmc.py INPUT --model MODEL_DIR --out OUT [--backend auto|cpu|gpu]

INPUT is a parquet file (OUT is then the scores file) or a directory (OUT is then a
directory receiving ``<name>_scores.parquet`` per input file). Train MODEL_DIR first with
``gpu-mc train``. Argument handling only; the pass is :func:`benchmarks.stages.whole_pass`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.stages import whole_pass
from gpu_mc.backend import get_backend
from gpu_mc.config import load_config
from gpu_mc.errors import GpuMcError
from gpu_mc.model.checkpoint import load_model


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, score each input file, print one line per file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="parquet file or directory of parquet files")
    parser.add_argument("--model", type=Path, required=True, help="model directory")
    parser.add_argument("--out", type=Path, required=True, help="scores file or directory")
    parser.add_argument("--backend", default="auto", choices=("auto", "cpu", "gpu"))
    parser.add_argument("--config", type=Path, default=None, help="TOML configuration")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        backend = get_backend(args.backend)
        model = load_model(args.model, device=backend.torch_device)
        if args.input.is_dir():
            inputs = sorted(args.input.glob("*.parquet"))
            if not inputs:
                parser.error(f"{args.input} holds no .parquet files")
            args.out.mkdir(parents=True, exist_ok=True)
            outputs = [args.out / f"{p.stem}_scores.parquet" for p in inputs]
        else:
            inputs, outputs = [args.input], [args.out]
        for src, dst in zip(inputs, outputs, strict=True):
            t0 = time.perf_counter()
            n = whole_pass(src, model, backend, dst, cfg)
            print(
                f"{src} → {dst}: {n:,} stars in {time.perf_counter() - t0:.2f} s on {backend.name}"
            )
    except GpuMcError as exc:
        print(f"score_lmc: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
