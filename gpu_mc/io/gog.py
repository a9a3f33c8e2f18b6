"""Read a Gaia Object Generator (GOG) export as the Milky Way training class.

The Gaia archive's ``gaiadr3.gaia_source_simulation`` table (GOG: the Gaia Universe Model
observed with simulated Gaia DR3 errors) uses the ``gaia_source`` names for the columns the
features need, but has no ``pmra_pmdec_corr``. Where the correlation is absent we assume it is
zero, and say so: the assumption is returned with the table and stored in the model's
provenance.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gpu_mc.io import schema
from gpu_mc.io.readers import column_names, read_gaia_table, sniff

log = logging.getLogger(__name__)

#: Columns of gaia_source_simulation (or its common exports) renamed to ours.
GOG_COLUMN_MAP: dict[str, str] = {
    "mag_g": "phot_g_mean_mag",
    "mag_bp": "phot_bp_mean_mag",
    "mag_rp": "phot_rp_mean_mag",
}


def read_mw_simulation(
    path: str | Path,
    required: Sequence[str] = schema.REQUIRED_COLUMNS,
    column_map: Mapping[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Read a GOG export with the columns the features need.

    Parameters
    ----------
    path : str or Path
        Parquet, CSV, ECSV, FITS or VOTable export of ``gaia_source_simulation``.
    required : sequence of str
        Gaia columns the model's features need.
    column_map : mapping, optional
        Extra file-name → Gaia-name renames, on top of :data:`GOG_COLUMN_MAP`.

    Returns
    -------
    table : dict of str to ndarray
        Validated columns, as :func:`~gpu_mc.io.readers.read_gaia_table` returns them.
    assumptions : list of str
        What was assumed for columns the export lacks (empty when nothing was).
    """
    mapping = {**GOG_COLUMN_MAP, **(column_map or {})}
    source = sniff(path)
    present = {k.lower() for k in column_names(source, column_map=mapping)}
    assumptions = []
    need = list(required)
    if "pmra_pmdec_corr" in need and "pmra_pmdec_corr" not in present:
        need.remove("pmra_pmdec_corr")
        assumptions.append(f"{Path(path).name} has no pmra_pmdec_corr: assumed 0")
        log.warning(assumptions[-1])
    table = read_gaia_table(source, column_map=mapping, required=need)
    if "pmra_pmdec_corr" not in table and "pmra_pmdec_corr" in required:
        table["pmra_pmdec_corr"] = np.zeros(len(table["ra"]), dtype=np.float32)
    return table, assumptions
