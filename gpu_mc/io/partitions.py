"""Partitioned catalogues on disk: a directory of parquet files, one per partition, split by
HEALPix pixel of ``source_id``. Pure file work, without dask: ``gpu-mc simulate --partitions``
writes them, and :mod:`gpu_mc.parallel` scores them on a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpu_mc.errors import InputError
from gpu_mc.healpix import source_id_to_healpix

#: File extensions recognised as partitions of an input directory.
PARTITION_SUFFIXES = (".parquet", ".pq")

#: Scores-file metadata keys that tie an output to its model and input.
MODEL_HASH_KEY = "model_sha256"
INPUT_ROWS_KEY = "input_rows"


def list_partitions(directory: str | Path) -> list[Path]:
    """The parquet partitions of a catalogue directory, sorted by name.

    Parameters
    ----------
    directory : str or Path
        Directory holding one parquet file per partition; hidden files (such as the
        temporary files of an interrupted atomic write) are ignored.

    Returns
    -------
    list of Path

    Raises
    ------
    InputError
        The directory does not exist or holds no partition.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"{d}: not a directory of parquet partitions")
    parts = _partition_files(d)
    if not parts:
        raise InputError(f"{d}: no partition files (*.parquet, *.pq) in the directory")
    return parts


def _partition_files(directory: Path) -> list[Path]:
    """Partition files in ``directory`` (possibly none), sorted by name; hidden files ignored."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in PARTITION_SUFFIXES
    )


def healpix_partitions(source_id: np.ndarray, n_parts: int) -> tuple[int, np.ndarray]:
    """Group stars into ``n_parts`` runs of HEALPix pixels of their source_id, balanced by rows.

    The level is the coarsest (0 to 12) at which at least ``n_parts`` pixels hold stars and
    none holds more than a quarter of a partition's share, so that partitions can be balanced.
    The occupied pixels, in NESTED order, are cut into ``n_parts`` consecutive runs with about
    equal numbers of stars, so each partition covers one contiguous range of source_id.

    Parameters
    ----------
    source_id : numpy.ndarray of int64, shape (n,)
        Gaia (or mock) source identifiers.
    n_parts : int
        Number of partitions, at least 1.

    Returns
    -------
    level : int
        HEALPix level of the pixels that were grouped.
    part : numpy.ndarray of int64, shape (n,)
        Partition index, 0 to ``n_parts - 1``, of each star; non-decreasing in source_id.

    Raises
    ------
    InputError
        Fewer occupied level-12 pixels than ``n_parts``.
    """
    if n_parts < 1:
        raise InputError(f"--partitions must be at least 1, got {n_parts}")
    for level in range(13):
        pixels, inverse, counts = np.unique(
            source_id_to_healpix(source_id, level), return_inverse=True, return_counts=True
        )
        if pixels.size >= n_parts and counts.max() * 4 * n_parts <= source_id.size:
            break
    if pixels.size < n_parts:
        raise InputError(
            f"{n_parts} partitions asked for, but the stars occupy only {pixels.size} "
            "HEALPix level-12 pixels"
        )
    cum = np.cumsum(counts)
    lowest = np.arange(1, n_parts)
    # Cut after the pixel that crosses each 1/n_parts quantile of the rows, then keep the cuts
    # strictly increasing within [lowest, n_pixels - n_parts + lowest] so no run is empty.
    target = cum[-1] * lowest / n_parts
    cuts = np.clip(np.searchsorted(cum, target) + 1, lowest, pixels.size - n_parts + lowest)
    cuts = np.maximum.accumulate(cuts - lowest) + lowest
    part_of_pixel = np.zeros(pixels.size, dtype=np.int64)
    part_of_pixel[cuts] = 1
    return level, np.cumsum(part_of_pixel)[inverse]


def write_partitions(
    columns: Mapping[str, np.ndarray],
    out_dir: str | Path,
    n_parts: int,
    *,
    units: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write a table as ``n_parts`` parquet files split by HEALPix pixel of ``source_id``.

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        Columns of one length ``n``, including ``source_id``.
    out_dir : str or Path
        Directory receiving ``part-000.parquet`` … (created when needed). Each file is written
        atomically; rows keep their input order within a file.
    n_parts : int
        Number of files (see :func:`healpix_partitions`).
    units, metadata : mapping of str to str, optional
        As :func:`~gpu_mc.io.writers.write_table`; each file's metadata also gets
        ``healpix_level`` and the first and last pixel it holds.

    Returns
    -------
    list of Path
        The files, in source_id order.

    Raises
    ------
    InputError
        ``out_dir`` is a file or already holds other partition files, or the split is
        impossible.
    """
    from gpu_mc.io.writers import write_table

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory (--partitions writes one)")
    names = [f"part-{i:03d}.parquet" for i in range(n_parts)]
    if out.is_dir():
        stale = sorted(p.name for p in _partition_files(out) if p.name not in names)
        if stale:
            raise InputError(
                f"{out}: already holds other partition files ({', '.join(stale[:3])}); "
                "choose an empty directory"
            )
    sid = np.asarray(columns["source_id"])
    level, part = healpix_partitions(sid, n_parts)
    pixel = source_id_to_healpix(sid, level)
    written = []
    for i, name in enumerate(names):
        rows = np.flatnonzero(part == i)
        meta = {
            **(metadata or {}),
            "healpix_level": str(level),
            "healpix_first": str(int(pixel[rows].min())),
            "healpix_last": str(int(pixel[rows].max())),
        }
        subset = {k: np.asarray(v)[rows] for k, v in columns.items()}
        written.append(write_table(out / name, subset, units=units, metadata=meta))
    return written


def parquet_rows(path: str | Path) -> int:
    """Row count of a parquet file from its footer (no data read).

    Raises
    ------
    InputError
        The file is not readable parquet (truncated, corrupt), naming it.
    """
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None


def output_is_complete(output: str | Path, n_rows: int, model_hash: str) -> bool:
    """Whether a scores file is a finished output of this model for an input of ``n_rows``.

    Parameters
    ----------
    output : str or Path
        Scores file written by :func:`score_partition`.
    n_rows : int
        Rows of the input partition.
    model_hash : str
        :func:`~gpu_mc.model.checkpoint.model_hash` of the model in use.

    Returns
    -------
    bool
        True when the file is readable parquet with ``n_rows`` rows, ``n_rows`` stored under
        :data:`INPUT_ROWS_KEY` and ``model_hash`` under :data:`MODEL_HASH_KEY`.
    """
    try:
        meta = pq.ParquetFile(output).metadata
        table_meta = meta.metadata or {}
    except (OSError, ValueError):
        return False
    return (
        meta.num_rows == n_rows
        and table_meta.get(MODEL_HASH_KEY.encode()) == model_hash.encode()
        and table_meta.get(INPUT_ROWS_KEY.encode()) == str(n_rows).encode()
    )
