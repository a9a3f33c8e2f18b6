"""Robustness table rows and their rendering, against hand-counted truth."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_mc.config import Config
from gpu_mc.report.robustness import mc_class_html, mc_class_rows, robustness_markdown
from gpu_mc.robustness import mismatch_name, scenario_row


def test_scenario_row_counts() -> None:
    # 4 stars: members 0, 1, 2; star 3 is MW. The optimal sample holds 0, 1 and 3.
    cfg = Config()
    table = {
        "true_class": np.array([1, 1, 1, 0], dtype=np.int8),
        "phot_g_mean_mag": np.array([18.0, 19.5, 20.0, 18.5]),
        "ra": np.full(4, 81.28),
        "dec": np.full(4, -69.78),
        "pmra": np.array([1.871, 10.0, 10.0, 10.0]),
        "pmdec": np.array([0.391, 0.0, 0.0, 0.0]),
        "parallax": np.zeros(4),
        "parallax_error": np.full(4, 0.1),
    }
    scores = {
        "in_complete": np.array([True, True, True, True]),
        "in_optimal": np.array([True, True, False, True]),
        "in_truncated_optimal": np.array([True, False, False, True]),
    }
    row = scenario_row(table, scores, cfg)
    assert row["optimal"]["completeness"] == pytest.approx(2 / 3)
    assert row["optimal"]["purity"] == pytest.approx(2 / 3)
    assert row["optimal"]["g_lt_19"] == {"completeness": 1.0, "purity": 0.5}
    assert row["baseline"]["completeness"] == pytest.approx(1 / 3)  # only star 0 moves with the LMC
    assert row["baseline"]["purity"] == 1.0
    assert mismatch_name(cfg) == "mismatched"
    assert mismatch_name(cfg.replace(sample={"model_mismatch": False})) == "matched"
    md = robustness_markdown({"seed": 1, "scenarios": {"mismatched": row}})
    assert "| mismatched models (default) | 100.0 / 75.0 | 66.7 / 66.7 |" in md
    from gpu_mc.report.robustness import robustness_html

    page = robustness_html({"seed": 1, "scenarios": {"mismatched": row}})
    assert "<td>mismatched models (default)</td><td>100.0 / 75.0</td><td>66.7 / 66.7</td>" in page


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("sky", "error_model", "gaussian"),
        ("sky", "foreground_model", "besancon"),
        ("sky", "parallax_over_error_max", -1.0),
        ("sample", "mc_selection", "cut"),
        ("sample", "model_mismatch", 1),
        ("train", "augment_fraction", 1.5),
        ("train", "augment_max_scale", 0.5),
        ("run", "robustness", "yes"),
    ],
)
def test_new_config_fields_validated(section, key, value) -> None:
    from gpu_mc.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        Config().replace(**{section: {key: value}})


def test_mc_class_table_rows_and_html() -> None:
    def row(lo, hi, n_true, frac, mw):
        return {
            "g_min": lo,
            "g_max": hi,
            "n_true_mc": n_true,
            "n_selected": 0,
            "fraction_of_true_mc": frac,
            "mw_share": mw,
        }

    mc_class = {
        "selection": "model",
        "error_aware": [row(18, 19, 100, 0.9, 0.02), row(18, 20, 250, 0.85, 0.03)],
        "pm_cut": [row(18, 19, 100, 0.8, 0.05), row(18, 20, 250, float("nan"), float("nan"))],
        "model": [row(18, 19, 100, 0.95, 0.0), row(18, 20, 250, 0.94, 0.0)],
    }
    header, rows = mc_class_rows(mc_class)
    assert header == [
        "G bin",
        "true Cloud stars",
        "error-aware selection",
        "PM/parallax cut",
        "draw of the target's model",
    ]
    assert rows == [
        ["18–19", "100", "90.0 (2.0)", "80.0 (5.0)", "95.0 (0.0)"],
        ["all", "250", "85.0 (3.0)", "—", "94.0 (0.0)"],
    ]
    html = mc_class_html(mc_class)
    assert html.count("<tr>") == 3 and "This run: draw of the target&#x27;s model." in html
