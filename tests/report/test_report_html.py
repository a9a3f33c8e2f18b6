"""The HTML report: figures are valid, non-blank PNGs referenced by the page; tables; errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_runner import gpu_mc
from PIL import Image

from gpu_mc.errors import InputError
from gpu_mc.report.html import make_report
from gpu_mc.report.tables import auto_table

STAR_FIGURES = ("sky_xy.png", "cmd.png", "pm.png", "los_velocity.png", "reliability.png")
#: Figures of the three probabilities (issue 16): need only scores.parquet and metrics.json.
PROBABILITY_FIGURES = ("p_mc_std.png", "estimated_vs_true.png", "calibration.png")
ALL_FIGURES = (
    "roc_pr.png",
    "p_mc_hist.png",
    "completeness_purity.png",
    *PROBABILITY_FIGURES,
    *STAR_FIGURES,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A 20,000-star mock run with sky.parquet (5 training epochs)."""
    from gpu_mc.backend import get_backend
    from gpu_mc.config import Config
    from gpu_mc.pipeline import run
    from gpu_mc.progress import Reporter

    out = tmp_path_factory.mktemp("run")
    cfg = Config().replace(sky={"n_stars": 20000}, train={"max_epochs": 5})
    run(cfg, get_backend("cpu"), out, Reporter(enabled=False), save_sky=True)
    return out


@pytest.fixture(scope="module")
def report(run_dir) -> Path:
    return make_report(run_dir)


def _srcs(page: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page.read_text(encoding="utf-8"))


def _copy_run(run_dir: Path, dest: Path, sky: bool = False) -> Path:
    dest.mkdir()
    names = ["metrics.json", "scores.parquet", *(["sky.parquet"] if sky else [])]
    for name in names:
        shutil.copy(run_dir / name, dest / name)
    return dest


def test_report_layout(report, run_dir):
    assert report == run_dir / "report" / "report.html"
    files = {p.name for p in report.parent.iterdir()}
    assert files == {"report.html", *ALL_FIGURES}
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")], "build dir left behind"


@pytest.mark.parametrize("name", ALL_FIGURES)
def test_figure_is_valid_nontrivial_png_referenced_by_page(report, name):
    path = report.parent / name
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.width >= 400 and im.height >= 300
        px = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert px.std() > 10.0, "image is (nearly) one colour"
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 50
    assert _srcs(report).count(name) == 1


def test_every_image_in_page_exists_and_no_external_resource(report):
    text = report.read_text(encoding="utf-8")
    for src in _srcs(report):
        assert not src.startswith(("/", "http:", "https:", "file:")), src
        assert (report.parent / src).is_file(), src
    assert "<script" not in text and "<link" not in text and "http" not in text


def test_tables(report, run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    text = report.read_text(encoding="utf-8")
    assert f"{m['n_input']:,}" in text
    assert f"{m['samples']['optimal']:,}" in text
    assert m["model_sha256"] in text
    for title in ("Summary", "Baseline comparison", "Provenance", "Timing per stage"):
        assert title in text
    assert "NN purity" in text
    # gpu-mc run stores the validation, so its recovery and contamination tables are shown
    assert "<td>LMC Cepheids</td>" in text and "estimated contamination" in text
    assert "holds no" not in text


def test_validation_and_contamination_rendered_when_present(run_dir, tmp_path):
    d = _copy_run(run_dir, tmp_path / "r")
    m = json.loads((d / "metrics.json").read_text())
    m["validation"] = [
        {"catalogue": "Cepheids", "n_matched": 120, "recovered_optimal": 0.975},
        {"catalogue": "RR Lyrae", "n_matched": 800, "recovered_optimal": 0.9125},
    ]
    m["contamination"] = {"comparison_field": {"density_ratio": 0.0123, "n_field": 4567}}
    (d / "metrics.json").write_text(json.dumps(m))
    text = make_report(d).read_text(encoding="utf-8")
    assert "<th>catalogue</th>" in text and "<td>RR Lyrae</td>" in text
    assert "<td>0.9125</td>" in text and "<td>800</td>" in text
    assert "<th>density_ratio</th>" in text and "<td>4,567</td>" in text


def test_validation_from_validate_mock_rendered(run_dir, tmp_path):
    import pyarrow.parquet as pq

    from gpu_mc.backend import get_backend
    from gpu_mc.config import Config
    from gpu_mc.model.checkpoint import load_model
    from gpu_mc.validate.mock import validate_mock

    def cols(name):
        return {k: np.asarray(v) for k, v in pq.read_table(run_dir / name).to_pydict().items()}

    cfg = Config().replace(sky={"n_stars": 20000})
    v = validate_mock(
        cols("sky.parquet"),
        cols("scores.parquet"),
        load_model(run_dir / "model"),
        cfg,
        get_backend("cpu"),
    )
    d = _copy_run(run_dir, tmp_path / "r")
    m = json.loads((d / "metrics.json").read_text())
    m["validation"] = json.loads(json.dumps(v, default=lambda o: o.item()))
    (d / "metrics.json").write_text(json.dumps(m))
    text = make_report(d).read_text(encoding="utf-8")
    assert "<td>LMC Cepheids</td>" in text and "<th>truncated-optimal</th>" in text
    assert "estimated contamination" in text and " ± " in text
    assert "From the validation" in text and "nn_purity" in text
    assert "holds no" not in text


def test_without_star_table_builds_with_note(run_dir, tmp_path):
    d = _copy_run(run_dir, tmp_path / "r")
    m = json.loads((d / "metrics.json").read_text())
    del m["input"]  # a run directory from before runs recorded their input
    (d / "metrics.json").write_text(json.dumps(m))
    page = make_report(d)
    text = page.read_text(encoding="utf-8")
    assert "no sky.parquet in the run directory" in text
    assert "needs the mock truth" in text
    figures = {p.name for p in page.parent.glob("*.png")}
    assert figures == {
        "roc_pr.png",
        "p_mc_hist.png",
        "completeness_purity.png",
        *PROBABILITY_FIGURES,
    }
    assert sorted(_srcs(page)) == sorted(figures)


def test_input_table_replaces_sky_parquet_and_rows_are_matched(run_dir, tmp_path):
    import pyarrow.parquet as pq

    d = _copy_run(run_dir, tmp_path / "r")
    sky = pq.read_table(run_dir / "sky.parquet")
    shuffled = sky.take(np.random.default_rng(0).permutation(sky.num_rows))
    pq.write_table(shuffled, tmp_path / "input.parquet")
    page = make_report(d, tmp_path / "out", tmp_path / "input.parquet")
    assert page == tmp_path / "out" / "report.html"
    assert {p.name for p in page.parent.glob("*.png")} == set(ALL_FIGURES)
    pq.write_table(sky.slice(0, 100), tmp_path / "partial.parquet")
    with pytest.raises(InputError, match=r"partial\.parquet.*not in this table"):
        make_report(d, tmp_path / "out", tmp_path / "partial.parquet")
    assert page.is_file(), "a failed report must leave the previous one in place"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "input.parquet",
        "out",
        "partial.parquet",
        "r",
    ]


@pytest.mark.parametrize(
    ("breakage", "named"),
    [
        ("no_dir", "no such run directory"),
        ("no_metrics", "metrics.json: no such file"),
        ("bad_metrics", "metrics.json: not readable JSON"),
        ("metrics_keys", "metrics.json: lacks the key"),
        ("no_scores", "scores.parquet: no such file"),
        ("bad_scores", "scores.parquet"),
        ("bad_sky", "sky.parquet"),
    ],
)
def test_bad_run_dir_raises_input_error_naming_the_file(run_dir, tmp_path, breakage, named):
    d = _copy_run(run_dir, tmp_path / "r", sky=True)
    if breakage == "no_dir":
        d = tmp_path / "missing"
    elif breakage == "no_metrics":
        (d / "metrics.json").unlink()
    elif breakage == "bad_metrics":
        (d / "metrics.json").write_text('{"cloud": "lmc", ')
    elif breakage == "metrics_keys":
        (d / "metrics.json").write_text('{"cloud": "lmc"}')
    elif breakage == "no_scores":
        (d / "scores.parquet").unlink()
    elif breakage == "bad_scores":
        (d / "scores.parquet").write_bytes(b"PAR1 this is not parquet")
    else:
        (d / "sky.parquet").write_bytes(b"PAR1" + bytes(200))
    with pytest.raises(InputError, match=re.escape(named)):
        make_report(d)
    if d.exists():
        assert not (d / "report").exists()
        assert not [p for p in d.iterdir() if p.name.startswith(".")]


def test_cli_report(run_dir, tmp_path):
    out = tmp_path / "rep"
    r = gpu_mc("report", run_dir, "--out", out)
    assert r.returncode == 0, r.stderr
    assert (out / "report.html").is_file()
    r = gpu_mc("report", tmp_path / "nope")
    assert r.returncode == 2
    assert "nope" in r.stderr and "Traceback" not in r.stderr


def test_auto_table_shapes():
    assert "<th>b</th>" in auto_table([{"a": 1}, {"b": 2.5}])
    assert "<td>x</td><td>0.25</td>" in auto_table({"x": 0.25})
    nested = auto_table({"lmc": {"purity": 0.9}, "smc": {"purity": 0.8}})
    assert "<td>lmc</td><td>0.9</td>" in nested
    assert "<h4>deep</h4>" in auto_table({"deep": {"a": {"b": {"c": 1}}}, "n": 3})
    assert "&lt;b&gt;" in auto_table({"k": "<b>"})


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed")
def test_images_load_in_headless_chromium(report, tmp_path):
    """Open a copy of the page with a probe script and check every image decoded."""
    probe = (
        "<script>window.addEventListener('load',function(){var i=document.images,b=[];"
        "for(var k=0;k<i.length;k++){if(!i[k].complete||i[k].naturalWidth===0)"
        "b.push(i[k].getAttribute('src'));}document.body.setAttribute('data-n-images',i.length);"
        "document.body.setAttribute('data-broken',b.join(',')||'none');});</script>"
    )
    page = report.parent / "_probe.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", probe + "</body>"))
    try:
        cmd = [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        page.unlink()
    assert r.returncode == 0, r.stderr[-2000:]
    n = re.search(r'data-n-images="(\d+)"', r.stdout)
    broken = re.search(r'data-broken="([^"]*)"', r.stdout)
    assert n is not None and broken is not None, r.stdout[-2000:]
    assert int(n.group(1)) == len(ALL_FIGURES)
    assert broken.group(1) == "none"


@pytest.mark.parametrize("name", ["lmc", "smc", "fornax"])
def test_halo_velocity_of_the_caption_equals_astropy(name):
    """A star at rest in the Galactocentric frame, seen towards the target, with astropy."""
    import astropy.units as u
    from astropy.coordinates import ICRS, CartesianDifferential, Galactocentric, SkyCoord

    from gpu_mc.config import load_config
    from gpu_mc.constants import MILKY_WAY as MW
    from gpu_mc.constants import as_target
    from gpu_mc.report.html import _halo_velocity

    if name == "fornax":
        target = load_config(Path(__file__).parents[2] / "examples" / "fornax.toml").target
    else:
        target = as_target(name)
    frame = Galactocentric(
        galcen_distance=MW.r_sun * u.kpc,
        z_sun=MW.z_sun * u.kpc,
        galcen_v_sun=CartesianDifferential([MW.u_sun, MW.v_circ + MW.v_sun, MW.w_sun] * u.km / u.s),
    )
    where = SkyCoord(ra=target.ra0 * u.deg, dec=target.dec0 * u.deg, distance=target.distance * u.kpc)
    gc = where.transform_to(frame).cartesian
    at_rest = SkyCoord(
        x=gc.x, y=gc.y, z=gc.z, v_x=0 * u.km / u.s, v_y=0 * u.km / u.s, v_z=0 * u.km / u.s,
        frame=frame, representation_type="cartesian", differential_type="cartesian",
    )
    expected = at_rest.transform_to(ICRS()).radial_velocity.to_value(u.km / u.s)
    assert abs(_halo_velocity(target) - expected) < 1.0
