"""Our stages as the benchmark times them, each a plain call into the library."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from gpu_mc.backend import Backend
from gpu_mc.config import Config, ThresholdsConfig, TrainConfig
from gpu_mc.features import features
from gpu_mc.io.device import load_gaia_table
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.score import score_table
from gpu_mc.model.train import train_model
from gpu_mc.progress import Reporter
from gpu_mc.sample import TrainingSet
from gpu_mc.scoring import score_file
from gpu_mc.thresholds import choose_thresholds, curves, sample_masks


def load_columns(path: Path, backend: Backend) -> dict[str, Any]:
    """Read and validate a Gaia parquet file and place its columns on the backend's device
    (the library's loader: cuDF on GPUs when installed, else pyarrow + one copy a column)."""
    return load_gaia_table(path, backend)


def feature_stage(table: Mapping[str, Any], model: TrainedModel) -> tuple[Any, Any]:
    """The model's standardised features with the fused kernel."""
    return features(table, model.target, model.features, model.mean, model.scale)


def score_stage(table: Mapping[str, Any], model: TrainedModel, batch_size: int) -> Any:
    """Features and MLP: P(MC) for every row (the library's :func:`score_table`)."""
    return score_table(table, model, batch_size)[0]


def threshold_stage(y_true: Any, p: Any, g: Any, cfg: ThresholdsConfig) -> dict[str, Any]:
    """ROC/PR curves of ``p`` against ``y_true``, the thresholds, and the three samples."""
    c = curves(y_true, p)
    thresholds = choose_thresholds(c, cfg)
    c.average_precision()
    return sample_masks(p, g, thresholds, cfg)


def train_stage(
    ts: TrainingSet, names: tuple[str, ...], train_cfg: TrainConfig, epochs: int, device: str
) -> TrainedModel:
    """Train on ``ts`` for exactly ``epochs`` epochs (early stopping disabled)."""
    cfg = replace(train_cfg, max_epochs=epochs, patience=epochs + 1)
    return train_model(ts, "lmc", names, cfg, device)


def whole_pass(path: Path, model: TrainedModel, backend: Backend, out: Path, cfg: Config) -> int:
    """Parquet on disk → columns on the device → features, MLP, samples → scores parquet.

    Parameters
    ----------
    path : Path
        Gaia table (any format :func:`~gpu_mc.io.readers.read_gaia_table` reads).
    model : TrainedModel
        With ``meta["thresholds"]`` and ``meta["truncated_g_max"]`` set.
    backend : Backend
        Where the columns go and the work runs.
    out : Path
        The scores file written (atomically).
    cfg : Config
        ``run.score_batch_size`` and the threshold settings.

    Returns
    -------
    int
        Number of stars scored.
    """
    return score_file(path, model, cfg, backend, out, Reporter(enabled=False))
