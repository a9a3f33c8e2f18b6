"""Helpers for the io tests: a small valid Gaia table and a CSV writer for hand-made files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gpu_mc.io import schema

#: Directory of the real third-party catalogues shared by the project (read-only).
REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def make_gaia_columns(n: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """A valid table of ``n`` rows near the LMC with every required column in schema dtype."""
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for name, (dtype, _) in schema.GAIA_COLUMNS.items():
        cols[name] = rng.uniform(0.1, 2.0, n).astype(dtype)
    cols["source_id"] = 4657000000000000000 + 1024 * np.arange(n, dtype=np.int64)
    cols["ra"] = rng.uniform(70.0, 90.0, n)
    cols["dec"] = rng.uniform(-75.0, -65.0, n)
    cols["pmra_pmdec_corr"] = rng.uniform(-0.5, 0.5, n).astype(np.float32)
    for band in ("g", "bp", "rp"):
        cols[f"phot_{band}_mean_mag"] = rng.uniform(15.0, 20.0, n).astype(np.float32)
    return cols


def write_csv(path: Path, columns: Mapping[str, object], header: list[str] | None = None) -> Path:
    """Write a CSV by hand (values as ``str``), so tests control every byte."""
    names = list(columns)
    rows = zip(*(list(v) for v in columns.values()), strict=True)
    lines = [",".join(header or names)]
    lines += [",".join(str(x) for x in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
