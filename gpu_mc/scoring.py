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
from gpu_mc.config import ERROR_RANGE_BIT, FALLBACK_BIT0, FEATURE_NAMES, OUT_OF_DOMAIN_BIT, Config
from gpu_mc.errors import InputError
from gpu_mc.features import required_inputs
from gpu_mc.footprint import warn_if_outside
from gpu_mc.io.device import load_gaia_table
from gpu_mc.io.readers import parquet_row_groups, sniff
from gpu_mc.io.writers import parquet_pieces, write_cds_table, write_table
from gpu_mc.model.checkpoint import TrainedModel, model_hash
from gpu_mc.model.score import score_table_std
from gpu_mc.probabilities import PriorEstimate, estimate_prior, rescale_to_prior
from gpu_mc.progress import Reporter
from gpu_mc.thresholds import sample_masks

#: Units of the score columns, for the file metadata.
SCORE_UNITS = {"source_id": "", "p_mc": "", "p_mc_std": "", "p_mc_sky": "", "score_flag": ""}


def score_metadata(
    model: TrainedModel, prior: PriorEstimate | None = None, **extra: str
) -> dict[str, str]:
    """Metadata of a scores file: package, model hash, target, thresholds, and ``extra``.

    With ``prior`` (the scored stars' estimated MC fraction, see :func:`score_with_prior`),
    also ``mc_fraction``: JSON ``{"mc_fraction", "mc_fraction_error", "em_iterations"}``.
    """
    meta = {
        "package": f"gpu_mc {__version__}",
        "model_sha256": model_hash(model),
        "cloud": model.cloud,
        "thresholds": json.dumps(model.meta.get("thresholds", {})),
    }
    if prior is not None:
        meta["mc_fraction"] = json.dumps(
            {
                "mc_fraction": prior.mc_fraction,
                "mc_fraction_error": prior.mc_fraction_error,
                "em_iterations": prior.n_iter,
            }
        )
    return {**meta, **extra}


def score_with_fallbacks(
    table: Mapping[str, Any],
    model: TrainedModel,
    batch_size: int,
    progress: Any = None,
    precision: str = "fp32",
) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Score with the main model, then re-score stars that lack features with a fallback.

    A star goes to the first fallback model that uses none of its missing features; its
    ``score_flag`` keeps the missing-feature bits and gains bit ``FALLBACK_BIT0 + i``.

    Returns
    -------
    p : float32 array, shape (n,)
        P(MC) (the ensemble mean for an ensemble).
    p_std : float32 array, shape (n,)
        Spread of P(MC) over the ensemble members (0 for a single network).
    flags : uint16 array, shape (n,)
    thresholds : dict of str to float or array
        Each sample's P threshold, per star where fallbacks were used.
    """
    warn_if_outside(table, model.target)
    p, sd, flags = score_table_std(table, model, batch_size, progress, precision)
    thr: dict[str, Any] = dict(model.meta["thresholds"])
    if not model.fallbacks:
        return p, sd, flags, thr
    xp = array_namespace(p)
    routed = xp.zeros(p.shape[0], dtype=bool)
    thr = {k: xp.full(p.shape[0], v, dtype=xp.float64) for k, v in thr.items()}
    for i, fb in enumerate(model.fallbacks):
        rows = xp.nonzero(
            ((flags & _bits(model.features)) != 0) & ((flags & _bits(fb.features)) == 0) & ~routed
        )[0]
        if int(rows.shape[0]) == 0:
            continue
        p_fb, sd_fb, _ = score_table_std(
            {k: v[rows] for k, v in table.items()}, fb, batch_size, None, precision
        )
        p[rows] = p_fb
        sd[rows] = sd_fb
        flags[rows] |= xp.uint16(1 << (FALLBACK_BIT0 + i))
        routed[rows] = True
        for k, v in fb.meta["thresholds"].items():
            thr[k][rows] = v
    return p, sd, flags, thr


def _bits(names: tuple[str, ...]) -> int:
    return sum(1 << FEATURE_NAMES.index(n) for n in names)


def score(
    table: Mapping[str, Any], model: TrainedModel, cfg: Config, reporter: Reporter
) -> dict[str, Any]:
    """Score every row and mark the three samples (:func:`score_with_prior` without the prior).

    Returns
    -------
    dict of str to array
        ``source_id``, ``p_mc``, ``p_mc_std``, ``p_mc_sky``, ``score_flag``,
        ``in_complete``, ``in_optimal``, ``in_truncated_optimal``; one row per input row,
        same order.
    """
    return score_with_prior(table, model, cfg, reporter)[0]


def score_with_prior(
    table: Mapping[str, Any], model: TrainedModel, cfg: Config, reporter: Reporter
) -> tuple[dict[str, Any], PriorEstimate | None]:
    """Score every row, mark the three samples, and estimate the scored stars' MC fraction.

    ``p_mc`` is the ensemble mean (fallbacks merged in first), ``p_mc_std`` its spread.
    With the model's probability record (``model.meta["probabilities"]``), stars whose
    features lie outside the training domain get ``OUT_OF_DOMAIN_BIT``; the MC fraction of
    the table is then estimated once (EM under a change of prior, Saerens et al. 2002) over
    the stars with all features present and inside the domain, and ``p_mc_sky`` is every
    star's probability rescaled to it. Without the record ``p_mc_sky`` equals ``p_mc``.

    Returns
    -------
    columns : dict of str to array
        As :func:`score`.
    prior : PriorEstimate or None
        The table's estimated MC fraction; None without the probability record or when no
        star is usable for it.
    """
    n = int(table["ra"].shape[0])
    with reporter.stage("score", total=n) as advance:
        p, sd, flags, thr = score_with_fallbacks(
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
    p_sky, prior = _sky_prior(table, model, p, flags, cfg.run.score_batch_size)
    out = {
        "source_id": table["source_id"],
        "p_mc": p,
        "p_mc_std": sd,
        "p_mc_sky": p_sky,
        "score_flag": flags,
    }
    out.update({f"in_{k}": v for k, v in masks.items()})
    return out, prior


def _sky_prior(
    table: Mapping[str, Any], model: TrainedModel, p: Any, flags: Any, batch_size: int
) -> tuple[Any, PriorEstimate | None]:
    """Set the out-of-domain bit in ``flags`` (in place); return ``p_mc_sky`` and the prior."""
    record = model.meta.get("probabilities")
    if record is None:
        return p.copy(), None
    from gpu_mc.estimates import ProbabilityModel, out_of_domain

    xp = array_namespace(p)
    pm = ProbabilityModel.from_dict(record)
    ood = out_of_domain(table, model, pm.domain, batch_size)
    flags |= xp.where(ood, xp.uint16(1 << OUT_OF_DOMAIN_BIT), xp.uint16(0))
    q = pm.for_estimates(p)
    clean = ((flags & ((1 << len(FEATURE_NAMES)) - 1)) == 0) & ~ood
    if int(xp.count_nonzero(clean)) == 0:
        return p.copy(), None
    prior = estimate_prior(q[clean], pm.train_prior)
    # an EM at the edge (a fraction of 0 or 1, from a network that separates poorly) would
    # give infinite odds: keep the rescaling finite
    w = min(max(prior.mc_fraction, 1e-6), 1.0 - 1e-6)
    p_sky = rescale_to_prior(q, pm.train_prior, w).astype(xp.float32)
    return p_sky, prior


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
        scores, prior = score_with_prior(table, model, cfg, reporter)
        meta = score_metadata(model, prior, input=str(path))
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
