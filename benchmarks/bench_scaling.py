"""Scaling of partitioned scoring over CPU workers: wall time per worker count, efficiency.

``run(n_stars, workers_list)`` simulates a mock sky of ``n_stars``, trains a small model,
writes the sky as 8 HEALPix partitions and scores them on a ``distributed.LocalCluster`` of
each worker count (one thread per worker), warm: every cluster first scores the catalogue once
(loading the model and compiling the scoring kernel in each worker), then the timed pass
runs. Efficiency is speed-up over the first worker count divided by the worker ratio.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: Partitions of the benchmark catalogue.
N_PARTITIONS = 8


def _catalogue(n_stars: int, root: Path) -> tuple[Path, Path, Any]:
    """Write the partitioned mock and a small trained model under ``root``."""
    from gpu_mc.backend import get_backend, to_host
    from gpu_mc.config import Config
    from gpu_mc.io.partitions import write_partitions
    from gpu_mc.model.checkpoint import save_model
    from gpu_mc.pipeline import simulate, train
    from gpu_mc.progress import Reporter

    cfg = Config().replace(
        sky={"n_stars": n_stars}, train={"max_epochs": 3}, run={"backend": "cpu"}
    )
    be, rep = get_backend("cpu"), Reporter(enabled=False)
    sky = {k: to_host(v) for k, v in simulate(cfg, be, rep).items()}
    train_cfg = cfg.replace(sky={"n_stars": min(n_stars, 200_000)})
    trained = train({k: v[: train_cfg.sky.n_stars] for k, v in sky.items()}, train_cfg, be, rep)
    save_model(trained.model, root / "model")
    write_partitions(sky, root / "parts", N_PARTITIONS)
    return root / "parts", root / "model", cfg


def run(n_stars: int = 1_000_000, workers_list: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """Time partitioned scoring of an ``n_stars`` mock on local clusters of each worker count.

    Parameters
    ----------
    n_stars : int
        Stars in the mock catalogue (8 partitions).
    workers_list : sequence of int
        Worker counts to time, in order; the first is the baseline of the speed-ups.

    Returns
    -------
    dict
        ``n_stars``, ``n_partitions``, ``cpu_count``, ``machine``, ``python`` and ``runs``:
        one entry per worker count with ``workers``, ``seconds`` (timed scoring pass, s,
        cluster start and warm-up excluded), ``stars_per_s``, ``speedup`` and ``efficiency``
        (speed-up / (workers / first workers)).
    """
    from distributed import LocalCluster

    from gpu_mc.parallel import ClusterSpec, score_partitions

    with tempfile.TemporaryDirectory(prefix="gpu_mc-bench-scaling-") as tmp:
        root = Path(tmp)
        parts, model, cfg = _catalogue(n_stars, root)
        runs = []
        for workers in workers_list:
            with LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster:
                spec = ClusterSpec(address=cluster.scheduler_address)
                out = root / f"out-{workers}"
                score_partitions(parts, model, out, cfg, spec, progress=False)
                start = time.perf_counter()
                score_partitions(parts, model, out, cfg, spec, progress=False)
                seconds = time.perf_counter() - start
            runs.append({"workers": workers, "seconds": seconds, "stars_per_s": n_stars / seconds})
    base = runs[0]
    for r in runs:
        r["speedup"] = base["seconds"] / r["seconds"]
        r["efficiency"] = r["speedup"] / (r["workers"] / base["workers"])
    return {
        "n_stars": n_stars,
        "n_partitions": N_PARTITIONS,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "runs": runs,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps(run(n), indent=2))
