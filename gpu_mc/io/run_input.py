"""The input of ``gpu-mc run --input``: read it, and record it so a report can re-read it.

An input is a Gaia table (any format :func:`gpu_mc.io.readers.read_gaia_table` reads), a
directory of parquet partitions (:mod:`gpu_mc.io.partitions`) or a HATS catalogue (read within
the target's cone, :mod:`gpu_mc.io.hats`). Its record (``metrics.json["input"]``) names the
path, the kind, the column renames and a SHA-256 over the files that were read (for a HATS
catalogue only the partitions overlapping the cone), so that ``gpu-mc report`` re-reads the
same stars and refuses a file changed since the run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_mc.constants import Target
from gpu_mc.errors import InputError

#: Optional Gaia columns carried from the input (the report's velocity figure uses the first).
OPTIONAL = ("radial_velocity", "ruwe")

#: Bytes read at a time while hashing.
_CHUNK = 1 << 22


@dataclass
class RunInput:
    """An input table on the host and its record.

    Attributes
    ----------
    table : dict of str to numpy.ndarray
        Validated Gaia columns, shape (n_rows,) each, in file (then partition) order.
    record : dict
        JSON-able: ``kind`` ("file", "partitions" or "hats"), ``path`` (absolute), ``sha256``,
        ``n_files``, ``n_rows``, ``column_map`` and, for HATS, ``cone`` (ra, dec, radius deg).
    """

    table: dict[str, np.ndarray]
    record: dict[str, Any]


def files_digest(root: Path, files: list[Path]) -> str:
    """SHA-256 over the relative names and contents of ``files`` (in the given order).

    Parameters
    ----------
    root : Path
        Names are hashed relative to it (so a moved directory keeps its hash).
    files : list of Path

    Returns
    -------
    str
        Hex digest.
    """
    h = hashlib.sha256()
    for f in files:
        name = f.name if f == root else str(f.relative_to(root))
        h.update(name.encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def _kind(path: Path) -> str:
    from gpu_mc.io.hats import is_hats_catalogue

    if is_hats_catalogue(path):
        return "hats"
    return "partitions" if path.is_dir() else "file"


def _cone(target: Target) -> Any:
    from gpu_mc.io.hats import Cone

    return Cone(target.ra0, target.dec0, target.cone_radius)


def _files(path: Path, kind: str, target: Target) -> list[Path]:
    """The files an input of ``kind`` is read from, in reading order."""
    if kind == "file":
        return [path]
    if kind == "partitions":
        from gpu_mc.io.partitions import list_partitions

        return list_partitions(path)
    from gpu_mc.io.hats import hats_partitions

    parts = hats_partitions(path, _cone(target))
    if not parts:
        raise InputError(f"{path}: no partition of the HATS catalogue overlaps the target's cone")
    return [p.path for p in parts]


def read_run_input(
    path: str | Path,
    target: Target,
    column_map: Mapping[str, str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> RunInput:
    """Read a run's input and make its record.

    Parameters
    ----------
    path : str or Path
        A Gaia table file, a directory of parquet partitions, or a HATS catalogue.
    target : Target
        For a HATS catalogue, only the stars within its cone are read.
    column_map : mapping of str to str, optional
        File column name → Gaia name.
    progress : callable, optional
        Called with 1 after each file is read.

    Returns
    -------
    RunInput

    Raises
    ------
    InputError
        What the readers reject (naming the file), or an input with no rows.
    """
    from gpu_mc.io.readers import read_gaia_table

    root = Path(path).resolve()
    kind = _kind(root)
    files = _files(root, kind, target)
    pieces = []
    for f in files:
        if kind == "hats":
            from gpu_mc.io.hats import HatsPartition, read_gaia_partition

            part = HatsPartition(0, 0, f, str(f.relative_to(root)))
            cols = read_gaia_partition(
                part, _cone(target), optional=OPTIONAL, column_map=column_map
            )
        else:
            cols = read_gaia_table(f, column_map=column_map, optional=OPTIONAL)
        if cols["source_id"].size:
            pieces.append(cols)
        if progress is not None:
            progress(1)
    if not pieces:
        raise InputError(f"{root}: the input has no stars" + (" in the cone" * (kind == "hats")))
    keys = [k for k in pieces[0] if all(k in p for p in pieces)]
    table = {k: np.concatenate([p[k] for p in pieces]) for k in keys}
    if len(pieces) > 1:
        from gpu_mc.io.readers.checks import has_duplicates

        if has_duplicates(table["source_id"]):
            raise InputError(f"{root}: a source_id appears in more than one partition")
    record: dict[str, Any] = {
        "kind": kind,
        "path": str(root),
        "sha256": files_digest(root, files),
        "n_files": len(files),
        "n_rows": int(table["source_id"].size),
        "column_map": dict(column_map or {}),
    }
    if kind == "hats":
        cone = _cone(target)
        record["cone"] = [cone.ra_deg, cone.dec_deg, cone.radius_deg]
    return RunInput(table, record)


def n_input_files(path: str | Path, target: Target) -> int:
    """How many files :func:`read_run_input` reads for ``path`` (for a progress bar)."""
    root = Path(path).resolve()
    return len(_files(root, _kind(root), target))


def reread_input(record: Mapping[str, Any], target: Target) -> dict[str, np.ndarray]:
    """Read a recorded input again, after checking that its files are unchanged.

    Parameters
    ----------
    record : mapping
        ``metrics.json["input"]`` of a run on an input (see :class:`RunInput`).
    target : Target
        The run's target.

    Returns
    -------
    dict of str to numpy.ndarray
        The input's columns, as at the time of the run.

    Raises
    ------
    InputError
        The input is gone, or its files' hash differs from the recorded one.
    """
    root = Path(record["path"])
    if not root.exists():
        raise InputError(f"{root}: the run's input is gone; pass the input table with --input")
    files = _files(root, record["kind"], target)
    digest = files_digest(root, files)
    if digest != record["sha256"]:
        raise InputError(
            f"{root}: the input changed since the run (SHA-256 {digest[:12]}…, recorded "
            f"{str(record['sha256'])[:12]}…); pass the run's input table with --input"
        )
    return read_run_input(root, target, record.get("column_map") or None).table
