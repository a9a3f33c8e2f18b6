"""The whole job, stage by stage: simulate → features → sample → train → score → thresholds.

Each function takes and returns columns on one device; the CLI is a thin layer over them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_mc import __version__
from gpu_mc.backend import Backend, array_namespace, to_host
from gpu_mc.config import FALLBACK_BIT0, FEATURE_NAMES, Config
from gpu_mc.errors import InputError
from gpu_mc.features import required_inputs
from gpu_mc.footprint import require_inside, warn_if_outside
from gpu_mc.io.atomic import write_text_atomic
from gpu_mc.io.device import load_gaia_table
from gpu_mc.io.readers import parquet_row_groups
from gpu_mc.io.writers import parquet_pieces, write_cds_table, write_table
from gpu_mc.model.checkpoint import TrainedModel, model_hash, save_model
from gpu_mc.model.score import score_table
from gpu_mc.model.train import train_model
from gpu_mc.progress import Reporter
from gpu_mc.sample import TEST, TrainingSet, build_training_set, pm_parallax_selection
from gpu_mc.sky import expected_mw_fraction, simulate_milky_way, simulate_sky
from gpu_mc.thresholds import (
    SAMPLE_NAMES,
    Curves,
    choose_thresholds,
    completeness_purity_by_bin,
    curves,
    purity_at_completeness,
    sample_masks,
)
from gpu_mc.validate.mock import validate_mock

#: Units of the score columns, for the file metadata.
SCORE_UNITS = {"source_id": "", "p_mc": "", "score_flag": ""}


@dataclass
class Trained:
    """A model with the test-set curves and the thresholds chosen from them."""

    model: TrainedModel
    training_set: TrainingSet
    test_curves: Curves
    thresholds: dict[str, float]


def simulate(cfg: Config, backend: Backend, reporter: Reporter) -> dict[str, Any]:
    """Simulate the observed base sample on the backend's device."""
    with reporter.stage("simulate sky", total=cfg.sky.n_stars) as advance:
        return simulate_sky(cfg.sky, xp=backend.xp, progress=advance)


def train(
    sky: Mapping[str, Any],
    cfg: Config,
    backend: Backend,
    reporter: Reporter,
    mw: Mapping[str, Any] | None = None,
) -> Trained:
    """Build the training set from ``sky`` plus an MW simulation, train, pick thresholds.

    Parameters
    ----------
    sky : mapping of str to array
        Observed base sample (Gaia columns) on the backend's device.
    cfg : Config
    backend : Backend
    reporter : Reporter
    mw : mapping of str to array, optional
        The MW class (e.g. a GOG export); by default an independent draw of the built-in
        MW model with as many stars as the MW part of the sky.

    Raises
    ------
    InputError
        If most of ``sky`` lies outside the target's cone (another target's sky).
    """
    require_inside(sky, cfg.target)
    if mw is None:
        n_sky = int(sky["ra"].shape[0])
        frac = expected_mw_fraction(cfg.sky) * cfg.sample.mw_size_factor
        with reporter.stage("simulate MW (GOG role)"):
            mw = simulate_milky_way(
                cfg.sky, max(1000, round(n_sky * frac)), cfg.sky.seed + 1_000_003, xp=backend.xp
            )
    with reporter.stage("training set"):
        ts = build_training_set(sky, mw, cfg.target, cfg.sample)
    model, c = _fit(ts, cfg.features.names, cfg, backend, reporter, "train MLP")
    for group in cfg.features.fallback:
        names = tuple(n for n in cfg.features.names if n not in group)
        fb, _ = _fit(ts, names, cfg, backend, reporter, f"train w/o {'+'.join(group)}")
        model.fallbacks.append(fb)
    thresholds = model.meta["thresholds"]
    model.meta["config"] = cfg.to_dict()
    return Trained(model, ts, c, thresholds)


def _fit(
    ts: TrainingSet,
    names: tuple[str, ...],
    cfg: Config,
    backend: Backend,
    reporter: Reporter,
    label: str,
) -> tuple[TrainedModel, Curves]:
    """Train one network on ``names`` and pick its thresholds from its test-set curves."""
    with reporter.stage(label, total=cfg.train.max_epochs) as advance:
        model = train_model(
            ts,
            cfg.target,
            names,
            cfg.train,
            backend.torch_device,
            on_epoch=lambda *_: advance(1),
        )
    test = ts.codes == TEST
    p_test, _ = score_table({k: v[test] for k, v in ts.table.items()}, model)
    c = curves(ts.labels[test] == 1, p_test)
    model.meta["thresholds"] = choose_thresholds(c, cfg.thresholds)
    model.meta["truncated_g_max"] = cfg.thresholds.truncated_g_max
    return model, c


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
    meta = {
        "package": f"gpu_mc {__version__}",
        "model_sha256": model_hash(model),
        "thresholds": json.dumps(model.meta.get("thresholds", {})),
        "input": str(path),
    }
    groups = parquet_row_groups(path)
    if groups is None or sum(groups) <= cfg.run.max_rows_in_memory:
        table = load_gaia_table(path, backend, required, column_map)
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
            table = load_gaia_table(path, backend, required, column_map, piece)
            host = {k: to_host(v) for k, v in score(table, model, cfg, quiet).items()}
            write(host)
            ids.append(host["source_id"])
            advance(len(host["source_id"]))
        all_ids = np.concatenate(ids)
        n_dup = all_ids.size - np.unique(all_ids).size
        if n_dup:
            raise InputError(f"{path}: column 'source_id' has {n_dup} duplicated value(s)")
    return int(all_ids.size)


def truth_metrics(sky: Mapping[str, Any], scores: Mapping[str, Any], cfg: Config) -> dict[str, Any]:
    """Completeness and purity of each sample and of the PM/parallax baseline on the mock truth.

    Also the purity of the NN at the baseline's completeness (the fair comparison).
    """
    truth = sky["true_class"] == 1
    g = sky["phot_g_mean_mag"]
    edges = cfg.validate.g_bins
    base = pm_parallax_selection(sky, cfg.target, cfg.sample)
    out: dict[str, Any] = {
        k: completeness_purity_by_bin(scores[f"in_{k}"], truth, g, edges) for k in SAMPLE_NAMES
    }
    out["baseline"] = completeness_purity_by_bin(base, truth, g, edges)
    bright = g < 19.0
    out["g_lt_19"] = {
        k: completeness_purity_by_bin(m[bright], truth[bright], g[bright], (0.0, 19.0))[0]
        for k, m in [*((k, scores[f"in_{k}"]) for k in SAMPLE_NAMES), ("baseline", base)]
    }
    overall = out["baseline"][-1]
    nn = purity_at_completeness(scores["p_mc"], truth, overall["completeness"])
    out["at_baseline_completeness"] = {
        "completeness": overall["completeness"],
        "baseline_purity": overall["purity"],
        "nn_purity": nn["purity"],
        "nn_threshold": nn["threshold"],
    }
    p = scores["p_mc"]
    out["roc_auc_all_stars"] = curves(truth, p).roc_auc()
    out["n_baseline"] = int(array_namespace(base).count_nonzero(base))
    return out


def write_outputs(
    out_dir: Path,
    scores: Mapping[str, Any],
    model: TrainedModel,
    metrics: dict[str, Any],
    sky: Mapping[str, Any] | None = None,
) -> None:
    """Write ``scores.parquet``, ``model/`` and ``metrics.json`` into ``out_dir``.

    With ``sky``, the input table (mock columns and truth) is also written as
    ``sky.parquet``, for the report.

    Everything is first written to a staging directory beside the outputs and moved into
    place only when all files are complete, so a failure leaves no partial output.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        host = {k: to_host(v) for k, v in scores.items()}
        meta = {
            "package": f"gpu_mc {__version__}",
            "model_sha256": model_hash(model),
            "cloud": model.cloud,
            "thresholds": json.dumps(model.meta.get("thresholds", {})),
            "config": json.dumps(model.meta.get("config", {})),
        }
        write_table(staging / "scores.parquet", host, units=SCORE_UNITS, metadata=meta)
        save_model(model, staging / "model")
        write_text_atomic(staging / "metrics.json", json.dumps(metrics, indent=2, default=_json))
        names = ["scores.parquet", "metrics.json"]
        if sky is not None:
            write_table(staging / "sky.parquet", {k: to_host(v) for k, v in sky.items()})
            names.append("sky.parquet")
        final_model = out_dir / "model"
        final_model.mkdir(exist_ok=True)
        for f in (staging / "model").iterdir():
            os.replace(f, final_model / f.name)
        for name in names:
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")


def run(
    cfg: Config, backend: Backend, out_dir: Path, reporter: Reporter, save_sky: bool = False
) -> dict[str, Any]:
    """Do the whole job on the mock sky and write the outputs; return the metrics.

    Parameters
    ----------
    save_sky : bool
        Also write the simulated input table as ``sky.parquet`` (needed by the report).
    """
    sky = simulate(cfg, backend, reporter)
    trained = train(sky, cfg, backend, reporter)
    scores = score(sky, trained.model, cfg, reporter)
    xp = backend.xp
    with reporter.stage("truth metrics"):
        truth = truth_metrics(sky, scores, cfg)
    with reporter.stage("validation"):
        validation = validate_mock(sky, scores, trained.model, cfg, backend)
    n = int(sky["ra"].shape[0])
    metrics: dict[str, Any] = {
        "package_version": __version__,
        "cloud": cfg.target.name,
        "target": dataclasses.asdict(cfg.target),
        "backend": backend.name,
        "device": backend.capabilities.get("device_name", "cpu"),
        "n_input": n,
        "n_scored": int(scores["p_mc"].shape[0]),
        "n_flagged": int(xp.count_nonzero(scores["score_flag"] & ((1 << FALLBACK_BIT0) - 1))),
        "n_by_fallback": [
            int(xp.count_nonzero(scores["score_flag"] & (1 << (FALLBACK_BIT0 + i))))
            for i in range(len(trained.model.fallbacks))
        ],
        "roc_auc": trained.test_curves.roc_auc(),
        "pr_auc": trained.test_curves.average_precision(),
        "thresholds": trained.thresholds,
        "samples": {k: int(xp.count_nonzero(scores[f"in_{k}"])) for k in SAMPLE_NAMES},
        "truth": truth,
        "baseline": {
            "n_selected": truth["n_baseline"],
            "truth": truth["baseline"],
            "at_matched_completeness": truth["at_baseline_completeness"],
        },
        "training": {
            "counts": trained.training_set.counts(),
            "keep_prob": trained.training_set.keep_prob,
            "epochs": len(trained.model.meta["history"]),
            "best_validation_loss": trained.model.meta["best_validation_loss"],
            "n_unusable": trained.model.meta["n_unusable"],
        },
        "validation": validation,
        "curves": trained.test_curves.to_host(),
        "model_sha256": model_hash(trained.model),
        "config": cfg.to_dict(),
    }
    with reporter.stage("write outputs"):
        metrics["timings_s"] = dict(reporter.timings)
        write_outputs(out_dir, scores, trained.model, metrics, sky if save_sky else None)
    return metrics
