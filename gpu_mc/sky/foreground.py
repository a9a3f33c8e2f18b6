"""Named Milky Way foreground models, so the sky's foreground and the training MW class can
come from different models (as the Gaia Object Generator differs from the real sky).

Both models use the sampler of :mod:`gpu_mc.sky.milky_way` (Jurić et al. 2008 geometry,
Galactic rotation, dispersions, dwarf/giant/clump photometry); they differ in their
parameters:

``"juric2008"`` (model A, the project's original foreground)
    :data:`~gpu_mc.constants.MILKY_WAY`: Jurić et al. 2008 densities (thick-disc local
    fraction 0.12, halo 0.0051 with power 2.77), Bensby et al. 2003 / Bond et al. 2010
    dispersions, metal-poor blueing of thick-disc and halo dwarfs. Towards the SMC (8–11°
    from the centre, G ≤ 20.5, ``parallax_over_error < 5``) it gives median |μ| ≈ 5.6 mas/yr,
    55 % with |μ| > 5 mas/yr, 38 % with BP − RP < 0.9 and about half of the stars in the halo.

``"edr3"`` (model B, calibrated to real Gaia EDR3 towards the SMC)
    Built to reproduce the facts measured on real EDR3 in the same ring (issue 12: median
    |μ| 7.5 mas/yr, 71 % with |μ| > 5 mas/yr, 18 % with BP − RP < 0.9). Differences from A,
    all our assumption (calibrated on those three numbers, not taken from a paper):

    * populations: a heavier, flatter thick disc (local fraction 0.30, scale height 0.7 kpc)
      and a thicker thin disc (0.35 kpc); a smaller halo (local fraction 0.003) falling
      more steeply (power 3.5, between the inner and outer slopes of broken-power-law fits
      such as Deason et al. 2011, MNRAS 416, 2903), so fewer distant, slow halo stars;
    * kinematics: a hotter, more slowly rotating thick disc (asymmetric drift 70 km/s,
      dispersions 80/60/50 km/s instead of 46 and 67/38/35);
    * colours: dwarfs of the thick disc and halo are 0.06 and 0.12 mag redder in BP − RP
      (most of the metal-poor blueing of model A undone).

The error model is chosen separately (:mod:`gpu_mc.sky.errors`); with model mismatch on, the
sky uses ``"edr3"`` with empirical errors and the training MW class ``"juric2008"`` with
PyGaia's Gaussian errors (see :func:`training_mw_models`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.constants import MILKY_WAY, GalaxyParams
from gpu_mc.sky.milky_way import ForegroundField, draw_milky_way


@dataclass(frozen=True)
class ForegroundModel:
    """One named foreground model.

    Attributes
    ----------
    name : str
    galaxy : GalaxyParams
        Structure and kinematics passed to the sampler.
    colour_shift : tuple of 3 float
        Added to BP − RP of the thin disc, thick disc and halo stars, mag.
    """

    name: str
    galaxy: GalaxyParams
    colour_shift: tuple[float, float, float] = (0.0, 0.0, 0.0)


FOREGROUND_MODELS: dict[str, ForegroundModel] = {
    "juric2008": ForegroundModel("juric2008", MILKY_WAY),
    "edr3": ForegroundModel(
        "edr3",
        dataclasses.replace(
            MILKY_WAY,
            thin_scale_height=0.35,
            thick_local_fraction=0.30,
            thick_scale_height=0.70,
            thick_drift=70.0,
            thick_sigma=(80.0, 60.0, 50.0),
            halo_local_fraction=0.003,
            halo_power=3.5,
        ),
        colour_shift=(0.0, 0.06, 0.12),
    ),
}

#: The foreground model and error model of the training MW class when model mismatch is on:
#: the original model with PyGaia's Gaussian errors, as the papers' GOG simulation differs
#: from the real sky (our choice).
MISMATCHED_TRAINING = ("juric2008", "pygaia")


def get_model(name: str) -> ForegroundModel:
    """The foreground model called ``name`` (a KeyError names the known ones)."""
    try:
        return FOREGROUND_MODELS[name]
    except KeyError:
        raise KeyError(
            f"unknown foreground model {name!r}; known: {', '.join(FOREGROUND_MODELS)}"
        ) from None


def draw_foreground(
    model: ForegroundModel, field: ForegroundField, n: int, rng: Any, xp: ModuleType = np
) -> dict[str, Any]:
    """Draw ``n`` foreground stars of ``model`` in the field's cone.

    ``field`` must have been built with ``model.galaxy``. Returns the dictionary of
    :func:`~gpu_mc.sky.milky_way.draw_milky_way` with the model's colour shift applied.
    """
    out = draw_milky_way(field, n, rng, xp)
    if any(model.colour_shift):
        shift = xp.asarray(np.asarray(model.colour_shift, dtype=float))
        out["colour"] = out["colour"] + shift[out["component"].astype(xp.int64)]
    return out


def training_mw_models(sky_foreground: str, sky_errors: str, mismatch: bool) -> tuple[str, str]:
    """(foreground model, error model) of the training MW class.

    With ``mismatch`` the training class comes from :data:`MISMATCHED_TRAINING`, unless the
    sky already uses that foreground, in which case the other model is taken; without it,
    from the sky's own models.
    """
    if not mismatch:
        return sky_foreground, sky_errors
    fg, err = MISMATCHED_TRAINING
    if fg == sky_foreground:
        fg = next(k for k in FOREGROUND_MODELS if k != sky_foreground)
    return fg, err
