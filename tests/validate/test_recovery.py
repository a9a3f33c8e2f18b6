"""Recovery tables against independent oracles (numpy isin, pandas merge, the mock truth)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from gpu_mc.config import Config
from gpu_mc.errors import InputError
from gpu_mc.report.validation import print_validation, validation_markdown
from gpu_mc.sky import simulate_sky
from gpu_mc.thresholds import SAMPLE_NAMES
from gpu_mc.validate.mock import mock_validation_catalogues
from gpu_mc.validate.recovery import recovery_table

CFG = Config().replace(sky={"n_stars": 60_000, "seed": 11})


def nested_scores(sky: dict, seed: int = 3) -> dict:
    """Scores with nested random samples that favour true members (no model needed)."""
    rng = np.random.default_rng(seed)
    p = np.clip(0.6 * (sky["true_class"] == 1) + rng.uniform(0, 0.5, sky["ra"].shape[0]), 0, 1)
    bright = sky["phot_g_mean_mag"] < 19.5
    return {
        "source_id": sky["source_id"],
        "p_mc": p,
        "in_complete": p >= 0.3,
        "in_optimal": p >= 0.7,
        "in_truncated_optimal": (p >= 0.7) & bright,
    }


@pytest.fixture(scope="module")
def mock():
    sky = simulate_sky(CFG.sky)
    cats, labels, expected = mock_validation_catalogues(sky, CFG)
    return sky, nested_scores(sky), cats, labels, expected


def test_counts_equal_isin_oracle(mock):
    sky, scores, cats, labels, expected = mock
    rows = recovery_table(scores, cats, labels=labels, expected=expected)
    assert [r["catalogue"] for r in rows] == list(cats)
    for row in rows:
        in_cat = np.isin(sky["source_id"], cats[row["catalogue"]]["source_id"])
        assert row["n_rows"] == row["n_matched"] == int(in_cat.sum()) > 0
        assert row["n_repeat_pairs"] == 0
        assert row["label"] == labels[row["catalogue"]]
        for k in SAMPLE_NAMES:
            n = int((in_cat & scores[f"in_{k}"]).sum())
            assert row["classified"][k]["n"] == n
            assert row["classified"][k]["percent"] == pytest.approx(100 * n / in_cat.sum())
    json.dumps(rows)


def test_variable_stars_are_true_members_counted_from_truth(mock):
    sky, scores, cats, _, _ = mock
    rows = {r["catalogue"]: r for r in recovery_table(scores, cats)}
    member = sky["true_class"] == 1
    for name, code in (("cepheids", 1), ("rr_lyrae", 2)):
        truth = member & (sky["true_variable"] == code)
        assert rows[name]["n_matched"] == int(truth.sum()) > 0
        for k in SAMPLE_NAMES:
            assert rows[name]["classified"][k]["n"] == int((truth & scores[f"in_{k}"]).sum())


def test_counts_equal_pandas_merge_with_duplicates_and_strangers(mock):
    sky, scores, cats, _, _ = mock
    rng = np.random.default_rng(5)
    ids = cats["starhorse_mw"]["source_id"]
    strangers = np.arange(5) + sky["source_id"].max() + 1
    cat_ids = np.concatenate([ids, rng.choice(ids, 40), strangers])
    rows = recovery_table(scores, {"mw": {"source_id": cat_ids}})
    (row,) = rows
    merged = pd.DataFrame({"source_id": cat_ids}).merge(
        pd.DataFrame({k: scores[k] for k in ("source_id", *(f"in_{s}" for s in SAMPLE_NAMES))}),
        on="source_id",
    )
    distinct = merged.drop_duplicates("source_id")
    assert row["n_rows"] == cat_ids.size
    assert row["n_matched"] == len(distinct) == ids.size
    assert row["n_repeat_pairs"] == len(merged) - len(distinct) == 40
    for k in SAMPLE_NAMES:
        assert row["classified"][k]["n"] == int(distinct[f"in_{k}"].sum())
    rows_, matched = (f"{n:,}".replace(",", " ") for n in (cat_ids.size, ids.size))
    note = f"- mw: {rows_} rows, {matched} scored stars matched, 40 repeated"
    assert note in validation_markdown({"recovery": rows})


def test_position_matching_equals_source_id_matching(mock):
    sky, scores, cats, _, _ = mock
    by_id = recovery_table(scores, cats)
    by_pos = recovery_table(
        scores, cats, by="position", positions=(sky["ra"], sky["dec"]), radius_arcsec=1.0
    )
    assert by_pos == by_id


def test_extra_selections_and_empty_catalogue(mock):
    sky, scores, cats, _, _ = mock
    base = sky["phot_g_mean_mag"] < 17
    (row, empty) = recovery_table(
        scores,
        {"cep": cats["cepheids"], "none": {"source_id": np.zeros(0, dtype=np.int64)}},
        selections={"baseline": base},
    )
    in_cat = np.isin(sky["source_id"], cats["cepheids"]["source_id"])
    assert row["classified"] == {
        "baseline": {
            "n": int((in_cat & base).sum()),
            "percent": pytest.approx(100 * (in_cat & base).sum() / in_cat.sum()),
        }
    }
    assert empty["n_matched"] == 0 and empty["classified"]["baseline"] == {"n": 0, "percent": None}


def test_bad_inputs_name_the_problem(mock):
    _, scores, cats, _, _ = mock
    with pytest.raises(InputError, match="source_id"):
        recovery_table(scores, {"c": {"ra": cats["cepheids"]["ra"]}})
    with pytest.raises(InputError, match="ra and dec"):
        recovery_table(scores, cats, by="position")
    with pytest.raises(InputError, match="by must be"):
        recovery_table(scores, cats, by="name")
    with pytest.raises(InputError, match="in_optimal"):
        recovery_table({"source_id": scores["source_id"]}, cats)


def test_papers_layout_in_markdown_and_console(mock):
    _, scores, cats, labels, _ = mock
    rows = recovery_table(scores, cats, labels=labels)
    md = validation_markdown({"cloud": "lmc", "recovery": rows})
    lines = md.splitlines()
    head = next(line for line in lines if line.startswith("| Stars classified as LMC"))
    cep = rows[0]
    assert f"| LMC Cepheids ({cep['n_matched']:,}) |".replace(",", " ") in head
    complete = next(line for line in lines if line.startswith("| NN complete |"))
    n = cep["classified"]["complete"]["n"]
    assert (
        f"| {n:,} ({cep['classified']['complete']['percent']:.1f}%) |".replace(",", " ") in complete
    )
    console = Console(record=True, width=200)
    print_validation({"cloud": "lmc", "recovery": rows}, console)
    text = console.export_text()
    assert "NN truncated-optimal" in text and "MW StarHorse" in text


@pytest.mark.gpu
def test_gpu_counts_equal_cpu(mock, gpu_backend):
    sky, scores, cats, _, _ = mock
    xp = gpu_backend.xp
    on_gpu = {k: xp.asarray(v) for k, v in scores.items()}
    cats_gpu = {n: {k: xp.asarray(v) for k, v in c.items()} for n, c in cats.items()}
    assert recovery_table(on_gpu, cats_gpu) == recovery_table(scores, cats)
    pos = (xp.asarray(sky["ra"]), xp.asarray(sky["dec"]))
    assert recovery_table(on_gpu, cats_gpu, by="position", positions=pos) == recovery_table(
        scores, cats
    )
