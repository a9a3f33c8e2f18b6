"""What a benchmark ran on: host, CPU or GPU model, driver, CUDA and library versions."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

from gpu_mc import __version__
from gpu_mc.backend import Backend

#: Distributions whose versions are recorded (absent ones are recorded as None).
LIBRARIES = (
    "numpy",
    "numba",
    "torch",
    "pyarrow",
    "pandas",
    "scikit-learn",
    "psutil",
    "cupy-cuda12x",
    "cupy-cuda13x",
    "cudf-cu12",
    "cudf-cu13",
    "cuml-cu12",
    "cuml-cu13",
    "numba-cuda",
)


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (or :func:`platform.processor`)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str | None]:
    """Installed versions of :data:`LIBRARIES` (None where not installed)."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def _cuda_version(code: int) -> str:
    """CUDA's integer version (e.g. 12040) as text ("12.4")."""
    return f"{code // 1000}.{(code % 1000) // 10}"


def gpu_description(backend: Backend) -> dict[str, Any]:
    """Device name, count, memory, driver and CUDA runtime of the GPU backend."""
    import cupy
    import torch

    caps = backend.capabilities
    free, total = cupy.cuda.runtime.memGetInfo()
    return {
        "name": caps.get("device_name"),
        "count": caps.get("device_count"),
        "memory_total_bytes": int(total),
        "memory_free_bytes": int(free),
        "driver_cuda_version": _cuda_version(int(caps["driver"])),
        "cuda_runtime": _cuda_version(int(caps["cuda_runtime"])),
        "torch_cuda": torch.version.cuda,
        "load_route": caps.get("load_route"),
    }


def environment(backends: dict[str, Backend]) -> dict[str, Any]:
    """Describe the machine and software for the benchmark JSON.

    Parameters
    ----------
    backends : dict of str to Backend
        The backends benchmarked in this run, by name.
    """
    import torch

    gpu = backends.get("gpu")
    return {
        "host": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu_description(gpu) if gpu is not None else None,
        "device": gpu_description(gpu)["name"] if gpu is not None else cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "gpu_mc": __version__,
        "libraries": library_versions(),
    }
