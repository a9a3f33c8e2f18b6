"""Counter-based uniforms and the seeded balancing/split kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gpu_mc_kernels import SPLIT_CODES, assign_split, uniform

N = 1_000_000


def test_uniform_range_moments_and_ks():
    u = uniform(123, 0, N)
    assert u.dtype == np.float64 and u.shape == (N,)
    assert u.min() >= 0.0 and u.max() < 1.0
    # Mean: σ = sqrt(1/12/n); variance: σ = sqrt((1/80 - 1/144)/n) = sqrt(1/180/n).
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 5 * math.sqrt(1 / 180 / N)
    # Kolmogorov-Smirnov: sqrt(n) D < 1.95 has probability ≈ 0.999 under uniformity.
    s = np.sort(u)
    i = np.arange(1, N + 1)
    d = max((i / N - s).max(), (s - (i - 1) / N).max())
    assert math.sqrt(N) * d < 1.95


def test_streams_seeds_and_lags_are_uncorrelated():
    a = uniform(7, 0, N)
    tol = 5 / math.sqrt(N)  # σ of a sample correlation of independent variables ≈ 1/sqrt(n)
    for other in (uniform(7, 1, N), uniform(8, 0, N)):
        assert abs(np.corrcoef(a, other)[0, 1]) < tol
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < tol


def test_uniform_is_deterministic_and_indexable():
    a = uniform(2**63 + 5, 3, 1000)
    np.testing.assert_array_equal(a, uniform(2**63 + 5, 3, 1000))
    idx = np.array([999, 0, 500], dtype=np.int64)
    np.testing.assert_array_equal(uniform(2**63 + 5, 3, index=idx), a[idx])
    assert not np.array_equal(a, uniform(2**63 + 6, 3, 1000))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"n": 3, "index": np.arange(3)}],
)
def test_uniform_needs_exactly_one_of_n_and_index(kwargs):
    with pytest.raises(ValueError, match="exactly one"):
        uniform(1, 0, **kwargs)


def test_uniform_rejects_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        uniform(-1, 0, 3)


def _labels(n: int, mc_fraction: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < mc_fraction).astype(np.int8)


def test_split_matches_vectorised_uniforms():
    """The Numba twin's scalar hash agrees with the vectorised one of :func:`uniform`."""
    labels = _labels(10_000, 0.3)
    labels[::50] = -1
    codes = assign_split(labels, 99, 0.4, 0.9, 0.6, 0.15)
    u_keep, u_split = uniform(99, 0, labels.size), uniform(99, 1, labels.size)
    keep = np.where(labels == 1, 0.9, 0.4)
    expected = np.select(
        [(labels < 0) | (labels > 1) | (u_keep >= keep), u_split >= 0.6, u_split < 0.6 * 0.15],
        [0, 3, 2],
        1,
    )
    np.testing.assert_array_equal(codes, expected)
    assert codes.dtype == np.int8


def test_class_and_split_fractions_within_binomial_tolerance():
    n, f_mc = N, 0.3
    keep_mw, keep_mc, train, val = 0.35, 0.8, 0.6, 0.15
    labels = _labels(n, f_mc, seed=1)
    codes = assign_split(labels, 2024, keep_mw, keep_mc, train, val)

    def check(count: int, trials: int, p: float) -> None:
        sigma = math.sqrt(trials * p * (1 - p))
        assert abs(count - trials * p) < 5 * sigma, (count, trials * p, sigma)

    kept = codes > 0
    n_mw, n_mc = int((labels == 0).sum()), int((labels == 1).sum())
    check(int((kept & (labels == 0)).sum()), n_mw, keep_mw)
    check(int((kept & (labels == 1)).sum()), n_mc, keep_mc)
    n_kept = int(kept.sum())
    check(int((codes == SPLIT_CODES["test"]).sum()), n_kept, 1 - train)
    check(int((codes == SPLIT_CODES["validation"]).sum()), n_kept, train * val)
    check(int((codes == SPLIT_CODES["train"]).sum()), n_kept, train * (1 - val))
    # Balancing and split are independent: the MC fraction is the same in train and test.
    p_mc = keep_mc * f_mc / (keep_mc * f_mc + keep_mw * (1 - f_mc))
    for code in (SPLIT_CODES["train"], SPLIT_CODES["test"]):
        part = codes == code
        check(int((part & (labels == 1)).sum()), int(part.sum()), p_mc)


def test_deterministic_seed_dependent_and_chunkable():
    labels = _labels(20_000, 0.5)
    args = (0.5, 0.7, 0.6, 0.15)
    a = assign_split(labels, 5, *args)
    np.testing.assert_array_equal(a, assign_split(labels, 5, *args))
    b = assign_split(labels, 6, *args)
    # Two independent splits agree on a star with probability Σ p_code² ≈ 0.39 here.
    assert (a != b).mean() > 0.5
    chunks = [assign_split(labels[s : s + 7000], 5, *args, start=s) for s in (0, 7000, 14000)]
    np.testing.assert_array_equal(np.concatenate(chunks), a)


def test_edge_probabilities():
    labels = _labels(1000, 0.5)
    assert (assign_split(labels, 1, 0.0, 0.0, 0.6, 0.1) == 0).all()
    codes = assign_split(labels, 1, 1.0, 1.0, 1.0, 0.0)
    assert (codes == SPLIT_CODES["train"]).all()
    codes = assign_split(labels, 1, 1.0, 1.0, 0.0, 0.5)
    assert (codes == SPLIT_CODES["test"]).all()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((1, 1.5, 0.5, 0.6, 0.1), "keep_prob_mw"),
        ((1, 0.5, 0.5, 0.6, -0.1), "validation_fraction"),
        ((-3, 0.5, 0.5, 0.6, 0.1), "seed"),
    ],
)
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        assign_split(_labels(10, 0.5), *args)


@pytest.mark.cudasim
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_cuda_kernel_matches_twin():
    """The simulator evaluates the kernel with NumPy uint64 scalars, whose wrap-around
    multiplications warn; the wrap is intended."""
    labels = _labels(400, 0.4, seed=3)
    labels[::37] = -1
    args = (labels, 77, 0.5, 0.8, 0.6, 0.2)
    np.testing.assert_array_equal(
        assign_split(*args, start=1000, device=True), assign_split(*args, start=1000, device=False)
    )


@pytest.mark.gpu
def test_gpu_cupy_matches_twin(gpu_backend):
    import cupy

    labels = _labels(2_000_000, 0.3, seed=4)
    args = (31, 0.4, 0.9, 0.6, 0.15)
    gpu = assign_split(cupy.asarray(labels), *args)
    assert isinstance(gpu, cupy.ndarray)
    np.testing.assert_array_equal(gpu.get(), assign_split(labels, *args))
    np.testing.assert_array_equal(uniform(31, 1, 1000, xp=cupy).get(), uniform(31, 1, 1000))
