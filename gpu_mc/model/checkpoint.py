"""Save and load trained models as safetensors weights plus a JSON description (no pickle).

``model.json`` holds everything that changes a score besides the weights: the feature list
in input order, the whole target record, the architecture's name and settings, the
thresholds of the three samples and the truncated sample's G limit. ``model_sha256`` hashes
all of it together with the weights and the standardisation (and the fallback models'
hashes), so an edit to any of them is refused on load. Every field's type and range is
checked on load; each problem is a one-line :class:`~gpu_mc.errors.ModelError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from gpu_mc.config import FEATURE_NAMES, MAX_FALLBACKS, target_from_dict
from gpu_mc.constants import Target, as_target
from gpu_mc.errors import GpuMcError, ModelError
from gpu_mc.io.atomic import atomic_path, write_text_atomic
from gpu_mc.model.network import Classifier, build_network

WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
FORMAT_VERSION = 2

#: Sample names whose thresholds a model carries (see gpu_mc.thresholds.SAMPLE_NAMES).
THRESHOLD_NAMES = ("complete", "optimal", "truncated_optimal")

#: Keys of model.json that :func:`model_hash` covers (besides the tensors).
SCORED_KEYS = (
    "format_version",
    "features",
    "target",
    "architecture",
    "thresholds",
    "truncated_g_max",
    "probabilities",
)

#: Scored keys a model may lack (older checkpoints): hashed only when present.
OPTIONAL_KEYS = ("probabilities",)

#: Tensors every checkpoint holds besides the network's own.
STANDARDISATION = ("standardise.mean", "standardise.scale")

#: Largest |mean| or scale a feature's standardisation may have. The inputs are degrees,
#: mas, mas/yr and magnitudes, whose training means and spreads are far below this; a larger
#: value can only come from an edited or corrupt file (our bound).
STANDARDISATION_MAX = 1e4


@dataclass
class TrainedModel:
    """A network with the standardisation and provenance that belong to it.

    Attributes
    ----------
    network : Classifier
        The trained network (on some torch device).
    features : tuple of str
        Feature names in input order.
    mean, scale : ndarray, shape (k,)
        Standardisation fitted on the training part: z = (f − mean) / scale.
    target : Target
        The target galaxy; its centre is the centre of the projection the features use.
    meta : dict
        ``thresholds`` (dict of sample name to P threshold) and ``truncated_g_max`` (mag)
        once chosen, and provenance: package version, config, training-data hash, history.
    fallbacks : list of TrainedModel
        Models trained without some features, for stars that lack them (see
        ``features.fallback`` in the configuration); saved in ``fallback-<i>/``.
    """

    network: Classifier
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    target: Target
    meta: dict[str, Any] = field(default_factory=dict)
    fallbacks: list[TrainedModel] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.target = as_target(self.target)

    @property
    def cloud(self) -> str:
        """The target's name."""
        return self.target.name

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


def _description(model: TrainedModel) -> dict[str, Any]:
    """The score-changing fields of ``model.json``, as saved."""
    return {
        "format_version": FORMAT_VERSION,
        "features": list(model.features),
        "target": dataclasses.asdict(model.target),
        "architecture": {
            "name": model.network.architecture,
            "settings": model.network.settings(),
        },
        "thresholds": model.meta.get("thresholds"),
        "truncated_g_max": model.meta.get("truncated_g_max"),
        "probabilities": model.meta.get("probabilities"),
    }


def _hash(description: dict[str, Any], state: dict[str, torch.Tensor], fallbacks: list[str]) -> str:
    h = hashlib.sha256()
    scored = {
        k: description.get(k)
        for k in SCORED_KEYS
        if k not in OPTIONAL_KEYS or description.get(k) is not None
    }
    text = json.dumps(scored, sort_keys=True, allow_nan=True)
    h.update(text.encode())
    for k, v in sorted(state.items()):
        h.update(k.encode())
        h.update(str(v.dtype).encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.numpy().tobytes())
    for fb in fallbacks:
        h.update(fb.encode())
    return h.hexdigest()


def model_hash(model: TrainedModel) -> str:
    """SHA-256 of everything that changes a score: weights, standardisation, features and
    their order, target record, architecture and settings, thresholds, and the fallbacks."""
    return _hash(_description(model), _state(model), [model_hash(fb) for fb in model.fallbacks])


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
    provenance = {k: v for k, v in model.meta.items() if k not in (*SCORED_KEYS, "model_sha256")}
    meta = {
        **provenance,
        **_description(model),
        "cloud": model.cloud,
        "model_sha256": model_hash(model),
    }
    write_text_atomic(d / META_FILE, json.dumps(meta, indent=2, sort_keys=True))
    for i, fb in enumerate(model.fallbacks):
        save_model(fb, d / f"fallback-{i}")
    return d


def _fail(path: Path, message: str) -> ModelError:
    return ModelError(f"model {path}: {message}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_description(meta: Any, path: Path) -> dict[str, Any]:
    """Types and ranges of the score-changing fields of ``model.json``; normalised copy."""
    if not isinstance(meta, dict):
        raise _fail(path, "must hold a JSON object")
    required = [k for k in SCORED_KEYS if k not in OPTIONAL_KEYS]
    missing = [k for k in (*required, "model_sha256") if k not in meta]
    if missing:
        raise _fail(path, f"lacks the key {missing[0]!r}")
    if meta["format_version"] != FORMAT_VERSION:
        raise _fail(
            path,
            f"has format_version {meta['format_version']!r}; this gpu_mc reads "
            f"{FORMAT_VERSION} (train the model again)",
        )
    names = meta["features"]
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise _fail(path, "'features' must be a non-empty list of feature names")
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise _fail(path, f"unknown feature {unknown[0]!r}; known: {', '.join(FEATURE_NAMES)}")
    if len(set(names)) != len(names):
        raise _fail(path, "'features' repeats a feature")
    try:
        target = target_from_dict(meta["target"], "model.json target")
    except GpuMcError as exc:
        raise _fail(path, str(exc)) from None
    arch = meta["architecture"]
    if not (
        isinstance(arch, dict)
        and set(arch) == {"name", "settings"}
        and isinstance(arch["name"], str)
        and isinstance(arch["settings"], dict)
    ):
        raise _fail(path, "'architecture' must be {'name': str, 'settings': {...}}")
    thr = meta["thresholds"]
    if thr is not None:
        if not (isinstance(thr, dict) and set(thr) == set(THRESHOLD_NAMES)):
            raise _fail(path, f"'thresholds' must give exactly {', '.join(THRESHOLD_NAMES)}")
        bad = [k for k, v in thr.items() if not (_number(v) and 0.0 <= v <= 1.0)]
        if bad:
            raise _fail(
                path, f"threshold {bad[0]!r} must be a number in [0, 1], got {thr[bad[0]]!r}"
            )
    g_max = meta["truncated_g_max"]
    if g_max is not None and not (_number(g_max) and 10.0 < g_max <= 21.0):
        raise _fail(path, f"'truncated_g_max' must be a number in (10, 21], got {g_max!r}")
    probs = meta.get("probabilities")
    if probs is not None:
        from gpu_mc.estimates import ProbabilityModel  # estimates imports this module

        try:
            pm = ProbabilityModel.from_dict(probs)
            if not 0.0 < pm.train_prior < 1.0:
                raise ValueError(f"train_prior {pm.train_prior} is not in (0, 1)")
        except (GpuMcError, KeyError, TypeError, ValueError) as exc:
            raise _fail(path, f"'probabilities' is not a valid record: {exc}") from None
    if not (isinstance(meta["model_sha256"], str) and len(meta["model_sha256"]) == 64):
        raise _fail(path, "'model_sha256' must be a 64-character hex digest")
    return {**meta, "features": tuple(names), "target": target}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model file {path} is missing") from None
    except IsADirectoryError:
        raise ModelError(f"model file {path} is a directory") from None
    except OSError as exc:
        raise ModelError(f"model file {path} cannot be read: {exc.strerror or exc}") from None


def _check_standardisation(state: dict[str, torch.Tensor], k: int, path: Path) -> None:
    for name in STANDARDISATION:
        if name not in state:
            raise _fail(path, f"weights lack the standardisation tensor {name!r}")
        v = state[name]
        if v.dtype != torch.float64 or tuple(v.shape) != (k,):
            raise _fail(
                path, f"{name} must be float64 of shape ({k},), not {v.dtype} {tuple(v.shape)}"
            )
        if not bool(torch.isfinite(v).all()):
            raise _fail(path, f"{name} has non-finite values")
        if not bool((v.abs() <= STANDARDISATION_MAX).all()):
            raise _fail(path, f"{name} has values beyond ±{STANDARDISATION_MAX:g}")
    if not bool((state["standardise.scale"] > 0).all()):
        raise _fail(path, "standardise.scale must be positive")


def load_model(
    directory: str | Path,
    features: tuple[str, ...] | None = None,
    device: str = "cpu",
    _depth: int = 0,
) -> TrainedModel:
    """Load and check a model saved by :func:`save_model`.

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
        A missing, unreadable or corrupt file; a field of ``model.json`` of the wrong type,
        out of range or unknown; weights that do not fit it; a hash that does not match
        (the model was edited after it was saved); or a feature-list mismatch.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ModelError(f"model directory {d} is missing")
    meta_path, weights_path = d / META_FILE, d / WEIGHTS_FILE
    raw = _read(meta_path)
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"model description {meta_path} is not valid JSON: {exc}") from None
    desc = _check_description(meta, meta_path)
    names = desc["features"]
    if features is not None and tuple(features) != names:
        raise ModelError(
            f"model {d} was trained on features {list(names)}, not the requested {list(features)}"
        )
    blob = _read(weights_path)
    try:
        state = load_safetensors(blob)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"model weights {weights_path} cannot be read: {exc}") from None
    _check_standardisation(state, len(names), weights_path)
    arch = desc["architecture"]
    try:
        network = build_network(
            arch["name"], len(names), arch["settings"], f"{meta_path} architecture"
        )
    except GpuMcError as exc:
        raise _fail(meta_path, str(exc)) from None
    try:
        network.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")})
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"model weights {weights_path} do not fit model.json: {first}") from None
    network.eval()
    provenance = {k: v for k, v in meta.items() if k not in (*SCORED_KEYS, "cloud", "model_sha256")}
    if desc["thresholds"] is not None:
        provenance["thresholds"] = desc["thresholds"]
    if desc["truncated_g_max"] is not None:
        provenance["truncated_g_max"] = desc["truncated_g_max"]
    if desc.get("probabilities") is not None:
        provenance["probabilities"] = desc["probabilities"]
    model = TrainedModel(
        network=network,
        features=names,
        mean=state["standardise.mean"].numpy(),
        scale=state["standardise.scale"].numpy(),
        target=desc["target"],
        meta=provenance,
    )
    i = 0
    while (d / f"fallback-{i}").is_dir():
        if i >= MAX_FALLBACKS or _depth:
            raise _fail(d, f"has more fallback models than allowed ({MAX_FALLBACKS}, not nested)")
        fb = load_model(d / f"fallback-{i}", _depth=1)
        if not set(fb.features) < set(names) or fb.target != model.target:
            raise _fail(
                d / f"fallback-{i}", "must use some of the main model's features and its target"
            )
        model.fallbacks.append(fb)
        i += 1
    if model_hash(model) != desc["model_sha256"]:
        raise ModelError(
            f"model {d} was changed after it was saved: its contents do not match "
            f"model_sha256 in {meta_path}"
        )
    model.meta["model_sha256"] = desc["model_sha256"]
    return model.to(device)
