"""The benchmark suite: every stage and the whole pass, per size and backend, into one JSON."""

from __future__ import annotations

import copy
import datetime as dt
import gc
import importlib
import importlib.util
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from benchmarks import baselines
from benchmarks._data import INPUT_BYTES_PER_STAR, ROW_GROUP, make_inputs, read_labels
from benchmarks._env import environment
from benchmarks._measure import measure
from benchmarks.stages import (
    feature_stage,
    load_columns,
    score_stage,
    threshold_stage,
    train_stage,
    whole_pass,
)
from gpu_mc.backend import Backend, get_backend, gpu_problem, to_host
from gpu_mc.config import PRECISIONS, Config
from gpu_mc.errors import BackendError
from gpu_mc.features import features
from gpu_mc.io.schema import FEATURE_INPUTS, GAIA_COLUMNS, REQUIRED_COLUMNS
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.network import CPU_TILE
from gpu_mc.model.score import score_table
from gpu_mc.pipeline import pick_thresholds
from gpu_mc.sample import TRAIN, TrainingSet, build_training_set
from gpu_mc.sky import expected_mw_fraction, simulate_milky_way

#: Version of the JSON layout (see benchmarks/README.md).
SCHEMA = "gpu_mc-bench/1"
DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000, 18_000_000)
#: Rows of the observed sky the fixed-size training set is built from, and its epochs.
TRAIN_SKY_ROWS = 200_000
TRAIN_EPOCHS = 2
#: Largest size at which the scikit-learn scoring baseline runs (it is slow above).
SKLEARN_MAX = 1_000_000
#: Largest size at which the cross-match benchmark (with its astropy baseline) runs.
CROSSMATCH_MAX = 1_000_000
#: Stars in the dask scaling benchmark.
SCALING_STARS = 2_000_000
#: Largest size at which torch.compile is compared with the eager forward pass on the CPU
#: (on the GPU: the largest size).
CPU_COMPILE_MAX = 1_000_000
#: Issue 4's targets, checked against this run's numbers.
CPU_SCORE_TARGET_STARS_PER_S = 5e6
#: A reduced matrix precision is kept only within this max |Δp| of fp32 (issue 4).
PRECISION_TOLERANCE = 1e-4
CPU_PASS_PEAK_TARGET_BYTES = 6 * 2**30
GPU_SCORE_TARGET_STARS_PER_S = 1e9
GPU_PASS_TARGET_S = 0.5
GPU_CPU_SCORE_TARGET_RATIO = 50.0
#: Bytes per star the feature stage reads (the 12 feature-input columns).
FEATURE_BYTES_PER_STAR = sum(GAIA_COLUMNS[c][0].itemsize for c in FEATURE_INPUTS)
#: Bytes per star the threshold stage reads: P(MC) float32, label int8, G float32.
THRESHOLD_BYTES_PER_STAR = 4 + 1 + 4

Log = Callable[[str], None]


def parse_sizes(text: str) -> list[int]:
    """Parse a comma-separated list of sizes such as ``"1e5,1e6,1.8e7"``."""
    sizes = []
    for part in text.split(","):
        value = float(part.strip())
        if value < 1 or value != int(value):
            raise ValueError(f"size {part.strip()!r} is not a positive whole number")
        sizes.append(int(value))
    return sorted(set(sizes))


def resolve_backends(name: str) -> dict[str, Backend]:
    """The CPU backend always, plus the GPU for ``"gpu"`` (required) or ``"auto"`` (if usable)."""
    out = {"cpu": get_backend("cpu")}
    if name == "gpu" or (name == "auto" and gpu_problem() is None):
        out["gpu"] = get_backend("gpu")
    elif name not in ("auto", "cpu"):
        raise BackendError(f"unknown backend {name!r}; choose one of auto, cpu, gpu")
    return out


def warm_repeats(n: int, quick: bool) -> int:
    """Warm calls per stage: fewer at large sizes so the CPU suite fits in 15 minutes."""
    if quick:
        return 1
    if n <= 1_000_000:
        return 5
    return 3 if n <= 10_000_000 else 2


def baseline_repeats(n: int, quick: bool) -> int:
    """Timed calls per baseline (after a small warm-up)."""
    return 1 if quick or n > 1_000_000 else 3


def _training_set(path: Path, rows: int, cfg: Config) -> TrainingSet:
    """Fixed-size training set: MC class from the first ``rows`` stars, MW from a simulation."""
    pfile = pq.ParquetFile(path)
    groups = list(range(min(pfile.num_row_groups, -(-rows // ROW_GROUP))))
    part = pfile.read_row_groups(groups, columns=list(REQUIRED_COLUMNS)).slice(0, rows)
    sky = {c: part.column(c).to_numpy() for c in REQUIRED_COLUMNS}
    n_mw = max(1000, round(rows * expected_mw_fraction(cfg.sky)))
    mw = simulate_milky_way(cfg.sky, n_mw, cfg.sky.seed + 1)
    return build_training_set(sky, mw, "lmc", cfg.sample)


def _on_device(ts: TrainingSet, backend: Backend) -> TrainingSet:
    xp = backend.xp
    table = {k: xp.asarray(v) for k, v in ts.table.items()}
    return TrainingSet(table, xp.asarray(ts.labels), xp.asarray(ts.codes), ts.keep_prob)


def _set_thresholds(model: TrainedModel, ts: TrainingSet, cfg: Config) -> None:
    """Thresholds from the test part of the training set, as the pipeline picks them."""
    pick_thresholds(model, ts, cfg.thresholds)


def _ratio(baseline: dict[str, Any] | None, ours: dict[str, Any]) -> float | None:
    """Baseline warm median over ours: above 1 means ours is faster."""
    if not baseline or "warm_median_s" not in baseline or not ours["warm_median_s"]:
        return None
    return baseline["warm_median_s"] / ours["warm_median_s"]


def _max_abs(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(to_host(a), np.float64) - np.asarray(b, np.float64))))


def _cpu_baselines(
    path: Path, n: int, model: TrainedModel, labels: np.ndarray, p_ours: np.ndarray, quick: bool
) -> tuple[dict[str, Any], dict[str, float]]:
    """Time the plain baselines at one size; return records and max |Δp| against ours."""
    cpu = get_backend("cpu")
    reps = baseline_repeats(n, quick)
    host, _ = measure(
        lambda: baselines.load_pyarrow(path), cpu, n, reps, n * INPUT_BYTES_PER_STAR, cold=False
    )
    table = baselines.load_pyarrow(path)
    small = {k: v[:1000] for k, v in table.items()}
    baselines.torch_plain_score(small, model)
    out: dict[str, Any] = {"load_pyarrow": host}
    out["features_numpy"], _ = measure(
        lambda: baselines.numpy_features(table, model),
        cpu,
        n,
        reps,
        n * FEATURE_BYTES_PER_STAR,
        cold=False,
    )
    out["score_torch_plain"], p_torch = measure(
        lambda: baselines.torch_plain_score(table, model),
        cpu,
        n,
        reps,
        n * FEATURE_BYTES_PER_STAR,
        cold=False,
    )
    checks = {"max_abs_dp_vs_torch_plain": _max_abs(p_ours, p_torch)}
    if n <= SKLEARN_MAX:
        clf = baselines.sklearn_classifier(model)
        baselines.sklearn_score(small, model, clf)
        out["score_sklearn"], p_sk = measure(
            lambda: baselines.sklearn_score(table, model, clf),
            cpu,
            n,
            reps,
            n * FEATURE_BYTES_PER_STAR,
            cold=False,
        )
        checks["max_abs_dp_vs_sklearn"] = _max_abs(p_ours, p_sk)
    else:
        out["score_sklearn"] = {
            "skipped": f"n > {SKLEARN_MAX:,}: predict_proba is too slow for the 15-minute "
            "CPU budget"
        }
    out["thresholds_sklearn"], _ = measure(
        lambda: baselines.sklearn_thresholds(labels, p_ours),
        cpu,
        n,
        reps,
        n * THRESHOLD_BYTES_PER_STAR,
        cold=False,
    )
    return out, checks


def _stage_ratios(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    return {
        "load_vs_pyarrow": _ratio(base.get("load_pyarrow"), ours["load"]),
        "features_vs_numpy": _ratio(base.get("features_numpy"), ours["features"]),
        "score_vs_torch_plain": _ratio(base.get("score_torch_plain"), ours["score"]),
        "score_vs_sklearn": _ratio(base.get("score_sklearn"), ours["score"]),
        "thresholds_vs_sklearn": _ratio(base.get("thresholds_sklearn"), ours["thresholds"]),
    }


def _our_stages(
    be: Backend, n: int, path: Path, label: np.ndarray, model: TrainedModel, cfg: Config, reps: int
) -> tuple[dict[str, Any], np.ndarray]:
    """Load, features, score and thresholds at one size; returns records and P(MC) (host)."""
    stages: dict[str, Any] = {}
    stages["load"], table = measure(
        lambda: load_columns(path, be), be, n, reps, n * INPUT_BYTES_PER_STAR
    )
    stages["features"], _ = measure(
        lambda: feature_stage(table, model), be, n, reps, n * FEATURE_BYTES_PER_STAR
    )
    batch = cfg.run.score_batch_size
    stages["score"], p = measure(
        lambda: score_stage(table, model, batch), be, n, reps, n * FEATURE_BYTES_PER_STAR
    )
    y = be.xp.asarray(label == 1)
    g = table["phot_g_mean_mag"]
    stages["thresholds"], _ = measure(
        lambda: threshold_stage(y, p, g, cfg.thresholds),
        be,
        n,
        reps,
        n * THRESHOLD_BYTES_PER_STAR,
    )
    return stages, to_host(p)


def _precision_modes(
    be: Backend, path: Path, model: TrainedModel, cfg: Config, reps: int
) -> dict[str, Any]:
    """Score stage in each matrix precision; a mode is worth keeping only if it is faster
    than fp32 and its max |Δp| against fp32 stays within ``PRECISION_TOLERANCE``."""
    table = load_columns(path, be)
    n = int(table["ra"].shape[0])
    batch = cfg.run.score_batch_size
    out: dict[str, Any] = {}
    reference = None
    for mode in PRECISIONS:
        record, p = measure(
            lambda mode=mode: score_table(table, model, batch, None, mode)[0],
            be,
            n,
            reps,
            n * FEATURE_BYTES_PER_STAR,
        )
        reference = to_host(p) if reference is None else reference
        record["max_abs_dp_vs_fp32"] = _max_abs(to_host(p), reference)
        out[mode] = record
    fp32 = out["fp32"]["warm_median_s"]
    for record in out.values():
        record["keep"] = bool(
            record["warm_median_s"] < fp32 and record["max_abs_dp_vs_fp32"] <= PRECISION_TOLERANCE
        )
    return out


def _compile_vs_eager(be: Backend, model: TrainedModel, n: int, batch: int, reps: int) -> Any:
    """``torch.compile`` against the eager forward pass the score stage runs, the MLP alone
    on the same standardised inputs: on the CPU the tiled forward (tiles of CPU_TILE stars),
    on the GPU one call per batch. A compiled network would be kept only if faster warm and
    within PRECISION_TOLERANCE of the eager scores; ``cold_s`` includes the compilation."""
    import torch

    net = model.network
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, net.n_inputs, generator=gen).to(be.torch_device)
    out = torch.empty(n, device=be.torch_device)
    step = batch if be.is_gpu else CPU_TILE

    def forward(module: Any) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                for s in range(0, n, step):
                    out[s : s + step] = torch.sigmoid(module(x[s : s + step]))

        return run

    eager = forward(net) if be.is_gpu else partial(net.cpu_forward(), x, out)
    record_eager, _ = measure(eager, be, n, reps)
    p_eager = out.clone()
    try:
        record_compiled, _ = measure(forward(torch.compile(net)), be, n, reps)
    except Exception as exc:  # no C++ compiler, or no inductor support here
        return {"skipped": f"torch.compile failed: {type(exc).__name__}: {exc}"[:300]}
    dp = float((out - p_eager).abs().max())
    record_compiled["max_abs_dp_vs_eager"] = dp
    record_compiled["keep"] = bool(
        record_compiled["warm_median_s"] < record_eager["warm_median_s"]
        and dp <= PRECISION_TOLERANCE
    )
    return {"eager": record_eager, "compiled": record_compiled, "torch": torch.__version__}


def _run_backend(
    be: Backend,
    paths: dict[int, Path],
    labels: dict[int, np.ndarray],
    model: TrainedModel,
    cfg: Config,
    workdir: Path,
    quick: bool,
    log: Log,
) -> tuple[dict[str, Any], dict[int, np.ndarray]]:
    """All sizes on one backend; returns its results and the scores per size (host)."""
    result: dict[str, Any] = {"sizes": {}, "baselines": {}, "ratios": {}, "checks": {}}
    scores: dict[int, np.ndarray] = {}
    for n, path in paths.items():
        reps = warm_repeats(n, quick)
        log(f"[{be.name}] n={n:,}: load, features, score, thresholds, pass ({reps} warm repeats)")
        stages, scores[n] = _our_stages(be, n, path, labels[n], model, cfg, reps)
        gc.collect()
        out = workdir / f"scores_{be.name}_{n}.parquet"
        stages["pass"], _ = measure(
            partial(whole_pass, path, model, be, out, cfg), be, n, reps, n * INPUT_BYTES_PER_STAR
        )
        result["sizes"][str(n)] = stages
        if be.is_gpu and n == max(paths):
            log(f"[gpu] n={n:,}: score precision fp32 / tf32 / bf16")
            result["precision"] = _precision_modes(be, path, model, cfg, reps)
        small = [m for m in paths if m <= CPU_COMPILE_MAX]
        compile_n = max(paths) if be.is_gpu or not small else max(small)
        if n == compile_n:
            log(f"[{be.name}] n={n:,}: torch.compile against the eager forward pass")
            batch = cfg.run.score_batch_size
            result["compile"] = _compile_vs_eager(be, model, n, batch, reps)
        if not be.is_gpu:
            log(f"[cpu] n={n:,}: baselines")
            base, checks = _cpu_baselines(path, n, model, labels[n], scores[n], quick)
            result["baselines"][str(n)] = base
            result["ratios"][str(n)] = _stage_ratios(stages, base)
            result["checks"][str(n)] = checks
        gc.collect()
    return result, scores


def _train(
    be: Backend, ts: TrainingSet, cfg: Config, quick: bool
) -> tuple[dict[str, Any], TrainedModel]:
    ts_dev = _on_device(ts, be)
    rows = int(np.count_nonzero(ts.codes == TRAIN))
    record, model = measure(
        lambda: train_stage(ts_dev, cfg.features.names, cfg.train, TRAIN_EPOCHS, be.torch_device),
        be,
        rows,
        1 if quick else 2,
    )
    record["epochs"] = TRAIN_EPOCHS
    return record, model


def _train_baseline(
    ts: TrainingSet, model: TrainedModel, cfg: Config, quick: bool
) -> dict[str, Any]:
    rows = ts.codes == TRAIN
    x, flags = features(
        {k: v[rows] for k, v in ts.table.items()},
        model.target,
        model.features,
        model.mean,
        model.scale,
    )
    ok = flags == 0
    x, y = x[ok], ts.labels[rows][ok]
    record, _ = measure(
        lambda: baselines.torch_plain_train(x, y, cfg.train, TRAIN_EPOCHS),
        get_backend("cpu"),
        int(x.shape[0]),
        1 if quick else 2,
        cold=False,
    )
    return record


def _crossmatch(
    sizes: list[int], backends: dict[str, Backend], quick: bool, log: Log
) -> dict[str, Any]:
    """Run ``benchmarks.bench_crossmatch`` when present: positional matches n × n for n up to
    CROSSMATCH_MAX, and source_id joins of every size against up to CROSSMATCH_MAX rows (the
    18M × 1M join of issue 5)."""
    if importlib.util.find_spec("benchmarks.bench_crossmatch") is None:
        return {"skipped": "benchmarks/bench_crossmatch.py is not present"}
    pairs = [(n, n) for n in sizes if n <= CROSSMATCH_MAX]
    if not pairs:
        return {"skipped": f"no size ≤ {CROSSMATCH_MAX:,}"}
    mod = importlib.import_module("benchmarks.bench_crossmatch")
    reps = 1 if quick else 3
    out = {}
    for name in backends:
        log(f"[{name}] positional cross-match at {[p[0] for p in pairs]}")
        res = mod.run(pairs, name, repeats=reps, kinds=("position",))
        joins = [(n, min(n, CROSSMATCH_MAX)) for n in sizes]
        log(f"[{name}] source_id join at {joins}")
        res["results"] += mod.run(joins, name, repeats=reps, kinds=("join",))["results"]
        out[name] = res
    return out


def _scaling(sizes: list[int], quick: bool, log: Log) -> dict[str, Any]:
    """Partitioned scoring on 1 and 2 CPU dask workers (issue 6), when dask is installed."""
    if importlib.util.find_spec("distributed") is None:
        return {"skipped": "dask.distributed is not installed"}
    n = min(max(sizes), SCALING_STARS // (10 if quick else 1))
    log(f"[cpu] scaling 1 -> 2 dask workers at {n:,} stars")
    return importlib.import_module("benchmarks.bench_scaling").run(n, (1, 2))


def _ensemble(sizes: list[int], quick: bool, log: Log) -> dict[str, Any]:
    """Scoring cost of the K = 5 ensemble against K = 1 and one plain network on the CPU
    (``benchmarks.bench_ensemble``, issue 16); sizes above 4M stars are extrapolated."""
    log("[cpu] ensemble scoring: K = 1 and K = 5")
    from benchmarks import bench_ensemble

    return bench_ensemble.run(sizes, "cpu", (1, 5), repeats=1 if quick else 2)


def _targets(results: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    """Issue 4's targets, each with the measured figure at the largest size and ``met``."""
    n = str(max(sizes))
    cpu = results["cpu"]
    score = cpu["sizes"][n]["score"]
    ratios = cpu["ratios"][n]
    ratios_1e6 = next(
        (
            cpu["ratios"][k]
            for k in sorted(cpu["ratios"], key=int, reverse=True)
            if cpu["ratios"][k]["score_vs_sklearn"]
        ),
        {},
    )
    out: dict[str, Any] = {"at_n": int(n)}

    def target(name: str, measured: float | None, goal: float, above: bool = True) -> None:
        met = None if measured is None else (measured >= goal if above else measured <= goal)
        out[name] = {"target": goal, "measured": measured, "met": met}

    target("cpu_score_stars_per_s", score["stars_per_s"], CPU_SCORE_TARGET_STARS_PER_S)
    target("cpu_score_vs_torch_plain", ratios["score_vs_torch_plain"], 2.0)
    target("cpu_score_vs_sklearn", ratios_1e6.get("score_vs_sklearn"), 3.0)
    target(
        "cpu_pass_peak_rss_bytes",
        cpu["sizes"][n]["pass"]["peak_rss_bytes"],
        CPU_PASS_PEAK_TARGET_BYTES,
        above=False,
    )
    if "gpu" in results:
        gpu = results["gpu"]["sizes"][n]
        target("gpu_score_stars_per_s", gpu["score"]["stars_per_s"], GPU_SCORE_TARGET_STARS_PER_S)
        target("gpu_pass_warm_s", gpu["pass"]["warm_median_s"], GPU_PASS_TARGET_S, above=False)
        target(
            "gpu_vs_cpu_score",
            _ratio(cpu["sizes"][n]["score"], gpu["score"]),
            GPU_CPU_SCORE_TARGET_RATIO,
        )
    return out


def result_path(out_dir: Path, host: str, backends: list[str], when: dt.datetime) -> Path:
    """``<out_dir>/<YYYY-mm-ddTHHMMSS>_<host>_<backends>.json``."""
    safe_host = re.sub(r"[^A-Za-z0-9.-]+", "-", host) or "host"
    return out_dir / f"{when:%Y-%m-%dT%H%M%S}_{safe_host}_{'+'.join(backends)}.json"


def run_suite(
    sizes: list[int],
    backend: str = "auto",
    out_dir: Path = Path("benchmarks/results"),
    quick: bool = False,
    log: Log = print,
) -> Path:
    """Run every stage and the whole pass at each size on each backend; write the JSON.

    Parameters
    ----------
    sizes : list of int
        Numbers of stars.
    backend : {"auto", "cpu", "gpu"}
        The CPU always runs; ``"auto"`` adds the GPU when usable, ``"gpu"`` demands it.
    out_dir : Path
        Directory of the result files.
    quick : bool
        One warm repeat everywhere and a smaller training set (for smoke tests).
    log : callable
        Progress lines.

    Returns
    -------
    Path
        The JSON file written.
    """
    started = dt.datetime.now(dt.UTC)
    t_start = time.perf_counter()
    backends = resolve_backends(backend)
    cfg = Config()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gpu_mc_bench_") as tmp:
        workdir = Path(tmp)
        log(f"simulating a {max(sizes):,}-star mock sky into {workdir}")
        t0 = time.perf_counter()
        paths = make_inputs(sizes, workdir)
        input_s = time.perf_counter() - t0
        labels = {n: read_labels(p) for n, p in paths.items()}
        ts = _training_set(
            paths[max(sizes)], min(max(sizes), TRAIN_SKY_ROWS // (10 if quick else 1)), cfg
        )
        results: dict[str, Any] = {}
        scores: dict[str, dict[int, np.ndarray]] = {}
        model_cpu: TrainedModel | None = None
        for name, be in backends.items():
            log(f"[{name}] train: {TRAIN_EPOCHS} epochs")
            train_rec, model = _train(be, ts, cfg, quick)
            if model_cpu is None:
                model_cpu = model
            model = copy.deepcopy(model_cpu).to(be.torch_device)
            _set_thresholds(model, _on_device(ts, be), cfg)
            results[name], scores[name] = _run_backend(
                be, paths, labels, model, cfg, workdir, quick, log
            )
            results[name]["train"] = train_rec
            if name == "cpu":
                log("[cpu] train baseline")
                results["cpu"]["train_baseline"] = _train_baseline(ts, model, cfg, quick)
                results["cpu"]["train_vs_torch_dataloader"] = _ratio(
                    results["cpu"]["train_baseline"], train_rec
                )
        crossmatch = _crossmatch(sizes, backends, quick, log)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "created_utc": started.isoformat(timespec="seconds"),
        "backends": list(backends),
        "environment": environment(backends),
        "settings": {
            "sizes": sizes,
            "quick": quick,
            "warm_repeats": {str(n): warm_repeats(n, quick) for n in sizes},
            "baseline_repeats": {str(n): baseline_repeats(n, quick) for n in sizes},
            "score_batch_size": cfg.run.score_batch_size,
            "train_epochs": TRAIN_EPOCHS,
            "train_rows": results["cpu"]["train"]["n"],
            "input_bytes_per_star": INPUT_BYTES_PER_STAR,
            "sklearn_max": SKLEARN_MAX,
            "load_route": {
                name: be.capabilities.get("load_route", "pyarrow (host)")
                for name, be in backends.items()
            },
            "precision_tolerance": PRECISION_TOLERANCE,
        },
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
        "results": results,
        "targets": _targets(results, sizes),
        "crossmatch": crossmatch,
        "scaling": _scaling(sizes, quick, log),
        "ensemble": _ensemble(sizes, quick, log),
        "input_generation_s": input_s,
        "suite_wall_s": time.perf_counter() - t_start,
    }
    if "gpu" in results:
        doc["gpu_vs_cpu"] = {
            str(n): {
                stage: _ratio(
                    results["cpu"]["sizes"][str(n)][stage], results["gpu"]["sizes"][str(n)][stage]
                )
                for stage in ("load", "features", "score", "thresholds", "pass")
            }
            | {"max_abs_dp": _max_abs(scores["gpu"][n], scores["cpu"][n])}
            for n in sizes
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = result_path(out_dir, doc["environment"]["host"], list(backends), started)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
