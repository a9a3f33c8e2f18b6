"""Cross-matches by ``source_id`` and by position, on the CPU (NumPy) or the GPU (CuPy).

Every function takes its namespace from its inputs (:func:`gpu_mc.backend.array_namespace`)
and returns arrays on the same device; nothing is copied between host and device except in
:func:`crossmatch_files`, which reads files and places the columns on the chosen backend.

Routes and output order
-----------------------
:func:`join_source_id` runs a cuDF merge for CuPy input when cuDF is installed. Otherwise it
sorts the right keys and finds each left key among them: on the GPU with the bucketed binary
search kernel ``gpu_mc_kernels.crossmatch.lookup_sorted``, on the CPU with a pandas hash index
(its ``get_indexer`` is several times faster than a binary search for Gaia's HEALPix-clustered
ids, whose bucket directory degenerates). Every route returns the same pairs in the same
order: ascending left index, then ascending right index.

:func:`match_positions` scans a declination-zone index of catalogue 2 with the
``gpu_mc_kernels.crossmatch`` kernel (CUDA) or its CPU twin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import pandas as pd

from gpu_mc.backend import (
    array_namespace,
    bincount,
    cudf_usable,
    get_backend,
    repeat,
    to_device,
    to_host,
)
from gpu_mc.errors import InputError
from gpu_mc.io.atomic import atomic_path
from gpu_mc.io.readers import read_table
from gpu_mc_kernels.crossmatch import lookup_sorted, nearest_in_zones, zone_order

#: Smallest declination-zone height (deg). Zones of 10 arcsec keep the zone table small
#: (64,800 entries) and a source's search to one or two zones, while an arcsec window still
#: holds few rows; 4-15 arcsec ran fastest at 1M x 1M in a 20 deg cone (1 arcsec: 3x slower).
MIN_ZONE_HEIGHT_DEG = 10.0 / 3600.0
#: Key offsets at or above this use one bucket (plain binary search) in the join lookup.
_MAX_BUCKETED_SPAN = 2**62


# --- source_id joins -------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinResult:
    """Row pairs of a ``source_id`` join.

    Attributes
    ----------
    left_index : array of int64, shape (n_pairs,)
        Row of the left table, ascending.
    right_index : array of int64, shape (n_pairs,)
        Row of the right table, ascending within one left row; -1 for a left row without a
        match (``how="left"`` only).
    how : {"inner", "left"}
        Join type.
    left_duplicate_keys : int
        Matched keys that occur more than once in the left table.
    right_duplicate_keys : int
        Matched keys that occur more than once in the right table. A key duplicated on both
        sides yields every pair (like :func:`pandas.merge`); duplicates among keys without a
        match cannot change the output and are not counted.
    """

    left_index: Any
    right_index: Any
    how: str
    left_duplicate_keys: int
    right_duplicate_keys: int

    @property
    def n_pairs(self) -> int:
        """Number of output rows."""
        return int(self.left_index.shape[0])


def _as_int64(xp: ModuleType, a: Any, name: str) -> Any:
    arr = xp.asarray(a)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise InputError(f"{name} must hold integer source_id values, got dtype {arr.dtype}")
    return arr.astype(xp.int64, copy=False)


def _same_namespace(arrays: dict[str, Any]) -> ModuleType:
    """The one array namespace of all inputs; mixing host and device arrays is an error."""
    spaces = {name: array_namespace(a) for name, a in arrays.items()}
    if len(set(spaces.values())) > 1:
        where = ", ".join(f"{n} ({m.__name__})" for n, m in spaces.items())
        raise InputError(f"inputs live on different devices: {where}; move them to one first")
    return next(iter(spaces.values()))


def _bucket_directory(xp: ModuleType, ukeys: Any) -> tuple[Any, int, int, int]:
    """Directory of ``ukeys`` over about ``len(ukeys)`` equal key ranges (see lookup_sorted)."""
    m = int(ukeys.shape[0])
    kmin, kmax = (int(v) for v in to_host(xp.stack([ukeys[0], ukeys[-1]])))
    span = kmax - kmin
    n_bits = max(0, (m - 1).bit_length())
    if span >= _MAX_BUCKETED_SPAN or n_bits == 0:
        return xp.asarray([0, m], dtype=xp.int64), kmin, kmax, 0
    shift = max(0, span.bit_length() - n_bits)
    buckets = (ukeys - kmin) >> shift
    n_buckets = (span >> shift) + 1
    directory = xp.searchsorted(buckets, xp.arange(n_buckets + 1, dtype=xp.int64), side="left")
    return directory.astype(xp.int64, copy=False), kmin, kmax, shift


def _join_sorted(xp: ModuleType, left: Any, right: Any, how: str) -> JoinResult:
    n_left = int(left.shape[0])
    order = xp.argsort(right, kind="stable")
    rs = right[order]
    new_key = xp.ones(rs.shape[0], dtype=bool)
    new_key[1:] = rs[1:] != rs[:-1]
    starts = xp.nonzero(new_key)[0]
    ukeys = rs[starts]
    counts = xp.diff(xp.concatenate([starts, xp.asarray([rs.shape[0]], dtype=starts.dtype)]))
    if xp is np:
        group = pd.Index(ukeys).get_indexer(left).astype(np.int64, copy=False)
    else:
        group = lookup_sorted(left, ukeys, *_bucket_directory(xp, ukeys))
    hit = group >= 0
    matched_rows = xp.nonzero(hit)[0]
    matched_group = group[matched_rows]
    left_mult = bincount(xp, matched_group, minlength=int(ukeys.shape[0]))
    dup_left, dup_right = (
        int(v)
        for v in to_host(xp.stack([xp.sum(left_mult > 1), xp.sum((counts > 1) & (left_mult > 0))]))
    )
    if how == "inner":
        rows, grp, n_out = matched_rows, matched_group, counts[matched_group]
    else:
        rows = xp.arange(n_left, dtype=xp.int64)
        grp = xp.where(hit, group, 0)
        n_out = xp.where(hit, counts[grp], 1)
    total = int(n_out.sum())
    if total == rows.shape[0]:  # no duplicated right key matched: one output row per row
        left_index, first_right = rows, starts[grp]
        matched = hit
    else:  # expand each row into its n_out consecutive right rows
        source = repeat(xp, xp.arange(rows.shape[0], dtype=xp.int64), n_out)
        left_index = rows[source]
        first_out = xp.cumsum(n_out) - n_out
        within = xp.arange(total, dtype=xp.int64) - first_out[source]
        first_right = starts[grp][source] + within
        matched = hit[source] if how == "left" else None
    right_index = order[first_right].astype(xp.int64, copy=False)
    if how == "left":
        right_index = xp.where(matched, right_index, -1)
    return JoinResult(left_index, right_index, how, dup_left, dup_right)


def _join_cudf(left: Any, right: Any, how: str) -> JoinResult:
    import cudf
    import cupy

    lf = cudf.DataFrame({"key": left, "li": cupy.arange(left.shape[0], dtype=cupy.int64)})
    rf = cudf.DataFrame({"key": right, "ri": cupy.arange(right.shape[0], dtype=cupy.int64)})
    merged = lf.merge(rf, on="key", how=how)
    merged["ri"] = merged["ri"].fillna(-1).astype("int64")
    merged = merged.sort_values(["li", "ri"])
    pairs = merged[merged["ri"] >= 0]
    per_key = pairs.groupby("key").agg({"li": "nunique", "ri": "nunique"})
    dup_left = int((per_key["li"] > 1).sum())
    dup_right = int((per_key["ri"] > 1).sum())
    return JoinResult(merged["li"].to_cupy(), merged["ri"].to_cupy(), how, dup_left, dup_right)


def join_source_id(
    left_ids: Any,
    right_ids: Any,
    how: Literal["inner", "left"] = "inner",
    method: Literal["auto", "cudf", "sort"] = "auto",
) -> JoinResult:
    """Join two ``source_id`` columns, returning matching row pairs.

    Parameters
    ----------
    left_ids : array of int, shape (n_left,)
        Left keys (e.g. 18M scored sources), NumPy or CuPy.
    right_ids : array of int, shape (n_right,)
        Right keys (e.g. a catalogue), on the same device as ``left_ids``.
    how : {"inner", "left"}
        ``"inner"`` keeps matched pairs; ``"left"`` also keeps each unmatched left row once,
        with ``right_index == -1``.
    method : {"auto", "cudf", "sort"}
        ``"auto"`` uses a cuDF merge for CuPy input when cuDF is installed and the sort
        route otherwise; ``"cudf"`` demands cuDF (CuPy input only).

    Returns
    -------
    JoinResult
        Every pair of rows with equal keys (all combinations for duplicated keys, as in
        :func:`pandas.merge`), ordered by left index then right index, with duplicate
        counts. Arrays live on the input's device.

    Raises
    ------
    InputError
        For a bad ``how`` or ``method``, non-integer or non-1-D keys, inputs on different
        devices, or ``method="cudf"`` where cuDF cannot run.
    """
    if how not in ("inner", "left"):
        raise InputError(f"how must be 'inner' or 'left', got {how!r}")
    if method not in ("auto", "cudf", "sort"):
        raise InputError(f"method must be 'auto', 'cudf' or 'sort', got {method!r}")
    xp = _same_namespace({"left_ids": left_ids, "right_ids": right_ids})
    left = _as_int64(xp, left_ids, "left_ids")
    right = _as_int64(xp, right_ids, "right_ids")
    on_gpu = xp is not np
    has_cudf = cudf_usable()
    if method == "cudf" and not (on_gpu and has_cudf):
        raise InputError("method='cudf' needs CuPy inputs and cuDF installed")
    if on_gpu and has_cudf and method != "sort":
        return _join_cudf(left, right, how)
    if right.shape[0] == 0 or left.shape[0] == 0:
        n = int(left.shape[0]) if how == "left" else 0
        empty = xp.arange(n, dtype=xp.int64)
        return JoinResult(empty, xp.full(n, -1, dtype=xp.int64), how, 0, 0)
    return _join_sorted(xp, left, right, how)


# --- positional matches ----------------------------------------------------------------------


@dataclass(frozen=True)
class MatchResult:
    """Positional matches, one row per matched catalogue-1 source.

    Attributes
    ----------
    idx1 : array of int64, shape (n_match,)
        Row of catalogue 1, ascending.
    idx2 : array of int64, shape (n_match,)
        Row of its nearest catalogue-2 source within the radius.
    sep_arcsec : array of float64, shape (n_match,)
        Angular separation in arcsec (Vincenty formula, float64).
    """

    idx1: Any
    idx2: Any
    sep_arcsec: Any


def _positions(xp: ModuleType, ra: Any, dec: Any, name: str) -> tuple[Any, Any]:
    ra = xp.asarray(ra, dtype=xp.float64)
    dec = xp.asarray(dec, dtype=xp.float64)
    if ra.ndim != 1 or ra.shape != dec.shape:
        raise InputError(
            f"{name}: ra and dec must be 1-D of equal length, got {ra.shape}, {dec.shape}"
        )
    if bool(xp.any(xp.abs(dec) > 90.0)):
        raise InputError(f"{name}: declinations outside [-90, 90] deg")
    ra = xp.mod(ra, 360.0)
    return xp.where(ra >= 360.0, ra - 360.0, ra), dec


def _zone_index(xp: ModuleType, ra: Any, dec: Any, zone_height: float) -> tuple[Any, ...]:
    """Sort catalogue 2 by (zone, ra); drop rows with NaN positions."""
    n_zones = math.ceil(180.0 / zone_height)
    rows = xp.nonzero(xp.isfinite(ra) & xp.isfinite(dec))[0]
    ra, dec = ra[rows], dec[rows]
    zone = xp.clip(xp.floor((dec + 90.0) / zone_height), 0, n_zones - 1).astype(xp.int64)
    order, zone_start = zone_order(zone, ra, n_zones)
    dec_s = dec[order]
    dec_rad = xp.deg2rad(dec_s)
    return (
        ra[order],
        dec_s,
        xp.sin(dec_rad),
        xp.cos(dec_rad),
        rows[order].astype(xp.int64),
        zone_start,
    )


def match_positions(
    ra1: Any,
    dec1: Any,
    ra2: Any,
    dec2: Any,
    radius_arcsec: float = 1.0,
    one_to_one: bool = False,
) -> MatchResult:
    """Nearest catalogue-2 neighbour within a radius for each catalogue-1 source.

    Parameters
    ----------
    ra1, dec1 : array of float, shape (n1,)
        Catalogue-1 positions in degrees (NumPy or CuPy). Rows with NaN never match.
    ra2, dec2 : array of float, shape (n2,)
        Catalogue-2 positions in degrees, on the same device.
    radius_arcsec : float
        Match radius in arcsec, ``> 0``; a pair matches when its separation is ``<=`` it.
    one_to_one : bool
        If True, a catalogue-2 source matched by several catalogue-1 sources keeps only its
        nearest partner (ties: the smaller catalogue-1 index); the others are dropped, not
        re-matched.

    Returns
    -------
    MatchResult
        Matches ordered by ``idx1``, on the input's device. Among equidistant candidates the
        smaller catalogue-2 index wins.

    Raises
    ------
    InputError
        For a non-positive or non-finite radius, mismatched shapes, |dec| > 90 deg or
        inputs on different devices.
    """
    if not (math.isfinite(radius_arcsec) and radius_arcsec > 0):
        raise InputError(f"radius_arcsec must be positive and finite, got {radius_arcsec!r}")
    xp = _same_namespace({"ra1": ra1, "dec1": dec1, "ra2": ra2, "dec2": dec2})
    ra1, dec1 = _positions(xp, ra1, dec1, "catalogue 1")
    ra2, dec2 = _positions(xp, ra2, dec2, "catalogue 2")
    radius_deg = radius_arcsec / 3600.0
    zone_height = max(radius_deg, MIN_ZONE_HEIGHT_DEG)
    index = _zone_index(xp, ra2, dec2, zone_height)
    best, sep = nearest_in_zones(ra1, dec1, *index, zone_height, radius_deg)
    idx1 = xp.nonzero(best >= 0)[0]
    idx2 = best[idx1]
    sep = sep[idx1]
    if one_to_one and idx1.shape[0] > 0:
        order = xp.lexsort(xp.stack([idx1.astype(xp.float64), sep, idx2.astype(xp.float64)]))
        first = xp.ones(order.shape[0], dtype=bool)
        first[1:] = idx2[order][1:] != idx2[order][:-1]
        keep = xp.sort(order[first])
        idx1, idx2, sep = idx1[keep], idx2[keep], sep[keep]
    return MatchResult(idx1.astype(xp.int64), idx2.astype(xp.int64), sep)


# --- files -----------------------------------------------------------------------------------


#: Inclusive range (deg) of each position column of a catalogue file.
_POSITION_RANGE = {"ra": (0.0, 360.0), "dec": (-90.0, 90.0)}


def _columns(path: str | Path, ra: str, dec: str) -> tuple[np.ndarray, np.ndarray]:
    """The position columns of a catalogue file in float64 degrees; InputError naming the
    file, the column and how many rows for a non-numeric column or a value outside
    [0, 360] (ra) or [-90, 90] (dec). NaN positions are allowed (they match nothing)."""
    table = read_table(path, columns=[ra, dec])
    out = []
    for name, axis in ((ra, "ra"), (dec, "dec")):
        column = table[name]
        if column.dtype.kind not in "fiu":
            raise InputError(f"{path}: column {name!r} is not numeric degrees")
        values = column.astype(np.float64)
        low, high = _POSITION_RANGE[axis]
        n_out = int(np.count_nonzero((values < low) | (values > high)))
        if n_out:
            raise InputError(
                f"{path}: column {name!r} has {n_out} row(s) outside [{low:g}, {high:g}] deg "
                f"(min {np.nanmin(values):.6g}, max {np.nanmax(values):.6g})"
            )
        out.append(values)
    return out[0], out[1]


def crossmatch_files(
    left: str | Path,
    right: str | Path,
    radius_arcsec: float,
    out: str | Path,
    left_ra: str = "ra",
    left_dec: str = "dec",
    right_ra: str = "ra",
    right_dec: str = "dec",
    one_to_one: bool = False,
    backend: str | None = "auto",
) -> MatchResult:
    """Match two catalogue files by position and write the pairs as parquet.

    Parameters
    ----------
    left, right : str or Path
        Catalogue files in any format :func:`gpu_mc.io.readers.read_table` reads (parquet,
        CSV, VizieR TSV, ECSV, FITS, VOTable).
    radius_arcsec : float
        Match radius in arcsec, ``> 0``.
    out : str or Path
        Output parquet, written atomically, with columns ``left_index``, ``right_index``
        (int64, 0-based rows) and ``sep_arcsec`` (float64, arcsec).
    left_ra, left_dec, right_ra, right_dec : str
        Position columns (degrees) of each catalogue.
    one_to_one : bool
        See :func:`match_positions`.
    backend : {"auto", "cpu", "gpu"} or None
        Where to match (:func:`gpu_mc.backend.get_backend`).

    Returns
    -------
    MatchResult
        The matches, in host memory.

    Raises
    ------
    InputError
        Naming the file and column for an unreadable file, a missing or non-numeric position
        column, or a non-positive radius.
    """
    if not (math.isfinite(radius_arcsec) and radius_arcsec > 0):
        raise InputError(f"radius_arcsec must be positive and finite, got {radius_arcsec!r}")
    columns = [*_columns(left, left_ra, left_dec), *_columns(right, right_ra, right_dec)]
    chosen = get_backend(backend)
    result = match_positions(
        *(to_device(c, chosen) for c in columns), radius_arcsec=radius_arcsec, one_to_one=one_to_one
    )
    host = MatchResult(to_host(result.idx1), to_host(result.idx2), to_host(result.sep_arcsec))
    frame = pd.DataFrame(
        {"left_index": host.idx1, "right_index": host.idx2, "sep_arcsec": host.sep_arcsec}
    )
    with atomic_path(out) as tmp:
        frame.to_parquet(tmp, index=False)
    return host
