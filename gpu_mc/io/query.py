"""Download a papers' base sample from the Gaia archive, in resumable source_id ranges.

The query text comes from :func:`gpu_mc.io.adql.base_sample_adql` (numbers only, nothing
pasted from the user). Each range is run as an asynchronous archive job through astroquery
(the optional ``archive`` extra) and saved as its own parquet part, so an interrupted
download resumes where it stopped; the parts are then joined into one file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from gpu_mc.constants import Target
from gpu_mc.errors import GpuMcError
from gpu_mc.io.adql import base_sample_adql, source_id_ranges
from gpu_mc.io.atomic import atomic_path


def _gaia_service():
    try:
        return importlib.import_module("astroquery.gaia").Gaia
    except ImportError:
        raise GpuMcError("gpu-mc query needs astroquery: pip install 'gpu_mc[archive]'") from None


def download_base_sample(
    cloud: str | Target,
    out: Path,
    n_parts: int = 64,
    radius_deg: float | None = None,
    g_max: float = 20.5,
    parallax_over_error_max: float | None = 5.0,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Run the base-sample query in ``n_parts`` source_id ranges and write ``out`` (parquet).

    Parameters
    ----------
    cloud : str or Target
        A built-in target's name or a target record (see
        :func:`gpu_mc.io.adql.base_sample_adql`).
    out : Path
        Final parquet file; parts are kept in ``<out>.parts/`` until all are done.
    n_parts : int
        Number of source_id ranges (HEALPix-aligned), each small enough for the archive's
        asynchronous row limit.
    radius_deg, g_max : float
        Cone radius (deg; default the target's) and faint limit (mag).
    parallax_over_error_max : float or None
        Keep stars with ``parallax_over_error`` below it; None keeps all.
    progress : callable, optional
        Called with 1 after each finished part.
    """
    gaia = _gaia_service()
    parts_dir = out.with_name(out.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for i, rng in enumerate(source_id_ranges(n_parts)):
        part = parts_dir / f"part-{i:04d}.parquet"
        if not part.exists():
            adql = base_sample_adql(
                cloud,
                radius_deg=radius_deg,
                g_max=g_max,
                source_id_range=rng,
                parallax_over_error_max=parallax_over_error_max,
            )
            try:
                table = gaia.launch_job_async(adql).get_results()
            except Exception as exc:
                msg = f"archive query for part {i} ({rng[0]}..{rng[1]}) failed: {exc}"
                raise GpuMcError(msg) from exc
            with atomic_path(part) as tmp:
                table.write(tmp, format="parquet", overwrite=True)
        parts.append(part)
        if progress is not None:
            progress(1)
    with atomic_path(out) as tmp:
        pq.write_table(pa.concat_tables([pq.read_table(p) for p in parts]), tmp)
    for p in parts:
        p.unlink()
    parts_dir.rmdir()
    return out
