"""Cross-match kernels: zone-indexed nearest-neighbour scan and sorted-key lookup.

Each kernel is a row function (:func:`_nearest_row`, :func:`_lookup_row`) written once and
compiled as the CPU twin (a parallel loop over rows; the CPU path and the test oracle) and as
the CUDA kernel (one thread per row) by :class:`gpu_mc_kernels.launch.RowKernel`.

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
imported only when a CUDA kernel is first launched.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numba.extending import register_jitable

from gpu_mc_kernels.launch import RowKernel, decide_device, empty_like_side, on_device

_DEG2RAD = math.pi / 180.0
_RAD2ARCSEC = 180.0 / math.pi * 3600.0
#: Relative and absolute (deg) padding of the search window. Candidates are tested with the
#: exact separation, so the window only has to contain the search cap despite rounding.
_WINDOW_REL_PAD = 1e-9
_WINDOW_ABS_PAD_DEG = 1e-9


@register_jitable
def _first_at_least(values, lo, hi, x):
    """Leftmost ``p`` in ``[lo, hi)`` with ``values[p] >= x``, or ``hi`` (binary search)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@register_jitable
def _nearest_one(ra1, dec1, ra2s, dec2s, sin2s, cos2s, orig2, zone_start, zone_height, radius):
    """Nearest catalogue-2 source of one position (deg) within ``radius`` (deg): its
    original index and separation in arcsec, or ``(-1, inf)``."""
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
                start = _first_at_least(ra2s, z0, z1, max(ra_lo, 0.0))
                ra_stop = min(ra_hi, 360.0)
            elif ra_lo < 0.0:
                start, ra_stop = _first_at_least(ra2s, z0, z1, ra_lo + 360.0), 360.0
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


@register_jitable
def _nearest_row(i, columns, params, outputs):
    """Nearest match of catalogue-1 source ``i``: ``columns`` ``(ra1, dec1)``, ``params``
    ``(ra2s, dec2s, sin2s, cos2s, orig2, zone_start, zone_height, radius)``, ``outputs``
    ``(idx2, sep_arcsec)``, as in :func:`nearest_in_zones`."""
    ra1, dec1 = columns
    ra2s, dec2s, sin2s, cos2s, orig2, zone_start, zone_height, radius = params
    out_j, out_sep = outputs
    j, s = _nearest_one(
        ra1[i], dec1[i], ra2s, dec2s, sin2s, cos2s, orig2, zone_start, zone_height, radius
    )
    out_j[i] = j
    out_sep[i] = s


@register_jitable
def _lookup_one(key, ukeys, directory, kmin, kmax, shift):
    """Position of ``key`` in ``ukeys`` (searched inside its directory bucket), or -1."""
    if key < kmin or key > kmax:
        return -1
    b = 0
    if directory.shape[0] > 2:
        b = (key - kmin) >> shift
    end = directory[b + 1]
    lo = _first_at_least(ukeys, directory[b], end, key)
    if lo < end and ukeys[lo] == key:
        return lo
    return -1


@register_jitable
def _lookup_row(i, columns, params, outputs):
    """Position of key ``i``: ``columns`` ``(keys,)``, ``params`` ``(ukeys, directory, kmin,
    kmax, shift)``, ``outputs`` ``(positions,)``, as in :func:`lookup_sorted`."""
    (keys,) = columns
    ukeys, directory, kmin, kmax, shift = params
    (out,) = outputs
    out[i] = _lookup_one(keys[i], ukeys, directory, kmin, kmax, shift)


#: The positional nearest-neighbour kernel (CPU twin and CUDA kernel of :func:`_nearest_row`).
NEAREST = RowKernel(_nearest_row)
#: The sorted-key lookup kernel (CPU twin and CUDA kernel of :func:`_lookup_row`).
LOOKUP = RowKernel(_lookup_row)


# zone_order is a whole-array sort, not a per-row kernel: on the GPU it is CuPy's lexsort, and
# this Numba function is its CPU counterpart.
@numba.njit(parallel=True, cache=True)
def _zone_order_twin(zone, ra, zone_start, order):
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
    _zone_order_twin(zone, ra, zone_start, order)
    return order, zone_start


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
    *,
    device: bool | None = None,
) -> tuple[Any, Any]:
    """Nearest catalogue-2 source within a radius for every catalogue-1 source (launcher).

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
    device : bool, optional
        Force the CUDA kernel (True) or the CPU twin (False); by default the arrays decide
        (see :func:`gpu_mc_kernels.launch.decide_device`).

    Returns
    -------
    idx2 : array of int64, shape (n1,)
        Original catalogue-2 index of the nearest source within the radius, or -1 (ties go
        to the smaller index); on the same side as ``ra1``.
    sep_arcsec : array of float64, shape (n1,)
        Its Vincenty separation in arcsec, ``inf`` where ``idx2 == -1``.

    Raises
    ------
    TypeError
        When host and device arrays are mixed, or ``device`` asks for the other side.
    """
    index = (ra2s, dec2s, sin2s, cos2s, orig2, zone_start)
    names = ("ra1", "dec1", "ra2s", "dec2s", "sin2s", "cos2s", "orig2", "zone_start")
    device = decide_device((ra1, dec1, *index), names, device)
    n = ra1.shape[0]
    out_j = empty_like_side(ra1, (n,), np.dtype(np.int64))
    out_sep = empty_like_side(ra1, (n,), np.dtype(np.float64))
    params = (*index, float(zone_height_deg), float(radius_deg))
    NEAREST((ra1, dec1), params, (out_j, out_sep), device)
    return out_j, out_sep


def lookup_sorted(
    keys: Any,
    ukeys: Any,
    directory: Any,
    kmin: int,
    kmax: int,
    shift: int,
    *,
    device: bool | None = None,
) -> Any:
    """Position of each key among sorted unique keys, or -1 when absent (launcher).

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
    device : bool, optional
        Force the CUDA kernel (True) or the CPU twin (False); by default the arrays decide
        (see :func:`gpu_mc_kernels.launch.decide_device`).

    Returns
    -------
    array of int64, shape (n,)
        Position in ``ukeys`` of each key, or -1; on the same side as ``keys``.

    Raises
    ------
    TypeError
        When host and device arrays are mixed, or ``device`` asks for the other side.
    """
    device = decide_device((keys, ukeys, directory), ("keys", "ukeys", "directory"), device)
    out = empty_like_side(keys, (keys.shape[0],), np.dtype(np.int64))
    LOOKUP((keys,), (ukeys, directory, int(kmin), int(kmax), int(shift)), (out,), device)
    return out
