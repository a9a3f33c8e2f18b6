"""The shared launcher: side decision, launch geometry and the row-kernel pattern."""

from __future__ import annotations

import numpy as np
import pytest
from numba.extending import register_jitable

from gpu_mc_kernels.launch import THREADS_PER_BLOCK, RowKernel, decide_device, grid_size


class FakeDevice:
    __cuda_array_interface__: dict = {}  # noqa: RUF012


@pytest.mark.parametrize(("n", "blocks"), [(0, 1), (1, 1), (256, 1), (257, 2), (10_000, 40)])
def test_grid_size(n, blocks):
    assert THREADS_PER_BLOCK == 256
    assert grid_size(n) == blocks


def test_decide_device_follows_the_arrays():
    host = np.zeros(3)
    assert decide_device([host, host], ["a", "b"], None) is False
    assert decide_device([host], ["a"], False) is False
    assert decide_device([FakeDevice(), FakeDevice()], ["a", "b"], None) is True
    assert decide_device([FakeDevice()], ["a"], True) is True
    with pytest.raises(TypeError, match="host arrays b mixed"):
        decide_device([FakeDevice(), host], ["a", "b"], None)


def test_decide_device_refuses_the_other_side():
    with pytest.raises(TypeError, match="device=False asked for, but the arrays are CUDA"):
        decide_device([FakeDevice()], ["a"], False)


@pytest.mark.skipif(
    __import__("numba").config.ENABLE_CUDASIM, reason="the simulator runs CUDA on host arrays"
)
def test_cuda_kernel_refuses_host_arrays_outside_the_simulator():
    with pytest.raises(TypeError, match="device=True asked for, but the arrays are host"):
        decide_device([np.zeros(3)], ["a"], True)


@register_jitable
def _affine_row(i, columns, params, outputs):
    x, w = columns
    a, b = params
    (out,) = outputs
    out[i] = a * x[i] * w[i] + b


AFFINE = RowKernel(_affine_row)


def test_row_kernel_twin_against_numpy():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=1000), rng.normal(size=1000).astype(np.float32)
    out = np.empty(1000)
    AFFINE((x, w), (2.5, -1.0), (out,), False)
    np.testing.assert_array_equal(out, 2.5 * x * w.astype(np.float64) - 1.0)
    assert repr(AFFINE) == "RowKernel(_affine_row)"


@pytest.mark.cudasim
def test_row_kernel_cuda_equals_twin_in_simulator():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=600), rng.normal(size=600)
    cpu, sim = np.empty(600), np.full(600, np.nan)
    AFFINE((x, w), (0.5, 3.0), (cpu,), False)
    AFFINE((x, w), (0.5, 3.0), (sim,), True)
    np.testing.assert_array_equal(sim, cpu)
