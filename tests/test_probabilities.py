"""Prior shift, calibration, estimated purity/completeness and the domain mask.

Closed-form oracles (two Gaussian classes whose exact posterior is known), Monte Carlo draws,
scikit-learn's isotonic regression, and the mock sky's truth.
"""

import numpy as np
import pytest

from gpu_mc.errors import GpuMcError
from gpu_mc.probabilities import (
    Calibration,
    Domain,
    IsotonicCalibration,
    calibration_from_dict,
    estimate_prior,
    estimated_by_bin,
    estimated_counts,
    fit_domain,
    fit_isotonic,
    fit_temperature,
    logit,
    reliability,
    rescale_to_prior,
)


def expit(z):
    """The logistic function (oracle, written out)."""
    return 1.0 / (1.0 + np.exp(-z))


MU = 1.0  # class means at ±MU, unit variances: log-likelihood ratio 2 MU x


def _gauss_sky(n, alpha, seed):
    """Scores x of a sky with MC fraction alpha; MC ~ N(MU, 1), MW ~ N(-MU, 1)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < alpha
    x = rng.normal(np.where(y, MU, -MU), 1.0)
    return x, y


def _posterior(x, prior):
    """Exact P(MC | x) under a class prior."""
    return expit(2 * MU * x + np.log(prior / (1 - prior)))


# ----------------------------------------------------------------------------- prior shift


def test_rescale_to_prior_is_the_exact_posterior_under_the_new_prior():
    x = np.linspace(-6, 6, 1001)
    got = rescale_to_prior(_posterior(x, 0.2), 0.2, 0.6)
    np.testing.assert_allclose(got, _posterior(x, 0.6), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rescale_to_prior(_posterior(x, 0.2), 0.2, 0.2), _posterior(x, 0.2))


@pytest.mark.parametrize("alpha", [0.6, 0.2, 0.05])
def test_em_finds_the_mixture_mle(alpha):
    x, y = _gauss_sky(200_000, alpha, seed=1)
    est = estimate_prior(_posterior(x, 0.2), 0.2)
    assert est.converged
    # oracle: maximise the mixture log-likelihood of the exact class densities on a grid
    f1 = np.exp(-0.5 * (x - MU) ** 2)
    f0 = np.exp(-0.5 * (x + MU) ** 2)
    grid = np.linspace(0.001, 0.999, 9981)
    loglik = [np.sum(np.log(w * f1 + (1 - w) * f0)) for w in grid[::10]]
    coarse = grid[::10][int(np.argmax(loglik))]
    fine = grid[np.abs(grid - coarse) < 0.002]
    mle = fine[int(np.argmax([np.sum(np.log(w * f1 + (1 - w) * f0)) for w in fine]))]
    assert est.mc_fraction == pytest.approx(mle, abs=2e-4)
    assert abs(est.mc_fraction - alpha) < 4 * est.mc_fraction_error
    assert abs(est.mc_fraction - y.mean()) < 0.01


def test_em_error_matches_the_spread_of_repeated_skies():
    estimates, errors = [], []
    for seed in range(40):
        x, _ = _gauss_sky(4000, 0.6, seed=100 + seed)
        e = estimate_prior(_posterior(x, 0.2), 0.2)
        estimates.append(e.mc_fraction)
        errors.append(e.mc_fraction_error)
    assert np.std(estimates, ddof=1) == pytest.approx(np.mean(errors), rel=0.35)
    assert abs(np.mean(estimates) - 0.6) < 3 * np.mean(errors) / np.sqrt(40)


def test_em_ignores_non_finite_scores_and_refuses_bad_priors():
    x, _ = _gauss_sky(20_000, 0.5, seed=3)
    p = _posterior(x, 0.2)
    with_nan = np.concatenate([p, [np.nan, np.inf]])
    assert estimate_prior(with_nan, 0.2).mc_fraction == estimate_prior(p, 0.2).mc_fraction
    with pytest.raises(GpuMcError, match="training prior"):
        estimate_prior(p, 1.0)
    with pytest.raises(GpuMcError, match="empty"):
        estimate_prior(np.array([np.nan]), 0.2)


# ------------------------------------------------------------------------------ counts


def test_estimated_counts_are_the_poisson_binomial_moments():
    rng = np.random.default_rng(5)
    p = rng.beta(0.5, 0.5, 3000)
    mask = rng.random(3000) < 0.4
    e = estimated_counts(p, mask)
    assert e["n_selected"] == int(mask.sum())
    assert e["n_mc"] == pytest.approx(p[mask].sum())
    assert e["n_mw"] == pytest.approx(mask.sum() - p[mask].sum())
    assert e["n_mc_total"] == pytest.approx(p.sum())
    # Monte Carlo oracle: draw the classes from p many times
    draws = rng.random((4000, p.size)) < p
    n_mc = draws[:, mask].sum(1)
    purity = n_mc / mask.sum()
    completeness = n_mc / draws.sum(1)
    assert e["n_mc_error"] == pytest.approx(n_mc.std(), rel=0.05)
    assert e["purity"] == pytest.approx(purity.mean(), abs=3 * e["purity_error"] / np.sqrt(4000))
    assert e["purity_error"] == pytest.approx(purity.std(), rel=0.05)
    assert e["completeness"] == pytest.approx(completeness.mean(), abs=1e-3)
    assert e["completeness_error"] == pytest.approx(completeness.std(), rel=0.07)


def test_estimated_by_bin_splits_by_magnitude():
    rng = np.random.default_rng(6)
    p = rng.random(1000)
    g = rng.uniform(12, 20, 1000)
    mask = p > 0.5
    rows = estimated_by_bin(p, mask, g, (12.0, 16.0, 20.0))
    assert [(r["g_min"], r["g_max"]) for r in rows] == [(12, 16), (16, 20), (12, 20)]
    bright = g < 16
    assert rows[0]["n_mc"] == pytest.approx(p[bright & mask].sum())
    assert rows[0]["completeness"] == pytest.approx(p[bright & mask].sum() / p[bright].sum())
    assert rows[2]["n_selected"] == rows[0]["n_selected"] + rows[1]["n_selected"]


def test_empty_sample_has_undefined_purity():
    e = estimated_counts(np.array([0.2, 0.9]), np.array([False, False]))
    assert e["n_selected"] == 0 and np.isnan(e["purity"]) and e["completeness"] == 0.0


# ------------------------------------------------------------------------------ calibration


@pytest.mark.parametrize(
    ("t0", "b0", "with_bias"), [(2.0, 0.0, False), (0.5, 0.0, False), (1.5, 0.7, True)]
)
def test_temperature_scaling_recovers_the_true_map(t0, b0, with_bias):
    rng = np.random.default_rng(7)
    z = rng.normal(0, 3, 200_000)
    y = rng.random(z.size) < expit(z / t0 + b0)
    cal = fit_temperature(expit(z), y, with_bias=with_bias)
    assert cal.temperature == pytest.approx(t0, rel=0.03)
    assert cal.bias == pytest.approx(b0, abs=0.03)
    np.testing.assert_allclose(
        cal(expit(z)), expit(z / cal.temperature + cal.bias), rtol=1e-9, atol=1e-12
    )
    assert calibration_from_dict(cal.to_dict()) == cal


def test_reliability_bins_and_ece_closed_form():
    p = np.array([0.3] * 4 + [0.95] * 4)
    y = np.array([1, 0, 1, 0, 1, 1, 1, 1])
    r = reliability(p, y, n_bins=10)
    assert r.count.tolist() == [0, 0, 0, 4, 0, 0, 0, 0, 0, 4]
    assert r.confidence[3] == pytest.approx(0.3) and r.frequency[3] == pytest.approx(0.5)
    assert r.frequency[9] == 1.0 and np.isnan(r.frequency[0])
    assert r.ece == pytest.approx(0.5 * 0.2 + 0.5 * 0.05)
    d = r.to_dict()
    assert d["frequency"][0] is None and d["count"][9] == 4


def test_isotonic_equals_scikit_learn_and_lowers_the_ece():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(8)
    z = rng.normal(0, 2, 40_000)
    truth = expit(0.5 * z**3 / (1 + np.abs(z)))  # miscalibrated and not a temperature
    y = rng.random(z.size) < truth
    p = expit(z)
    fit, held = slice(0, 20_000), slice(20_000, None)
    cal = fit_isotonic(p[fit], y[fit])
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p[fit], y[fit])
    np.testing.assert_allclose(cal(p[held]), ref.predict(p[held]), atol=1e-12)
    assert np.all(np.diff(cal.knots_p) > 0) and np.all(np.diff(cal.knots_q) >= 0)
    assert reliability(cal(p[held]), y[held]).ece < 0.5 * reliability(p[held], y[held]).ece
    assert calibration_from_dict(cal.to_dict()) == cal
    assert isinstance(cal, IsotonicCalibration)


def test_calibration_needs_both_classes():
    with pytest.raises(GpuMcError, match="both classes"):
        fit_temperature(np.array([0.2, 0.4]), np.array([1, 1]))
    with pytest.raises(GpuMcError, match="both classes"):
        fit_isotonic(np.array([0.2, 0.4]), np.array([0, 0]))
    with pytest.raises(GpuMcError, match="unknown calibration"):
        calibration_from_dict({"method": "beta"})


def test_logit_is_finite_at_the_ends():
    z = logit(np.array([0.0, 0.5, 1.0], dtype=np.float32))
    assert np.all(np.isfinite(z)) and z[1] == 0.0 and z[0] == pytest.approx(-z[2])
    assert Calibration()(np.array([0.25]))[0] == pytest.approx(0.25)


# ------------------------------------------------------------------------------ domain


def test_domain_range_with_margin():
    names = ("x", "mu_x", "g")
    x = np.array([[0.0, 5.0, 15.0], [10.0, -50.0, 20.0], [5.0, 0.0, np.nan]])
    dom = fit_domain(x, names, margin=0.1)
    assert dom.names == ("x", "g")  # mu_x is not a domain feature by default
    assert dom.lo == pytest.approx((-1.0, 14.5)) and dom.hi == pytest.approx((11.0, 20.5))
    new_names = ("g", "x")
    rows = np.array([[20.4, 10.9], [20.6, 0.0], [15.0, -1.1], [np.nan, 3.0], [17.0, np.nan]])
    assert dom.outside(rows, new_names).tolist() == [False, True, True, False, False]
    assert Domain.from_dict(dom.to_dict()) == dom
    with pytest.raises(GpuMcError, match="lack the domain feature"):
        dom.outside(rows, ("g", "y"))
    with pytest.raises(GpuMcError, match="no domain feature"):
        fit_domain(x[:, 1:2], ("mu_x",))


@pytest.mark.gpu
def test_cupy_results_equal_numpy(gpu_backend):
    import cupy

    x, _ = _gauss_sky(50_000, 0.6, seed=9)
    p = _posterior(x, 0.2)
    y = (np.random.default_rng(0).random(p.size) < p).astype(np.int8)
    pc, yc = cupy.asarray(p), cupy.asarray(y)
    assert estimate_prior(pc, 0.2).mc_fraction == pytest.approx(
        estimate_prior(p, 0.2).mc_fraction, rel=1e-10
    )
    np.testing.assert_allclose(rescale_to_prior(pc, 0.2, 0.6).get(), rescale_to_prior(p, 0.2, 0.6))
    mask = p > 0.5
    assert estimated_counts(pc, cupy.asarray(mask)) == pytest.approx(estimated_counts(p, mask))
    assert fit_temperature(pc, yc).temperature == pytest.approx(fit_temperature(p, y).temperature)
    assert reliability(pc, yc).ece == pytest.approx(reliability(p, y).ece)
    iso = fit_isotonic(p, y)
    np.testing.assert_allclose(iso(pc).get(), iso(p))
    feats = np.column_stack([x, x * 2])
    dom = fit_domain(feats[:1000], ("g", "bp"))
    np.testing.assert_array_equal(dom.outside(cupy.asarray(feats), ("g", "bp")).get(),
                                  dom.outside(feats, ("g", "bp")))  # fmt: skip


# ------------------------------------------------------------------ on a fresh mock sky

MOCK_STARS = 200_000


@pytest.fixture(scope="module")
def mock():
    """A fresh mock LMC sky (seed 2026), the pipeline's training set, a 3-member ensemble,
    its scores on the sky and on the held-out parts, the samples and the baseline."""
    from gpu_mc.backend import get_backend
    from gpu_mc.config import Config
    from gpu_mc.model.ensemble import EnsembleConfig, score_ensemble, train_ensemble
    from gpu_mc.pipeline import simulate
    from gpu_mc.progress import Reporter
    from gpu_mc.sample import TEST, VALIDATION, build_training_set, pm_parallax_selection
    from gpu_mc.sky import expected_mw_fraction, simulate_milky_way
    from gpu_mc.thresholds import choose_thresholds, curves, sample_masks

    cfg = Config().replace(sky={"n_stars": MOCK_STARS, "seed": 2026})
    backend = get_backend("cpu")
    sky = simulate(cfg, backend, Reporter(enabled=False))
    n_mw = round(MOCK_STARS * expected_mw_fraction(cfg.sky) * cfg.sample.mw_size_factor)
    mw = simulate_milky_way(cfg.sky, n_mw, cfg.sky.seed + 1_000_003)
    ts = build_training_set(sky, mw, cfg.sky.cloud, cfg.sample)
    ens = train_ensemble(ts, "lmc", cfg.features.names, cfg.train, "cpu", EnsembleConfig(3))
    held = {}
    for name, code in (("validation", VALIDATION), ("test", TEST)):
        part = ts.codes == code
        p, _, _ = score_ensemble({k: v[part] for k, v in ts.table.items()}, ens)
        held[name] = (p, ts.labels[part])
    p, sd, flags = score_ensemble(sky, ens)
    thr = choose_thresholds(curves(held["test"][1] == 1, held["test"][0]), cfg.thresholds)
    masks = sample_masks(p, sky["phot_g_mean_mag"], thr, cfg.thresholds)
    masks["baseline"] = pm_parallax_selection(sky, "lmc", cfg.sample)
    return {
        "sky": sky, "ts": ts, "ens": ens, "held": held, "p": p, "sd": sd, "flags": flags,
        "masks": masks, "truth": sky["true_class"] == 1,
    }  # fmt: skip


@pytest.mark.slow
def test_mock_mc_fraction_within_0p02(mock):
    est = estimate_prior(mock["p"], mock["ens"].meta["train_prior"])
    assert est.converged
    assert abs(est.mc_fraction - mock["truth"].mean()) < 0.02
    # the training prior is far from the sky's: the EM has to move
    assert abs(mock["ens"].meta["train_prior"] - mock["truth"].mean()) > 0.3


@pytest.mark.slow
def test_mock_estimated_purity_and_completeness_within_2_points(mock):
    prior = mock["ens"].meta["train_prior"]
    est = estimate_prior(mock["p"], prior)
    p_sky = rescale_to_prior(mock["p"], prior, est.mc_fraction)
    truth = mock["truth"]
    assert set(mock["masks"]) == {"complete", "optimal", "truncated_optimal", "baseline"}
    for name, m in mock["masks"].items():
        e = estimated_counts(p_sky, m)
        purity = np.count_nonzero(m & truth) / np.count_nonzero(m)
        completeness = np.count_nonzero(m & truth) / np.count_nonzero(truth)
        assert abs(e["purity"] - purity) < 0.02, name
        assert abs(e["completeness"] - completeness) < 0.02, name
        assert e["n_mc"] + e["n_mw"] == pytest.approx(e["n_selected"])


@pytest.mark.slow
def test_mock_calibration_lowers_ece_on_held_out_data(mock):
    """Calibration fitted on the validation part repairs over-confident scores of the test part.

    The ensemble, early-stopped on the log-loss, is already close to calibrated on held-out
    data (ECE about 0.004, within the noise of a fit on ~9,000 stars), so its scores are made
    over-confident by doubling their logits (a known temperature of 2); each calibration must
    undo that on the test part, and temperature scaling must find T = 2 times the model's own.
    """
    p_val, y_val = mock["held"]["validation"]
    p_test, y_test = mock["held"]["test"]
    sharp = Calibration(temperature=0.5)
    own_t = fit_temperature(p_val, y_val).temperature
    before = reliability(sharp(p_test), y_test).ece
    for cal in (fit_isotonic(sharp(p_val), y_val), fit_temperature(sharp(p_val), y_val)):
        assert reliability(cal(sharp(p_test)), y_test).ece < 0.6 * before, cal
    assert fit_temperature(sharp(p_val), y_val).temperature == pytest.approx(2 * own_t, rel=0.05)
    assert reliability(p_test, y_test).ece < 0.01


@pytest.mark.slow
def test_mock_spread_is_largest_where_members_disagree(mock):
    p, sd = mock["p"], mock["sd"]
    assert np.all(sd >= 0) and np.all(sd <= np.sqrt(3 / 2) / 2)  # bound for K = 3, ddof = 1
    unsure = (p > 0.2) & (p < 0.8)
    sure = (p < 0.01) | (p > 0.99)
    assert sd[unsure].mean() > 5 * sd[sure].mean()


@pytest.mark.slow
def test_mock_domain_flags_stars_outside_the_training_range(mock):
    from gpu_mc.features import features
    from gpu_mc.sample import TRAIN

    ts, names = mock["ts"], mock["ens"].features
    raw_train, _ = features({k: v[ts.codes == TRAIN] for k, v in ts.table.items()}, "lmc", names)
    dom = fit_domain(raw_train, names)
    sky = dict(mock["sky"])
    raw, _ = features(sky, "lmc", names)
    assert np.count_nonzero(dom.outside(raw, names)) < 0.001 * MOCK_STARS
    for col, value in (("phot_g_mean_mag", 23.5), ("parallax_error", 50.0)):
        odd = {k: v[:10].copy() for k, v in sky.items()}
        odd[col][:] = value
        assert dom.outside(features(odd, "lmc", names)[0], names).all(), col


@pytest.mark.slow
def test_mock_integration_prototype(mock):
    """gpu_mc.estimates end to end: stored record, three probabilities, metrics records."""
    import json

    from gpu_mc.config import ValidateConfig
    from gpu_mc.estimates import (
        ProbabilityModel,
        calibration_metrics,
        estimated_metrics,
        fit_probability_model,
        sky_probabilities,
    )

    pm = fit_probability_model(mock["ts"], mock["ens"])
    assert ProbabilityModel.from_dict(json.loads(json.dumps(pm.to_dict()))) == pm
    sky, truth = mock["sky"], mock["truth"]
    cols, prior = sky_probabilities(sky, mock["ens"], pm)
    np.testing.assert_array_equal(cols["p_mc"], mock["p"])
    np.testing.assert_array_equal(cols["p_mc_std"], mock["sd"])
    assert cols["p_mc_sky"].dtype == np.float32 and cols["out_of_domain"].dtype == bool
    assert abs(prior.mc_fraction - truth.mean()) < 0.02
    # a higher prior on the sky than in training raises every probability
    assert np.all(cols["p_mc_sky"] >= cols["p_mc"] - 1e-6)
    assert np.count_nonzero(cols["out_of_domain"]) < 0.001 * MOCK_STARS
    edges = ValidateConfig().g_bins
    est = estimated_metrics(cols["p_mc_sky"], mock["masks"], sky["phot_g_mean_mag"], edges, prior)
    est = json.loads(json.dumps(est))
    assert est["mc_fraction"] == prior.mc_fraction
    for name, m in mock["masks"].items():
        purity = np.count_nonzero(m & truth) / np.count_nonzero(m)
        completeness = np.count_nonzero(m & truth) / np.count_nonzero(truth)
        assert abs(est[name]["purity"] - purity) < 0.02, name
        assert abs(est[name]["completeness"] - completeness) < 0.02, name
        rows = est[name]["by_g"]
        assert sum(r["n_selected"] for r in rows[:-1]) == rows[-1]["n_selected"]
    p_test, y_test = mock["held"]["test"]
    cal = json.loads(json.dumps(calibration_metrics(p_test, y_test, pm, mock["p"], truth)))
    # near-calibrated already (see test_mock_calibration_lowers_ece_on_held_out_data)
    assert cal["test"]["before"]["ece"] < 0.01 and cal["test"]["after"]["ece"] < 0.01
    assert set(cal["sky"]) == {"before", "after"}
    # a star without BP is flagged as missing, not as out of the domain
    from gpu_mc.estimates import out_of_domain

    one = {k: v[:5].copy() for k, v in sky.items()}
    one["phot_bp_mean_mag"][:] = np.nan
    assert not out_of_domain(one, mock["ens"], pm.domain).any()
