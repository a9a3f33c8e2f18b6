import pytest
from cli_runner import gpu_mc as _cli

from gpu_mc.constants import LMC


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
