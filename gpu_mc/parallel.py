"""Score a partitioned catalogue on a dask cluster: CPU workers, one worker per GPU, or remote.

A partitioned catalogue is a directory of parquet files, one per partition (``gpu-mc simulate
--partitions K`` writes one split by HEALPix pixel of ``source_id``). Each partition is one
task: the worker reads it, scores it with :func:`gpu_mc.pipeline.score` on its own backend and
writes ``OUT/<same name>`` atomically, so a final name never holds a truncated file.

The model travels to each worker once, as the bytes of its safetensors and JSON files inside a
worker plugin; the plugin loads it when the worker starts (a replacement worker started by the
nanny loads it again) and tasks take it from the worker's process. Nothing in the network is
pickled.

Bit-identical results
---------------------
A row's score depends only on that row (the CPU scoring kernel evaluates each star with the
same instruction sequence whatever its neighbours, and the result does not depend on the
thread count), so on the CPU the union of the partitioned outputs equals a single-process
score of the whole table bit for bit. ``tests/parallel`` checks both properties.

Requires :mod:`distributed` (the ``dask`` extra); ``local-cuda`` also needs dask-cuda.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

from gpu_mc.backend import Backend, get_backend, to_host
from gpu_mc.config import Config
from gpu_mc.errors import BackendError, GpuMcError, InputError
from gpu_mc.io.device import load_gaia_table
from gpu_mc.io.hats import is_hats_catalogue
from gpu_mc.io.partitions import (
    INPUT_ROWS_KEY,
    list_partitions,
    output_is_complete,
    parquet_rows,
)
from gpu_mc.model.checkpoint import TrainedModel, load_model

#: Times a partition is retried after an unexpected exception or a lost worker, as dask's
#: ``retries``. A deterministic failure (a :class:`~gpu_mc.errors.GpuMcError` such as a bad
#: column) is returned by the task as its message and never retried.
TASK_RETRIES = 2

#: Cluster kinds besides a ``tcp://host:port`` scheduler address.
LOCAL_CLUSTERS = ("local", "local-cuda")

#: Models loaded in this worker process, by weights hash (filled by :class:`ModelPlugin`).
_WORKER_MODELS: dict[str, tuple[TrainedModel, Backend]] = {}


@dataclass(frozen=True)
class ClusterSpec:
    """Where and how to run partitioned scoring.

    Attributes
    ----------
    address : str
        ``"local"`` (a CPU :class:`distributed.LocalCluster`), ``"local-cuda"`` (a
        :class:`dask_cuda.LocalCUDACluster`, one worker per visible GPU) or the
        ``tcp://host:port`` address of a running scheduler.
    n_workers : int or None
        Workers to start (local clusters). None: ``local`` starts one per CPU core (per
        ``threads_per_worker`` cores) and ``local-cuda`` one per visible GPU.
    threads_per_worker : int
        Task threads per worker, and torch intra-op and Numba threads per worker.
    rmm_pool_size : str or None
        ``local-cuda``: RMM pool per GPU (e.g. ``"20GB"`` or ``"0.8"`` of device memory);
        CuPy and torch allocate from it.
    device_memory_limit : str or None
        ``local-cuda``: device memory use per worker (e.g. ``"30GB"`` or ``"0.8"``) above which
        dask spills task results to host memory.
    """

    address: str = "local"
    n_workers: int | None = None
    threads_per_worker: int = 1
    rmm_pool_size: str | None = None
    device_memory_limit: str | None = None

    def __post_init__(self) -> None:
        if self.address not in LOCAL_CLUSTERS and not self.address.startswith("tcp://"):
            raise GpuMcError(
                f"--cluster {self.address!r}: use local, local-cuda or tcp://host:port"
            )
        if self.n_workers is not None and self.n_workers < 1:
            raise GpuMcError(f"--workers must be at least 1, got {self.n_workers}")
        if self.threads_per_worker < 1:
            raise GpuMcError(
                f"threads per worker must be at least 1, got {self.threads_per_worker}"
            )
        if self.address != "local-cuda" and (self.rmm_pool_size or self.device_memory_limit):
            raise GpuMcError("--rmm-pool-size and --device-memory-limit need --cluster local-cuda")


@dataclass
class PartitionedRun:
    """What :func:`score_partitions` did.

    Attributes
    ----------
    scored : dict of str to int
        Partition file name → rows scored in this run.
    skipped : list of str
        Partitions whose complete output already existed (``resume``).
    failed : dict of str to str
        Partition file name → the error that made it fail after its retries.
    seconds : float
        Wall time of the scoring, s (cluster start excluded).
    dashboard : str or None
        Dashboard address of the scheduler, None where it serves none.
    """

    scored: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    dashboard: str | None = None


# --------------------------------------------------------------------------- partitions


# --------------------------------------------------------------------------- worker side


class ModelPlugin(WorkerPlugin):
    """Worker plugin carrying a saved model's files; loads the model once per worker process.

    Parameters
    ----------
    model_dir : str or Path
        Directory written by :func:`~gpu_mc.model.checkpoint.save_model`.
    backend : str
        Backend name the workers resolve (``"cpu"``, ``"gpu"`` or ``"auto"``).
    torch_threads : int
        torch intra-op and Numba threads set in each worker process.
    """

    name = "gpu_mc-model"

    def __init__(self, model_dir: str | Path, backend: str, torch_threads: int) -> None:
        d = Path(model_dir)
        model = load_model(d)
        self.model_hash = str(model.meta["model_sha256"])
        self.files = {
            str(f.relative_to(d)): f.read_bytes() for f in sorted(d.rglob("*")) if f.is_file()
        }
        self.backend = backend
        self.torch_threads = torch_threads

    def setup(self, worker: Any) -> None:
        """Write the model files under the worker's local directory and load them."""
        import numba
        import torch

        torch.set_num_threads(self.torch_threads)
        numba.set_num_threads(min(self.torch_threads, numba.config.NUMBA_NUM_THREADS))
        backend = get_backend(self.backend)
        d = Path(worker.local_directory) / f"gpu_mc-model-{self.model_hash[:16]}"
        d.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (d / name).parent.mkdir(parents=True, exist_ok=True)
            (d / name).write_bytes(data)
        _WORKER_MODELS[self.model_hash] = (load_model(d, device=backend.torch_device), backend)


def score_partition(
    partition: str,
    output: str,
    model_hash: str,
    cfg: Config,
    reference: str,
    hats_cell: tuple[int, int, Any] | None = None,
) -> int | str:
    """Score one partition on this worker and write its scores file atomically.

    Runs on a dask worker where :class:`ModelPlugin` has loaded the model. A deterministic
    failure (:class:`~gpu_mc.errors.GpuMcError`: a bad column, an unreadable file) is
    returned as its one-line message rather than raised, so dask neither retries the task
    nor logs worker tracebacks for it.

    Parameters
    ----------
    partition : str
        Input parquet file.
    output : str
        Final scores file (parquet); written through a temporary sibling and renamed.
    model_hash : str
        Weights hash of the model to use.
    cfg : Config
        Configuration (``run.score_batch_size``, thresholds).
    reference : str
        Input file name stored in the output's metadata.
    hats_cell : (int, int, Cone), optional
        For a partition of a HATS catalogue: its HEALPix order and pixel and the cone to
        keep. The rows in the cone are scored and written as that pixel of a HATS scores
        catalogue rooted at ``output`` (with ``ra``, ``dec``, ``_healpix_29``), tagged as
        :func:`gpu_mc.score_hats.score_hats` tags them, so either route resumes the other.

    Returns
    -------
    int or str
        Rows scored, or the message of a deterministic failure.
    """
    try:
        if hats_cell is not None:
            return _score_hats_partition(partition, output, model_hash, cfg, reference, hats_cell)
        return _score_partition(partition, output, model_hash, cfg, reference)
    except GpuMcError as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _worker_model(model_hash: str) -> tuple[TrainedModel, Backend]:
    if model_hash not in _WORKER_MODELS:
        raise GpuMcError(f"model {model_hash[:12]} is not loaded on this worker")
    return _WORKER_MODELS[model_hash]


def _score_hats_partition(
    partition: str,
    root: str,
    model_hash: str,
    cfg: Config,
    reference: str,
    hats_cell: tuple[int, int, Any],
) -> int:
    """Score the cone's rows of one HATS partition into pixel (order, pixel) under ``root``."""
    from gpu_mc.features import required_inputs
    from gpu_mc.io import hats as gh
    from gpu_mc.progress import Reporter
    from gpu_mc.score_hats import CONE_ROWS_KEY
    from gpu_mc.scoring import SCORE_UNITS, score, score_metadata

    model, backend = _worker_model(model_hash)
    order, pixel, cone = hats_cell
    part = gh.HatsPartition(order, pixel, Path(partition), Path(partition).name)
    cols = gh.read_gaia_partition(part, cone, required=required_inputs(model.features))
    n = int(cols["source_id"].size)
    if n == 0:
        return 0
    table = {k: backend.xp.asarray(v) for k, v in cols.items()}
    scores = {k: to_host(v) for k, v in score(table, model, cfg, Reporter(enabled=False)).items()}
    scores["ra"], scores["dec"] = cols["ra"], cols["dec"]
    meta = score_metadata(
        model,
        input=reference,
        cone_deg=f"{cone.ra_deg} {cone.dec_deg} {cone.radius_deg}",
        **{INPUT_ROWS_KEY: str(parquet_rows(partition)), CONE_ROWS_KEY: str(n)},
    )
    units = {**SCORE_UNITS, "ra": "deg", "dec": "deg"}
    gh.write_hats_partition(root, order, pixel, scores, units=units, metadata=meta)
    return n


def _score_partition(
    partition: str, output: str, model_hash: str, cfg: Config, reference: str
) -> int:
    """:func:`score_partition` without the capture of deterministic failures."""
    from gpu_mc.features import required_inputs
    from gpu_mc.io.writers import write_table
    from gpu_mc.progress import Reporter
    from gpu_mc.scoring import SCORE_UNITS, score, score_metadata

    model, backend = _worker_model(model_hash)
    table = load_gaia_table(partition, backend, required_inputs(model.features))
    n = int(table["ra"].shape[0])
    scores = score(table, model, cfg, Reporter(enabled=False))
    meta = score_metadata(model, **{INPUT_ROWS_KEY: str(n), "input": reference})
    columns = {k: to_host(v) for k, v in scores.items()}
    write_table(output, columns, units=SCORE_UNITS, metadata=meta)
    return n


# --------------------------------------------------------------------------- client side


@contextlib.contextmanager
def connect(spec: ClusterSpec) -> Iterator[Any]:
    """Start (or connect to) the cluster of ``spec`` and yield a :class:`distributed.Client`.

    Raises
    ------
    BackendError
        ``local-cuda`` without dask-cuda installed.
    GpuMcError
        The scheduler at a ``tcp://`` address cannot be reached.
    """
    from distributed import Client

    # The scheduler of a local cluster runs in this process; keep its chatter (the nanny's
    # shutdown notes, and the closed-connection errors of a cluster closed by an interrupt)
    # off the terminal, where the progress bar is. Failed partitions are reported by us.
    chatty = logging.getLogger("distributed")
    level = chatty.level
    chatty.setLevel(logging.CRITICAL)
    try:
        if spec.address.startswith("tcp://"):
            try:
                client = Client(spec.address, timeout="20s")
            except OSError as exc:
                raise GpuMcError(
                    f"cannot reach the dask scheduler at {spec.address}: {exc}"
                ) from None
            with client:
                yield client
        else:
            with _local_cluster(spec) as cluster, Client(cluster) as client:
                yield client
    finally:
        chatty.setLevel(level)


def _local_cluster(spec: ClusterSpec) -> Any:
    """A new ``local`` (CPU processes) or ``local-cuda`` (one process per GPU) cluster."""
    common = {
        "n_workers": spec.n_workers,
        "threads_per_worker": spec.threads_per_worker,
        "dashboard_address": ":0",
        "silence_logs": logging.ERROR,
    }
    if spec.address == "local":
        from distributed import LocalCluster

        with _workers_ignore_sigint():
            return LocalCluster(processes=True, **common)
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        raise BackendError(
            "--cluster local-cuda needs dask-cuda (pip install dask-cuda), which is not installed"
        ) from None
    if spec.rmm_pool_size is not None:
        common["rmm_pool_size"] = spec.rmm_pool_size
        # dask-cuda >= 24.12 can route CuPy's and torch's allocations through the pool too
        if "rmm_allocator_external_lib_list" in inspect.signature(LocalCUDACluster).parameters:
            common["rmm_allocator_external_lib_list"] = ["cupy", "torch"]
    if spec.device_memory_limit is not None:
        common["device_memory_limit"] = spec.device_memory_limit
    with _workers_ignore_sigint():
        return LocalCUDACluster(**common)


@contextlib.contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Ignore SIGINT while local worker processes start, so that they inherit SIG_IGN.

    A Ctrl-C at a terminal goes to the whole process group; the workers must not print their
    own tracebacks: this process handles it (exit 130) and closes the cluster, which stops
    them. A Ctrl-C during the few seconds of cluster start-up is ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def dashboard_address(client: Any) -> str | None:
    """The scheduler's dashboard URL, or None when it serves none (e.g. bokeh missing)."""
    services = client.scheduler_info().get("services", {})
    return client.dashboard_link if "dashboard" in services else None


def worker_backend(spec: ClusterSpec, requested: str) -> str:
    """Backend the workers resolve: ``auto`` means CPU on ``local`` and GPU on ``local-cuda``."""
    if requested != "auto":
        return requested
    return {"local": "cpu", "local-cuda": "gpu"}.get(spec.address, "auto")


@contextlib.contextmanager
def _removing_temporaries(outputs: list[Path]) -> Iterator[None]:
    """On leaving (an interrupt included), delete the temporaries of ``outputs`` (files).

    Workers stopped mid-write, when an interrupt closes the cluster, leave them behind.
    """
    try:
        yield
    finally:
        for target in outputs:
            if target.parent.is_dir():
                for leftover in target.parent.glob(f".{target.name}.*.tmp"):
                    leftover.unlink(missing_ok=True)


def score_partitions(
    input_dir: str | Path,
    model_dir: str | Path,
    out_dir: str | Path,
    cfg: Config,
    spec: ClusterSpec,
    *,
    resume: bool = False,
    progress: bool = True,
    console: Any = None,
    cone: Any = None,
) -> PartitionedRun:
    """Score every partition of ``input_dir`` on a dask cluster; one scores file per partition.

    Parameters
    ----------
    input_dir : str or Path
        Directory of parquet partitions (see :func:`list_partitions`).
    model_dir : str or Path
        Saved model directory.
    out_dir : str or Path
        Output directory; ``out_dir / name`` receives the scores of partition ``name``.
    cfg : Config
        Configuration; ``run.backend`` picks the workers' backend (see :func:`worker_backend`).
    spec : ClusterSpec
        Cluster to start or connect to.
    resume : bool
        Skip partitions whose output is complete for this model (:func:`output_is_complete`).
    progress : bool
        Draw a progress bar over partitions.
    console : rich.console.Console, optional
        Where to print the dashboard address and draw the bar (default: stderr).
    cone : Cone, optional
        For a HATS catalogue input (:func:`gpu_mc.io.hats.is_hats_catalogue`): the sky region
        to score, default the model's target cone. Only the partitions overlapping it are
        scored, each into the same pixel of a HATS scores catalogue at ``out_dir`` whose
        metadata is written last, when every partition is done.

    Returns
    -------
    PartitionedRun

    Raises
    ------
    GpuMcError
        After every other partition has finished, when some still failed after
        :data:`TASK_RETRIES` retries (or lost their worker too often); the message names them.
    """
    from distributed import as_completed
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    con = console or Console(stderr=True)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: the input is a directory, so --out must be a directory too")
    plugin = ModelPlugin(model_dir, worker_backend(spec, cfg.run.backend), spec.threads_per_worker)
    hats_in = is_hats_catalogue(input_dir)
    cells: dict[str, tuple[int, int, Any]] = {}
    if hats_in:  # the partitions overlapping the cone, chosen before any data is read
        parts, targets, names, cells = _hats_tasks(Path(input_dir), model_dir, out, cone, resume)
    else:
        parts = list_partitions(input_dir)
        targets = {p: out / p.name for p in parts}
        names = {p: p.name for p in parts}
    out.mkdir(parents=True, exist_ok=True)
    result = PartitionedRun()
    todo = []
    for p in parts:
        if resume and _complete(targets[p], p, plugin.model_hash, hats_in):
            result.skipped.append(names[p])
        else:
            todo.append(p)
    if not todo:
        if hats_in:
            _finish_scores_catalogue(out, Path(input_dir), plugin.model_hash)
        return result
    with _removing_temporaries([targets[p] for p in todo]), connect(spec) as client:
        result.dashboard = dashboard_address(client)
        con.print(f"dask dashboard: {result.dashboard or 'not served (bokeh is not installed)'}")
        client.register_plugin(plugin)
        start = time.perf_counter()
        run_id = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                score_partition,
                str(p),
                str(out if hats_in else targets[p]),
                plugin.model_hash,
                cfg,
                str(input_dir) if hats_in else p.name,
                cells.get(names[p]),
                key=f"gpu_mc-score-{run_id}-{names[p]}",
                retries=TASK_RETRIES,
                pure=False,
            ): names[p]
            for p in todo
        }
        columns = [TextColumn("[bold]score partitions"), BarColumn(), MofNCompleteColumn()]
        with Progress(*columns, TimeElapsedColumn(), console=con, disable=not progress) as bar:
            task = bar.add_task("partitions", total=len(futures))
            for fut in as_completed(futures):
                name = futures[fut]
                try:
                    done = fut.result()
                except Exception as exc:
                    done = f"{type(exc).__name__}: {exc}".splitlines()[0]
                if isinstance(done, str):
                    result.failed[name] = done
                else:
                    result.scored[name] = done
                bar.advance(task)
        result.seconds = time.perf_counter() - start
    if result.failed:
        listing = "; ".join(f"{k} ({v})" for k, v in sorted(result.failed.items()))
        raise GpuMcError(
            f"{len(result.failed)} of {len(parts)} partitions failed and have no output: {listing}"
        )
    if hats_in:
        _finish_scores_catalogue(out, Path(input_dir), plugin.model_hash)
    return result


def _hats_tasks(
    root: Path, model_dir: str | Path, out: Path, cone: Any, resume: bool
) -> tuple[list[Path], dict[Path, Path], dict[Path, str], dict[str, tuple[int, int, Any]]]:
    """Partitions of a HATS input within the cone (default: the model's target cone), their
    output files, names and (order, pixel, cone) cells; checks the output directory."""
    from gpu_mc.features import required_inputs
    from gpu_mc.io import hats as gh
    from gpu_mc.score_hats import check_output_catalogue, target_cone

    model = load_model(model_dir)
    cone = cone or target_cone(model)
    gh.require_columns(root, ["source_id", "ra", "dec", *required_inputs(model.features)])
    hp = gh.hats_partitions(root, cone)
    if not hp:
        raise InputError(f"{root}: no partition of the HATS catalogue overlaps the cone {cone}")
    check_output_catalogue(out, {p.name for p in hp}, resume)
    parts = [p.path for p in hp]
    targets = {p.path: gh.hats_output_file(out, p.order, p.pixel) for p in hp}
    names = {p.path: p.name for p in hp}
    cells = {p.name: (p.order, p.pixel, cone) for p in hp}
    return parts, targets, names, cells


def _complete(target: Path, partition: Path, model_hash: str, hats_in: bool) -> bool:
    """Whether ``target`` holds the finished scores of ``partition`` for this model."""
    if not hats_in:
        return output_is_complete(target, parquet_rows(partition), model_hash)
    from gpu_mc.score_hats import is_complete

    return is_complete(target, parquet_rows(partition), model_hash)


def _finish_scores_catalogue(out: Path, input_dir: Path, model_hash: str) -> None:
    """Write the HATS metadata of a scores catalogue, last, once every partition is done."""
    from gpu_mc.score_hats import finish_scores_catalogue

    if not any(out.glob("dataset/Norder=*/Dir=*/Npix=*.parquet")):
        raise InputError(f"{input_dir}: no star within the cone")
    finish_scores_catalogue(out, input_dir, model_hash)
