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
from typing import Any, Literal

from gpu_mc.backend import array_namespace, to_host
from gpu_mc.errors import InputError
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
