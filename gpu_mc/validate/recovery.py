"""Recovery tables: how many stars of known catalogues each selection classifies as Cloud stars.

The papers (Jiménez-Arranz et al. 2023a, Table 2; 2023b) judge each sample by the stars of
independent catalogues it keeps: for Cloud members (Cepheids, RR Lyrae, StarHorse Cloud stars)
a high percentage is good; for Milky Way stars (StarHorse MW) a low one. Each catalogue is
matched to the scored stars (by ``source_id`` or by position, with the engine of
:mod:`gpu_mc.validate.crossmatch`), and for every selection the matched stars inside it are
counted. Rows stay on the scores' device; only the counts come back to the host.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow.parquet as pq

from gpu_mc.backend import array_namespace, get_backend, to_device, to_host
from gpu_mc.errors import InputError
from gpu_mc.io.readers import detect_format, read_table
from gpu_mc.thresholds import SAMPLE_NAMES
from gpu_mc.validate.crossmatch import join_source_id, match_positions

#: Row labels of the selections, in the papers' wording where the papers have one.
SELECTION_LABELS: dict[str, str] = {
    "complete": "NN complete",
    "optimal": "NN optimal",
    "truncated_optimal": "NN truncated-optimal",
    "baseline": "PM/parallax baseline",
    "nn_matched": "NN at baseline completeness",
}


def sample_selections(scores: Mapping[str, Any]) -> dict[str, Any]:
    """The three samples of a scores table as a selection mapping.

    Parameters
    ----------
    scores : mapping of str to array
        Holds ``in_complete``, ``in_optimal`` and ``in_truncated_optimal`` (bool, shape (n,)).

    Returns
    -------
    dict of str to bool array, shape (n,)
        Keyed by sample name (``"complete"``, ...).

    Raises
    ------
    InputError
        Naming a missing sample column.
    """
    missing = [f"in_{k}" for k in SAMPLE_NAMES if f"in_{k}" not in scores]
    if missing:
        raise InputError(f"scores: missing column(s) {', '.join(missing)}")
    return {k: scores[f"in_{k}"] for k in SAMPLE_NAMES}


def matched_score_rows(
    catalogue: Mapping[str, Any],
    score_ids: Any,
    by: Literal["source_id", "position"] = "source_id",
    positions: tuple[Any, Any] | None = None,
    radius_arcsec: float = 1.0,
) -> tuple[Any, int]:
    """Rows of the scored stars that a catalogue's rows match.

    Parameters
    ----------
    catalogue : mapping of str to array
        ``source_id`` (integer, shape (m,)) for ``by="source_id"``; ``ra`` and ``dec`` (deg,
        shape (m,)) for ``by="position"``. Host arrays are copied to the scores' device.
    score_ids : int array, shape (n,)
        ``source_id`` of the scored stars (NumPy or CuPy).
    by : {"source_id", "position"}
        Match on identifiers, or nearest scored star within ``radius_arcsec``.
    positions : (ra, dec) of arrays, shape (n,), optional
        Positions of the scored stars in degrees, same device as ``score_ids``; required for
        ``by="position"``.
    radius_arcsec : float
        Positional match radius, arcsec.

    Returns
    -------
    rows : int64 array, shape (k,)
        Distinct scored-star rows matched by at least one catalogue row, ascending, on the
        scores' device.
    n_pairs : int
        Matched (catalogue row, scored star) pairs; ``n_pairs - k`` counts catalogue rows that
        repeat a star already matched (or, by ``source_id``, extra pairs from duplicated
        identifiers).

    Raises
    ------
    InputError
        Missing catalogue columns, a bad ``by``, or positions missing for ``by="position"``.
    """
    xp = array_namespace(score_ids)
    if by == "source_id":
        if "source_id" not in catalogue:
            raise InputError("catalogue: no column 'source_id' to match by source_id")
        join = join_source_id(xp.asarray(catalogue["source_id"]), score_ids, how="inner")
        pairs = join.right_index
    elif by == "position":
        if positions is None:
            raise InputError("matching by position needs the scored stars' ra and dec")
        missing = [c for c in ("ra", "dec") if c not in catalogue]
        if missing:
            raise InputError(f"catalogue: no column(s) {', '.join(missing)} to match by position")
        match = match_positions(
            xp.asarray(catalogue["ra"]),
            xp.asarray(catalogue["dec"]),
            positions[0],
            positions[1],
            radius_arcsec=radius_arcsec,
        )
        pairs = match.idx2
    else:
        raise InputError(f"by must be 'source_id' or 'position', got {by!r}")
    return xp.unique(pairs), int(pairs.shape[0])


def recovery_row(
    name: str,
    catalogue: Mapping[str, Any],
    score_ids: Any,
    selections: Mapping[str, Any],
    by: Literal["source_id", "position"] = "source_id",
    positions: tuple[Any, Any] | None = None,
    radius_arcsec: float = 1.0,
    label: str | None = None,
    expected: Literal["member", "non-member"] | None = None,
) -> dict[str, Any]:
    """Recovery of one catalogue by every selection.

    Parameters
    ----------
    name : str
        Key of the catalogue.
    catalogue : mapping of str to array
        See :func:`matched_score_rows`.
    score_ids : int array, shape (n,)
        ``source_id`` of the scored stars.
    selections : mapping of str to bool array, shape (n,)
        Selections to count in, on the scores' device (e.g. :func:`sample_selections`).
    by, positions, radius_arcsec
        See :func:`matched_score_rows`.
    label : str, optional
        Column heading (default ``name``).
    expected : {"member", "non-member"}, optional
        What the catalogue's stars are, when known: for members a high percentage is good,
        for non-members a low one.

    Returns
    -------
    dict
        ``catalogue``, ``label``, ``expected``, ``n_rows`` (catalogue rows), ``n_matched``
        (distinct scored stars matched), ``n_repeat_pairs`` (matched pairs beyond one per
        star) and ``classified``: per selection ``{"n": int, "percent": float | None}``, the
        matched stars inside the selection and their percentage of ``n_matched``.
    """
    first = next(iter(catalogue.values()), None)
    n_rows = 0 if first is None else int(first.shape[0])
    rows, n_pairs = matched_score_rows(catalogue, score_ids, by, positions, radius_arcsec)
    xp = array_namespace(score_ids)
    n_matched = int(rows.shape[0])
    counts = [xp.count_nonzero(xp.asarray(mask)[rows]) for mask in selections.values()]
    host = [int(c) for c in to_host(xp.stack(counts))] if counts else []
    classified = {
        key: {"n": n, "percent": None if n_matched == 0 else 100.0 * n / n_matched}
        for key, n in zip(selections, host, strict=True)
    }
    return {
        "catalogue": name,
        "label": label or name,
        "expected": expected,
        "n_rows": n_rows,
        "n_matched": n_matched,
        "n_repeat_pairs": n_pairs - n_matched,
        "classified": classified,
    }


def recovery_table(
    scores: Mapping[str, Any],
    catalogues: Mapping[str, Mapping[str, Any]],
    by: Literal["source_id", "position"] = "source_id",
    positions: tuple[Any, Any] | None = None,
    radius_arcsec: float = 1.0,
    selections: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    expected: Mapping[str, Literal["member", "non-member"]] | None = None,
) -> list[dict[str, Any]]:
    """The papers' recovery table: for each catalogue and selection, stars matched and kept.

    Parameters
    ----------
    scores : mapping of str to array
        Scores table (``source_id`` and the ``in_<sample>`` columns, shape (n,)), NumPy or
        CuPy. When it holds ``ra`` and ``dec`` they serve as ``positions``.
    catalogues : mapping of str to mapping of str to array
        Catalogue name → table (``source_id`` and/or ``ra``, ``dec`` in deg).
    by : {"source_id", "position"}
        How to match (see :func:`matched_score_rows`).
    positions : (ra, dec) of arrays, shape (n,), optional
        Positions of the scored stars in degrees, for ``by="position"``.
    radius_arcsec : float
        Positional match radius, arcsec.
    selections : mapping of str to bool array, shape (n,), optional
        Selections to count in (default: the three samples of ``scores``); keys name the
        table's rows (see :data:`SELECTION_LABELS`).
    labels : mapping of str to str, optional
        Catalogue name → column heading.
    expected : mapping of str to {"member", "non-member"}, optional
        Catalogue name → what its stars are.

    Returns
    -------
    list of dict
        One :func:`recovery_row` per catalogue, in the order of ``catalogues``; JSON-able.
    """
    if "source_id" not in scores:
        raise InputError("scores: no column 'source_id'")
    if selections is None:
        selections = sample_selections(scores)
    if positions is None and "ra" in scores and "dec" in scores:
        positions = (scores["ra"], scores["dec"])
    labels = labels or {}
    expected = expected or {}
    return [
        recovery_row(
            name,
            table,
            scores["source_id"],
            selections,
            by,
            positions,
            radius_arcsec,
            labels.get(name),
            expected.get(name),
        )
        for name, table in catalogues.items()
    ]


def _column(table: Mapping[str, Any], name: str, path: Path) -> np.ndarray:
    """A column by name, matched exactly first, then case-insensitively."""
    if name in table:
        return table[name]
    found = [k for k in table if k.lower() == name.lower()]
    if not found:
        raise InputError(f"{path}: no column {name!r} (columns: {', '.join(table)})")
    return table[found[0]]


def _flags(values: np.ndarray, key: str, path: Path) -> np.ndarray:
    """A sample column as bool; 0/1 integers are accepted, anything else is an error."""
    if values.dtype == bool:
        return values
    if values.dtype.kind in "iu" and not isinstance(values, np.ma.MaskedArray):
        if np.isin(values, (0, 1)).all():
            return values.astype(bool)
    raise InputError(f"{path}: column {key!r} must be boolean (or 0/1), got {values.dtype}")


def _cloud_of(path: Path) -> str | None:
    """The ``cloud`` entry of a parquet scores file's metadata, if there is one."""
    if detect_format(path)[0] != "parquet":
        return None
    meta = pq.read_schema(path).metadata or {}
    cloud = meta.get(b"cloud")
    return cloud.decode() if cloud else None


def read_catalogue(
    path: str | Path,
    by: Literal["source_id", "position"] = "source_id",
    ra_col: str = "ra",
    dec_col: str = "dec",
) -> dict[str, np.ndarray]:
    """The columns of a validation catalogue that a match ``by`` needs.

    Parameters
    ----------
    path : str or Path
        Any file :func:`gpu_mc.io.readers.read_table` reads.
    by : {"source_id", "position"}
    ra_col, dec_col : str
        Position columns, deg (matched exactly, then case-insensitively).

    Returns
    -------
    dict of str to numpy.ndarray
        ``source_id`` (integers), or ``ra`` and ``dec`` (float64 deg); shape (n_rows,).

    Raises
    ------
    InputError
        An unreadable or empty file, a missing or non-numeric column, non-integer
        ``source_id`` (naming the file and column).
    """
    path = Path(path)
    table = read_table(path)
    n_rows = next(iter(table.values())).shape[0] if table else 0
    if n_rows == 0:
        raise InputError(f"{path}: the catalogue has no rows")
    if by == "source_id":
        ids = _column(table, "source_id", path)
        if ids.dtype.kind not in "iu":
            raise InputError(f"{path}: column 'source_id' must hold integers, got {ids.dtype}")
        return {"source_id": ids}
    cat = {}
    for key, col in (("ra", ra_col), ("dec", dec_col)):
        values = _column(table, col, path)
        if values.dtype.kind not in "fiu":
            raise InputError(f"{path}: column {col!r} is not numeric degrees")
        cat[key] = values.astype(np.float64)
    return cat


def recovery_from_files(
    scores_path: str | Path,
    catalogue_path: str | Path,
    by: Literal["source_id", "position"] = "source_id",
    radius_arcsec: float = 1.0,
    name: str | None = None,
    input_path: str | Path | None = None,
    ra_col: str = "ra",
    dec_col: str = "dec",
    backend: str | None = "auto",
) -> dict[str, Any]:
    """Recovery of a user's catalogue by the samples of a scores file.

    Parameters
    ----------
    scores_path : str or Path
        Scores written by ``gpu-mc run`` or ``gpu-mc score`` (any format
        :func:`gpu_mc.io.readers.read_table` reads), with ``source_id`` and the ``in_<sample>``
        columns; ``ra`` and ``dec`` (deg) are used for ``by="position"`` when present.
    catalogue_path : str or Path
        The catalogue (parquet, CSV, FITS, VOTable, ...): ``source_id`` for
        ``by="source_id"``, ``ra_col`` and ``dec_col`` (deg) for ``by="position"``.
    by : {"source_id", "position"}
        How to match.
    radius_arcsec : float
        Positional match radius, arcsec.
    name : str, optional
        Column heading (default: the catalogue's file name without suffix).
    input_path : str or Path, optional
        The Gaia table the scores were computed from (same rows, same order), giving the
        scored stars' ``ra`` and ``dec`` for ``by="position"``.
    ra_col, dec_col : str
        Position columns of the catalogue, deg (matched case-insensitively).
    backend : {"auto", "cpu", "gpu"} or None
        Where to match (:func:`gpu_mc.backend.get_backend`).

    Returns
    -------
    dict
        ``cloud`` (from the scores' metadata, or None), ``by``, ``radius_arcsec`` (None by
        ``source_id``), ``scores``, ``catalogue`` (paths) and ``recovery`` (one
        :func:`recovery_row`); JSON-able.

    Raises
    ------
    InputError
        One line naming the file and column: unreadable or empty files, missing or
        non-numeric columns, non-integer ``source_id``, or an ``input_path`` whose rows do not
        follow the scores'.
    """
    if by not in ("source_id", "position"):
        raise InputError(f"--by must be 'source_id' or 'position', got {by!r}")
    scores_path, catalogue_path = Path(scores_path), Path(catalogue_path)
    sample_cols = [f"in_{k}" for k in SAMPLE_NAMES]
    host = read_table(scores_path, columns=["source_id", *sample_cols], optional=("ra", "dec"))
    if host["source_id"].shape[0] == 0:
        raise InputError(f"{scores_path}: the table has no rows")
    for key in sample_cols:
        host[key] = _flags(host[key], key, scores_path)
    cat = read_catalogue(catalogue_path, by, ra_col, dec_col)
    if by == "position":
        if input_path is not None:
            gaia = read_table(input_path, columns=["source_id", "ra", "dec"])
            if not np.array_equal(gaia["source_id"], host["source_id"]):
                raise InputError(
                    f"{input_path}: its source_id column does not follow the scores' rows "
                    f"({gaia['source_id'].shape[0]:,} rows vs {host['source_id'].shape[0]:,})"
                )
            host["ra"], host["dec"] = gaia["ra"], gaia["dec"]
        elif "ra" not in host or "dec" not in host:
            raise InputError(
                f"{scores_path}: no ra/dec columns; give the scored Gaia table with --input "
                "to match by position"
            )
    be = get_backend(backend)
    scores = {k: to_device(v, be) for k, v in host.items()}
    cat = {k: to_device(v, be) for k, v in cat.items()}
    positions = (scores["ra"], scores["dec"]) if by == "position" else None
    label = name or catalogue_path.name.split(".")[0]
    row = recovery_row(
        label, cat, scores["source_id"], sample_selections(scores), by, positions, radius_arcsec
    )
    return {
        "cloud": _cloud_of(scores_path),
        "by": by,
        "radius_arcsec": radius_arcsec if by == "position" else None,
        "scores": str(scores_path),
        "catalogue": str(catalogue_path),
        "recovery": [row],
    }
