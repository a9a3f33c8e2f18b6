"""The whole job on a user's Gaia input (``gpu-mc run --input``): read → train → score →
thresholds → validate against the user's catalogues → the same outputs as the mock run.

The MC class is selected from the input; the MW class is the built-in foreground model or a
GOG export. Nothing here reads truth columns: the truth tables of the mock run are absent from
``metrics.json`` (``"truth": None``), and ``metrics["sources"]`` says where each part came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from gpu_mc.backend import Backend
from gpu_mc.config import ERROR_RANGE_BIT, Config
from gpu_mc.io.run_input import files_digest, n_input_files, read_run_input
from gpu_mc.model.checkpoint import model_hash
from gpu_mc.pipeline import score_summary, train, write_outputs
from gpu_mc.progress import Reporter
from gpu_mc.sample import pm_parallax_selection
from gpu_mc.scoring import score
from gpu_mc.validate.recovery import read_catalogue, recovery_table, sample_selections

#: Where the MC class of ``run --input`` comes from, per ``sample.mc_selection``.
MC_CLASS_SOURCES = {
    "error_aware": "selected from the input (error-aware selection)",
    "pm_cut": "selected from the input (PM/parallax cut)",
    "model": "drawn from the target's built-in model",
    "both": "selected from the input (error-aware) plus a draw of the target's built-in model",
}


def validate_catalogues(
    sky: Mapping[str, Any],
    scores: Mapping[str, Any],
    catalogues: Sequence[Path],
    cfg: Config,
    by: Literal["source_id", "position"] = "source_id",
    ra_col: str = "ra",
    dec_col: str = "dec",
) -> dict[str, Any] | None:
    """Recovery of each catalogue by the three samples and the PM/parallax baseline.

    Parameters
    ----------
    sky : mapping of str to array, shape (n,)
        The scored input (``ra``, ``dec`` deg and the baseline's columns), on the device.
    scores : mapping of str to array, shape (n,)
        Its scores, same rows.
    catalogues : sequence of Path
        Catalogue files (:func:`~gpu_mc.validate.recovery.read_catalogue`); the file name
        without suffix heads each column.
    cfg : Config
        Match radius (``validate.radius_arcsec``) and the baseline's cut.
    by : {"source_id", "position"}
    ra_col, dec_col : str
        Catalogue position columns, deg.

    Returns
    -------
    dict or None
        ``cloud``, ``by``, ``radius_arcsec`` and ``recovery`` (one row per catalogue), as
        :func:`gpu_mc.validate.mock.validate_mock` writes them; None without catalogues.
    """
    if not catalogues:
        return None
    from gpu_mc.backend import array_namespace

    xp = array_namespace(sky["ra"])
    cats, labels = {}, {}
    for i, path in enumerate(catalogues):
        key = f"{i}:{path}"
        cats[key] = {k: xp.asarray(v) for k, v in read_catalogue(path, by, ra_col, dec_col).items()}
        labels[key] = Path(path).name.split(".")[0]
    selections = {
        **sample_selections(scores),
        "baseline": pm_parallax_selection(sky, cfg.target, cfg.sample),
    }
    rows = recovery_table(
        scores,
        cats,
        by=by,
        positions=(sky["ra"], sky["dec"]),
        radius_arcsec=cfg.validate.radius_arcsec,
        selections=selections,
        labels=labels,
    )
    for row, path in zip(rows, catalogues, strict=True):
        row["catalogue"] = str(path)
    return {
        "cloud": cfg.target.name,
        "by": by,
        "radius_arcsec": cfg.validate.radius_arcsec if by == "position" else None,
        "recovery": rows,
    }


def run_on_input(
    cfg: Config,
    backend: Backend,
    out_dir: Path,
    reporter: Reporter,
    input_path: Path,
    mw_simulation: Path | None = None,
    catalogues: Sequence[Path] = (),
    by: Literal["source_id", "position"] = "source_id",
    ra_col: str = "ra",
    dec_col: str = "dec",
    column_map: Mapping[str, str] | None = None,
    save_sky: bool = False,
) -> dict[str, Any]:
    """Do the whole job on a Gaia input and write the outputs; return the metrics.

    Parameters
    ----------
    cfg : Config
        ``cfg.target`` is the galaxy looked for; the input must lie in its cone
        (:func:`gpu_mc.footprint.require_inside`).
    backend : Backend
    out_dir : Path
        Run directory, replaced as a whole (:func:`gpu_mc.pipeline.write_outputs`).
    reporter : Reporter
        One stage per step (read, MW class, training, score, validation, write).
    input_path : Path
        Gaia table, directory of parquet partitions, or HATS catalogue
        (:func:`gpu_mc.io.run_input.read_run_input`).
    mw_simulation : Path, optional
        GOG export used as the MW class (default: the built-in foreground model).
    catalogues : sequence of Path
        Validation catalogues matched ``by`` source_id or position.
    by, ra_col, dec_col
        See :func:`validate_catalogues`.
    column_map : mapping of str to str, optional
        Input file column name → Gaia name.
    save_sky : bool
        Also write the input as ``sky.parquet``.

    Returns
    -------
    dict
        What ``metrics.json`` holds: the mock run's keys, with ``truth`` None, ``input`` (the
        input's record, for ``gpu-mc report``) and ``sources``.
    """
    with reporter.stage("read input", total=n_input_files(input_path, cfg.target)) as advance:
        inp = read_run_input(input_path, cfg.target, column_map, progress=advance)
    sky = {k: backend.xp.asarray(v) for k, v in inp.table.items()}
    mw = None
    mw_record = None
    if mw_simulation is not None:
        from gpu_mc.io.gog import read_mw_simulation

        with reporter.stage("read MW simulation"):
            mw_host, assumed = read_mw_simulation(mw_simulation)
        mw = {k: backend.xp.asarray(v) for k, v in mw_host.items()}
        path = Path(mw_simulation).resolve()
        mw_record = {
            "file": str(path),
            "sha256": files_digest(path, [path]),
            "n_rows": int(mw_host["ra"].shape[0]),
            "assumed": assumed,
        }
    trained = train(sky, cfg, backend, reporter, mw=mw)
    if mw_record is not None:
        trained.model.meta["mw_simulation"] = mw_record
    scores = score(sky, trained.model, cfg, reporter)
    with reporter.stage("validation"):
        validation = validate_catalogues(sky, scores, catalogues, cfg, by, ra_col, dec_col)
    xp = backend.xp
    base = pm_parallax_selection(sky, cfg.target, cfg.sample)
    mw_source = (
        f"GOG export {mw_record['file']} ({mw_record['n_rows']:,} stars)"
        if mw_record is not None
        else f"built-in MW foreground model ({cfg.sky.foreground_model}, "
        f"{cfg.sky.error_model} errors)"
    )
    metrics: dict[str, Any] = {
        **score_summary(scores, trained, cfg, backend),
        "input": inp.record,
        "sources": {
            "input": f"{inp.record['kind']} {inp.record['path']} ({inp.record['n_rows']:,} stars)",
            "mc_class": MC_CLASS_SOURCES[cfg.sample.mc_selection],
            "mw_class": mw_source,
            "thresholds": "test split of the training set (MC class vs MW class)",
            "validation": ", ".join(str(c) for c in catalogues) or "no catalogue given",
            "truth": "none: the input has no truth columns",
        },
        "n_input": inp.record["n_rows"],
        "truth": None,
        "baseline": {"n_selected": int(xp.count_nonzero(base))},
        "validation": validation,
        "n_outside_error_range": int(
            xp.count_nonzero(scores["score_flag"] & (1 << ERROR_RANGE_BIT))
        ),
        "curves": trained.test_curves.to_host(),
        "model_sha256": model_hash(trained.model),
        "config": cfg.to_dict(),
    }
    with reporter.stage("write outputs"):
        metrics["timings_s"] = dict(reporter.timings)
        write_outputs(out_dir, scores, trained.model, metrics, sky if save_sky else None)
    return metrics
