"""The mock-only work of a run: truth metrics, and the whole validation (recovery table,
contamination, baseline side by side).

Everything runs on the device of the sky and scores columns (NumPy or CuPy); only counts come
back to the host. The result is JSON-able and is what ``metrics.json`` stores under
``"validation"``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from gpu_mc.backend import Backend, array_namespace
from gpu_mc.config import Config
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.score import score_table
from gpu_mc.sample import pm_parallax_selection
from gpu_mc.sky import mock_catalogues
from gpu_mc.thresholds import (
    SAMPLE_NAMES,
    completeness_purity_by_bin,
    curves,
    purity_at_completeness,
    sample_masks,
)
from gpu_mc.validate.contamination import (
    cone_area_deg2,
    contamination_estimate,
    count_selected,
    mock_comparison_field,
)
from gpu_mc.validate.recovery import recovery_table, sample_selections

#: Added to the sky seed for the mock catalogues' noise and for the comparison field.
CATALOGUE_SEED_OFFSET = 3_000_017
FIELD_SEED_OFFSET = 2_000_029


def mock_validation_catalogues(
    sky: Mapping[str, Any], cfg: Config
) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, str]]:
    """The mock's validation catalogues, with the line-of-sight velocities split in two.

    Parameters
    ----------
    sky : mapping of str to array, shape (n,)
        Mock sky with truth columns.
    cfg : Config

    Returns
    -------
    catalogues : dict of str to dict of arrays
        ``cepheids``, ``rr_lyrae``, ``starhorse_mc``, ``starhorse_mw``, ``los_mc`` (velocity
        typical of the Cloud) and ``los_mw`` (the other stars with a velocity).
    labels : dict of str to str
        Column headings, e.g. "LMC Cepheids".
    expected : dict of str to {"member", "non-member"}
        What each catalogue says its stars are.
    """
    cats = mock_catalogues(
        dict(sky),
        cfg.sky,
        cfg.sky.seed + CATALOGUE_SEED_OFFSET,
        label_noise=cfg.validate.mock_label_noise,
    )
    los = cats.pop("los_velocity")
    is_mc = los["is_mc_velocity"]
    cats["los_mc"] = {k: los[k][is_mc] for k in ("source_id", "ra", "dec")}
    cats["los_mw"] = {k: los[k][~is_mc] for k in ("source_id", "ra", "dec")}
    cloud = cfg.target.name.upper()
    labels = {
        "cepheids": f"{cloud} Cepheids",
        "rr_lyrae": f"{cloud} RR Lyrae",
        "starhorse_mc": f"{cloud} StarHorse",
        "starhorse_mw": "MW StarHorse",
        "los_mc": f"{cloud} LoS velocity",
        "los_mw": "MW LoS velocity",
    }
    expected = {k: "non-member" if k.endswith("_mw") else "member" for k in cats}
    return cats, labels, expected


def _selections(
    table: Mapping[str, Any],
    p: Any,
    model: TrainedModel,
    cfg: Config,
    nn_threshold: float,
) -> dict[str, Any]:
    """The three samples, the PM/parallax baseline and the NN at the matched threshold."""
    tcfg = dataclasses.replace(cfg.thresholds, truncated_g_max=model.meta["truncated_g_max"])
    masks = sample_masks(p, table["phot_g_mean_mag"], model.meta["thresholds"], tcfg)
    masks["baseline"] = pm_parallax_selection(table, cfg.target, cfg.sample)
    masks["nn_matched"] = p >= nn_threshold
    return masks


def validate_mock(
    sky: Mapping[str, Any],
    scores: Mapping[str, Any],
    model: TrainedModel,
    cfg: Config,
    backend: Backend,
    by: Literal["source_id", "position"] = "source_id",
    field_area_factor: float = 1.0,
) -> dict[str, Any]:
    """Validate a scored mock sky like the papers, with the baseline side by side.

    Parameters
    ----------
    sky : mapping of str to array, shape (n,)
        The mock sky (Gaia and truth columns) on the backend's device.
    scores : mapping of str to array, shape (n,)
        Its scores (:func:`gpu_mc.pipeline.score`), same rows and order.
    model : TrainedModel
        The model that produced ``scores``; its ``meta`` holds ``thresholds`` and
        ``truncated_g_max``.
    cfg : Config
        The run's configuration (sky, sample cut of the baseline, match radius).
    backend : Backend
        Where the comparison field is simulated and scored.
    by : {"source_id", "position"}
        How the catalogues are matched to the scored stars; by position within
        ``cfg.validate.radius_arcsec``.
    field_area_factor : float
        Area of the comparison field in units of the cone's (1: the same area).

    Returns
    -------
    dict
        ``cloud``, ``by``, ``radius_arcsec``;
        ``recovery``: :func:`~gpu_mc.validate.recovery.recovery_table` rows for the
        selections ``complete``, ``optimal``, ``truncated_optimal``, ``baseline`` and
        ``nn_matched``;
        ``contamination``: the comparison field (``n_stars``, ``area_deg2``), the cone's
        ``cone_area_deg2`` and, per selection, the estimate against the mock truth
        (:func:`~gpu_mc.validate.contamination.contamination_estimate`);
        ``baseline``: the PM/parallax cut's ``n_selected``, ``completeness`` and ``purity``
        on the truth (all stars), and the NN threshold reaching that completeness with the
        NN's ``nn_n_selected``, ``nn_completeness`` and ``nn_purity`` there.
    """
    xp = backend.xp
    truth = sky["true_class"] == 1
    base = pm_parallax_selection(sky, cfg.target, cfg.sample)
    n = count_selected({"truth": truth, "base": base, "both": base & truth})
    completeness = n["both"] / n["truth"] if n["truth"] else 0.0
    nn = purity_at_completeness(scores["p_mc"], truth, completeness)
    selections = {
        **sample_selections(scores),
        "baseline": base,
        "nn_matched": scores["p_mc"] >= nn["threshold"],
    }

    catalogues, labels, expected = mock_validation_catalogues(sky, cfg)
    recovery = recovery_table(
        scores,
        catalogues,
        by=by,
        positions=(sky["ra"], sky["dec"]),
        radius_arcsec=cfg.validate.radius_arcsec,
        selections=selections,
        labels=labels,
        expected=expected,
    )

    n_sky = int(sky["ra"].shape[0])
    field, field_area = mock_comparison_field(
        cfg.sky, n_sky, cfg.sky.seed + FIELD_SEED_OFFSET, field_area_factor, xp
    )
    p_field, _ = score_table(field, model, cfg.run.score_batch_size)
    field_counts = count_selected(_selections(field, p_field, model, cfg, nn["threshold"]))
    sizes = count_selected(selections)
    true_mw = count_selected({k: m & ~truth for k, m in selections.items()})
    cone_area = cone_area_deg2(cfg.target.cone_radius)
    contamination = {
        "field": {"n_stars": int(field["ra"].shape[0]), "area_deg2": field_area},
        "cone_area_deg2": cone_area,
        "selections": contamination_estimate(field_counts, field_area, cone_area, sizes, true_mw),
    }
    return {
        "cloud": cfg.target.name,
        "by": by,
        "radius_arcsec": cfg.validate.radius_arcsec if by == "position" else None,
        "recovery": recovery,
        "contamination": contamination,
        "baseline": {
            "n_selected": n["base"],
            "completeness": completeness,
            "purity": n["both"] / n["base"] if n["base"] else None,
            "nn_threshold": nn["threshold"],
            "nn_n_selected": nn["n_selected"],
            "nn_completeness": nn["completeness"],
            "nn_purity": nn["purity"],
        },
    }


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
