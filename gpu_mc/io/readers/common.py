"""Pieces every format reader shares: the error builder, the raw-column record and the
conversions from Arrow and astropy columns to NumPy (nulls kept as masks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from gpu_mc.errors import InputError

#: Values the Gaia archive and its bulk files write for a missing value.
NULL_VALUES: tuple[str, ...] = ("", "null", "NULL")

#: A predicate telling a reader whether a file column (by its name in the file) is wanted.
Selector = Callable[[str], bool]


@dataclass
class RawColumn:
    """One column as read from a file, before name matching and conversion.

    Attributes
    ----------
    name : str
        The column's name in the file.
    data : numpy.ndarray, shape (n_rows,)
        The values in the file's type; a ``numpy.ma.MaskedArray`` where the file marks nulls
        in a column whose type has no NaN (integers, booleans).
    unit : str or None
        The unit the file states for the column (None when it states none).
    """

    name: str
    data: np.ndarray
    unit: str | None


def fail(path: object, what: str) -> InputError:
    """Build a one-line InputError that names the file."""
    return InputError(f"{path}: {' '.join(what.splitlines())}")


def describe(exc: BaseException) -> str:
    """First line of a library exception, prefixed by its type."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no details'}"


def from_arrow(arr: pa.ChunkedArray) -> np.ndarray:
    """Convert an Arrow column to NumPy; nulls become NaN (floats), masks (integers and
    booleans) or ``''`` (strings)."""
    typ = arr.type
    if pa.types.is_null(typ):
        return np.full(len(arr), np.nan)
    if pa.types.is_dictionary(typ):
        arr = arr.cast(typ.value_type)
        typ = arr.type
    if pa.types.is_floating(typ):
        return arr.to_numpy()
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return np.asarray(arr.fill_null("").to_numpy(zero_copy_only=False), dtype=str)
    if arr.null_count and (pa.types.is_integer(typ) or pa.types.is_boolean(typ)):
        mask = arr.is_null().to_numpy(zero_copy_only=False)
        filled = arr.fill_null(pa.scalar(0, typ) if pa.types.is_integer(typ) else False)
        return np.ma.MaskedArray(filled.to_numpy(zero_copy_only=False), mask=mask)
    return arr.to_numpy(zero_copy_only=False)


def from_astropy(table, wanted: Selector, units: Mapping[str, str | None]) -> list[RawColumn]:
    """The wanted columns of an astropy Table (masked columns kept as NumPy masked arrays)."""
    out = []
    for name in table.colnames:
        if not wanted(name):
            continue
        col = table[name]
        data = (
            np.ma.MaskedArray(np.asarray(col), mask=np.asarray(col.mask))
            if getattr(col, "mask", None) is not None
            else np.asarray(col)
        )
        out.append(RawColumn(name, data, units.get(name)))
    return out


def unit_strings(table) -> dict[str, str | None]:
    """Unit of each astropy Table column as a string (None when it has none)."""
    return {n: (str(table[n].unit) if table[n].unit is not None else None) for n in table.colnames}
