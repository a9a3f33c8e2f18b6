"""Scoring, the one path that ``gpu-mc score``, ``gpu-mc run`` and the dask workers share:
features, the network (and its fallbacks), the three samples, and the scores file with its
metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gpu_mc import __version__
from gpu_mc.augment import outside_error_range
from gpu_mc.backend import Backend, array_namespace, to_host
from gpu_mc.config import ERROR_RANGE_BIT, FALLBACK_BIT0, FEATURE_NAMES, Config
from gpu_mc.errors import InputError
from gpu_mc.features import required_inputs
from gpu_mc.footprint import warn_if_outside
from gpu_mc.io.device import load_gaia_table
from gpu_mc.io.readers import parquet_row_groups, sniff
from gpu_mc.io.writers import parquet_pieces, write_cds_table, write_table
from gpu_mc.model.checkpoint import TrainedModel, model_hash
from gpu_mc.model.score import score_table
from gpu_mc.progress import Reporter
from gpu_mc.thresholds import sample_masks

#: Units of the score columns, for the file metadata.
SCORE_UNITS = {"source_id": "", "p_mc": "", "score_flag": ""}


def score_metadata(model: TrainedModel, **extra: str) -> dict[str, str]:
    """Metadata of a scores file: package, model hash, target, thresholds, and ``extra``."""
    return {
        "package": f"gpu_mc {__version__}",
        "model_sha256": model_hash(model),
        "cloud": model.cloud,
        "thresholds": json.dumps(model.meta.get("thresholds", {})),
        **extra,
    }


def score_with_fallbacks(
    table: Mapping[str, Any],
    model: TrainedModel,
    batch_size: int,
    progress: Any = None,
    precision: str = "fp32",
) -> tuple[Any, Any, dict[str, Any]]:
    """Score with the main model, then re-score stars that lack features with a fallback.

    A star goes to the first fallback model that uses none of its missing features; its
    ``score_flag`` keeps the missing-feature bits and gains bit ``FALLBACK_BIT0 + i``.

    Returns
    -------
    p : float32 array, shape (n,)
    flags : uint16 array, shape (n,)
    thresholds : dict of str to float or array
        Each sample's P threshold, per star where fallbacks were used.
    """
    warn_if_outside(table, model.target)
    p, flags = score_table(table, model, batch_size, progress, precision)
    thr: dict[str, Any] = dict(model.meta["thresholds"])
    if not model.fallbacks:
        return p, flags, thr
    xp = array_namespace(p)
    routed = xp.zeros(p.shape[0], dtype=bool)
    thr = {k: xp.full(p.shape[0], v, dtype=xp.float64) for k, v in thr.items()}
    for i, fb in enumerate(model.fallbacks):
        rows = xp.nonzero(
            ((flags & _bits(model.features)) != 0) & ((flags & _bits(fb.features)) == 0) & ~routed
        )[0]
        if int(rows.shape[0]) == 0:
            continue
        p_fb, _ = score_table(
            {k: v[rows] for k, v in table.items()}, fb, batch_size, None, precision
        )
        p[rows] = p_fb
        flags[rows] |= xp.uint16(1 << (FALLBACK_BIT0 + i))
        routed[rows] = True
        for k, v in fb.meta["thresholds"].items():
            thr[k][rows] = v
    return p, flags, thr


def _bits(names: tuple[str, ...]) -> int:
    return sum(1 << FEATURE_NAMES.index(n) for n in names)


def score(
    table: Mapping[str, Any], model: TrainedModel, cfg: Config, reporter: Reporter
) -> dict[str, Any]:
    """Score every row and mark the three samples.

    Returns
    -------
    dict of str to array
        ``source_id``, ``p_mc``, ``score_flag``, ``in_complete``, ``in_optimal``,
        ``in_truncated_optimal``; one row per input row, same order.
    """
    n = int(table["ra"].shape[0])
    with reporter.stage("score", total=n) as advance:
        p, flags, thr = score_with_fallbacks(
            table, model, cfg.run.score_batch_size, advance, cfg.run.precision
        )
    tcfg = cfg.thresholds.__class__(
        **{**cfg.thresholds.__dict__, "truncated_g_max": model.meta["truncated_g_max"]}
    )
    masks = sample_masks(p, table["phot_g_mean_mag"], thr, tcfg)
    if "error_range" in model.meta:
        outside = outside_error_range(table, model.meta["error_range"])
        xp = array_namespace(flags)
        flags |= xp.where(outside, xp.uint16(1 << ERROR_RANGE_BIT), xp.uint16(0))
    out = {"source_id": table["source_id"], "p_mc": p, "score_flag": flags}
    out.update({f"in_{k}": v for k, v in masks.items()})
    return out


def _row_group_pieces(groups: list[int], max_rows: int) -> list[tuple[int, int]]:
    """Consecutive row-group ranges of at most ``max_rows`` rows (at least one group each)."""
    pieces, start, rows = [], 0, 0
    for i, n in enumerate(groups):
        if rows and rows + n > max_rows:
            pieces.append((start, i))
            start, rows = i, 0
        rows += n
    pieces.append((start, len(groups)))
    return pieces


def score_file(
    path: Path,
    model: TrainedModel,
    cfg: Config,
    backend: Backend,
    out: Path,
    reporter: Reporter,
    column_map: Mapping[str, str] | None = None,
) -> int:
    """Score a Gaia table file and write the scores file; return the number of rows.

    The whole table is scored in one pass on the backend's device. A parquet input with more
    than ``cfg.run.max_rows_in_memory`` rows is read and scored in pieces of whole row
    groups within the same pass and appended to one parquet output, with the same result;
    ``source_id`` uniqueness is then checked across all pieces before the output appears.
    ``out`` ending in ``.dat`` or ``.cds`` gets the two-column CDS table of the papers.
    """
    required = required_inputs(model.features)
    meta = score_metadata(model, input=str(path))
    source = sniff(path)  # the format is found once, here
    groups = parquet_row_groups(source)
    if groups is None or sum(groups) <= cfg.run.max_rows_in_memory:
        table = load_gaia_table(source, backend, required, column_map)
        scores = score(table, model, cfg, reporter)
        host = {k: to_host(v) for k, v in scores.items()}
        if out.suffix.lower() in (".dat", ".cds"):
            write_cds_table(out, host["source_id"], host["p_mc"])
        else:
            write_table(out, host, units=SCORE_UNITS, metadata=meta)
        return len(host["p_mc"])
    if out.suffix.lower() not in (".parquet", ".pq"):
        raise InputError(
            f"{path} has {sum(groups):,} rows, more than run.max_rows_in_memory "
            f"({cfg.run.max_rows_in_memory:,}): it is scored in pieces, which needs a "
            f"parquet output, not {out.name}"
        )
    ids = []
    quiet = Reporter(enabled=False)
    with (
        reporter.stage("score (in pieces)", total=sum(groups)) as advance,
        parquet_pieces(out, units=SCORE_UNITS, metadata=meta) as write,
    ):
        for piece in _row_group_pieces(groups, cfg.run.max_rows_in_memory):
            table = load_gaia_table(source, backend, required, column_map, piece)
            host = {k: to_host(v) for k, v in score(table, model, cfg, quiet).items()}
            write(host)
            ids.append(host["source_id"])
            advance(len(host["source_id"]))
        all_ids = np.concatenate(ids)
        n_dup = all_ids.size - np.unique(all_ids).size
        if n_dup:
            raise InputError(f"{path}: column 'source_id' has {n_dup} duplicated value(s)")
    return int(all_ids.size)
