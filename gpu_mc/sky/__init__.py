"""The built-in mock Gaia DR3 sky towards the LMC or the SMC.

Cloud members (an inclined exponential disc with a bar, rotating, with a Gaia-like
colour–magnitude diagram) and Milky Way foreground (thin disc, thick disc and halo) are
observed with Gaia DR3-like uncertainties and tagged with truth columns. Everything is
seeded, vectorised and written once for NumPy and CuPy (pass ``xp``).
"""

from __future__ import annotations

from gpu_mc.sky.catalogues import mock_catalogues
from gpu_mc.sky.generate import (
    expected_mw_fraction,
    simulate_cloud,
    simulate_comparison_field,
    simulate_milky_way,
    simulate_sky,
)

#: Codes of the ``true_component`` column.
COMPONENTS: dict[int, str] = {
    0: "thin_disc",
    1: "thick_disc",
    2: "halo",
    3: "mc_disc",
    4: "mc_bar",
    5: "mc_spheroid",
}

__all__ = [
    "COMPONENTS",
    "expected_mw_fraction",
    "mock_catalogues",
    "simulate_cloud",
    "simulate_comparison_field",
    "simulate_milky_way",
    "simulate_sky",
]
