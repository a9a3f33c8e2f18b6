"""The whole job, stage by stage: simulate → features → sample → train → score → thresholds.

Scoring itself (shared with ``gpu-mc score`` and the dask workers) is :mod:`gpu_mc.scoring`.

Each function takes and returns columns on one device; the CLI is a thin layer over them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_mc import __version__
from gpu_mc.augment import augment_training_set, error_range
from gpu_mc.backend import Backend, array_namespace, to_host
from gpu_mc.config import (
    ERROR_RANGE_BIT,
    FALLBACK_BIT0,
    FEATURE_NAMES,
    OUT_OF_DOMAIN_BIT,
    Config,
    ThresholdsConfig,
)
from gpu_mc.estimates import (
    ProbabilityModel,
    calibration_metrics,
    estimated_metrics,
    fit_probability_model,
)
from gpu_mc.footprint import require_inside
from gpu_mc.io.atomic import atomic_directory, write_text_atomic
from gpu_mc.io.writers import write_table
from gpu_mc.mc_class import DRAWN_SELECTIONS
from gpu_mc.model.checkpoint import TrainedModel, model_hash, save_model
from gpu_mc.model.ensemble import EnsembleConfig, as_trained_model, train_ensemble
from gpu_mc.model.score import score_table
from gpu_mc.model.train import train_model
from gpu_mc.probabilities import PriorEstimate
from gpu_mc.progress import Reporter
from gpu_mc.robustness import mc_class_metrics, robustness_table
from gpu_mc.sample import TEST, TrainingSet, build_training_set, pm_parallax_selection
from gpu_mc.scoring import SCORE_UNITS, score, score_metadata, score_with_prior  # noqa: F401 (re-exported)
from gpu_mc.sky import expected_mw_fraction, simulate_cloud, simulate_milky_way, simulate_sky
from gpu_mc.sky.foreground import training_mw_models
from gpu_mc.sky.generate import mc_fraction
from gpu_mc.thresholds import (
    SAMPLE_NAMES,
    Curves,
    choose_thresholds,
    curves,
)
from gpu_mc.validate.mock import truth_metrics, validate_mock


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
            models = training_mw_models(
                cfg.sky.foreground_model, cfg.sky.error_model, cfg.sample.model_mismatch
            )
            mw = simulate_milky_way(
                cfg.sky,
                max(1000, round(n_sky * frac)),
                cfg.sky.seed + 1_000_003,
                xp=backend.xp,
                models=models,
            )
    mc_sim = None
    if cfg.sample.mc_selection in DRAWN_SELECTIONS:
        with reporter.stage("simulate MC (target model)"):
            n_mc = round(int(sky["ra"].shape[0]) * mc_fraction(cfg.sky) * cfg.sample.mw_size_factor)
            _, errors = training_mw_models(
                cfg.sky.foreground_model, cfg.sky.error_model, cfg.sample.model_mismatch
            )
            mc_sim = simulate_cloud(
                cfg.sky,
                max(1000, n_mc),
                cfg.sky.seed + 2_000_003,
                xp=backend.xp,
                error_model=errors,
            )
    with reporter.stage("training set"):
        ts = build_training_set(sky, mw, cfg.target, cfg.sample, mc_sim)
        # The networks fit the set with error-inflated copies; counts stay the stars'.
        fit_set = augment_training_set(
            ts, cfg.train.augment_fraction, cfg.train.augment_max_scale, cfg.sample.seed
        )
    model, c = _fit(fit_set, cfg.features.names, cfg, backend, reporter, "train MLP")
    model.meta["error_range"] = error_range(fit_set)
    with reporter.stage("calibration and domain"):
        pm = fit_probability_model(fit_set, model, cfg.train.calibration, cfg.train.domain_margin)
        model.meta["probabilities"] = pm.to_dict()
    for group in cfg.features.fallback:
        names = tuple(n for n in cfg.features.names if n not in group)
        fb, _ = _fit(fit_set, names, cfg, backend, reporter, f"train w/o {'+'.join(group)}")
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
        if cfg.train.architecture == "mlp" and cfg.train.members > 1:
            ens = train_ensemble(
                ts,
                cfg.target,
                names,
                cfg.train,
                backend.torch_device,
                EnsembleConfig(cfg.train.members, cfg.train.bootstrap),
                on_epoch=lambda *_: advance(1),
            )
            model = as_trained_model(ens, cfg.target)
        else:
            model = train_model(
                ts,
                cfg.target,
                names,
                cfg.train,
                backend.torch_device,
                on_epoch=lambda *_: advance(1),
            )
    return model, pick_thresholds(model, ts, cfg.thresholds)


def pick_thresholds(model: TrainedModel, ts: TrainingSet, cfg: ThresholdsConfig) -> Curves:
    """Choose the model's thresholds from its test-split curves; store them in its meta.

    Sets ``model.meta["thresholds"]`` and ``model.meta["truncated_g_max"]``.

    Returns
    -------
    Curves
        ROC and PR curves of the test split.
    """
    test = ts.codes == TEST
    p_test, _ = score_table({k: v[test] for k, v in ts.table.items()}, model)
    c = curves(ts.labels[test] == 1, p_test)
    model.meta["thresholds"] = choose_thresholds(c, cfg)
    model.meta["truncated_g_max"] = cfg.truncated_g_max
    return c


def score_summary(
    scores: Mapping[str, Any], trained: Trained, cfg: Config, backend: Backend
) -> dict[str, Any]:
    """The metrics every run reports about its target, scores and model, truth or not.

    Returns
    -------
    dict
        ``package_version``, ``cloud``, ``target`` (the whole record), ``backend``,
        ``device``, ``n_scored``, ``n_flagged`` (rows with a missing feature),
        ``n_by_fallback``, ``roc_auc`` and ``pr_auc`` of the test split, ``thresholds``, the
        sample sizes ``samples`` and ``training`` (split counts, class weights, epochs, best
        validation loss, unusable rows).
    """
    flags = scores["score_flag"]
    xp = array_namespace(flags)
    meta = trained.model.meta
    return {
        "package_version": __version__,
        "cloud": cfg.target.name,
        "target": dataclasses.asdict(cfg.target),
        "backend": backend.name,
        "device": backend.capabilities.get("device_name", "cpu"),
        "n_scored": int(scores["p_mc"].shape[0]),
        "n_flagged": int(xp.count_nonzero(flags & ((1 << len(FEATURE_NAMES)) - 1))),
        "n_by_fallback": [
            int(xp.count_nonzero(flags & (1 << (FALLBACK_BIT0 + i))))
            for i in range(len(trained.model.fallbacks))
        ],
        "roc_auc": trained.test_curves.roc_auc(),
        "pr_auc": trained.test_curves.average_precision(),
        "thresholds": trained.thresholds,
        "samples": {k: int(xp.count_nonzero(scores[f"in_{k}"])) for k in SAMPLE_NAMES},
        "training": {
            "counts": trained.training_set.counts(),
            "keep_prob": trained.training_set.keep_prob,
            "epochs": len(meta["history"]),
            "best_validation_loss": meta["best_validation_loss"],
            "n_unusable": meta["n_unusable"],
        },
    }


def write_outputs(
    out_dir: Path,
    scores: Mapping[str, Any],
    model: TrainedModel,
    metrics: dict[str, Any],
    sky: Mapping[str, Any] | None = None,
    prior: PriorEstimate | None = None,
) -> None:
    """Write ``scores.parquet``, ``model/`` and ``metrics.json`` into ``out_dir``.

    With ``sky``, the input table (mock columns and truth) is also written as
    ``sky.parquet``, for the report.

    The directory is replaced as a whole (:func:`~gpu_mc.io.atomic.atomic_directory`): every
    file is first written to a staging directory beside ``out_dir``, which replaces it only
    when all files are complete, so a failure or a kill leaves the old outputs (or none) and
    never new scores beside an old ``sky.parquet``.
    """
    with atomic_directory(out_dir) as staging:
        host = {k: to_host(v) for k, v in scores.items()}
        meta = score_metadata(model, prior, config=json.dumps(model.meta.get("config", {})))
        write_table(staging / "scores.parquet", host, units=SCORE_UNITS, metadata=meta)
        save_model(model, staging / "model")
        write_text_atomic(staging / "metrics.json", json.dumps(metrics, indent=2, default=_json))
        if sky is not None:
            write_table(staging / "sky.parquet", {k: to_host(v) for k, v in sky.items()})


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
    scores, prior = score_with_prior(sky, trained.model, cfg, reporter)
    xp = backend.xp
    with reporter.stage("truth metrics"):
        truth = truth_metrics(sky, scores, cfg)
    with reporter.stage("validation"):
        validation = validate_mock(sky, scores, trained.model, cfg, backend)
    robustness = None
    if cfg.run.robustness:
        matched = None
        if cfg.sample.model_mismatch:
            matched_cfg = cfg.replace(sample={"model_mismatch": False})
            matched = train(sky, matched_cfg, backend, reporter).model
        with reporter.stage("robustness"):
            robustness = robustness_table(trained.model, cfg, backend, reporter, matched)
    with reporter.stage("estimated purity and calibration"):
        estimated, calibration = probability_metrics(sky, scores, prior, trained, cfg)
    n = int(sky["ra"].shape[0])
    metrics: dict[str, Any] = {
        **score_summary(scores, trained, cfg, backend),
        # what `gpu-mc report` regenerates the stars from (with "config")
        "input": {"kind": "mock", "n_rows": n, "seed": cfg.sky.seed},
        "n_input": n,
        "truth": truth,
        "baseline": {
            "n_selected": truth["n_baseline"],
            "truth": truth["baseline"],
            "at_matched_completeness": truth["at_baseline_completeness"],
        },
        "validation": validation,
        "mc_class": mc_class_metrics(sky, cfg, trained.training_set.mc_drawn),
        "n_outside_error_range": int(
            xp.count_nonzero(scores["score_flag"] & (1 << ERROR_RANGE_BIT))
        ),
        "estimated": estimated,
        "calibration": calibration,
        "n_out_of_domain": int(xp.count_nonzero(scores["score_flag"] & (1 << OUT_OF_DOMAIN_BIT))),
        "robustness": robustness,
        "curves": trained.test_curves.to_host(),
        "model_sha256": model_hash(trained.model),
        "config": cfg.to_dict(),
    }
    with reporter.stage("write outputs"):
        metrics["timings_s"] = dict(reporter.timings)
        write_outputs(out_dir, scores, trained.model, metrics, sky if save_sky else None, prior)
    return metrics


def probability_metrics(
    sky: Mapping[str, Any],
    scores: Mapping[str, Any],
    prior: PriorEstimate | None,
    trained: Trained,
    cfg: Config,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``metrics.json["estimated"]`` and ``["calibration"]`` (issue 16); (None, None)
    without a probability record or prior.

    ``estimated`` gives, from ``p_mc_sky`` alone (no truth), the sky's MC fraction and each
    sample's (and the PM/parallax baseline's) expected purity and completeness with 1σ
    errors; ``calibration`` the reliability and ECE before and after calibration on the
    test part and, where ``sky`` has ``true_class``, on the mock sky.
    """
    model = trained.model
    record = model.meta.get("probabilities")
    if record is None or prior is None:
        return None, None
    pm = ProbabilityModel.from_dict(record)
    masks = {k: scores[f"in_{k}"] for k in SAMPLE_NAMES}
    masks["baseline"] = pm_parallax_selection(sky, cfg.target, cfg.sample)
    estimated = estimated_metrics(
        scores["p_mc_sky"], masks, sky["phot_g_mean_mag"], cfg.validate.g_bins, prior
    )
    ts = trained.training_set
    test = ts.codes == TEST
    p_test, _ = score_table({k: v[test] for k, v in ts.table.items()}, model)
    y_test = ts.labels[test] == 1
    finite = p_test == p_test
    truth = sky["true_class"] == 1 if "true_class" in sky else None
    calibration = calibration_metrics(
        p_test[finite], y_test[finite], pm, scores["p_mc"] if truth is not None else None, truth
    )
    return _finite(estimated), _finite(calibration)


def _finite(o: Any) -> Any:
    """``o`` with every NaN float replaced by None (metrics.json is strict JSON)."""
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    if isinstance(o, float | np.floating) and o != o:
        return None
    return o
