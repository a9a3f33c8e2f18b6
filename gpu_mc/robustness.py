"""Robustness of the classifier to model mismatch and to worse astrometric errors.

On a fresh mock sky (same configuration, another seed) every scenario scores the same stars
and compares the three samples and the PM/parallax baseline with the mock truth:

* ``matched``: a model trained with the MW class from the sky's own foreground and error
  models (``sample.model_mismatch = false``);
* ``mismatched``: the model of the run (MW class from the other foreground model with
  PyGaia errors, the default);
* ``errors_x1.3``, ``errors_x2``: the run's model on the same stars with every parallax and
  proper-motion error multiplied by 1.3 or 2 and noise added so the scatter matches;
* ``quoted_x2``: errors doubled on unchanged measurements (only the quoted errors change).

Each row holds completeness and purity (all G, and G < 19) of the complete, optimal and
truncated-optimal samples and of the baseline, plus the change of the optimal sample's
completeness against ``mismatched``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gpu_mc.augment import inflate_errors
from gpu_mc.backend import Backend, array_namespace
from gpu_mc.config import Config
from gpu_mc.mc_class import representation_by_g, represented_by_draw
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.sample import mc_class_mask, pm_parallax_selection
from gpu_mc.sky import simulate_sky
from gpu_mc.sky.rng import make_rng
from gpu_mc.thresholds import SAMPLE_NAMES

#: Seed offset of the fresh sky (our choice).
FRESH_SEED_OFFSET = 9_001

#: Error factors of the inflated scenarios (issue 12).
ERROR_FACTORS = (1.3, 2.0)


def _cp(selected: Any, truth: Any) -> dict[str, float]:
    xp = array_namespace(selected)
    hit = int(xp.count_nonzero(selected & truth))
    n_sel = int(xp.count_nonzero(selected))
    n_true = int(xp.count_nonzero(truth))
    return {
        "completeness": hit / n_true if n_true else float("nan"),
        "purity": hit / n_sel if n_sel else float("nan"),
    }


def scenario_row(
    table: Mapping[str, Any], scores: Mapping[str, Any], cfg: Config
) -> dict[str, Any]:
    """Completeness and purity of the samples and the baseline for one scored table."""
    truth = table["true_class"] == 1
    bright = table["phot_g_mean_mag"] < 19.0
    base = pm_parallax_selection(table, cfg.target, cfg.sample)
    masks = {**{k: scores[f"in_{k}"] for k in SAMPLE_NAMES}, "baseline": base}
    return {
        k: {**_cp(m, truth), "g_lt_19": _cp(m[bright], truth[bright])} for k, m in masks.items()
    }


def robustness_table(
    model: TrainedModel,
    cfg: Config,
    backend: Backend,
    reporter: Any,
    matched_model: TrainedModel | None = None,
) -> dict[str, Any]:
    """The robustness table (see the module docstring).

    Parameters
    ----------
    model : TrainedModel
        The run's model (trained as ``cfg`` says).
    cfg : Config
    backend : Backend
    reporter : Reporter
    matched_model : TrainedModel, optional
        A model trained with ``sample.model_mismatch = false``; the ``matched`` row is left
        out without it.

    Returns
    -------
    dict
        ``seed`` of the fresh sky, ``scenarios`` (name to row), ``optimal_completeness_loss``
        (points, against the run's model on unchanged errors) and ``config`` notes.
    """
    from gpu_mc.pipeline import score

    sky_cfg = dataclasses.replace(cfg.sky, seed=cfg.sky.seed + FRESH_SEED_OFFSET)
    fresh = simulate_sky(sky_cfg, xp=backend.xp)
    rng = make_rng(backend.xp, sky_cfg.seed, 55, 0, 0)
    tables: dict[str, tuple[Mapping[str, Any], TrainedModel]] = {}
    if matched_model is not None:
        tables["matched"] = (fresh, matched_model)
    tables[mismatch_name(cfg)] = (fresh, model)
    for k in ERROR_FACTORS:
        tables[f"errors_x{k:g}"] = (inflate_errors(fresh, k, rng), model)
    tables["quoted_x2"] = (inflate_errors(fresh, 2.0, None, add_noise=False), model)
    rows = {}
    for name, (table, m) in tables.items():
        scores = score(table, m, cfg, reporter)
        rows[name] = scenario_row(table, scores, cfg)
    ref = rows[mismatch_name(cfg)]["optimal"]["completeness"]
    loss = {
        name: 100.0 * (ref - row["optimal"]["completeness"])
        for name, row in rows.items()
        if name != mismatch_name(cfg)
    }
    return {"seed": sky_cfg.seed, "scenarios": rows, "optimal_completeness_loss_points": loss}


def mismatch_name(cfg: Config) -> str:
    """Name of the run's own scenario: "mismatched" or, with mismatch off, "matched"."""
    return "mismatched" if cfg.sample.model_mismatch else "matched"


def mc_class_metrics(
    sky: Mapping[str, Any], cfg: Config, mc_drawn: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Per G bin, the share of the mock's true Cloud stars each MC-class choice represents.

    The selections from the sky ("error_aware", "pm_cut") represent the true members they
    select (and hold the MW stars they select, ``mw_share``). With a draw of the target's
    model (``mc_drawn``, from a "model" or "both" run), "model" represents the true members
    inside the drawn class's range (:func:`gpu_mc.mc_class.represented_by_draw`; the draw
    holds no MW star) and "both" those selected or inside that range.
    """
    truth = sky["true_class"] == 1
    g = sky["phot_g_mean_mag"]
    edges = cfg.validate.g_bins
    out: dict[str, Any] = {"selection": cfg.sample.mc_selection}
    for name in ("error_aware", "pm_cut"):
        sample = dataclasses.replace(cfg.sample, mc_selection=name)
        out[name] = representation_by_g(mc_class_mask(sky, cfg.target, sample), truth, g, edges)
    if mc_drawn is not None:
        inside = represented_by_draw(sky, mc_drawn, cfg.target, edges) & truth
        out["model"] = representation_by_g(inside, truth, g, edges)
        sample = dataclasses.replace(cfg.sample, mc_selection="error_aware")
        both = mc_class_mask(sky, cfg.target, sample) | inside
        out["both"] = representation_by_g(both, truth, g, edges)
    return out
