"""Targets as data: built-in records, a [target] TOML table, a spheroid, a third target run."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from gpu_mc.cli import app
from gpu_mc.config import config_from_dict, load_config, target_from_dict
from gpu_mc.constants import LMC, SMC, TARGETS, Target, as_target
from gpu_mc.errors import ConfigError
from gpu_mc.model.checkpoint import load_model
from gpu_mc.sky.cloud import draw_cloud
from gpu_mc.sky.rng import make_rng

FORNAX_TOML = Path(__file__).resolve().parents[1] / "examples" / "fornax.toml"


def _fornax_table() -> dict:
    import tomllib

    return tomllib.loads(FORNAX_TOML.read_text(encoding="utf-8"))["target"]


def test_builtin_targets_are_records():
    assert TARGETS == {"lmc": LMC, "smc": SMC}
    assert as_target("smc") is SMC and as_target(LMC) is LMC
    with pytest.raises(ConfigError, match="unknown target 'm31'"):
        as_target("m31")
    # A built-in record passes the same validation as a user's table.
    for t in TARGETS.values():
        assert target_from_dict(dataclasses.asdict(t)) == t


def test_target_table_sets_the_target():
    cfg = load_config(FORNAX_TOML)
    t = cfg.target
    assert isinstance(t, Target) and t.name == "fornax" and t.structure == "spheroid"
    assert cfg.sky.target_name == "fornax"
    # Per-target defaults flow into the sky and the sample.
    assert cfg.sky.member_fraction == t.mc_fraction
    assert cfg.sky.astrometric_error_scale == t.error_scale
    # A replace() of another section keeps the target; --cloud picks a built-in.
    assert cfg.replace(sky={"n_stars": 2000}).target == t
    assert cfg.replace(sky={"cloud": "smc"}).target is SMC


def test_target_table_overrides_a_builtin():
    cfg = config_from_dict({"target": {"name": "lmc", "distance": 50.0}})
    assert cfg.target == dataclasses.replace(LMC, distance=50.0)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"ra0": None}, r"missing key target\.ra0"),
        ({"colour": 1.0}, r"unknown config key target\.colour"),
        ({"distance": float("nan")}, r"target\.distance"),
        ({"distance": -3.0}, r"target\.distance"),
        ({"mc_fraction": 1.5}, r"target\.mc_fraction"),
        ({"structure": "ring"}, r"target\.structure"),
        ({"name": "Fornax dSph"}, r"target\.name"),
        ({"pmra0": "fast"}, r"target\.pmra0"),
    ],
)
def test_bad_target_table_names_the_field(change, match):
    table = {**_fornax_table(), **change}
    table = {k: v for k, v in table.items() if v is not None}
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"target": table})


def test_target_name_must_match_sky_cloud():
    with pytest.raises(ConfigError, match=r"sky\.cloud 'lmc' does not match target\.name"):
        config_from_dict({"target": _fornax_table(), "sky": {"cloud": "lmc"}})


def test_spheroid_follows_the_plummer_profile():
    # A round Plummer sphere far away: the projected fraction inside radius R is
    # R² / (R² + a²) (closed form), at R = a one half and at R = 2a four fifths.
    t = dataclasses.replace(
        target_from_dict(_fornax_table()),
        scale_length=0.5,
        scale_height=0.5,
        cone_radius=20.0,
        sigma_v=0.0,
    )
    n = 200_000
    stars = draw_cloud(n, t, make_rng(np, 3, 0), 20.5, 0.0, 0.0, np)
    assert set(np.unique(stars["component"])) == {5}
    ra, dec = np.deg2rad(stars["ra"]), np.deg2rad(stars["dec"])
    ra0, dec0 = np.deg2rad(t.ra0), np.deg2rad(t.dec0)
    cos_sep = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)
    sep = np.arccos(np.clip(cos_sep, -1, 1))
    a = t.scale_length / t.distance
    for k, expected in ((1.0, 0.5), (2.0, 0.8)):
        assert np.mean(sep < k * a) == pytest.approx(expected, abs=0.005)
    # Members share the systemic line-of-sight velocity with the recorded dispersion (0).
    assert np.median(stars["vlos"]) == pytest.approx(t.vlos0, abs=0.5)


@pytest.mark.slow
def test_third_target_end_to_end(tmp_path):
    out = tmp_path / "fornax"
    result = CliRunner().invoke(
        app,
        ["run", "--config", str(FORNAX_TOML), "--n-stars", "4000", "--out", str(out), "-q"],
    )
    assert result.exit_code == 0, result.output
    target = load_config(FORNAX_TOML).target
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cloud"] == "fornax" and metrics["target"] == dataclasses.asdict(target)
    # The model records the whole target and loads it back.
    assert load_model(out / "model").target == target
    scores = pq.read_table(out / "scores.parquet")
    assert scores.num_rows == metrics["n_input"] == 4000
    # The classifier beats chance on the mock truth: the optimal sample is purer than the
    # member share of the sky.
    optimal = metrics["truth"]["optimal"][-1]
    assert optimal["purity"] > target.mc_fraction + 0.2
    assert optimal["completeness"] > 0.5
