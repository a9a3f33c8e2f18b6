"""Save and load trained models as safetensors weights plus a JSON description (no pickle)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gpu_mc.errors import ModelError
from gpu_mc.io.atomic import atomic_path, write_text_atomic
from gpu_mc.model.network import MLP

WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
FORMAT_VERSION = 1


@dataclass
class TrainedModel:
    """A network with the standardisation and provenance that belong to it.

    Attributes
    ----------
    network : MLP
        The trained network (on some torch device).
    features : tuple of str
        Feature names in input order.
    mean, scale : ndarray, shape (k,)
        Standardisation fitted on the training part: z = (f − mean) / scale.
    cloud : str
        "lmc" or "smc": the centre of the projection the features use.
    meta : dict
        Provenance: package version, config, training-data hash, history.
    fallbacks : list of TrainedModel
        Models trained without some features, for stars that lack them (see
        ``features.fallback`` in the configuration); saved in ``fallback-<i>/``.
    """

    network: MLP
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    cloud: str
    meta: dict[str, Any] = field(default_factory=dict)
    fallbacks: list[TrainedModel] = field(default_factory=list)

    def to(self, device: str) -> TrainedModel:
        """Move the networks to a torch device (in place) and return self."""
        self.network.to(device)
        for fb in self.fallbacks:
            fb.to(device)
        return self


def _state(model: TrainedModel) -> dict[str, torch.Tensor]:
    state = {
        f"net.{k}": v.detach().cpu().contiguous() for k, v in model.network.state_dict().items()
    }
    state["standardise.mean"] = torch.from_numpy(np.ascontiguousarray(model.mean, dtype=np.float64))
    state["standardise.scale"] = torch.from_numpy(
        np.ascontiguousarray(model.scale, dtype=np.float64)
    )
    return state


def weights_hash(model: TrainedModel) -> str:
    """SHA-256 of the weights and standardisation, independent of file layout."""
    h = hashlib.sha256()
    for k, v in sorted(_state(model).items()):
        h.update(k.encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()


def save_model(model: TrainedModel, directory: str | Path) -> Path:
    """Write ``model.safetensors`` and ``model.json`` atomically into ``directory``.

    Returns
    -------
    Path
        The directory.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(d / WEIGHTS_FILE) as tmp:
        save_file(_state(model), str(tmp))
    meta = {
        "format_version": FORMAT_VERSION,
        "features": list(model.features),
        "hidden": list(model.network.hidden),
        "cloud": model.cloud,
        "weights_sha256": weights_hash(model),
        **model.meta,
    }
    write_text_atomic(d / META_FILE, json.dumps(meta, indent=2, sort_keys=True))
    for i, fb in enumerate(model.fallbacks):
        save_model(fb, d / f"fallback-{i}")
    return d


def load_model(
    directory: str | Path, features: tuple[str, ...] | None = None, device: str = "cpu"
) -> TrainedModel:
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    directory : str or Path
        Directory holding ``model.safetensors`` and ``model.json``.
    features : tuple of str, optional
        If given, the model's feature list must equal it.
    device : str
        torch device to place the network on.

    Raises
    ------
    ModelError
        Missing or corrupt files, unknown format, or a feature-list mismatch.
    """
    d = Path(directory)
    meta_path, weights_path = d / META_FILE, d / WEIGHTS_FILE
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise ModelError(f"model file {p} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"model description {meta_path} is not valid JSON: {exc}") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{meta_path}: unsupported format_version {meta.get('format_version')!r}")
    names = tuple(meta["features"])
    if features is not None and tuple(features) != names:
        raise ModelError(
            f"model {d} was trained on features {list(names)}, not the requested {list(features)}"
        )
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"model weights {weights_path} cannot be read: {exc}") from None
    network = MLP(len(names), tuple(meta["hidden"]))
    try:
        network.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
    except RuntimeError as exc:
        raise ModelError(f"model weights {weights_path} do not fit model.json: {exc}") from None
    network.eval()
    extra = {
        k: v for k, v in meta.items() if k not in ("features", "hidden", "cloud", "format_version")
    }
    model = TrainedModel(
        network=network,
        features=names,
        mean=state["standardise.mean"].numpy(),
        scale=state["standardise.scale"].numpy(),
        cloud=meta["cloud"],
        meta=extra,
    )
    if weights_hash(model) != meta.get("weights_sha256"):
        raise ModelError(f"model weights {weights_path} do not match the hash in {meta_path}")
    i = 0
    while (d / f"fallback-{i}").is_dir():
        model.fallbacks.append(load_model(d / f"fallback-{i}"))
        i += 1
    return model.to(device)
