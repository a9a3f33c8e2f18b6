"""FITS, VOTable, ECSV, CDS/MRT and VizieR TSV through astropy."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

from gpu_mc.errors import InputError
from gpu_mc.io.readers.common import (
    NULL_VALUES,
    RawColumn,
    Selector,
    describe,
    fail,
    from_astropy,
    unit_strings,
)


def read_fits(path: Path, wanted: Selector) -> list[RawColumn]:
    """First binary (or ASCII) table extension of a FITS file; units from TUNITn, nulls
    from TNULLn (integer columns) and NaN (floating-point columns)."""
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
                    raise fail(path, f"no binary table extension in the FITS file (HDUs: {kinds})")
                raw_units = {c.name: c.unit for c in hdul[index].columns}
                table = Table.read(hdul[index], mask_invalid=False)
    except InputError:
        raise
    except Exception as exc:  # astropy raises many types for a damaged FITS file
        raise fail(path, f"cannot read FITS ({describe(exc)})") from None
    units = {n: (raw_units.get(n) or None) for n in table.colnames}
    return from_astropy(table, wanted, units)


def read_votable(path: Path, gzipped: bool, wanted: Selector) -> list[RawColumn]:
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
                raise fail(path, "the VOTable holds no TABLE element")
            table = tables[0].to_table(use_names_over_ids=True)
    except InputError:
        raise
    except Exception as exc:  # the XML and VOTable parsers raise many types
        raise fail(path, f"cannot read VOTable ({describe(exc)})") from None
    return from_astropy(table, wanted, unit_strings(table))


def read_ascii(path: Path, wanted: Selector, fmt: str) -> list[RawColumn]:
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
        raise fail(path, f"cannot parse as {fmt.upper()} ({describe(exc)})") from None
    return from_astropy(table, wanted, unit_strings(table))


def read_vizier_tsv(path: Path, gzipped: bool, wanted: Selector) -> list[RawColumn]:
    """VizieR tab-separated export: '#' comments, names, units, dashes, then data rows."""
    from astropy.io import ascii as astropy_ascii

    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
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
        raise fail(path, f"cannot parse as a VizieR TSV ({describe(exc)})") from None
    units = {
        n: (unit_line[i].strip() or None) if i < len(unit_line) else None
        for i, n in enumerate(names)
    }
    return from_astropy(table, wanted, units)
