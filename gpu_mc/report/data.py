"""Loading a run directory for the report: metrics, scores and (optionally) the star table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_mc.errors import GpuMcError, InputError
from gpu_mc.io.schema import REQUIRED_COLUMNS, TRUTH_COLUMNS
from gpu_mc.thresholds import SAMPLE_NAMES

#: Keys of ``metrics.json`` the report cannot do without.
REQUIRED_METRICS: tuple[str, ...] = (
    "cloud",
    "n_input",
    "roc_auc",
    "pr_auc",
    "thresholds",
    "samples",
    "curves",
)

#: Columns of ``scores.parquet`` the report reads.
SCORE_COLUMNS: tuple[str, ...] = ("source_id", "p_mc", *(f"in_{k}" for k in SAMPLE_NAMES))


@dataclass
class RunData:
    """Everything the report draws from, on the host.

    Attributes
    ----------
    run_dir : Path
        The run directory.
    metrics : dict
        Content of ``metrics.json``.
    scores : dict of str to numpy.ndarray
        :data:`SCORE_COLUMNS`, each shape (n,).
    stars : dict of str to numpy.ndarray or None
        Gaia columns (and truth columns where present) of the scored stars, each shape (n,),
        in the row order of ``scores``; None when no star table is available.
    stars_source : str
        Where ``stars`` came from, or why it is absent (for the page).
    """

    run_dir: Path
    metrics: dict[str, Any]
    scores: dict[str, np.ndarray]
    stars: dict[str, np.ndarray] | None
    stars_source: str

    @property
    def has_truth(self) -> bool:
        """Whether the star table holds the mock truth column ``true_class``."""
        return self.stars is not None and "true_class" in self.stars


def _read_metrics(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"{path}: no such file; is this a gpu-mc run directory?")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(metrics, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(metrics).__name__}")
    missing = [k for k in REQUIRED_METRICS if k not in metrics]
    if missing:
        raise InputError(f"{path}: lacks the key(s) {', '.join(missing)}")
    return metrics


def _read_scores(path: Path) -> dict[str, np.ndarray]:
    from gpu_mc.io.readers import read_table

    if not path.is_file():
        raise InputError(f"{path}: no such file; is this a gpu-mc run directory?")
    import pyarrow.parquet as pq

    try:
        optional = [c for c in ("p_mc_std",) if c in pq.read_schema(path).names]
    except (OSError, ValueError):
        optional = []
    scores = read_table(path, columns=(*SCORE_COLUMNS, *optional))
    if scores["p_mc"].size == 0:
        raise InputError(f"{path}: the table has no rows")
    return scores


def _align(stars: dict[str, np.ndarray], source_id: np.ndarray, path: Path) -> dict[str, Any]:
    """Reorder ``stars`` rows to follow ``source_id``; InputError if any star is missing."""
    sid = stars["source_id"]
    if sid.shape == source_id.shape and np.array_equal(sid, source_id):
        return stars
    order = np.argsort(sid, kind="stable")
    pos = np.searchsorted(sid, source_id, sorter=order).clip(0, sid.size - 1)
    idx = order[pos]
    found = sid[idx] == source_id
    if not found.all():
        raise InputError(
            f"{path}: {int((~found).sum())} scored source_id(s) are not in this table "
            f"(e.g. {int(source_id[~found][0])}); it is not the run's input"
        )
    return {k: v[idx] for k, v in stars.items()}


def _read_stars(path: Path, source_id: np.ndarray) -> dict[str, np.ndarray]:
    from gpu_mc.io.readers import read_table

    optional = ("radial_velocity", *TRUTH_COLUMNS)
    stars = read_table(path, columns=REQUIRED_COLUMNS, optional=optional)
    return _align(stars, source_id, path)


def load_run(run_dir: Path, input_table: Path | None = None) -> RunData:
    """Read a run directory written by ``gpu-mc run``.

    Parameters
    ----------
    run_dir : Path
        Holds ``metrics.json`` and ``scores.parquet``; ``sky.parquet`` is used when present.
    input_table : Path, optional
        The run's input Gaia table (any format :func:`gpu_mc.io.readers.read_table` reads);
        overrides ``sky.parquet``. Rows are matched to the scores by ``source_id``.

    Returns
    -------
    RunData

    Raises
    ------
    InputError
        The directory, ``metrics.json`` or ``scores.parquet`` is missing or corrupt; the star
        table is unreadable, lacks Gaia columns, or does not hold every scored star.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    metrics = _read_metrics(run_dir / "metrics.json")
    try:
        scores = _read_scores(run_dir / "scores.parquet")
    except GpuMcError as exc:
        raise InputError(str(exc)) from exc
    n_scored = metrics.get("n_scored")
    if n_scored is not None and n_scored != scores["p_mc"].size:
        raise InputError(
            f"{run_dir / 'scores.parquet'}: {scores['p_mc'].size} rows but metrics.json "
            f"says n_scored = {n_scored}"
        )
    path = input_table if input_table is not None else run_dir / "sky.parquet"
    if input_table is None and not path.is_file():
        recorded = metrics.get("input")
        if isinstance(recorded, dict) and recorded.get("kind"):
            stars, source = recorded_stars(metrics)
            stars = _align(stars, scores["source_id"], run_dir)
            return RunData(run_dir, metrics, scores, stars, source)
        return RunData(
            run_dir, metrics, scores, None, "no sky.parquet in the run directory and no input table"
        )
    stars = _read_stars(Path(path), scores["source_id"])
    return RunData(run_dir, metrics, scores, stars, str(path))


def run_config(metrics: dict[str, Any]) -> Any:
    """The :class:`~gpu_mc.config.Config` a run recorded in ``metrics.json``."""
    from gpu_mc.config import config_from_dict
    from gpu_mc.errors import ConfigError

    data = {k: dict(v) for k, v in metrics.get("config", {}).items()}
    cloud = data.get("sky", {}).get("cloud")
    if isinstance(cloud, dict):  # a target given as a table: record it as [target]
        data["target"] = cloud
        data["sky"]["cloud"] = cloud["name"]
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise InputError(f"metrics.json: the recorded configuration is not usable ({exc})") from exc


def recorded_stars(metrics: dict[str, Any]) -> tuple[dict[str, np.ndarray], str]:
    """The stars of a run, from what ``metrics.json["input"]`` records.

    A mock run's sky is simulated again from the recorded configuration (same seed, same
    stars, truth included); a run on an input re-reads it after checking its SHA-256.

    Returns
    -------
    stars : dict of str to numpy.ndarray
        Gaia columns (and truth columns for the mock), shape (n,) each.
    source : str
        Where they came from, for the page.

    Raises
    ------
    InputError
        The configuration cannot be rebuilt, or the input is gone or changed.
    """
    record = metrics["input"]
    cfg = run_config(metrics)
    if record["kind"] == "mock":
        from gpu_mc.sky import simulate_sky

        sky = simulate_sky(cfg.sky)
        keep = (*REQUIRED_COLUMNS, "radial_velocity", *TRUTH_COLUMNS)
        stars = {k: np.asarray(v) for k, v in sky.items() if k in keep}
        return stars, (
            f"mock sky simulated again from the recorded configuration "
            f"({cfg.sky.n_stars:,} stars, seed {cfg.sky.seed})"
        )
    from gpu_mc.io.run_input import reread_input

    stars = reread_input(record, cfg.target)
    return stars, f"the run's input {record['path']} (SHA-256 checked)"
