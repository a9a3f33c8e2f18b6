"""Counter-based random numbers and the seeded balancing/train/validation/test split.

CPU and GPU must select exactly the same stars for the same seed, whatever the device, thread
count or chunking. So the random number of star ``i`` is a pure function of
``(seed, stream, i)``: a key ``k = mix(mix(stream + γ) ^ seed)`` and
``u_i = (mix(k + (i + 1) γ) >> 11) · 2⁻⁵³``, where ``mix`` is the SplitMix64 finaliser
(Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators", OOPSLA; the
constants of Vigna's ``splitmix64.c``) and γ = 0x9E3779B97F4A7C15. All arithmetic is in
uint64 and wraps modulo 2⁶⁴; the float conversion is exact, so every backend gives bitwise
identical values in [0, 1).

The same :func:`_mix64` and :func:`_unit` source is used by the vectorised :func:`uniform`
(NumPy or CuPy arrays) and by the row function :func:`_split_row`, which is compiled as the
CPU twin and as the CUDA kernel (:class:`gpu_mc_kernels.launch.RowKernel`);
:func:`assign_split` is the launcher.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from numba.extending import register_jitable

from gpu_mc_kernels.launch import RowKernel, decide_device, empty_like_side, is_device_array

#: Split codes written by :func:`assign_split`.
SPLIT_CODES: dict[str, int] = {"dropped": 0, "train": 1, "validation": 2, "test": 3}

#: Random stream used for the class-balancing draw.
STREAM_KEEP = 0
#: Random stream used for the train/validation/test draw.
STREAM_SPLIT = 1

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TWO_POW_M53 = 2.0**-53
_UINT64_MAX = 2**64 - 1


@register_jitable
def _mix64(z):
    """SplitMix64 finaliser of uint64 ``z`` (a scalar or a NumPy/CuPy array); wraps mod 2⁶⁴."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@register_jitable
def _unit(key, i):
    """Uniform float64 in [0, 1) of uint64 counter ``i`` under uint64 ``key`` (scalars or
    NumPy/CuPy arrays)."""
    return (_mix64(key + (i + _ONE) * _GAMMA) >> _S11) * _TWO_POW_M53


def stream_key(seed: int, stream: int) -> np.uint64:
    """The uint64 key of ``(seed, stream)``.

    Parameters
    ----------
    seed, stream : int
        Integers in [0, 2⁶⁴).

    Returns
    -------
    numpy.uint64
    """
    for name, v in (("seed", seed), ("stream", stream)):
        if not 0 <= int(v) <= _UINT64_MAX:
            raise ValueError(f"{name} must be an integer in [0, 2**64), got {v}")
    with np.errstate(over="ignore"):
        return _mix64(_mix64(np.uint64(stream) + _GAMMA) ^ np.uint64(seed))


def uniform(
    seed: int,
    stream: int,
    n: int | None = None,
    index: Any = None,
    xp: ModuleType = np,
) -> Any:
    """Counter-based uniform random numbers ``u_i = hash(seed, stream, i)`` in [0, 1).

    Parameters
    ----------
    seed, stream : int
        Integers in [0, 2⁶⁴). Different streams of one seed are independent.
    n : int, optional
        Return ``u_0 … u_{n-1}``. Give exactly one of ``n`` and ``index``.
    index : array of int, optional
        Non-negative counters ``i`` (e.g. global row numbers of a chunk); the result lives
        in the same library as ``index``.
    xp : module, optional
        Array namespace (:mod:`numpy` or :mod:`cupy`) of the result when ``n`` is given.

    Returns
    -------
    array of float64, shape (n,) or ``index.shape``
    """
    if (n is None) == (index is None):
        raise ValueError("give exactly one of n and index")
    counters = xp.arange(n, dtype=xp.uint64) if index is None else index.astype(np.uint64)
    return _unit(stream_key(seed, stream), counters)


@register_jitable
def _split_code(label, u_keep, u_split, keep_mw, keep_mc, train_fraction, val_threshold):
    """Split code of one star from its two uniforms (see :func:`assign_split`)."""
    if label == 0:
        keep = keep_mw
    elif label == 1:
        keep = keep_mc
    else:
        return 0
    if u_keep >= keep:
        return 0
    if u_split >= train_fraction:
        return 3
    if u_split < val_threshold:
        return 2
    return 1


@register_jitable
def _split_row(i, columns, params, outputs):
    """Split code of star ``i`` from the uniforms of counter ``start + i``.

    ``columns`` is ``(labels,)``, ``params`` ``(start, key_keep, key_split, keep_mw, keep_mc,
    train_fraction, val_threshold)`` and ``outputs`` ``(codes,)``, as in :func:`assign_split`.
    """
    (labels,) = columns
    start, key_keep, key_split, keep_mw, keep_mc, train_fraction, val_threshold = params
    (codes,) = outputs
    c = np.uint64(start + i)
    codes[i] = _split_code(
        labels[i],
        _unit(key_keep, c),
        _unit(key_split, c),
        keep_mw,
        keep_mc,
        train_fraction,
        val_threshold,
    )


#: The balancing/split kernel (CPU twin and CUDA kernel of :func:`_split_row`).
SPLIT = RowKernel(_split_row)


def assign_split(
    labels: Any,
    seed: int,
    keep_prob_mw: float,
    keep_prob_mc: float,
    train_fraction: float,
    validation_fraction: float,
    start: int = 0,
    out: Any = None,
    *,
    device: bool | None = None,
) -> Any:
    """Seeded class balancing and train/validation/test split (launcher).

    Star ``i`` is kept when ``u_keep < keep_prob`` of its class (``u_keep`` from stream
    :data:`STREAM_KEEP`). With ``u_split`` from stream :data:`STREAM_SPLIT`, a kept star goes
    to test when ``u_split >= train_fraction`` (probability ``1 - train_fraction``), to
    validation when ``u_split < train_fraction * validation_fraction`` (a fraction
    ``validation_fraction`` of the training part), else to train. Both uniforms use counter
    ``start + i``, so chunked calls with matching ``start`` reproduce one whole call.

    Runs the CUDA kernel for a CUDA device array (CuPy or anything with
    ``__cuda_array_interface__``) and the CPU twin for a NumPy array; the same seed selects
    the same stars on both.

    Parameters
    ----------
    labels : array of int8, shape (n,)
        0 = Milky Way, 1 = Magellanic Cloud; any other value (e.g. -1, unlabelled) is dropped.
    seed : int
        Seed in [0, 2⁶⁴).
    keep_prob_mw, keep_prob_mc : float
        Probability of keeping a star of each class, in [0, 1].
    train_fraction : float
        Fraction of kept stars in train + validation, in [0, 1].
    validation_fraction : float
        Fraction of that part held out for validation, in [0, 1].
    start : int, optional
        Global index of ``labels[0]``, ≥ 0.
    out : array of int8, shape (n,), optional
        Preallocated output on the same side as ``labels``.
    device : bool, optional
        Force the CUDA kernel (True) or the CPU twin (False); by default the arrays decide
        (see :func:`gpu_mc_kernels.launch.decide_device`).

    Returns
    -------
    array of int8, shape (n,)
        Codes of :data:`SPLIT_CODES`: 0 dropped, 1 train, 2 validation, 3 test.

    Raises
    ------
    ValueError
        On a probability outside [0, 1], a negative ``start``, a bad seed, or bad shapes.
    TypeError
        When ``labels`` and ``out`` are on different sides, or ``device`` asks for the
        other side.
    """
    for name, p in (
        ("keep_prob_mw", keep_prob_mw),
        ("keep_prob_mc", keep_prob_mc),
        ("train_fraction", train_fraction),
        ("validation_fraction", validation_fraction),
    ):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {p}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    stream_key(seed, 0)
    names = ["labels"] if out is None else ["labels", "out"]
    device = decide_device([labels] if out is None else [labels, out], names, device)
    if not is_device_array(labels):
        labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if out is None:
        out = empty_like_side(labels, labels.shape, np.dtype(np.int8))
    elif out.shape != labels.shape or out.dtype != np.int8:
        raise ValueError(f"out must be an int8 array of shape {labels.shape}")
    params = (
        np.int64(start),
        stream_key(seed, STREAM_KEEP),
        stream_key(seed, STREAM_SPLIT),
        float(keep_prob_mw),
        float(keep_prob_mc),
        float(train_fraction),
        float(train_fraction) * float(validation_fraction),
    )
    SPLIT((labels,), params, (out,), device)
    return out
