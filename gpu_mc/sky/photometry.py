"""Colour–magnitude relations of the mock populations and the G, BP, RP bookkeeping.

Absolute magnitudes are Gaia G; colours are Gaia BP − RP. The relations are smooth
approximations of typical Gaia DR3 colour–magnitude diagrams, good to about 0.1 mag, which is
all the classifier needs: they are our assumption unless a reference is given.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

#: Colour excess per unit G extinction, E(BP − RP) / A_G. Casagrande & VandenBerg 2018
#: (MNRAS 479, L102) give A_G / E(B − V) ≈ 2.74 and E(BP − RP) / E(B − V) ≈ 1.34.
REDDENING_RATIO = 1.34 / 2.74

#: Main-sequence BP − RP as a function of M_G for solar metallicity (our assumption, read
#: off the Gaia DR3 Hertzsprung–Russell diagram of nearby stars: the Sun at M_G ≈ 4.7,
#: BP − RP ≈ 0.82; M dwarfs reach BP − RP ≈ 4 at M_G ≈ 15).
MS_ABS_G = np.array(
    [
        -5.0,
        -2.0,
        0.0,
        1.0,
        2.0,
        3.0,
        4.0,
        4.7,
        5.5,
        6.5,
        7.5,
        8.5,
        9.5,
        10.5,
        11.5,
        12.5,
        14.0,
        17.0,
    ]
)
MS_COLOUR = np.array(
    [
        -0.33,
        -0.2,
        0.0,
        0.1,
        0.3,
        0.55,
        0.72,
        0.82,
        0.98,
        1.2,
        1.55,
        1.9,
        2.3,
        2.6,
        2.9,
        3.2,
        3.7,
        4.6,
    ]
)


def main_sequence_colour(abs_g: Any, xp: ModuleType = np) -> Any:
    """Intrinsic BP − RP of a solar-metallicity main-sequence star, mag; shape of ``abs_g``."""
    return xp.interp(abs_g, xp.asarray(MS_ABS_G), xp.asarray(MS_COLOUR))


def giant_branch_colour(abs_g: Any, base_colour: float, xp: ModuleType = np) -> Any:
    """Intrinsic BP − RP on a red-giant branch, reddening towards the tip, mag.

    ``base_colour + 0.12 (1.8 − M_G) + 0.012 (1.8 − M_G)²`` for M_G < 1.8 (the subgiant end
    keeps ``base_colour``): about 0.95 → 1.95 from the base to the tip at M_G ≈ −3.5 for the
    metal-poor Cloud branch with ``base_colour = 0.95`` (our assumption).

    Parameters
    ----------
    abs_g : array, shape (n,)
        Absolute G magnitude.
    base_colour : float
        BP − RP at the base of the branch (M_G = 1.8); redder for metal-richer populations.
    xp : module
        Array namespace.
    """
    dm = xp.clip(1.8 - abs_g, 0.0, None)
    return base_colour + 0.12 * dm + 0.012 * dm * dm


def g_minus_rp(colour: Any) -> Any:
    """G − RP as a function of BP − RP, mag.

    ``0.63 c − 0.065 c²``: about 0 for BP − RP = 0, 0.47 for a solar colour and 1.3 for an
    M dwarf at BP − RP = 3 (an approximate fit to Gaia DR3 colours; our assumption).
    """
    return 0.63 * colour - 0.065 * colour * colour


def bp_rp_from_g(g: Any, colour: Any) -> tuple[Any, Any]:
    """BP and RP magnitudes from G and BP − RP, mag; shapes of ``g``."""
    rp = g - g_minus_rp(colour)
    return rp + colour, rp


def truncated_exponential_lf(
    u: Any, slope: float, bright: float, faint: Any, xp: ModuleType = np
) -> Any:
    """Draw magnitudes from dN/dM ∝ 10**(slope · M) on [bright, faint] by the inverse CDF.

    Parameters
    ----------
    u : array, shape (n,)
        Uniform deviates in [0, 1).
    slope : float
        Logarithmic slope of the luminosity function, dex per mag (> 0: rising to the faint end).
    bright : float
        Bright limit, mag.
    faint : array, shape (n,)
        Faint limit per star, mag (clipped to be at least ``bright``).
    xp : module
        Array namespace.

    Returns
    -------
    array, shape (n,)
        Absolute magnitudes, mag.
    """
    k = slope * np.log(10.0)
    span = xp.clip(faint - bright, 0.0, None)
    return bright + xp.log1p(u * xp.expm1(k * span)) / k
