"""Check a CUDA workstation: what is missing, the GPU tests, the GPU benchmark, a verdict.

Usage (from the repository root, after ``pip install torch==2.13.0 -e ".[gpu-cu13]"``)::

    python scripts/check_gpu_workstation.py [--sizes 1e5,1e6,1e7,1.8e7] [--skip-tests]
                                            [--skip-bench] [--out benchmarks/results]

1. Lists what is missing, each with the command that installs it: the GPU libraries (CuPy,
   numba-cuda, cuDF, a CUDA build of torch), dask-cuda, and the tools the later steps need
   (pytest; psutil and scikit-learn for the benchmark).
2. Says whether the GPU backend is usable, and why not.
3. Runs ``pytest --gpu -m gpu`` (the dask-cuda tests are left out, with a note, where dask-cuda
   is not installed), or says why it is skipped.
4. Runs ``python -m benchmarks --backend gpu``, which writes the JSON under ``--out`` (the
   file name gets the device's name), or says why it is skipped.
5. Ends with a verdict table: each step, and each GPU target of the benchmark suite with
   its measured value, target and whether it is met; then one ``VERDICT:`` line.

Exit status 0 only when the GPU backend is usable, every step ran and passed and every GPU
target is met; 1 otherwise (on a machine without a GPU: 1, with the reason in the verdict).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The GPU targets of the benchmark suite (``targets`` in its JSON), in table order.
GPU_TARGETS = {
    "gpu_score_stars_per_s": ("score stage, stars/s", ">="),
    "gpu_pass_warm_s": ("warm whole pass, s", "<="),
    "gpu_vs_cpu_score": ("score stage GPU/CPU", ">="),
}
#: Reduced matrix precisions whose max |Δp| against fp32 is a target (settings.precision_tolerance).
PRECISION_TARGETS = ("tf32", "bf16")


@dataclass(frozen=True)
class Requirement:
    """Something a step needs: import name, what it is for, how to install it."""

    name: str
    module: str
    needed_for: str
    install: str
    optional: bool = False


def gpu_extra() -> str:
    """``gpu-cu12`` or ``gpu-cu13``, from the CUDA version of the driver (13 when unknown)."""
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        out = subprocess.run([smi], capture_output=True, text=True).stdout
        m = re.search(r"CUDA Version:\s*(\d+)", out)
        if m and m.group(1) == "12":
            return "gpu-cu12"
    return "gpu-cu13"


def requirements(extra: str) -> list[Requirement]:
    """What the check looks for, with install commands for the driver's CUDA major."""
    if extra == "gpu-cu12":
        gpu = (
            'pip install torch==2.13.0 -e ".[gpu-cu12]" '
            "--extra-index-url https://download.pytorch.org/whl/cu128"
        )
    else:
        gpu = 'pip install torch==2.13.0 -e ".[gpu-cu13]"'
    return [
        Requirement("CuPy", "cupy", "the GPU backend", gpu),
        Requirement("numba-cuda", "numba_cuda", "the CUDA kernels", gpu),
        Requirement("cuDF", "cudf", "the device loader and joins", gpu),
        Requirement(
            "dask-cuda", "dask_cuda", "the multi-GPU test", 'pip install -e ".[dask-cuda]"', True
        ),
        Requirement("pytest", "pytest", "the GPU tests", "pip install pytest"),
        Requirement("psutil", "psutil", "the benchmark", 'pip install -e ".[bench]"'),
        Requirement("scikit-learn", "sklearn", "the benchmark", 'pip install -e ".[bench]"'),
    ]


def import_problem(module: str) -> str | None:
    """None if ``module`` imports, else 'not installed' or the import error."""
    if importlib.util.find_spec(module) is None:
        return "not installed"
    try:
        importlib.import_module(module)
    except Exception as exc:
        return f"installed but does not import ({type(exc).__name__}: {exc})"
    return None


def torch_problem() -> str | None:
    """None if torch is a CUDA build, else why not."""
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU build"
    return None


def _run(cmd: list[str]) -> int:
    print(f"$ {' '.join(cmd)}", flush=True)
    return subprocess.call(cmd, cwd=ROOT)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "gpu"


def run_benchmark(sizes: str, out: Path) -> tuple[int, Path | None]:
    """Run the GPU benchmark; return its status and the JSON it wrote (device in the name)."""
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("*.json"))
    status = _run([sys.executable, "-m", "benchmarks", "--sizes", sizes, "--backend", "gpu",
                   "--out", str(out)])  # fmt: skip
    new = sorted(set(out.glob("*.json")) - before)
    if not new:
        return status or 1, None
    path = new[-1]
    doc = json.loads(path.read_text())
    device = (doc.get("environment", {}).get("gpu") or {}).get("name")
    if device and _slug(device) not in path.name:
        named = path.with_name(f"{path.stem}_{_slug(device)}{path.suffix}")
        path = path.rename(named)
    return status, path


def verdict_rows(doc: dict | None) -> list[tuple[str, str, str, str]]:
    """(target, measured, target value, met) for each GPU target; 'not measured' without a run."""
    rows = []
    targets = (doc or {}).get("targets", {})
    for key, (label, op) in GPU_TARGETS.items():
        t = targets.get(key)
        if t is None or t.get("measured") is None:
            rows.append((label, "not measured", "", "no"))
            continue
        met = "yes" if t.get("met") else "no"
        rows.append((label, f"{t['measured']:.4g}", f"{op} {t['target']:.4g}", met))
    tolerance = (doc or {}).get("settings", {}).get("precision_tolerance")
    precision = (doc or {}).get("results", {}).get("gpu", {}).get("precision", {})
    for mode in PRECISION_TARGETS:
        label = f"{mode} max |Δp| vs fp32"
        record = precision.get(mode)
        if record is None or tolerance is None:
            rows.append((label, "not measured", "", "no"))
            continue
        dp = record["max_abs_dp_vs_fp32"]
        rows.append((label, f"{dp:.3g}", f"<= {tolerance:.3g}", "yes" if dp <= tolerance else "no"))
    return rows


def print_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def main(argv: list[str] | None = None) -> int:
    """Run the check; return the exit status (0 only if everything ran and every target met)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7,1.8e7")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--skip-bench", action="store_true")
    args = parser.parse_args(argv)

    print("== machine")
    smi = shutil.which("nvidia-smi")
    if smi is None:
        print("driver: nvidia-smi not found")
    else:
        _run([smi, "--query-gpu=index,name,driver_version,memory.total", "--format=csv"])
    extra = gpu_extra()

    print("\n== what is missing")
    problems: dict[str, str] = {}
    for req in requirements(extra):
        problem = import_problem(req.module)
        if problem is not None:
            problems[req.name] = problem
            kind = "optional, " if req.optional else ""
            print(f"MISSING {req.name} ({kind}for {req.needed_for}): {problem}\n    {req.install}")
    torch_issue = torch_problem()
    if torch_issue is not None:
        problems["torch (CUDA build)"] = torch_issue
        print(f"MISSING a CUDA build of torch: {torch_issue}\n    "
              f"{requirements(extra)[0].install}")  # fmt: skip
    if not problems:
        print("nothing")

    from gpu_mc.backend import gpu_problem

    gpu = gpu_problem()
    print(f"\n== GPU backend: {'usable' if gpu is None else 'unusable: ' + gpu}")

    steps: list[tuple[str, str, str]] = [
        ("GPU backend", "ok" if gpu is None else "FAILED", gpu or "")
    ]
    print("\n== GPU tests")
    if args.skip_tests:
        steps.append(("GPU tests", "skipped", "--skip-tests"))
    elif "pytest" in problems:
        steps.append(("GPU tests", "skipped", f"pytest {problems['pytest']}"))
    elif gpu is not None:
        steps.append(("GPU tests", "skipped", "no usable GPU"))
    else:
        cmd = [sys.executable, "-m", "pytest", "-q", "--gpu", "-m", "gpu"]
        note = ""
        if "dask-cuda" in problems:
            cmd += ["--deselect", "tests/parallel/test_cuda_cluster.py"]
            note = "dask-cuda test left out (dask-cuda not installed)"
        rc = _run(cmd)
        steps.append(("GPU tests", "ok" if rc == 0 else "FAILED", note or f"pytest exit {rc}"))
    for name, _, why in steps[1:]:
        print(f"{name}: {why}" if why else name)

    print("\n== GPU benchmark")
    doc = None
    bench_missing = [n for n in ("psutil", "scikit-learn") if n in problems]
    if args.skip_bench:
        steps.append(("GPU benchmark", "skipped", "--skip-bench"))
    elif bench_missing:
        steps.append(("GPU benchmark", "skipped", f"{', '.join(bench_missing)} not installed"))
    elif gpu is not None:
        steps.append(("GPU benchmark", "skipped", "no usable GPU"))
    elif not (ROOT / "benchmarks" / "suite.py").exists():
        steps.append(("GPU benchmark", "skipped", "needs a source checkout (benchmarks/)"))
    else:
        rc, path = run_benchmark(args.sizes, args.out)
        if path is not None:
            doc = json.loads(path.read_text())
        steps.append(("GPU benchmark", "ok" if rc == 0 and path else "FAILED", str(path or "")))
    print(steps[-1][2])

    print("\n== verdict")
    print_table(steps, ("step", "status", "note"))
    print()
    rows = verdict_rows(doc)
    print_table(rows, ("GPU target", "measured", "target", "met"))
    failed = [s[0] for s in steps if s[1] != "ok"] + [r[0] for r in rows if r[3] != "yes"]
    if gpu is not None:
        print(f"\nVERDICT: FAIL — no usable GPU ({gpu}); nothing was measured")
    elif failed:
        print(f"\nVERDICT: FAIL — {len(failed)} not done or not met: {', '.join(failed)}")
    else:
        print("\nVERDICT: PASS — GPU tests passed and every GPU target is met")
    return 0 if gpu is None and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
