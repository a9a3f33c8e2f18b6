"""Gaia DR3 column names, dtypes and units used throughout gpu_mc.

Names and dtypes follow the Gaia archive's ``gaiadr3.gaia_source`` table
(double for positions, parallax and proper motions; float for errors, correlations and
magnitudes; long for ``source_id``).
"""

from __future__ import annotations

import numpy as np

from gpu_mc_kernels.features import INPUT_ORDER

#: Columns the 11 features need, with dtype and unit.
GAIA_COLUMNS: dict[str, tuple[np.dtype, str]] = {
    "source_id": (np.dtype("int64"), ""),
    "ra": (np.dtype("float64"), "deg"),
    "dec": (np.dtype("float64"), "deg"),
    "parallax": (np.dtype("float64"), "mas"),
    "parallax_error": (np.dtype("float32"), "mas"),
    "pmra": (np.dtype("float64"), "mas/yr"),
    "pmdec": (np.dtype("float64"), "mas/yr"),
    "pmra_error": (np.dtype("float32"), "mas/yr"),
    "pmdec_error": (np.dtype("float32"), "mas/yr"),
    "pmra_pmdec_corr": (np.dtype("float32"), ""),
    "phot_g_mean_mag": (np.dtype("float32"), "mag"),
    "phot_bp_mean_mag": (np.dtype("float32"), "mag"),
    "phot_rp_mean_mag": (np.dtype("float32"), "mag"),
}

#: Optional Gaia columns carried when present.
OPTIONAL_COLUMNS: dict[str, tuple[np.dtype, str]] = {
    "radial_velocity": (np.dtype("float32"), "km/s"),
    "ruwe": (np.dtype("float32"), ""),
}

#: Truth columns of the mock sky. No feature may read them.
TRUTH_COLUMNS: dict[str, tuple[np.dtype, str]] = {
    "true_class": (np.dtype("int8"), ""),  # 1 = Magellanic Cloud member, 0 = Milky Way
    "true_component": (np.dtype("int8"), ""),  # see gpu_mc.sky.COMPONENTS
    "true_distance_kpc": (np.dtype("float32"), "kpc"),
    "true_variable": (np.dtype("int8"), ""),  # 0 none, 1 Cepheid-like, 2 RR Lyrae-like
}

#: Gaia columns the fused feature kernel reads, in the order of its arguments.
FEATURE_INPUTS: tuple[str, ...] = INPUT_ORDER

#: Columns every input table must hold: source_id plus the feature inputs.
REQUIRED_COLUMNS: tuple[str, ...] = ("source_id", *FEATURE_INPUTS)

#: HEALPix level-12 index of a Gaia source: source_id // 2**35 (Gaia DR3 data model).
SOURCE_ID_HEALPIX12_DIVISOR = 34359738368
