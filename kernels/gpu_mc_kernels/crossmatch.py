"""Cross-match kernels: zone-indexed nearest-neighbour scan and sorted-key lookup.

Each kernel's per-row arithmetic is written once, in :func:`_row_functions`, and compiled
twice: with ``numba.njit`` for the CPU twin (a ``prange`` loop over rows) and with
``numba.cuda.jit(device=True)`` for the CUDA kernel (one thread per row). The CPU twin is the
CPU path and the test oracle of the kernel.

``nearest_in_zones``
    For every source of catalogue 1, the nearest source of catalogue 2 within a radius.
    Catalogue 2 is sorted by (declination zone, ra) with zones at least one radius high, so
    a source only visits the zones overlapping ``dec ± radius`` and, inside each, the ra
    window ``ra ± asin(sin r / cos dec)`` found by binary search (split in two across
    ra = 0/360; the whole zone when the search cap reaches a pole). Separations use the
    Vincenty formula in float64; ties go to the smaller catalogue-2 index.

``zone_order``
    The (zone, ra) sort of catalogue 2 that ``nearest_in_zones`` scans: a counting sort by
    zone then a stable ra sort inside each zone on the CPU, ``cupy.lexsort`` on the GPU; both
    give the same permutation (ties keep the input order).

``lookup_sorted``
    For every key, its position among sorted unique keys, or -1. A bucket directory over the
    key range narrows each binary search to a few elements.

Launchers run the CUDA kernel for CUDA device arrays (CuPy, ``__cuda_array_interface__``)
and the CPU twin for NumPy arrays; they never copy between host and device. ``numba.cuda`` is
imported only inside the cached CUDA factories.
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from gpu_mc_kernels.launch import (
    cuda_module,
    empty_like_side,
    launch,
    on_device,
)

_DEG2RAD = math.pi / 180.0
_RAD2ARCSEC = 180.0 / math.pi * 3600.0
#: Relative and absolute (deg) padding of the search window. Candidates are tested with the
#: exact separation, so the window only has to contain the search cap despite rounding.
_WINDOW_REL_PAD = 1e-9
_WINDOW_ABS_PAD_DEG = 1e-9


def _row_functions(jit: Callable[[Callable[..., Any]], Any]) -> tuple[Any, Any]:
    """Compile the per-row functions with ``jit`` (``njit`` or ``cuda.jit(device=True)``).

    Returns
    -------
    nearest_one, lookup_one : compiled functions
        See :func:`nearest_in_zones` and :func:`lookup_sorted` for their meaning.
    """

    @jit
    def first_at_least(values, lo, hi, x):
        # leftmost p in [lo, hi) with values[p] >= x, or hi
        while lo < hi:
            mid = (lo + hi) // 2
            if values[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return lo

    @jit
    def nearest_one(ra1, dec1, ra2s, dec2s, sin2s, cos2s, orig2, zone_start, zone_height, radius):
        best_j = -1
        best_sep = math.inf
        if not (ra1 == ra1 and dec1 == dec1):  # NaN position: never matched
            return best_j, best_sep
        n_zones = zone_start.shape[0] - 1
        r_rad = radius * _DEG2RAD
        d1 = dec1 * _DEG2RAD
        sin1 = math.sin(d1)
        cos1 = math.cos(d1)
        # int(): numba-cuda types math.floor as a float, the CPU target as an int
        z_lo = max(0, int(math.floor((dec1 - radius + 90.0) / zone_height)))  # noqa: RUF046
        z_hi = min(n_zones - 1, int(math.floor((dec1 + radius + 90.0) / zone_height)))  # noqa: RUF046
        full = abs(dec1) + radius >= 90.0
        half_width = 180.0
        if not full:
            x = math.sin(r_rad) / cos1
            if x >= 1.0:
                full = True
            else:
                half_width = math.asin(x) / _DEG2RAD * (1.0 + _WINDOW_REL_PAD) + _WINDOW_ABS_PAD_DEG
                full = half_width >= 180.0
        ra_lo = ra1 - half_width
        ra_hi = ra1 + half_width
        dec_pad = radius * (1.0 + _WINDOW_REL_PAD) + _WINDOW_ABS_PAD_DEG
        for z in range(z_lo, z_hi + 1):
            z0 = zone_start[z]
            z1 = zone_start[z + 1]
            # Segment 0 is the ra window inside [0, 360] (the whole zone for a full cap);
            # segment 1 the part of a window that wraps past ra = 0 or ra = 360.
            for segment in range(2):
                if full:
                    if segment == 1:
                        break
                    start, ra_stop = z0, 360.0
                elif segment == 0:
                    start = first_at_least(ra2s, z0, z1, max(ra_lo, 0.0))
                    ra_stop = min(ra_hi, 360.0)
                elif ra_lo < 0.0:
                    start, ra_stop = first_at_least(ra2s, z0, z1, ra_lo + 360.0), 360.0
                elif ra_hi > 360.0:
                    start, ra_stop = z0, ra_hi - 360.0
                else:
                    break
                # nearest of the sorted rows from start on (to where ra > ra_stop), Vincenty
                k = start
                while k < z1 and ra2s[k] <= ra_stop:
                    if abs(dec2s[k] - dec1) <= dec_pad:
                        dra = (ra2s[k] - ra1) * _DEG2RAD
                        sdra = math.sin(dra)
                        cdra = math.cos(dra)
                        num1 = cos2s[k] * sdra
                        num2 = cos1 * sin2s[k] - sin1 * cos2s[k] * cdra
                        den = sin1 * sin2s[k] + cos1 * cos2s[k] * cdra
                        sep = math.atan2(math.sqrt(num1 * num1 + num2 * num2), den)
                        j = orig2[k]
                        if sep < best_sep or (sep == best_sep and j < best_j):
                            best_sep = sep
                            best_j = j
                    k += 1
        if best_sep > r_rad:
            return -1, math.inf
        return best_j, best_sep * _RAD2ARCSEC

    @jit
    def lookup_one(key, ukeys, directory, kmin, kmax, shift):
        if key < kmin or key > kmax:
            return -1
        b = 0
        if directory.shape[0] > 2:
            b = (key - kmin) >> shift
        lo = directory[b]
        end = directory[b + 1]
        hi = end
        while lo < hi:
            mid = (lo + hi) // 2
            if ukeys[mid] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < end and ukeys[lo] == key:
            return lo
        return -1

    return nearest_one, lookup_one


# --- CPU twins -------------------------------------------------------------------------------


@functools.cache
def _cpu_twins() -> tuple[Any, Any, Any]:
    """Compile the CPU twins on first use: nearest scan, key lookup, zone sort."""
    nearest_one, lookup_one = _row_functions(numba.njit)

    @numba.njit(parallel=True)
    def nearest_twin(
        ra1, dec1, ra2s, dec2s, sin2s, cos2s, orig2, zone_start, zone_height, radius, out_j, out_sep
    ):
        for i in numba.prange(ra1.shape[0]):
            j, s = nearest_one(
                ra1[i], dec1[i], ra2s, dec2s, sin2s, cos2s, orig2, zone_start, zone_height, radius
            )
            out_j[i] = j
            out_sep[i] = s

    @numba.njit(parallel=True)
    def zone_order_twin(zone, ra, zone_start, order):
        for i in range(zone.shape[0]):
            zone_start[zone[i] + 1] += 1
        for z in range(zone_start.shape[0] - 1):
            zone_start[z + 1] += zone_start[z]
        fill = zone_start[:-1].copy()
        for i in range(zone.shape[0]):
            order[fill[zone[i]]] = i
            fill[zone[i]] += 1
        for z in numba.prange(zone_start.shape[0] - 1):
            lo = zone_start[z]
            hi = zone_start[z + 1]
            if hi - lo > 1:
                rows = order[lo:hi].copy()
                order[lo:hi] = rows[np.argsort(ra[rows], kind="mergesort")]

    @numba.njit(parallel=True)
    def lookup_twin(keys, ukeys, directory, kmin, kmax, shift, out):
        for i in numba.prange(keys.shape[0]):
            out[i] = lookup_one(keys[i], ukeys, directory, kmin, kmax, shift)

    return nearest_twin, lookup_twin, zone_order_twin


# --- CUDA kernels ----------------------------------------------------------------------------


# Names the CUDA kernel templates below read as globals. Each compilation binds them in a
# private globals dict (see _cuda_kernels): ``cuda`` to numba.cuda (which the simulator swaps
# for its fake module through these globals), the others to the device row functions. They
# stay None here so that importing this module imports no CUDA library.
cuda: Any = None
_nearest_dev: Any = None
_lookup_dev: Any = None


def _nearest_kernel(
    ra1, dec1, ra2s, dec2s, sin2s, cos2s, orig2, zone_start, zone_height, radius, out_j, out_sep
):
    i = cuda.grid(1)
    if i < ra1.shape[0]:
        j, s = _nearest_dev(
            ra1[i], dec1[i], ra2s, dec2s, sin2s, cos2s, orig2, zone_start, zone_height, radius
        )
        out_j[i] = j
        out_sep[i] = s


def _lookup_kernel(keys, ukeys, directory, kmin, kmax, shift, out):
    i = cuda.grid(1)
    if i < keys.shape[0]:
        out[i] = _lookup_dev(keys[i], ukeys, directory, kmin, kmax, shift)


@functools.cache
def _cuda_kernels() -> tuple[Any, Any]:
    """Compile the CUDA kernels on first use; the only place that imports numba.cuda."""
    cuda_mod = cuda_module()
    nearest_dev, lookup_dev = _row_functions(cuda_mod.jit(device=True))
    names = {"cuda": cuda_mod, "_nearest_dev": nearest_dev, "_lookup_dev": lookup_dev}

    def compile_kernel(template: Callable[..., None]) -> Any:
        bound = types.FunctionType(template.__code__, {**globals(), **names}, template.__name__)
        return cuda_mod.jit(bound)

    return compile_kernel(_nearest_kernel), compile_kernel(_lookup_kernel)


# --- launchers -------------------------------------------------------------------------------


def nearest_in_zones_cpu(
    ra1: Any,
    dec1: Any,
    ra2s: Any,
    dec2s: Any,
    sin2s: Any,
    cos2s: Any,
    orig2: Any,
    zone_start: Any,
    zone_height_deg: float,
    radius_deg: float,
) -> tuple[Any, Any]:
    """CPU twin of :func:`nearest_in_zones` (NumPy arrays only); same arguments and returns."""
    n = ra1.shape[0]
    out_j = np.empty(n, dtype=np.int64)
    out_sep = np.empty(n, dtype=np.float64)
    _cpu_twins()[0](
        ra1,
        dec1,
        ra2s,
        dec2s,
        sin2s,
        cos2s,
        orig2,
        zone_start,
        float(zone_height_deg),
        float(radius_deg),
        out_j,
        out_sep,
    )
    return out_j, out_sep


def nearest_in_zones_cuda(
    ra1: Any,
    dec1: Any,
    ra2s: Any,
    dec2s: Any,
    sin2s: Any,
    cos2s: Any,
    orig2: Any,
    zone_start: Any,
    zone_height_deg: float,
    radius_deg: float,
) -> tuple[Any, Any]:
    """CUDA path of :func:`nearest_in_zones`; same arguments and returns.

    Takes device arrays, or NumPy arrays under ``NUMBA_ENABLE_CUDASIM=1``. Outputs are
    allocated on the same side as ``ra1``.
    """
    n = ra1.shape[0]
    out_j = empty_like_side(ra1, (n,), np.dtype(np.int64))
    out_sep = empty_like_side(ra1, (n,), np.dtype(np.float64))
    launch(
        _cuda_kernels()[0], n, ra1, dec1, ra2s, dec2s, sin2s, cos2s, orig2, zone_start,
        float(zone_height_deg), float(radius_deg), out_j, out_sep,
    )  # fmt: skip
    return out_j, out_sep


def nearest_in_zones(
    ra1: Any,
    dec1: Any,
    ra2s: Any,
    dec2s: Any,
    sin2s: Any,
    cos2s: Any,
    orig2: Any,
    zone_start: Any,
    zone_height_deg: float,
    radius_deg: float,
) -> tuple[Any, Any]:
    """Nearest catalogue-2 source within a radius for every catalogue-1 source.

    Parameters
    ----------
    ra1, dec1 : array of float64, shape (n1,)
        Catalogue-1 positions in degrees, ra in [0, 360). NaN rows never match.
    ra2s, dec2s : array of float64, shape (n2,)
        Catalogue-2 positions in degrees, sorted by (zone, ra) where
        ``zone = floor((dec + 90) / zone_height_deg)``.
    sin2s, cos2s : array of float64, shape (n2,)
        ``sin`` and ``cos`` of ``dec2s`` (radians), in the same order.
    orig2 : array of int64, shape (n2,)
        Original catalogue-2 index of each sorted row.
    zone_start : array of int64, shape (n_zones + 1,)
        First sorted row of each zone; ``zone_start[-1] == n2``.
    zone_height_deg : float
        Zone height in degrees, ``>= radius_deg``.
    radius_deg : float
        Search radius in degrees, ``> 0``.

    Returns
    -------
    idx2 : array of int64, shape (n1,)
        Original catalogue-2 index of the nearest source within the radius, or -1 (ties go
        to the smaller index).
    sep_arcsec : array of float64, shape (n1,)
        Its Vincenty separation in arcsec, ``inf`` where ``idx2 == -1``.

    Raises
    ------
    TypeError
        When host and device arrays are mixed.
    """
    args = (ra1, dec1, ra2s, dec2s, sin2s, cos2s, orig2, zone_start)
    names = ("ra1", "dec1", "ra2s", "dec2s", "sin2s", "cos2s", "orig2", "zone_start")
    run = nearest_in_zones_cuda if on_device(args, names) else nearest_in_zones_cpu
    return run(*args, zone_height_deg, radius_deg)


def zone_order(zone: Any, ra: Any, n_zones: int) -> tuple[Any, Any]:
    """Sort rows by (zone, ra) and find where each zone starts.

    Parameters
    ----------
    zone : array of int64, shape (n,)
        Zone of each row, in ``[0, n_zones)``.
    ra : array of float64, shape (n,)
        Right ascension in degrees (no NaN).
    n_zones : int
        Number of zones.

    Returns
    -------
    order : array of int64, shape (n,)
        Rows sorted by zone, then ra, then row number.
    zone_start : array of int64, shape (n_zones + 1,)
        First position in ``order`` of each zone; ``zone_start[-1] == n``.
    """
    if on_device((zone, ra), ("zone", "ra")):
        import cupy

        order = cupy.lexsort(cupy.stack([ra, zone.astype(cupy.float64)])).astype(cupy.int64)
        zone_start = cupy.zeros(n_zones + 1, dtype=cupy.int64)
        if zone.shape[0]:  # cupy.bincount raises on an empty array before CuPy 14
            zone_start[1:] = cupy.cumsum(cupy.bincount(zone, minlength=n_zones))
        return order, zone_start
    order = np.empty(zone.shape[0], dtype=np.int64)
    zone_start = np.zeros(n_zones + 1, dtype=np.int64)
    _cpu_twins()[2](zone, ra, zone_start, order)
    return order, zone_start


def lookup_sorted_cpu(
    keys: Any, ukeys: Any, directory: Any, kmin: int, kmax: int, shift: int
) -> Any:
    """CPU twin of :func:`lookup_sorted` (NumPy arrays only); same arguments and return."""
    out = np.empty(keys.shape[0], dtype=np.int64)
    _cpu_twins()[1](keys, ukeys, directory, int(kmin), int(kmax), int(shift), out)
    return out


def lookup_sorted_cuda(
    keys: Any, ukeys: Any, directory: Any, kmin: int, kmax: int, shift: int
) -> Any:
    """CUDA path of :func:`lookup_sorted`; device arrays, or NumPy under the simulator."""
    n = keys.shape[0]
    out = empty_like_side(keys, (n,), np.dtype(np.int64))
    launch(_cuda_kernels()[1], n, keys, ukeys, directory, int(kmin), int(kmax), int(shift), out)
    return out


def lookup_sorted(keys: Any, ukeys: Any, directory: Any, kmin: int, kmax: int, shift: int) -> Any:
    """Position of each key among sorted unique keys, or -1 when absent.

    Parameters
    ----------
    keys : array of int64, shape (n,)
        Keys to look up.
    ukeys : array of int64, shape (m,)
        Strictly increasing unique keys, ``m >= 1``.
    directory : array of int64, shape (n_buckets + 1,)
        ``directory[b]`` is the first position of ``ukeys`` whose bucket
        ``(ukey - kmin) >> shift`` is ``>= b``; ``directory[-1] == m``. A directory of
        length 2 (one bucket, ``[0, m]``) means a plain binary search.
    kmin, kmax : int
        ``ukeys[0]`` and ``ukeys[-1]``; ``kmax - kmin`` must fit in int64.
    shift : int
        Right shift turning a key offset into its bucket.

    Returns
    -------
    array of int64, shape (n,)
        Position in ``ukeys`` of each key, or -1; on the same side as ``keys``.

    Raises
    ------
    TypeError
        When host and device arrays are mixed.
    """
    args = (keys, ukeys, directory)
    run = (
        lookup_sorted_cuda
        if on_device(args, ("keys", "ukeys", "directory"))
        else (lookup_sorted_cpu)
    )
    return run(keys, ukeys, directory, kmin, kmax, shift)
