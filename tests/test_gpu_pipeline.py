"""Parity of the GPU path with the CPU path (needs --gpu and a CUDA device)."""

import numpy as np
import pytest

from gpu_mc.backend import get_backend, to_host
from gpu_mc.config import Config
from gpu_mc.model.checkpoint import load_model, save_model
from gpu_mc.pipeline import score, simulate, train
from gpu_mc.progress import Reporter
from gpu_mc.sky import simulate_sky
from gpu_mc.thresholds import curves

pytestmark = pytest.mark.gpu
QUIET = Reporter(enabled=False)
CFG = Config().replace(sky={"n_stars": 50_000}, train={"max_epochs": 3})


@pytest.fixture(scope="module")
def cpu_model(tmp_path_factory):
    be = get_backend("cpu")
    trained = train(simulate(CFG, be, QUIET), CFG, be, QUIET)
    return save_model(trained.model, tmp_path_factory.mktemp("m") / "model")


def test_score_parity_same_weights(gpu_backend, cpu_model):
    sky = simulate_sky(CFG.sky)
    cpu = score(sky, load_model(cpu_model, device="cpu"), CFG, QUIET)
    dev = {k: gpu_backend.xp.asarray(v) for k, v in sky.items()}
    gpu = score(dev, load_model(cpu_model, device="cuda"), CFG, QUIET)
    np.testing.assert_array_equal(to_host(gpu["source_id"]), cpu["source_id"])
    assert np.max(np.abs(to_host(gpu["p_mc"]) - cpu["p_mc"])) <= 1e-5
    np.testing.assert_array_equal(to_host(gpu["score_flag"]), cpu["score_flag"])


def test_mock_sky_on_gpu(gpu_backend):
    sky = simulate_sky(CFG.sky, xp=gpu_backend.xp)
    assert int(sky["ra"].shape[0]) == CFG.sky.n_stars
    assert type(sky["ra"]).__module__.startswith("cupy")


def test_curves_on_gpu_match_cpu(gpu_backend):
    rng = np.random.default_rng(0)
    y = rng.random(100_000) < 0.3
    p = rng.random(100_000).astype(np.float32)
    c_cpu = curves(y, p)
    c_gpu = curves(gpu_backend.xp.asarray(y), gpu_backend.xp.asarray(p))
    assert abs(c_cpu.roc_auc() - c_gpu.roc_auc()) < 1e-9


def test_whole_run_on_gpu(gpu_backend, tmp_path):
    from gpu_mc.pipeline import run

    m = run(CFG, gpu_backend, tmp_path / "o", QUIET)
    assert m["backend"] == "gpu" and m["n_scored"] == CFG.sky.n_stars


@pytest.mark.parametrize("mode", ["tf32", "bf16"])
def test_reduced_precision_modes_run_and_stay_close(gpu_backend, cpu_model, mode):
    from gpu_mc.model.score import score_table

    sky = {k: gpu_backend.xp.asarray(v) for k, v in simulate_sky(CFG.sky).items()}
    model = load_model(cpu_model, device="cuda")
    p32 = to_host(score_table(sky, model)[0])
    p = to_host(score_table(sky, model, precision=mode)[0])
    assert np.max(np.abs(p - p32)) < 0.05  # the benchmark records the exact figure
