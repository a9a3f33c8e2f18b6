"""Run configuration: frozen dataclasses loaded from TOML, validated field by field.

Each section of the TOML file maps onto one dataclass. Unknown sections or keys, wrong types
and out-of-range values raise :class:`~gpu_mc.errors.ConfigError` naming ``section.key``.
Comments say which defaults come from the papers (Jiménez-Arranz et al. 2023a, A&A 669, A91;
2023b, A&A 672, A65) and which are our own assumptions.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_mc.backend import BACKEND_NAMES
from gpu_mc.constants import STRUCTURES, TARGETS, Target, as_target
from gpu_mc.errors import ConfigError
from gpu_mc.model.registry import architecture_names
from gpu_mc_kernels.features import FEATURE_ORDER

#: The 11 inputs of the papers, in the order the fused feature kernel defines them.
FEATURE_NAMES: tuple[str, ...] = FEATURE_ORDER

#: Names of the MC-class choices (gpu_mc.mc_class): selected from the sky ("error_aware",
#: "pm_cut"), drawn from the target's own model ("model"), or the error-aware selection plus
#: the draw ("both").
MC_SELECTIONS: tuple[str, ...] = ("error_aware", "pm_cut", "model", "both")

#: Bits of the score_flag column (uint16): bit i marks a missing feature i of FEATURE_NAMES;
#: then one bit for stars whose errors lie outside the training range; the bits after it
#: mark the fallback model that scored the star. All are derived from the feature list.
SCORE_FLAG_BITS = 16

#: score_flag bit of stars whose astrometric errors lie outside the training set's range.
ERROR_RANGE_BIT = len(FEATURE_NAMES)

#: score_flag bit of stars whose features lie outside the training set's domain (issue 16).
OUT_OF_DOMAIN_BIT = ERROR_RANGE_BIT + 1

#: score_flag bit of the first fallback model.
FALLBACK_BIT0 = OUT_OF_DOMAIN_BIT + 1

#: Fallback models that score_flag has bits for.
MAX_FALLBACKS = SCORE_FLAG_BITS - FALLBACK_BIT0

#: Matrix precisions of the forward pass (see gpu_mc.model.score.precision_mode).
PRECISIONS = ("fp32", "tf32", "bf16")


@dataclass(frozen=True)
class SkyConfig:
    """The built-in mock Gaia sky."""

    # The target: a built-in name ("lmc", "smc") or a Target record (a [target] table).
    cloud: str | Target = "lmc"
    n_stars: int = 1_000_000
    seed: int = 42
    # Fraction of Cloud members in the base sample. None: the target's mc_fraction (LMC
    # 0.60, SMC 0.45), our assumption chosen so that sample sizes resemble the papers'
    # (LMC: 18M base → 12M complete / 10M optimal).
    mc_fraction: float | None = None
    # Faint limit of the base sample, G ≤ 20.5 (papers).
    g_limit: float = 20.5
    # Astrometric errors relative to PyGaia's DR3 sky average. None: the target's
    # error_scale (the Clouds, near the south ecliptic pole: 0.60-0.70 measured on a real
    # EDR3 SMC field; we take 0.65).
    error_scale: float | None = None
    # Rows generated per chunk, bounding memory for 18M-star skies (our assumption).
    chunk_size: int = 2_000_000
    # Milky Way foreground model of the sky: "edr3" (calibrated to real EDR3 towards the
    # SMC) or "juric2008" (see gpu_mc.sky.foreground; our choice of default).
    foreground_model: str = "edr3"
    # Astrometric error model of the sky: "empirical" (underestimated errors, tails,
    # zero-point, crowding, correlations; gpu_mc.sky.errors) or "pygaia" (Gaussian).
    error_model: str = "empirical"
    # Base-sample criterion parallax_over_error < 5 of Luri et al. 2021, used by the papers;
    # None turns it off.
    parallax_over_error_max: float | None = 5.0

    @property
    def target(self) -> Target:
        """The target's record."""
        return as_target(self.cloud)

    @property
    def target_name(self) -> str:
        """The target's name."""
        return self.target.name

    @property
    def member_fraction(self) -> float:
        """Share of members among the rows of the mock sky: configured or the target's."""
        return self.target.mc_fraction if self.mc_fraction is None else self.mc_fraction

    @property
    def astrometric_error_scale(self) -> float:
        """Astrometric error scale of the mock sky: configured or the target's."""
        return self.target.error_scale if self.error_scale is None else self.error_scale


@dataclass(frozen=True)
class FeaturesConfig:
    """Which of the 11 inputs the classifier uses (papers: all 11)."""

    names: tuple[str, ...] = FEATURE_NAMES
    # Null policy (ours). By default a missing feature is imputed with the training mean and
    # flagged. Each group listed here (e.g. [["bp", "rp"]]) also gets a model trained without
    # those features; stars missing any of them are scored by it instead (first group that
    # covers all their missing features) and flagged as such.
    fallback: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class SampleConfig:
    """Training set: MC class by selection on the observed sky, MW class from a simulation."""

    # MC fraction after balancing: 20% (papers).
    mc_fraction: float = 0.20
    # Train/test split 60/40 (papers).
    train_fraction: float = 0.60
    # Part of the training split held out for early stopping (our assumption).
    validation_fraction: float = 0.15
    # MC selection in the spirit of Gaia Collaboration, Luri et al. 2021: parallax
    # consistent with zero within this many sigma (our assumption: 3)...
    parallax_nsigma: float = 3.0
    # ...and proper motion within this radius of the Cloud's systemic motion, mas/yr. None:
    # the target's pm_radius (LMC 1.5, SMC 0.8; our assumption, see constants.py).
    pm_radius: float | None = None
    # Size of the independent MW simulation relative to the expected number of MW stars
    # in the observed sky (papers: a GOG simulation with a realistic number of stars).
    mw_size_factor: float = 1.0
    seed: int = 7
    # Model mismatch: the training MW class comes from another foreground model with PyGaia
    # errors than the sky's (as GOG differs from the real sky); false: from the sky's own
    # models (gpu_mc.sky.foreground.training_mw_models; our choice, issue 12).
    model_mismatch: bool = True
    # MC class: "error_aware" (offset from the local systemic motion against the star's own
    # PM covariance plus the Cloud's internal dispersion, d² < mc_chi2_max; gpu_mc.mc_class),
    # "pm_cut" (the fixed radius above, also the PM/parallax baseline), "model" (a draw of
    # the target's own model, observed with the training MW class's error model, as many
    # stars as the sky's expected members times mw_size_factor) or "both" (error-aware
    # selection plus that draw) - our choice.
    mc_selection: str = "error_aware"
    # 99% point of chi-square with 2 degrees of freedom (our choice).
    mc_chi2_max: float = 9.21


@dataclass(frozen=True)
class TrainConfig:
    """The network and its optimiser (defaults are our assumption; the papers use an MLP)."""

    # Registered architecture (gpu_mc.model.registry): "mlp" (papers) or "logistic" (a plain
    # logistic-regression baseline); "hidden" is the MLP's setting.
    architecture: str = "mlp"
    hidden: tuple[int, ...] = (64, 64, 32)
    learning_rate: float = 2e-3
    batch_size: int = 4096
    max_epochs: int = 40
    patience: int = 4
    weight_decay: float = 1e-5
    seed: int = 1234
    # Error-inflation augmentation (gpu_mc.augment): this share of the training rows gets a
    # copy with astrometric errors x k, k log-uniform in [1, augment_max_scale], and the
    # matching extra noise; 0 turns it off (our assumption).
    augment_fraction: float = 0.5
    augment_max_scale: float = 3.0
    # Ensemble of "members" MLPs (issue 16; ours): p_mc is their mean, p_mc_std their
    # spread; "bootstrap" draws each member's training rows with replacement. With
    # members = 1 the single network of the papers is trained (p_mc_std = 0).
    members: int = 5
    bootstrap: bool = True
    # Calibration fitted on the validation part ("isotonic" or "temperature") and the
    # margin of the out-of-domain box, a fraction of each feature's training range.
    calibration: str = "isotonic"
    domain_margin: float = 0.05


@dataclass(frozen=True)
class ThresholdsConfig:
    """Probability thresholds of the three samples (our reading of the papers)."""

    # "complete": a low threshold on P(MC). Criterion "fixed" uses complete_value.
    complete_criterion: str = "fixed"
    complete_value: float = 0.01
    # "optimal": the ROC point nearest (FPR, TPR) = (0, 1) by default; alternatives
    # "max_f1" (PR curve) and "youden" (max TPR - FPR), or "fixed" with optimal_value.
    optimal_criterion: str = "roc_corner"
    optimal_value: float = 0.5
    # "truncated-optimal": the optimal sample with G below this limit, mag.
    truncated_g_max: float = 19.5


@dataclass(frozen=True)
class ValidateConfig:
    """Cross-match and validation settings."""

    radius_arcsec: float = 1.0
    g_bins: tuple[float, ...] = (10.0, 15.0, 16.0, 17.0, 18.0, 19.0, 19.5, 20.0, 20.5)
    # Mock validation catalogues with realistic label noise: faint Cloud stars with Galactic
    # StarHorse-like distances (gpu_mc.sky.catalogues; our choice, issue 12); false: the
    # lognormal distance scatter alone.
    mock_label_noise: bool = True


@dataclass(frozen=True)
class RunConfig:
    """Top-level run options."""

    backend: str = "auto"
    out: str = "gpu_mc_out"
    score_batch_size: int = 1_048_576
    # A parquet input with more rows is scored piece by piece (whole row groups), inside one
    # pass and into one output file; 20M keeps an 18M-star LMC cone in a single piece (ours).
    max_rows_in_memory: int = 20_000_000
    # Matrix precision of the GPU forward pass: "fp32", "tf32" or "bf16" (GPU only). fp32
    # until the benchmark suite shows a reduced mode faster with max |Δp| ≤ 1e-4 (ours).
    precision: str = "fp32"
    # Robustness table in metrics.json (gpu_mc.robustness): a fresh mock sky scored with
    # matched and mismatched models and with errors x1.3 and x2; costs a second training
    # and five scoring passes, so it is off by default to keep `gpu-mc run` quick on a
    # CPU (our choice; `[run] robustness = true` adds it).
    robustness: bool = False


@dataclass(frozen=True)
class Config:
    """A whole configuration."""

    sky: SkyConfig = field(default_factory=SkyConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    thresholds: ThresholdsConfig = field(default_factory=ThresholdsConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        validate_config(self)

    def replace(self, **sections: dict[str, Any]) -> Config:
        """Return a copy with keys of named sections replaced, validated.

        Parameters
        ----------
        **sections
            ``section=dict(key=value, ...)``; None values are ignored.
        """
        new = {}
        for name, changes in sections.items():
            if name not in _SECTIONS:
                raise ConfigError(f"unknown config section {name!r}")
            changes = {k: v for k, v in changes.items() if v is not None}
            new[name] = _build_section(name, {**dataclasses.asdict(getattr(self, name)), **changes})
        return dataclasses.replace(self, **new)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain dictionary (for JSON provenance)."""
        return dataclasses.asdict(self)

    @property
    def target(self) -> Target:
        """The target's record (``sky.cloud`` resolved)."""
        return self.sky.target


_SECTIONS = {
    "sky": SkyConfig,
    "features": FeaturesConfig,
    "sample": SampleConfig,
    "train": TrainConfig,
    "thresholds": ThresholdsConfig,
    "validate": ValidateConfig,
    "run": RunConfig,
}


def _coerce(where: str, value: Any, annotation: Any) -> Any:
    """Check one value against its annotation, converting lists to tuples."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        if Target in args and isinstance(value, (dict, Target)):
            return value if isinstance(value, Target) else target_from_dict(value, where)
        inner = [a for a in args if a is not type(None)]
        return _coerce(where, value, inner[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config field {where} must be a list, got {type(value).__name__}")
        (item_type, _) = typing.get_args(annotation)
        return tuple(_coerce(f"{where}[{i}]", v, item_type) for i, v in enumerate(value))
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config field {where} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"config field {where} must be a finite number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config field {where} must be an integer, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"config field {where} must be a string, got {value!r}")
        return value
    return value


def _build_section(name: str, values: dict[str, Any]) -> Any:
    cls = _SECTIONS[name]
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key {name}.{unknown[0]}; known keys: {', '.join(sorted(known))}"
        )
    kwargs = {k: _coerce(f"{name}.{k}", v, hints[k]) for k, v in values.items()}
    return cls(**kwargs)


def _require(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config field {where} {message}")


def validate_config(cfg: Config) -> None:
    """Check ranges and choices of every field; raise ConfigError naming the first bad one."""
    s = cfg.sky
    _require(
        isinstance(s.cloud, Target) or s.cloud in TARGETS,
        "sky.cloud",
        f"must be one of {', '.join(TARGETS)} or a [target] table, got {s.cloud!r}",
    )
    if isinstance(s.cloud, Target):
        validate_target(s.cloud, "target")
    _require(s.n_stars >= 1000, "sky.n_stars", f"must be at least 1000, got {s.n_stars}")
    _require(
        s.mc_fraction is None or 0.0 < s.mc_fraction < 1.0,
        "sky.mc_fraction",
        f"must be in (0, 1), got {s.mc_fraction}",
    )
    _require(12.0 <= s.g_limit <= 21.0, "sky.g_limit", f"must be in [12, 21], got {s.g_limit}")
    _require(
        s.error_scale is None or 0.1 <= s.error_scale <= 3.0,
        "sky.error_scale",
        f"must be in [0.1, 3], got {s.error_scale}",
    )
    _require(
        s.chunk_size >= 10_000, "sky.chunk_size", f"must be at least 10000, got {s.chunk_size}"
    )
    _require(
        s.foreground_model in ("edr3", "juric2008"),
        "sky.foreground_model",
        f"must be 'edr3' or 'juric2008', got {s.foreground_model!r}",
    )
    _require(
        s.error_model in ("empirical", "pygaia"),
        "sky.error_model",
        f"must be 'empirical' or 'pygaia', got {s.error_model!r}",
    )
    _require(
        s.parallax_over_error_max is None or s.parallax_over_error_max > 0,
        "sky.parallax_over_error_max",
        "must be positive",
    )
    names = cfg.features.names
    _require(len(names) > 0, "features.names", "must name at least one feature")
    bad = [n for n in names if n not in FEATURE_NAMES]
    _require(not bad, "features.names", f"has unknown feature {bad[:1]}; known: {FEATURE_NAMES}")
    _require(len(set(names)) == len(names), "features.names", "must not repeat a feature")
    _require(
        len(cfg.features.fallback) <= MAX_FALLBACKS,
        "features.fallback",
        f"allows at most {MAX_FALLBACKS} groups",
    )
    for group in cfg.features.fallback:
        _require(
            len(group) > 0 and set(group) <= set(names) and set(group) != set(names),
            "features.fallback",
            f"group {list(group)} must name some, not all, of features.names",
        )
    p = cfg.sample
    _require(
        0.0 < p.mc_fraction < 1.0, "sample.mc_fraction", f"must be in (0, 1), got {p.mc_fraction}"
    )
    _require(
        0.0 < p.train_fraction < 1.0,
        "sample.train_fraction",
        f"must be in (0, 1), got {p.train_fraction}",
    )
    _require(
        0.0 < p.validation_fraction < 0.5,
        "sample.validation_fraction",
        f"must be in (0, 0.5), got {p.validation_fraction}",
    )
    _require(
        0 < p.parallax_nsigma <= 100,
        "sample.parallax_nsigma",
        f"must be in (0, 100], got {p.parallax_nsigma}",
    )
    # A PM radius above 10 mas/yr, or an MW class 100 times the MW in the sky, is no longer a
    # selection or a simulation of the same sky (our bounds).
    _require(
        p.pm_radius is None or 0 < p.pm_radius <= 10,
        "sample.pm_radius",
        f"must be in (0, 10] mas/yr, got {p.pm_radius}",
    )
    _require(
        0 < p.mw_size_factor <= 100,
        "sample.mw_size_factor",
        f"must be in (0, 100], got {p.mw_size_factor}",
    )
    _require(isinstance(p.model_mismatch, bool), "sample.model_mismatch", "must be true or false")
    _require(
        p.mc_selection in MC_SELECTIONS,
        "sample.mc_selection",
        f"must be one of {', '.join(MC_SELECTIONS)}, got {p.mc_selection!r}",
    )
    _require(p.mc_chi2_max > 0, "sample.mc_chi2_max", "must be positive")
    t = cfg.train
    _require(
        t.architecture in architecture_names(),
        "train.architecture",
        f"must be one of {', '.join(architecture_names())}, got {t.architecture!r}",
    )
    _require(
        all(h > 0 for h in t.hidden) and len(t.hidden) > 0, "train.hidden", "must be positive sizes"
    )
    _require(
        0 < t.learning_rate < 1, "train.learning_rate", f"must be in (0, 1), got {t.learning_rate}"
    )
    _require(isinstance(cfg.run.robustness, bool), "run.robustness", "must be true or false")
    _require(t.batch_size >= 16, "train.batch_size", "must be at least 16")
    _require(t.max_epochs >= 1, "train.max_epochs", "must be at least 1")
    _require(t.patience >= 1, "train.patience", "must be at least 1")
    _require(
        0 <= t.weight_decay < 1, "train.weight_decay", f"must be in [0, 1), got {t.weight_decay}"
    )
    for where, seed in (("sky.seed", s.seed), ("sample.seed", p.seed), ("train.seed", t.seed)):
        _require(0 <= seed < MAX_SEED, where, f"must be in [0, 2**62), got {seed}")
    _require(
        0.0 <= t.augment_fraction <= 1.0,
        "train.augment_fraction",
        f"must be in [0, 1], got {t.augment_fraction}",
    )
    _require(
        1.0 <= t.augment_max_scale <= 10.0,
        "train.augment_max_scale",
        f"must be in [1, 10], got {t.augment_max_scale}",
    )
    _require(1 <= t.members <= 64, "train.members", f"must be in 1..64, got {t.members}")
    _require(
        t.calibration in ("isotonic", "temperature"),
        "train.calibration",
        f"must be 'isotonic' or 'temperature', got {t.calibration!r}",
    )
    _require(
        0.0 <= t.domain_margin <= 1.0,
        "train.domain_margin",
        f"must be in [0, 1], got {t.domain_margin}",
    )
    h = cfg.thresholds
    _require(
        h.complete_criterion in THRESHOLD_CRITERIA,
        "thresholds.complete_criterion",
        f"must be one of {THRESHOLD_CRITERIA}, got {h.complete_criterion!r}",
    )
    _require(
        h.optimal_criterion in THRESHOLD_CRITERIA,
        "thresholds.optimal_criterion",
        f"must be one of {THRESHOLD_CRITERIA}, got {h.optimal_criterion!r}",
    )
    for key in ("complete_value", "optimal_value"):
        v = getattr(h, key)
        _require(0.0 < v < 1.0, f"thresholds.{key}", f"must be in (0, 1), got {v}")
    _require(10 < h.truncated_g_max <= 21, "thresholds.truncated_g_max", "must be in (10, 21]")
    v = cfg.validate
    _require(0 < v.radius_arcsec <= 3600, "validate.radius_arcsec", "must be in (0, 3600]")
    _require(
        len(v.g_bins) >= 2 and all(a < b for a, b in zip(v.g_bins, v.g_bins[1:], strict=False)),
        "validate.g_bins",
        "must be at least two increasing edges",
    )
    r = cfg.run
    _require(
        r.backend in BACKEND_NAMES,
        "run.backend",
        f"must be one of {', '.join(BACKEND_NAMES)}, got {r.backend!r}",
    )
    _require(r.score_batch_size >= 1024, "run.score_batch_size", "must be at least 1024")
    _require(r.max_rows_in_memory >= 1, "run.max_rows_in_memory", "must be at least 1")
    _require(
        r.precision in PRECISIONS,
        "run.precision",
        f"must be one of {', '.join(PRECISIONS)}, got {r.precision!r}",
    )


THRESHOLD_CRITERIA = ("fixed", "roc_corner", "max_f1", "youden")

#: Seeds lie in [0, MAX_SEED): NumPy and torch take seeds in [0, 2**64), and the mock adds
#: offsets to sky.seed for its independent draws.
MAX_SEED = 2**62


#: Fields a [target] table must give when its name is not a built-in target's.
_TARGET_FIELDS = {f.name: f for f in dataclasses.fields(Target)}

#: Allowed ranges of a target's numeric fields, (low, high) inclusive.
_TARGET_RANGES: dict[str, tuple[float, float]] = {
    "ra0": (0.0, 360.0),
    "dec0": (-90.0, 90.0),
    "cone_radius": (0.01, 90.0),
    "distance": (1.0, 5000.0),
    "pmra0": (-100.0, 100.0),
    "pmdec0": (-100.0, 100.0),
    "vlos0": (-2000.0, 2000.0),
    "inclination": (0.0, 90.0),
    "position_angle": (-360.0, 360.0),
    "scale_length": (1e-3, 100.0),
    "scale_height": (1e-3, 100.0),
    "sigma_v": (0.0, 1000.0),
    "pm_radius": (1e-3, 100.0),
    "mc_fraction": (1e-6, 1.0 - 1e-6),
    "los_velocity_threshold": (-2000.0, 2000.0),
    "bar_fraction": (0.0, 1.0),
    "bar_length": (0.0, 100.0),
    "bar_width": (0.0, 100.0),
    "bar_angle": (-360.0, 360.0),
    "v_flat": (0.0, 1000.0),
    "r_flat": (1e-3, 100.0),
    "expansion_rate": (-1000.0, 1000.0),
    "expansion_angle": (-360.0, 360.0),
    "extinction_g": (0.0, 20.0),
    "error_scale": (0.1, 3.0),
    "cepheid_rate": (0.0, 0.5),
    "rr_lyrae_rate": (0.0, 0.5),
}


def validate_target(target: Target, where: str = "target") -> None:
    """Check the types and ranges of every field of a target record.

    Raises
    ------
    ConfigError
        Naming ``where.field`` for the first bad value.
    """
    _require(
        isinstance(target.name, str) and target.name.isidentifier() and target.name.islower(),
        f"{where}.name",
        f"must be a lower-case identifier, got {target.name!r}",
    )
    _require(
        target.structure in STRUCTURES,
        f"{where}.structure",
        f"must be one of {STRUCTURES}, got {target.structure!r}",
    )
    for key, (lo, hi) in _TARGET_RANGES.items():
        v = getattr(target, key)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi
        _require(ok, f"{where}.{key}", f"must be a number in [{lo:g}, {hi:g}], got {v!r}")
    _require(
        target.cepheid_rate + target.rr_lyrae_rate <= 1.0,
        f"{where}.cepheid_rate",
        "plus rr_lyrae_rate must not exceed 1",
    )


def target_from_dict(values: dict[str, Any], where: str = "target") -> Target:
    """Build and validate a Target from a table whose keys are its field names.

    When ``values["name"]`` is a built-in target's name, missing keys take that record's
    values (the same galaxy with other parameters); otherwise every field without a default
    must be given.

    Raises
    ------
    ConfigError
        Naming ``where.key`` for an unknown or missing key or a bad value.
    """
    if not isinstance(values, dict):
        raise ConfigError(f"config section [{where}] must be a table")
    unknown = sorted(set(values) - set(_TARGET_FIELDS))
    if unknown:
        raise ConfigError(
            f"unknown config key {where}.{unknown[0]}; known keys: {', '.join(_TARGET_FIELDS)}"
        )
    name = values.get("name")
    base = TARGETS.get(name) if isinstance(name, str) else None
    merged = {**(dataclasses.asdict(base) if base is not None else {}), **values}
    missing = [
        k for k, f in _TARGET_FIELDS.items() if k not in merged and f.default is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"config section [{where}] is missing key {where}.{missing[0]}")
    hints = typing.get_type_hints(Target)
    kwargs = {k: _coerce(f"{where}.{k}", v, hints[k]) for k, v in merged.items()}
    target = Target(**kwargs)
    validate_target(target, where)
    return target


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build a validated Config from nested dictionaries (as parsed from TOML).

    A ``[target]`` table defines the target (see :func:`target_from_dict`); it sets
    ``sky.cloud`` to that record, and a ``sky.cloud`` name given beside it must be its name.
    """
    if not isinstance(data, dict):
        raise ConfigError("configuration must be a table of sections")
    if "target" in data:
        data = dict(data)
        target = target_from_dict(data.pop("target"))
        sky = data.get("sky", {})
        if not isinstance(sky, dict):
            raise ConfigError("config section [sky] must be a table")
        if sky.get("cloud", target.name) != target.name:
            raise ConfigError(
                f"config field sky.cloud {sky['cloud']!r} does not match target.name "
                f"{target.name!r}; give one of them"
            )
        data["sky"] = {**sky, "cloud": target}
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        known = ", ".join([*_SECTIONS, "target"])
        raise ConfigError(f"unknown config section [{unknown[0]}]; known sections: {known}")
    sections = {}
    for name, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"config section [{name}] must be a table")
        sections[name] = _build_section(name, values)
    return Config(**sections)


def load_config(path: str | Path | None = None) -> Config:
    """Load a TOML configuration file; None gives the defaults.

    Parameters
    ----------
    path : str or Path or None
        TOML file with optional sections ``[sky]``, ``[features]``, ``[sample]``, ``[train]``,
        ``[thresholds]``, ``[validate]``, ``[run]`` and ``[target]``.

    Raises
    ------
    ConfigError
        If the file is missing, not TOML, or holds an unknown key or a bad value.
    """
    if path is None:
        return Config()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
