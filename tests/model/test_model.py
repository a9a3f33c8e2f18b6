import json

import numpy as np
import pytest
import torch

from gpu_mc.config import FEATURE_NAMES, SampleConfig, TrainConfig
from gpu_mc.errors import ModelError
from gpu_mc.features import features
from gpu_mc.io.schema import REQUIRED_COLUMNS
from gpu_mc.model import load_model, save_model
from gpu_mc.model.score import score_table
from gpu_mc.model.train import train_model
from gpu_mc.sample import TEST, TrainingSet
from gpu_mc_kernels.split import assign_split
from tests.conftest import synthetic_gaia

FAST = TrainConfig(hidden=(16, 8), max_epochs=25, batch_size=128, learning_rate=5e-3, patience=3)


def _training_set(table):
    labels = table["label"]
    codes = assign_split(labels, 5, 1.0, 1.0, 0.6, 0.15)
    cols = {k: table[k] for k in REQUIRED_COLUMNS}
    return TrainingSet(cols, labels, codes, {"mw": 1.0, "mc": 1.0})


@pytest.fixture(scope="module")
def trained():
    """One model for the module (no test changes it), trained on the ``gaia_table`` rows."""
    return train_model(
        _training_set(synthetic_gaia(6000, seed=1)), "lmc", FEATURE_NAMES, FAST, "cpu"
    )


def test_training_learns_and_is_repeatable(gaia_table, trained):
    ts = _training_set(gaia_table)
    again = train_model(ts, "lmc", FEATURE_NAMES, FAST, "cpu")
    for a, b in zip(trained.network.parameters(), again.network.parameters(), strict=True):
        assert torch.equal(a, b)
    test = ts.codes == TEST
    p, _ = score_table({k: v[test] for k, v in ts.table.items()}, trained)
    acc = np.mean((p > 0.5) == (ts.labels[test] == 1))
    assert acc > 0.95


def test_standardisation_fitted_on_train_rows_only(gaia_table, trained):
    ts = _training_set(gaia_table)
    raw, _ = features(ts.table, "lmc", FEATURE_NAMES)
    train = ts.codes == 1
    np.testing.assert_allclose(trained.mean, raw[train].astype(np.float64).mean(0), rtol=1e-6)
    assert not np.allclose(trained.mean, raw.astype(np.float64).mean(0), rtol=1e-6)


def test_score_matches_manual_forward_and_is_batch_independent(gaia_table, trained):
    p1, f1 = score_table(gaia_table, trained, batch_size=1 << 20)
    p2, f2 = score_table(gaia_table, trained, batch_size=1000)
    np.testing.assert_allclose(p1, p2, atol=1e-6)
    np.testing.assert_array_equal(p1, score_table(gaia_table, trained, batch_size=1 << 20)[0])
    np.testing.assert_array_equal(f1, f2)
    raw, _ = features(gaia_table, "lmc", FEATURE_NAMES)
    z = ((raw - trained.mean) / trained.scale).astype(np.float32)
    with torch.no_grad():
        manual = torch.sigmoid(trained.network(torch.from_numpy(z))).numpy()
    np.testing.assert_allclose(p1, manual, atol=1e-6)
    assert p1.dtype == np.float32 and p1.shape == (6000,)


def test_missing_values_are_imputed_and_flagged(gaia_table, trained):
    t = dict(gaia_table)
    t["phot_bp_mean_mag"] = t["phot_bp_mean_mag"].copy()
    t["phot_bp_mean_mag"][:10] = np.nan
    p, flags = score_table(t, trained)
    assert np.all(np.isfinite(p))
    bp_bit = 1 << FEATURE_NAMES.index("bp")
    assert np.all(flags[:10] & bp_bit) and not np.any(flags[10:] & bp_bit)


def test_checkpoint_round_trip(tmp_path, gaia_table, trained):
    save_model(trained, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "model.safetensors"]
    back = load_model(tmp_path / "m", features=FEATURE_NAMES)
    np.testing.assert_array_equal(
        score_table(gaia_table, back)[0], score_table(gaia_table, trained)[0]
    )
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["features"] == list(FEATURE_NAMES) and len(meta["training_data_sha256"]) == 64


def test_checkpoint_refuses_mismatch_and_corruption(tmp_path, trained):
    d = save_model(trained, tmp_path / "m")
    with pytest.raises(ModelError, match="trained on features"):
        load_model(d, features=("x", "y"))
    (d / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(d)
    with pytest.raises(ModelError, match="missing"):
        load_model(tmp_path / "nowhere")


def test_tampered_weights_fail_the_hash(tmp_path, trained):
    d = save_model(trained, tmp_path / "m")
    meta = json.loads((d / "model.json").read_text())
    meta["model_sha256"] = "0" * 64
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="changed after it was saved"):
        load_model(d)


def test_sample_config_defaults_are_sane():
    assert SampleConfig().mc_fraction == 0.2


def test_fallback_model_scores_stars_without_bp_rp(tmp_path):
    from gpu_mc.backend import get_backend
    from gpu_mc.config import Config
    from gpu_mc.pipeline import FALLBACK_BIT0, score, simulate, train
    from gpu_mc.progress import Reporter

    cfg = Config().replace(
        sky={"n_stars": 30_000}, features={"fallback": [["bp", "rp"]]}, train={"max_epochs": 3}
    )
    be, rep = get_backend("cpu"), Reporter(enabled=False)
    sky = simulate(cfg, be, rep)
    trained = train(sky, cfg, be, rep)
    fb = trained.model.fallbacks[0]
    assert fb.features == tuple(n for n in FEATURE_NAMES if n not in ("bp", "rp"))
    out = score(sky, trained.model, cfg, rep)
    missing = ~np.isfinite(sky["phot_bp_mean_mag"])
    assert missing.sum() > 0
    fb_bit = (out["score_flag"] & (1 << FALLBACK_BIT0)) != 0
    np.testing.assert_array_equal(fb_bit, missing)
    rows = {k: v[missing] for k, v in sky.items()}
    np.testing.assert_array_equal(out["p_mc"][missing], score_table(rows, fb)[0])
    thr = fb.meta["thresholds"]["optimal"]
    np.testing.assert_array_equal(out["in_optimal"][missing], out["p_mc"][missing] >= thr)
    save_model(trained.model, tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert len(back.fallbacks) == 1 and back.fallbacks[0].features == fb.features
    np.testing.assert_array_equal(score(sky, back, cfg, rep)["p_mc"], out["p_mc"])


def test_reduced_precision_is_gpu_only(gaia_table, trained):
    from gpu_mc.errors import GpuMcError

    p32, _ = score_table(gaia_table, trained, precision="fp32")
    np.testing.assert_array_equal(p32, score_table(gaia_table, trained)[0])
    with pytest.raises(GpuMcError, match="needs the GPU backend"):
        score_table(gaia_table, trained, precision="bf16")
    with pytest.raises(GpuMcError, match=r"run\.precision must be one of"):
        score_table(gaia_table, trained, precision="fp8")


@pytest.mark.parametrize("tile", [1, 7, 4096])
def test_tiled_cpu_forward_equals_the_network(gaia_table, trained, tile):
    raw, _ = features(gaia_table, "lmc", FEATURE_NAMES)
    z = torch.from_numpy(((raw - trained.mean) / trained.scale).astype(np.float32))
    out = torch.full((z.shape[0],), -1.0)
    trained.network.cpu_forward(tile)(z, out)
    with torch.no_grad():
        expected = torch.sigmoid(trained.network(z))
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    assert out.min() >= 0 and out.max() <= 1


def test_a_stars_cpu_score_does_not_depend_on_its_position_or_threads(trained):
    z = torch.randn(20_011, len(FEATURE_NAMES), generator=torch.Generator().manual_seed(3))
    threads = torch.get_num_threads()
    ref = torch.empty(z.shape[0])
    trained.network.cpu_forward(4096)(z, ref)
    try:
        for tile, offset, n_threads in [(4096, 7, 1), (256, 1000, threads), (8192, 13, threads)]:
            out = torch.empty(z.shape[0] - offset)
            torch.set_num_threads(n_threads)
            trained.network.cpu_forward(tile)(z[offset:], out)
            assert torch.equal(out, ref[offset:]), (tile, offset, n_threads)
    finally:
        torch.set_num_threads(threads)
