"""Fixtures for the cluster tests: a tiny model, a partitioned mock sky, a 2-worker cluster."""

from __future__ import annotations

import logging

import pytest

#: Stars in the partitioned mock.
N_STARS = 40_000
N_PARTS = 8


@pytest.fixture(scope="session")
def mock(tmp_path_factory):
    """A 40k-star mock sky written as 8 partitions, a tiny model, and single-process scores.

    Returns a dict with ``parts`` (partition directory), ``model`` (model directory), ``cfg``
    and ``reference`` (scores of the whole table by one process, host arrays).
    """
    from gpu_mc.backend import get_backend, to_host
    from gpu_mc.config import Config
    from gpu_mc.io.partitions import write_partitions
    from gpu_mc.model.checkpoint import save_model
    from gpu_mc.pipeline import score, simulate, train
    from gpu_mc.progress import Reporter

    root = tmp_path_factory.mktemp("parallel")
    cfg = Config().replace(
        sky={"n_stars": N_STARS},
        train={"max_epochs": 2, "batch_size": 1024},
        run={"backend": "cpu"},
        features={"fallback": [["bp", "rp"]]},  # the workers must get the fallback model too
    )
    be = get_backend("cpu")
    rep = Reporter(enabled=False)
    sky = {k: to_host(v) for k, v in simulate(cfg, be, rep).items()}
    trained = train(sky, cfg, be, rep)
    save_model(trained.model, root / "model")
    write_partitions(sky, root / "parts", N_PARTS)
    reference = {k: to_host(v) for k, v in score(sky, trained.model, cfg, rep).items()}
    assert (reference["score_flag"] >> 11 & 1).any(), "the mock must exercise the fallback"
    return {"parts": root / "parts", "model": root / "model", "cfg": cfg, "reference": reference}


@pytest.fixture(scope="session")
def cluster():
    """A LocalCluster of 2 single-threaded worker processes shared by the tests."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    ) as c:
        yield c
