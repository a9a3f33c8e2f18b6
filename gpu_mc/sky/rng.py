"""Seeded random streams that work alike on NumPy and CuPy.

Every stream is keyed by integers (seed, table tag, chunk index, purpose), hashed by NumPy's
SeedSequence into one 64-bit seed for ``xp.random.default_rng``. Only ``random`` and
``standard_normal`` of the resulting Generator are used, which both libraries provide.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


def stream_seed(*keys: int) -> int:
    """One 63-bit integer seed from a tuple of non-negative integer keys."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def make_rng(xp: ModuleType, *keys: int) -> Any:
    """A random Generator of namespace ``xp`` seeded from ``keys``.

    Parameters
    ----------
    xp : module
        :mod:`numpy` or :mod:`cupy`.
    *keys : int
        Non-negative integers identifying the stream.

    Returns
    -------
    numpy.random.Generator or cupy.random.Generator
    """
    return xp.random.default_rng(stream_seed(*keys))


def host_rng(*keys: int) -> np.random.Generator:
    """A NumPy Generator for small host-side draws (counts) keyed like :func:`make_rng`."""
    return np.random.default_rng(stream_seed(*keys))
