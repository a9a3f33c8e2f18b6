"""Every Numba CUDA kernel compiles to PTX for sm_80 (A100) and sm_90 (H100/H200), no GPU needed.

numba-cuda (the compiler the GPU extras install; the dev extra has it too) compiles with NVVM
and NVRTC alone: ``numba.cuda.compile_ptx`` needs no driver. The argument
types are the ones the library really launches with: the library runs its CPU path on a small
mock sky (features, training-set split, source_id lookup, positional cross-match), the
``(columns, params, outputs)`` of every :class:`~gpu_mc_kernels.launch.RowKernel` run are
recorded, and each kernel's CUDA kernel is compiled for the types of what its twin received.
Every kernel of the package must be reached: each ``RowKernel`` in its modules, and no CUDA
kernel (a function indexing threads with ``cuda.grid``) outside the pattern's template.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
from pathlib import Path

import numba
import numpy as np
import pytest

import gpu_mc_kernels
from gpu_mc_kernels.launch import RowKernel

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    pytest.skip("PTX compilation needs the real Numba CUDA target", allow_module_level=True)

ARCHS = ((8, 0), (9, 0))
KERNEL_DIR = Path(gpu_mc_kernels.__file__).parent


def _nvvm_problem() -> str | None:
    from numba import cuda

    if getattr(cuda, "implementation", "Built-in") != "NVIDIA":
        # The CUDA target built into numba is deprecated and not what the GPU extras install;
        # it cannot type min()/max() of scalars in device code, which numba-cuda can.
        return (
            "numba-cuda is not installed (the dev extra has it: "
            "pip install 'numba-cuda[cu13]>=0.30'); numba's built-in CUDA target is not tested"
        )
    try:
        from numba.cuda.cudadrv.nvvm import NVVM

        NVVM()
    except Exception as exc:
        return f"NVVM (libnvvm) is not available: {type(exc).__name__}: {exc}"
    return None


def _row_kernels() -> dict[str, RowKernel]:
    """Every RowKernel defined in the modules of the kernel package, by name."""
    kernels = {}
    for info in pkgutil.iter_modules(gpu_mc_kernels.__path__):
        mod = importlib.import_module(f"gpu_mc_kernels.{info.name}")
        for obj in vars(mod).values():
            if isinstance(obj, RowKernel):
                kernels[obj.name] = obj
    return kernels


def _cuda_grid_functions() -> set[str]:
    """``file:function`` of the functions in the kernel package that index threads with
    ``cuda.grid``."""
    names = set()
    for path in KERNEL_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and "cuda.grid(" in ast.unparse(node):
                names.add(f"{path.name}:{node.name}")
    return names


def test_every_cuda_kernel_follows_the_row_pattern():
    """The only CUDA kernel source is the RowKernel template; four kernels use it."""
    assert _cuda_grid_functions() == {"launch.py:_cuda_rows"}
    assert set(_row_kernels()) == {"_features_row", "_split_row", "_nearest_row", "_lookup_row"}


def _drive_library() -> None:
    """Run the library's CPU path through every kernel's launcher."""
    from gpu_mc.config import Config
    from gpu_mc.features import features
    from gpu_mc.sample import build_training_set
    from gpu_mc.sky.generate import simulate_milky_way, simulate_sky
    from gpu_mc.validate.crossmatch import _bucket_directory, match_positions
    from gpu_mc_kernels.crossmatch import lookup_sorted

    cfg = Config()
    sky_cfg = type(cfg.sky)(**{**cfg.sky.__dict__, "n_stars": 3000})
    sky = simulate_sky(sky_cfg)
    mw = simulate_milky_way(sky_cfg, 2000, seed=5)
    features(sky, sky_cfg.cloud)
    build_training_set(sky, mw, sky_cfg.cloud, cfg.sample)
    ids = np.asarray(sky["source_id"])
    # On the host the join looks keys up with pandas; on a device, with the lookup kernel over
    # the join's own bucket directory of the sorted unique keys.
    ukeys = np.unique(ids[::3])
    lookup_sorted(ids, ukeys, *_bucket_directory(np, ukeys))
    ra, dec = np.asarray(sky["ra"]), np.asarray(sky["dec"])
    match_positions(ra, dec, ra[::2] + 1e-5, dec[::2], radius_arcsec=1.0)


@pytest.fixture(scope="module")
def launches():
    """(CUDA kernel dispatcher, argument tuple) for every kernel the library runs."""
    problem = _nvvm_problem()
    if problem is not None:
        pytest.skip(problem)
    recorded: dict[str, tuple] = {}
    original = RowKernel.__call__

    def spy(self, columns, params, outputs, device):
        recorded.setdefault(self.name, (columns, params, outputs))
        return original(self, columns, params, outputs, device)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RowKernel, "__call__", spy)
        _drive_library()
    kernels = _row_kernels()
    never = sorted(set(kernels) - set(recorded))
    assert not never, f"the library never ran {never}"
    return [(kernels[name].cuda_kernel, args) for name, args in sorted(recorded.items())]


def test_every_kernel_is_launched_by_the_replay(launches):
    launched = {kernel.py_func.__name__ for kernel, _ in launches}
    assert launched == {f"{name}_kernel" for name in _row_kernels()}
    assert len(launched) == 4


class _TargetDevice:
    """Stands in for the current device where Numba asks it for the compute capability.

    Numba compiles a ``device=True`` function called from a kernel for the compute capability
    of the current device, which needs a driver; here that is the capability being targeted.
    """

    def __init__(self, cc: tuple[int, int]) -> None:
        self.compute_capability = cc


@pytest.mark.parametrize("cc", ARCHS, ids=lambda cc: f"sm_{cc[0]}{cc[1]}")
def test_kernels_compile_to_ptx(launches, cc, monkeypatch):
    from numba import cuda
    from numba.cuda import dispatcher

    if hasattr(dispatcher, "get_current_device"):
        monkeypatch.setattr(dispatcher, "get_current_device", lambda: _TargetDevice(cc))
    compiled, failed = [], []
    for kernel, args in launches:
        name = kernel.py_func.__name__
        sig = tuple(numba.typeof(a) for a in args)
        try:
            ptx, restype = cuda.compile_ptx(kernel.py_func, sig, cc=cc)
        except Exception as exc:
            failed.append(f"{name}{sig}: {type(exc).__name__}: {exc}")
            continue
        assert restype == numba.types.void
        assert f".target sm_{cc[0]}{cc[1]}" in ptx
        entries = [ln for ln in ptx.splitlines() if ln.lstrip().startswith(".visible .entry")]
        assert len(entries) == 1, name
        compiled.append(name)
    assert not failed, "\n".join(failed)
    assert len(compiled) == len(launches) == 4
