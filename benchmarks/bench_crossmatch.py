"""Benchmark of the cross-match engine against plain baselines in the same run.

For each size ``(n_left, n_right)``:

* ``join``: :func:`gpu_mc.validate.join_source_id` (inner) of ``n_left`` unique Gaia-like
  source_ids against ``n_right`` ids (90 % drawn from the left, 10 % absent), versus
  :meth:`pandas.DataFrame.merge` on the same host arrays;
* ``position``: :func:`gpu_mc.validate.match_positions` at 1 arcsec of ``n_left`` against
  ``n_right`` random points in a 20 deg cone on the LMC, versus astropy's
  :func:`~astropy.coordinates.match_coordinates_sky` (with the same 1 arcsec cut).

Times are wall-clock seconds: ``cold`` is the first call (JIT compilation included), ``warm``
the best of ``repeats`` further calls; GPU timings synchronise the device. Throughput is
``n_left / warm`` in rows per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from gpu_mc.backend import Backend, get_backend
from gpu_mc.validate import join_source_id, match_positions

#: Cone of the positional benchmark: centre (deg) and radius (deg), LMC-like.
CONE_RA_DEG, CONE_DEC_DEG, CONE_RADIUS_DEG = 80.9, -69.75, 20.0
MATCH_RADIUS_ARCSEC = 1.0


def cone_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random points in the benchmark cone.

    Parameters
    ----------
    n : int
        Number of points.
    seed : int
        Random seed.

    Returns
    -------
    ra, dec : ndarray of float64, shape (n,)
        Positions in degrees.
    """
    rng = np.random.default_rng(seed)
    cos_r = np.cos(np.radians(CONE_RADIUS_DEG))
    z = rng.uniform(cos_r, 1.0, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    s = np.sqrt(1.0 - z * z)
    x, y = s * np.cos(phi), s * np.sin(phi)
    tilt = np.radians(90.0 - CONE_DEC_DEG)  # rotate the pole onto the cone centre
    x, z = x * np.cos(tilt) + z * np.sin(tilt), -x * np.sin(tilt) + z * np.cos(tilt)
    ra = np.mod(np.degrees(np.arctan2(y, x)) + CONE_RA_DEG, 360.0)
    return ra, np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))


def source_ids(n_left: int, n_right: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique left ids clustered in HEALPix pixels like Gaia's, and a shuffled right sample.

    Returns
    -------
    left, right : ndarray of int64, shapes (n_left,) and (n_right,)
    """
    rng = np.random.default_rng(seed)
    pix = rng.integers(12 * 4**12 // 2, 12 * 4**12, max(1, n_left // 1000))
    left = np.unique(
        pix[rng.integers(0, pix.size, n_left)] * 2**35 + rng.integers(0, 2**30, n_left)
    )
    left = rng.permutation(left)
    n_hit = min(left.size, int(0.9 * n_right))
    right = np.concatenate(
        [rng.choice(left, n_hit, replace=False), rng.integers(0, 2**35, n_right - n_hit)]
    )
    return left, rng.permutation(right)


def _timed(
    func: Callable[..., Any], args: tuple[Any, ...], sync: Callable[[], None], repeats: int
) -> tuple[dict[str, float], Any]:
    """Cold and best-of-``repeats`` warm wall time of ``func(*args)``, and its last result."""
    start = time.perf_counter()
    result = func(*args)
    sync()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = func(*args)
        sync()
        warm.append(time.perf_counter() - start)
    return {"cold_s": cold, "warm_s": min(warm)}, result


def _pandas_merge(lf: pd.DataFrame, rf: pd.DataFrame) -> int:
    return len(lf.merge(rf, on="source_id"))


def _no_sync() -> None:
    """Host computations need no synchronisation."""


def _sync_for(backend: Backend) -> Callable[[], None]:
    if backend.is_gpu:
        return lambda: backend.xp.cuda.get_current_stream().synchronize()
    return lambda: None


def _astropy_match(ra1: np.ndarray, dec1: np.ndarray, ra2: np.ndarray, dec2: np.ndarray) -> int:
    from astropy import units as u
    from astropy.coordinates import SkyCoord, match_coordinates_sky

    _, sep, _ = match_coordinates_sky(
        SkyCoord(ra1 * u.deg, dec1 * u.deg), SkyCoord(ra2 * u.deg, dec2 * u.deg)
    )
    return int((sep.to_value(u.arcsec) <= MATCH_RADIUS_ARCSEC).sum())


def run(
    sizes: Iterable[tuple[int, int]],
    backend: str | None = "auto",
    *,
    repeats: int = 3,
    baseline_max_rows: int = 20_000_000,
    kinds: tuple[str, ...] = ("join", "position"),
) -> dict[str, Any]:
    """Time the source_id join and the positional match with their baselines.

    Parameters
    ----------
    sizes : iterable of (int, int)
        ``(n_left, n_right)`` row counts, e.g. ``[(18_000_000, 1_000_000)]`` for the join and
        ``[(1_000_000, 1_000_000)]`` for the positional match (both are run at each size).
    backend : {"auto", "cpu", "gpu"} or None
        Backend of gpu_mc's functions; the baselines always run on the CPU.
    repeats : int, optional
        Warm repetitions; the best is reported.
    baseline_max_rows : int, optional
        Baselines are skipped (reported as None) when ``n_left`` exceeds this.
    kinds : tuple of str, optional
        Which of ``"join"`` and ``"position"`` to run at each size.

    Returns
    -------
    dict
        ``{"backend", "device", "capabilities", "results": [...]}`` with one entry per size
        and kind: rows, our cold/warm seconds and rows/s, the baseline's, the speed-up
        (baseline warm / ours warm) and the number of pairs found by each, which must agree.
    """
    chosen = get_backend(backend)
    xp, sync = chosen.xp, _sync_for(chosen)
    results: list[dict[str, Any]] = []
    for n_left, n_right in sizes:
        if "join" in kinds:
            results.append(_join_entry(n_left, n_right, xp, sync, repeats, baseline_max_rows))
        if "position" in kinds:
            results.append(_match_entry(n_left, n_right, xp, sync, repeats, baseline_max_rows))
    caps = dict(chosen.capabilities)
    return {
        "backend": chosen.name,
        "device": caps.get("device_name", "cpu"),
        "capabilities": caps,
        "results": results,
    }


def _join_entry(
    n_left: int, n_right: int, xp: Any, sync: Any, repeats: int, baseline_max_rows: int
) -> dict[str, Any]:
    """Time join_source_id against pandas.merge on random Gaia-like ids."""
    left, right = source_ids(n_left, n_right, seed=1)
    ours, res = _timed(join_source_id, (xp.asarray(left), xp.asarray(right)), sync, repeats)
    ours["pairs"] = res.n_pairs
    base = None
    if n_left <= baseline_max_rows:
        frames = (pd.DataFrame({"source_id": left}), pd.DataFrame({"source_id": right}))
        base, base["pairs"] = _timed(_pandas_merge, frames, _no_sync, repeats)
    return _entry("join", "pandas.merge", left.size, right.size, ours, base)


def _match_entry(
    n_left: int, n_right: int, xp: Any, sync: Any, repeats: int, baseline_max_rows: int
) -> dict[str, Any]:
    """Time match_positions against astropy's match_coordinates_sky in a 20° cone."""
    host = (*cone_points(n_left, seed=2), *cone_points(n_right, seed=3))
    dev = tuple(xp.asarray(a) for a in host)
    ours, res = _timed(match_positions, dev, sync, repeats)
    ours["pairs"] = int(res.idx1.shape[0])
    base = None
    if n_left <= baseline_max_rows:
        base, base["pairs"] = _timed(_astropy_match, host, _no_sync, repeats)
    return _entry("position", "astropy.match_coordinates_sky", n_left, n_right, ours, base)


def _entry(
    kind: str,
    baseline: str,
    n_left: int,
    n_right: int,
    ours: dict[str, float],
    base: dict[str, float] | None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": kind,
        "n_left": int(n_left),
        "n_right": int(n_right),
        "ours": {**ours, "rows_per_s": n_left / ours["warm_s"]},
        "baseline_name": baseline,
        "baseline": None,
        "speedup": None,
    }
    if base is not None:
        entry["baseline"] = {**base, "rows_per_s": n_left / base["warm_s"]}
        entry["speedup"] = base["warm_s"] / ours["warm_s"]
    return entry
