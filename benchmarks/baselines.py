"""Plain baselines timed in the same run as our stages, so every result carries a ratio.

Each is what a straightforward implementation would do with default settings: pyarrow to
NumPy for loading, per-column NumPy expressions for the features, torch on the CPU with its
default threads in plain batches, scikit-learn's ``MLPClassifier.predict_proba`` on the same
weights, scikit-learn's ROC/PR curves, and a ``DataLoader`` training loop.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from torch import nn

from gpu_mc.config import FEATURE_NAMES, ThresholdsConfig, TrainConfig
from gpu_mc.io.schema import REQUIRED_COLUMNS
from gpu_mc.model.checkpoint import TrainedModel
from gpu_mc.model.network import MLP

#: Rows per batch of the plain torch loop (the library's default batch size).
TORCH_BATCH = 1 << 20


def load_pyarrow(path: Path) -> dict[str, np.ndarray]:
    """Read the required columns with ``pyarrow.parquet.read_table`` and convert to NumPy."""
    table = pq.read_table(path, columns=list(REQUIRED_COLUMNS))
    return {c: table.column(c).to_numpy() for c in REQUIRED_COLUMNS}


def numpy_features(
    table: Mapping[str, np.ndarray], model: TrainedModel
) -> tuple[np.ndarray, np.ndarray]:
    """The model's standardised features, one NumPy expression per column (float64 math).

    Parameters
    ----------
    table : mapping of str to ndarray
        Gaia columns.
    model : TrainedModel
        Supplies the feature list, the Cloud and the standardisation.

    Returns
    -------
    X : float32 ndarray, shape (n, k)
        Standardised features, non-finite values replaced by 0.
    flags : uint16 ndarray, shape (n,)
        Bit i set where feature i of FEATURE_NAMES was non-finite.
    """
    c = model.target
    ra = np.radians(table["ra"].astype(np.float64))
    dec = np.radians(table["dec"].astype(np.float64))
    dec0 = np.radians(c.dec0)
    d_ra = ra - np.radians(c.ra0)
    a1 = np.cos(d_ra)
    a2 = -np.sin(dec) * np.sin(d_ra)
    b1 = np.sin(dec0) * np.sin(d_ra)
    b2 = np.cos(dec) * np.cos(dec0) + np.sin(dec) * np.sin(dec0) * np.cos(d_ra)
    s_a = table["pmra_error"].astype(np.float64)
    s_d = table["pmdec_error"].astype(np.float64)
    cov = table["pmra_pmdec_corr"] * s_a * s_d
    raw = {
        "x": np.degrees(np.cos(dec) * np.sin(d_ra)),
        "y": np.degrees(np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(d_ra)),
        "mu_x": a1 * table["pmra"] + a2 * table["pmdec"],
        "mu_y": b1 * table["pmra"] + b2 * table["pmdec"],
        "sigma_mu_x": np.sqrt(np.maximum(a1**2 * s_a**2 + a2**2 * s_d**2 + 2 * a1 * a2 * cov, 0)),
        "sigma_mu_y": np.sqrt(np.maximum(b1**2 * s_a**2 + b2**2 * s_d**2 + 2 * b1 * b2 * cov, 0)),
        "parallax": table["parallax"],
        "parallax_error": table["parallax_error"],
        "g": table["phot_g_mean_mag"],
        "bp": table["phot_bp_mean_mag"],
        "rp": table["phot_rp_mean_mag"],
    }
    n = ra.shape[0]
    x = np.empty((n, len(model.features)), dtype=np.float32)
    flags = np.zeros(n, dtype=np.uint16)
    for j, name in enumerate(model.features):
        with np.errstate(over="ignore", invalid="ignore"):
            col = ((raw[name] - model.mean[j]) / model.scale[j]).astype(np.float32)
        bad = ~np.isfinite(col)
        col[bad] = 0.0
        flags[bad] |= np.uint16(1 << FEATURE_NAMES.index(name))
        x[:, j] = col
    return x, flags


def torch_plain_score(table: Mapping[str, np.ndarray], model: TrainedModel) -> np.ndarray:
    """P(MC): NumPy features, then the torch network in plain batches with default threads."""
    x, _ = numpy_features(table, model)
    parts = []
    with torch.no_grad():
        for s in range(0, x.shape[0], TORCH_BATCH):
            logits = model.network(torch.from_numpy(x[s : s + TORCH_BATCH]))
            parts.append(torch.sigmoid(logits).numpy())
    return np.concatenate(parts)


def sklearn_classifier(model: TrainedModel) -> Any:
    """A scikit-learn ``MLPClassifier`` holding exactly the weights of ``model``'s network.

    The classifier is fitted for one iteration on a dummy two-class problem of the right
    shape (so scikit-learn considers it fitted), then its ``coefs_`` and ``intercepts_`` are
    replaced by the torch weights (transposed to scikit-learn's (in, out) layout).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    linears = [m for m in model.network.net if isinstance(m, nn.Linear)]
    hidden = tuple(int(m.out_features) for m in linears[:-1])
    clf = MLPClassifier(hidden_layer_sizes=hidden, activation="relu", max_iter=1)
    k = linears[0].in_features
    dummy = np.zeros((2, k), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(dummy, np.array([0, 1]))
    clf.coefs_ = [m.weight.detach().cpu().numpy().T.astype(np.float32) for m in linears]
    clf.intercepts_ = [m.bias.detach().cpu().numpy().astype(np.float32) for m in linears]
    return clf


def sklearn_score(table: Mapping[str, np.ndarray], model: TrainedModel, clf: Any) -> np.ndarray:
    """P(MC): NumPy features, then ``clf.predict_proba`` (from :func:`sklearn_classifier`)."""
    x, _ = numpy_features(table, model)
    return clf.predict_proba(x)[:, 1]


def sklearn_thresholds(y_true: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """ROC and PR curves with scikit-learn, the ROC-corner threshold and its masks' sizes."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, thr = roc_curve(y_true, p, drop_intermediate=False)
    precision_recall_curve(y_true, p)
    k = int(np.argmin(fpr**2 + (1.0 - tpr) ** 2))
    cfg = ThresholdsConfig()
    return float(np.count_nonzero(p >= cfg.complete_value)), float(np.count_nonzero(p >= thr[k]))


def torch_plain_train(x: np.ndarray, y: np.ndarray, cfg: TrainConfig, epochs: int) -> MLP:
    """Train the same MLP with a ``DataLoader`` over host tensors, default settings.

    Parameters
    ----------
    x : float32 ndarray, shape (n, k)
        Standardised features.
    y : ndarray, shape (n,)
        Labels (1 = Cloud member).
    cfg : TrainConfig
        Layer sizes, learning rate, batch size, weight decay and seed.
    epochs : int
        Number of epochs (no early stopping).
    """
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(cfg.seed)
    net = MLP(x.shape[1], cfg.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    data = TensorDataset(torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)))
    loader = DataLoader(data, batch_size=cfg.batch_size, shuffle=True)
    net.train()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
    return net.eval()
