"""Check a CUDA workstation, then run the GPU tests and the benchmark suite.

Usage::

    python scripts/check_gpu_workstation.py [--sizes 1e5,1e6,1e7,1.8e7] [--skip-tests]
                                            [--skip-bench] [--out benchmarks/results]

Prints the driver (``nvidia-smi``), the devices and their memory, which optional GPU
libraries import, and why the GPU backend is or is not usable; then runs
``pytest --gpu -m gpu`` and ``python -m benchmarks --backend gpu``, which writes the JSON.
Run it from the repository root. Exit status 0 only if the GPU backend is usable and every
step passed. Argument handling only; the work is done by the tools it calls.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

from gpu_mc.backend import gpu_problem

#: Optional GPU libraries and the module each one provides.
OPTIONAL_GPU_MODULES = {
    "CuPy": "cupy",
    "Numba CUDA": "numba.cuda",
    "cuDF": "cudf",
    "cuML": "cuml",
    "dask-cuda": "dask_cuda",
}


def _import_status(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:
        return f"not importable ({type(exc).__name__}: {exc})"
    return f"imports, version {getattr(mod, '__version__', 'unknown')}"


def _run(cmd: list[str]) -> int:
    print(f"$ {' '.join(cmd)}", flush=True)
    return subprocess.call(cmd)


def main(argv: list[str] | None = None) -> int:
    """Print the machine check, then run the GPU tests and benchmarks; return the status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7,1.8e7")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--skip-bench", action="store_true")
    args = parser.parse_args(argv)

    smi = shutil.which("nvidia-smi")
    if smi is None:
        print("driver: nvidia-smi not found")
    else:
        query = "--query-gpu=index,name,driver_version,memory.total,memory.free"
        _run([smi, query, "--format=csv"])
    import torch

    cuda = torch.version.cuda
    print(f"torch {torch.__version__}: CUDA {cuda}, available={torch.cuda.is_available()}")
    for name, module in OPTIONAL_GPU_MODULES.items():
        print(f"{name}: {_import_status(module)}")
    problem = gpu_problem()
    print(f"GPU backend: {'usable' if problem is None else 'unusable: ' + problem}")
    if problem is None:
        from benchmarks._env import gpu_description
        from gpu_mc.backend import get_backend

        for key, value in gpu_description(get_backend("gpu")).items():
            print(f"  {key}: {value}")
    status = 0 if problem is None else 1
    if not args.skip_tests:
        status |= _run([sys.executable, "-m", "pytest", "-q", "--gpu", "-m", "gpu"])
    if not args.skip_bench:
        backend = "gpu" if problem is None else "cpu"
        cmd = ["--sizes", args.sizes, "--backend", backend, "--out", str(args.out)]
        status |= _run([sys.executable, "-m", "benchmarks", *cmd])
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
