"""Load Gaia tables onto the compute device.

On the GPU with cuDF installed, parquet columns go straight into device memory with
``cudf.read_parquet(columns=...)``; otherwise pyarrow reads them (validated by
:func:`~gpu_mc.io.readers.read_gaia_table`) and each column is copied to the device once.
Both routes give the same dict of arrays; ``Backend.capabilities["load_route"]`` says which
one a GPU backend uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from gpu_mc.backend import Backend
from gpu_mc.errors import InputError
from gpu_mc.io import schema
from gpu_mc.io.readers import (
    check_gaia_values,
    detect_format,
    parquet_units,
    read_gaia_table,
)


def load_gaia_table(
    path: str | Path,
    backend: Backend,
    required: Sequence[str] | None = None,
    column_map: Mapping[str, str] | None = None,
    row_groups: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Read a Gaia table onto the backend's device, only the columns needed.

    With cuDF installed (GPU backend), the file is read by :func:`cudf.read_parquet` straight
    into device memory, the per-file reader dask-cuDF uses; otherwise by
    :func:`~gpu_mc.io.readers.read_gaia_table` (pyarrow) with one host→device copy per column.

    Parameters
    ----------
    path : str or Path
        Gaia table (any format :func:`~gpu_mc.io.readers.read_gaia_table` reads; parquet
        for the cuDF route).
    backend : Backend
    required : tuple of str, optional
        Gaia columns that must be present (default: all feature inputs); a model's
        :func:`~gpu_mc.features.required_inputs` lets tables lack columns it never reads.
    column_map : mapping, optional
        File column name → Gaia name (pyarrow route).
    row_groups : (int, int), optional
        Parquet row groups to read (pyarrow route), as in ``read_gaia_table``.

    Returns
    -------
    dict of str to array
        The columns of :func:`~gpu_mc.io.readers.read_gaia_table`, shape (n_rows,) each, on
        the backend's device.

    Raises
    ------
    InputError
        As :func:`~gpu_mc.io.readers.read_gaia_table`; the cuDF route makes the same checks
        of columns, units and values (the messages of a few differ in wording).
    """
    need = tuple(schema.REQUIRED_COLUMNS if required is None else required)
    p = Path(path)
    cudf_ok = column_map is None and row_groups is None and detect_format(p)[0] == "parquet"
    if backend.frame_lib == "cudf" and cudf_ok:
        return _read_cudf(p, backend, need)
    raw = read_gaia_table(p, required=need, column_map=column_map, row_groups=row_groups)
    return {k: backend.xp.asarray(v) for k, v in raw.items()}


def _read_cudf(path: Path, backend: Backend, required: tuple[str, ...]) -> dict[str, Any]:
    """cuDF route of :func:`load_gaia_table`, with the pyarrow route's checks: required
    columns, stated units, no rows, null ``source_id``, then the value checks of
    :func:`~gpu_mc.io.readers.check_gaia_values` on the device."""
    import cudf

    present = set(pq.read_schema(path).names)
    must = list(dict.fromkeys(["source_id", "ra", "dec", *required]))
    missing = [c for c in must if c not in present]
    if missing:
        raise InputError(f"{path}: missing required column(s) {', '.join(missing)}")
    wanted = [*must, *(c for c in schema.OPTIONAL_COLUMNS if c in present)]
    parquet_units(path, wanted)
    frame = cudf.read_parquet(path, columns=wanted)
    if len(frame) == 0:
        raise InputError(f"{path}: the table has no rows")
    n_null = int(frame["source_id"].isna().sum())
    if n_null:
        raise InputError(f"{path}: column 'source_id' has {n_null} null value(s)")
    dtypes = {**schema.GAIA_COLUMNS, **schema.OPTIONAL_COLUMNS}
    xp = backend.xp
    out = {}
    for key in wanted:
        dtype = np.dtype(dtypes[key][0])
        col = frame[key]
        if dtype.kind == "f":
            out[key] = col.astype(dtype).to_cupy(na_value=np.nan)
        else:
            out[key] = xp.asarray(col.astype(dtype).to_cupy())
    check_gaia_values(path, out)
    return out
