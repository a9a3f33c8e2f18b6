"""The ``gpu-mc`` command line: a thin layer over :mod:`gpu_mc.pipeline`.

Exit status: 0 success; 2 the command cannot be done as asked (bad input file, option,
configuration value or output path, a missing library or device), with one line on stderr and
no output written; 130 interrupted by SIGINT (Ctrl-C) and 143 by SIGTERM, with one line and no
partial output; 1 an unexpected internal error (a bug: the traceback is printed).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from gpu_mc import __version__
from gpu_mc.backend import get_backend, gpu_problem
from gpu_mc.config import Config, load_config
from gpu_mc.constants import TARGETS
from gpu_mc.errors import GpuMcError, InputError
from gpu_mc.io.atomic import check_input, check_output, check_run_directory

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Tell Magellanic Cloud stars from Milky Way foreground in Gaia DR3.",
)
err = Console(stderr=True)

#: Exit statuses (see the module docstring and the README's "Guarantees").
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def _say(text: str) -> None:
    """Print a message on stdout literally: no markup, emoji or highlighting, no wrapping."""
    Console().print(Text(text), soft_wrap=True, highlight=False)


def _error(text: str) -> None:
    """Print one ``gpu-mc: error: ...`` line on stderr; ``text`` is printed literally."""
    err.print(Text.assemble(("gpu-mc: error: ", "red"), text), soft_wrap=True, highlight=False)


CloudOpt = Annotated[
    str | None,
    typer.Option(
        "--cloud",
        help=f"target galaxy: a built-in one ({', '.join(TARGETS)}) or the name of the "
        "\\[target] table of --config (default: the configuration's target, else lmc)",
    ),
]
NStarsOpt = Annotated[int | None, typer.Option("--n-stars", help="stars in the mock base sample")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="seed of the mock sky")]
BackendOpt = Annotated[str | None, typer.Option("--backend", help="auto, cpu or gpu")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML configuration file")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")]
ColumnMapOpt = Annotated[
    str | None,
    typer.Option("--column-map", help="rename input columns, e.g. 'RA_ICRS=ra,DE_ICRS=dec'"),
]


def _column_map(text: str | None) -> dict[str, str] | None:
    """Parse 'FILE_NAME=gaia_name,...' into a mapping; None when not given."""
    if not text:
        return None
    pairs = [item.split("=") for item in text.split(",") if item.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise GpuMcError(f"--column-map must look like 'FILE_NAME=gaia_name,...', got {text!r}")
    return {a.strip(): b.strip() for a, b in pairs}


def _config(
    config: Path | None,
    cloud: str | None = None,
    n_stars: int | None = None,
    seed: int | None = None,
    backend: str | None = None,
    out: Path | None = None,
) -> Config:
    cfg = load_config(config)
    if cloud is not None and cloud == cfg.target.name:
        cloud = None  # the configuration's own target, by name: keep its record
    return cfg.replace(
        sky={"cloud": cloud, "n_stars": n_stars, "seed": seed},
        run={"backend": backend, "out": None if out is None else str(out)},
    )


def _available_memory() -> int | None:
    """Bytes of host memory available to a new allocation (Linux MemAvailable), if known."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def estimate_sky_bytes(cfg: Config) -> int:
    """A lower bound on the peak memory of simulating and scoring ``cfg.sky.n_stars`` stars.

    Per star: every column of the mock sky (Gaia, optional and truth columns of
    :mod:`gpu_mc.io.schema`), the same again for the simulated MW class scaled by
    ``sample.mw_size_factor``, the 11 float32 features and the score columns.

    Returns
    -------
    int
        Bytes.
    """
    from gpu_mc.io.schema import GAIA_COLUMNS, OPTIONAL_COLUMNS, TRUTH_COLUMNS

    columns = {**GAIA_COLUMNS, **OPTIONAL_COLUMNS, **TRUTH_COLUMNS}
    sky = sum(dtype.itemsize for dtype, _ in columns.values())
    features = 4 * len(cfg.features.names)
    scores = 8 + 4 + 2 + 3  # source_id, p_mc, score_flag, three sample masks
    per_star = sky * (1 + cfg.sample.mw_size_factor) + features + scores
    return int(per_star * cfg.sky.n_stars)


def _check_memory(cfg: Config) -> None:
    """Refuse a mock sky that cannot fit in the available memory, before allocating it."""
    need = estimate_sky_bytes(cfg)
    have = _available_memory()
    if have is not None and need > have:
        gib = 2**30
        raise InputError(
            f"--n-stars {cfg.sky.n_stars:,} needs at least {need / gib:,.1f} GiB of memory "
            f"({need / cfg.sky.n_stars:.0f} bytes per star) but {have / gib:,.1f} GiB are "
            "available; use fewer stars"
        )


def _reporter(quiet: bool):
    from gpu_mc.progress import Reporter

    return Reporter(enabled=not quiet)


@app.command()
def run(
    cloud: CloudOpt = None,
    n_stars: NStarsOpt = None,
    seed: SeedOpt = None,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="output directory, replaced as a whole (only gpu-mc outputs)"),
    ] = None,
    save_sky: Annotated[
        bool, typer.Option("--save-sky", help="also write the mock input as sky.parquet")
    ] = False,
    report: Annotated[
        bool,
        typer.Option("--report", help="also write report.html with figures"),
    ] = False,
    input: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="Gaia cone to classify instead of the mock sky: a table (parquet, CSV, FITS, "
            "VOTable, ...), a directory of parquet partitions or a HATS catalogue",
        ),
    ] = None,
    mw_simulation: Annotated[
        Path | None,
        typer.Option(
            "--mw-simulation",
            help="with --input: GOG export (gaia_source_simulation) as the MW class "
            "(default: the built-in foreground model)",
        ),
    ] = None,
    catalogue: Annotated[
        list[Path] | None,
        typer.Option(
            "--catalogue", help="with --input: known stars to validate against (repeatable)"
        ),
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="match --catalogue by source_id or position")
    ] = "source_id",
    ra_col: Annotated[str, typer.Option("--ra-col", help="catalogue RA column, deg")] = "ra",
    dec_col: Annotated[str, typer.Option("--dec-col", help="catalogue Dec column, deg")] = "dec",
    column_map: ColumnMapOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Train, score every star, pick thresholds, validate, write outputs: on the mock sky, or
    on a Gaia cone with --input."""
    from gpu_mc.report.summary import print_summary
    from gpu_mc.report.validation import print_validation

    catalogues = list(catalogue or [])
    if input is None:
        given = {"--mw-simulation": mw_simulation, "--catalogue": catalogues or None}
        names = [k for k, v in given.items() if v is not None]
        if names:
            raise GpuMcError(
                f"{', '.join(names)}: only with --input (the mock run validates against its "
                "own mock catalogues)"
            )
    else:
        given = {"--n-stars": n_stars, "--seed": seed}
        names = [k for k, v in given.items() if v is not None]
        if names:
            raise GpuMcError(f"{', '.join(names)}: only for the mock sky, not with --input")
        if by not in ("source_id", "position"):
            raise InputError(f"--by must be 'source_id' or 'position', got {by!r}")
        for source in (input, mw_simulation, *catalogues):
            if source is not None:
                check_input(source)
    cfg = _config(config, cloud, n_stars, seed, backend, out)
    check_output(cfg.run.out, [config, input, mw_simulation, *catalogues], directory=True)
    check_run_directory(cfg.run.out)
    if input is None:
        _check_memory(cfg)
    be = get_backend(cfg.run.backend)
    rep = _reporter(quiet)
    if input is None:
        from gpu_mc.pipeline import run as run_pipeline

        metrics = run_pipeline(cfg, be, Path(cfg.run.out), rep, save_sky=save_sky)
    else:
        from gpu_mc.pipeline_input import run_on_input

        metrics = run_on_input(
            cfg,
            be,
            Path(cfg.run.out),
            rep,
            input,
            mw_simulation,
            catalogues,
            "position" if by == "position" else "source_id",
            ra_col,
            dec_col,
            _column_map(column_map),
            save_sky=save_sky,
        )
    print_summary(metrics)
    if metrics.get("validation"):
        print_validation(metrics["validation"])
    _say(f"Outputs in {cfg.run.out}/: scores.parquet, model/, metrics.json")
    if report:
        from gpu_mc.report.html import make_report

        with rep.stage("report"):
            page = make_report(Path(cfg.run.out))
        _say(f"Report: {page}")


@app.command()
def simulate(
    out: Annotated[
        Path, typer.Option("--out", help="output parquet file (a directory with --partitions)")
    ],
    cloud: CloudOpt = None,
    n_stars: NStarsOpt = None,
    seed: SeedOpt = None,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            min=1,
            help="write this many parquet files into the --out directory, split by HEALPix "
            "pixel of source_id",
        ),
    ] = None,
    hats: Annotated[
        bool,
        typer.Option(
            "--hats",
            help="write a HATS catalogue directory (LSDB reads it): at most ceil(n/K) rows per "
            "HEALPix partition with --partitions K, else 1,000,000; needs the hats extra",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write a mock Gaia base sample (with truth columns) to a parquet file or partitions."""
    from gpu_mc.backend import to_host
    from gpu_mc.io.schema import GAIA_COLUMNS, OPTIONAL_COLUMNS, TRUTH_COLUMNS
    from gpu_mc.io.writers import write_table
    from gpu_mc.pipeline import simulate as simulate_sky

    cfg = _config(config, cloud, n_stars, seed, backend)
    check_output(out, [config], directory=partitions is not None or hats)
    _check_memory(cfg)
    be = get_backend(cfg.run.backend)
    sky = simulate_sky(cfg, be, _reporter(quiet))
    units = {k: u for k, (_, u) in {**GAIA_COLUMNS, **OPTIONAL_COLUMNS, **TRUTH_COLUMNS}.items()}
    meta = {"package": f"gpu_mc {__version__}", "config": json.dumps(cfg.to_dict()["sky"])}
    host = {k: to_host(v) for k, v in sky.items()}
    if hats:
        from gpu_mc.io.hats import DEFAULT_MAX_ROWS, write_hats

        n_max = -(-cfg.sky.n_stars // partitions) if partitions else DEFAULT_MAX_ROWS
        cat = write_hats(host, out, max_rows=n_max, units=units, metadata=meta)
        _say(
            f"Wrote {cat.n_rows:,} mock stars as a HATS catalogue of "
            f"{len(cat.partitions)} partitions in {out}/"
        )
        return
    if partitions is None:
        write_table(out, host, units=units, metadata=meta)
        _say(f"Wrote {cfg.sky.n_stars:,} mock stars to {out}")
        return
    from gpu_mc.io.partitions import write_partitions

    files = write_partitions(host, out, partitions, units=units, metadata=meta)
    _say(f"Wrote {cfg.sky.n_stars:,} mock stars to {len(files)} partitions in {out}/")


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", help="output model directory")],
    input: Annotated[
        Path | None,
        typer.Option("--input", help="observed Gaia table for the MC class (default: mock sky)"),
    ] = None,
    mw_simulation: Annotated[
        Path | None,
        typer.Option("--mw-simulation", help="GOG export (gaia_source_simulation) as MW class"),
    ] = None,
    cloud: CloudOpt = None,
    n_stars: NStarsOpt = None,
    seed: SeedOpt = None,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
    column_map: ColumnMapOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Train a model (MC class selected from the sky, MW class simulated) and save it."""
    from gpu_mc.io.readers import read_gaia_table
    from gpu_mc.model.checkpoint import save_model
    from gpu_mc.pipeline import simulate as simulate_sky
    from gpu_mc.pipeline import train as train_model

    cfg = _config(config, cloud, n_stars, seed, backend)
    for source in (input, mw_simulation):
        if source is not None:
            check_input(source)
    check_output(out, [input, mw_simulation, config], directory=True)
    if input is None:
        _check_memory(cfg)
    be = get_backend(cfg.run.backend)
    rep = _reporter(quiet)
    if input is None:
        sky = simulate_sky(cfg, be, rep)
    else:
        raw = read_gaia_table(input, column_map=_column_map(column_map))
        sky = {k: be.xp.asarray(v) for k, v in raw.items()}
    mw = None
    if mw_simulation is not None:
        from gpu_mc.io.gog import read_mw_simulation

        mw_host, assumptions = read_mw_simulation(mw_simulation)
        mw = {k: be.xp.asarray(v) for k, v in mw_host.items()}
    trained = train_model(sky, cfg, be, rep, mw=mw)
    if mw_simulation is not None:
        trained.model.meta["mw_simulation"] = {"file": str(mw_simulation), "assumed": assumptions}
    save_model(trained.model, out)
    _say(
        f"Model saved to {out}: test ROC AUC {trained.test_curves.roc_auc():.4f}, "
        f"thresholds {json.dumps({k: round(v, 4) for k, v in trained.thresholds.items()})}"
    )


@app.command()
def score(
    input: Annotated[
        Path,
        typer.Argument(
            help="Gaia table (parquet, CSV, FITS, VOTable), or a directory of parquet partitions"
        ),
    ],
    model: Annotated[Path, typer.Option("--model", help="model directory")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help=(
                "scores file: .parquet, .fits, .vot, .csv, or .dat for a CDS (source_id, P)"
                " table; a directory for a directory input"
            ),
        ),
    ],
    backend: BackendOpt = None,
    config: ConfigOpt = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="directory input: local (CPU workers, the default), local-cuda (one worker "
            "per GPU) or tcp://host:port of a running scheduler",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="workers of a local cluster (default: CPUs or GPUs)"),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="skip partitions whose scores are complete")
    ] = False,
    rmm_pool_size: Annotated[
        str | None,
        typer.Option("--rmm-pool-size", help="local-cuda: RMM pool per GPU, e.g. 20GB or 0.8"),
    ] = None,
    device_memory_limit: Annotated[
        str | None,
        typer.Option(
            "--device-memory-limit",
            help="local-cuda: device memory per worker before spilling to host, e.g. 30GB",
        ),
    ] = None,
    column_map: ColumnMapOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score every row of a Gaia table, or every partition of a directory, with a saved model."""
    cfg = _config(config, backend=backend)
    from gpu_mc.io.hats import is_hats_catalogue
    from gpu_mc.io.writers import FORMAT_OF_EXTENSION

    hats_input = is_hats_catalogue(input)
    if not input.is_dir():
        dir_only = {
            "--cluster": cluster,
            "--workers": workers,
            "--resume": resume or None,
            "--rmm-pool-size": rmm_pool_size,
            "--device-memory-limit": device_memory_limit,
        }
        given = [k for k, v in dir_only.items() if v is not None]
        if given:
            raise GpuMcError(f"{', '.join(given)}: only for a directory of partitions as INPUT")
    check_input(input)
    check_input(model)
    out_is_dir = input.is_dir() and not (
        hats_input and out.suffix.lower() in (*FORMAT_OF_EXTENSION, ".dat", ".cds")
    )
    check_output(out, [input, model, config], directory=out_is_dir)
    if hats_input and cluster is not None and not out_is_dir:
        raise GpuMcError(f"--out {out}: --cluster writes a HATS catalogue, so give a directory")
    if hats_input and cluster is None:
        from gpu_mc.model.checkpoint import load_model
        from gpu_mc.score_hats import score_hats

        be = get_backend(cfg.run.backend)
        m = load_model(model, device=be.torch_device)
        done = score_hats(input, m, cfg, be, out, _reporter(quiet), resume=resume)
        _say(
            f"Scored {done.n_rows:,} stars in the target cone of HATS catalogue "
            f"{input} ({len(done.skipped)} partitions already complete) → {out}"
        )
        return
    if input.is_dir():
        try:
            from gpu_mc.parallel import ClusterSpec, score_partitions
        except ImportError as exc:
            raise GpuMcError(
                f"scoring a directory needs dask.distributed (pip install 'gpu_mc[dask]'): {exc}"
            ) from None
        spec = ClusterSpec(
            address=cluster or "local",
            n_workers=workers,
            rmm_pool_size=rmm_pool_size,
            device_memory_limit=device_memory_limit,
        )
        done = score_partitions(input, model, out, cfg, spec, resume=resume, progress=not quiet)
        _say(
            f"Scored {sum(done.scored.values()):,} stars in {len(done.scored)} partitions "
            f"({len(done.skipped)} already complete) → {out}/ in {done.seconds:.1f} s"
        )
        return
    from gpu_mc.model.checkpoint import load_model
    from gpu_mc.scoring import score_file

    be = get_backend(cfg.run.backend)
    m = load_model(model, device=be.torch_device)
    n = score_file(input, m, cfg, be, out, _reporter(quiet), _column_map(column_map))
    _say(f"Scored {n:,} stars → {out}")


@app.command()
def info() -> None:
    """Show the backend that would be used, devices and library versions."""
    from gpu_mc.backend import library_versions

    _say(f"gpu_mc {__version__}, Python {sys.version.split()[0]}")
    problem = gpu_problem()
    _say(f"GPU backend: {'available' if problem is None else 'unavailable — ' + problem}")
    be = get_backend("auto")
    _say(f"auto backend: {be.name}")
    for k, v in be.capabilities.items():
        _say(f"  {k}: {v}")
    for lib, found in library_versions().items():
        if found is None:
            _say(f"  {lib}: not installed")
        elif found[0] == lib:
            _say(f"  {lib}: {found[1]}")
        else:
            _say(f"  {lib}: {found[1]} ({found[0]})")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a gpu-mc run directory")],
    input: Annotated[
        Path | None,
        typer.Option("--input", help="the run's input Gaia table (default: RUN_DIR/sky.parquet)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="report directory (default: RUN_DIR/report)")
    ] = None,
) -> None:
    """Write report.html and figures for a run."""
    from gpu_mc.report.html import make_report

    check_input(run_dir)
    reads = [run_dir / name for name in ("scores.parquet", "metrics.json", "sky.parquet")]
    check_output(run_dir / "report" if out is None else out, [*reads, input], directory=True)
    page = make_report(run_dir, out, input)
    _say(f"Report written to {page}")


@app.command()
def validate(
    scores: Annotated[Path, typer.Option("--scores", help="scores file of gpu-mc run or score")],
    catalogue: Annotated[
        Path, typer.Option("--catalogue", help="member list: parquet, CSV, FITS or VOTable")
    ],
    by: Annotated[str, typer.Option("--by", help="source_id or position")] = "source_id",
    radius_arcsec: Annotated[
        float | None, typer.Option("--radius-arcsec", help="match radius (default: config)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="catalogue heading")] = None,
    input: Annotated[
        Path | None,
        typer.Option("--input", help="the scored Gaia table (same rows), for ra/dec"),
    ] = None,
    ra_col: Annotated[str, typer.Option("--ra-col", help="catalogue RA column, deg")] = "ra",
    dec_col: Annotated[str, typer.Option("--dec-col", help="catalogue Dec column, deg")] = "dec",
    out: Annotated[
        Path | None, typer.Option("--out", help="write the table as FILE.json or FILE.md")
    ] = None,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Recovery of a catalogue of known stars by the three samples of a scores file."""
    from gpu_mc.io.atomic import write_text_atomic
    from gpu_mc.report.validation import print_validation, validation_markdown
    from gpu_mc.validate.recovery import recovery_from_files

    if out is not None and out.suffix.lower() not in (".json", ".md"):
        raise InputError(f"--out {out}: the name must end in .json or .md")
    for source in (scores, catalogue, input):
        if source is not None:
            check_input(source)
    if out is not None:
        check_output(out, [scores, catalogue, input, config])
    cfg = _config(config, backend=backend)
    result = recovery_from_files(
        scores,
        catalogue,
        by,
        cfg.validate.radius_arcsec if radius_arcsec is None else radius_arcsec,
        name,
        input,
        ra_col,
        dec_col,
        cfg.run.backend,
    )
    print_validation(result)
    if out is not None:
        if out.suffix.lower() == ".json":
            write_text_atomic(out, json.dumps(result, indent=2) + "\n")
        else:
            write_text_atomic(out, validation_markdown(result))
        _say(f"Recovery table written to {out}")


@app.command()
def crossmatch(
    left: Annotated[Path, typer.Argument(help="catalogue 1: parquet, CSV or VizieR TSV")],
    right: Annotated[Path, typer.Argument(help="catalogue 2: parquet, CSV or VizieR TSV")],
    radius_arcsec: Annotated[float, typer.Option("--radius-arcsec", help="match radius")],
    out: Annotated[Path, typer.Option("--out", help="output parquet of pairs")],
    left_ra: Annotated[str, typer.Option("--left-ra", help="RA column of LEFT, deg")] = "ra",
    left_dec: Annotated[str, typer.Option("--left-dec", help="Dec column of LEFT, deg")] = "dec",
    right_ra: Annotated[str, typer.Option("--right-ra", help="RA column of RIGHT, deg")] = "ra",
    right_dec: Annotated[str, typer.Option("--right-dec", help="Dec column of RIGHT, deg")] = "dec",
    one_to_one: Annotated[
        bool, typer.Option("--one-to-one", help="each RIGHT source matched at most once")
    ] = False,
    backend: BackendOpt = None,
) -> None:
    """Nearest RIGHT source within the radius for each LEFT source; writes index pairs."""
    from gpu_mc.validate.crossmatch import crossmatch_files

    check_input(left)
    check_input(right)
    check_output(out, [left, right])
    result = crossmatch_files(
        left,
        right,
        radius_arcsec,
        out,
        left_ra=left_ra,
        left_dec=left_dec,
        right_ra=right_ra,
        right_dec=right_dec,
        one_to_one=one_to_one,
        backend=backend,
    )
    _say(f"{len(result.idx1):,} pairs within {radius_arcsec:g} arcsec → {out}")


@app.command()
def bench(
    sizes: Annotated[
        str, typer.Option("--sizes", help="comma-separated numbers of stars")
    ] = "1e5,1e6,1e7,1.8e7",
    backend: Annotated[str, typer.Option("--backend", help="auto, cpu or gpu")] = "auto",
    compare: Annotated[
        Path | None,
        typer.Option("--compare", help="earlier result JSON to compare this run with"),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="directory of the result JSON files")] = Path(
        "benchmarks/results"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="one repeat, small training set")] = False,
) -> None:
    """Benchmark every stage and the whole pass (run from the repository root)."""
    spec = importlib.util.find_spec("benchmarks")
    if spec is None or spec.origin is None or not (Path(spec.origin).parent / "suite.py").exists():
        raise GpuMcError(
            "gpu-mc bench needs a source checkout: the benchmarks/ folder is not installed with "
            "the package; run it from the root of a gpu_mc checkout (git clone, pip install -e .)"
        )
    from benchmarks.cli import bench as run_bench
    from benchmarks.suite import parse_sizes

    try:
        parse_sizes(sizes)
    except ValueError as exc:
        raise InputError(f"--sizes {sizes!r}: {exc}") from None
    check_output(out, [compare], directory=True)

    status = run_bench(sizes, backend, None if compare is None else [compare], out, quick)
    if status:
        raise typer.Exit(status)


@app.command()
def query(
    cloud: CloudOpt = None,
    config: ConfigOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="output parquet file")] = None,
    print_adql: Annotated[
        bool, typer.Option("--print-adql", help="print the ADQL and do not run it")
    ] = False,
    parts: Annotated[int, typer.Option("--parts", help="source_id ranges (jobs)")] = 64,
    radius_deg: Annotated[
        float | None, typer.Option("--radius-deg", help="cone radius (default: the target's)")
    ] = None,
    g_max: Annotated[
        float | None, typer.Option("--g-max", help="faint limit, mag (default: sky.g_limit)")
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Download the base sample (cone about the target down to G = 20.5) from the archive."""
    from gpu_mc.io.adql import base_sample_adql

    sky = _config(config, cloud).sky
    target = sky.target
    g_limit = sky.g_limit if g_max is None else g_max
    poe = sky.parallax_over_error_max
    adql = base_sample_adql(
        target, radius_deg=radius_deg, g_max=g_limit, parallax_over_error_max=poe
    )
    if print_adql:
        Console().print(adql, highlight=False, soft_wrap=True)
        return
    if out is None:
        raise GpuMcError("gpu-mc query needs --out FILE.parquet (or --print-adql)")
    check_output(out)
    from gpu_mc.io.query import download_base_sample

    with _reporter(quiet).stage("archive jobs", total=parts) as advance:
        download_base_sample(target, out, parts, radius_deg, g_limit, poe, progress=advance)
    _say(f"Base sample written to {out}")


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[list[int]]:
    """Turn SIGTERM, like SIGINT, into KeyboardInterrupt; yield the list of signals received.

    Raising in the main thread unwinds every ``with``/``finally``, so atomic writers delete
    their temporaries and no partial output is left. Outside the main thread nothing changes.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _os_error_message(exc: OSError) -> str:
    """One line for an operating-system error on a user's path (permission, not a directory)."""
    if exc.filename is None:
        return str(exc)
    return f"{exc.filename}: {exc.strerror or exc}"


def run_cli(argv: list[str] | None = None) -> int:
    """Run the app on ``argv`` (default: the process's arguments) and return the exit status.

    Known errors become one line on stderr and status 2; typer's own usage errors keep its
    message and status; SIGINT gives 130 and SIGTERM 143 with one line. Anything else is a bug
    and propagates with its traceback (status 1).
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with _signals_as_interrupts() as received:
        try:
            status = app(args=argv, prog_name="gpu-mc", standalone_mode=False)
        except KeyboardInterrupt:
            status = EXIT_SIGINT
        except GpuMcError as exc:
            _error(str(exc))
            return EXIT_USAGE
        except typer.TyperException as exc:
            show = getattr(exc, "show", None)
            if show is None:
                _error(exc.format_message())
            else:
                show()
            return int(getattr(exc, "exit_code", EXIT_USAGE))
        except typer.Abort:
            return EXIT_FAILURE
        except OSError as exc:
            _error(_os_error_message(exc))
            return EXIT_USAGE
    if status == EXIT_SIGINT or received:
        if signal.SIGTERM in received:
            err.print(Text("gpu-mc: terminated (SIGTERM)"), highlight=False)
            return EXIT_SIGTERM
        err.print(Text("gpu-mc: interrupted (SIGINT)"), highlight=False)
        return EXIT_SIGINT
    return status if isinstance(status, int) else 0


def main() -> None:
    """Console-script entry point: exit with the status of :func:`run_cli`."""
    sys.exit(run_cli())
