"""Cost of scoring with a K-member ensemble against one network (issue 16).

For each size n and each K, the stage timed is :func:`gpu_mc.model.ensemble.score_ensemble`
(fused features, then all K members batched, mean and spread) over n stars of the mock LMC
sky in batches of 2^20 rows; :func:`gpu_mc.model.score.score_table` with one plain network
is timed beside it as the existing single-network path. Weights are freshly initialised
(the cost does not depend on their values); the standardisation is fitted to the input.

Sizes above ``max_rows`` are measured on a proxy: ``max_rows`` stars, and the time scaled
by n / max_rows (scoring is batch by batch, so its cost is linear in n once a batch is
full); the record says ``extrapolated_from``. The input is a mock sky of ``min(max_rows,
max(sizes))`` stars, tiled when a size asks for more rows.

Run ``python -m benchmarks.bench_ensemble [--sizes 1e6,1.8e7] [--members 1,5]
[--max-rows 4e6] [--backend cpu]``; it prints one row per (n, K) and writes a JSON record
under ``benchmarks/results/``. The suite can add it as ``results["ensemble"] =
bench_ensemble.run(sizes, backend_name)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks._env import environment
from benchmarks._measure import measure
from gpu_mc.backend import Backend, get_backend, to_host
from gpu_mc.config import FEATURE_NAMES, SkyConfig
from gpu_mc.features import features
from gpu_mc.io.schema import REQUIRED_COLUMNS
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.ensemble import StackedMLP, TrainedEnsemble, score_ensemble
from gpu_mc.model.network import MLP
from gpu_mc.model.score import score_table
from gpu_mc.sky import simulate_sky

#: Rows per scoring batch (the pipeline's default ``run.score_batch_size``).
BATCH = 1 << 20

#: Hidden layers of the benchmarked networks (the default ``train.hidden``).
HIDDEN = (64, 64, 32)


def _table(n: int, backend: Backend, seed: int = 2023) -> dict[str, Any]:
    sky = simulate_sky(SkyConfig(cloud="lmc", n_stars=n, seed=seed))
    return {c: backend.xp.asarray(sky[c]) for c in REQUIRED_COLUMNS}


def _rows(table: Mapping[str, Any], n: int) -> dict[str, Any]:
    """The first ``n`` rows of ``table``, tiling it when it is shorter."""
    m = int(table["ra"].shape[0])
    if n <= m:
        return {c: v[:n] for c, v in table.items()}
    reps = -(-n // m)
    xp = type(table["ra"]).__module__.split(".")[0]
    lib = np if xp == "numpy" else __import__(xp)
    return {c: lib.tile(v, reps)[:n] for c, v in table.items()}


def _models(
    table: Mapping[str, Any], members: int, backend: Backend
) -> tuple[TrainedEnsemble, TrainedModel]:
    raw, _ = features({c: v[:100_000] for c, v in table.items()}, "lmc", FEATURE_NAMES)
    xp = backend.xp
    mean = to_host(xp.nanmean(raw.astype(xp.float64), axis=0))
    scale = to_host(xp.nanstd(raw.astype(xp.float64), axis=0))
    nets = []
    for k in range(members):
        torch.manual_seed(k)
        nets.append(MLP(len(FEATURE_NAMES), HIDDEN).eval())
    device = backend.torch_device
    ens = TrainedEnsemble(StackedMLP(nets).to(device), FEATURE_NAMES, mean, scale, "lmc")
    single = TrainedModel(
        network=nets[0].to(device), features=FEATURE_NAMES, mean=mean, scale=scale, target="lmc"
    )
    return ens, single


def _cpu_seconds(fn: Callable[[], Any]) -> float:
    """Processor time of this process (all threads) spent in one call of ``fn``, s.

    Unlike wall-clock time it does not grow when other processes share the cores, so it is
    the fair measure of the CPU cost on a busy machine.
    """
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def run(
    sizes: Iterable[int] = (1_000_000, 18_000_000),
    backend_name: str = "cpu",
    members: Iterable[int] = (1, 5),
    max_rows: int = 4_000_000,
    repeats: int = 2,
) -> dict[str, Any]:
    """Time ensemble scoring for every (size, K) and the single-network path per size.

    Parameters
    ----------
    sizes : iterable of int
        Numbers of stars to score.
    backend_name : {"cpu", "gpu", "auto"}
    members : iterable of int
        Ensemble sizes K.
    max_rows : int
        Largest number of rows actually scored; bigger sizes are extrapolated linearly.
    repeats : int
        Warm repeats after one cold call.

    Returns
    -------
    dict
        ``backend``, ``batch_rows`` and ``results``: one record per (n, method) with
        ``members`` (K; 1 for ``score_table``), ``method`` (``score_ensemble`` or
        ``score_table``), the measured record of :func:`benchmarks._measure.measure` for
        ``rows_scored`` rows, ``extrapolated_from`` (or None), ``warm_s`` (for n stars) and
        ``cpu_s`` (processor seconds of one warm call, all threads, for n stars),
        ``ratio_to_k1`` and ``cpu_ratio_to_k1`` (over the K = 1 ensemble's at the same n).
    """
    backend = get_backend(backend_name)
    sizes = sorted(set(int(n) for n in sizes))
    members = sorted(set(int(k) for k in members))
    base = _table(min(max_rows, max(sizes)), backend)
    results: list[dict[str, Any]] = []
    for n in sizes:
        rows = min(n, max_rows)
        table = _rows(base, rows)
        scale = n / rows
        calls: list[tuple[str, int, Callable[[], Any]]] = []
        for k in members:
            ens, single = _models(table, k, backend)
            calls.append(("score_ensemble", k, lambda e=ens, t=table: score_ensemble(t, e, BATCH)))
            if k == 1:
                calls.append(("score_table", 1, lambda s=single, t=table: score_table(t, s, BATCH)))
        for method, k, call in calls:
            rec, _ = measure(call, backend, rows, repeats)
            rec["cpu_s"] = _cpu_seconds(call)
            results.append(
                {
                    "n": n,
                    "members": k,
                    "method": method,
                    "rows_scored": rows,
                    "extrapolated_from": rows if rows < n else None,
                    "warm_s": rec["warm_median_s"] * scale,
                    "cpu_s": rec["cpu_s"] * scale,
                    "measured": rec,
                }
            )
    for r in results:
        k1 = next(
            (x for x in results if x["n"] == r["n"] and x["members"] == 1
             and x["method"] == "score_ensemble"),
            None,
        )  # fmt: skip
        r["ratio_to_k1"] = None if k1 is None else r["warm_s"] / k1["warm_s"]
        r["cpu_ratio_to_k1"] = None if k1 is None else r["cpu_s"] / k1["cpu_s"]
    return {
        "backend": backend.name,
        "batch_rows": BATCH,
        "torch_threads": torch.get_num_threads(),
        "results": results,
    }


def main(argv: list[str] | None = None) -> None:
    """Command line: run, print a table, write the JSON record."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_ensemble")
    ap.add_argument("--sizes", default="1e6,1.8e7")
    ap.add_argument("--members", default="1,5")
    ap.add_argument("--max-rows", default="4e6")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    a = ap.parse_args(argv)
    res = run(
        [int(float(s)) for s in a.sizes.split(",")],
        a.backend,
        [int(k) for k in a.members.split(",")],
        int(float(a.max_rows)),
        a.repeats,
    )
    backend = get_backend(a.backend)
    res["environment"] = environment({backend.name: backend})
    for r in res["results"]:
        extra = f" (from {r['extrapolated_from']:,} rows)" if r["extrapolated_from"] else ""
        ratio = (
            ""
            if r["ratio_to_k1"] is None
            else (f"  x{r['ratio_to_k1']:.2f} (wall), x{r['cpu_ratio_to_k1']:.2f} (CPU) of K=1")
        )
        print(
            f"n={r['n']:>11,}  {r['method']:<15} K={r['members']}  "
            f"{r['warm_s']:8.2f} s wall {r['cpu_s']:8.2f} s CPU{extra}{ratio}"
        )
    a.out.mkdir(parents=True, exist_ok=True)
    when = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = a.out / f"ensemble-{socket.gethostname()}-{res['backend']}-{when}.json"
    path.write_text(json.dumps(res, indent=2, default=str))
    print(path)


if __name__ == "__main__":
    main()
