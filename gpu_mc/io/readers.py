"""Read Gaia-like tables from parquet, CSV (plain or gzip), ECSV, FITS, VOTable and VizieR TSV.

The format is picked from the file's content (magic bytes and the first lines of text), with
the extension used only to reject files whose content contradicts it (a ``.gz`` that is not
gzip, a ``.parquet`` without the parquet magic). Column names are matched case-insensitively;
``column_map`` renames file columns to the Gaia names we use. Every failure is an
:class:`~gpu_mc.errors.InputError` with a one-line message naming the file and, where one is
involved, the column.
"""

from __future__ import annotations

import csv
import gzip
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gpu_mc.backend import array_namespace
from gpu_mc.errors import InputError
from gpu_mc.io import schema

#: Values the Gaia archive and its bulk files write for a missing value.
NULL_VALUES: tuple[str, ...] = ("", "null", "NULL")

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

#: Names we know; a file column matching one of them case-insensitively is keyed by it.
_KNOWN_NAMES: dict[str, str] = {
    name.lower(): name
    for name in (*schema.GAIA_COLUMNS, *schema.OPTIONAL_COLUMNS, *schema.TRUTH_COLUMNS)
}

_SNIFF_BYTES = 65536


@dataclass
class _Column:
    """One column as read from a file, before matching and conversion."""

    name: str
    data: np.ndarray
    unit: str | None


#: A predicate telling a reader whether a file column (by its name in the file) is wanted.
_Selector = Callable[[str], bool]


def _fail(path: Path, what: str) -> InputError:
    """Build a one-line InputError that names the file."""
    return InputError(f"{path}: {' '.join(what.splitlines())}")


def _describe(exc: BaseException) -> str:
    """First line of a library exception, prefixed by its type."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no details'}"


# --------------------------------------------------------------------------- format detection


def _text_format(head: bytes, path: Path) -> str:
    """Classify a text head (already decompressed) as one of our text formats."""
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if b"\x00" in head:
        raise _fail(path, "binary content that is not parquet, FITS, VOTable or gzip")
    text = head.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    if not text:
        raise _fail(path, "the file holds only whitespace, no table")
    if text.startswith(("<?xml", "<VOTABLE")):
        return "votable"
    if text.startswith("# %ECSV"):
        return "ecsv"
    if text.startswith("Title:") and "Byte-by-byte Description" in text:
        return "cds"
    if text.startswith("#"):
        body = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if len(body) >= 3 and "\t" in body[0] and set(body[2]) <= {"-", "\t", " "}:
            return "vizier_tsv"
    return "csv"


def detect_format(path: str | Path) -> tuple[str, bool]:
    """Find a table file's format from its content.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    fmt : str
        One of ``"parquet"``, ``"fits"``, ``"votable"``, ``"ecsv"``, ``"csv"``,
        ``"vizier_tsv"`` and ``"cds"``.
    gzipped : bool
        Whether the content is gzip-compressed (the format is that of the decompressed data).

    Raises
    ------
    InputError
        The file is missing or empty, gzip that cannot be decompressed, or its content
        contradicts its extension.
    """
    p = Path(path)
    if not p.is_file():
        raise _fail(p, "no such file")
    if p.stat().st_size == 0:
        raise _fail(p, "the file is empty (0 bytes)")
    with p.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    suffixes = [s.lower() for s in p.suffixes]
    gzipped = head[:2] == b"\x1f\x8b"
    if suffixes and suffixes[-1] == ".gz" and not gzipped:
        raise _fail(p, "the name ends in .gz but the content is not gzip-compressed")
    if head[:4] == b"PAR1":
        return "parquet", False
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        raise _fail(p, "does not start with the parquet magic bytes 'PAR1' (not parquet)")
    if gzipped:
        try:
            with gzip.open(p, "rb") as fh:
                head = fh.read(_SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise _fail(p, f"corrupt gzip data ({_describe(exc)})") from None
        if not head:
            raise _fail(p, "the gzip stream decompresses to nothing (empty table)")
    fmt = _text_format(head, p)
    plain = [s for s in suffixes if s != ".gz"]
    if plain and plain[-1] in (".fits", ".fit", ".fts") and fmt != "fits":
        raise _fail(p, "the name says FITS but the content does not start with 'SIMPLE  ='")
    if plain and plain[-1] in (".vot", ".votable", ".xml") and fmt != "votable":
        raise _fail(p, "the name says VOTable but the content is not XML")
    return fmt, gzipped


# --------------------------------------------------------------------------- format readers


def _from_arrow(arr: pa.ChunkedArray) -> np.ndarray:
    """Convert an Arrow column to NumPy; nulls become NaN (floats), masks (ints) or ''."""
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


def _read_parquet(
    path: Path, wanted: _Selector, row_groups: tuple[int, int] | None = None
) -> list[_Column]:
    """Parquet via pyarrow, reading only the wanted columns (and, if given, only row groups
    ``row_groups[0]`` to ``row_groups[1] - 1``); units from field metadata."""
    try:
        pfile = pq.ParquetFile(path)
        arrow_schema = pfile.schema_arrow
        names = [f.name for f in arrow_schema if wanted(f.name)]
        if row_groups is None:
            table = pfile.read(columns=names)
        else:
            table = pfile.read_row_groups(range(*row_groups), columns=names)
    except (pa.ArrowException, OSError) as exc:
        raise _fail(path, f"truncated or corrupt parquet ({_describe(exc)})") from None
    out = []
    for i, name in enumerate(names):
        meta = arrow_schema.field(name).metadata or {}
        unit = meta.get(b"unit")
        out.append(_Column(name, _from_arrow(table.column(i)), unit.decode() if unit else None))
    return out


def _csv_header(path: Path, gzipped: bool, skip: int) -> list[str]:
    """Column names of a CSV file as written in its header (duplicates kept)."""
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        for _ in range(skip):
            fh.readline()
        header = fh.readline()
    return next(csv.reader([header]), [])


def _read_csv(path: Path, gzipped: bool, wanted: _Selector) -> list[_Column]:
    """Gaia-archive CSV via pyarrow; leading ``#`` lines skipped, repeated names kept."""
    try:
        opener = gzip.open if gzipped else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            skip = 0
            for line in fh:
                if not line.startswith("#"):
                    break
                skip += 1
        names = _csv_header(path, gzipped, skip)
    except (OSError, EOFError) as exc:
        raise _fail(path, f"cannot read CSV header ({_describe(exc)})") from None
    if not names or names == [""]:
        raise _fail(path, "no CSV header line")
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
        raise _fail(path, f"cannot parse as CSV ({_describe(exc)})") from None
    return [
        _Column(u.split("\x00")[0], _from_arrow(table.column(u)), None) for u in table.column_names
    ]


def _from_astropy(table, wanted: _Selector, units: Mapping[str, str | None]) -> list[_Column]:
    """Columns of an astropy Table (masked columns kept as NumPy masked arrays)."""
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
        out.append(_Column(name, data, units.get(name)))
    return out


def _unit_strings(table) -> dict[str, str | None]:
    """Unit of each astropy Table column as a string (None when it has none)."""
    return {n: (str(table[n].unit) if table[n].unit is not None else None) for n in table.colnames}


def _read_fits(path: Path, wanted: _Selector) -> list[_Column]:
    """First binary (or ASCII) table extension of a FITS file; units from TUNITn."""
    from astropy.io import fits
    from astropy.table import Table

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdul:
                index = next(
                    (
                        i
                        for i, h in enumerate(hdul)
                        if isinstance(h, fits.BinTableHDU | fits.TableHDU)
                    ),
                    None,
                )
                if index is None:
                    kinds = ", ".join(
                        f"{h.name or i}:{type(h).__name__}" for i, h in enumerate(hdul)
                    )
                    raise _fail(path, f"no binary table extension in the FITS file (HDUs: {kinds})")
                raw_units = {c.name: c.unit for c in hdul[index].columns}
                table = Table.read(hdul[index], mask_invalid=False)
    except InputError:
        raise
    except Exception as exc:  # astropy raises many types for a damaged FITS file
        raise _fail(path, f"cannot read FITS ({_describe(exc)})") from None
    units = {n: (raw_units.get(n) or None) for n in table.colnames}
    return _from_astropy(table, wanted, units)


def _read_votable(path: Path, gzipped: bool, wanted: _Selector) -> list[_Column]:
    """First TABLE of a VOTable (FIELD names, not IDs); units from the FIELDs."""
    from astropy.io.votable import parse

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opener = gzip.open if gzipped else open
            with opener(path, "rb") as fh:
                votable = parse(fh)
            tables = list(votable.iter_tables())
            if not tables:
                raise _fail(path, "the VOTable holds no TABLE element")
            table = tables[0].to_table(use_names_over_ids=True)
    except InputError:
        raise
    except Exception as exc:  # the XML and VOTable parsers raise many types
        raise _fail(path, f"cannot read VOTable ({_describe(exc)})") from None
    return _from_astropy(table, wanted, _unit_strings(table))


def _read_ascii(path: Path, wanted: _Selector, fmt: str) -> list[_Column]:
    """ECSV (Gaia bulk files; ``null`` and empty fields are nulls) or CDS/MRT via astropy."""
    from astropy.io import ascii as astropy_ascii

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "ecsv":
                fill = [(v, "0") for v in NULL_VALUES]
                table = astropy_ascii.read(str(path), format="ecsv", fill_values=fill)
            else:
                table = astropy_ascii.read(str(path), format="cds")
    except Exception as exc:  # astropy.io.ascii raises many types for malformed text
        raise _fail(path, f"cannot parse as {fmt.upper()} ({_describe(exc)})") from None
    return _from_astropy(table, wanted, _unit_strings(table))


def _read_vizier_tsv(path: Path, gzipped: bool, wanted: _Selector) -> list[_Column]:
    """VizieR tab-separated export: '#' comments, names, units, dashes, then data rows."""
    from astropy.io import ascii as astropy_ascii

    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            lines = [ln.rstrip("\r\n") for ln in fh if not ln.startswith("#") and ln.strip()]
        names = [n.strip() for n in lines[0].split("\t")]
        unit_line = lines[1].split("\t")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # VizieR pads fields with blanks: strip them so blank fields become nulls.
            rows = ["\t".join(f.strip() for f in ln.split("\t")) for ln in lines[3:]]
            table = astropy_ascii.read(
                ["\t".join(names), *rows], format="tab", guess=False, fill_values=[("", "0")]
            )
    except Exception as exc:  # astropy.io.ascii raises many types for malformed text
        raise _fail(path, f"cannot parse as a VizieR TSV ({_describe(exc)})") from None
    units = {
        n: (unit_line[i].strip() or None) if i < len(unit_line) else None
        for i, n in enumerate(names)
    }
    return _from_astropy(table, wanted, units)


def _read_columns(
    path: Path, wanted: _Selector, row_groups: tuple[int, int] | None = None
) -> list[_Column]:
    """Read the wanted columns of any supported file, picking the reader by content."""
    fmt, gzipped = detect_format(path)
    if fmt == "parquet":
        return _read_parquet(path, wanted, row_groups)
    if row_groups is not None:
        raise _fail(path, f"reading in row groups needs a parquet file, not {fmt}")
    if fmt == "csv":
        return _read_csv(path, gzipped, wanted)
    if fmt == "fits":
        return _read_fits(path, wanted)
    if fmt == "votable":
        return _read_votable(path, gzipped, wanted)
    if fmt == "vizier_tsv":
        return _read_vizier_tsv(path, gzipped, wanted)
    return _read_ascii(path, wanted, fmt)


# --------------------------------------------------------------------------- matching


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


def _to_plain(path: Path, key: str, data: np.ndarray) -> np.ndarray:
    """Turn a possibly masked column into a plain native-endian array (nulls where allowed)."""
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
        raise _fail(
            path,
            f"column '{key}' has {int(mask.sum())} null value(s) but holds integers "
            "(integer columns cannot carry nulls)",
        )
    return data.filled()


def _read_with_units(
    path: str | Path,
    columns: Sequence[str] | None,
    optional: Sequence[str],
    column_map: Mapping[str, str] | None,
    row_groups: tuple[int, int] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str | None]]:
    """Implementation of :func:`read_table` that also returns each column's unit."""
    p = Path(path)
    cmap = {k.lower(): v for k, v in (column_map or {}).items()}
    requested = {n.lower(): n for n in (*(columns or ()), *optional)}

    def key_of(file_name: str) -> str:
        low = file_name.lower()
        if low in cmap:
            return cmap[low]
        return requested.get(low) or _KNOWN_NAMES.get(low) or file_name

    wanted_keys = None if columns is None else {*columns, *optional}

    def wanted(file_name: str) -> bool:
        return wanted_keys is None or key_of(file_name) in wanted_keys

    raw = _read_columns(p, wanted, row_groups)

    groups: dict[str, list[_Column]] = {}
    for col in raw:
        groups.setdefault(key_of(col.name), []).append(col)
    data: dict[str, np.ndarray] = {}
    units: dict[str, str | None] = {}
    for key, cols in groups.items():
        mapped = [c for c in cols if c.name.lower() in cmap]
        cols = mapped or cols
        first = cols[0]
        for other in cols[1:]:
            if not _same(first.data, other.data):
                which = (
                    f"the header repeats '{first.name}'"
                    if first.name == other.name
                    else f"columns '{first.name}' and '{other.name}' both give '{key}'"
                )
                raise _fail(p, f"{which} with different values")
        data[key] = _to_plain(p, key, first.data)
        units[key] = first.unit
    if columns is not None:
        missing = [c for c in columns if c not in data]
        if missing:
            raise _fail(
                p,
                f"missing required column(s) {', '.join(missing)} (names are matched "
                "case-insensitively; pass a column map for other names)",
            )
        order = [*columns, *(c for c in optional if c in data)]
        data = {k: data[k] for k in order}
        units = {k: units[k] for k in order}
    return data, units


def read_table(
    path: str | Path,
    columns: Sequence[str] | None = None,
    optional: Sequence[str] = (),
    column_map: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Read columns of a table file into host NumPy arrays.

    The format is detected from the content: parquet (``PAR1``), gzip (``1f 8b``, then the
    decompressed content is classified), FITS (``SIMPLE  =``), VOTable (``<?xml`` or
    ``<VOTABLE``), ECSV (``# %ECSV``, e.g. the Gaia bulk ``GaiaSource_*.csv.gz`` files), a
    VizieR TSV (``#`` comments, then names, units and dashes lines), a CDS/MRT table
    (``Title:`` with a byte-by-byte description), otherwise CSV. In CSV and ECSV, empty fields
    and the literal ``null`` are nulls.

    Parameters
    ----------
    path : str or Path
        The table file.
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
    return _read_with_units(path, columns, optional, column_map)[0]


# --------------------------------------------------------------------------- Gaia validation


def _check_unit(path: Path, key: str, found: str | None) -> None:
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
        raise _fail(path, f"column '{key}' has unit '{found.strip()}', expected {expected}")


def _has_duplicates(ids: np.ndarray) -> bool:
    """Whether a 1-D integer array repeats a value: one O(n) pass when it is already strictly
    increasing (as Gaia tables often are), else a sort and a comparison of neighbours."""
    if bool((ids[1:] > ids[:-1]).all()):
        return False
    ordered = array_namespace(ids).sort(ids)
    return bool((ordered[1:] == ordered[:-1]).any())


def _cast(path: Path, key: str, values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast one column to its schema dtype, refusing lossy or impossible conversions."""
    kind = values.dtype.kind
    if dtype.kind == "i":
        if kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
            raise _fail(path, f"column '{key}' has values beyond the int64 range")
        if kind == "f":
            raise _fail(
                path,
                f"column '{key}' holds floating-point numbers ({values.dtype}); it must be "
                "an integer column (float64 cannot hold every Gaia source_id exactly)",
            )
    elif kind not in "fiubUSO":
        raise _fail(path, f"column '{key}' has type {values.dtype}, not numeric")
    if values.dtype == dtype:  # nothing to convert: keep pyarrow's array, no copy
        return values
    try:
        with np.errstate(over="ignore"):
            cast = values.astype(dtype)
    except (ValueError, TypeError, OverflowError):
        example = next((v for v in values.tolist() if not _is_number(v, dtype)), values[0])
        raise _fail(
            path, f"column '{key}' cannot be read as {dtype} (value {str(example)[:40]!r})"
        ) from None
    if dtype.kind == "f" and kind in "fiu":
        n_over = int((np.isinf(cast) & ~np.isinf(values)).sum())
        if n_over:
            raise _fail(path, f"column '{key}' has {n_over} value(s) beyond the {dtype} range")
    return cast


def _is_number(value: object, dtype: np.dtype) -> bool:
    try:
        np.asarray(value).astype(dtype)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def read_gaia_table(
    path: str | Path,
    column_map: Mapping[str, str] | None = None,
    optional: Sequence[str] = ("radial_velocity", "ruwe"),
    required: Sequence[str] = schema.REQUIRED_COLUMNS,
    row_groups: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """Read and validate a Gaia source table holding the columns the features need.

    Parameters
    ----------
    path : str or Path
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
        missing feature value; the null policy is applied downstream.

    Raises
    ------
    InputError
        Anything :func:`read_table` rejects, and: no rows; a stated unit that differs from
        the schema's for ra, dec (deg), parallax (mas), proper motions (mas/yr) or radial
        velocity (km/s); a column that cannot be cast to its schema dtype; null or
        duplicated ``source_id``; NaN, out-of-range or radian-looking ra/dec (more than 10
        rows with max |ra| ≤ 6.3 and max |dec| ≤ 1.6); infinite values in any float column.
    """
    p = Path(path)
    dtypes = {**schema.GAIA_COLUMNS, **schema.OPTIONAL_COLUMNS}
    unknown = [c for c in optional if c not in dtypes]
    if unknown:
        raise _fail(p, f"optional column(s) {', '.join(unknown)} are not Gaia schema columns")
    must = list(dict.fromkeys(["source_id", "ra", "dec", *required]))
    unknown = [c for c in must if c not in dtypes]
    if unknown:
        raise _fail(p, f"required column(s) {', '.join(unknown)} are not Gaia schema columns")
    data, units = _read_with_units(p, must, optional, column_map, row_groups)
    n_rows = len(data["source_id"])
    if n_rows == 0:
        raise _fail(p, "the table has no rows")
    for key, unit in units.items():
        _check_unit(p, key, unit)
    out = {key: _cast(p, key, values, dtypes[key][0]) for key, values in data.items()}

    check_gaia_values(p, out)
    return out


def parquet_units(path: Path, keys: Sequence[str]) -> None:
    """Check the units a parquet file's field metadata states for ``keys`` (InputError if
    one differs from the schema's); the same check :func:`read_gaia_table` makes."""
    try:
        arrow_schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise _fail(path, f"truncated or corrupt parquet ({_describe(exc)})") from None
    for key in keys:
        meta = arrow_schema.field(key).metadata or {}
        unit = meta.get(b"unit")
        _check_unit(path, key, unit.decode() if unit else None)


def check_gaia_values(path: Path, out: Mapping[str, Any]) -> None:
    """Value checks of a Gaia table already cast to its schema dtypes, on NumPy or CuPy.

    Raises
    ------
    InputError
        Duplicated ``source_id``; NaN, out-of-range or radian-looking ra/dec (more than 10
        rows with max |ra| ≤ 6.3 and max |dec| ≤ 1.6); infinite values in any float column.
    """
    xp = array_namespace(out["source_id"])
    p = path
    sid = out["source_id"]
    n_rows = int(sid.shape[0])
    if _has_duplicates(sid):
        uniq, counts = xp.unique(sid, return_counts=True)
        dup = counts > 1
        raise _fail(
            p,
            f"column 'source_id' has {int(counts[dup].sum() - dup.sum())} duplicated "
            f"value(s) (e.g. {int(uniq[dup][0])} appears {int(counts[dup][0])} times)",
        )
    for key in ("ra", "dec"):
        n_nan = int(xp.isnan(out[key]).sum())
        if n_nan:
            raise _fail(p, f"column '{key}' has {n_nan} NaN/null value(s); positions are required")
    for key, values in out.items():
        if values.dtype.kind == "f":
            n_inf = int(xp.isinf(values).sum())
            if n_inf:
                raise _fail(p, f"column '{key}' has {n_inf} infinite value(s)")
    ra_min, ra_max, dec_min, dec_max = (
        float(v) for v in (out["ra"].min(), out["ra"].max(), out["dec"].min(), out["dec"].max())
    )
    if ra_min < 0.0 or ra_max > 360.0:
        raise _fail(
            p, f"column 'ra' has values outside [0, 360] deg (min {ra_min:.6g}, max {ra_max:.6g})"
        )
    if dec_min < -90.0 or dec_max > 90.0:
        raise _fail(
            p,
            f"column 'dec' has values outside [-90, 90] deg (min {dec_min:.6g}, max {dec_max:.6g})",
        )
    radians = max(abs(ra_min), abs(ra_max)) <= 6.3 and max(abs(dec_min), abs(dec_max)) <= 1.6
    if n_rows > 10 and radians:
        raise _fail(
            p,
            "columns 'ra' and 'dec' look like radians (all |ra| ≤ 6.3 and |dec| ≤ 1.6); "
            "degrees are required",
        )


def parquet_row_groups(path: str | Path) -> list[int] | None:
    """Row counts of the row groups of a parquet file; None for any other format."""
    p = Path(path)
    if detect_format(p)[0] != "parquet":
        return None
    try:
        meta = pq.ParquetFile(p).metadata
    except (pa.ArrowException, OSError) as exc:
        raise _fail(p, f"truncated or corrupt parquet ({_describe(exc)})") from None
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
