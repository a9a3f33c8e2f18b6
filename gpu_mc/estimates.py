"""The three probabilities of every star and the truth-free estimates, from an ensemble.

The glue between :mod:`gpu_mc.model.ensemble` and :mod:`gpu_mc.probabilities` that the
pipeline calls (issue 16):

* :func:`fit_probability_model` after training: the training prior, a calibration fitted on
  the validation part (held out from the gradient steps), the training set's domain;
  :meth:`ProbabilityModel.to_dict` is what ``model.json`` stores under ``"probabilities"``.
* :func:`sky_probabilities` when scoring: ``p_mc`` (ensemble mean), ``p_mc_std`` (spread),
  ``p_mc_sky`` (``p_mc`` rescaled to the MC fraction the EM estimates for the scored stars),
  the out-of-domain mask, and the :class:`~gpu_mc.probabilities.PriorEstimate`.
* :func:`estimated_metrics` for ``metrics.json["estimated"]``: the sky's ``mc_fraction`` and,
  per sample, expected MC/MW counts, ``purity`` and ``completeness`` with 1σ errors, overall
  and per G bin.
* :func:`calibration_metrics` for ``metrics.json["calibration"]``: reliability bins and ECE
  before and after calibration, on the test part and (on the mock) on the sky's truth.

Which probabilities feed the EM and the estimates is a choice stored in the model
(``ProbabilityModel.calibrate_estimates``). On the mock sky, the calibration fitted to the
training labels lowers the test set's ECE but moves the sky estimates away from the truth,
because the training MC class is a proper-motion/parallax selection of the sky that holds a
few per cent of MW stars (label noise); the default therefore feeds the uncalibrated
ensemble mean to the EM and keeps the calibration for the reliability diagram.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gpu_mc.backend import array_namespace
from gpu_mc.config import FEATURE_NAMES
from gpu_mc.errors import GpuMcError
from gpu_mc.features import features
from gpu_mc.model.ensemble import StackedMLP, TrainedEnsemble, score_ensemble
from gpu_mc.model.score import score_table_std
from gpu_mc.probabilities import (
    Calibration,
    Domain,
    IsotonicCalibration,
    PriorEstimate,
    calibration_from_dict,
    estimate_prior,
    estimated_by_bin,
    estimated_counts,
    fit_domain,
    fit_isotonic,
    fit_temperature,
    reliability,
    rescale_to_prior,
)
from gpu_mc.sample import TRAIN, VALIDATION, TrainingSet

#: Calibration methods :func:`fit_probability_model` knows.
CALIBRATION_METHODS = ("isotonic", "temperature")


@dataclass(frozen=True)
class ProbabilityModel:
    """What the model stores besides its weights to give the three probabilities.

    Attributes
    ----------
    train_prior : float
        MC fraction of the training rows.
    calibration : Calibration or IsotonicCalibration
        Fitted on the validation part.
    domain : Domain
        The training rows' feature range with a margin.
    calibrate_estimates : bool
        Feed calibrated probabilities (True) or the ensemble mean (False) to the EM and the
        estimates.
    """

    train_prior: float
    calibration: Calibration | IsotonicCalibration
    domain: Domain
    calibrate_estimates: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record for ``model.json["probabilities"]``."""
        return {
            "train_prior": self.train_prior,
            "calibration": self.calibration.to_dict(),
            "domain": self.domain.to_dict(),
            "calibrate_estimates": self.calibrate_estimates,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProbabilityModel:
        """Inverse of :meth:`to_dict`."""
        return cls(
            float(d["train_prior"]),
            calibration_from_dict(dict(d["calibration"])),
            Domain.from_dict(dict(d["domain"])),
            bool(d["calibrate_estimates"]),
        )

    def for_estimates(self, p: Any) -> Any:
        """The probabilities under the training prior that the EM and estimates use."""
        return self.calibration(p) if self.calibrate_estimates else p


def _part(ts: TrainingSet, code: int) -> dict[str, Any]:
    rows = ts.codes == code
    return {k: v[rows] for k, v in ts.table.items()}


def _score(table: Mapping[str, Any], model: Any) -> tuple[Any, Any, Any]:
    """Mean, spread and flags from a TrainedEnsemble or a TrainedModel of any architecture."""
    net = model.network
    if isinstance(net, StackedMLP) or hasattr(net, "stack"):
        return score_ensemble(table, model)
    return score_table_std(table, model)


def fit_probability_model(
    ts: TrainingSet,
    model: TrainedEnsemble,
    method: str = "isotonic",
    margin: float = 0.05,
    calibrate_estimates: bool = False,
) -> ProbabilityModel:
    """Fit the calibration on the validation part and the domain on the training part.

    Parameters
    ----------
    ts : TrainingSet
        The set ``model`` was trained on.
    model : TrainedEnsemble
    method : {"isotonic", "temperature"}
    margin : float
        Domain margin, fraction of each feature's range (see
        :func:`gpu_mc.probabilities.fit_domain`).
    calibrate_estimates : bool
        See :class:`ProbabilityModel`.

    Returns
    -------
    ProbabilityModel
    """
    val = _part(ts, VALIDATION)
    p_val, _, flags = _score(val, model)
    y_val = ts.labels[ts.codes == VALIDATION]
    usable = flags == 0
    if method == "isotonic":
        cal: Calibration | IsotonicCalibration = fit_isotonic(p_val[usable], y_val[usable])
    elif method == "temperature":
        cal = fit_temperature(p_val[usable], y_val[usable])
    else:
        raise GpuMcError(f"calibration method must be one of {CALIBRATION_METHODS}, not {method!r}")
    raw, f = features(_part(ts, TRAIN), getattr(model, "target", model.cloud), model.features)
    domain = fit_domain(raw[f == 0], model.features, margin)
    prior = model.meta.get("train_prior")
    if prior is None:  # a single network: the MC fraction of its training rows
        prior = float(array_namespace(ts.labels).mean(ts.labels[ts.codes == TRAIN] == 1))
    return ProbabilityModel(float(prior), cal, domain, calibrate_estimates)


def out_of_domain(
    table: Mapping[str, Any],
    model: TrainedEnsemble,
    domain: Domain,
    batch_size: int = 1 << 20,
) -> Any:
    """Stars whose raw features lie outside ``domain``, batch by batch on the device.

    Returns
    -------
    bool array, shape (n,)
        Missing features (flagged in ``score_flag``) do not count as outside.
    """
    xp = array_namespace(table["ra"])
    n = int(table["ra"].shape[0])
    out = xp.empty(n, dtype=bool)
    bits = xp.asarray([1 << FEATURE_NAMES.index(f) for f in model.features], dtype=xp.uint16)
    for s in range(0, n, batch_size):
        part = {k: v[s : s + batch_size] for k, v in table.items()}
        raw, flags = features(part, getattr(model, "target", model.cloud), model.features)
        # a missing feature comes back as 0; it is flagged as missing, not out of domain
        missing = (flags[:, None] & bits[None, :]) != 0
        out[s : s + batch_size] = domain.outside(xp.where(missing, xp.nan, raw), model.features)
    return out


def sky_probabilities(
    table: Mapping[str, Any],
    model: TrainedEnsemble,
    pm: ProbabilityModel,
    batch_size: int = 1 << 20,
) -> tuple[dict[str, Any], PriorEstimate]:
    """The three probabilities of every star, the domain mask and the sky's prior.

    Parameters
    ----------
    table : mapping of str to array
        Gaia columns (NumPy or CuPy), length n.
    model : TrainedEnsemble
    pm : ProbabilityModel
    batch_size : int

    Returns
    -------
    columns : dict of str to array, shape (n,)
        ``p_mc`` (float32, ensemble mean), ``p_mc_std`` (float32), ``p_mc_sky`` (float32,
        rescaled to the estimated MC fraction), ``score_flag`` (uint16, missing features),
        ``out_of_domain`` (bool).
    prior : PriorEstimate
        The EM estimate over the stars with all features present and inside the domain.
    """
    xp = array_namespace(table["ra"])
    p, sd, flags = score_ensemble(table, model, batch_size)
    ood = out_of_domain(table, model, pm.domain, batch_size)
    q = pm.for_estimates(p)
    clean = (flags == 0) & ~ood
    prior = estimate_prior(q[clean], pm.train_prior)
    p_sky = rescale_to_prior(q, pm.train_prior, prior.mc_fraction).astype(xp.float32)
    cols = {"p_mc": p, "p_mc_std": sd, "p_mc_sky": p_sky, "score_flag": flags}
    cols["out_of_domain"] = ood
    return cols, prior


def estimated_metrics(
    p_sky: Any,
    masks: Mapping[str, Any],
    g: Any,
    edges: Sequence[float],
    prior: PriorEstimate,
) -> dict[str, Any]:
    """The ``metrics.json["estimated"]`` record.

    Parameters
    ----------
    p_sky : float array, shape (n,)
        ``p_mc_sky``.
    masks : mapping of str to bool array, shape (n,)
        The samples by name (``complete``, ``optimal``, ``truncated_optimal``, ``baseline``).
    g : float array, shape (n,)
        G, mag.
    edges : sequence of float
        G bin edges (``validate.g_bins``).
    prior : PriorEstimate

    Returns
    -------
    dict
        ``mc_fraction``, ``mc_fraction_error``, ``em_iterations``; per sample name the
        :func:`~gpu_mc.probabilities.estimated_counts` record (``purity`` and
        ``completeness`` as fractions, ``n_mc``, ``n_mw`` and their 1σ errors) with
        ``by_g``: the same per G bin; ``uncertainty``: a sentence on what the errors cover.
    """
    out: dict[str, Any] = {
        "mc_fraction": prior.mc_fraction,
        "mc_fraction_error": prior.mc_fraction_error,
        "em_iterations": prior.n_iter,
        "uncertainty": (
            "1-sigma statistical errors from the Poisson-binomial variance sum p(1-p), "
            "assuming calibrated probabilities; model error is not included"
        ),
    }
    for name, m in masks.items():
        out[name] = {**estimated_counts(p_sky, m), "by_g": estimated_by_bin(p_sky, m, g, edges)}
    return out


def calibration_metrics(
    p_test: Any,
    y_test: Any,
    pm: ProbabilityModel,
    p_sky_raw: Any = None,
    truth: Any = None,
    n_bins: int = 15,
) -> dict[str, Any]:
    """Reliability bins and ECE before and after calibration.

    Parameters
    ----------
    p_test, y_test : arrays, shape (m,)
        Ensemble mean and labels of the test part (held out from training and calibration).
    pm : ProbabilityModel
    p_sky_raw, truth : arrays, shape (n,), optional
        Ensemble mean on the mock sky and its truth (1 MC): adds a ``sky`` record, with the
        probabilities rescaled to the sky's estimated prior before and after calibration.
    n_bins : int

    Returns
    -------
    dict
        ``test``: {``before``, ``after``} reliability records (``ece`` inside); ``sky``
        likewise when truth is given; ``method``: the calibration's record.
    """
    out: dict[str, Any] = {
        "method": pm.calibration.to_dict(),
        "test": {
            "before": reliability(p_test, y_test, n_bins).to_dict(),
            "after": reliability(pm.calibration(p_test), y_test, n_bins).to_dict(),
        },
    }
    if p_sky_raw is not None and truth is not None:
        sky = {}
        for key, q in (("before", p_sky_raw), ("after", pm.calibration(p_sky_raw))):
            w = estimate_prior(q, pm.train_prior).mc_fraction
            sky[key] = reliability(rescale_to_prior(q, pm.train_prior, w), truth, n_bins).to_dict()
        out["sky"] = sky
    return out
