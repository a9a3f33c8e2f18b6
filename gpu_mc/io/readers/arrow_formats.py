"""Parquet and CSV (plain or gzip) through pyarrow."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gpu_mc.io.readers.common import NULL_VALUES, RawColumn, Selector, describe, fail, from_arrow


def parquet_schema(path: Path) -> pa.Schema:
    """The Arrow schema of a parquet file (InputError when the footer cannot be read)."""
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise fail(path, f"truncated or corrupt parquet ({describe(exc)})") from None


def field_unit(field: pa.Field) -> str | None:
    """The unit a parquet field's metadata states (None when it states none)."""
    unit = (field.metadata or {}).get(b"unit")
    return unit.decode() if unit else None


def read_parquet(
    path: Path, wanted: Selector, row_groups: tuple[int, int] | None = None
) -> list[RawColumn]:
    """The wanted columns of a parquet file (and, if given, only row groups
    ``row_groups[0]`` to ``row_groups[1] - 1``); units from the field metadata."""
    try:
        pfile = pq.ParquetFile(path)
        arrow_schema = pfile.schema_arrow
        names = [f.name for f in arrow_schema if wanted(f.name)]
        if row_groups is None:
            table = pfile.read(columns=names)
        else:
            table = pfile.read_row_groups(range(*row_groups), columns=names)
    except (pa.ArrowException, OSError) as exc:
        raise fail(path, f"truncated or corrupt parquet ({describe(exc)})") from None
    return [
        RawColumn(name, from_arrow(table.column(i)), field_unit(arrow_schema.field(name)))
        for i, name in enumerate(names)
    ]


def parquet_row_counts(path: Path) -> list[int]:
    """Row counts of the row groups of a parquet file."""
    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as exc:
        raise fail(path, f"truncated or corrupt parquet ({describe(exc)})") from None
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def csv_header(path: Path, gzipped: bool) -> tuple[int, list[str]]:
    """Number of leading ``#`` lines and the column names of the header (duplicates kept).

    A UTF-8 byte-order mark (as spreadsheet programs write) is not part of the first name.
    """
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
        skip = 0
        header = ""
        for line in fh:
            if not line.startswith("#"):
                header = line
                break
            skip += 1
    return skip, next(csv.reader([header]), [])


def read_csv(path: Path, gzipped: bool, wanted: Selector) -> list[RawColumn]:
    """Gaia-archive CSV via pyarrow; leading ``#`` lines skipped, repeated names kept."""
    try:
        skip, names = csv_header(path, gzipped)
    except (OSError, EOFError) as exc:
        raise fail(path, f"cannot read CSV header ({describe(exc)})") from None
    if not names or names == [""]:
        raise fail(path, "no CSV header line")
    # Unique internal names keep duplicated header names apart; they are restored below.
    unique = [f"{n}\x00{i}" for i, n in enumerate(names)]
    keep = [u for u, n in zip(unique, names, strict=True) if wanted(n)]
    try:
        stream = pa.input_stream(str(path), compression="gzip" if gzipped else None)
        table = pacsv.read_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=unique, skip_rows=skip + 1),
            convert_options=pacsv.ConvertOptions(
                include_columns=keep,
                null_values=list(NULL_VALUES),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise fail(path, f"cannot parse as CSV ({describe(exc)})") from None
    return [
        RawColumn(u.split("\x00")[0], from_arrow(table.column(u)), None) for u in table.column_names
    ]
