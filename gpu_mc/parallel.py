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
import json
import logging
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import WorkerPlugin

from gpu_mc import __version__
from gpu_mc.backend import Backend, get_backend, to_host
from gpu_mc.config import Config
from gpu_mc.errors import BackendError, GpuMcError, InputError
from gpu_mc.healpix import source_id_to_healpix
from gpu_mc.io.device import load_gaia_table
from gpu_mc.model.checkpoint import TrainedModel, load_model

#: File extensions recognised as partitions of an input directory.
PARTITION_SUFFIXES = (".parquet", ".pq")

#: Scores-file metadata keys that tie an output to its model and input.
MODEL_HASH_KEY = "model_sha256"
INPUT_ROWS_KEY = "input_rows"

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


def list_partitions(directory: str | Path) -> list[Path]:
    """The parquet partitions of a catalogue directory, sorted by name.

    Parameters
    ----------
    directory : str or Path
        Directory holding one parquet file per partition; hidden files (such as the
        temporary files of an interrupted atomic write) are ignored.

    Returns
    -------
    list of Path

    Raises
    ------
    InputError
        The directory does not exist or holds no partition.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"{d}: not a directory of parquet partitions")
    parts = _partition_files(d)
    if not parts:
        raise InputError(f"{d}: no partition files (*.parquet, *.pq) in the directory")
    return parts


def _partition_files(directory: Path) -> list[Path]:
    """Partition files in ``directory`` (possibly none), sorted by name; hidden files ignored."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in PARTITION_SUFFIXES
    )


def healpix_partitions(source_id: np.ndarray, n_parts: int) -> tuple[int, np.ndarray]:
    """Group stars into ``n_parts`` runs of HEALPix pixels of their source_id, balanced by rows.

    The level is the coarsest (0 to 12) at which at least ``n_parts`` pixels hold stars and
    none holds more than a quarter of a partition's share, so that partitions can be balanced.
    The occupied pixels, in NESTED order, are cut into ``n_parts`` consecutive runs with about
    equal numbers of stars, so each partition covers one contiguous range of source_id.

    Parameters
    ----------
    source_id : numpy.ndarray of int64, shape (n,)
        Gaia (or mock) source identifiers.
    n_parts : int
        Number of partitions, at least 1.

    Returns
    -------
    level : int
        HEALPix level of the pixels that were grouped.
    part : numpy.ndarray of int64, shape (n,)
        Partition index, 0 to ``n_parts - 1``, of each star; non-decreasing in source_id.

    Raises
    ------
    InputError
        Fewer occupied level-12 pixels than ``n_parts``.
    """
    if n_parts < 1:
        raise InputError(f"--partitions must be at least 1, got {n_parts}")
    for level in range(13):
        pixels, inverse, counts = np.unique(
            source_id_to_healpix(source_id, level), return_inverse=True, return_counts=True
        )
        if pixels.size >= n_parts and counts.max() * 4 * n_parts <= source_id.size:
            break
    if pixels.size < n_parts:
        raise InputError(
            f"{n_parts} partitions asked for, but the stars occupy only {pixels.size} "
            "HEALPix level-12 pixels"
        )
    cum = np.cumsum(counts)
    lowest = np.arange(1, n_parts)
    # Cut after the pixel that crosses each 1/n_parts quantile of the rows, then keep the cuts
    # strictly increasing within [lowest, n_pixels - n_parts + lowest] so no run is empty.
    target = cum[-1] * lowest / n_parts
    cuts = np.clip(np.searchsorted(cum, target) + 1, lowest, pixels.size - n_parts + lowest)
    cuts = np.maximum.accumulate(cuts - lowest) + lowest
    part_of_pixel = np.zeros(pixels.size, dtype=np.int64)
    part_of_pixel[cuts] = 1
    return level, np.cumsum(part_of_pixel)[inverse]


def write_partitions(
    columns: Mapping[str, np.ndarray],
    out_dir: str | Path,
    n_parts: int,
    *,
    units: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write a table as ``n_parts`` parquet files split by HEALPix pixel of ``source_id``.

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        Columns of one length ``n``, including ``source_id``.
    out_dir : str or Path
        Directory receiving ``part-000.parquet`` … (created when needed). Each file is written
        atomically; rows keep their input order within a file.
    n_parts : int
        Number of files (see :func:`healpix_partitions`).
    units, metadata : mapping of str to str, optional
        As :func:`~gpu_mc.io.writers.write_table`; each file's metadata also gets
        ``healpix_level`` and the first and last pixel it holds.

    Returns
    -------
    list of Path
        The files, in source_id order.

    Raises
    ------
    InputError
        ``out_dir`` is a file or already holds other partition files, or the split is
        impossible.
    """
    from gpu_mc.io.writers import write_table

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory (--partitions writes one)")
    names = [f"part-{i:03d}.parquet" for i in range(n_parts)]
    if out.is_dir():
        stale = sorted(p.name for p in _partition_files(out) if p.name not in names)
        if stale:
            raise InputError(
                f"{out}: already holds other partition files ({', '.join(stale[:3])}); "
                "choose an empty directory"
            )
    sid = np.asarray(columns["source_id"])
    level, part = healpix_partitions(sid, n_parts)
    pixel = source_id_to_healpix(sid, level)
    written = []
    for i, name in enumerate(names):
        rows = np.flatnonzero(part == i)
        meta = {
            **(metadata or {}),
            "healpix_level": str(level),
            "healpix_first": str(int(pixel[rows].min())),
            "healpix_last": str(int(pixel[rows].max())),
        }
        subset = {k: np.asarray(v)[rows] for k, v in columns.items()}
        written.append(write_table(out / name, subset, units=units, metadata=meta))
    return written


def parquet_rows(path: str | Path) -> int:
    """Row count of a parquet file from its footer (no data read).

    Raises
    ------
    InputError
        The file is not readable parquet (truncated, corrupt), naming it.
    """
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None


def output_is_complete(output: str | Path, n_rows: int, model_hash: str) -> bool:
    """Whether a scores file is a finished output of this model for an input of ``n_rows``.

    Parameters
    ----------
    output : str or Path
        Scores file written by :func:`score_partition`.
    n_rows : int
        Rows of the input partition.
    model_hash : str
        :func:`~gpu_mc.model.checkpoint.weights_hash` of the model in use.

    Returns
    -------
    bool
        True when the file is readable parquet with ``n_rows`` rows, ``n_rows`` stored under
        :data:`INPUT_ROWS_KEY` and ``model_hash`` under :data:`MODEL_HASH_KEY`.
    """
    try:
        meta = pq.ParquetFile(output).metadata
        table_meta = meta.metadata or {}
    except (OSError, ValueError):
        return False
    return (
        meta.num_rows == n_rows
        and table_meta.get(MODEL_HASH_KEY.encode()) == model_hash.encode()
        and table_meta.get(INPUT_ROWS_KEY.encode()) == str(n_rows).encode()
    )


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
        self.model_hash = str(model.meta["weights_sha256"])
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
    partition: str, output: str, model_hash: str, cfg: Config, reference: str
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

    Returns
    -------
    int or str
        Rows scored, or the message of a deterministic failure.
    """
    try:
        return _score_partition(partition, output, model_hash, cfg, reference)
    except GpuMcError as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _score_partition(
    partition: str, output: str, model_hash: str, cfg: Config, reference: str
) -> int:
    """:func:`score_partition` without the capture of deterministic failures."""
    from gpu_mc.features import required_inputs
    from gpu_mc.io.writers import write_table
    from gpu_mc.pipeline import SCORE_UNITS, score
    from gpu_mc.progress import Reporter

    if model_hash not in _WORKER_MODELS:
        raise GpuMcError(f"model {model_hash[:12]} is not loaded on this worker")
    model, backend = _WORKER_MODELS[model_hash]
    table = load_gaia_table(partition, backend, required_inputs(model.features))
    n = int(table["ra"].shape[0])
    scores = score(table, model, cfg, Reporter(enabled=False))
    meta = {
        "package": f"gpu_mc {__version__}",
        MODEL_HASH_KEY: model_hash,
        INPUT_ROWS_KEY: str(n),
        "thresholds": json.dumps(model.meta.get("thresholds", {})),
        "input": reference,
    }
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
def _removing_temporaries(out: Path, parts: list[Path]) -> Iterator[None]:
    """On leaving (an interrupt included), delete temporaries of the outputs of ``parts``.

    Workers stopped mid-write, when an interrupt closes the cluster, leave them behind.
    """
    try:
        yield
    finally:
        for p in parts:
            for leftover in out.glob(f".{p.name}.*.tmp"):
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
    parts = list_partitions(input_dir)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: the input is a directory, so --out must be a directory too")
    out.mkdir(parents=True, exist_ok=True)
    plugin = ModelPlugin(model_dir, worker_backend(spec, cfg.run.backend), spec.threads_per_worker)
    result = PartitionedRun()
    todo = []
    for p in parts:
        target = out / p.name
        if resume and output_is_complete(target, parquet_rows(p), plugin.model_hash):
            result.skipped.append(p.name)
        else:
            todo.append(p)
    if not todo:
        return result
    with _removing_temporaries(out, todo), connect(spec) as client:
        result.dashboard = dashboard_address(client)
        con.print(f"dask dashboard: {result.dashboard or 'not served (bokeh is not installed)'}")
        client.register_plugin(plugin)
        start = time.perf_counter()
        run_id = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                score_partition,
                str(p),
                str(out / p.name),
                plugin.model_hash,
                cfg,
                p.name,
                key=f"gpu_mc-score-{run_id}-{p.name}",
                retries=TASK_RETRIES,
                pure=False,
            ): p.name
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
    return result
