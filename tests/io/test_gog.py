import numpy as np

from gpu_mc.backend import get_backend
from gpu_mc.config import Config
from gpu_mc.io.gog import read_mw_simulation
from gpu_mc.io.writers import write_table
from gpu_mc.pipeline import simulate, train
from gpu_mc.progress import Reporter
from gpu_mc.sky import simulate_milky_way


def _gog_export(path, n=8000):
    mw = simulate_milky_way(Config().sky, n, seed=99)
    cols = {k: v for k, v in mw.items() if not k.startswith("true_") and k != "pmra_pmdec_corr"}
    cols["mag_g"] = cols.pop("phot_g_mean_mag")
    write_table(path, cols)
    return mw


def test_gog_export_is_read_with_stated_assumption(tmp_path):
    mw = _gog_export(tmp_path / "gog.parquet")
    table, assumed = read_mw_simulation(tmp_path / "gog.parquet")
    assert len(assumed) == 1 and "pmra_pmdec_corr" in assumed[0] and "assumed 0" in assumed[0]
    np.testing.assert_array_equal(table["pmra_pmdec_corr"], 0)
    np.testing.assert_array_equal(table["phot_g_mean_mag"], mw["phot_g_mean_mag"])
    np.testing.assert_array_equal(table["source_id"], mw["source_id"])


def test_gog_as_mw_training_class(tmp_path):
    _gog_export(tmp_path / "gog.parquet")
    mw, _ = read_mw_simulation(tmp_path / "gog.parquet")
    cfg = Config().replace(sky={"n_stars": 20_000}, train={"max_epochs": 3})
    be, rep = get_backend("cpu"), Reporter(enabled=False)
    trained = train(simulate(cfg, be, rep), cfg, be, rep, mw=mw)
    counts = trained.training_set.counts()
    n_mw = sum(part["mw"] for part in counts.values())
    assert 0 < n_mw <= 8000
    assert int((trained.training_set.labels == 0).sum()) == 8000


def test_column_names_agree_with_read_table(tmp_path):
    from gpu_mc.io.readers import column_names, read_table

    cols = {"Source_ID": np.arange(3), "mag_g": np.ones(3), "extra": np.zeros(3)}
    for ext in ("parquet", "csv", "fits", "ecsv"):
        path = write_table(tmp_path / f"t.{ext}", cols)
        names = column_names(path, column_map={"MAG_G": "phot_g_mean_mag"})
        assert names == list(read_table(path, column_map={"MAG_G": "phot_g_mean_mag"}))
        assert names == ["source_id", "phot_g_mean_mag", "extra"]
