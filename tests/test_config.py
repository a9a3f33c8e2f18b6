from pathlib import Path

import pytest

from gpu_mc.config import FEATURE_NAMES, Config, config_from_dict, load_config
from gpu_mc.errors import ConfigError


def test_defaults_follow_the_papers():
    cfg = Config()
    assert cfg.sample.mc_fraction == 0.20
    assert cfg.sample.train_fraction == 0.60
    assert cfg.features.names == FEATURE_NAMES and len(FEATURE_NAMES) == 11
    assert cfg.sky.g_limit == 20.5


def test_load_toml_round_trip(tmp_path: Path):
    p = tmp_path / "c.toml"
    p.write_text('[sky]\ncloud = "smc"\nn_stars = 5000\n[features]\nnames = ["x", "y", "g"]\n')
    cfg = load_config(p)
    assert cfg.sky.cloud == "smc" and cfg.sky.n_stars == 5000
    assert cfg.features.names == ("x", "y", "g")
    assert cfg.train == Config().train


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"sky": {"n_star": 3}}, "sky.n_star"),
        ({"skies": {}}, "skies"),
        ({"sky": {"n_stars": "many"}}, "sky.n_stars"),
        ({"sky": {"n_stars": 10}}, "sky.n_stars"),
        ({"sky": {"cloud": "m31"}}, "sky.cloud"),
        ({"sample": {"mc_fraction": 1.5}}, "sample.mc_fraction"),
        ({"features": {"names": ["x", "colour"]}}, "features.names"),
        ({"features": {"names": ["x", "x"]}}, "features.names"),
        ({"thresholds": {"optimal_criterion": "best"}}, "thresholds.optimal_criterion"),
        ({"train": {"hidden": [64, 0]}}, "train.hidden"),
        ({"run": {"backend": "tpu"}}, "run.backend"),
        ({"validate": {"g_bins": [19, 18]}}, "validate.g_bins"),
        ({"sky": {"seed": True}}, "sky.seed"),
        ({"features": {"fallback": [["colour"]]}}, "features.fallback"),
        ({"features": {"names": ["x", "g"], "fallback": [["x", "g"]]}}, "features.fallback"),
    ],
)
def test_bad_config_names_the_field(data, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        config_from_dict(data)


def test_bad_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[sky\ncloud=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_replace_validates():
    cfg = Config().replace(sky={"cloud": "smc", "n_stars": None})
    assert cfg.sky.cloud == "smc" and cfg.sky.n_stars == Config().sky.n_stars
    with pytest.raises(ConfigError, match=r"sky\.cloud"):
        Config().replace(sky={"cloud": "xmc"})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"sample": {"mw_size_factor": float("inf")}}, "sample.mw_size_factor"),
        ({"sample": {"mw_size_factor": 1e9}}, "sample.mw_size_factor"),
        ({"sample": {"pm_radius": float("inf")}}, "sample.pm_radius"),
        ({"sample": {"pm_radius": 1e6}}, "sample.pm_radius"),
        ({"sample": {"parallax_nsigma": 1e300}}, "sample.parallax_nsigma"),
        ({"train": {"weight_decay": float("inf")}}, "train.weight_decay"),
        ({"train": {"weight_decay": 5.0}}, "train.weight_decay"),
        ({"train": {"learning_rate": float("nan")}}, "train.learning_rate"),
        ({"validate": {"radius_arcsec": float("-inf")}}, "validate.radius_arcsec"),
        ({"validate": {"g_bins": [10.0, float("nan")]}}, r"validate.g_bins\[1\]"),
        ({"sky": {"seed": -1}}, "sky.seed"),
        ({"sample": {"seed": -1}}, "sample.seed"),
        ({"train": {"seed": 2**63 - 1}}, "train.seed"),
    ],
)
def test_nonsense_values_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        config_from_dict(data)


def test_cli_values_are_validated_like_file_values():
    with pytest.raises(ConfigError, match=r"sky\.seed must be in \[0, 2\*\*62\), got -1"):
        Config().replace(sky={"seed": -1})
