"""Benchmark suite of gpu_mc: stage timings, baselines, memory and ratios as JSON.

Run ``python -m benchmarks`` or ``gpu-mc bench``; see ``benchmarks/README.md``.
"""

from benchmarks.compare import compare, format_table, load_result
from benchmarks.suite import DEFAULT_SIZES, parse_sizes, run_suite

__all__ = ["DEFAULT_SIZES", "compare", "format_table", "load_result", "parse_sizes", "run_suite"]
