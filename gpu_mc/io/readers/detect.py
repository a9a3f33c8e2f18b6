"""Find a table file's format from its content, once.

:func:`sniff` reads the first 64 KiB (decompressed when the file is gzip) and returns a
:class:`TableFile`; every reader accepts that record in place of a path, so a file read on
its way through the row-group planner, the device loader and the format reader is sniffed
only once. The extension is used only to reject files whose content contradicts it (a
``.gz`` that is not gzip, a ``.parquet`` without the parquet magic).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

from gpu_mc.io.readers.common import describe, fail

_SNIFF_BYTES = 65536

#: Formats :func:`sniff` recognises.
FORMATS: tuple[str, ...] = ("parquet", "fits", "votable", "ecsv", "csv", "vizier_tsv", "cds")


@dataclass(frozen=True)
class TableFile:
    """A table file whose format is known.

    It is path-like (``os.fspath`` and ``str`` give the path), so it can stand wherever a
    path is accepted.

    Attributes
    ----------
    path : Path
        The file.
    fmt : str
        One of :data:`FORMATS` (the format of the decompressed content when gzipped).
    gzipped : bool
        Whether the content is gzip-compressed.
    """

    path: Path
    fmt: str
    gzipped: bool

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)


def _text_format(head: bytes, path: Path) -> str:
    """Classify a text head (already decompressed) as one of our text formats."""
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if b"\x00" in head:
        raise fail(path, "binary content that is not parquet, FITS, VOTable or gzip")
    text = head.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    if not text:
        raise fail(path, "the file holds only whitespace, no table")
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


def _read_head(path: Path) -> bytes:
    """The first bytes of a file, as many as sniffing looks at."""
    with path.open("rb") as fh:
        return fh.read(_SNIFF_BYTES)


def sniff(path: str | os.PathLike[str] | TableFile) -> TableFile:
    """Find a table file's format from its content (a :class:`TableFile` is returned as is).

    Parameters
    ----------
    path : str, PathLike or TableFile
        The file.

    Returns
    -------
    TableFile
        The path with its format and whether it is gzipped.

    Raises
    ------
    InputError
        The file is missing or empty, gzip that cannot be decompressed, or its content
        contradicts its extension.
    """
    if isinstance(path, TableFile):
        return path
    p = Path(path)
    if not p.is_file():
        raise fail(p, "no such file")
    if p.stat().st_size == 0:
        raise fail(p, "the file is empty (0 bytes)")
    head = _read_head(p)
    suffixes = [s.lower() for s in p.suffixes]
    gzipped = head[:2] == b"\x1f\x8b"
    if suffixes and suffixes[-1] == ".gz" and not gzipped:
        raise fail(p, "the name ends in .gz but the content is not gzip-compressed")
    if head[:4] == b"PAR1":
        return TableFile(p, "parquet", False)
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        raise fail(p, "does not start with the parquet magic bytes 'PAR1' (not parquet)")
    if gzipped:
        try:
            with gzip.open(p, "rb") as fh:
                head = fh.read(_SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise fail(p, f"corrupt gzip data ({describe(exc)})") from None
        if not head:
            raise fail(p, "the gzip stream decompresses to nothing (empty table)")
    fmt = _text_format(head, p)
    plain = [s for s in suffixes if s != ".gz"]
    if plain and plain[-1] in (".fits", ".fit", ".fts") and fmt != "fits":
        raise fail(p, "the name says FITS but the content does not start with 'SIMPLE  ='")
    if plain and plain[-1] in (".vot", ".votable", ".xml") and fmt != "votable":
        raise fail(p, "the name says VOTable but the content is not XML")
    return TableFile(p, fmt, gzipped)


def detect_format(path: str | os.PathLike[str] | TableFile) -> tuple[str, bool]:
    """Find a table file's format from its content.

    Parameters
    ----------
    path : str, PathLike or TableFile
        The file.

    Returns
    -------
    fmt : str
        One of :data:`FORMATS`.
    gzipped : bool
        Whether the content is gzip-compressed (the format is that of the decompressed data).

    Raises
    ------
    InputError
        As :func:`sniff`.
    """
    found = sniff(path)
    return found.fmt, found.gzipped
