"""Write tables (scores, samples) as parquet, FITS, VOTable, ECSV or CSV, and CDS catalogues.

Every writer goes through :func:`gpu_mc.io.atomic.atomic_path`: the final file appears only
when it is complete, and a failure leaves no file behind. Units default to the Gaia schema's
for known columns; UCDs are attached in VOTables for the columns that have one.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gpu_mc.errors import InputError
from gpu_mc.io import schema
from gpu_mc.io.atomic import atomic_path

#: Output format of each file extension.
FORMAT_OF_EXTENSION: dict[str, str] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".fits": "fits",
    ".fit": "fits",
    ".vot": "votable",
    ".votable": "votable",
    ".xml": "votable",
    ".ecsv": "ecsv",
    ".csv": "csv",
}

#: IVOA UCDs of the columns we write (Gaia DR3 data model where it gives one).
UCDS: dict[str, str] = {
    "source_id": "meta.id;meta.main",
    "ra": "pos.eq.ra;meta.main",
    "dec": "pos.eq.dec;meta.main",
    "parallax": "pos.parallax.trig",
    "parallax_error": "stat.error;pos.parallax.trig",
    "pmra": "pos.pm;pos.eq.ra",
    "pmdec": "pos.pm;pos.eq.dec",
    "pmra_error": "stat.error;pos.pm;pos.eq.ra",
    "pmdec_error": "stat.error;pos.pm;pos.eq.dec",
    "pmra_pmdec_corr": "stat.correlation",
    "phot_g_mean_mag": "phot.mag;stat.mean;em.opt",
    "phot_bp_mean_mag": "phot.mag;stat.mean;em.opt.B",
    "phot_rp_mean_mag": "phot.mag;stat.mean;em.opt.R",
    "radial_velocity": "spect.dopplerVeloc.opt;em.opt.I",
    "p_mc": "stat.probability",
    "p_mc_std": "stat.stdev;stat.probability",
}

_SCHEMA_UNITS: dict[str, str] = {
    name: unit
    for name, (_, unit) in {
        **schema.GAIA_COLUMNS,
        **schema.OPTIONAL_COLUMNS,
        **schema.TRUTH_COLUMNS,
    }.items()
    if unit
}


def _check_columns(path: Path, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the columns as 1-D arrays of one common length, or raise InputError."""
    if not columns:
        raise InputError(f"{path}: nothing to write (no columns)")
    arrays = {name: np.asarray(values) for name, values in columns.items()}
    lengths = {name: a.shape for name, a in arrays.items()}
    bad = [name for name, shape in lengths.items() if len(shape) != 1]
    if bad:
        raise InputError(f"{path}: column '{bad[0]}' is not 1-D (shape {lengths[bad[0]]})")
    if len({shape[0] for shape in lengths.values()}) > 1:
        desc = ", ".join(f"{n}={s[0]}" for n, s in lengths.items())
        raise InputError(f"{path}: columns differ in length ({desc})")
    return arrays


def _fits_text(value: str) -> str:
    """Make a metadata value printable ASCII for a FITS card (non-ASCII escaped)."""
    return value.encode("ascii", "backslashreplace").decode("ascii")


def _arrow_table(arrays, units, metadata) -> pa.Table:
    fields, data = [], []
    for name, values in arrays.items():
        arr = pa.array(values)
        meta = {"unit": units[name]} if units.get(name) else None
        fields.append(pa.field(name, arr.type, metadata=meta))
        data.append(arr)
    return pa.Table.from_arrays(data, schema=pa.schema(fields, metadata=dict(metadata)))


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary-encoding: not floats or 64-bit integers, whose values in a
    Gaia table are nearly all distinct (trying a dictionary on them costs a quarter of the
    write time for nothing)."""
    wide = (pa.int64(), pa.uint64())
    return [f.name for f in schema if not pa.types.is_floating(f.type) and f.type not in wide]


def _write_parquet(tmp: Path, arrays, units, metadata) -> None:
    table = _arrow_table(arrays, units, metadata)
    pq.write_table(table, tmp, use_dictionary=_dictionary_columns(table.schema))


def _units_for(arrays, units: Mapping[str, str] | None) -> dict[str, str]:
    return {
        name: unit
        for name in arrays
        if (unit := (units or {}).get(name, _SCHEMA_UNITS.get(name, "")))
    }


def _astropy_table(arrays, units, metadata):
    from astropy.table import Table

    table = Table()
    for name, values in arrays.items():
        table[name] = values
        if units.get(name):
            table[name].unit = units[name]
    table.meta.update(metadata)
    return table


#: Casts to a type each format can hold, for dtypes it cannot (VOTable has no signed byte,
#: no unsigned integer wider than a byte and no half float; FITS has no half float, and
#: astropy would write int8 as a FITS logical column, losing every value but zero/non-zero).
_LEGAL_CASTS: dict[str, dict[np.dtype, np.dtype]] = {
    "votable": {
        np.dtype("int8"): np.dtype("int16"),
        np.dtype("uint16"): np.dtype("int32"),
        np.dtype("uint32"): np.dtype("int64"),
        np.dtype("uint64"): np.dtype("int64"),
        np.dtype("float16"): np.dtype("float32"),
    },
    "fits": {np.dtype("int8"): np.dtype("int16"), np.dtype("float16"): np.dtype("float32")},
}


def _legal_types(path: Path, fmt: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cast each column the format cannot hold to the narrowest type it can, losslessly.

    A ``uint16`` flag column becomes ``int32`` in a VOTable, for example; a ``uint64`` column
    whose values do not fit in ``int64`` is an InputError naming the column.
    """
    casts = _LEGAL_CASTS.get(fmt, {})
    out = {}
    for name, values in arrays.items():
        target = casts.get(values.dtype.newbyteorder("="))
        if target is None:
            out[name] = values
            continue
        if values.dtype.kind == "u" and values.size and values.max() > np.iinfo(target).max:
            raise InputError(
                f"{path}: column '{name}' ({values.dtype}) has values beyond the {target} "
                f"range, which {fmt} cannot hold"
            )
        out[name] = values.astype(target)
    return out


def _write_fits(tmp: Path, arrays, units, metadata) -> None:
    from astropy.io import fits

    table = _astropy_table(arrays, units, {})
    hdu = fits.table_to_hdu(table)
    for key, value in metadata.items():
        text = _fits_text(str(value))
        if "\n" in text or len(text) > 600:
            hdu.header.add_comment(f"{_fits_text(key)}:")
            for line in text.splitlines():
                for start in range(0, max(len(line), 1), 70):
                    hdu.header.add_comment(f"  {line[start : start + 70]}")
            continue
        name = _fits_text(key)
        card_key = name.upper() if len(name) <= 8 and name.isalnum() else f"HIERARCH {name}"
        hdu.header[card_key] = text
    if any(len(card.image) > 80 for card in hdu.header.cards):
        # Values over one card use the OGIP long-string convention, which FITS readers
        # (and fitsverify) expect to be announced by LONGSTRN.
        hdu.header.set("LONGSTRN", "OGIP 1.0", "The OGIP long string convention may be used")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns when it switches to HIERARCH cards
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)


def _write_votable(tmp: Path, arrays, units, metadata) -> None:
    from astropy.io.votable import from_table
    from astropy.io.votable.tree import Info

    votable = from_table(_astropy_table(arrays, units, {}))
    table = votable.get_first_table()
    for field in table.fields:
        if field.name in UCDS:
            field.ucd = UCDS[field.name]
    resource = votable.resources[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns when it makes an XML ID from a key
        for key, value in metadata.items():
            resource.infos.append(Info(name=key, value=str(value)))
    votable.to_xml(str(tmp))


def _write_ecsv(tmp: Path, arrays, units, metadata) -> None:
    _astropy_table(arrays, units, metadata).write(tmp, format="ascii.ecsv", overwrite=True)


def _write_csv(tmp: Path, arrays, units, metadata) -> None:
    pacsv.write_csv(pa.table({name: pa.array(v) for name, v in arrays.items()}), tmp)


_WRITERS = {
    "parquet": _write_parquet,
    "fits": _write_fits,
    "votable": _write_votable,
    "ecsv": _write_ecsv,
    "csv": _write_csv,
}


def write_table(
    path: str | Path,
    columns: Mapping[str, np.ndarray],
    *,
    units: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
    fmt: str | None = None,
) -> Path:
    """Write columns to a table file atomically.

    Parameters
    ----------
    path : str or Path
        Output file. Its parent directory is created when needed.
    columns : mapping of str to numpy.ndarray
        Column name → 1-D array; all of one length ``n_rows``.
    units : mapping of str to str, optional
        Column name → unit string (astropy syntax, e.g. ``"mas/yr"``). Known Gaia columns get
        their schema unit unless given here.
    metadata : mapping of str to str, optional
        Provenance (package version, model hash, config, ...). Parquet: table metadata;
        FITS: header cards (HIERARCH for keys over 8 characters; multi-line values as COMMENT
        cards; non-ASCII characters backslash-escaped); VOTable: ``INFO`` elements; ECSV: the
        YAML ``meta``; plain CSV carries neither units nor metadata.
    fmt : {"parquet", "fits", "votable", "ecsv", "csv"}, optional
        Output format; by default from the extension (``.parquet``/``.pq``, ``.fits``/``.fit``,
        ``.vot``/``.votable``/``.xml``, ``.ecsv``, ``.csv``).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputError
        Unknown extension or format, columns of different lengths or not 1-D, or a value the
        format cannot hold. No file is left behind.
    """
    p = Path(path)
    if fmt is None:
        fmt = FORMAT_OF_EXTENSION.get(p.suffix.lower())
        if fmt is None:
            known = ", ".join(sorted(FORMAT_OF_EXTENSION))
            raise InputError(f"{p}: unknown output extension '{p.suffix}' (use one of {known})")
    if fmt not in _WRITERS:
        raise InputError(f"{p}: unknown output format '{fmt}' (use one of {', '.join(_WRITERS)})")
    arrays = _legal_types(p, fmt, _check_columns(p, columns))
    all_units = _units_for(arrays, units)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    try:
        with atomic_path(p) as tmp:
            _WRITERS[fmt](tmp, arrays, all_units, meta)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or ["no details"])[0]
        raise InputError(f"{p}: cannot write {fmt} ({type(exc).__name__}: {first})") from None
    return p


def write_cds_table(
    path: str | Path,
    source_id: np.ndarray,
    p: np.ndarray,
    *,
    title: str = "Probability of Magellanic Cloud membership of Gaia DR3 sources",
) -> Path:
    """Write a two-column CDS-style fixed-width catalogue (Gaia DR3 source_id, P).

    The file starts with a short ReadMe-like header (title and byte-by-byte description)
    that ``astropy.io.ascii`` reads with ``format="cds"``, followed by one line per source:
    bytes 1-19 the source_id (I19), bytes 21-26 the probability (F6.4, blank when NaN).

    Parameters
    ----------
    path : str or Path
        Output file.
    source_id : numpy.ndarray of int, shape (n,)
        Gaia DR3 source identifiers, non-negative.
    p : numpy.ndarray of float, shape (n,)
        Membership probability in [0, 1]; NaN for sources without a score.
    title : str, optional
        Title line of the header.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputError
        Shapes differ or are not 1-D, source_id not integer or negative, or P outside [0, 1]
        or infinite. No file is left behind.
    """
    out = Path(path)
    sid = np.asarray(source_id)
    prob = np.asarray(p, dtype=np.float64)
    if sid.ndim != 1 or prob.shape != sid.shape:
        raise InputError(
            f"{out}: source_id and P must be 1-D of one length (got {sid.shape}, {prob.shape})"
        )
    if sid.dtype.kind not in "iu":
        raise InputError(f"{out}: column 'source_id' must be integer, not {sid.dtype}")
    if sid.size and sid.min() < 0:
        raise InputError(f"{out}: column 'source_id' has negative values")
    finite = prob[~np.isnan(prob)]
    if np.isinf(finite).any() or (finite.size and (finite.min() < 0.0 or finite.max() > 1.0)):
        raise InputError(f"{out}: column 'P' has values outside [0, 1]")
    rule = "-" * 80
    header = [
        f"Title: {title}",
        "Byte-by-byte Description of file: " + out.name,
        rule,
        " Bytes Format Units Label     Explanations",
        rule,
        " 1-19  I19    ---   GaiaDR3   Gaia DR3 source_id",
        "21-26  F6.4   ---   P         ? Probability of Magellanic Cloud membership",
        rule,
    ]
    rows = [
        f"{s:19d} {'' if np.isnan(v) else f'{v:6.4f}':>6s}"
        for s, v in zip(sid.tolist(), prob.tolist(), strict=True)
    ]
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join([*header, *rows]) + "\n", encoding="ascii")
    return out


@contextlib.contextmanager
def parquet_pieces(
    path: str | Path,
    *,
    units: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Iterator[Callable[[Mapping[str, np.ndarray]], None]]:
    """Write one parquet file piece by piece, atomically.

    Yields ``write(columns)``; each call appends the columns (same names and dtypes every
    time) as new row groups. The file appears under ``path`` only when the block ends
    without an exception.

    Parameters
    ----------
    path : str or Path
        Final parquet file.
    units, metadata : mapping, optional
        As for :func:`write_table`.
    """
    p = Path(path)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    with atomic_path(p) as tmp:
        writer: pq.ParquetWriter | None = None

        def write(columns: Mapping[str, np.ndarray]) -> None:
            nonlocal writer
            arrays = _check_columns(p, columns)
            table = _arrow_table(arrays, _units_for(arrays, units), meta)
            if writer is None:
                writer = pq.ParquetWriter(
                    tmp, table.schema, use_dictionary=_dictionary_columns(table.schema)
                )
            writer.write_table(table)

        try:
            yield write
        finally:
            if writer is not None:
                writer.close()
