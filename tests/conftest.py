"""Shared pytest configuration: the ``--gpu`` option, marker handling, early pip dry runs."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--gpu",
        action="store_true",
        default=False,
        help="run tests marked gpu (they fail, not skip, when no CUDA device is visible)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_gpu = config.getoption("--gpu")
    in_sim = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    skip_gpu = pytest.mark.skip(reason="needs --gpu and a CUDA device")
    skip_sim = pytest.mark.skip(reason="needs NUMBA_ENABLE_CUDASIM=1 set before Python starts")
    for item in items:
        if item.get_closest_marker("gpu") and not run_gpu:
            item.add_marker(skip_gpu)
        if item.get_closest_marker("cudasim") and not in_sim:
            item.add_marker(skip_sim)
    # The pip dry runs (tests/test_install.py) run in the background, at a low priority, from
    # the start of the session (pytest_collection_finish); their tests go last.
    items.sort(key=lambda item: PIP_DRY_RUNS in getattr(item, "fixturenames", ()))


#: The fixture of tests/test_install.py that holds its pip dry runs.
PIP_DRY_RUNS = "pip_dry_runs"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the pip dry runs of the selected tests before the first test runs."""
    for item in session.items:
        if PIP_DRY_RUNS in getattr(item, "fixturenames", ()):
            item.module.DRY_RUNS.start()
            session.config.add_cleanup(item.module.DRY_RUNS.close)
            return


@pytest.fixture(scope="session")
def gpu_backend():
    """The GPU backend; fails (does not skip) when tests were asked to run on a GPU."""
    from gpu_mc.backend import get_backend

    return get_backend("gpu")


def synthetic_gaia(n: int, seed: int = 0):
    """A small Gaia-like table about the LMC centre with a known class per row.

    Cloud rows (label 1) move with the LMC and have parallax ~0; foreground rows (label 0)
    have larger parallaxes and proper motions. Independent of gpu_mc.sky, for unit tests.
    """
    import numpy as np

    from gpu_mc.constants import LMC

    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.4).astype(np.int8)
    ra = LMC.ra0 + rng.normal(0, 4, n) / np.cos(np.radians(LMC.dec0))
    dec = LMC.dec0 + rng.normal(0, 4, n)
    g = rng.uniform(14, 20.5, n)
    plx_err = 0.02 * 10 ** (0.2 * (g - 15))
    pm_err = 0.03 * 10 ** (0.2 * (g - 15))
    true_plx = np.where(label == 1, 1 / 49.6, rng.uniform(0.1, 2.0, n))
    pmra = np.where(label == 1, LMC.pmra0, rng.normal(4, 4, n)) + rng.normal(0, pm_err)
    pmdec = np.where(label == 1, LMC.pmdec0, rng.normal(-2, 4, n)) + rng.normal(0, pm_err)
    colour = np.where(label == 1, rng.choice([0.0, 1.1], n), rng.uniform(0.6, 2.5, n))
    return {
        "source_id": np.arange(n, dtype=np.int64) * 7 + 11,
        "ra": ra % 360,
        "dec": dec,
        "parallax": true_plx + rng.normal(0, plx_err),
        "parallax_error": plx_err.astype(np.float32),
        "pmra": pmra,
        "pmdec": pmdec,
        "pmra_error": pm_err.astype(np.float32),
        "pmdec_error": (pm_err * 0.9).astype(np.float32),
        "pmra_pmdec_corr": rng.uniform(-0.3, 0.3, n).astype(np.float32),
        "phot_g_mean_mag": g.astype(np.float32),
        "phot_bp_mean_mag": (g + 0.4 * colour).astype(np.float32),
        "phot_rp_mean_mag": (g - 0.6 * colour).astype(np.float32),
        "label": label,
    }


@pytest.fixture
def gaia_table():
    """A 6,000-row synthetic Gaia table with a ``label`` column."""
    return synthetic_gaia(6000, seed=1)
