"""Checks of a Gaia table: stated units, column types and values (the value policy).

:func:`gaia_columns` is the one function both loaders end in: the host reader
(:func:`~gpu_mc.io.readers.read_gaia_table`) with NumPy arrays and the cuDF loader
(:mod:`gpu_mc.io.device`) with CuPy arrays. It works on either namespace, so the GPU route
makes exactly the checks the CPU tests exercise.

Value policy
------------
* **Impossible values are errors** (:class:`~gpu_mc.errors.InputError`, exit status 2):
  the message names the file, the column and how many rows, e.g. a correlation outside
  [-1, 1], a negative uncertainty, a magnitude brighter than -2 or fainter than 30 (99 is a
  missing-value code: write a null), a negative ``source_id``, ra outside [0, 360] or dec
  outside [-90, 90] deg, an infinite value. See :data:`IMPOSSIBLE`.
* **Suspicious values are warnings** (logged, the table is used as given): a zero
  uncertainty, a magnitude outside the range Gaia measures, a parallax larger than the
  nearest star's, a proper motion faster than the fastest known star. See
  :data:`SUSPICIOUS`.
* **Nulls are not errors** except in ``source_id``, ``ra`` and ``dec``: a null feature input
  (NaN, an empty CSV field, ``null``, a FITS ``TNULL`` in an integer column) becomes NaN and
  is imputed and flagged downstream.
* **Wrong types are errors**: a boolean column where a number is expected, a floating-point
  or out-of-range ``source_id``, text that is not a number.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_mc.backend import array_namespace
from gpu_mc.io import schema
from gpu_mc.io.readers.common import fail

log = logging.getLogger("gpu_mc.io.readers")

#: Units each checked column must carry when the file states one (astropy unit strings).
EXPECTED_UNITS: dict[str, str] = {
    "ra": "deg",
    "dec": "deg",
    "parallax": "mas",
    "parallax_error": "mas",
    "pmra": "mas/yr",
    "pmdec": "mas/yr",
    "pmra_error": "mas/yr",
    "pmdec_error": "mas/yr",
    "radial_velocity": "km/s",
}

#: Schema dtype of every Gaia column we read.
GAIA_DTYPES: dict[str, np.dtype] = {
    k: np.dtype(v[0]) for k, v in {**schema.GAIA_COLUMNS, **schema.OPTIONAL_COLUMNS}.items()
}


@dataclass(frozen=True)
class Limit:
    """An inclusive range of values and why values outside it are wrong; ``shown`` says
    in words which values are outside when the numbers would not (e.g. "equal to 0")."""

    low: float
    high: float
    why: str
    shown: str | None = None


_MAG_RANGE = Limit(
    -2.0,
    30.0,
    "no star is brighter than -2 mag and none fainter than 30 is measured; "
    "codes such as 99 must be written as nulls",
)
_SIGMA = Limit(0.0, math.inf, "an uncertainty cannot be negative")

#: Physically impossible values: a table holding one is refused. NaN (a null) is allowed
#: here; ra and dec are also checked for nulls.
IMPOSSIBLE: dict[str, Limit] = {
    "ra": Limit(0.0, 360.0, "right ascension is in [0, 360] deg"),
    "dec": Limit(-90.0, 90.0, "declination is in [-90, 90] deg"),
    "parallax_error": _SIGMA,
    "pmra_error": _SIGMA,
    "pmdec_error": _SIGMA,
    "pmra_pmdec_corr": Limit(-1.0, 1.0, "a correlation coefficient is in [-1, 1]"),
    "phot_g_mean_mag": _MAG_RANGE,
    "phot_bp_mean_mag": _MAG_RANGE,
    "phot_rp_mean_mag": _MAG_RANGE,
    "radial_velocity": Limit(-299792.458, 299792.458, "faster than light"),
    "ruwe": Limit(0.0, math.inf, "a unit-weight error cannot be negative"),
}

_ZERO_SIGMA = Limit(
    float(np.finfo(np.float32).tiny), math.inf, "Gaia never reports a zero uncertainty", "of 0"
)
_PM = Limit(-11000.0, 11000.0, "faster than Barnard's star (10.4 arcsec/yr), the fastest known")

#: Valid but suspicious values: logged as a warning, the table is used as given.
SUSPICIOUS: dict[str, Limit] = {
    "parallax": Limit(-800.0, 800.0, "larger than Proxima Centauri's 768 mas"),
    "parallax_error": _ZERO_SIGMA,
    "pmra": _PM,
    "pmdec": _PM,
    "pmra_error": _ZERO_SIGMA,
    "pmdec_error": _ZERO_SIGMA,
    "phot_g_mean_mag": Limit(1.0, 22.0, "outside the G range Gaia DR3 measures (about 2-21)"),
    "phot_bp_mean_mag": Limit(0.0, 26.0, "outside the BP range Gaia DR3 measures"),
    "phot_rp_mean_mag": Limit(0.0, 26.0, "outside the RP range Gaia DR3 measures"),
}

#: More rows than this, all within |ra| ≤ 6.3 and |dec| ≤ 1.6, look like radians (checked
#: only when the file states no unit for ra or dec).
RADIAN_GUESS_MIN_ROWS = 10


def check_unit(path: Path | str, key: str, found: str | None) -> None:
    """Raise when a file states a unit for ``key`` other than the expected one."""
    import astropy.units as u

    expected = EXPECTED_UNITS.get(key)
    if expected is None or found is None or not found.strip():
        return
    unit = u.Unit(found.strip(), parse_strict="silent")
    if isinstance(unit, u.UnrecognizedUnit):
        for fmt in ("cds", "fits", "vounit"):
            try:
                unit = u.Unit(found.strip(), format=fmt)
                break
            except ValueError:
                continue
    if isinstance(unit, u.UnrecognizedUnit) or unit != u.Unit(expected):
        raise fail(path, f"column '{key}' has unit '{found.strip()}', expected {expected}")


def check_column_type(path: Path | str, key: str, found: np.dtype, target: np.dtype) -> None:
    """Refuse a file column whose type cannot hold ``key``, before any value is read.

    Parameters
    ----------
    path : Path or str
        The file (for the message).
    key : str
        Our name of the column.
    found : numpy.dtype
        The column's type in the file.
    target : numpy.dtype
        Its schema dtype.

    Raises
    ------
    InputError
        Booleans where a number is expected; a floating-point column for an integer
        (``source_id``: float64 cannot hold every Gaia id exactly); a non-numeric type.
    """
    kind = found.kind
    if kind == "b":
        raise fail(path, f"column '{key}' holds booleans (true/false), not numbers")
    if target.kind == "i" and kind == "f":
        raise fail(
            path,
            f"column '{key}' holds floating-point numbers ({found}); it must be an integer "
            "column (float64 cannot hold every Gaia source_id exactly)",
        )
    if kind not in "fiuUSO":
        raise fail(path, f"column '{key}' has type {found}, not numeric")


def _count(xp: Any, mask: Any) -> int:
    return int(xp.count_nonzero(mask))


def _bounds(xp: Any, values: Any) -> tuple[float, float]:
    """Smallest and largest value, NaN ignored (NaN when every value is NaN); one pass each."""
    if values.dtype.kind != "f":
        return float(values.min()), float(values.max())
    if xp is np:
        return float(np.fmin.reduce(values)), float(np.fmax.reduce(values))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(xp.nanmin(values)), float(xp.nanmax(values))


def to_schema_dtype(
    path: Path | str, key: str, values: Any, nulls: Any | None, target: np.dtype
) -> Any:
    """Cast one column to its schema dtype, refusing lossy or impossible conversions.

    Parameters
    ----------
    path : Path or str
        The file (for messages).
    key : str
        Our name of the column.
    values : numpy.ndarray or cupy.ndarray, shape (n_rows,)
        The values in the file's type (whatever stands in null rows).
    nulls : array of bool, shape (n_rows,), or None
        Null rows of a column whose type has no NaN (None: no nulls).
    target : numpy.dtype
        The schema dtype.

    Returns
    -------
    array, shape (n_rows,)
        In ``target`` dtype, on the input's device; nulls are NaN. The input itself when no
        conversion is needed.

    Raises
    ------
    InputError
        As :func:`check_column_type`; nulls in an integer column; integers beyond the int64
        range; finite values beyond the float32 range; text that is not a number.
    """
    xp = array_namespace(values)
    if values.dtype.byteorder not in "=|":  # FITS columns are big-endian
        values = values.astype(values.dtype.newbyteorder("="))
    check_column_type(path, key, values.dtype, target)
    kind = values.dtype.kind
    n_null = 0 if nulls is None else _count(xp, nulls)
    if target.kind == "i":
        if n_null:
            raise fail(path, f"column '{key}' has {n_null} null value(s); every row needs one")
        if kind == "u" and values.size and int(values.max()) > np.iinfo(np.int64).max:
            raise fail(path, f"column '{key}' has values beyond the int64 range")
    if values.dtype == target and not n_null:  # nothing to convert: no copy
        return values
    try:
        with np.errstate(over="ignore"):
            cast = values.astype(target)
    except (ValueError, TypeError, OverflowError):
        example = next((v for v in values.tolist() if not _is_number(v, target)), values[0])
        raise fail(
            path, f"column '{key}' cannot be read as {target} (value {str(example)[:40]!r})"
        ) from None
    if target.kind == "f" and kind == "f" and target.itemsize < values.dtype.itemsize:
        top = float(np.finfo(target).max)
        low, high = _bounds(xp, values)
        if low < -top or high > top:
            n_over = _count(xp, xp.isfinite(values) & (xp.abs(values) > top))
            if n_over:
                raise fail(path, f"column '{key}' has {n_over} value(s) beyond the {target} range")
    if n_null:
        cast = xp.where(nulls, xp.asarray(np.nan, dtype=target), cast)
    return cast


def _is_number(value: object, dtype: np.dtype) -> bool:
    try:
        np.asarray(value).astype(dtype)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def has_duplicates(ids: Any) -> bool:
    """Whether a 1-D integer array repeats a value: one O(n) pass when it is already strictly
    increasing (as Gaia tables often are), else a sort and a comparison of neighbours."""
    if bool((ids[1:] > ids[:-1]).all()):
        return False
    ordered = array_namespace(ids).sort(ids)
    return bool((ordered[1:] == ordered[:-1]).any())


def _range_text(key: str, limit: Limit) -> str:
    """Which values break ``limit``, in words: "outside [low, high] unit" by default."""
    if limit.shown:
        return limit.shown
    unit = EXPECTED_UNITS.get(key) or schema.GAIA_COLUMNS.get(key, (None, ""))[1]
    return f"outside [{limit.low:g}, {limit.high:g}]{f' {unit}' if unit else ''}"


def check_gaia_values(
    path: Path | str, out: Mapping[str, Any], units: Mapping[str, str | None] | None = None
) -> None:
    """Value checks of a Gaia table already cast to its schema dtypes, on NumPy or CuPy.

    Parameters
    ----------
    path : Path or str
        The file (for messages).
    out : mapping of str to array
        Columns in schema dtypes, shape (n_rows,) each; ``source_id``, ``ra``, ``dec`` at
        least.
    units : mapping of str to str or None, optional
        Units the file states (already checked by :func:`check_unit`); a stated unit for ra
        or dec turns off the radians guess.

    Raises
    ------
    InputError
        Duplicated or negative ``source_id``; NaN ra/dec; infinite values in any float
        column; any value outside :data:`IMPOSSIBLE`; ra/dec that look like radians (more
        than :data:`RADIAN_GUESS_MIN_ROWS` rows with max |ra| ≤ 6.3 and max |dec| ≤ 1.6)
        when the file states no unit for them. Values outside :data:`SUSPICIOUS` are logged
        as warnings.
    """
    sid = out["source_id"]
    xp = array_namespace(sid)
    n_rows = int(sid.shape[0])
    if has_duplicates(sid):
        uniq, counts = xp.unique(sid, return_counts=True)
        dup = counts > 1
        raise fail(
            path,
            f"column 'source_id' has {int(counts[dup].sum() - dup.sum())} duplicated "
            f"value(s) (e.g. {int(uniq[dup][0])} appears {int(counts[dup][0])} times)",
        )
    if n_rows and int(sid.min()) < 0:
        raise fail(
            path,
            f"column 'source_id' has {_count(xp, sid < 0)} negative value(s); Gaia "
            "identifiers are non-negative",
        )
    for key in ("ra", "dec"):
        n_nan = _count(xp, xp.isnan(out[key]))
        if n_nan:
            raise fail(
                path, f"column '{key}' has {n_nan} NaN/null value(s); positions are required"
            )
    bounds = {k: _bounds(xp, v) for k, v in out.items() if v.dtype.kind == "f"}
    for key, (low, high) in bounds.items():
        if math.isinf(low) or math.isinf(high):
            n_inf = _count(xp, xp.isinf(out[key]))
            raise fail(path, f"column '{key}' has {n_inf} infinite value(s)")
    for key, limit in IMPOSSIBLE.items():
        if key not in bounds:
            continue
        low, high = bounds[key]
        if low < limit.low or high > limit.high:
            n_bad = _count(xp, (out[key] < limit.low) | (out[key] > limit.high))
            raise fail(
                path,
                f"column '{key}' has {n_bad} row(s) {_range_text(key, limit)} "
                f"(min {low:.6g}, max {high:.6g}): {limit.why}",
            )
    stated = units or {}
    if not (stated.get("ra") or stated.get("dec")) and n_rows > RADIAN_GUESS_MIN_ROWS:
        (ra_lo, ra_hi), (dec_lo, dec_hi) = bounds["ra"], bounds["dec"]
        if max(abs(ra_lo), abs(ra_hi)) <= 6.3 and max(abs(dec_lo), abs(dec_hi)) <= 1.6:
            raise fail(
                path,
                "columns 'ra' and 'dec' look like radians (all |ra| ≤ 6.3 and |dec| ≤ 1.6) "
                "and the file states no unit; degrees are required (state unit 'deg' if "
                "these are degrees)",
            )
    for key, limit in SUSPICIOUS.items():
        if key not in bounds:
            continue
        low, high = bounds[key]
        if low < limit.low or high > limit.high:
            n_odd = _count(xp, (out[key] < limit.low) | (out[key] > limit.high))
            log.warning(
                "%s: column '%s' has %d row(s) %s (%s); used as given",
                path,
                key,
                n_odd,
                _range_text(key, limit),
                limit.why,
            )


def gaia_columns(
    path: Path | str,
    columns: Mapping[str, tuple[Any, Any | None]],
    units: Mapping[str, str | None],
) -> dict[str, Any]:
    """Check and convert the columns of a Gaia table: what both loaders run.

    Parameters
    ----------
    path : Path or str
        The file (for messages).
    columns : mapping of str to (array, array or None)
        Our name → (values in the file's type, null rows or None), NumPy or CuPy, shape
        (n_rows,) each, in output order.
    units : mapping of str to str or None
        Our name → unit the file states.

    Returns
    -------
    dict of str to array
        The columns in their schema dtypes (:data:`GAIA_DTYPES`), nulls as NaN, on the
        input's device.

    Raises
    ------
    InputError
        No rows; a stated unit that differs from :data:`EXPECTED_UNITS`; anything
        :func:`to_schema_dtype` or :func:`check_gaia_values` refuses.
    """
    first = next(iter(columns.values()))[0]
    if int(first.shape[0]) == 0:
        raise fail(path, "the table has no rows")
    for key, unit in units.items():
        check_unit(path, key, unit)
    out = {
        key: to_schema_dtype(path, key, values, nulls, GAIA_DTYPES[key])
        for key, (values, nulls) in columns.items()
    }
    check_gaia_values(path, out, units)
    return out
