"""Assemble the mock Gaia DR3 sky: Cloud members plus Milky Way foreground, observed and
tagged with truth, generated chunk by chunk with one random stream per chunk.

Tables are dictionaries of equal-length arrays on the namespace ``xp`` with the Gaia archive
columns of :data:`~gpu_mc.io.schema.GAIA_COLUMNS`, ``radial_velocity`` and the truth columns
of :data:`~gpu_mc.io.schema.TRUTH_COLUMNS`, in their dtypes.

``source_id`` imitates Gaia's: the HEALPix level-12 NESTED pixel of (ra, dec) times 2**35
plus a running number ``tag * 2**32 + row``, where ``tag`` names the table (0 the observed
sky, 1 the Milky Way simulation, 2 the comparison field), so identifiers are unique within a
table and never shared between the three tables of one seed.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from gpu_mc.config import SkyConfig
from gpu_mc.constants import ICRS_TO_GALACTIC, Target
from gpu_mc.healpix import healpix_nested_index
from gpu_mc.io.schema import GAIA_COLUMNS, OPTIONAL_COLUMNS, TRUTH_COLUMNS
from gpu_mc.sky.cloud import G_MARGIN, draw_cloud
from gpu_mc.sky.foreground import draw_foreground, get_model
from gpu_mc.sky.geometry import to_radec, unit_vector
from gpu_mc.sky.milky_way import ForegroundField, foreground_field
from gpu_mc.sky.observers import Observer, make_observer
from gpu_mc.sky.rng import host_rng, make_rng

#: Table tags stored in the running number of source_id.
TABLE_TAGS = {"sky": 0, "milky_way": 1, "comparison": 2, "cloud": 3}

#: Bits of the running number below the table tag (rows per table < 2**32).
ROW_BITS = 32

#: Columns of every table, with dtypes.
COLUMNS: dict[str, np.dtype] = {
    **{k: v[0] for k, v in GAIA_COLUMNS.items()},
    "radial_velocity": OPTIONAL_COLUMNS["radial_velocity"][0],
    **{k: v[0] for k, v in TRUTH_COLUMNS.items()},
}

# Batches are drawn with this much headroom over the rows still missing, since the cone and
# observed-G cuts reject a few per cent of candidates.
_OVERDRAW = 1.06


def mc_fraction(cfg: SkyConfig) -> float:
    """Share of Cloud members among rows of the observed sky: configured or the target's."""
    return cfg.member_fraction


def expected_mw_fraction(cfg: SkyConfig) -> float:
    """Expected share of Milky Way stars among the rows of :func:`simulate_sky`."""
    return 1.0 - mc_fraction(cfg)


def _finish(
    true: dict[str, Any],
    rng: Any,
    cfg: SkyConfig,
    true_class: int,
    xp: ModuleType,
    observer: Observer,
) -> dict[str, Any]:
    """Observe candidates, attach truth, keep those in the base sample: in the cone, with
    observed G ≤ g_limit and, if configured, parallax_over_error below its maximum."""
    rows = observer(true, rng)
    keep = true["keep"] & (rows["phot_g_mean_mag"] <= cfg.g_limit)
    if cfg.parallax_over_error_max is not None:
        poe = rows["parallax"] / rows["parallax_error"]
        keep &= poe < cfg.parallax_over_error_max
    rows["true_class"] = xp.full(keep.shape[0], true_class, dtype=xp.int8)
    rows["true_component"] = true["component"]
    rows["true_distance_kpc"] = true["distance_kpc"]
    rows["true_variable"] = true["variable"]
    rows["ra"] = true["ra"]
    rows["dec"] = true["dec"]
    return {k: v[keep] for k, v in rows.items()}


def _fill(n: int, draw: Callable[[int], dict[str, Any]], xp: ModuleType) -> dict[str, Any] | None:
    """Call ``draw(m)`` in batches until ``n`` accepted rows exist; return exactly ``n``."""
    if n == 0:
        return None
    parts = []
    have = 0
    while have < n:
        batch = draw(int((n - have) * _OVERDRAW) + 256)
        parts.append(batch)
        have += int(batch["ra"].shape[0])
    if len(parts) == 1:
        return {k: v[:n] for k, v in parts[0].items()}
    return {k: xp.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


def _simulate(
    n: int,
    cfg: SkyConfig,
    seed: int,
    tag: str,
    member_fraction: float,
    field: ForegroundField,
    xp: ModuleType,
    progress: Callable[[int], None] | None = None,
    models: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Shared chunked generator of the three public tables.

    ``models`` is the (foreground model, error model) pair of the table; by default the
    sky's (``cfg.foreground_model``, ``cfg.error_model``). ``field`` must be built with the
    foreground model's Galaxy parameters.
    """
    fg_name, err_name = models or (cfg.foreground_model, cfg.error_model)
    fg_model = get_model(fg_name)
    # The comparison field lies away from the Cloud: its crowding is the foreground's alone.
    observer = make_observer(
        cfg, err_name, cfg.foreground_model, mc_fraction(cfg), xp, members=tag != "comparison"
    )
    cloud: Target = cfg.target
    p_cep = cloud.cepheid_rate / member_fraction if member_fraction > 0 else 0.0
    p_rrl = cloud.rr_lyrae_rate / member_fraction if member_fraction > 0 else 0.0
    tag_id = TABLE_TAGS[tag]
    out = {k: xp.empty(n, dtype=dt) for k, dt in COLUMNS.items()}

    for chunk, start in enumerate(range(0, n, cfg.chunk_size)):
        n_chunk = min(cfg.chunk_size, n - start)
        n_mc = int(host_rng(seed, tag_id, chunk, 1).binomial(n_chunk, member_fraction))
        rng = make_rng(xp, seed, tag_id, chunk, 0)
        parts = (
            _fill(
                n_mc,
                lambda m, rng=rng: _finish(
                    draw_cloud(m, cloud, rng, cfg.g_limit, p_cep, p_rrl, xp),
                    rng,
                    cfg,
                    1,
                    xp,
                    observer,
                ),
                xp,
            ),
            _fill(
                n_chunk - n_mc,
                lambda m, rng=rng: _finish(
                    draw_foreground(fg_model, field, m, rng, xp), rng, cfg, 0, xp, observer
                ),
                xp,
            ),
        )
        # A random permutation of the chunk's rows gives every drawn star its place.
        dest = start + xp.argsort(rng.random(n_chunk))
        offset = 0
        for part in parts:
            if part is None:
                continue
            size = int(part["ra"].shape[0])
            where = dest[offset : offset + size]
            for k, column in part.items():
                out[k][where] = column.astype(out[k].dtype, copy=False)
            offset += size
        stop = start + n_chunk
        pixel = healpix_nested_index(out["ra"][start:stop], out["dec"][start:stop], 12, xp)
        running = (tag_id << ROW_BITS) + start + xp.arange(n_chunk, dtype=xp.int64)
        out["source_id"][start:stop] = (pixel << 35) + running
        del parts
        if progress is not None:
            progress(stop)
    return out


def _field(
    cfg: SkyConfig, xp: ModuleType, foreground: str | None = None, mirror: bool = False
) -> ForegroundField:
    """The Milky Way foreground in the target's cone, or in its mirror comparison field.

    ``foreground`` names the foreground model whose Galaxy parameters are used; by default
    the sky's (``cfg.foreground_model``).
    """
    cloud = cfg.target
    ra, dec = comparison_centre(cloud) if mirror else (cloud.ra0, cloud.dec0)
    galaxy = get_model(foreground or cfg.foreground_model).galaxy
    return foreground_field(
        ra, dec, cloud.cone_radius, cfg.g_limit + G_MARGIN, galaxy, xp, mirror=mirror
    )


def simulate_sky(
    cfg: SkyConfig, xp: ModuleType = np, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """The observed base sample towards the Cloud: members plus Milky Way foreground.

    Parameters
    ----------
    cfg : SkyConfig
        Cloud, number of rows, seed, faint limit, error scale, member fraction, chunk size.
    xp : module
        Array namespace (:mod:`numpy` or :mod:`cupy`) of the returned columns.
    progress : callable, optional
        Called with the number of rows done after each chunk.

    Returns
    -------
    dict of arrays, shape (cfg.n_stars,)
        The columns of :data:`COLUMNS`. Rows lie in the cone of ``cloud.cone_radius`` about
        the Cloud centre with observed G ≤ ``cfg.g_limit``; each chunk holds a binomial
        number of members (probability :func:`mc_fraction`) in shuffled order.
    """
    return _simulate(
        cfg.n_stars, cfg, cfg.seed, "sky", mc_fraction(cfg), _field(cfg, xp), xp, progress
    )


def simulate_milky_way(
    cfg: SkyConfig,
    n: int,
    seed: int,
    xp: ModuleType = np,
    models: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """An independent Milky-Way-only draw in the Cloud's cone (the simulated MW class).

    Parameters
    ----------
    cfg : SkyConfig
        As for :func:`simulate_sky` (``n_stars``, ``seed`` and ``mc_fraction`` unused).
    n : int
        Number of rows.
    seed : int
        Seed of this table.
    xp : module
        Array namespace.
    models : (str, str), optional
        Foreground model and error model of the draw (default: the sky's; see
        :func:`gpu_mc.sky.foreground.training_mw_models` for the mismatched pair).

    Returns
    -------
    dict of arrays, shape (n,)
        Same columns as :func:`simulate_sky`, all with ``true_class == 0``.
    """
    models = models or (cfg.foreground_model, cfg.error_model)
    return _simulate(n, cfg, seed, "milky_way", 0.0, _field(cfg, xp, models[0]), xp, models=models)


def simulate_cloud(
    cfg: SkyConfig, n: int, seed: int, xp: ModuleType = np, error_model: str | None = None
) -> dict[str, Any]:
    """An independent draw of the target's own model: Cloud members only, in its cone.

    The MC class ``sample.mc_selection = "model"`` (or ``"both"``) is drawn here, the Cloud's
    counterpart of :func:`simulate_milky_way`: the same structure, kinematics and
    colour-magnitude diagram as the sky's members, observed with ``error_model`` and cut to
    the base sample (cone, G limit, parallax criterion). ``cfg``, ``n``, ``seed`` and ``xp``
    are those of :func:`simulate_milky_way`; ``error_model`` names the draw's error model
    (default: the sky's).

    Returns
    -------
    dict of arrays, shape (n,)
        Same columns as :func:`simulate_sky`, all with ``true_class == 1``.
    """
    models = (cfg.foreground_model, error_model or cfg.error_model)
    return _simulate(n, cfg, seed, "cloud", 1.0, _field(cfg, xp), xp, models=models)


def comparison_centre(cloud: Target) -> tuple[float, float]:
    """Centre of the comparison field: the Cloud centre mirrored to longitude 360° − l0.

    Returns
    -------
    ra, dec : float
        ICRS position of (l = 360° − l0, b = b0), deg.
    """
    g = ICRS_TO_GALACTIC @ np.array(unit_vector(cloud.ra0, cloud.dec0), dtype=float)
    mirrored = ICRS_TO_GALACTIC.T @ np.array([g[0], -g[1], g[2]])
    ra, dec, _ = to_radec(tuple(mirrored))
    return float(ra), float(dec)


def simulate_comparison_field(
    cfg: SkyConfig, n: int, seed: int, xp: ModuleType = np
) -> dict[str, Any]:
    """Milky Way stars of the mirror comparison field, reflected onto the Cloud's cone.

    The comparison field is the Cloud's cone mirrored to Galactic longitude 360° − l0 (same
    b0 and radius), a field with a foreground of the same density structure and no Cloud.
    Stars are drawn there (densities, rotation and dispersions evaluated at their true
    positions) and then carried back by the reflection l → 360° − l, which maps that cone
    exactly onto the Cloud's (so x, y features fall in range), with velocities reflected and
    time-reversed (v → −M v, :func:`~gpu_mc.sky.milky_way.mirror_matrix`) before the proper
    motions are projected at the new positions. For our axisymmetric Galaxy this reproduces
    the Cloud-field foreground except that the reflex of the Sun's peculiar motion (U, W)
    changes sign, a few mas/yr for stars within a kiloparsec: a nearby field whose
    foreground is similar but not identical, as a real comparison field would be. (Rotating
    positions while keeping the field's own proper motions would leave the foreground's
    proper motions several mas/yr away from the Cloud field's and make any contamination
    estimate from it meaningless.)

    Parameters
    ----------
    cfg : SkyConfig
        As for :func:`simulate_sky`.
    n : int
        Number of rows.
    seed : int
        Seed of this table.
    xp : module
        Array namespace.

    Returns
    -------
    dict of arrays, shape (n,)
        Same columns as :func:`simulate_sky`, all with ``true_class == 0``.
    """
    return _simulate(n, cfg, seed, "comparison", 0.0, _field(cfg, xp, mirror=True), xp)
