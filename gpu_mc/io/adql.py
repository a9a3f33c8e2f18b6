"""ADQL for the papers' base samples in ``gaiadr3.gaia_source``, built from validated numbers.

No string supplied by a caller ever reaches the query text: a target name only selects a
built-in record of :data:`gpu_mc.constants.TARGETS` (a user's target is a validated
:class:`~gpu_mc.constants.Target` record, of which only numbers are used), column names must
belong to the Gaia schema, and every number is checked (type, finiteness, range) and then
formatted by Python itself.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from gpu_mc.constants import TARGETS, Target
from gpu_mc.errors import ConfigError
from gpu_mc.io import schema

#: Gaia DR3 table queried for the base sample.
GAIA_SOURCE_TABLE = "gaiadr3.gaia_source"

#: HEALPix level-12 pixels on the sky (12 × 4**12).
N_HEALPIX12 = 12 * 4**12

#: Exclusive upper bound of Gaia DR3 source_id values (N_HEALPIX12 × 2**35).
SOURCE_ID_END = N_HEALPIX12 * schema.SOURCE_ID_HEALPIX12_DIVISOR

#: Columns that may be selected: the Gaia schema's required and optional columns.
SELECTABLE_COLUMNS: frozenset[str] = frozenset((*schema.GAIA_COLUMNS, *schema.OPTIONAL_COLUMNS))

#: Default selection: the columns the features need plus radial_velocity and ruwe.
DEFAULT_COLUMNS: tuple[str, ...] = (*schema.REQUIRED_COLUMNS, *schema.OPTIONAL_COLUMNS)


def _real(name: str, value: object, low: float, high: float, *, low_open: bool) -> float:
    """Return ``value`` as a finite float within its range, or raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"query.{name}: expected a number, got {type(value).__name__}")
    number = float(value)
    below = number <= low if low_open else number < low
    if not math.isfinite(number) or below or number > high:
        bracket = "(" if low_open else "["
        raise ConfigError(f"query.{name}: {number!r} is outside {bracket}{low:g}, {high:g}]")
    return number


def _integer(name: str, value: object) -> int:
    """Return ``value`` as a source_id bound in [0, SOURCE_ID_END), or raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"query.{name}: expected an integer, got {type(value).__name__}")
    number = int(value)
    if not 0 <= number < SOURCE_ID_END:
        raise ConfigError(f"query.{name}: {number} is outside [0, {SOURCE_ID_END})")
    return number


def _number_text(value: float) -> str:
    """ADQL literal of a validated finite float (Python's shortest round-trip form)."""
    return repr(float(value))


def base_sample_adql(
    cloud: str | Target,
    radius_deg: float | None = None,
    g_max: float = 20.5,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    source_id_range: tuple[int, int] | None = None,
    parallax_over_error_max: float | None = 5.0,
) -> str:
    """ADQL selecting a target's base sample: a cone around its centre down to ``g_max``,
    without stars of significant parallax.

    Parameters
    ----------
    cloud : str or Target
        The target: a built-in name (a key of :data:`gpu_mc.constants.TARGETS`, "lmc" or
        "smc") or a :class:`~gpu_mc.constants.Target` record, e.g. from a ``[target]`` table
        of a configuration. Its ``ra0``, ``dec0`` give the centre and its ``cone_radius`` the
        default radius (LMC 20°, SMC 11°).
    radius_deg : float, optional
        Cone radius, deg, in (0, 180]. Default: the target's ``cone_radius``.
    g_max : float, default 20.5
        Faint limit, mag: ``phot_g_mean_mag <= g_max``, in (0, 25].
    columns : sequence of str, optional
        Columns to select, each from the Gaia schema (required or optional columns).
        Default: the feature inputs, ``source_id``, ``radial_velocity`` and ``ruwe``.
    source_id_range : tuple of int, optional
        Inclusive ``(lo, hi)`` bounds adding ``source_id BETWEEN lo AND hi``, e.g. one item
        of :func:`source_id_ranges`; ``0 <= lo <= hi < SOURCE_ID_END``.
    parallax_over_error_max : float or None, default 5
        Adds ``parallax_over_error < value``, the base-sample criterion of Gaia
        Collaboration, Luri et al. 2021 used by the papers (it also drops sources without a
        parallax, whose ``parallax_over_error`` is null); None leaves it out.

    Returns
    -------
    str
        The query, over several lines.

    Raises
    ------
    ConfigError
        Unknown target, a column outside the schema or repeated, no columns, or a number of the
        wrong type, not finite or out of range; the message names the parameter.
    """
    params = cloud if isinstance(cloud, Target) else None
    if isinstance(cloud, str):
        params = TARGETS.get(cloud)
    if params is None:
        raise ConfigError(
            f"query.cloud: must be one of {', '.join(sorted(TARGETS))} or a target record"
        )
    radius = _real(
        "radius_deg",
        params.cone_radius if radius_deg is None else radius_deg,
        0.0,
        180.0,
        low_open=True,
    )
    g_limit = _real("g_max", g_max, 0.0, 25.0, low_open=True)
    if isinstance(columns, str) or not columns:
        raise ConfigError("query.columns: give a non-empty sequence of column names")
    for name in columns:
        if name not in SELECTABLE_COLUMNS:
            raise ConfigError(
                f"query.columns: unknown column {str(name)[:40]!r} "
                f"(allowed: {', '.join(sorted(SELECTABLE_COLUMNS))})"
            )
    if len(set(columns)) != len(columns):
        raise ConfigError("query.columns: a column is repeated")
    ra0 = _real("ra0", params.ra0, 0.0, 360.0, low_open=False)
    dec0 = _real("dec0", params.dec0, -90.0, 90.0, low_open=False)
    lines = [
        f"SELECT {', '.join(columns)}",
        f"FROM {GAIA_SOURCE_TABLE}",
        "WHERE CONTAINS(POINT(ra, dec), "
        f"CIRCLE({_number_text(ra0)}, {_number_text(dec0)}, {_number_text(radius)})) = 1",
        f"  AND phot_g_mean_mag <= {_number_text(g_limit)}",
    ]
    if parallax_over_error_max is not None:
        poe = _real("parallax_over_error_max", parallax_over_error_max, 0.0, 1e6, low_open=True)
        lines.append(f"  AND parallax_over_error < {_number_text(poe)}")
    if source_id_range is not None:
        if not isinstance(source_id_range, tuple) or len(source_id_range) != 2:
            raise ConfigError("query.source_id_range: expected a (lo, hi) tuple of integers")
        lo = _integer("source_id_range.lo", source_id_range[0])
        hi = _integer("source_id_range.hi", source_id_range[1])
        if lo > hi:
            raise ConfigError(f"query.source_id_range: lo {lo} is greater than hi {hi}")
        lines.append(f"  AND source_id BETWEEN {lo:d} AND {hi:d}")
    return "\n".join(lines)


def source_id_ranges(n_parts: int) -> list[tuple[int, int]]:
    """Split the Gaia source_id space into contiguous HEALPix level-12 ranges.

    A DR3 ``source_id`` is ``healpix12 * 2**35 + n``, so a range of level-12 pixel indices
    maps onto a range of source_id. The ``N_HEALPIX12`` pixels are split into ``n_parts``
    runs of (nearly) equal length; each run gives inclusive source_id bounds.

    Parameters
    ----------
    n_parts : int
        Number of ranges, in [1, N_HEALPIX12].

    Returns
    -------
    list of tuple of int
        ``n_parts`` inclusive ``(lo, hi)`` bounds, ascending, contiguous
        (``hi + 1`` of one equals ``lo`` of the next), covering ``[0, SOURCE_ID_END)``.

    Raises
    ------
    ConfigError
        ``n_parts`` is not an integer in [1, N_HEALPIX12].
    """
    if isinstance(n_parts, bool) or not isinstance(n_parts, numbers.Integral):
        raise ConfigError(f"query.n_parts: expected an integer, got {type(n_parts).__name__}")
    if not 1 <= n_parts <= N_HEALPIX12:
        raise ConfigError(f"query.n_parts: {n_parts} is outside [1, {N_HEALPIX12}]")
    step = schema.SOURCE_ID_HEALPIX12_DIVISOR
    edges = [N_HEALPIX12 * k // int(n_parts) for k in range(int(n_parts) + 1)]
    return [(edges[k] * step, edges[k + 1] * step - 1) for k in range(int(n_parts))]
