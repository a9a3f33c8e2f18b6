"""The training set: a Cloud class selected from the observed sky and a Milky Way class
from a simulation, balanced and split with counter-based random numbers.

MC class (default, in the spirit of Gaia Collaboration, Luri et al. 2021, A&A 649, A7):
stars of the observed base sample whose parallax is consistent with the Cloud's
(|ϖ − 1/D| < ``parallax_nsigma`` σϖ) and whose proper motion (μx, μy) lies within
``pm_radius`` mas/yr of the Cloud's systemic motion (by default the target's ``pm_radius``). The
papers take the MC class from catalogue-based selections; this selection plays that role on
the mock sky and is also the "proper-motion/parallax baseline" the classifier is compared
with.

Alternatively (``mc_selection``) the MC class is the error-aware selection of
:mod:`gpu_mc.mc_class` ("error_aware", the default), a draw of the target's own model
("model", for a user who trusts that model; :func:`gpu_mc.sky.simulate_cloud`), or both.

MW class: an independent draw of the Milky Way foreground model in the same cone (the role
the Gaia Object Generator plays in the papers).

Balancing: the class in excess is thinned at random so that the MC class makes up
``mc_fraction`` (20% in the papers) of the set; then 60% train / 40% test, and a part of
the training split held out for early stopping. The choice of every star is a pure function
of (seed, row), so CPU and GPU pick the same stars.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpu_mc.backend import array_namespace
from gpu_mc.config import SampleConfig
from gpu_mc.constants import Target, as_target
from gpu_mc.errors import GpuMcError
from gpu_mc.features import concat_tables, features
from gpu_mc.io.schema import REQUIRED_COLUMNS
from gpu_mc.mc_class import DRAWN_SELECTIONS, error_aware_selection
from gpu_mc_kernels.split import assign_split

DROPPED, TRAIN, VALIDATION, TEST = 0, 1, 2, 3


def pm_radius(cfg: SampleConfig, cloud: str | Target) -> float:
    """The proper-motion radius of the MC selection, mas/yr: configured or the target's."""
    return as_target(cloud).pm_radius if cfg.pm_radius is None else cfg.pm_radius


def pm_parallax_selection(table: Mapping[str, Any], cloud: str | Target, cfg: SampleConfig) -> Any:
    """Boolean mask of stars passing the proper-motion/parallax membership cut.

    Parameters
    ----------
    table : mapping of str to array
        Gaia columns, length n.
    cloud : Target or str
        The target (or a built-in target's name).
    cfg : SampleConfig
        ``parallax_nsigma`` and ``pm_radius`` (mas/yr; see :func:`pm_radius`).

    Returns
    -------
    bool array, shape (n,)
        Stars with missing astrometry never pass.
    """
    c = as_target(cloud)
    xp = array_namespace(table["ra"])
    pm, _ = features(table, cloud, ("mu_x", "mu_y"))
    plx = table["parallax"]
    plx_ok = xp.abs(plx - c.parallax) < cfg.parallax_nsigma * table["parallax_error"]
    d2 = (pm[:, 0] - c.pmra0) ** 2 + (pm[:, 1] - c.pmdec0) ** 2
    finite = xp.isfinite(table["pmra"]) & xp.isfinite(table["pmdec"])
    return plx_ok & (d2 < pm_radius(cfg, cloud) ** 2) & finite


def mc_class_mask(table: Mapping[str, Any], cloud: str, cfg: SampleConfig) -> Any:
    """The stars of ``table`` that ``cfg.mc_selection`` puts in the MC class, shape (n,).

    Error-aware selection ("error_aware", and the selected part of "both"), the PM/parallax
    cut ("pm_cut"), or none ("model": the class is drawn, not selected).
    """
    if cfg.mc_selection in ("error_aware", "both"):
        return error_aware_selection(table, cloud, cfg.mc_chi2_max, cfg.parallax_nsigma)
    if cfg.mc_selection == "model":
        return array_namespace(table["ra"]).zeros(table["ra"].shape[0], dtype=bool)
    return pm_parallax_selection(table, cloud, cfg)


@dataclass(frozen=True)
class TrainingSet:
    """Candidate rows of both classes with their labels and split codes.

    Attributes
    ----------
    table : dict of str to array
        Gaia columns of the MC candidates followed by the MW simulation, length m.
    labels : int8 array, shape (m,)
        1 MC, 0 MW.
    codes : int8 array, shape (m,)
        0 dropped by balancing, 1 train, 2 validation (early stopping), 3 test.
    keep_prob : dict
        Keep probability per class used to balance.
    mc_drawn : dict of str to array or None
        The draw of the target's model in the MC class ("model" or "both"), else None.
    """

    table: dict[str, Any]
    labels: Any
    codes: Any
    keep_prob: dict[str, float]
    mc_drawn: dict[str, Any] | None = None

    def counts(self) -> dict[str, dict[str, int]]:
        """Number of MC and MW rows in each part, from host-side reductions."""
        xp = array_namespace(self.labels)
        out = {}
        for name, code in (("train", TRAIN), ("validation", VALIDATION), ("test", TEST)):
            part = self.codes == code
            n_mc = int(xp.count_nonzero(part & (self.labels == 1)))
            out[name] = {"mc": n_mc, "mw": int(xp.count_nonzero(part)) - n_mc}
        return out


def balance_probabilities(n_mc: int, n_mw: int, mc_fraction: float) -> tuple[float, float]:
    """Keep probabilities (MW, MC) that make the MC class ``mc_fraction`` of the kept set."""
    if n_mc == 0 or n_mw == 0:
        raise GpuMcError(f"training set needs both classes; got {n_mc} MC and {n_mw} MW stars")
    if n_mc / (n_mc + n_mw) > mc_fraction:
        return 1.0, mc_fraction * n_mw / ((1.0 - mc_fraction) * n_mc)
    return (1.0 - mc_fraction) * n_mc / (mc_fraction * n_mw), 1.0


def build_training_set(
    sky: Mapping[str, Any],
    mw_sim: Mapping[str, Any],
    cloud: str | Target,
    cfg: SampleConfig,
    mc_sim: Mapping[str, Any] | None = None,
) -> TrainingSet:
    """Build the MC class from ``sky`` and/or ``mc_sim``, take ``mw_sim`` as the MW class,
    balance and split.

    Parameters
    ----------
    sky : mapping of str to array
        The observed base sample (Gaia columns).
    mw_sim : mapping of str to array
        An independent Milky Way simulation in the same cone.
    cloud : Target or str
        The target (or a built-in target's name).
    cfg : SampleConfig
    mc_sim : mapping of str to array, optional
        A draw of the target's model; required when ``cfg.mc_selection`` is "model" or
        "both" (and then appended to the MC class), ignored otherwise.

    Returns
    -------
    TrainingSet

    Raises
    ------
    GpuMcError
        If the selection needs a draw of the target's model and none is given.
    """
    xp = array_namespace(sky["ra"])
    drawn = cfg.mc_selection in DRAWN_SELECTIONS
    if drawn and mc_sim is None:
        raise GpuMcError(f"sample.mc_selection = {cfg.mc_selection!r} needs a draw of the model")
    mc_mask = mc_class_mask(sky, cloud, cfg)
    parts = [{k: v[mc_mask] for k, v in sky.items() if k in REQUIRED_COLUMNS}]
    if drawn:
        parts.append({k: mc_sim[k] for k in REQUIRED_COLUMNS})
    mc_rows = concat_tables(parts, REQUIRED_COLUMNS)
    n_mc, n_mw = int(mc_rows["ra"].shape[0]), int(mw_sim["ra"].shape[0])
    table = concat_tables([mc_rows, mw_sim], REQUIRED_COLUMNS)
    labels = xp.concatenate([xp.ones(n_mc, dtype=xp.int8), xp.zeros(n_mw, dtype=xp.int8)])
    keep_mw, keep_mc = balance_probabilities(n_mc, n_mw, cfg.mc_fraction)
    codes = assign_split(
        labels, cfg.seed, keep_mw, keep_mc, cfg.train_fraction, cfg.validation_fraction
    )
    mc_drawn = dict(mc_sim) if drawn else None
    return TrainingSet(table, labels, codes, {"mw": keep_mw, "mc": keep_mc}, mc_drawn)
