"""Train the MLP on the balanced training set, on the backend's device.

Standardisation is fitted on the training part only and stored with the model. Rows whose
selected features are not all finite are left out of training (and counted). Early stopping
watches the loss on the held-out validation part and keeps the best weights. With a fixed
seed, training on the CPU is bit-for-bit repeatable.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from gpu_mc import __version__
from gpu_mc.backend import array_namespace, to_host
from gpu_mc.config import TrainConfig
from gpu_mc.constants import Target, as_target
from gpu_mc.errors import GpuMcError
from gpu_mc.features import features
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.network import Classifier, build_network
from gpu_mc.model.registry import get_architecture
from gpu_mc.model.tensors import as_tensor
from gpu_mc.sample import TRAIN, VALIDATION, TrainingSet

EpochCallback = Callable[[int, float, float], None]


def _standardised(x: Any, mean: Any, scale: Any) -> Any:
    xp = array_namespace(x)
    return xp.ascontiguousarray(((x - mean) / scale).astype(xp.float32))


@dataclass(frozen=True)
class FitData:
    """The training and validation split as standardised tensors on the training device.

    Attributes
    ----------
    x_train, x_val : torch.Tensor of float32, shape (n, k)
        Standardised features of the usable TRAIN and VALIDATION rows.
    y_train, y_val : torch.Tensor of float32, shape (n,)
        Labels (1 = MC) of those rows.
    mean, scale : array of float64, shape (k,)
        Standardisation fitted on the training rows: z = (f − mean) / scale.
    data_hash : str
        SHA-256 of the raw training features (provenance).
    n_unusable : int
        Rows of the training set (any split) that lack a feature and were left out.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    mean: Any
    scale: Any
    data_hash: str
    n_unusable: int

    @property
    def n_train(self) -> int:
        """Usable training rows."""
        return int(self.x_train.shape[0])

    @property
    def n_val(self) -> int:
        """Usable validation rows."""
        return int(self.x_val.shape[0])


def fit_data(
    ts: TrainingSet, cloud: Any, names: Sequence[str], device: torch.device | str
) -> FitData:
    """Features of the training set's usable TRAIN/VALIDATION rows, standardised, on ``device``.

    Raises
    ------
    GpuMcError
        Fewer than 10 usable training rows or no usable validation row.
    """
    xp = array_namespace(ts.labels)
    raw, flags = features(ts.table, cloud, tuple(names))
    usable = flags == 0
    train_rows = (ts.codes == TRAIN) & usable
    val_rows = (ts.codes == VALIDATION) & usable
    n_train, n_val = int(xp.count_nonzero(train_rows)), int(xp.count_nonzero(val_rows))
    if n_train < 10 or n_val < 1:
        raise GpuMcError(f"too few usable training rows ({n_train} train, {n_val} validation)")
    x_train = raw[train_rows].astype(xp.float64)
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale = xp.where(scale > 0, scale, 1.0)
    return FitData(
        x_train=as_tensor(_standardised(raw[train_rows], mean, scale)).to(device),
        y_train=as_tensor(ts.labels[train_rows].astype(xp.float32)).to(device),
        x_val=as_tensor(_standardised(raw[val_rows], mean, scale)).to(device),
        y_val=as_tensor(ts.labels[val_rows].astype(xp.float32)).to(device),
        mean=mean,
        scale=scale,
        data_hash=hashlib.sha256(to_host(raw[train_rows]).tobytes()).hexdigest(),
        n_unusable=int(xp.count_nonzero(~usable & (ts.codes != 0))),
    )


def _mean_loss(net: Classifier, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    total = 0.0
    with torch.inference_mode():
        for s in range(0, x.shape[0], batch):
            total += float(loss_fn(net(x[s : s + batch]), y[s : s + batch]))
    return total / max(int(x.shape[0]), 1)


def train_model(
    ts: TrainingSet,
    cloud: str | Target,
    names: Sequence[str],
    cfg: TrainConfig,
    device: str,
    on_epoch: EpochCallback | None = None,
) -> TrainedModel:
    """Fit an MLP to the training part of ``ts``.

    Parameters
    ----------
    ts : TrainingSet
        Rows, labels and split codes (NumPy or CuPy, on the device of ``device``).
    cloud : Target
        The target; its centre defines the projection, and the model records it.
    names : sequence of str
        Feature names, in input order.
    cfg : TrainConfig
    device : str
        torch device ("cpu" or "cuda").
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, train_loss, validation_loss)`` after every epoch.

    Returns
    -------
    TrainedModel
        Best weights by validation loss, with standardisation and training history in
        ``meta``.
    """
    d = fit_data(ts, cloud, names, device)
    xt, yt, xv, yv, mean, scale, data_hash = (
        d.x_train, d.y_train, d.x_val, d.y_val, d.mean, d.scale, d.data_hash
    )
    n_train, n_val = d.n_train, d.n_val

    torch.manual_seed(cfg.seed)
    settings = get_architecture(cfg.architecture).settings_from_config(cfg)
    net = build_network(cfg.architecture, len(names), settings, "train").to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(cfg.seed)
    best, best_loss, since_best = copy.deepcopy(net.state_dict()), float("inf"), 0
    history = []
    for epoch in range(1, cfg.max_epochs + 1):
        net.train()
        perm = torch.randperm(n_train, generator=gen).to(device)
        total = torch.zeros((), device=device)
        for s in range(0, n_train, cfg.batch_size):
            idx = perm[s : s + cfg.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.detach() * idx.shape[0]
        net.eval()
        train_loss = float(total) / n_train
        val_loss = _mean_loss(net, xv, yv, 65536)
        history.append({"epoch": epoch, "train_loss": train_loss, "validation_loss": val_loss})
        if on_epoch is not None:
            on_epoch(epoch, train_loss, val_loss)
        if val_loss < best_loss:
            best, best_loss, since_best = copy.deepcopy(net.state_dict()), val_loss, 0
        else:
            since_best += 1
            if since_best >= cfg.patience:
                break
    net.load_state_dict(best)
    net.eval()
    meta = {
        "package_version": __version__,
        "train_config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "training_data_sha256": data_hash,
        "n_train": n_train,
        "n_validation": n_val,
        "n_unusable": d.n_unusable,
        "best_validation_loss": best_loss,
        "history": history,
    }
    return TrainedModel(
        network=net,
        features=tuple(names),
        mean=np.asarray(to_host(mean), dtype=np.float64),
        scale=np.asarray(to_host(scale), dtype=np.float64),
        target=as_target(cloud),
        meta=meta,
    )
