import pytest
from cli_runner import gpu_mc as _cli

from gpu_mc.constants import LMC, SMC


def test_print_adql_matches_the_base_sample():
    r = _cli("query", "--cloud", "lmc", "--print-adql")
    assert r.returncode == 0, r.stderr
    q = " ".join(r.stdout.split())
    assert f"CIRCLE({LMC.ra0}, {LMC.dec0}, {LMC.cone_radius})" in q
    assert "phot_g_mean_mag <= 20.5" in q and "FROM gaiadr3.gaia_source" in q
    for col in ("source_id", "pmra_pmdec_corr", "parallax_error", "phot_rp_mean_mag"):
        assert col in q


def test_query_rejects_bad_numbers_without_network(tmp_path):
    r = _cli("query", "--cloud", "lmc", "--radius-deg", "-3", "--print-adql")
    assert r.returncode == 2 and "radius" in r.stderr
    r = _cli("query", "--cloud", "lmc")
    assert r.returncode == 2 and "--out" in r.stderr


@pytest.mark.network
def test_live_query_small_cone(tmp_path):
    r = _cli(
        "query",
        "--cloud",
        "lmc",
        "--radius-deg",
        "0.01",
        "--parts",
        "1",
        "--out",
        str(tmp_path / "q.parquet"),
    )
    assert r.returncode == 0, r.stderr


def test_print_adql_of_a_user_target(tmp_path):
    """`--config` with a [target] table queries that target's cone (by default or by name)."""
    from pathlib import Path

    from gpu_mc.config import load_config

    config = Path(__file__).parents[2] / "examples" / "fornax.toml"
    t = load_config(config).target
    want = f"CIRCLE({t.ra0!r}, {t.dec0!r}, {t.cone_radius!r})"
    for args in (["--config", config], ["--cloud", "fornax", "--config", config]):
        r = _cli("query", *args, "--print-adql")
        assert r.returncode == 0, r.stderr
        q = " ".join(r.stdout.split())
        assert want in q and "phot_g_mean_mag <= 20.5" in q
        assert "parallax_over_error < 5.0" in q
    r = _cli("query", "--cloud", "smc", "--config", config, "--print-adql")
    assert r.returncode == 0 and f"CIRCLE({SMC.ra0}, {SMC.dec0}, {SMC.cone_radius})" in r.stdout
    g_limit = tmp_path / "g.toml"
    g_limit.write_text(config.read_text().replace("[sky]\n", "[sky]\ng_limit = 19.0\n"))
    r = _cli("query", "--config", g_limit, "--print-adql")
    assert r.returncode == 0 and "phot_g_mean_mag <= 19.0" in r.stdout, r.stderr
