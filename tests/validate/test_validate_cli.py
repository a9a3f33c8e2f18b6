"""``gpu-mc validate`` on user catalogues and ``gpu-mc crossmatch`` on real catalogues."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord, match_coordinates_sky
from cli_runner import Result, gpu_mc

from gpu_mc.config import Config
from gpu_mc.io.readers import read_table
from gpu_mc.io.writers import write_table
from gpu_mc.sky import simulate_sky
from gpu_mc.thresholds import SAMPLE_NAMES

REAL = Path(__file__).parents[2].parent / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A mock sky (sky.parquet), scores for it (scores.parquet) and a member list."""
    d = tmp_path_factory.mktemp("validate")
    sky = simulate_sky(Config().replace(sky={"n_stars": 20_000, "seed": 2}).sky)
    rng = np.random.default_rng(1)
    p = np.clip(0.6 * (sky["true_class"] == 1) + rng.uniform(0, 0.5, sky["ra"].shape[0]), 0, 1)
    scores = {
        "source_id": sky["source_id"],
        "p_mc": p.astype(np.float32),
        "in_complete": p >= 0.3,
        "in_optimal": p >= 0.7,
        "in_truncated_optimal": (p >= 0.7) & (sky["phot_g_mean_mag"] < 19.5),
    }
    write_table(d / "scores.parquet", scores, metadata={"cloud": "lmc"})
    write_table(d / "sky.parquet", {k: sky[k] for k in ("source_id", "ra", "dec")})
    members = np.nonzero(sky["true_class"] == 1)[0]
    rows = np.sort(rng.choice(members, 700, replace=False))
    return d, scores, sky, rows


def oracle(scores: dict, ids: np.ndarray) -> dict:
    hit = np.isin(scores["source_id"], ids)
    return {
        "n_matched": int(hit.sum()),
        **{k: int((hit & scores[f"in_{k}"]).sum()) for k in SAMPLE_NAMES},
    }


def counts(result: dict) -> dict:
    (row,) = result["recovery"]
    return {"n_matched": row["n_matched"], **{k: v["n"] for k, v in row["classified"].items()}}


@pytest.mark.parametrize("suffix", [".csv", ".fits"])
def test_by_source_id_on_csv_and_fits(files, suffix):
    d, scores, sky, rows = files
    ids = sky["source_id"][rows]
    cat = d / f"members{suffix}"
    name = "SOURCE_ID" if suffix == ".fits" else "source_id"
    write_table(cat, {name: ids, "period": np.linspace(1, 30, ids.size)})
    out = d / f"rec{suffix}.json"
    r = gpu_mc("validate", "--scores", d / "scores.parquet", "--catalogue", cat, "--out", out)
    assert r.returncode == 0, r.stderr
    result = json.loads(out.read_text())
    assert counts(result) == oracle(scores, ids)
    assert result["cloud"] == "lmc" and result["recovery"][0]["label"] == "members"
    assert "Stars classified as LMC" in r.stdout and "NN complete" in r.stdout


def test_by_position_with_positions_from_the_gaia_table(files):
    d, scores, sky, rows = files
    cat = d / "positions.vot"
    write_table(cat, {"RA_deg": sky["ra"][rows], "DEC_deg": sky["dec"][rows]})
    out = d / "pos.md"
    r = gpu_mc(
        "validate",
        "--scores",
        d / "scores.parquet",
        "--catalogue",
        cat,
        "--by",
        "position",
        "--input",
        d / "sky.parquet",
        "--ra-col",
        "ra_deg",
        "--dec-col",
        "dec_deg",
        "--radius-arcsec",
        "1",
        "--name",
        "My members",
    )
    assert r.returncode == 0, r.stderr
    assert not out.exists()
    r = gpu_mc(
        "validate",
        *("--scores", d / "scores.parquet", "--catalogue", cat, "--by", "position"),
        *("--input", d / "sky.parquet", "--ra-col", "RA_deg", "--dec-col", "DEC_deg"),
        *("--name", "My members", "--out", out),
    )
    assert r.returncode == 0, r.stderr
    want = oracle(scores, sky["source_id"][rows])
    md = out.read_text()
    assert f"| My members ({want['n_matched']}) |" in md
    pct = 100 * want["optimal"] / want["n_matched"]
    assert f"| NN optimal | {want['optimal']} ({pct:.1f}%) |" in md


def _fails_cleanly(r: Result, out: Path, word: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and word in lines[0], r.stderr
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*"))


def test_bad_catalogues_exit_2_with_one_line_and_no_output(files):
    d, _, sky, rows = files
    scores = d / "scores.parquet"
    out = d / "bad.json"
    no_id = d / "no_id.csv"
    write_table(no_id, {"ra": sky["ra"][rows], "dec": sky["dec"][rows]})
    _fails_cleanly(
        gpu_mc("validate", "--scores", scores, "--catalogue", no_id, "--out", out), out, "source_id"
    )
    empty = d / "empty.csv"
    empty.write_text("source_id\n")
    _fails_cleanly(
        gpu_mc("validate", "--scores", scores, "--catalogue", empty, "--out", out), out, "no rows"
    )
    zero = d / "zero.csv"
    zero.write_text("")
    _fails_cleanly(
        gpu_mc("validate", "--scores", scores, "--catalogue", zero, "--out", out), out, "empty"
    )
    r = gpu_mc(
        "validate",
        *("--scores", scores, "--catalogue", no_id, "--by", "position", "--ra-col", "RA2000"),
        *("--input", d / "sky.parquet", "--out", out),
    )
    _fails_cleanly(r, out, "RA2000")
    r = gpu_mc(
        "validate", "--scores", scores, "--catalogue", no_id, "--by", "position", "--out", out
    )
    _fails_cleanly(r, out, "--input")
    r = gpu_mc("validate", "--scores", scores, "--catalogue", no_id, "--out", d / "bad.txt")
    _fails_cleanly(r, d / "bad.txt", ".json or .md")


def test_crossmatch_cli_equals_astropy_on_real_cepheids(tmp_path):
    gaia, ogle = REAL / "gaia_dr2_cepheids.csv", REAL / "ogle3_lmc_cepheids.tsv"
    if not (gaia.exists() and ogle.exists()):
        pytest.skip(f"real catalogues not available under {REAL}")
    out = tmp_path / "pairs.parquet"
    r = gpu_mc(
        "crossmatch",
        gaia,
        ogle,
        *(
            "--radius-arcsec",
            "1",
            "--out",
            out,
            "--right-ra",
            "_RAJ2000",
            "--right-dec",
            "_DEJ2000",
        ),
        *("--backend", "cpu"),
    )
    assert r.returncode == 0, r.stderr
    pairs = pq.read_table(out)
    left = read_table(gaia, columns=["ra", "dec"])
    right = read_table(ogle, columns=["_RAJ2000", "_DEJ2000"])
    idx, sep, _ = match_coordinates_sky(
        SkyCoord(left["ra"] * u.deg, left["dec"] * u.deg),
        SkyCoord(right["_RAJ2000"] * u.deg, right["_DEJ2000"] * u.deg),
    )
    keep = np.nonzero(sep.to_value(u.arcsec) <= 1.0)[0]
    assert pairs.num_rows == keep.size > 100
    assert f"{keep.size:,} pairs" in r.stdout
    np.testing.assert_array_equal(pairs["left_index"].to_numpy(), keep)
    np.testing.assert_array_equal(pairs["right_index"].to_numpy(), idx[keep])
