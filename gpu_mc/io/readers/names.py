"""Match a file's column names to ours: case-insensitively, through a column map, with
repeated or clashing names merged when they hold the same values.

Both loaders use :class:`NameMap`: the host reader on the columns it has read, the cuDF
loader on the parquet schema before it reads anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpu_mc.io import schema
from gpu_mc.io.readers.common import RawColumn, fail

#: Names we know; a file column matching one of them case-insensitively is keyed by it.
KNOWN_NAMES: dict[str, str] = {
    name.lower(): name
    for name in (*schema.GAIA_COLUMNS, *schema.OPTIONAL_COLUMNS, *schema.TRUTH_COLUMNS)
}


@dataclass(frozen=True)
class NameMap:
    """Which file columns are wanted and under which of our names.

    Parameters
    ----------
    columns : sequence of str or None
        Required columns, by our names; None wants every column of the file.
    optional : sequence of str
        Columns kept when the file has them.
    column_map : mapping of str to str, optional
        File column name → our name; keys matched case-insensitively.
    """

    columns: tuple[str, ...] | None
    optional: tuple[str, ...] = ()
    column_map: Mapping[str, str] | None = None
    _cmap: dict[str, str] = field(init=False, repr=False)
    _requested: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cmap = {k.lower(): v for k, v in (self.column_map or {}).items()}
        requested = {n.lower(): n for n in (*(self.columns or ()), *self.optional)}
        object.__setattr__(self, "_cmap", cmap)
        object.__setattr__(self, "_requested", requested)

    def key(self, file_name: str) -> str:
        """Our name for a file column: mapped, else a requested or known name matched
        case-insensitively, else the file's own name."""
        low = file_name.lower()
        if low in self._cmap:
            return self._cmap[low]
        return self._requested.get(low) or KNOWN_NAMES.get(low) or file_name

    def mapped(self, file_name: str) -> bool:
        """Whether the column map names this file column."""
        return file_name.lower() in self._cmap

    def wanted(self, file_name: str) -> bool:
        """Whether a file column is to be read."""
        if self.columns is None:
            return True
        return self.key(file_name) in {*self.columns, *self.optional}

    def group(self, file_names: Sequence[str]) -> dict[str, list[int]]:
        """Indices of the wanted file columns under each of our names, in file order.

        Where the column map names one of several file columns for a name, only the mapped
        ones are kept (a mapped column takes precedence over one already so named).
        """
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(file_names):
            if self.wanted(name):
                groups.setdefault(self.key(name), []).append(i)
        for key, idx in groups.items():
            mapped = [i for i in idx if self.mapped(file_names[i])]
            groups[key] = mapped or idx
        return groups

    def order(self, path: Path | str, present: Sequence[str]) -> list[str]:
        """Our names in output order (required as given, then the optional ones present);
        InputError naming every missing required column."""
        if self.columns is None:
            return list(present)
        have = set(present)
        missing = [c for c in self.columns if c not in have]
        if missing:
            raise fail(
                path,
                f"missing required column(s) {', '.join(missing)} (names are matched "
                "case-insensitively; pass a column map for other names)",
            )
        return [*self.columns, *(c for c in self.optional if c in have and c not in self.columns)]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two columns hold the same values (NaN equal to NaN, masks compared)."""
    if a.shape != b.shape:
        return False
    ma, mb = np.ma.getmaskarray(a), np.ma.getmaskarray(b)
    if not np.array_equal(ma, mb):
        return False
    da, db = np.ma.getdata(a)[~ma], np.ma.getdata(b)[~mb]
    try:
        return bool(np.array_equal(da, db, equal_nan=True))
    except TypeError:
        return bool(np.array_equal(da, db))


def merge_repeats(path: Path | str, key: str, cols: Sequence[RawColumn]) -> RawColumn:
    """One column from file columns that all give ``key``; InputError if their values
    differ (a repeated header or a case-insensitive clash), else the first is kept."""
    first = cols[0]
    for other in cols[1:]:
        if not _same(first.data, other.data):
            which = (
                f"the header repeats '{first.name}'"
                if first.name == other.name
                else f"columns '{first.name}' and '{other.name}' both give '{key}'"
            )
            raise fail(path, f"{which} with different values")
    return first
