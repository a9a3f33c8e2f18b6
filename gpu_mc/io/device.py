"""Load Gaia tables onto the compute device.

On the GPU with cuDF installed, parquet columns go straight into device memory with
``cudf.read_parquet`` (a file larger than ``run.max_rows_in_memory`` by row groups, still on
the device); otherwise pyarrow reads them on the host and each column is copied to the
device once, through pinned (page-locked) staging buffers. Both routes match names with
:class:`~gpu_mc.io.readers.names.NameMap` and end in
:func:`~gpu_mc.io.readers.checks.gaia_columns`, so they make the same checks of names,
units, types and values and give the same dict of arrays.
``Backend.capabilities["load_route"]`` says which route a GPU backend uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gpu_mc.backend import Backend
from gpu_mc.io import schema
from gpu_mc.io.readers.arrow_formats import field_unit, parquet_schema
from gpu_mc.io.readers.checks import gaia_columns
from gpu_mc.io.readers.detect import TableFile, sniff
from gpu_mc.io.readers.tables import PathLike, gaia_name_map, read_gaia_table

#: Bytes of each of the two pinned staging buffers of a host-to-device copy.
PINNED_CHUNK_BYTES = 64 * 2**20


def load_gaia_table(
    path: PathLike,
    backend: Backend,
    required: Sequence[str] | None = None,
    column_map: Mapping[str, str] | None = None,
    row_groups: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Read a Gaia table onto the backend's device, only the columns needed.

    Parameters
    ----------
    path : str, PathLike or TableFile
        Gaia table (any format :func:`~gpu_mc.io.readers.read_gaia_table` reads; parquet
        for the cuDF route). A :class:`~gpu_mc.io.readers.detect.TableFile` is not sniffed
        again.
    backend : Backend
    required : tuple of str, optional
        Gaia columns that must be present (default: all feature inputs); a model's
        :func:`~gpu_mc.features.required_inputs` lets tables lack columns it never reads.
    column_map : mapping, optional
        File column name → Gaia name (names are matched case-insensitively on both routes).
    row_groups : (int, int), optional
        Parquet row groups ``start`` to ``stop - 1`` to read, as in ``read_gaia_table``.

    Returns
    -------
    dict of str to array
        The columns of :func:`~gpu_mc.io.readers.read_gaia_table`, shape (n_rows,) each, on
        the backend's device.

    Raises
    ------
    InputError
        As :func:`~gpu_mc.io.readers.read_gaia_table`, on either route.
    """
    need = tuple(schema.REQUIRED_COLUMNS if required is None else required)
    source = sniff(path)
    if backend.frame_lib == "cudf" and source.fmt == "parquet":
        out = read_cudf(source, backend, need, column_map, row_groups)
        if out is not None:
            return out
    host = read_gaia_table(source, required=need, column_map=column_map, row_groups=row_groups)
    return to_device_columns(host, backend)


def read_cudf(
    source: TableFile,
    backend: Backend,
    required: Sequence[str],
    column_map: Mapping[str, str] | None = None,
    row_groups: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """cuDF route of :func:`load_gaia_table`: the parquet columns (or row groups) read
    into device memory and checked there by :func:`~gpu_mc.io.readers.checks.gaia_columns`.

    Returns None, to send the file through the host reader, in the two cases that need a
    host's help: two file columns giving one name (their values must be compared) and a
    column stored as text (numbers written as strings are parsed on the host).
    """
    import cudf

    names = gaia_name_map(source, column_map, tuple(schema.OPTIONAL_COLUMNS), required)
    arrow_schema = parquet_schema(source.path)
    file_names = list(arrow_schema.names)
    groups = names.group(file_names)
    if any(len(idx) > 1 for idx in groups.values()):
        return None
    fields = {key: arrow_schema.field(groups[key][0]) for key in names.order(source, list(groups))}
    if any(np.dtype(f.type.to_pandas_dtype()).kind in "OSU" for f in fields.values()):
        return None
    frame = cudf.read_parquet(
        source.path,
        columns=[f.name for f in fields.values()],
        row_groups=None if row_groups is None else [list(range(*row_groups))],
    )
    columns = {key: _cudf_column(frame[f.name]) for key, f in fields.items()}
    return gaia_columns(source, columns, {key: field_unit(f) for key, f in fields.items()})


def _cudf_column(col: Any) -> tuple[Any, Any | None]:
    """(values, null rows or None) of a cuDF column as CuPy arrays; float nulls are NaN."""
    kind = np.dtype(col.dtype).kind
    if kind == "f":
        return col.to_cupy(na_value=np.nan), None
    if not col.has_nulls:
        return col.to_cupy(), None
    return col.fillna(False if kind == "b" else 0).to_cupy(), col.isna().to_cupy()


def to_device_columns(columns: Mapping[str, np.ndarray], backend: Backend) -> dict[str, Any]:
    """Copy host columns to the backend's device (no copy on the CPU backend).

    On the GPU the bytes go through two pinned host buffers of :data:`PINNED_CHUNK_BYTES`
    in turn: while one chunk is copied to the device asynchronously, the next is staged into
    the other buffer, so the copy runs at the pinned-memory rate and overlaps the host copy.

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        1-D host arrays.
    backend : Backend

    Returns
    -------
    dict of str to array
        The same columns on the device, same dtypes and shapes.
    """
    if not backend.is_gpu:
        return {key: backend.xp.asarray(values) for key, values in columns.items()}
    import cupy
    import cupyx

    stream = cupy.cuda.Stream(non_blocking=True)
    staging = [cupyx.empty_pinned(PINNED_CHUNK_BYTES, dtype=np.uint8) for _ in range(2)]
    staged: list[Any] = [None, None]
    out: dict[str, Any] = {}
    turn = 0
    with stream:
        for key, values in columns.items():
            host = np.ascontiguousarray(values)
            device = cupy.empty(host.shape, dtype=host.dtype)
            src = host.reshape(-1).view(np.uint8)
            dst = device.reshape(-1).view(cupy.uint8)
            for start in range(0, src.size, PINNED_CHUNK_BYTES):
                stop = min(start + PINNED_CHUNK_BYTES, src.size)
                if staged[turn] is not None:
                    staged[turn].synchronize()  # the buffer's last copy has finished
                buffer = staging[turn][: stop - start]
                buffer[...] = src[start:stop]
                dst[start:stop].set(buffer, stream=stream)
                staged[turn] = stream.record()
                turn = 1 - turn
            out[key] = device
        stream.synchronize()
    return out
