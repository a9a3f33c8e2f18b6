"""Clocks, device synchronisation and peak-memory sampling for the benchmark stages."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from gpu_mc.backend import Backend

#: Seconds between two samples of the process's resident set size.
SAMPLE_INTERVAL_S = 0.005


def synchronise(backend: Backend) -> None:
    """Wait for all queued device work (no-op on the CPU backend)."""
    if not backend.is_gpu:
        return
    import cupy
    import torch

    cupy.cuda.Device().synchronize()
    torch.cuda.synchronize()


def _device_bytes(backend: Backend) -> int:
    """Device memory held now by the CuPy pool plus torch's allocator (0 on the CPU)."""
    if not backend.is_gpu:
        return 0
    import cupy
    import torch

    return int(cupy.get_default_memory_pool().total_bytes()) + int(torch.cuda.memory_allocated())


@dataclass
class PeakMemory:
    """Sample host RSS (and device pool size) in a thread while a block runs.

    Use as a context manager; afterwards ``peak_rss``, ``start_rss`` and ``peak_device``
    hold bytes. torch's own peak counter (``torch.cuda.max_memory_allocated``) is reset on
    entry and folded in on exit, so short-lived device peaks are not missed.
    """

    backend: Backend
    start_rss: int = 0
    peak_rss: int = 0
    peak_device: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        proc = psutil.Process()
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            self.peak_device = max(self.peak_device, _device_bytes(self.backend))

    def __enter__(self) -> PeakMemory:
        if self.backend.is_gpu:
            import torch

            torch.cuda.reset_peak_memory_stats()
        self.start_rss = self.peak_rss = psutil.Process().memory_info().rss
        self.peak_device = _device_bytes(self.backend)
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_rss = max(self.peak_rss, psutil.Process().memory_info().rss)
        if self.backend.is_gpu:
            import cupy
            import torch

            pool = int(cupy.get_default_memory_pool().total_bytes())
            self.peak_device = max(self.peak_device, pool + int(torch.cuda.max_memory_allocated()))


def timed(fn: Callable[[], Any], backend: Backend) -> tuple[float, Any]:
    """Run ``fn`` once between two device synchronisations; return (seconds, result)."""
    synchronise(backend)
    t0 = time.perf_counter()
    result = fn()
    synchronise(backend)
    return time.perf_counter() - t0, result


def measure(
    fn: Callable[[], Any],
    backend: Backend,
    n: int,
    repeats: int,
    n_bytes: int = 0,
    cold: bool = True,
) -> tuple[dict[str, Any], Any]:
    """Time a stage: one cold call, then ``repeats`` warm calls, with peak memory.

    Parameters
    ----------
    fn : callable
        The stage, called without arguments.
    backend : Backend
        Whose device is synchronised before each clock reading.
    n : int
        Stars processed per call (for stars/s).
    repeats : int
        Warm calls (at least 1).
    n_bytes : int
        Input bytes read per call (for GB/s); 0 leaves GB/s out.
    cold : bool
        Whether to make (and record) a first, cold call. When False (baselines, warmed up by
        the caller on a small input), every call is a warm one.

    Returns
    -------
    record : dict
        ``n``, ``cold_s`` (or None), ``warm_median_s``, ``warm_min_s``, ``warm_max_s``,
        ``spread`` ((max − min) / median), ``repeats``, ``stars_per_s``, ``gb_per_s`` (or
        None), ``peak_rss_bytes``, ``rss_growth_bytes`` (peak over the RSS at the start) and
        ``peak_device_bytes``.
    result : object
        What the last call returned.
    """
    first, result = None, None
    with PeakMemory(backend) as mem:
        if cold:
            first, result = timed(fn, backend)
        warm = []
        for _ in range(max(1, repeats)):
            result = None
            t, result = timed(fn, backend)
            warm.append(t)
    median = statistics.median(warm)
    record = {
        "n": n,
        "cold_s": first,
        "warm_median_s": median,
        "warm_min_s": min(warm),
        "warm_max_s": max(warm),
        "spread": (max(warm) - min(warm)) / median if median > 0 else 0.0,
        "repeats": len(warm),
        "stars_per_s": n / median if median > 0 else None,
        "gb_per_s": n_bytes / median / 1e9 if n_bytes and median > 0 else None,
        "peak_rss_bytes": mem.peak_rss,
        "rss_growth_bytes": mem.peak_rss - mem.start_rss,
        "peak_device_bytes": mem.peak_device,
    }
    return record, result
