"""Offline tests of the base-sample ADQL builder and the source_id range splitter."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gpu_mc.constants import CLOUDS
from gpu_mc.errors import ConfigError
from gpu_mc.io import schema
from gpu_mc.io.adql import (
    DEFAULT_COLUMNS,
    N_HEALPIX12,
    SOURCE_ID_END,
    base_sample_adql,
    source_id_ranges,
)


def test_lmc_default_query():
    query = base_sample_adql("lmc")
    assert query.splitlines() == [
        f"SELECT {', '.join(DEFAULT_COLUMNS)}",
        "FROM gaiadr3.gaia_source",
        "WHERE CONTAINS(POINT(ra, dec), CIRCLE(81.28, -69.78, 20.0)) = 1",
        "  AND phot_g_mean_mag <= 20.5",
        "  AND parallax_over_error < 5.0",
    ]
    for name in schema.REQUIRED_COLUMNS:
        assert name in query


def test_parallax_over_error_criterion_configurable():
    assert "parallax_over_error" not in base_sample_adql("lmc", parallax_over_error_max=None)
    assert (
        "  AND parallax_over_error < 3.5"
        in base_sample_adql("smc", parallax_over_error_max=3.5).splitlines()
    )
    with pytest.raises(ConfigError, match="parallax_over_error_max"):
        base_sample_adql("lmc", parallax_over_error_max=-1.0)


def test_smc_radius_and_limits():
    query = base_sample_adql("smc", g_max=19, columns=("source_id", "ra", "dec"))
    assert f"CIRCLE({CLOUDS['smc'].ra0!r}, {CLOUDS['smc'].dec0!r}, 11.0)" in query
    assert "phot_g_mean_mag <= 19.0" in query
    assert query.startswith("SELECT source_id, ra, dec\n")
    assert "CIRCLE(81.28, -69.78, 5.5)" in base_sample_adql("lmc", radius_deg=np.float32(5.5))


def test_source_id_range_clause():
    lo, hi = source_id_ranges(8)[3]
    query = base_sample_adql("lmc", source_id_range=(lo, hi))
    assert query.endswith(f"\n  AND source_id BETWEEN {lo} AND {hi}")


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"cloud": "LMC; DROP TABLE x"}, "query.cloud"),
        ({"cloud": 1}, "query.cloud"),
        ({"cloud": "lmc", "radius_deg": "20) OR 1=1 --"}, "query.radius_deg"),
        ({"cloud": "lmc", "radius_deg": math.nan}, "query.radius_deg"),
        ({"cloud": "lmc", "radius_deg": 0.0}, "query.radius_deg"),
        ({"cloud": "lmc", "radius_deg": 181.0}, "query.radius_deg"),
        ({"cloud": "lmc", "radius_deg": True}, "query.radius_deg"),
        ({"cloud": "lmc", "g_max": math.inf}, "query.g_max"),
        ({"cloud": "lmc", "g_max": "20.5"}, "query.g_max"),
        ({"cloud": "lmc", "columns": ("ra", "ra")}, "query.columns"),
        ({"cloud": "lmc", "columns": ("ra", "true_class")}, "query.columns"),
        ({"cloud": "lmc", "columns": ("ra, (SELECT 1)",)}, "query.columns"),
        ({"cloud": "lmc", "columns": "ra"}, "query.columns"),
        ({"cloud": "lmc", "columns": ()}, "query.columns"),
        ({"cloud": "lmc", "source_id_range": (5, 4)}, "query.source_id_range"),
        ({"cloud": "lmc", "source_id_range": (-1, 4)}, "query.source_id_range.lo"),
        ({"cloud": "lmc", "source_id_range": (0, SOURCE_ID_END)}, "query.source_id_range.hi"),
        ({"cloud": "lmc", "source_id_range": (0.0, 4)}, "query.source_id_range.lo"),
        ({"cloud": "lmc", "source_id_range": [0, 4]}, "query.source_id_range"),
    ],
)
def test_invalid_parameters_rejected(kwargs, key):
    with pytest.raises(ConfigError) as err:
        base_sample_adql(**kwargs)
    assert str(err.value).startswith(key)


@pytest.mark.parametrize("n_parts", [1, 3, 7, 64])
def test_ranges_cover_source_id_space_contiguously(n_parts):
    ranges = source_id_ranges(n_parts)
    assert len(ranges) == n_parts
    assert ranges[0][0] == 0 and ranges[-1][1] == SOURCE_ID_END - 1
    for (_, hi), (lo, _) in itertools.pairwise(ranges):
        assert lo == hi + 1
    divisor = schema.SOURCE_ID_HEALPIX12_DIVISOR
    pixels = [(lo // divisor, (hi + 1) // divisor) for lo, hi in ranges]
    sizes = [b - a for a, b in pixels]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == N_HEALPIX12
    assert all(lo % divisor == 0 for lo, _ in ranges)


def test_real_source_id_falls_in_its_healpix_range():
    sid = 4689544567094557440  # a Gaia source near 47 Tuc
    pixel = sid // 2**35
    ranges = source_id_ranges(N_HEALPIX12 // 1024)
    lo, hi = next(r for r in ranges if r[0] <= sid <= r[1])
    assert lo // 2**35 <= pixel <= hi // 2**35


@pytest.mark.parametrize("bad", [0, -2, N_HEALPIX12 + 1, 2.0, True, "4"])
def test_invalid_part_counts(bad):
    with pytest.raises(ConfigError, match=r"query\.n_parts"):
        source_id_ranges(bad)


def test_user_target_from_a_config_gives_its_cone():
    """A [target] table (examples/fornax.toml) gives the cone of that record's own fields."""
    from pathlib import Path

    from gpu_mc.config import load_config

    cfg = load_config(Path(__file__).parents[2] / "examples" / "fornax.toml")
    t = cfg.target
    assert t.name == "fornax" and t.name not in CLOUDS
    lines = base_sample_adql(t, g_max=cfg.sky.g_limit).splitlines()
    assert lines[2] == (
        f"WHERE CONTAINS(POINT(ra, dec), CIRCLE({t.ra0!r}, {t.dec0!r}, {t.cone_radius!r})) = 1"
    )
    assert lines[3:] == [
        f"  AND phot_g_mean_mag <= {cfg.sky.g_limit!r}",
        "  AND parallax_over_error < 5.0",
    ]
    assert base_sample_adql(t, radius_deg=0.5).splitlines()[2].endswith(", 0.5)) = 1")
