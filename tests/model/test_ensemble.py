"""The batched ensemble: stacked members equal the plain networks, the tiled CPU pass equals
the batched forward, members train independently of each other, scores are in row order."""

import numpy as np
import pytest
import torch

from gpu_mc.config import FEATURE_NAMES, SampleConfig, TrainConfig
from gpu_mc.model.ensemble import (
    EnsembleConfig,
    StackedMLP,
    TiledEnsembleForward,
    score_ensemble,
    train_ensemble,
)
from gpu_mc.model.network import MLP
from gpu_mc.sample import TRAIN, TrainingSet
from gpu_mc_kernels.split import assign_split
from tests.conftest import synthetic_gaia


def _members(k, n_inputs=11, hidden=(16, 8)):
    nets = []
    for s in range(k):
        torch.manual_seed(100 + s)
        nets.append(MLP(n_inputs, hidden).eval())
    return nets


def test_stacked_forward_equals_each_member():
    nets = _members(4)
    stacked = StackedMLP(nets)
    x = torch.randn(1000, 11)
    with torch.inference_mode():
        logits = stacked.logits(x)
        mean, std = stacked(x)
        p = torch.stack([torch.sigmoid(n(x)) for n in nets])
        per_member_rows = stacked.logits(x.expand(4, 1000, 11))
    assert logits.shape == (4, 1000)
    for k, net in enumerate(nets):
        torch.testing.assert_close(logits[k], net(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(per_member_rows[k], net(x), rtol=1e-5, atol=1e-5)
        member = stacked.member(k)
        torch.testing.assert_close(member(x), net(x))
    torch.testing.assert_close(mean, p.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(std, p.std(0, correction=1), rtol=1e-4, atol=1e-6)


def test_single_member_has_zero_spread():
    stacked = StackedMLP(_members(1))
    with torch.inference_mode():
        mean, std = stacked(torch.randn(50, 11))
    assert torch.all(std == 0) and mean.shape == (50,)


def test_members_must_share_an_architecture():
    from gpu_mc.errors import GpuMcError

    with pytest.raises(GpuMcError, match="architecture"):
        StackedMLP([MLP(11, (8,)), MLP(11, (16,))])


@pytest.mark.parametrize("n", [1, 8191, 8192, 20_001])
def test_tiled_pass_equals_batched_forward(n):
    stacked = StackedMLP(_members(5))
    x = torch.randn(n, 11)
    mean = torch.empty(n)
    std = torch.empty(n)
    with torch.inference_mode():
        TiledEnsembleForward(stacked)(x, mean, std)
        m_ref, s_ref = stacked(x)
    torch.testing.assert_close(mean, m_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(std, s_ref, rtol=1e-4, atol=1e-6)


def _training_set(n=6000, seed=0):
    table = synthetic_gaia(n, seed)
    labels = table.pop("label")
    cfg = SampleConfig()
    codes = assign_split(labels, cfg.seed, 1.0, 1.0, cfg.train_fraction, cfg.validation_fraction)
    return TrainingSet(table, labels, codes, {"mw": 1.0, "mc": 1.0}), table


def test_members_train_independently_of_each_other():
    """Member k of a K=3 ensemble follows the path a lone member with seed + k follows."""
    ts, _ = _training_set()
    cfg = TrainConfig(hidden=(16, 8), max_epochs=3, patience=10, batch_size=512, seed=5)
    three = train_ensemble(ts, "lmc", FEATURE_NAMES, cfg, "cpu", EnsembleConfig(3, False))
    alone = train_ensemble(
        ts, "lmc", FEATURE_NAMES, TrainConfig(**{**cfg.__dict__, "seed": 7}), "cpu",
        EnsembleConfig(1, False),
    )  # fmt: skip
    for w3, w1 in zip(three.network.weights, alone.network.weights, strict=True):
        torch.testing.assert_close(w3[2], w1[0], rtol=1e-4, atol=1e-5)
    assert three.meta["seeds"] == [5, 6, 7] and alone.meta["seeds"] == [7]
    assert len(three.meta["best_validation_loss"]) == 3


def test_bootstrap_members_differ_and_separate_the_classes():
    ts, table = _training_set()
    cfg = TrainConfig(hidden=(16, 8), max_epochs=8, batch_size=128)
    ens = train_ensemble(ts, "lmc", FEATURE_NAMES, cfg, "cpu", EnsembleConfig(3))
    assert ens.meta["bootstrap"] is True
    w = ens.network.weights[0].detach()
    assert not torch.allclose(w[0], w[1])
    assert ens.meta["train_prior"] == pytest.approx(
        float(ts.labels[ts.codes == TRAIN].mean()), abs=1e-6
    )
    p, sd, flags = score_ensemble(table, ens, batch_size=1000)
    assert p.dtype == np.float32 and sd.shape == p.shape == (6000,)
    assert np.all((p >= 0) & (p <= 1)) and np.all(sd >= 0)
    assert np.all(flags == 0)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(ts.labels, p) > 0.95
    # batching does not change a star's scores: same result in one batch
    p1, sd1, _ = score_ensemble(table, ens, batch_size=1 << 20)
    np.testing.assert_array_equal(p, p1)
    np.testing.assert_array_equal(sd, sd1)
    # the spread is the members' own spread, member by member
    from gpu_mc.features import features

    x, _ = features(table, "lmc", FEATURE_NAMES, ens.mean, ens.scale)
    with torch.inference_mode():
        members = np.stack(
            [torch.sigmoid(ens.network.member(k)(torch.from_numpy(x))).numpy() for k in range(3)]
        )
    np.testing.assert_allclose(p, members.mean(0), atol=2e-6)
    np.testing.assert_allclose(sd, members.std(0, ddof=1), atol=2e-5)
    state = ens.state_dict()
    assert state["ensemble.weights.0"].shape == (3, 11, 16)
    assert state["standardise.mean"].shape == (11,)


def test_state_dict_round_trip_through_safetensors(tmp_path):
    from safetensors.torch import load_file, save_file

    stacked = StackedMLP(_members(3))
    save_file({k: v.contiguous() for k, v in stacked.state_dict().items()}, tmp_path / "e.st")
    back = StackedMLP.empty(3, 11, (16, 8))
    back.load_state_dict(load_file(tmp_path / "e.st"))
    x = torch.randn(100, 11)
    with torch.inference_mode():
        torch.testing.assert_close(back(x), stacked(x), rtol=0, atol=0)


def test_ensemble_checkpoint_round_trip_and_hash_covers_probabilities(tmp_path):
    """The ensemble as the "ensemble" architecture: saved and loaded through model.json with
    its members and probability record, same scores, and an edited record is refused."""
    import json

    from gpu_mc.errors import ModelError
    from gpu_mc.estimates import fit_probability_model
    from gpu_mc.model.checkpoint import load_model, save_model
    from gpu_mc.model.ensemble import as_trained_model
    from gpu_mc.model.score import score_table, score_table_std

    ts, table = _training_set()
    cfg = TrainConfig(hidden=(16, 8), max_epochs=4, batch_size=128)
    ens = train_ensemble(ts, "lmc", FEATURE_NAMES, cfg, "cpu", EnsembleConfig(3))
    model = as_trained_model(ens, "lmc")
    model.meta["probabilities"] = fit_probability_model(ts, model).to_dict()
    p, sd, _ = score_table_std(table, model)
    p_ens, sd_ens, _ = score_ensemble(table, ens)
    np.testing.assert_array_equal(p, p_ens)
    np.testing.assert_array_equal(sd, sd_ens)
    np.testing.assert_array_equal(score_table(table, model)[0], p)
    save_model(model, tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "model.json").read_text())
    assert saved["architecture"] == {
        "name": "ensemble",
        "settings": {"members": 3, "hidden": [16, 8]},
    }
    back = load_model(tmp_path / "m")
    p2, sd2, _ = score_table_std(table, back)
    np.testing.assert_array_equal(p2, p)
    np.testing.assert_array_equal(sd2, sd)
    assert back.meta["probabilities"] == saved["probabilities"]
    saved["probabilities"]["train_prior"] = 0.5
    (tmp_path / "m" / "model.json").write_text(json.dumps(saved))
    with pytest.raises(ModelError, match="changed after it was saved"):
        load_model(tmp_path / "m")
    saved["probabilities"]["train_prior"] = 1.5
    (tmp_path / "m" / "model.json").write_text(json.dumps(saved))
    with pytest.raises(ModelError, match="probabilities"):
        load_model(tmp_path / "m")
