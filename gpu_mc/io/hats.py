"""HATS catalogues: write Gaia tables (and scores) as HATS, read them back by cone.

HATS (Hierarchical Adaptive Tiling Scheme, https://www.ivoa.net/documents/Notes/HATS/) stores a
catalogue as parquet files, one per HEALPix NESTED pixel of adaptive order, under
``dataset/Norder=K/Dir=D/Npix=N.parquet``, with ``hats.properties`` (catalogue metadata),
``partition_info.csv`` (the pixel list), ``dataset/_metadata`` and ``dataset/_common_metadata``
(schema and row-group footers) and a ``_healpix_29`` column (each row's order-29 pixel), which
LSDB uses as its index. Community catalogues such as Gaia DR3 are distributed this way.

Everything HATS-specific goes through the ``hats`` library (the ``hats`` extra): spatial index,
pixel alignment, paths, partition info, properties, parquet metadata, skymap and the cone → pixel
filter. It is imported lazily, so ``import gpu_mc`` works without it.

Writing is atomic at the catalogue level: :func:`write_hats` builds the catalogue in a hidden
sibling directory and renames it into place. Partitioned scoring writes one pixel file at a time
(:func:`hats_output_file`, atomic per file, so ``--resume`` can skip finished pixels) and
:func:`finish_hats` writes the metadata last; a directory without ``hats.properties`` is not
(yet) a catalogue.

Reading (:func:`hats_partitions`, :func:`iter_gaia_partitions`, :func:`read_gaia_hats`) picks the
partitions that overlap a cone from the catalogue's pixel list before any data is read, then
reads only the columns needed from each partition and keeps the rows inside the cone.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_mc.errors import InputError
from gpu_mc.io import schema

#: Name and HEALPix order of the spatial index column LSDB expects.
HEALPIX_COLUMN = "_healpix_29"
HEALPIX_ORDER = 29

#: Default maximum rows per partition (the hats-import default threshold is 1,000,000).
DEFAULT_MAX_ROWS = 1_000_000

#: Highest order at which :func:`write_hats` histograms the stars before aligning pixels.
MAX_HISTOGRAM_ORDER = 12

#: Order of the point map (skymap.fits) written with a catalogue, as LSDB writes by default.
SKYMAP_ORDER = 8


def _hats() -> Any:
    """Import :mod:`hats`, or raise an InputError that says how to install it."""
    try:
        import hats
    except ImportError:
        raise InputError(
            "HATS catalogues need the hats extra of gpu_mc (pip install hats lsdb)"
        ) from None
    return hats


@dataclass(frozen=True)
class Cone:
    """A circle on the sky.

    Attributes
    ----------
    ra_deg, dec_deg : float
        ICRS centre, deg.
    radius_deg : float
        Radius, deg, in (0, 180].
    """

    ra_deg: float
    dec_deg: float
    radius_deg: float

    def __post_init__(self) -> None:
        if not (-90.0 <= self.dec_deg <= 90.0):
            raise InputError(f"cone dec {self.dec_deg} deg is outside [-90, 90]")
        if not (0.0 < self.radius_deg <= 180.0):
            raise InputError(f"cone radius {self.radius_deg} deg is outside (0, 180]")

    def contains(self, ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
        """Whether each position lies within the cone (boundary included).

        Parameters
        ----------
        ra_deg, dec_deg : numpy.ndarray, shape (n,)
            Positions, deg.

        Returns
        -------
        numpy.ndarray of bool, shape (n,)
        """
        ra, dec = np.deg2rad(ra_deg), np.deg2rad(dec_deg)
        ra0, dec0 = math.radians(self.ra_deg), math.radians(self.dec_deg)
        # cos(separation) from the spherical law of cosines, compared with cos(radius)
        cos_sep = np.sin(dec) * math.sin(dec0) + np.cos(dec) * math.cos(dec0) * np.cos(ra - ra0)
        return cos_sep >= math.cos(math.radians(self.radius_deg))


@dataclass(frozen=True)
class HatsPartition:
    """One partition (HEALPix pixel) of a HATS catalogue.

    Attributes
    ----------
    order, pixel : int
        HEALPix NESTED order and pixel index.
    path : Path
        Its parquet file.
    name : str
        Its path relative to the catalogue root (``dataset/Norder=K/Dir=D/Npix=N.parquet``),
        the name an output partition of the same pixel gets.
    """

    order: int
    pixel: int
    path: Path
    name: str


# --------------------------------------------------------------------------- reading


def is_hats_catalogue(path: str | Path) -> bool:
    """Whether ``path`` is a directory holding HATS catalogue or collection properties (no
    data read)."""
    p = Path(path)
    names = ("hats.properties", "properties", "collection.properties")
    return p.is_dir() and any((p / n).is_file() for n in names)


def open_hats(path: str | Path) -> Any:
    """Open a HATS object catalogue (metadata only) with :func:`hats.read_hats`.

    Parameters
    ----------
    path : str or Path
        Catalogue root directory, or a collection's (its main catalogue is opened).

    Returns
    -------
    hats.catalog.Catalog

    Raises
    ------
    InputError
        Not a directory, no HATS properties, not an object/source catalogue, or no
        ra/dec columns declared.
    """
    hats = _hats()
    p = Path(path)
    if not p.is_dir():
        raise InputError(f"{p}: not a directory (a HATS catalogue is one)")
    if not is_hats_catalogue(p):
        raise InputError(f"{p}: not a HATS catalogue (no hats.properties or collection.properties)")
    try:
        cat = hats.read_hats(p)
    except (FileNotFoundError, ValueError, NotImplementedError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{p}: not a readable HATS catalogue ({first})") from None
    cat = getattr(cat, "main_catalog", cat)  # a collection (as LSDB writes): its main catalogue
    info = getattr(cat, "catalog_info", None)
    if info is None or str(info.catalog_type) not in ("object", "source"):
        kind = getattr(info, "catalog_type", type(cat).__name__)
        raise InputError(f"{p}: a HATS {kind} dataset, not an object or source catalogue")
    return cat


def _partition(cat: Any, root: Path, pixel: Any) -> HatsPartition:
    """The :class:`HatsPartition` of one ``hats.HealpixPixel`` of ``cat``."""
    from hats.io import pixel_catalog_file

    path = Path(pixel_catalog_file(root, pixel, npix_suffix=cat.catalog_info.npix_suffix).path)
    return HatsPartition(
        order=int(pixel.order),
        pixel=int(pixel.pixel),
        path=path,
        name=str(path.relative_to(root)),
    )


def hats_partitions(path: str | Path, cone: Cone | None = None) -> list[HatsPartition]:
    """The partitions of a HATS catalogue, or only those that overlap a cone.

    The cone is turned into a MOC and intersected with the catalogue's pixel tree by
    :meth:`hats.catalog.Catalog.filter_by_cone`; no data file is opened.

    Parameters
    ----------
    path : str or Path
        Catalogue root directory.
    cone : Cone, optional
        Keep only the partitions whose pixel overlaps it (a MOC at the catalogue's coverage
        order may add pixels within one MOC cell of the cone; their rows are cut by the reader).

    Returns
    -------
    list of HatsPartition
        In the catalogue's pixel order (breadth-first NESTED).

    Raises
    ------
    InputError
        As :func:`open_hats`; a partition file listed but absent; pixel directories
        (``hats_npix_suffix = /``), which this reader does not take.
    """
    root = Path(path)
    return _partitions(open_hats(root), root, cone)


def _partitions(cat: Any, root: Path, cone: Cone | None) -> list[HatsPartition]:
    """:func:`hats_partitions` of an opened catalogue."""
    if cat.catalog_info.npix_suffix in ("/", "\\"):
        raise InputError(f"{root}: partitions stored as directories are not supported")
    if cone is not None:
        cat = cat.filter_by_cone(cone.ra_deg, cone.dec_deg, cone.radius_deg * 3600.0)
    base = Path(cat.catalog_path.path)  # a collection's main catalogue lies below its root
    parts = [_partition(cat, base, px) for px in cat.get_healpix_pixels()]
    missing = [p.name for p in parts if not p.path.is_file()]
    if missing:
        raise InputError(
            f"{root}: {len(missing)} partition file(s) listed but absent (e.g. {missing[0]})"
        )
    return parts


def _check_columns(root: Path, cat: Any, needed: Sequence[str]) -> None:
    """Raise an InputError naming the ``needed`` columns the catalogue's schema lacks."""
    if cat.schema is None:
        return
    have = {n.lower() for n in cat.schema.names}
    missing = [c for c in needed if c.lower() not in have]
    if missing:
        raise InputError(f"{root}: HATS catalogue lacks column(s) {', '.join(missing)}")


def require_columns(path: str | Path, columns: Sequence[str]) -> None:
    """Check, from the catalogue's schema alone, that it holds ``columns`` (case-insensitive).

    Raises
    ------
    InputError
        As :func:`open_hats`, or one line naming every missing column.
    """
    _check_columns(Path(path), open_hats(path), columns)


def iter_gaia_partitions(
    path: str | Path,
    cone: Cone | None = None,
    *,
    required: Sequence[str] = schema.REQUIRED_COLUMNS,
    optional: Sequence[str] = ("radial_velocity", "ruwe"),
    column_map: Mapping[str, str] | None = None,
) -> Iterator[tuple[HatsPartition, dict[str, np.ndarray]]]:
    """Read the Gaia columns of a HATS catalogue partition by partition, within a cone.

    Each partition file is read by :func:`gpu_mc.io.readers.read_gaia_table` (only the
    columns needed, with its unit, dtype and value checks), then the rows outside the cone
    are dropped. Partitions left with no row are skipped.

    Parameters
    ----------
    path : str or Path
        Catalogue root directory (ours, or any with the Gaia columns, e.g. Gaia DR3 HATS).
    cone : Cone, optional
        Sky region to read; None reads the whole catalogue.
    required, optional, column_map
        As :func:`~gpu_mc.io.readers.read_gaia_table`.

    Yields
    ------
    partition : HatsPartition
    columns : dict of str to numpy.ndarray
        The partition's rows inside the cone, shape (n_rows,) per column, in file order.

    Raises
    ------
    InputError
        As :func:`hats_partitions`; required columns missing from the catalogue's schema
        (one message naming them, before any data is read); anything ``read_gaia_table``
        rejects in a partition file.
    """
    root = Path(path)
    cat = open_hats(root)
    inverse = {v: k for k, v in (column_map or {}).items()}
    needed = [inverse.get(c, c) for c in dict.fromkeys(["source_id", "ra", "dec", *required])]
    _check_columns(root, cat, needed)
    for part in _partitions(cat, root, cone):
        cols = read_gaia_partition(
            part, cone, required=required, optional=optional, column_map=column_map
        )
        if cols["source_id"].size:
            yield part, cols


def read_gaia_partition(
    part: HatsPartition,
    cone: Cone | None = None,
    *,
    required: Sequence[str] = schema.REQUIRED_COLUMNS,
    optional: Sequence[str] = ("radial_velocity", "ruwe"),
    column_map: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Read the Gaia columns of one HATS partition, keeping the rows within a cone.

    For a worker that scores one partition (no catalogue metadata is read here).

    Parameters
    ----------
    part : HatsPartition
        From :func:`hats_partitions`.
    cone : Cone, optional
        Rows outside it are dropped (the result may have no row).
    required, optional, column_map
        As :func:`~gpu_mc.io.readers.read_gaia_table`.

    Returns
    -------
    dict of str to numpy.ndarray
        Shape (n_rows,) per column, in file order.
    """
    from gpu_mc.io.readers import read_gaia_table

    cols = read_gaia_table(part.path, column_map=column_map, optional=optional, required=required)
    if cone is not None:
        keep = cone.contains(cols["ra"], cols["dec"])
        if not keep.all():
            cols = {k: v[keep] for k, v in cols.items()}
    return cols


def read_gaia_hats(
    path: str | Path,
    cone: Cone | None = None,
    *,
    required: Sequence[str] = schema.REQUIRED_COLUMNS,
    optional: Sequence[str] = ("radial_velocity", "ruwe"),
    column_map: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Read the Gaia columns of a HATS catalogue within a cone as one table.

    Parameters and exceptions as :func:`iter_gaia_partitions`; also an InputError when no
    star lies in the cone.

    Returns
    -------
    dict of str to numpy.ndarray
        Columns of every star in the cone, shape (n_rows,) each, partitions in pixel order.
    """
    pieces = [
        cols
        for _, cols in iter_gaia_partitions(
            path, cone, required=required, optional=optional, column_map=column_map
        )
    ]
    if not pieces:
        where = (
            ""
            if cone is None
            else f" within {cone.radius_deg} deg of ({cone.ra_deg}, {cone.dec_deg})"
        )
        raise InputError(f"{path}: the HATS catalogue has no rows{where}")
    keys = [k for k in pieces[0] if all(k in p for p in pieces)]
    return {k: np.concatenate([p[k] for p in pieces]) for k in keys}


def read_hats_columns(
    path: str | Path, columns: Sequence[str] | None = None, cone: Cone | None = None
) -> dict[str, np.ndarray]:
    """Read any columns of a HATS catalogue (e.g. a scores catalogue) as NumPy arrays.

    Parameters
    ----------
    path : str or Path
        Catalogue root directory.
    columns : sequence of str, optional
        Columns to read (default: all, including ``_healpix_29``).
    cone : Cone, optional
        Keep only rows within it (the catalogue's ra/dec columns are read for the cut).

    Returns
    -------
    dict of str to numpy.ndarray
        Shape (n_rows,) each; partitions in pixel order.

    Raises
    ------
    InputError
        As :func:`hats_partitions`; columns missing from the schema, named.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(path)
    cat = open_hats(root)
    ra_col, dec_col = cat.catalog_info.ra_column, cat.catalog_info.dec_column
    names = list(cat.schema.names) if columns is None else list(columns)
    _check_columns(root, cat, names)
    extra = [c for c in (ra_col, dec_col) if cone is not None and c not in names]
    tables = []
    for part in _partitions(cat, root, cone):
        table = pq.read_table(part.path, columns=names + extra)
        if cone is not None:
            keep = cone.contains(table[ra_col].to_numpy(), table[dec_col].to_numpy())
            table = table.filter(pa.array(keep))
        tables.append(table.select(names))
    if not tables:
        return {n: np.asarray(pa.array([], cat.schema.field(n).type)) for n in names}
    joined = pa.concat_tables(tables)
    return {n: joined[n].to_numpy() for n in names}


# --------------------------------------------------------------------------- writing


def healpix29(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """The ``_healpix_29`` index (HEALPix order-29 NESTED pixel) of positions, via hats.

    Parameters
    ----------
    ra_deg, dec_deg : numpy.ndarray, shape (n,)
        ICRS positions, deg.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
    """
    _hats()
    from hats.pixel_math import compute_spatial_index

    return np.asarray(compute_spatial_index(ra_deg, dec_deg), dtype=np.int64)


def assign_pixels(index29: np.ndarray, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """HATS partition pixel of each star: the adaptive tiling of :func:`hats.pixel_math.
    generate_alignment`, with no pixel holding more than ``max_rows`` stars.

    The count histogram is taken at the lowest order (8 to :data:`MAX_HISTOGRAM_ORDER`) at
    which no pixel exceeds ``max_rows``; hats merges its pixels upwards while the parent stays
    under ``max_rows`` and drops empty siblings.

    Parameters
    ----------
    index29 : numpy.ndarray of int64, shape (n,)
        ``_healpix_29`` of each star.
    max_rows : int
        Most rows in one partition, at least 1.

    Returns
    -------
    order, pixel : numpy.ndarray of int64, shape (n,)
        Partition pixel of each star.

    Raises
    ------
    InputError
        ``max_rows`` < 1, or more than ``max_rows`` stars in one pixel of order
        :data:`MAX_HISTOGRAM_ORDER` (about 52 arcsec across).
    """
    _hats()
    from hats.pixel_math import generate_alignment, spatial_index_to_healpix

    if max_rows < 1:
        raise InputError(f"the maximum rows per HATS partition must be at least 1, got {max_rows}")
    for order in range(8, MAX_HISTOGRAM_ORDER + 1):
        fine = spatial_index_to_healpix(index29, target_order=order)
        pixels, inverse, counts = np.unique(fine, return_inverse=True, return_counts=True)
        if counts.max(initial=0) <= max_rows:
            break
    else:
        raise InputError(
            f"more than {max_rows} stars in one HEALPix order-{MAX_HISTOGRAM_ORDER} pixel; "
            "allow more rows per partition"
        )
    histogram = np.zeros(12 * 4**order, dtype=np.int64)
    histogram[pixels] = counts
    alignment = generate_alignment(
        histogram,
        highest_order=order,
        lowest_order=0,
        threshold=max_rows,
        drop_empty_siblings=True,
    )
    dest = np.array([alignment[p][:2] for p in pixels], dtype=np.int64).reshape(-1, 2)
    return dest[inverse, 0], dest[inverse, 1]


def _write_pixel_file(path: Path, columns: Mapping[str, np.ndarray], units, metadata) -> None:
    """One partition parquet file, atomically, rows sorted by ``_healpix_29``."""
    from gpu_mc.io.writers import write_table

    order = np.argsort(columns[HEALPIX_COLUMN], kind="stable")
    write_table(
        path, {k: np.asarray(v)[order] for k, v in columns.items()}, units=units, metadata=metadata
    )


def hats_output_file(root: str | Path, order: int, pixel: int) -> Path:
    """Path of the parquet file of pixel (order, pixel) in a catalogue at ``root``."""
    _hats()
    from hats.io import pixel_catalog_file
    from hats.pixel_math import HealpixPixel

    return Path(pixel_catalog_file(Path(root), HealpixPixel(order, pixel)).path)


def write_hats_partition(
    root: str | Path,
    order: int,
    pixel: int,
    columns: Mapping[str, np.ndarray],
    *,
    ra_column: str = "ra",
    dec_column: str = "dec",
    units: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Write one partition of a HATS catalogue (atomically), adding ``_healpix_29``.

    For partitioned scoring: each worker writes its pixel; :func:`finish_hats` writes the
    catalogue metadata once all pixels are written.

    Parameters
    ----------
    root : str or Path
        Catalogue root directory.
    order, pixel : int
        The partition's HEALPix pixel; every row must lie in it.
    columns : mapping of str to numpy.ndarray
        Columns of one length, including ``ra_column`` and ``dec_column`` (deg).
    ra_column, dec_column : str
        Position columns.
    units, metadata : mapping of str to str, optional
        As :func:`~gpu_mc.io.writers.write_table`.

    Returns
    -------
    Path
        The partition file.

    Raises
    ------
    InputError
        Position columns missing, or a row outside the pixel.
    """
    from hats.pixel_math import spatial_index_to_healpix

    lacking = [c for c in (ra_column, dec_column) if c not in columns]
    if lacking:
        raise InputError(f"a HATS partition needs position column(s) {', '.join(lacking)}")
    idx = healpix29(np.asarray(columns[ra_column]), np.asarray(columns[dec_column]))
    outside = int((spatial_index_to_healpix(idx, target_order=order) != pixel).sum())
    if outside:
        raise InputError(f"{outside} row(s) lie outside HEALPix pixel {pixel} of order {order}")
    path = hats_output_file(root, order, pixel)
    _write_pixel_file(path, {**columns, HEALPIX_COLUMN: idx}, units, metadata)
    return path


def finish_hats(
    root: str | Path,
    catalogue_name: str,
    *,
    ra_column: str = "ra",
    dec_column: str = "dec",
    default_columns: Sequence[str] | None = None,
    extra_properties: Mapping[str, str] | None = None,
) -> int:
    """Write the catalogue metadata of a directory of HATS partition files.

    Writes ``dataset/_metadata`` and ``dataset/_common_metadata``
    (:func:`hats.io.write_parquet_metadata`), ``partition_info.csv``
    (:class:`hats.catalog.PartitionInfo`), ``skymap.fits`` / ``point_map.fits`` (the order-8
    point counts, from each file's ``_healpix_29``) and, last, ``hats.properties``
    (:class:`hats.catalog.TableProperties`).

    Parameters
    ----------
    root : str or Path
        Catalogue root holding ``dataset/Norder=*/Dir=*/Npix=*.parquet``.
    catalogue_name : str
        ``obs_collection`` of the catalogue.
    ra_column, dec_column : str
        Position columns, deg.
    default_columns : sequence of str, optional
        ``hats_cols_default``.
    extra_properties : mapping of str to str, optional
        More properties (e.g. ``gpu_mc_model_sha256``); keys must be identifiers.

    Returns
    -------
    int
        Total rows.

    Raises
    ------
    InputError
        No partition file under ``root``.
    """
    import pyarrow.parquet as pq

    _hats()
    from hats.catalog import PartitionInfo, TableProperties
    from hats.catalog.dataset.hats_properties import HatsProperties
    from hats.io import paths, write_parquet_metadata
    from hats.io.file_io import write_fits_image
    from hats.io.skymap import write_skymap
    from hats.pixel_math import spatial_index_to_healpix

    from gpu_mc import __version__

    r = Path(root)
    files = sorted((r / "dataset").glob("Norder=*/Dir=*/Npix=*.parquet"))
    if not files:
        raise InputError(f"{r}: no HATS partition files under dataset/")
    pixels = [paths.get_healpix_from_path(str(f.relative_to(r))) for f in files]
    n_rows = write_parquet_metadata(r)
    info = PartitionInfo.from_healpix(pixels)
    info.write_to_file(catalog_path=r)
    point_map = np.zeros(12 * 4**SKYMAP_ORDER, dtype=np.int64)
    max_rows = 0
    for f in files:
        idx = pq.read_table(f, columns=[HEALPIX_COLUMN])[HEALPIX_COLUMN].to_numpy()
        np.add.at(point_map, spatial_index_to_healpix(idx, target_order=SKYMAP_ORDER), 1)
        max_rows = max(max_rows, idx.size)
    write_fits_image(point_map, paths.get_point_map_file_pointer(r))
    write_skymap(point_map, r)
    provenance = HatsProperties.new_provenance_dict(r, builder=f"gpu_mc v{__version__}")
    props = TableProperties(
        catalog_name=catalogue_name,
        catalog_type="object",
        total_rows=int(n_rows),
        ra_column=ra_column,
        dec_column=dec_column,
        healpix_column=HEALPIX_COLUMN,
        healpix_order=HEALPIX_ORDER,
        default_columns=list(default_columns) if default_columns else None,
        hats_max_rows=int(max_rows),
        skymap_order=SKYMAP_ORDER,
        moc_sky_fraction=float(info.calculate_fractional_coverage()),
        hats_order=int(info.get_highest_order()),
        **provenance,
        **dict(extra_properties or {}),
    )
    with tempfile.TemporaryDirectory(dir=r, prefix=".props.") as tmp:
        props.to_properties_file(tmp)
        for name in ("properties", "hats.properties"):
            os.replace(Path(tmp) / name, r / name)
    return int(n_rows)


@dataclass(frozen=True)
class HatsWritten:
    """What :func:`write_hats` wrote.

    Attributes
    ----------
    root : Path
        Catalogue root directory.
    n_rows : int
        Rows written.
    partitions : list of (int, int)
        (order, pixel) of each partition, in NESTED breadth-first order.
    """

    root: Path
    n_rows: int
    partitions: list[tuple[int, int]]


def write_hats(
    columns: Mapping[str, np.ndarray],
    out_dir: str | Path,
    *,
    catalogue_name: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    ra_column: str = "ra",
    dec_column: str = "dec",
    units: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
    extra_properties: Mapping[str, str] | None = None,
) -> HatsWritten:
    """Write a table (Gaia columns, with or without scores) as a HATS catalogue, atomically.

    Adds ``_healpix_29``, tiles the sky adaptively (:func:`assign_pixels`), writes one parquet
    file per pixel (rows sorted by ``_healpix_29``, units and ``metadata`` in each file) and
    the catalogue metadata (:func:`finish_hats`), all in a hidden sibling directory that is
    renamed to ``out_dir`` at the end. ``lsdb.read_hats(out_dir)`` opens the result.

    Parameters
    ----------
    columns : mapping of str to numpy.ndarray
        Columns of one length ``n``, including ``ra_column`` and ``dec_column`` (deg).
    out_dir : str or Path
        Catalogue root; must not exist or be an empty directory.
    catalogue_name : str, optional
        ``obs_collection`` (default: the directory name).
    max_rows : int
        Most rows in one partition (``gpu-mc simulate --partitions K`` uses ``ceil(n / K)``,
        so there are at least K partitions; HEALPix tiles make an exact count impossible).
    ra_column, dec_column : str
        Position columns.
    units, metadata : mapping of str to str, optional
        As :func:`~gpu_mc.io.writers.write_table`.
    extra_properties : mapping of str to str, optional
        More ``hats.properties`` entries.

    Returns
    -------
    HatsWritten

    Raises
    ------
    InputError
        ``out_dir`` is a file or a non-empty directory; position columns missing, NaN or out of
        range; no rows; ``max_rows`` too small (see :func:`assign_pixels`). Nothing is left
        under ``out_dir`` on failure.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: exists and is not an empty directory (HATS needs one)")
    lacking = [c for c in (ra_column, dec_column) if c not in columns]
    if lacking:
        raise InputError(f"a HATS catalogue needs position column(s) {', '.join(lacking)}")
    ra = np.asarray(columns[ra_column], dtype=np.float64)
    dec = np.asarray(columns[dec_column], dtype=np.float64)
    if ra.size == 0:
        raise InputError(f"{out}: nothing to write (no rows)")
    bad = ~(np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0))
    if bad.any():
        raise InputError(f"{int(bad.sum())} row(s) have missing or out-of-range ra/dec")
    if HEALPIX_COLUMN in columns:
        raise InputError(f"the input already has a {HEALPIX_COLUMN} column")
    idx = healpix29(ra, dec)
    order, pixel = assign_pixels(idx, max_rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        key = order * (1 << 40) + pixel  # (order, pixel) as one sortable integer
        uniq, inverse = np.unique(key, return_inverse=True)
        rows_of = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[rows_of], np.arange(uniq.size + 1))
        parts = []
        for i, k in enumerate(uniq):
            rows = rows_of[bounds[i] : bounds[i + 1]]
            o, p = int(k >> 40), int(k & ((1 << 40) - 1))
            subset = {name: np.asarray(v)[rows] for name, v in columns.items()}
            subset[HEALPIX_COLUMN] = idx[rows]
            _write_pixel_file(hats_output_file(tmp, o, p), subset, units, metadata)
            parts.append((o, p))
        n = finish_hats(
            tmp,
            catalogue_name or out.name,
            ra_column=ra_column,
            dec_column=dec_column,
            extra_properties=extra_properties,
        )
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a catalogue is shared
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return HatsWritten(root=out, n_rows=n, partitions=sorted(parts, key=lambda op: (op[0], op[1])))
