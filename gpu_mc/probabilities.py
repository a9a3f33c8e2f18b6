"""Probabilities a user can trust without truth: the sky's prior, calibration, estimated
purity and completeness, and an out-of-domain mask.

The network is trained on a set balanced to a fixed MC fraction (the *training prior*,
20 % in the papers), while a real base sample has its own MC fraction (about 60 % towards
the LMC). Under a change of class prior with unchanged class-conditional densities, the
posterior of a star on the sky is the training posterior with its odds rescaled by the
ratio of the priors, and the sky's prior itself is the maximum-likelihood solution of an
expectation-maximisation over the sky's scores (Saerens, Latinne & Decaestecker 2002,
Neural Computation 14, 21). :func:`estimate_prior` does that EM and :func:`rescale_to_prior`
the rescaling.

With calibrated probabilities p_i of the sky (:func:`rescale_to_prior` of a calibrated
score), the number of MC stars in a sample S is a sum of independent Bernoulli variables:
its expectation is Σ_S p_i and its variance the Poisson-binomial variance Σ_S p_i (1 − p_i).
:func:`estimated_counts` gives these and the purity and completeness that follow, with
1σ uncertainties. The uncertainties are statistical only: they assume the probabilities are
calibrated and say nothing of a model that is wrong for the sky (that systematic error is
what the mock's truth measures).

Calibration (:func:`fit_temperature`) is temperature scaling (Guo et al. 2017, ICML),
optionally with a bias (Platt 1999), fitted to held-out labels by Newton's method on the
log-loss; :func:`reliability` gives the reliability-diagram bins and the expected
calibration error (ECE; Naeini, Cooper & Hauskrecht 2015, AAAI).

:class:`Domain` holds the training set's per-feature range with a margin and marks stars
outside it (:meth:`Domain.outside`).

Every function takes its array namespace from its inputs (NumPy or CuPy) and keeps the data
on their device; iterations move one scalar to the host every ``check_every`` steps at most.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpu_mc.backend import array_namespace, bincount, to_host
from gpu_mc.errors import GpuMcError

#: Probabilities are clipped to [EPS, 1 − EPS] before taking logits or logs.
EPS = 1e-7

#: Features that :class:`Domain` checks by default: positions, errors and magnitudes (the
#: quantities whose range the training set sets; proper motions and parallax are what the
#: network separates the classes by, and both classes together span their range).
DOMAIN_FEATURES: tuple[str, ...] = (
    "x",
    "y",
    "sigma_mu_x",
    "sigma_mu_y",
    "parallax_error",
    "g",
    "bp",
    "rp",
)


def _clip(xp: Any, p: Any) -> Any:
    return xp.clip(p.astype(xp.float64), EPS, 1.0 - EPS)


def logit(p: Any) -> Any:
    """log(p / (1 − p)), float64, with p clipped to [EPS, 1 − EPS]; shape of ``p``."""
    xp = array_namespace(p)
    q = _clip(xp, p)
    return xp.log(q) - xp.log1p(-q)


def _sigmoid(xp: Any, z: Any) -> Any:
    return 0.5 * (1.0 + xp.tanh(0.5 * z))


# --------------------------------------------------------------------------- prior shift


def rescale_to_prior(p: Any, train_prior: float, new_prior: Any) -> Any:
    """Posterior under a new class prior (Saerens et al. 2002, eq. 2.4).

    Parameters
    ----------
    p : float array, shape (n,)
        P(MC | x) under the training prior.
    train_prior : float
        MC fraction of the training set, in (0, 1).
    new_prior : float or 0-d array
        MC fraction of the population the stars are drawn from, in (0, 1).

    Returns
    -------
    float64 array, shape (n,)
        P(MC | x) under ``new_prior``: the odds of ``p`` times
        [new / (1 − new)] / [train / (1 − train)].
    """
    xp = array_namespace(p)
    shift = xp.log(xp.asarray(new_prior, dtype=xp.float64)) - xp.log1p(-xp.asarray(new_prior))
    shift = shift - (np.log(train_prior) - np.log1p(-train_prior))
    return _sigmoid(xp, logit(p) + shift)


@dataclass(frozen=True)
class PriorEstimate:
    """Result of :func:`estimate_prior`.

    Attributes
    ----------
    mc_fraction : float
        Maximum-likelihood MC fraction of the scored stars.
    mc_fraction_error : float
        Its 1σ statistical error from the observed Fisher information of the mixture
        likelihood (rows independent; no model error).
    n_iter : int
        EM iterations done.
    converged : bool
        Whether the last step changed the fraction by less than ``tol``.
    """

    mc_fraction: float
    mc_fraction_error: float
    n_iter: int
    converged: bool


def estimate_prior(
    p: Any,
    train_prior: float,
    tol: float = 1e-8,
    max_iter: int = 10_000,
    check_every: int = 20,
) -> PriorEstimate:
    """The MC fraction of a scored population by EM under a change of prior.

    Saerens, Latinne & Decaestecker (2002), eqs. 2.9-2.10: starting from the training prior,
    rescale every posterior to the current prior (E step) and take their mean as the next
    prior (M step). The fixed point maximises the likelihood of the scores as a mixture of
    the two training class-conditional densities.

    Parameters
    ----------
    p : float array, shape (n,)
        Calibrated P(MC | x) under the training prior; non-finite values are ignored.
    train_prior : float
        MC fraction of the training set, in (0, 1).
    tol : float
        Stop when one step changes the fraction by less than this.
    max_iter : int
        At most this many EM steps.
    check_every : int
        Steps between two convergence checks (each check moves one scalar to the host).

    Returns
    -------
    PriorEstimate
    """
    if not 0.0 < train_prior < 1.0:
        raise GpuMcError(f"training prior must lie in (0, 1), not {train_prior}")
    xp = array_namespace(p)
    p = p[xp.isfinite(p)]
    n = int(p.shape[0])
    if n == 0:
        raise GpuMcError("cannot estimate the MC fraction of an empty set of scores")
    # likelihood ratio of the two class densities, up to a common factor
    ratio = xp.exp(logit(p) - (np.log(train_prior) - np.log1p(-train_prior)))
    w = xp.asarray(train_prior, dtype=xp.float64)
    n_iter, step = 0, float("inf")
    while n_iter < max_iter:
        for _ in range(min(check_every, max_iter - n_iter)):
            previous = w
            w = xp.mean(w * ratio / (w * ratio + (1.0 - w)))
            n_iter += 1
        step = float(xp.abs(w - previous))
        if step < tol:
            break
    d = ratio - 1.0
    fisher = xp.sum((d / (w * d + 1.0)) ** 2)
    error = float(1.0 / xp.sqrt(fisher)) if float(fisher) > 0 else float("inf")
    return PriorEstimate(float(w), error, n_iter, step < tol)


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibration:
    """Temperature (and optional bias) scaling of logits: p' = σ(logit(p) / T + b).

    Attributes
    ----------
    temperature : float
        T > 1 softens over-confident scores, T < 1 sharpens under-confident ones.
    bias : float
        b; 0 for pure temperature scaling.
    """

    temperature: float = 1.0
    bias: float = 0.0

    def __call__(self, p: Any) -> Any:
        """Calibrated probabilities, float64, shape of ``p``."""
        xp = array_namespace(p)
        return _sigmoid(xp, logit(p) / self.temperature + self.bias)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (for model.json)."""
        return {"method": "temperature", "temperature": self.temperature, "bias": self.bias}


@dataclass(frozen=True)
class IsotonicCalibration:
    """A non-decreasing map of P(MC) fitted by isotonic regression, linear between knots.

    Attributes
    ----------
    knots_p : tuple of float
        Increasing uncalibrated probabilities (the first and last score of every block of
        the pool-adjacent-violators fit).
    knots_q : tuple of float
        Calibrated probability at each knot (non-decreasing). Scores beyond the end knots
        take the end values.
    """

    knots_p: tuple[float, ...]
    knots_q: tuple[float, ...]

    def __call__(self, p: Any) -> Any:
        """Calibrated probabilities, float64, shape of ``p``."""
        xp = array_namespace(p)
        kp = xp.asarray(self.knots_p, dtype=xp.float64)
        kq = xp.asarray(self.knots_q, dtype=xp.float64)
        return xp.interp(p.astype(xp.float64), kp, kq)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (for model.json)."""
        return {"method": "isotonic", "knots_p": list(self.knots_p), "knots_q": list(self.knots_q)}


def calibration_from_dict(d: dict[str, Any]) -> Calibration | IsotonicCalibration:
    """Inverse of ``to_dict`` of either calibration."""
    if d.get("method") == "isotonic":
        return IsotonicCalibration(tuple(map(float, d["knots_p"])), tuple(map(float, d["knots_q"])))
    if d.get("method") == "temperature":
        return Calibration(float(d["temperature"]), float(d["bias"]))
    raise GpuMcError(f"unknown calibration method {d.get('method')!r}")


def fit_isotonic(p: Any, y: Any) -> IsotonicCalibration:
    """Fit an isotonic calibration to held-out labels (pool adjacent violators).

    Zadrozny & Elkan (2002, KDD). The held-out scores move to the host once (the fit is a
    sequential merge over the sorted scores); the result applies on any device.

    Parameters
    ----------
    p : float array, shape (n,)
        Uncalibrated P(MC) of held-out stars.
    y : array of {0, 1}, shape (n,)
        Their labels.

    Returns
    -------
    IsotonicCalibration
    """
    ph = to_host(p).astype(np.float64)
    yh = to_host(y).astype(np.float64)
    if ph.size == 0 or yh.min() == yh.max():
        raise GpuMcError("calibration needs held-out stars of both classes")
    xs, inverse = np.unique(ph, return_inverse=True)
    weight = np.bincount(inverse).astype(np.float64)
    total = np.bincount(inverse, weights=yh)
    # blocks as parallel stacks: summed label, weight, first and last distinct score
    s_y: list[float] = []
    s_w: list[float] = []
    s_lo: list[float] = []
    s_hi: list[float] = []
    for x, w, t in zip(xs, weight, total, strict=True):
        s_y.append(t)
        s_w.append(w)
        s_lo.append(x)
        s_hi.append(x)
        while len(s_y) > 1 and s_y[-2] / s_w[-2] >= s_y[-1] / s_w[-1]:
            t_last, w_last, hi_last = s_y.pop(), s_w.pop(), s_hi.pop()
            s_lo.pop()
            s_y[-1] += t_last
            s_w[-1] += w_last
            s_hi[-1] = hi_last
    value = np.asarray(s_y) / np.asarray(s_w)
    knots_p = np.column_stack([s_lo, s_hi]).ravel()
    knots_q = np.repeat(value, 2)
    keep = np.ones(knots_p.size, dtype=bool)
    keep[1:] = knots_p[1:] > knots_p[:-1]
    return IsotonicCalibration(tuple(map(float, knots_p[keep])), tuple(map(float, knots_q[keep])))


def fit_temperature(p: Any, y: Any, with_bias: bool = False, n_steps: int = 50) -> Calibration:
    """Fit temperature scaling to held-out labels by Newton's method on the mean log-loss.

    The log-loss of σ(a z + b) is convex in (a, b) (z = logit p, a = 1/T), so damped
    Newton steps from (1, 0) converge; all steps run on the device and the result moves to
    the host once.

    Parameters
    ----------
    p : float array, shape (n,)
        Uncalibrated P(MC) of held-out stars (not the ones the network was fitted to).
    y : array of {0, 1}, shape (n,)
        Their labels.
    with_bias : bool
        Also fit the bias b (Platt scaling on the logit); default temperature only.
    n_steps : int
        Newton steps.

    Returns
    -------
    Calibration
    """
    xp = array_namespace(p, y)
    z = logit(p)
    t = y.astype(xp.float64)
    n = int(z.shape[0])
    if n == 0 or int(xp.count_nonzero(t)) in (0, n):
        raise GpuMcError("calibration needs held-out stars of both classes")
    a = xp.asarray(1.0)
    b = xp.asarray(0.0)
    for _ in range(n_steps):
        q = _sigmoid(xp, a * z + b)
        r = q - t
        w = q * (1.0 - q) + 1e-12
        g_a, h_aa = xp.mean(r * z), xp.mean(w * z * z)
        if with_bias:
            g_b, h_bb, h_ab = xp.mean(r), xp.mean(w), xp.mean(w * z)
            det = h_aa * h_bb - h_ab * h_ab
            da = (h_bb * g_a - h_ab * g_b) / det
            db = (h_aa * g_b - h_ab * g_a) / det
        else:
            da, db = g_a / h_aa, 0.0
        # damping: never change the slope by more than a factor of two in one step
        scale = xp.minimum(1.0, 0.5 * xp.abs(a) / (xp.abs(da) + 1e-300))
        a = a - scale * da
        b = b - scale * db
    a_host, b_host = float(a), float(b)
    if not (np.isfinite(a_host) and a_host > 0 and np.isfinite(b_host)):
        raise GpuMcError(f"temperature scaling did not converge (slope {a_host}, bias {b_host})")
    return Calibration(1.0 / a_host, b_host)


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram bins and the expected calibration error.

    Attributes
    ----------
    edges : ndarray, shape (n_bins + 1,)
        Bin edges in predicted probability.
    count : ndarray of int, shape (n_bins,)
        Stars per bin.
    confidence : ndarray, shape (n_bins,)
        Mean predicted P(MC) per bin (NaN for empty bins).
    frequency : ndarray, shape (n_bins,)
        Observed MC fraction per bin (NaN for empty bins).
    ece : float
        Σ_bins (count / n) |frequency − confidence|.
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    frequency: np.ndarray
    ece: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (NaN as None)."""

        def clean(a: np.ndarray) -> list[Any]:
            return [None if not np.isfinite(v) else float(v) for v in a]

        return {
            "edges": [float(e) for e in self.edges],
            "count": [int(c) for c in self.count],
            "confidence": clean(self.confidence),
            "frequency": clean(self.frequency),
            "ece": self.ece,
        }


def reliability(p: Any, y: Any, n_bins: int = 15) -> Reliability:
    """Reliability diagram (equal-width bins) and expected calibration error.

    Parameters
    ----------
    p : float array, shape (n,)
        Predicted P(MC).
    y : array of {0, 1}, shape (n,)
        Labels.
    n_bins : int
        Equal-width bins on [0, 1].

    Returns
    -------
    Reliability
        Host arrays (the per-bin sums are reduced on the device first).
    """
    xp = array_namespace(p, y)
    n = int(p.shape[0])
    if n == 0:
        raise GpuMcError("reliability needs at least one star")
    pf = p.astype(xp.float64)
    idx = xp.clip((pf * n_bins).astype(xp.int64), 0, n_bins - 1)
    count = to_host(bincount(xp, idx, n_bins))
    conf_sum = to_host(bincount(xp, idx, n_bins, weights=pf))
    pos_sum = to_host(bincount(xp, idx, n_bins, weights=y.astype(xp.float64)))
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = conf_sum / count
        frequency = pos_sum / count
    ece = float(np.sum(np.abs(pos_sum - conf_sum)) / n)
    return Reliability(np.linspace(0.0, 1.0, n_bins + 1), count, confidence, frequency, ece)


# --------------------------------------------------------------------- purity, completeness


def estimated_counts(p_sky: Any, mask: Any) -> dict[str, float]:
    """Expected MC and MW counts, purity and completeness of a sample, without truth.

    With calibrated probabilities p_i that star i of the sky is an MC star, the number of
    MC stars in the sample S is Poisson-binomial: mean Σ_S p_i, variance Σ_S p_i (1 − p_i).

    Parameters
    ----------
    p_sky : float array, shape (n,)
        Calibrated P(MC) of every star of the sky under the sky's prior (non-finite values
        count as 0).
    mask : bool array, shape (n,)
        The sample.

    Returns
    -------
    dict
        ``n_selected``; ``n_mc``, ``n_mw`` (expected counts in the sample) and
        ``n_mc_error`` (1σ, also that of ``n_mw``); ``n_mc_total`` (expected MC stars on
        the whole sky); ``purity`` = n_mc / n_selected and ``completeness`` =
        n_mc / n_mc_total as fractions, each with a 1σ ``purity_error`` /
        ``completeness_error`` (Poisson-binomial variances, the MC counts inside and outside
        the sample independent; statistical only, probabilities assumed calibrated).
    """
    xp = array_namespace(p_sky, mask)
    p = xp.where(xp.isfinite(p_sky), p_sky.astype(xp.float64), 0.0)
    var = p * (1.0 - p)
    inside = xp.stack(
        [
            xp.sum(xp.where(mask, p, 0.0)),
            xp.sum(xp.where(mask, var, 0.0)),
            xp.sum(p),
            xp.sum(var),
            xp.sum(mask, dtype=xp.float64),
        ]
    )
    a, var_a, total, var_total, n_sel = (float(v) for v in to_host(inside))
    b, var_b = total - a, var_total - var_a
    purity = a / n_sel if n_sel else float("nan")
    purity_error = np.sqrt(var_a) / n_sel if n_sel else float("nan")
    completeness = a / total if total > 0 else float("nan")
    completeness_error = (
        np.sqrt(b * b * var_a + a * a * var_b) / total**2 if total > 0 else float("nan")
    )
    return {
        "n_selected": int(n_sel),
        "n_mc": a,
        "n_mw": n_sel - a,
        "n_mc_error": float(np.sqrt(var_a)),
        "n_mc_total": total,
        "purity": purity,
        "purity_error": float(purity_error),
        "completeness": completeness,
        "completeness_error": float(completeness_error),
    }


def estimated_by_bin(
    p_sky: Any, mask: Any, g: Any, edges: Sequence[float]
) -> list[dict[str, float]]:
    """:func:`estimated_counts` per G bin (completeness relative to the bin's MC stars).

    Parameters
    ----------
    p_sky, mask : arrays, shape (n,)
        As in :func:`estimated_counts`.
    g : float array, shape (n,)
        G magnitude.
    edges : sequence of float
        Bin edges, mag; a last row covers edges[0] <= G < edges[-1].

    Returns
    -------
    list of dict
        One :func:`estimated_counts` record per bin with ``g_min`` and ``g_max`` added.
    """
    rows = []
    bins = [*itertools.pairwise(edges), (edges[0], edges[-1])]
    for lo, hi in bins:
        sel = (g >= lo) & (g < hi)
        row = estimated_counts(p_sky[sel], mask[sel])
        rows.append({"g_min": float(lo), "g_max": float(hi), **row})
    return rows


# ------------------------------------------------------------------------------- domain


@dataclass(frozen=True)
class Domain:
    """Per-feature range of the training set, widened by a margin.

    Attributes
    ----------
    names : tuple of str
        Feature names checked.
    lo, hi : tuple of float
        Accepted range per feature (raw feature units: deg, mas/yr, mas, mag).
    """

    names: tuple[str, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]

    def outside(self, x: Any, names: Sequence[str]) -> Any:
        """Rows with a finite checked feature outside the accepted range.

        Parameters
        ----------
        x : float array, shape (n, k)
            Raw (unstandardised) features in the order of ``names``.
        names : sequence of str
            Column names of ``x``; must include every name in :attr:`names`.

        Returns
        -------
        bool array, shape (n,)
            Missing (non-finite) features do not count as outside: the null policy flags
            those separately.
        """
        xp = array_namespace(x)
        cols = _columns(names, self.names)
        sub = x[:, xp.asarray(cols)].astype(xp.float64)
        lo = xp.asarray(self.lo, dtype=xp.float64)
        hi = xp.asarray(self.hi, dtype=xp.float64)
        return xp.any((sub < lo) | (sub > hi), axis=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (for model.json)."""
        return {"names": list(self.names), "lo": list(self.lo), "hi": list(self.hi)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Domain:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(d["names"]), tuple(map(float, d["lo"])), tuple(map(float, d["hi"])))


def _columns(names: Sequence[str], wanted: Sequence[str]) -> list[int]:
    missing = [n for n in wanted if n not in names]
    if missing:
        raise GpuMcError(f"features lack the domain feature(s) {', '.join(missing)}")
    return [list(names).index(n) for n in wanted]


def fit_domain(
    x: Any,
    names: Sequence[str],
    margin: float = 0.05,
    check: Sequence[str] = DOMAIN_FEATURES,
) -> Domain:
    """The training set's per-feature range, widened by ``margin`` of its width each side.

    Parameters
    ----------
    x : float array, shape (n, k)
        Raw features of the training stars, columns in the order of ``names``; non-finite
        values are ignored.
    names : sequence of str
        Column names of ``x``.
    margin : float
        Fraction of each feature's training range added below and above (our assumption:
        5 %).
    check : sequence of str
        Features to check; those not in ``names`` are skipped (a model trained without a
        feature has no range for it).

    Returns
    -------
    Domain
    """
    xp = array_namespace(x)
    used = tuple(n for n in check if n in names)
    if not used:
        raise GpuMcError("no domain feature is among the model's features")
    sub = x[:, xp.asarray(_columns(names, used))].astype(xp.float64)
    finite = xp.isfinite(sub)
    lo = xp.min(xp.where(finite, sub, xp.inf), axis=0)
    hi = xp.max(xp.where(finite, sub, -xp.inf), axis=0)
    width = hi - lo
    lo_h, hi_h = to_host(lo - margin * width), to_host(hi + margin * width)
    if not (np.all(np.isfinite(lo_h)) and np.all(np.isfinite(hi_h))):
        raise GpuMcError("a domain feature has no finite training value")
    return Domain(used, tuple(map(float, lo_h)), tuple(map(float, hi_h)))
