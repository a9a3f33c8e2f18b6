from pathlib import Path

import numpy as np
import pytest

from gpu_mc.config import Config, TrainConfig
from gpu_mc.features import required_inputs
from gpu_mc.io.readers import read_gaia_table
from gpu_mc.io.schema import REQUIRED_COLUMNS
from gpu_mc.model.train import train_model
from gpu_mc.pipeline import score
from gpu_mc.progress import Reporter
from gpu_mc.sample import TrainingSet
from gpu_mc.validate.motion_groups import MotionGroup, classify_groups
from gpu_mc_kernels.split import assign_split

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
NO_PARALLAX = ("x", "y", "mu_x", "mu_y", "g")


def test_classify_groups_closed_form():
    pmra = np.array([5.2, 5.3, 0.7, 0.75, 3.0])
    pmdec = np.array([-2.5, -2.6, -1.2, -1.1, 0.0])
    member = np.array([False, True, True, True, True])
    rows = classify_groups(
        pmra,
        pmdec,
        member,
        [MotionGroup("mw", 5.25, -2.53, 0.5, False), MotionGroup("mc", 0.7, -1.2, 0.3, True)],
    )
    assert [(r["n"], r["n_expected"]) for r in rows] == [(2, 1), (2, 2)]
    assert rows[0]["fraction"] == 0.5


def test_required_inputs_without_parallax():
    cols = required_inputs(NO_PARALLAX)
    assert "parallax" not in cols and "pmra_error" not in cols
    assert {"source_id", "ra", "dec", "pmra", "pmdec", "phot_g_mean_mag"} == set(cols)
    assert required_inputs(Config().features.names) == REQUIRED_COLUMNS


@pytest.mark.skipif(not (REAL / "gaia_field_47tuc.csv").exists(), reason="real data not present")
def test_47tuc_field_is_scored_without_parallax(gaia_table):
    """The real 47 Tuc file (no parallax, no errors) is read and scored row for row."""
    labels = gaia_table["label"]
    ts = TrainingSet(
        {k: gaia_table[k] for k in REQUIRED_COLUMNS},
        labels,
        assign_split(labels, 1, 1.0, 1.0, 0.6, 0.15),
        {"mw": 1.0, "mc": 1.0},
    )
    model = train_model(ts, "smc", NO_PARALLAX, TrainConfig(hidden=(8,), max_epochs=3), "cpu")
    model.meta.update(
        thresholds={"complete": 0.01, "optimal": 0.5, "truncated_optimal": 0.5},
        truncated_g_max=19.5,
    )
    field = read_gaia_table(REAL / "gaia_field_47tuc.csv", required=required_inputs(NO_PARALLAX))
    assert "parallax" not in field and len(field["ra"]) == 7834
    out = score(field, model, Config(), Reporter(enabled=False))
    assert len(out["p_mc"]) == 7834 and np.all(np.isfinite(out["p_mc"]))
    np.testing.assert_array_equal(out["source_id"], field["source_id"])
