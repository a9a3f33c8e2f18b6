"""Shared pytest configuration: the ``--gpu`` option and marker handling."""

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
        if "gpu" in item.keywords and not run_gpu:
            item.add_marker(skip_gpu)
        if "cudasim" in item.keywords and not in_sim:
            item.add_marker(skip_sim)


@pytest.fixture(scope="session")
def gpu_backend():
    """The GPU backend; fails (does not skip) when tests were asked to run on a GPU."""
    from gpu_mc.backend import get_backend

    return get_backend("gpu")
