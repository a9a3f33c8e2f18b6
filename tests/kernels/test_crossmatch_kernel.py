"""Cross-match kernels: CPU twins against brute force, CUDA kernels against the twins."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from gpu_mc.validate.crossmatch import _bucket_directory, _zone_index
from gpu_mc_kernels.crossmatch import (
    lookup_sorted,
    nearest_in_zones,
    zone_order,
)


def sky(rng, n, dec_lo=-90.0, dec_hi=90.0):
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(
        np.arcsin(rng.uniform(math.sin(math.radians(dec_lo)), math.sin(math.radians(dec_hi)), n))
    )
    return ra, dec


def brute_nearest(ra1, dec1, ra2, dec2, radius_deg):
    """Vincenty separation of every pair; nearest within the radius (ties: smaller index)."""
    r1, d1, r2, d2 = (np.radians(a) for a in (ra1, dec1, ra2, dec2))
    dra = r2[None, :] - r1[:, None]
    num1 = np.cos(d2)[None, :] * np.sin(dra)
    num2 = np.cos(d1)[:, None] * np.sin(d2)[None, :] - np.sin(d1)[:, None] * np.cos(d2)[
        None, :
    ] * np.cos(dra)
    den = np.sin(d1)[:, None] * np.sin(d2)[None, :] + np.cos(d1)[:, None] * np.cos(d2)[
        None, :
    ] * np.cos(dra)
    sep = np.arctan2(np.hypot(num1, num2), den)
    j = np.argmin(sep, axis=1)
    best = sep[np.arange(len(ra1)), j]
    ok = best <= np.radians(radius_deg)
    return np.where(ok, j, -1), np.where(ok, np.degrees(best) * 3600, np.inf)


def index_args(ra2, dec2, radius_deg, zone_height_deg):
    return (*_zone_index(np, ra2, dec2, zone_height_deg), zone_height_deg, radius_deg)


@pytest.mark.parametrize(
    ("dec_lo", "dec_hi", "radius_deg", "zone_height_deg"),
    [(-90, 90, 2.0, 2.0), (88, 90, 0.5, 0.7), (-90, -87, 1.0, 1.0), (-5, 5, 0.3, 0.3)],
)
def test_twin_equals_brute_force(dec_lo, dec_hi, radius_deg, zone_height_deg):
    rng = np.random.default_rng(11)
    ra1, dec1 = sky(rng, 800, dec_lo, dec_hi)
    ra2, dec2 = sky(rng, 900, dec_lo, dec_hi)
    ra2[:50] = rng.uniform(0, 1e-3, 50)  # crowd ra = 0 and ra = 360
    ra1[:50] = rng.uniform(360 - 1e-3, 360, 50)
    ra2[50:100] = rng.uniform(360 - 1e-3, 360, 50)  # and the other way round
    ra1[50:100] = rng.uniform(0, 1e-3, 50)
    j, sep = nearest_in_zones(ra1, dec1, *index_args(ra2, dec2, radius_deg, zone_height_deg))
    want_j, want_sep = brute_nearest(ra1, dec1, ra2, dec2, radius_deg)
    np.testing.assert_array_equal(j, want_j)
    np.testing.assert_allclose(sep, want_sep, rtol=0, atol=1e-6)
    assert (j >= 0).sum() > 20


def test_zone_order_sorts_by_zone_then_ra_then_row():
    rng = np.random.default_rng(5)
    zone = rng.integers(0, 40, 5000)
    ra = rng.integers(0, 30, 5000).astype(float)  # many ties
    order, start = zone_order(zone, ra, 45)
    np.testing.assert_array_equal(order, np.lexsort((np.arange(5000), ra, zone)))
    np.testing.assert_array_equal(
        start, np.concatenate([[0], np.cumsum(np.bincount(zone, minlength=45))])
    )


@pytest.mark.parametrize("span", [2**20, 2**40, 2**62 + 5])
def test_lookup_twin_equals_searchsorted(span):
    rng = np.random.default_rng(span % 97)
    ukeys = np.unique(rng.integers(-span // 2, span // 2, 3000))
    keys = np.concatenate([rng.choice(ukeys, 5000), rng.integers(-span // 2, span // 2, 5000)])
    directory, kmin, kmax, shift = _bucket_directory(np, ukeys)
    got = lookup_sorted(keys, ukeys, directory, kmin, kmax, shift)
    pos = np.clip(np.searchsorted(ukeys, keys), 0, len(ukeys) - 1)
    np.testing.assert_array_equal(got, np.where(ukeys[pos] == keys, pos, -1))


def test_launchers_refuse_mixed_host_and_device_arrays():
    class FakeDevice:
        __cuda_array_interface__ = {}  # noqa: RUF012

    with pytest.raises(TypeError, match="mixed"):
        lookup_sorted(np.zeros(1, np.int64), FakeDevice(), np.zeros(2, np.int64), 0, 0, 0)


def test_import_loads_neither_cupy_nor_numba_cuda():
    code = (
        "import sys, gpu_mc_kernels.crossmatch, gpu_mc.validate.crossmatch; "
        "assert 'cupy' not in sys.modules and 'numba.cuda' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.cudasim
def test_cuda_nearest_equals_twin_in_simulator():
    rng = np.random.default_rng(3)
    ra1, dec1 = sky(rng, 150, 86, 90)
    ra2, dec2 = sky(rng, 200, 85, 90)
    ra1[:20] = rng.uniform(359.99, 360, 20)
    ra2[:20] = rng.uniform(0, 0.01, 20)
    args = index_args(ra2, dec2, 0.6, 0.6)
    j_cpu, s_cpu = nearest_in_zones(ra1, dec1, *args, device=False)
    j_sim, s_sim = nearest_in_zones(ra1, dec1, *args, device=True)
    np.testing.assert_array_equal(j_sim, j_cpu)
    np.testing.assert_array_equal(s_sim, s_cpu)
    assert (j_cpu >= 0).sum() > 20


@pytest.mark.cudasim
def test_cuda_lookup_equals_twin_in_simulator():
    rng = np.random.default_rng(4)
    ukeys = np.unique(rng.integers(0, 2**40, 200))
    keys = np.concatenate([ukeys[::3], rng.integers(0, 2**40, 100)])
    args = (ukeys, *_bucket_directory(np, ukeys))
    np.testing.assert_array_equal(
        lookup_sorted(keys, *args, device=True), lookup_sorted(keys, *args, device=False)
    )


@pytest.mark.gpu
def test_gpu_positional_match_and_joins_equal_cpu(gpu_backend):
    import cupy

    from gpu_mc.validate import join_source_id, match_positions

    rng = np.random.default_rng(9)
    ra1, dec1 = sky(rng, 200_000, -75, -60)
    ra2 = np.mod(ra1 + rng.normal(0, 2e-4, ra1.size), 360)
    dec2 = dec1 + rng.normal(0, 2e-4, ra1.size)
    cpu = match_positions(ra1, dec1, ra2, dec2, 1.0, one_to_one=True)
    gpu = match_positions(*(cupy.asarray(a) for a in (ra1, dec1, ra2, dec2)), 1.0, one_to_one=True)
    assert isinstance(gpu.idx1, cupy.ndarray)
    np.testing.assert_array_equal(gpu.idx1.get(), cpu.idx1)
    np.testing.assert_array_equal(gpu.idx2.get(), cpu.idx2)
    np.testing.assert_allclose(gpu.sep_arcsec.get(), cpu.sep_arcsec, rtol=0, atol=1e-9)

    left = rng.integers(0, 2**40, 300_000)
    right = np.concatenate([rng.choice(left, 20_000), rng.integers(0, 2**40, 5_000)])
    for how in ("inner", "left"):
        want = join_source_id(left, right, how=how)
        methods = ["sort"] + (["cudf"] if _has_cudf() else [])
        for method in methods:
            got = join_source_id(cupy.asarray(left), cupy.asarray(right), how=how, method=method)
            np.testing.assert_array_equal(got.left_index.get(), want.left_index)
            np.testing.assert_array_equal(got.right_index.get(), want.right_index)
            assert (got.left_duplicate_keys, got.right_duplicate_keys) == (
                want.left_duplicate_keys,
                want.right_duplicate_keys,
            )


def _has_cudf() -> bool:
    import importlib.util

    return importlib.util.find_spec("cudf") is not None
