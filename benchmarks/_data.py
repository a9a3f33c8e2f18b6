"""Benchmark inputs: one mock sky of the largest size, written once as parquet per size."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gpu_mc.config import SkyConfig
from gpu_mc.io.schema import GAIA_COLUMNS, REQUIRED_COLUMNS
from gpu_mc.sky import simulate_sky

#: Rows per parquet row group of the benchmark inputs.
ROW_GROUP = 1 << 20

#: Bytes of the feature-input and ``source_id`` columns per star (what the load stage reads).
INPUT_BYTES_PER_STAR = sum(GAIA_COLUMNS[c][0].itemsize for c in REQUIRED_COLUMNS)

#: Columns written to the benchmark inputs: what a pass reads, plus the truth label.
WRITTEN_COLUMNS = (*REQUIRED_COLUMNS, "true_class")


def _write(path: Path, sky: dict[str, np.ndarray], n: int) -> None:
    """Write the first ``n`` rows of ``sky`` to ``path`` in row groups of :data:`ROW_GROUP`."""
    schema = pa.schema([(c, pa.from_numpy_dtype(sky[c].dtype)) for c in WRITTEN_COLUMNS])
    with pq.ParquetWriter(path, schema) as writer:
        for s in range(0, n, ROW_GROUP):
            e = min(s + ROW_GROUP, n)
            arrays = [pa.array(sky[c][s:e]) for c in WRITTEN_COLUMNS]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def make_inputs(sizes: list[int], directory: Path, seed: int = 2023) -> dict[int, Path]:
    """Simulate one LMC mock sky of ``max(sizes)`` stars and write its first n rows per size.

    The sky generator works in chunks and shuffles members and foreground within each, so
    every prefix is a fair sample. The sky is freed before returning.

    Parameters
    ----------
    sizes : list of int
        Numbers of stars.
    directory : Path
        Where the files ``sky_<n>.parquet`` go.
    seed : int
        Seed of the mock sky.

    Returns
    -------
    dict of int to Path
        The parquet file of each size.
    """
    n_max = max(sizes)
    sky = simulate_sky(SkyConfig(cloud="lmc", n_stars=n_max, seed=seed))
    sky = {c: sky[c] for c in WRITTEN_COLUMNS}
    paths = {}
    for n in sorted(set(sizes)):
        paths[n] = directory / f"sky_{n}.parquet"
        _write(paths[n], sky, n)
    del sky
    gc.collect()
    return paths


def read_labels(path: Path) -> np.ndarray:
    """The ``true_class`` column of a benchmark input (1 = Cloud member)."""
    return pq.read_table(path, columns=["true_class"]).column(0).to_numpy()
