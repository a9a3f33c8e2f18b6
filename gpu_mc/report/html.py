"""``make_report``: a self-contained HTML page with PNG figures and tables for one run.

The page references its figures by relative path and carries its own CSS, with no script
and no external resource, so the report directory can be copied and read offline.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gpu_mc import __version__
from gpu_mc.config import FEATURE_NAMES
from gpu_mc.errors import GpuMcError
from gpu_mc.report.data import RunData, load_run
from gpu_mc.report.robustness import mc_class_html, robustness_html
from gpu_mc.report.tables import auto_table, fmt, pct, table
from gpu_mc.thresholds import SAMPLE_NAMES

#: The sample whose stars are the "members" of the CMD and proper-motion figures; stars
#: outside it are the "rejected" ones there and in the sky maps.
MEMBER_SAMPLE = "optimal"

#: Fewest stars with a line-of-sight velocity for the velocity figure to be drawn.
MIN_VELOCITIES = 20

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
caption{text-align:left;font-weight:bold;padding:.3em 0}
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;max-width:900px}
.note{background:#fff6d5;border-left:4px solid #e0b000;padding:.4em .8em}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
nav a{margin-right:1em}
"""


class _Page:
    """Collects sections and writes figures into the build directory."""

    def __init__(self, build: Path) -> None:
        self.build = build
        self.sections: list[tuple[str, str, str]] = []

    def section(self, anchor: str, title: str, body: str) -> None:
        self.sections.append((anchor, title, body))

    def figure(self, name: str, make: Callable[[], Any], caption: str) -> str:
        from gpu_mc.report.figures import save

        fig = make()
        save(fig, self.build / name)
        alt = html.escape(caption.split(".")[0])
        return (
            f'<figure><img src="{name}" alt="{alt}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _summary(m: dict[str, Any]) -> str:
    rows = [
        ["Cloud", html.escape(str(m["cloud"]).upper())],
        ["stars in the input", fmt(m["n_input"])],
        ["stars scored", fmt(m.get("n_scored"))],
        ["stars with imputed features", fmt(m.get("n_flagged"))],
        ["test-set ROC AUC", fmt(m["roc_auc"])],
        ["test-set PR AUC (average precision)", fmt(m["pr_auc"])],
    ]
    for k in SAMPLE_NAMES:
        rows.append(
            [f"{k.replace('_', '-')} sample (P ≥ {m['thresholds'][k]:.4g})", fmt(m["samples"][k])]
        )
    if "baseline" in m:
        rows.append(["PM/parallax baseline selection", fmt(m["baseline"].get("n_selected"))])
    tr = m.get("training", {})
    for part, counts in tr.get("counts", {}).items():
        rows.append([f"training set, {part} (MC / MW)", f"{counts['mc']:,} / {counts['mw']:,}"])
    if "epochs" in tr:
        rows.append(["training epochs", fmt(tr["epochs"])])
    return table(["quantity", "value"], rows)


def _truth_table(truth: dict[str, Any]) -> str:
    names = [k for k in (*SAMPLE_NAMES, "baseline") if k in truth]
    header = ["G bin", "true MC stars", *(f"{k.replace('_', '-')} C / P" for k in names)]
    rows = []
    first = truth[names[0]]
    for i, r in enumerate(first):
        label = "all" if i == len(first) - 1 else f"{r['g_min']:g}–{r['g_max']:g}"
        cells = [
            f"{pct(truth[k][i]['completeness'])} / {pct(truth[k][i]['purity'])}" for k in names
        ]
        rows.append([label, fmt(r["n_true"]), *cells])
    return table(header, rows, "Completeness (C) and purity (P) against the mock truth")


def _baseline_table(m: dict[str, Any]) -> str:
    parts = []
    cmp_ = m.get("baseline", {}).get("at_matched_completeness")
    if cmp_:
        parts.append(
            table(
                ["at the baseline's completeness", "value"],
                [
                    ["completeness", pct(cmp_.get("completeness"))],
                    ["PM/parallax baseline purity", pct(cmp_.get("baseline_purity"))],
                    ["NN purity", pct(cmp_.get("nn_purity"))],
                    ["NN threshold giving that completeness", fmt(cmp_.get("nn_threshold"))],
                ],
                "NN against the PM/parallax baseline at equal completeness",
            )
        )
    g19 = (m.get("truth") or {}).get("g_lt_19")
    if g19:
        rows = [
            [k.replace("_", "-"), pct(v.get("completeness")), pct(v.get("purity"))]
            for k, v in g19.items()
        ]
        parts.append(table(["selection", "completeness", "purity"], rows, "Stars with G < 19"))
    vbase = (
        m.get("validation", {}).get("baseline") if isinstance(m.get("validation"), dict) else None
    )
    if vbase:
        parts.append("<h3>From the validation</h3>" + auto_table(vbase))
    return "".join(parts) or _note("metrics.json holds no baseline comparison.")


def _recovery(validation: Any) -> str:
    """Recovery table: per catalogue, the percentage (and number) each selection keeps."""
    rows = validation.get("recovery") if isinstance(validation, dict) else None
    if not (isinstance(rows, list) and rows and all("classified" in r for r in rows)):
        return auto_table(validation)
    sels = list(rows[0]["classified"])
    header = ["catalogue", "expected", "rows", "matched", *(s.replace("_", "-") for s in sels)]
    body = []
    for r in rows:
        cells = []
        for s in sels:
            c = r["classified"].get(s, {})
            ok = c.get("percent") is not None
            cells.append(f"{c['percent']:.1f}% ({fmt(c.get('n'))})" if ok else "—")
        label = html.escape(str(r.get("label", r.get("catalogue", ""))))
        body.append(
            [label, fmt(r.get("expected")), fmt(r.get("n_rows")), fmt(r.get("n_matched")), *cells]
        )
    how = f"matched by {fmt(validation.get('by'))}"
    if validation.get("radius_arcsec") is not None:
        how += f" within {fmt(validation['radius_arcsec'])} arcsec"
    return table(
        header,
        body,
        f"Percentage (number) of the matched catalogue stars in each selection; {how}. "
        "Members should be kept, non-members rejected.",
    )


def _contamination(c: Any) -> str:
    """Contamination estimated from an MW-only comparison field, against the mock truth."""
    sel = c.get("selections") if isinstance(c, dict) else None
    if not (isinstance(sel, dict) and all(isinstance(v, dict) for v in sel.values())):
        return auto_table(c)
    rows = []
    for name, v in sel.items():
        est, err = v.get("estimate"), v.get("estimate_err")
        est_cell = pct(est) if err is None or est is None else f"{pct(est)} ± {pct(err)}"
        rows.append(
            [
                html.escape(name.replace("_", "-")),
                fmt(v.get("n_sample")),
                fmt(v.get("field_accepted")),
                est_cell,
                pct(v.get("truth")),
            ]
        )
    field = c.get("field", {})
    caption = (
        f"Comparison field of {fmt(field.get('n_stars'))} stars over "
        f"{fmt(field.get('area_deg2'))} deg² (cone {fmt(c.get('cone_area_deg2'))} deg²): "
        "MW stars it accepts, scaled to the cone, as a fraction of each selection"
    )
    header = [
        "selection",
        "stars selected",
        "field stars accepted",
        "estimated contamination",
        "true contamination",
    ]
    return table(header, rows, caption)


def _provenance(data: RunData) -> str:
    m = data.metrics
    rows = [
        ["run directory", html.escape(str(data.run_dir))],
        ["gpu_mc version of the run", fmt(m.get("package_version"))],
        ["gpu_mc version of this report", html.escape(__version__)],
        ["backend", fmt(m.get("backend"))],
        ["device", fmt(m.get("device"))],
        ["model SHA-256", f"<code>{fmt(m.get('model_sha256'))}</code>"],
        ["star table", html.escape(data.stars_source)],
        *(
            [html.escape(k.replace("_", " ")), html.escape(str(v))]
            for k, v in (m.get("sources") or {}).items()
        ),
        ["report written", html.escape(time.strftime("%Y-%m-%d %H:%M:%S %Z"))],
    ]
    out = table(["item", "value"], rows)
    timings = m.get("timings_s")
    if timings:
        trs = [[html.escape(k), f"{v:.2f}"] for k, v in timings.items()]
        trs.append(["total", f"{sum(timings.values()):.2f}"])
        out += table(["stage", "wall time (s)"], trs, "Timing per stage")
    cfg = json.dumps(m.get("config", {}), indent=2)
    return out + f"<h3>Configuration</h3><pre>{html.escape(cfg)}</pre>"


def _target(metrics: dict[str, Any]) -> Any:
    """The target record of a run's metrics (older metrics name a built-in target)."""
    from gpu_mc.config import target_from_dict
    from gpu_mc.constants import as_target

    if "target" in metrics:
        return target_from_dict(metrics["target"], "metrics.json target")
    return as_target(str(metrics["cloud"]))


def _halo_velocity(target: Any) -> float:
    """Mean heliocentric line-of-sight velocity of non-rotating halo stars towards a target.

    Such stars are at rest in the Galactocentric frame, so their mean velocity is the Sun's
    (:func:`gpu_mc.sky.milky_way.solar_velocity`) reversed and projected on the line of sight
    to the target's centre, km/s (about +200 towards the LMC and +150 towards the SMC).
    """
    from gpu_mc.constants import MILKY_WAY
    from gpu_mc.sky.geometry import unit_vector
    from gpu_mc.sky.milky_way import galactocentric_matrix, solar_velocity

    sight = np.array(unit_vector(target.ra0, target.dec0), dtype=float)
    return -float(solar_velocity(MILKY_WAY) @ (galactocentric_matrix(MILKY_WAY) @ sight))


def _plane(stars: dict[str, np.ndarray], cloud: Any) -> dict[str, np.ndarray]:
    """x, y (deg) and mu_x, mu_y (mas/yr) of every star; NaN where an input is missing."""
    from gpu_mc.features import features

    names = ("x", "y", "mu_x", "mu_y")
    X, flags = features(stars, cloud, names)
    out = {}
    for j, name in enumerate(names):
        col = np.asarray(X[:, j], dtype=np.float64)
        bad = (np.asarray(flags) >> FEATURE_NAMES.index(name)) & 1
        out[name] = np.where(bad == 1, np.nan, col)
    return out


def _star_figures(page: _Page, data: RunData, stars: dict[str, np.ndarray]) -> list[str]:
    from gpu_mc.report import figures as F

    m = data.metrics
    masks = {k: np.asarray(data.scores[f"in_{k}"], dtype=bool) for k in SAMPLE_NAMES}
    members = masks[MEMBER_SAMPLE]
    rejected = ~members
    plane = _plane(stars, _target(m))
    x, y = plane["x"], plane["y"]
    h = float(np.ceil(np.nanmax(np.abs(np.r_[x, y]))))
    thr = m["thresholds"][MEMBER_SAMPLE]
    rej_label = f"rejected (P < {thr:.3g})"
    blocks = []
    sky = [("all stars", np.ones_like(members))]
    sky += [(f"{k.replace('_', '-')} sample", masks[k]) for k in SAMPLE_NAMES]
    sky.append((rej_label, rejected))
    blocks.append(
        page.figure(
            "sky_xy.png",
            lambda: F.panels(
                x,
                y,
                sky,
                (-h, h),
                (-h, h),
                ("x (deg)", "y (deg)"),
                f"{str(m['cloud']).upper()}: star density in the orthographic (x, y) plane",
            ),
            "Sky density in the orthographic projection about the Cloud centre, as 2-D "
            "histograms with a logarithmic colour scale: all stars, each of the three "
            "samples, and the stars rejected from the optimal sample.",
        )
    )
    g = np.asarray(stars["phot_g_mean_mag"], dtype=np.float64)
    colour = np.asarray(stars["phot_bp_mean_mag"], dtype=np.float64) - np.asarray(
        stars["phot_rp_mean_mag"], dtype=np.float64
    )
    g_lim = (float(np.floor(np.nanpercentile(g, 0.01))), float(np.ceil(np.nanmax(g) * 2) / 2))
    cmd_sel = [(f"members ({MEMBER_SAMPLE} sample)", members), (rej_label, rejected)]
    blocks.append(
        page.figure(
            "cmd.png",
            lambda: F.panels(
                colour,
                g,
                cmd_sel,
                (-0.8, 3.7),
                g_lim,
                ("BP − RP (mag)", "G (mag)"),
                "Colour-magnitude diagrams",
                invert_v=True,
                panel_size=4.4,
            ),
            f"G against BP − RP of the {MEMBER_SAMPLE}-sample members and of the rejected "
            "stars (2-D histograms; stars without BP or RP are left out).",
        )
    )
    lim = F.pm_limits(plane["mu_x"], plane["mu_y"])
    blocks.append(
        page.figure(
            "pm.png",
            lambda: F.panels(
                plane["mu_x"],
                plane["mu_y"],
                cmd_sel,
                lim[:2],
                lim[2:],
                ("μx (mas/yr)", "μy (mas/yr)"),
                "Proper-motion plane",
                panel_size=4.4,
            ),
            "Proper motions in the orthographic frame of the Cloud (μx, μy) of the members "
            "and of the rejected stars (2-D histograms).",
        )
    )
    los = _los_velocity_figure(page, data, stars, members, rej_label)
    if los:
        blocks.append(los)
    return blocks


def _los_velocity_figure(
    page: _Page,
    data: RunData,
    stars: dict[str, np.ndarray],
    members: np.ndarray,
    rej_label: str,
) -> str:
    """The papers' line-of-sight velocity check, or "" when the stars have no velocities."""
    from gpu_mc.report import figures as F

    if "radial_velocity" not in stars:
        return ""
    v = np.asarray(stars["radial_velocity"], dtype=np.float64)
    n_v = int(np.isfinite(v).sum())
    if n_v < MIN_VELOCITIES:
        return ""
    cloud = str(data.metrics["cloud"])
    panels = [
        ("By classification", [(f"members ({MEMBER_SAMPLE})", members), (rej_label, ~members)])
    ]
    if data.has_truth:
        mc = np.asarray(stars["true_class"]) == 1
        panels.append(("By mock truth", [("true MC", mc), ("true MW", ~mc)]))
    target = _target(data.metrics)
    v_cloud = target.vlos0
    v_halo = _halo_velocity(target)
    split = " and by the mock truth" if data.has_truth else ""
    return page.figure(
        "los_velocity.png",
        lambda: F.los_velocity(v, panels, v_cloud, cloud.upper()),
        f"Line-of-sight velocities of the {n_v:,} stars that have one (the brightest), "
        f"split by the {MEMBER_SAMPLE} sample{split}. Cloud members should gather about the "
        f"Cloud's systemic velocity and the rejected stars about the foreground's. Towards "
        f"the {cloud.upper()} the Sun's own motion gives non-rotating Galactic halo stars a "
        f"mean heliocentric velocity of about {round(v_halo, -1):+.0f} km/s, with a spread "
        "of about 100 km/s, so a halo star can share a Cloud velocity: a velocity alone "
        "does not make a member.",
    )


def _build(data: RunData, build: Path) -> None:
    from gpu_mc.report import figures as F

    m = data.metrics
    page = _Page(build)
    page.section("summary", "Summary", _summary(m))
    g_max = m.get("config", {}).get("thresholds", {}).get("truncated_g_max")
    page.section(
        "roc",
        "ROC and precision-recall",
        page.figure(
            "roc_pr.png",
            lambda: F.roc_pr(m["curves"], m["thresholds"], m["roc_auc"], m["pr_auc"], g_max),
            "ROC and precision-recall curves on the test set, with the three sample "
            "thresholds marked; the truncated-optimal sample shares the optimal threshold "
            "and adds a G cut, so it sits on the same point.",
        ),
    )
    truth = np.asarray(data.stars["true_class"]) if data.has_truth else None
    p = np.asarray(data.scores["p_mc"], dtype=np.float64)
    hist_note = "" if truth is not None else _note("No mock truth: the histogram is not split.")
    page.section(
        "p",
        "Distribution of P(MC)",
        hist_note
        + page.figure(
            "p_mc_hist.png",
            lambda: F.p_histogram(p, m["thresholds"], truth),
            "P(MC) of every scored star, split by the mock truth where known, with the "
            "sample thresholds as dashed lines (logarithmic counts).",
        ),
    )
    stars = data.stars
    if stars is None:
        page.section(
            "stars",
            "Sky, CMD and proper-motion maps",
            _note(
                f"Skipped: {data.stars_source}. Run with --save-sky, or pass the input "
                "table with --input, for the sky maps, CMDs and proper-motion plane."
            ),
        )
    else:
        page.section(
            "stars", "Sky, CMD and proper-motion maps", "".join(_star_figures(page, data, stars))
        )
    if m.get("truth"):
        body = page.figure(
            "completeness_purity.png",
            lambda: F.completeness_purity(m["truth"]),
            "Completeness and purity against G on the mock truth for the three NN samples "
            "(solid) and the proper-motion/parallax baseline (dashed).",
        ) + _truth_table(m["truth"])
    else:
        body = _note("Skipped: metrics.json holds no completeness/purity against truth.")
    page.section("cp", "Completeness and purity", body)
    if truth is not None:
        f_train = m.get("config", {}).get("sample", {}).get("mc_fraction")
        prior = (
            ""
            if f_train is None
            else f" (here {pct(f_train)}, against {pct(truth.mean())} on the sky)"
        )
        body = page.figure(
            "reliability.png",
            lambda: F.reliability(p, truth),
            "Observed fraction of true Cloud stars in bins of predicted P(MC), with binomial "
            "errors, and the stars per bin; ECE is the count-weighted mean |observed − "
            "predicted|. P(MC) is calibrated to the MC fraction of the training set"
            f"{prior}, not to the sky's, so the curve departs from the diagonal where the "
            "two differ.",
        )
    else:
        body = _note("Skipped: the reliability diagram needs the mock truth (true_class).")
    page.section("reliability", "Reliability diagram", body)
    _probability_figures(page, data)
    page.section("baseline", "Baseline comparison", _baseline_table(m))
    if m.get("mc_class"):
        page.section("mc_class", "MC training class", mc_class_html(m["mc_class"]))
    if m.get("robustness"):
        page.section("robustness", "Robustness", robustness_html(m["robustness"]))
    validation = m.get("validation")
    contamination = m.get("contamination")
    if contamination is None and isinstance(validation, dict):
        contamination = validation.get("contamination")
    absent = "metrics.json holds no {} (run gpu-mc validate)."
    page.section(
        "recovery",
        "Recovery of known members",
        _note(absent.format("'validation' entry")) if validation is None else _recovery(validation),
    )
    page.section(
        "contamination",
        "Contamination",
        _note(absent.format("contamination estimate"))
        if contamination is None
        else _contamination(contamination),
    )
    page.section("provenance", "Provenance", _provenance(data))
    _write_html(page, data, build / "report.html")


def _probability_figures(page: _Page, data: RunData) -> None:
    """Ensemble spread, estimated purity/completeness and calibration (issue 16)."""
    from gpu_mc.report import figures as F

    m = data.metrics
    if "p_mc_std" in data.scores:
        p = np.asarray(data.scores["p_mc"], dtype=np.float64)
        sd = np.asarray(data.scores["p_mc_std"], dtype=np.float64)
        page.section(
            "spread",
            "Ensemble spread",
            page.figure(
                "p_mc_std.png",
                lambda: F.spread(p, sd),
                "Standard deviation of P(MC) over the ensemble's members against their "
                "mean: where the members disagree, the classification is uncertain.",
            ),
        )
    if m.get("estimated"):
        page.section(
            "estimated",
            "Purity and completeness estimated without truth",
            page.figure(
                "estimated_vs_true.png",
                lambda: F.estimated_vs_true(m["estimated"], m.get("truth")),
                "Purity and completeness per G bin estimated from p_mc_sky alone (1σ "
                "statistical errors), with the mock truth dashed where it exists; the sky's "
                f"estimated MC fraction is {pct(m['estimated']['mc_fraction'])}.",
            ),
        )
    if m.get("calibration"):
        page.section(
            "calibration",
            "Calibration",
            page.figure(
                "calibration.png",
                lambda: F.calibration(m["calibration"]),
                "Reliability before and after the calibration stored in the model, on the "
                "test set and (on the mock) the sky; ECE is the expected calibration error.",
            ),
        )


def _write_html(page: _Page, data: RunData, path: Path) -> None:
    cloud = html.escape(str(data.metrics["cloud"]).upper())
    nav = "".join(f'<a href="#{a}">{html.escape(t)}</a>' for a, t, _ in page.sections)
    body = "".join(f'<h2 id="{a}">{html.escape(t)}</h2>{b}' for a, t, b in page.sections)
    text = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>gpu_mc report — {cloud}</title><style>{_CSS}</style></head><body>"
        f"<h1>gpu_mc report — {cloud}, {fmt(data.metrics['n_input'])} stars</h1>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )
    path.write_text(text, encoding="utf-8")


def make_report(run_dir: Path, out: Path | None = None, input_table: Path | None = None) -> Path:
    """Write ``report.html`` and its PNG figures for a ``gpu-mc run`` directory.

    The report is built in a temporary directory beside ``out`` and renamed into place only
    when complete, replacing an earlier report; a failure leaves no partial output.

    Parameters
    ----------
    run_dir : Path
        Directory written by ``gpu-mc run`` (``metrics.json``, ``scores.parquet``, and
        ``sky.parquet`` with ``--save-sky``).
    out : Path, optional
        Report directory; default ``run_dir / "report"``.
    input_table : Path, optional
        The run's input Gaia table, used instead of ``sky.parquet`` for the star-level
        figures; rows are matched to the scores by ``source_id``. Without either, those
        figures are skipped with a note on the page.

    Returns
    -------
    Path
        The written ``report.html``.

    Raises
    ------
    InputError
        The run directory, ``metrics.json`` or ``scores.parquet`` is missing or corrupt, or
        the star table is unusable (the message names the file).
    GpuMcError
        matplotlib is not installed.
    """
    if importlib.util.find_spec("matplotlib") is None:
        raise GpuMcError("the report needs matplotlib: pip install matplotlib")
    run_dir = Path(run_dir)
    data = load_run(run_dir, input_table)
    out = Path(out) if out is not None else run_dir / "report"
    out.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out.name}-build-", dir=out.parent))
    old = out.parent / f".{out.name}-old-{os.getpid()}"
    try:
        _build(data, build)
        os.chmod(build, 0o755)
        if out.exists():
            os.replace(out, old)
        os.replace(build, out)
    finally:
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out / "report.html"
