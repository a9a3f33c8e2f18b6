"""Read whole tables: any catalogue (:func:`read_table`) or a checked Gaia source table
(:func:`read_gaia_table`), picking the format reader from the sniffed content."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gpu_mc.io import schema
from gpu_mc.io.readers.arrow_formats import (
    csv_header,
    field_unit,
    parquet_row_counts,
    parquet_schema,
    read_csv,
    read_parquet,
)
from gpu_mc.io.readers.astropy_formats import read_ascii, read_fits, read_vizier_tsv, read_votable
from gpu_mc.io.readers.checks import GAIA_DTYPES, check_unit, gaia_columns
from gpu_mc.io.readers.common import RawColumn, Selector, fail
from gpu_mc.io.readers.detect import TableFile, sniff
from gpu_mc.io.readers.names import NameMap, merge_repeats

PathLike = str | os.PathLike[str] | TableFile


def read_columns(
    source: TableFile, wanted: Selector, row_groups: tuple[int, int] | None = None
) -> list[RawColumn]:
    """Read the wanted columns of a sniffed file with the reader of its format."""
    path, fmt = source.path, source.fmt
    if fmt == "parquet":
        return read_parquet(path, wanted, row_groups)
    if row_groups is not None:
        raise fail(path, f"reading in row groups needs a parquet file, not {fmt}")
    if fmt == "csv":
        return read_csv(path, source.gzipped, wanted)
    if fmt == "fits":
        return read_fits(path, wanted)
    if fmt == "votable":
        return read_votable(path, source.gzipped, wanted)
    if fmt == "vizier_tsv":
        return read_vizier_tsv(path, source.gzipped, wanted)
    return read_ascii(path, wanted, fmt)


def _matched(
    source: TableFile, names: NameMap, row_groups: tuple[int, int] | None
) -> dict[str, RawColumn]:
    """The wanted columns keyed by our names, in output order, repeats merged."""
    raw = read_columns(source, names.wanted, row_groups)
    groups = names.group([c.name for c in raw])
    merged = {key: merge_repeats(source, key, [raw[i] for i in idx]) for key, idx in groups.items()}
    return {key: merged[key] for key in names.order(source, list(merged))}


def _to_plain(path: Path | TableFile, key: str, data: np.ndarray) -> np.ndarray:
    """A possibly masked column as a plain native-endian array (float nulls NaN, string
    nulls ''); nulls in an integer or boolean column are an InputError."""
    if data.dtype.byteorder not in "=|":  # FITS columns are big-endian
        data = data.astype(data.dtype.newbyteorder("="))
    if not isinstance(data, np.ma.MaskedArray):
        return np.asarray(data)
    mask = np.ma.getmaskarray(data)
    if not mask.any():
        return np.ma.getdata(data)
    kind = data.dtype.kind
    if kind == "f":
        return data.filled(np.nan)
    if kind in "US":
        return data.filled("")
    if kind in "iub":
        raise fail(
            path,
            f"column '{key}' has {int(mask.sum())} null value(s) but holds integers "
            "(integer columns cannot carry nulls)",
        )
    return data.filled()


def read_table(
    path: PathLike,
    columns: Sequence[str] | None = None,
    optional: Sequence[str] = (),
    column_map: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Read columns of a table file into host NumPy arrays.

    The format is detected from the content (:func:`~gpu_mc.io.readers.detect.sniff`):
    parquet (``PAR1``), gzip (``1f 8b``, then the decompressed content is classified), FITS
    (``SIMPLE  =``), VOTable (``<?xml`` or ``<VOTABLE``), ECSV (``# %ECSV``, e.g. the Gaia
    bulk ``GaiaSource_*.csv.gz`` files), a VizieR TSV (``#`` comments, then names, units and
    dashes lines), a CDS/MRT table (``Title:`` with a byte-by-byte description), otherwise
    CSV (a UTF-8 byte-order mark is allowed). In CSV and ECSV, empty fields and the literal
    ``null`` are nulls.

    Parameters
    ----------
    path : str, PathLike or TableFile
        The table file (a :class:`~gpu_mc.io.readers.detect.TableFile` is not sniffed again).
    columns : sequence of str, optional
        Required columns, by our (Gaia) names. A missing one is an error. ``None`` reads every
        column of the file.
    optional : sequence of str, default ()
        Columns returned when the file has them.
    column_map : mapping of str to str, optional
        File column name → our name, e.g. ``{"RA_ICRS": "ra"}``; keys are matched
        case-insensitively and a mapped column takes precedence over a file column that
        already has the target name.

    Returns
    -------
    dict of str to numpy.ndarray
        One 1-D array of length ``n_rows`` per column, keyed by our names: required columns in
        the order given, then the optional ones present. With ``columns=None``, every file
        column, keyed by its Gaia name when it matches one case-insensitively and by its file
        name otherwise. Floating-point nulls are NaN; string nulls are ``''``.

    Raises
    ------
    InputError
        Unreadable or unrecognised file, missing required columns (all of them named), an
        integer column with nulls, or two file columns for the same name (a repeated header
        or a case-insensitive clash) holding different values; identical repeats are merged,
        keeping the first.
    """
    source = sniff(path)
    names = NameMap(None if columns is None else tuple(columns), tuple(optional), column_map)
    return {
        key: _to_plain(source, key, col.data) for key, col in _matched(source, names, None).items()
    }


def column_names(path: PathLike, column_map: Mapping[str, str] | None = None) -> list[str]:
    """Our names of a file's columns (as :func:`read_table` with ``columns=None`` keys them),
    read from the header alone for parquet and CSV.

    Parameters
    ----------
    path : str, PathLike or TableFile
        The table file.
    column_map : mapping of str to str, optional
        File column name → our name, as in :func:`read_table`.

    Returns
    -------
    list of str
        One name per distinct column, in file order.
    """
    source = sniff(path)
    if source.fmt == "parquet":
        file_names = list(parquet_schema(source.path).names)
    elif source.fmt == "csv":
        file_names = csv_header(source.path, source.gzipped)[1]
    else:
        file_names = [c.name for c in read_columns(source, lambda _: True)]
    return list(NameMap(None, (), column_map).group(file_names))


def gaia_name_map(
    path: PathLike,
    column_map: Mapping[str, str] | None,
    optional: Sequence[str],
    required: Sequence[str],
) -> NameMap:
    """The name map of a Gaia read: ``source_id``, ``ra``, ``dec`` and ``required`` needed,
    ``optional`` kept when present; InputError for a name outside the Gaia schema."""
    unknown = [c for c in optional if c not in GAIA_DTYPES]
    if unknown:
        raise fail(path, f"optional column(s) {', '.join(unknown)} are not Gaia schema columns")
    must = tuple(dict.fromkeys(["source_id", "ra", "dec", *required]))
    unknown = [c for c in must if c not in GAIA_DTYPES]
    if unknown:
        raise fail(path, f"required column(s) {', '.join(unknown)} are not Gaia schema columns")
    return NameMap(must, tuple(optional), column_map)


def read_gaia_table(
    path: PathLike,
    column_map: Mapping[str, str] | None = None,
    optional: Sequence[str] = ("radial_velocity", "ruwe"),
    required: Sequence[str] = schema.REQUIRED_COLUMNS,
    row_groups: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """Read and validate a Gaia source table holding the columns the features need.

    Parameters
    ----------
    path : str, PathLike or TableFile
        Any file :func:`read_table` reads.
    column_map : mapping of str to str, optional
        File column name → Gaia name, as in :func:`read_table`.
    optional : sequence of str, default ("radial_velocity", "ruwe")
        Optional Gaia columns (from :data:`gpu_mc.io.schema.OPTIONAL_COLUMNS`) carried when
        present.
    required : sequence of str, default REQUIRED_COLUMNS
        Gaia columns that must be present (e.g. fewer for a model trained without
        parallax; see :func:`gpu_mc.features.required_inputs`). ``source_id``, ``ra`` and
        ``dec`` are always required.
    row_groups : (int, int), optional
        Parquet only: read row groups ``start`` to ``stop - 1`` (for scoring files larger
        than memory piece by piece; ``source_id`` uniqueness is then checked within the
        piece only).

    Returns
    -------
    dict of str to numpy.ndarray
        :data:`~gpu_mc.io.schema.REQUIRED_COLUMNS` then the optional columns present, each a
        1-D array of length ``n_rows`` in its schema dtype (``source_id`` int64; ra, dec deg,
        parallax mas, proper motions mas/yr, magnitudes mag as float64/float32). NaN marks a
        missing feature value (also a null in an integer column, e.g. a FITS ``TNULL``); the
        null policy is applied downstream.

    Raises
    ------
    InputError
        Anything :func:`read_table` rejects, and what
        :func:`~gpu_mc.io.readers.checks.gaia_columns` refuses: no rows, a stated unit that
        differs from the schema's, a wrong column type (booleans, a float ``source_id``),
        nulls in ``source_id``, ``ra`` or ``dec``, and impossible values (the value policy
        of :mod:`gpu_mc.io.readers.checks`).
    """
    source = sniff(path)
    names = gaia_name_map(source, column_map, optional, required)
    matched = _matched(source, names, row_groups)
    columns = {
        key: (
            np.ma.getdata(col.data),
            np.ma.getmaskarray(col.data) if np.ma.is_masked(col.data) else None,
        )
        for key, col in matched.items()
    }
    return gaia_columns(source, columns, {key: col.unit for key, col in matched.items()})


def parquet_units(path: PathLike, keys: Sequence[str]) -> None:
    """Check the units a parquet file's field metadata states for ``keys`` (InputError if
    one differs from the schema's); the same check :func:`read_gaia_table` makes."""
    arrow_schema = parquet_schema(Path(path))
    for key in keys:
        check_unit(path, key, field_unit(arrow_schema.field(key)))


def parquet_row_groups(path: PathLike) -> list[int] | None:
    """Row counts of the row groups of a parquet file; None for any other format."""
    source = sniff(path)
    if source.fmt != "parquet":
        return None
    return parquet_row_counts(source.path)
