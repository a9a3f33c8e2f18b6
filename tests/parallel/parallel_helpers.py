"""Helpers shared by the cluster tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_scores(out_dir: Path) -> dict[str, np.ndarray]:
    """All scores files of a directory, concatenated and sorted by source_id."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables(pq.read_table(p) for p in sorted(out_dir.glob("*.parquet")))
    table = table.sort_by("source_id")
    return {name: table[name].to_numpy() for name in table.column_names}


def assert_equal_to_reference(out_dir: Path, reference: dict[str, np.ndarray]) -> None:
    """The union of the partitioned outputs equals the single-process scores, bit for bit.

    ``p_mc_sky`` is the exception: each partition rescales to the MC fraction estimated from
    its own stars, so it is checked to be a non-decreasing function of ``p_mc`` within each
    partition file instead.
    """
    import pyarrow.parquet as pq

    got = read_scores(out_dir)
    order = np.argsort(reference["source_id"])
    assert set(got) == set(reference)
    for part in sorted(out_dir.glob("*.parquet")):
        t = pq.read_table(part, columns=["p_mc", "p_mc_sky"])
        by_p = np.argsort(t["p_mc"].to_numpy(), kind="stable")
        assert np.all(np.diff(t["p_mc_sky"].to_numpy()[by_p]) >= 0), part.name
    for name, values in reference.items():
        if name == "p_mc_sky":
            continue
        want = values[order]
        assert got[name].dtype == want.dtype, name
        assert got[name].tobytes() == want.tobytes(), name
