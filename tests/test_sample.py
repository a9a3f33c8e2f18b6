import numpy as np
import pytest

from gpu_mc.config import SampleConfig
from gpu_mc.constants import LMC
from gpu_mc.errors import GpuMcError
from gpu_mc.sample import (
    DROPPED,
    balance_probabilities,
    build_training_set,
    mc_class_mask,
    pm_parallax_selection,
)


@pytest.mark.parametrize(
    ("n_mc", "n_mw", "f"), [(5000, 10000, 0.2), (100, 10000, 0.2), (900, 100, 0.5)]
)
def test_balance_probabilities_reach_the_fraction(n_mc, n_mw, f):
    keep_mw, keep_mc = balance_probabilities(n_mc, n_mw, f)
    assert 0 < keep_mw <= 1 and 0 < keep_mc <= 1
    assert keep_mc * n_mc / (keep_mc * n_mc + keep_mw * n_mw) == pytest.approx(f)


def test_balance_needs_both_classes():
    with pytest.raises(GpuMcError, match="both classes"):
        balance_probabilities(0, 10, 0.2)


def test_selection_closed_form():
    cfg = SampleConfig(parallax_nsigma=3, pm_radius=1.0)
    t = {
        "ra": np.array([LMC.ra0, LMC.ra0, LMC.ra0, LMC.ra0]),
        "dec": np.array([LMC.dec0] * 4),
        "pmra": np.array([LMC.pmra0, LMC.pmra0 + 0.9, LMC.pmra0 + 1.1, LMC.pmra0]),
        "pmdec": np.array([LMC.pmdec0] * 4),
        "pmra_error": np.ones(4, np.float32),
        "pmdec_error": np.ones(4, np.float32),
        "pmra_pmdec_corr": np.zeros(4, np.float32),
        "parallax": np.array([0.02, 0.02, 0.02, 0.5]),
        "parallax_error": np.array([0.1, 0.1, 0.1, 0.1], np.float32),
        "phot_g_mean_mag": np.full(4, 18, np.float32),
        "phot_bp_mean_mag": np.full(4, 18.5, np.float32),
        "phot_rp_mean_mag": np.full(4, 17.5, np.float32),
    }
    assert pm_parallax_selection(t, "lmc", cfg).tolist() == [True, True, False, False]


def test_training_set_balanced_to_fraction(gaia_table):
    sky = {k: v for k, v in gaia_table.items() if k != "label"}
    mw = {k: v[gaia_table["label"] == 0] for k, v in sky.items()}
    cfg = SampleConfig(mc_fraction=0.2)
    ts = build_training_set(sky, mw, "lmc", cfg)
    kept = ts.codes != DROPPED
    frac = ts.labels[kept].mean()
    n = kept.sum()
    assert abs(frac - 0.2) < 5 * np.sqrt(0.2 * 0.8 / n)
    test_frac = (ts.codes[kept] == 3).mean()
    assert abs(test_frac - 0.4) < 5 * np.sqrt(0.24 / n)
    # MC rows are exactly the stars passing the selection (error-aware by default; the cut
    # is the other choice)
    assert int(ts.labels.sum()) == int(mc_class_mask(sky, "lmc", cfg).sum())
    cut = SampleConfig(mc_fraction=0.2, mc_selection="pm_cut")
    ts_cut = build_training_set(sky, mw, "lmc", cut)
    assert int(ts_cut.labels.sum()) == int(pm_parallax_selection(sky, "lmc", cut).sum())


def test_pm_radius_defaults_per_cloud():
    from gpu_mc.sample import pm_radius

    assert pm_radius(SampleConfig(), "lmc") == 1.5
    assert pm_radius(SampleConfig(), "smc") == 0.8
    assert pm_radius(SampleConfig(pm_radius=2.0), "smc") == 2.0
