import subprocess
import sys

import numpy as np
import pytest

from gpu_mc.backend import array_namespace, bincount, get_backend, gpu_problem, repeat, to_host
from gpu_mc.errors import BackendError


def test_cpu_backend():
    b = get_backend("cpu")
    assert b.name == "cpu" and b.xp is np and b.torch_device == "cpu" and not b.is_gpu


def test_unknown_backend():
    with pytest.raises(BackendError, match="unknown backend 'tpu'"):
        get_backend("tpu")


def test_env_variable_is_consulted(monkeypatch):
    monkeypatch.setenv("GPU_MC_BACKEND", "cpu")
    assert get_backend("auto").name == "cpu"
    monkeypatch.setenv("GPU_MC_BACKEND", "quantum")
    with pytest.raises(BackendError, match="quantum"):
        get_backend(None)


@pytest.mark.skipif(gpu_problem() is None, reason="a GPU is available here")
def test_gpu_request_without_gpu_names_what_is_missing():
    with pytest.raises(BackendError, match=r"GPU backend was requested but is unavailable: .+"):
        get_backend("gpu")


def test_import_pulls_no_cuda_library():
    code = (
        "import sys, gpu_mc, gpu_mc_kernels, gpu_mc.features, gpu_mc.sample;"
        "bad=[m for m in ('cupy','cudf','numba.cuda') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_host_helpers():
    a = np.arange(3)
    assert array_namespace(a) is np
    assert to_host(a) is a or np.array_equal(to_host(a), a)


@pytest.mark.gpu
def test_gpu_backend_resolves(gpu_backend):
    assert gpu_backend.name == "gpu" and gpu_backend.torch_device == "cuda"


@pytest.mark.parametrize("counts", [[2, 0, 3, 1], [0, 0, 0], [], [1, 1, 1], [0, 5]])
def test_repeat_equals_numpy_repeat(counts):
    counts = np.asarray(counts, dtype=np.int64)
    a = np.arange(10, 10 + counts.size) * 3
    np.testing.assert_array_equal(repeat(np, a, counts), np.repeat(a, counts))


def test_bincount_accepts_empty_input():
    empty = np.zeros(0, dtype=np.int64)
    assert bincount(np, empty, 4).tolist() == [0, 0, 0, 0]
    assert bincount(np, empty, 2, weights=np.zeros(0)).dtype == np.float64
    x = np.array([0, 2, 2, 5])
    np.testing.assert_array_equal(bincount(np, x, 3), np.bincount(x, minlength=3))
