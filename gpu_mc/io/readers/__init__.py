"""Read Gaia-like tables from parquet, CSV (plain or gzip), ECSV, FITS, VOTable, CDS/MRT and
VizieR TSV.

The package is split by job: :mod:`~gpu_mc.io.readers.detect` finds a file's format once
from its content; :mod:`~gpu_mc.io.readers.arrow_formats` (parquet, CSV) and
:mod:`~gpu_mc.io.readers.astropy_formats` (FITS, VOTable, ECSV, CDS, VizieR TSV) read
columns; :mod:`~gpu_mc.io.readers.names` matches column names; and
:mod:`~gpu_mc.io.readers.checks` holds the unit, type and value checks (the value policy)
that the host reader and the cuDF loader both run; :mod:`~gpu_mc.io.readers.tables` puts
them together. Every failure is an :class:`~gpu_mc.errors.InputError` with a one-line
message naming the file and, where one is involved, the column.
"""

from gpu_mc.io.readers.checks import (
    EXPECTED_UNITS,
    IMPOSSIBLE,
    SUSPICIOUS,
    check_gaia_values,
    gaia_columns,
)
from gpu_mc.io.readers.common import NULL_VALUES
from gpu_mc.io.readers.detect import TableFile, detect_format, sniff
from gpu_mc.io.readers.tables import (
    column_names,
    parquet_row_groups,
    parquet_units,
    read_gaia_table,
    read_table,
)

__all__ = [
    "EXPECTED_UNITS",
    "IMPOSSIBLE",
    "NULL_VALUES",
    "SUSPICIOUS",
    "TableFile",
    "check_gaia_values",
    "column_names",
    "detect_format",
    "gaia_columns",
    "parquet_row_groups",
    "parquet_units",
    "read_gaia_table",
    "read_table",
    "sniff",
]
