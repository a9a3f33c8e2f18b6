"""model.json is checked, not trusted: full hash, every field's type and range, one-line errors."""

import json
import logging
import pathlib

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from gpu_mc.config import (
    ERROR_RANGE_BIT,
    FALLBACK_BIT0,
    FEATURE_NAMES,
    MAX_FALLBACKS,
    SCORE_FLAG_BITS,
    TrainConfig,
)
from gpu_mc.constants import LMC, SMC
from gpu_mc.errors import InputError, ModelError
from gpu_mc.footprint import in_cone_fraction, require_inside, warn_if_outside
from gpu_mc.model.checkpoint import TrainedModel, load_model, model_hash, save_model
from gpu_mc.model.network import MLP, Classifier, Logistic, TiledForward
from gpu_mc.model.registry import architecture_names, register_architecture
from gpu_mc.model.score import score_table
from gpu_mc.model.train import train_model
from gpu_mc.sample import build_training_set

THRESHOLDS = {"complete": 0.01, "optimal": 0.4, "truncated_optimal": 0.4}


def _model(network=None) -> TrainedModel:
    torch.manual_seed(0)
    k = len(FEATURE_NAMES)
    return TrainedModel(
        network or MLP(k, (8, 4)),
        FEATURE_NAMES,
        np.linspace(-1.0, 1.0, k),
        np.linspace(0.5, 2.0, k),
        LMC,
        meta={"thresholds": dict(THRESHOLDS), "truncated_g_max": 19.5},
    )


@pytest.fixture
def saved(tmp_path):
    return save_model(_model(), tmp_path / "m")


def _edit_json(d, change):
    meta = json.loads((d / "model.json").read_text())
    change(meta)
    (d / "model.json").write_text(json.dumps(meta))


def _drop_standardisation(d):
    state = load_file(str(d / "model.safetensors"))
    save_file(
        {k: v for k, v in state.items() if k != "standardise.scale"}, str(d / "model.safetensors")
    )


MALFORMED = [
    ("missing key", lambda m: m.pop("features"), "lacks the key 'features'"),
    ("missing thresholds", lambda m: m.pop("thresholds"), "lacks the key 'thresholds'"),
    ("features wrong type", lambda m: m.update(features="x,y"), "'features' must be a non-empty"),
    (
        "unknown feature",
        lambda m: m["features"].__setitem__(0, "colour"),
        "unknown feature 'colour'",
    ),
    (
        "unknown target",
        lambda m: m.update(target={"name": "m31"}),
        r"missing key model\.json target",
    ),
    ("target wrong type", lambda m: m.update(target="lmc"), "must be a table"),
    ("target out of range", lambda m: m["target"].update(distance=-1.0), r"target\.distance"),
    (
        "threshold NaN",
        lambda m: m["thresholds"].update(optimal=float("nan")),
        "threshold 'optimal'",
    ),
    (
        "threshold huge",
        lambda m: m["thresholds"].update(complete=float("inf")),
        "threshold 'complete'",
    ),
    (
        "threshold wrong type",
        lambda m: m["thresholds"].update(optimal="high"),
        "threshold 'optimal'",
    ),
    ("g_max wrong", lambda m: m.update(truncated_g_max=1e400), "'truncated_g_max'"),
    (
        "architecture unknown",
        lambda m: m["architecture"].update(name="gpt"),
        "unknown architecture 'gpt'",
    ),
    (
        "architecture settings",
        lambda m: m["architecture"].update(settings={"hidden": "big"}),
        "mlp settings",
    ),
    ("format version", lambda m: m.update(format_version=1), "format_version 1"),
    ("not an object", lambda m: m.clear(), "lacks the key"),
]


@pytest.mark.parametrize(("case", "change", "match"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_model_json_is_refused_in_one_line(saved, case, change, match):
    _edit_json(saved, change)
    with pytest.raises(ModelError, match=match) as info:
        load_model(saved)
    assert "\n" not in str(info.value)


def test_safetensors_without_standardisation(saved):
    _drop_standardisation(saved)
    with pytest.raises(ModelError, match=r"lack the standardisation tensor 'standardise\.scale'"):
        load_model(saved)


def test_unreadable_file_is_not_reported_missing(saved, monkeypatch):
    real = pathlib.Path.read_bytes

    def refuse(self):
        if self.name == "model.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", refuse)
    with pytest.raises(ModelError, match="cannot be read: Permission denied"):
        load_model(saved)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m["features"].reverse(),
        lambda m: m.update(target={**m["target"], "ra0": 12.8, "dec0": -73.15}),
        lambda m: m["thresholds"].update(optimal=0.9),
        lambda m: m.update(truncated_g_max=20.0),
        lambda m: m["architecture"]["settings"].update(hidden=[8, 4]),
    ],
    ids=["feature order", "target", "threshold", "g_max", "settings (same)"],
)
def test_every_scored_field_is_hashed(saved, change):
    before = json.loads((saved / "model.json").read_text())
    _edit_json(saved, change)
    after = json.loads((saved / "model.json").read_text())
    if after == before:  # an edit that changes nothing loads
        assert load_model(saved).meta["model_sha256"] == before["model_sha256"]
        return
    with pytest.raises(ModelError, match="changed after it was saved"):
        load_model(saved)


def test_round_trip_keeps_hash_and_scores(saved, gaia_table):
    model = _model()
    back = load_model(saved)
    assert model_hash(back) == model_hash(model) == back.meta["model_sha256"]
    assert back.target == LMC and back.meta["thresholds"] == THRESHOLDS
    np.testing.assert_array_equal(
        score_table(gaia_table, back)[0], score_table(gaia_table, model)[0]
    )


def test_flag_bits_follow_the_feature_list():
    from gpu_mc.config import OUT_OF_DOMAIN_BIT

    # Feature bits first, then the error-range bit, the out-of-domain bit, then one bit per
    # fallback model: all distinct and inside the uint16 column, whatever the number of
    # features.
    bits = [*range(len(FEATURE_NAMES)), ERROR_RANGE_BIT, OUT_OF_DOMAIN_BIT]
    bits += [FALLBACK_BIT0 + i for i in range(MAX_FALLBACKS)]
    assert len(set(bits)) == len(bits)
    assert max(bits) == SCORE_FLAG_BITS - 1
    assert ERROR_RANGE_BIT == len(FEATURE_NAMES)


class Tiny(Classifier):
    """A registered third architecture: two linear layers, for the registry test."""

    architecture = "tiny"

    def __init__(self, n_inputs):
        super().__init__()
        self.a = torch.nn.Linear(n_inputs, 3)
        self.b = torch.nn.Linear(3, 1)
        self.n_inputs = n_inputs

    @classmethod
    def from_settings(cls, n_inputs, settings):
        return cls(n_inputs)

    def cpu_forward(self, tile=1024):
        return TiledForward([self.a, self.b], tile)

    def forward(self, x):
        return self.b(torch.relu(self.a(x))).squeeze(-1)


@pytest.mark.parametrize("architecture", ["logistic", "tiny"])
def test_other_architectures_plug_in(tmp_path, gaia_table, architecture):
    register_architecture("tiny", Tiny)
    assert {"mlp", "logistic", "tiny"} <= set(architecture_names())
    mc = gaia_table["label"] == 1
    sky = {k: v for k, v in gaia_table.items() if k != "label"}
    ts = build_training_set(
        {k: v[mc] for k, v in sky.items()},
        {k: v[~mc] for k, v in sky.items()},
        "lmc",
        __import__("gpu_mc.config", fromlist=["SampleConfig"]).SampleConfig(
            parallax_nsigma=1e6, pm_radius=100.0
        ),
    )
    cfg = TrainConfig(architecture=architecture, max_epochs=3, batch_size=256)
    model = train_model(ts, LMC, FEATURE_NAMES, cfg, "cpu")
    assert model.network.architecture == architecture
    model.meta.update(thresholds=dict(THRESHOLDS), truncated_g_max=19.5)
    back = load_model(save_model(model, tmp_path / architecture))
    assert type(back.network) is type(model.network)
    meta = json.loads((tmp_path / architecture / "model.json").read_text())
    assert meta["architecture"]["name"] == architecture and "hidden" not in meta
    p_fast = score_table(sky, back)[0]
    # The network's CPU forward equals torch's plain forward to float32 rounding.
    x = torch.from_numpy(
        (
            (__import__("gpu_mc.features", fromlist=["features"]).features(sky, LMC)[0] - back.mean)
            / back.scale
        ).astype(np.float32)
    )
    with torch.inference_mode():
        p_plain = torch.sigmoid(back.network(x)).numpy()
    np.testing.assert_allclose(p_fast, p_plain, atol=2e-6)
    if architecture == "logistic":
        assert isinstance(back.network, Logistic)


def test_footprint_warns_and_refuses(caplog):
    rng = np.random.default_rng(0)
    n = 2000
    smc_sky = {
        "ra": SMC.ra0 + rng.normal(0, 1.0, n) / np.cos(np.deg2rad(SMC.dec0)),
        "dec": SMC.dec0 + rng.normal(0, 1.0, n),
    }
    assert in_cone_fraction(smc_sky, SMC) == 1.0
    # The SMC lies 21° from the LMC centre, outside the LMC's 20° cone.
    assert in_cone_fraction(smc_sky, LMC) < 0.5
    with caplog.at_level(logging.WARNING, logger="gpu_mc"):
        assert warn_if_outside(smc_sky, LMC)
    assert "target 'lmc'" in caplog.text
    assert not warn_if_outside(smc_sky, SMC)
    with pytest.raises(InputError, match="use --cloud smc"):
        require_inside(smc_sky, LMC)
