"""The bad-input table of issue 14: every case asserts the exit status, the first line of the
message and the files left behind.

Each :class:`Case` builds its files in its own directory, runs ``gpu-mc`` in process (typer's
``CliRunner`` isolation around :func:`gpu_mc.cli.run_cli`, which is what the console script
runs) and checks:

* the exit status;
* the first line of stderr (or, with ``stream="stdout"``, some line of stdout) against a
  regular expression;
* that no file that existed before was changed or removed (no input is ever overwritten),
  apart from the paths a case names in ``replaces``;
* that the new files are exactly those the case names in ``creates`` (glob patterns): none
  at all for a failure, so no partial output and no temporary is left.

Signals need a real process: the tests at the end send SIGINT and SIGTERM to a subprocess.

"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cli_runner
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

#: The first line of every deliberate error.
E = r"^gpu-mc: error: .*?"
#: The first line of typer's own usage errors.
USAGE = r"^Usage: gpu-mc "

FAST = "[train]\nmax_epochs = 2\nbatch_size = 1024\nhidden = [8]\n"
TRUTH = ["true_class", "true_component", "true_distance_kpc", "true_variable"]


# --------------------------------------------------------------------------- the runner


def gpu_mc(args: list[str]) -> tuple[int, str, str]:
    """Run ``gpu-mc ARGS`` in this process; return (status, stdout, stderr)."""
    r = cli_runner.gpu_mc(*args)
    return r.returncode, r.stdout, r.stderr


def snapshot(root: Path) -> dict[str, str]:
    """Relative path → SHA-256 (or "dir") of everything under ``root``, hidden files included."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# --------------------------------------------------------------------------- shared inputs


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A small trained model, an LMC and an SMC mock sky, and two parquet partitions."""
    d = tmp_path_factory.mktemp("base")
    (d / "fast.toml").write_text(FAST)
    common = ["--backend", "cpu", "-q"]
    status, _, err = gpu_mc(
        [
            "train",
            "--n-stars",
            "5000",
            "--config",
            str(d / "fast.toml"),
            "--out",
            str(d / "model"),
            *common,
        ]
    )
    assert status == 0, err
    for cloud in ("lmc", "smc"):
        status, _, err = gpu_mc(
            [
                "simulate",
                "--n-stars",
                "2000",
                "--cloud",
                cloud,
                "--out",
                str(d / f"{cloud}.parquet"),
                *common,
            ]
        )
        assert status == 0, err
    sky = pq.read_table(d / "lmc.parquet")
    (d / "parts").mkdir()
    pq.write_table(sky.slice(0, 1000), d / "parts" / "part-000.parquet")
    pq.write_table(sky.slice(1000), d / "parts" / "part-001.parquet")
    return d


def sky(base: Path, n: int | None = None) -> pa.Table:
    """The LMC mock sky without truth columns (first ``n`` rows)."""
    t = pq.read_table(base / "lmc.parquet").drop(TRUTH)
    return t if n is None else t.slice(0, n)


def with_column(t: pa.Table, name: str, values) -> pa.Table:
    return t.set_column(t.column_names.index(name), name, pa.array(values))


def write_csv(t: pa.Table, path: Path, bom: bool = False, cell: tuple[str, int, str] | None = None):
    """CSV of ``t``; ``cell=(column, row, text)`` replaces one value by raw text."""
    cols = t.column_names
    rows = [list(map(str, r.values())) for r in t.to_pylist()]
    if cell is not None:
        rows[cell[1]][cols.index(cell[0])] = cell[2]
    text = "\n".join([",".join(cols), *(",".join(r) for r in rows)]) + "\n"
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")


def copy_model(base: Path, t: Path, name: str = "m") -> Path:
    shutil.copytree(base / "model", t / name)
    return t / name


def edit_model_json(edit: Callable[[dict], None]) -> Callable[[Path, Path], None]:
    def make(t: Path, base: Path) -> None:
        m = copy_model(base, t)
        meta = json.loads((m / "model.json").read_text())
        edit(meta)
        (m / "model.json").write_text(json.dumps(meta))

    return make


def edit_model_weights(edit: Callable[[object], None]) -> Callable[[Path, Path], None]:
    """Load the model, change it in memory, save it with a valid weights hash."""

    def make(t: Path, base: Path) -> None:
        from gpu_mc.model.checkpoint import load_model, save_model

        model = load_model(base / "model")
        model.meta.pop("model_sha256")
        edit(model)
        save_model(model, t / "m")

    return make


def drop_standardisation(t: Path, base: Path) -> None:
    from safetensors.numpy import load_file, save_file

    m = copy_model(base, t)
    state = load_file(str(m / "model.safetensors"))
    save_file(
        {k: v for k, v in state.items() if k.startswith("net.")}, str(m / "model.safetensors")
    )


def fits_table(t: Path, name: str, columns: dict, units: dict | None = None) -> None:
    from astropy.table import Table

    table = Table(columns)
    for col, unit in (units or {}).items():
        table[col].unit = unit
    table.write(t / name, format="fits")


def tnull_parallax(t: Path, base: Path) -> None:
    from astropy.table import MaskedColumn

    cols = {k: np.asarray(v) for k, v in sky(base, 200).to_pydict().items()}
    plx = np.round(cols["parallax"] * 1000).astype(np.int32)
    mask = np.zeros(plx.size, bool)
    mask[::10] = True
    cols["parallax"] = MaskedColumn(plx, mask=mask, fill_value=-999999)
    fits_table(t, "tnull.fits", cols)


def equatorial_degrees(t: Path, base: Path) -> None:
    cols = {k: np.asarray(v) for k, v in sky(base, 200).to_pydict().items()}
    rng = np.random.default_rng(3)
    cols["ra"] = rng.uniform(0.5, 6.0, cols["ra"].size)
    cols["dec"] = rng.uniform(-1.5, 1.5, cols["dec"].size)
    fits_table(t, "eq.fits", cols, {"ra": "deg", "dec": "deg"})


def stale_run_directory(t: Path, base: Path) -> None:
    """An old run directory with a sky.parquet, and leftovers of killed runs."""
    o = t / "o"
    (o / "model").mkdir(parents=True)
    for name in ("scores.parquet", "metrics.json", "sky.parquet", "model/model.json"):
        (o / name).write_text("old")
    (o / ".staging-abc123").mkdir()
    (o / ".staging-abc123" / "scores.parquet").write_text("partial")
    (t / ".o.staging-def456").mkdir()
    (t / ".o.old-789").mkdir()
    (t / "fast.toml").write_text(FAST)


def deny_access(relpath: str, mode: int) -> Callable[[pytest.MonkeyPatch, Path], None]:
    """Make ``os.access(t/relpath, mode)`` false (the tests may run as root, who reads all)."""

    def patch(monkeypatch: pytest.MonkeyPatch, t: Path) -> None:
        real = os.access
        target = (t / relpath).resolve()

        def access(path, m, *a, **k):
            if Path(path).resolve() == target and m & mode:
                return False
            return real(path, m, *a, **k)

        monkeypatch.setattr(os, "access", access)

    return patch


def read_back(name: str, fmt: str | None = None) -> Callable[[Path], None]:
    """Check that an output table reads back with astropy and has one row per input row."""

    def check(t: Path) -> None:
        from astropy.table import Table

        table = Table.read(t / name, format=fmt) if fmt else Table.read(t / name)
        assert len(table) == 2000

    return check


def run_dir_is_new(t: Path) -> None:
    assert (t / "o" / "metrics.json").read_text() != "old"
    assert pq.read_table(t / "o" / "scores.parquet").num_rows == 2000


# --------------------------------------------------------------------------- the table


@dataclass
class Case:
    """One bad input: how to make it, what to run, what must come out."""

    id: str
    args: list[str]
    status: int
    first: str
    make: Callable[[Path, Path], None] | None = None
    creates: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    stream: str = "stderr"
    patch: Callable[[pytest.MonkeyPatch, Path], None] | None = None
    check: Callable[[Path], None] | None = None
    marks: tuple = field(default_factory=tuple)


def files(**named: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    """Combine several makers (the keyword names are only labels)."""

    def make(t: Path, base: Path) -> None:
        for maker in named.values():
            maker(t, base)

    return make


def parquet(name: str, edit: Callable[[pa.Table], pa.Table] = lambda t: t, n=None):
    def make(t: Path, base: Path) -> None:
        pq.write_table(edit(sky(base, n)), t / name)

    return make


def csv(name: str, edit: Callable[[pa.Table], pa.Table] = lambda t: t, **kw):
    def make(t: Path, base: Path) -> None:
        write_csv(edit(sky(base)), t / name, **kw)

    return make


def text(name: str, content: str):
    def make(t: Path, base: Path) -> None:
        (t / name).parent.mkdir(parents=True, exist_ok=True)
        (t / name).write_text(content)

    return make


def link(name: str, target: str, hard: bool = False):
    def make(t: Path, base: Path) -> None:
        (os.link if hard else os.symlink)(t / target, t / name)

    return make


def copy_parts(t: Path, base: Path) -> None:
    shutil.copytree(base / "parts", t / "parts")


def corrupt_partition(t: Path, base: Path) -> None:
    copy_parts(t, base)
    p = t / "parts" / "part-001.parquet"
    p.write_bytes(p.read_bytes()[:500])


def scores_file(t: Path, base: Path) -> None:
    """A real scores file s.parquet of the LMC sky and a source_id catalogue cat.parquet."""
    status, _, err = gpu_mc(
        [
            "score",
            str(base / "lmc.parquet"),
            "--model",
            str(base / "model"),
            "--out",
            str(t / "s.parquet"),
            "-q",
        ]
    )
    assert status == 0, err
    pq.write_table(sky(base, 50).select(["source_id", "ra", "dec"]), t / "cat.parquet")


def catalogues(t: Path, base: Path) -> None:
    """Two small position catalogues L.parquet and R.parquet."""
    pq.write_table(sky(base, 100).select(["source_id", "ra", "dec"]), t / "L.parquet")
    pq.write_table(sky(base, 80).select(["source_id", "ra", "dec"]), t / "R.parquet")


def catalogue_with(column: str, value: float):
    def make(t: Path, base: Path) -> None:
        catalogues(t, base)
        table = sky(base, 80).select(["source_id", "ra", "dec"])
        values = table[column].to_numpy().copy()
        values[3] = value
        pq.write_table(with_column(table, column, values), t / "R.parquet")

    return make


def config(content: str):
    return text("c.toml", content)


S = "{base}/lmc.parquet"
M = "{base}/model"
SCORE = ["score", S, "--model", M]
Q = ["-q"]
RUN_FAST = ["--n-stars", "2000", "--backend", "cpu", "-q"]
BIG = "10000000000"


def value(column: str, v) -> Callable[[pa.Table], pa.Table]:
    def edit(t: pa.Table) -> pa.Table:
        values = t[column].to_numpy().copy()
        values[5] = v
        return with_column(t, column, values)

    return edit


def as_bool(column: str) -> Callable[[pa.Table], pa.Table]:
    return lambda t: with_column(t, column, t[column].to_numpy() > np.median(t[column]))


# fmt: off
CASES = [
    # ---- bug 1: an output that would replace an input ---------------------------------------
    Case("score-out-is-input", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/x.parquet", *Q], 2, E + r"--out .*x\.parquet would replace the input", parquet("x.parquet"),),
    Case("score-out-symlink-to-input", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/l.parquet", *Q], 2, E + "would replace the input", files(a=parquet("x.parquet"), b=link("l.parquet", "x.parquet")),),
    Case("score-out-hardlink-to-input", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/h.parquet", *Q], 2, E + "would replace the input", files(a=parquet("x.parquet"), b=link("h.parquet", "x.parquet", hard=True)),),
    Case("score-out-relative-spelling", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/sub/../x.parquet", *Q], 2, E + "would replace the input", files(a=parquet("x.parquet"), b=text("sub/keep", "")),),
    Case("score-dir-out-same-dir", ["score", "{t}/parts", "--model", M, "--out", "{t}/parts", *Q], 2, E + "would replace the input", copy_parts,),
    Case("score-dir-out-parent-dir", ["score", "{t}/parts", "--model", M, "--out", "{t}", *Q], 2, E + "lies inside it", copy_parts,),
    Case("score-out-is-model-dir", ["score", S, "--model", "{t}/m", "--out", "{t}/m", *Q], 2, E + "would replace the input", lambda t, b: copy_model(b, t),),
    Case("score-out-is-model-file", ["score", S, "--model", "{t}/m", "--out", "{t}/m/model.safetensors", *Q], 2, E + "would replace a file of the input", lambda t, b: copy_model(b, t),),
    Case("score-out-is-config", [*SCORE, "--config", "{t}/c.toml", "--out", "{t}/c.toml", *Q], 2, E + "would replace the input", config("[run]\nbackend = 'cpu'\n"),),
    Case("crossmatch-out-is-left", ["crossmatch", "{t}/L.parquet", "{t}/R.parquet", "--radius-arcsec", "1", "--out", "{t}/L.parquet",], 2, E + "would replace the input", catalogues,),
    Case("crossmatch-out-is-right", ["crossmatch", "{t}/L.parquet", "{t}/R.parquet", "--radius-arcsec", "1", "--out", "{t}/R.parquet",], 2, E + "would replace the input", catalogues,),
    Case("validate-out-is-scores", ["validate", "--scores", "{t}/s.json", "--catalogue", "{t}/cat.parquet", "--out", "{t}/s.json",], 2, E + "would replace the input", files(a=scores_file, b=link("s.json", "s.parquet")),),
    Case("validate-out-is-catalogue", ["validate", "--scores", "{t}/s.parquet", "--catalogue", "{t}/cat.md", "--out", "{t}/cat.md",], 2, E + "would replace the input", files(a=scores_file, b=link("cat.md", "cat.parquet")),),
    Case("train-out-is-input", ["train", "--input", "{t}/x.parquet", "--out", "{t}/x.parquet", *Q], 2, E + "would replace the input", parquet("x.parquet"),),
    Case("simulate-out-is-config", ["simulate", "--config", "{t}/c.toml", "--out", "{t}/c.toml", *RUN_FAST], 2, E + "would replace the input", config("[sky]\nn_stars = 2000\n"),),
    Case("run-config-inside-out", ["run", "--config", "{t}/o/c.toml", "--out", "{t}/o", *RUN_FAST], 2, E + "lies inside it", text("o/c.toml", "[train]\nmax_epochs = 2\n"),),
    Case("report-out-is-run-dir", ["report", "{t}/r", "--out", "{t}/r"], 2, E + "lies inside it", files(a=text("r/scores.parquet", "x"), b=text("r/metrics.json", "{}")),),
    Case("bench-out-holds-compare", ["bench", "--compare", "{t}/res/old.json", "--out", "{t}/res", "--quick"], 2, E + "lies inside it", text("res/old.json", "{}"),),
    # ---- --out that cannot be written --------------------------------------------------------
    Case("score-out-is-directory", [*SCORE, "--out", "{t}/d", *Q], 2, E + r"--out .*d is a directory; give a file name", text("d/keep", ""),),
    Case("score-out-under-a-file", [*SCORE, "--out", "{t}/f/x.parquet", *Q], 2, E + r"--out .*: .*f is a file, not a directory", text("f", ""),),
    Case("score-out-deep-under-a-file", [*SCORE, "--out", "{t}/f/a/b/x.parquet", *Q], 2, E + "is a file, not a directory", text("f", ""),),
    Case("score-out-read-only-dir", [*SCORE, "--out", "{t}/ro/x.parquet", *Q], 2, E + r"--out .*: directory .*ro is not writable", text("ro/keep", ""), patch=deny_access("ro", os.W_OK),),
    Case("run-out-is-file", ["run", "--out", "{t}/f", *RUN_FAST], 2, E + r"--out .*f is a file; give a directory", text("f", ""),),
    Case("run-out-holds-other-files", ["run", "--out", "{t}/home", *RUN_FAST], 2, E + r"--out .*home holds files that are not gpu-mc run outputs \(notes\.txt\)", text("home/notes.txt", "mine"),),
    Case("run-out-read-only-parent", ["run", "--out", "{t}/ro/o", *RUN_FAST], 2, E + "is not writable", text("ro/keep", ""), patch=deny_access("ro", os.W_OK),),
    Case("simulate-out-is-directory", ["simulate", "--out", "{t}/d", *RUN_FAST], 2, E + "is a directory; give a file name", text("d/keep", ""),),
    Case("simulate-partitions-out-is-file", ["simulate", "--partitions", "2", "--out", "{t}/f", *RUN_FAST], 2, E + "is a file; give a directory", text("f", ""),),
    Case("train-out-is-file", ["train", "--out", "{t}/f", *RUN_FAST], 2, E + "is a file; give a directory", text("f", ""),),
    Case("crossmatch-out-under-file", ["crossmatch", "{t}/L.parquet", "{t}/R.parquet", "--radius-arcsec", "1", "--out", "{t}/L.parquet/p.parquet",], 2, E + "is a file, not a directory", catalogues,),
    Case("validate-out-is-directory", ["validate", "--scores", "{t}/s.parquet", "--catalogue", "{t}/cat.parquet", "--out", "{t}/d.json",], 2, E + "is a directory", files(a=scores_file, b=text("d.json/keep", "")),),
    Case("validate-out-bad-suffix", ["validate", "--scores", "{t}/s.parquet", "--catalogue", "{t}/cat.parquet", "--out", "{t}/t.txt",], 2, E + r"must end in \.json or \.md", scores_file,),
    Case("score-out-unknown-extension", [*SCORE, "--out", "{t}/x.xyz", *Q], 2, E + "unknown output extension",),
    # ---- inputs that do not exist or cannot be read -----------------------------------------
    Case("score-input-missing", ["score", "{t}/nope.parquet", "--model", M, "--out", "{t}/x.parquet", *Q], 2, E + r".*nope\.parquet does not exist",),
    Case("score-input-unreadable", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, USAGE + r"score", parquet("x.parquet"), patch=deny_access("x.parquet", os.R_OK),),
    Case("score-model-missing", [*"score {base}/lmc.parquet --model {t}/nomodel --out {t}/x.parquet -q".split()], 2, E + r".*nomodel does not exist",),
    Case("score-model-unreadable", ["score", S, "--model", "{t}/m", "--out", "{t}/x.parquet", *Q], 2, USAGE + r"score", lambda t, b: copy_model(b, t), patch=deny_access("m", os.R_OK),),
    Case("score-dir-corrupt-partition-resume", ["score", "{t}/parts", "--model", M, "--out", "{t}/o", "--resume", *Q], 2, E + r".*part-001\.parquet: not a readable parquet file", corrupt_partition, creates=("o",),),
    Case("score-truncated-parquet", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*x\.parquet", lambda t, b: (t / "x.parquet").write_bytes((b / "lmc.parquet").read_bytes()[:3000]),),
    Case("score-empty-parquet", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*x\.parquet", parquet("x.parquet", lambda t: t.slice(0, 0)),),
    Case("score-missing-column", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*pmra", parquet("x.parquet", lambda t: t.drop(["pmra"])),),
    Case("train-input-missing", ["train", "--input", "{t}/nope.parquet", "--out", "{t}/m", *Q], 2, E + r".*nope\.parquet does not exist",),
    Case("crossmatch-left-missing", ["crossmatch", "{t}/nope.parquet", "{t}/R.parquet", "--radius-arcsec", "1", "--out", "{t}/p.parquet",], 2, E + r".*nope\.parquet does not exist", catalogues,),
    Case("validate-scores-missing", ["validate", "--scores", "{t}/nope.parquet", "--catalogue", "{t}/cat.parquet"], 2, E + r".*nope\.parquet does not exist", text("cat.parquet", ""),),
    Case("config-missing", ["run", "--config", "{t}/nope.toml", "--out", "{t}/o", *RUN_FAST], 2, E + r".*nope\.toml does not exist",),
    Case("report-run-dir-missing", ["report", "{t}/nope"], 2, E + r".*nope does not exist"),
    # ---- bad command-line values: typer's own message, never a traceback --------------------
    Case("query-radius-sql", ["query", "--print-adql", "--radius-deg", "1 OR 1=1"], 2, USAGE + "query",),
    Case("run-n-stars-abc", ["run", "--n-stars", "abc"], 2, USAGE + "run"),
    Case("run-unknown-option", ["run", "--bogus"], 2, USAGE + "run"),
    Case("unknown-command", ["frobnicate"], 2, USAGE),
    Case("score-without-model", ["score", S, "--out", "{t}/x.parquet"], 2, USAGE + "score"),
    Case("simulate-partitions-zero", ["simulate", "--partitions", "0", "--out", "{t}/p", *RUN_FAST], 2, USAGE + "simulate",),
    Case("run-seed-negative", ["run", "--seed", "-1", "--out", "{t}/o", *RUN_FAST], 2, E + r"config field sky\.seed must be in \[0, 2\*\*62\), got -1",),
    Case("simulate-seed-negative", ["simulate", "--seed", "-1", "--out", "{t}/s.parquet", *RUN_FAST], 2, E + r"config field sky\.seed",),
    Case("run-n-stars-too-few", ["run", "--n-stars", "10", "--out", "{t}/o", "-q"], 2, E + r"config field sky\.n_stars",),
    Case("run-n-stars-huge", ["run", "--n-stars", BIG, "--out", "{t}/o", "-q"], 2, E + r"--n-stars 10,000,000,000 needs at least [\d,.]+ GiB of memory \(\d+ bytes per star\) but [\d,.]+ GiB are available",),
    Case("simulate-n-stars-huge", ["simulate", "--n-stars", BIG, "--out", "{t}/s.parquet", "-q"], 2, E + r"--n-stars 10,000,000,000 needs at least",),
    Case("train-n-stars-huge", ["train", "--n-stars", BIG, "--out", "{t}/m", "-q"], 2, E + r"--n-stars 10,000,000,000 needs at least",),
    Case("run-cloud-unknown", ["run", "--cloud", "m31", "--out", "{t}/o", "-q"], 2, E + r"config field sky\.cloud",),
    Case("run-backend-unknown", ["run", "--backend", "tpu", "--out", "{t}/o", "-q"], 2, E + r"config field run\.backend",),
    Case("score-file-with-resume", [*SCORE, "--out", "{t}/x.parquet", "--resume", *Q], 2, E + r"--resume: only for a directory",),
    Case("score-dir-workers-zero", ["score", "{t}/parts", "--model", M, "--out", "{t}/o", "--workers", "0", *Q], 2, E + r"--workers must be at least 1", copy_parts,),
    Case("score-dir-cluster-bogus", ["score", "{t}/parts", "--model", M, "--out", "{t}/o", "--cluster", "bogus", *Q], 2, E + r"--cluster 'bogus'", copy_parts,),
    Case("score-column-map-bad", [*SCORE, "--out", "{t}/x.parquet", "--column-map", "RA_ICRS", *Q], 2, E + r"--column-map must look like",),
    Case("crossmatch-radius-negative", ["crossmatch", "{t}/L.parquet", "{t}/R.parquet", "--radius-arcsec", "-1", "--out", "{t}/p.parquet",], 2, E + "radius_arcsec must be positive", catalogues,),
    Case("crossmatch-radius-nan", ["crossmatch", "{t}/L.parquet", "{t}/R.parquet", "--radius-arcsec", "nan", "--out", "{t}/p.parquet",], 2, E + "radius_arcsec must be positive and finite", catalogues,),
    Case("validate-by-bogus", ["validate", "--scores", "{t}/s.parquet", "--catalogue", "{t}/cat.parquet", "--by", "bogus",], 2, E + "--by must be", scores_file,),
    Case("query-radius-negative", ["query", "--print-adql", "--radius-deg", "-5"], 2, E + r"query\.radius_deg",),
    Case("bench-sizes-abc", ["bench", "--sizes", "abc", "--out", "{t}/res"], 2, E + r"--sizes 'abc'"),
    # ---- configuration values: validation names the field -----------------------------------
    Case("config-mw-size-factor-inf", ["run", "--config", "{t}/c.toml", "--out", "{t}/o", *RUN_FAST], 2, E + r".*c\.toml: config field sample\.mw_size_factor must be a finite number, got inf", config("[sample]\nmw_size_factor = inf\n"),),
    Case("config-weight-decay-inf", ["run", "--config", "{t}/c.toml", "--out", "{t}/o", *RUN_FAST], 2, E + r".*config field train\.weight_decay must be a finite number", config("[train]\nweight_decay = inf\n"),),
    Case("config-pm-radius-inf", ["train", "--config", "{t}/c.toml", "--out", "{t}/m", *RUN_FAST], 2, E + r".*config field sample\.pm_radius must be a finite number", config("[sample]\npm_radius = inf\n"),),
    Case("config-pm-radius-huge", ["train", "--config", "{t}/c.toml", "--out", "{t}/m", *RUN_FAST], 2, E + r".*config field sample\.pm_radius must be in \(0, 10\]", config("[sample]\npm_radius = 1e6\n"),),
    Case("config-weight-decay-huge", ["train", "--config", "{t}/c.toml", "--out", "{t}/m", *RUN_FAST], 2, E + r".*config field train\.weight_decay must be in \[0, 1\)", config("[train]\nweight_decay = 5.0\n"),),
    Case("config-mw-size-factor-huge", ["train", "--config", "{t}/c.toml", "--out", "{t}/m", *RUN_FAST], 2, E + r".*config field sample\.mw_size_factor must be in \(0, 100\]", config("[sample]\nmw_size_factor = 1e9\n"),),
    Case("config-learning-rate-nan", ["run", "--config", "{t}/c.toml", "--out", "{t}/o", *RUN_FAST], 2, E + r".*config field train\.learning_rate must be a finite number, got nan", config("[train]\nlearning_rate = nan\n"),),
    Case("config-radius-minus-inf", [*SCORE, "--config", "{t}/c.toml", "--out", "{t}/x.parquet", *Q], 2, E + r".*config field validate\.radius_arcsec must be a finite number", config("[validate]\nradius_arcsec = -inf\n"),),
    Case("config-seed-negative", ["run", "--config", "{t}/c.toml", "--out", "{t}/o", *RUN_FAST], 2, E + r".*config field train\.seed must be in \[0, 2\*\*62\)", config("[train]\nseed = -3\n"),),
    Case("config-nsigma-huge", ["run", "--config", "{t}/c.toml", "--out", "{t}/o", *RUN_FAST], 2, E + r".*config field sample\.parallax_nsigma", config("[sample]\nparallax_nsigma = 1e300\n"),),
    Case("config-not-toml", ["run", "--config", "{t}/c.toml", "--out", "{t}/o", *RUN_FAST], 2, E + r".*c\.toml is not valid TOML", config("[sky\n"),),
    Case("config-unknown-key", ["run", "--config", "{t}/c.toml", "--out", "{t}/o", *RUN_FAST], 2, E + r".*unknown config key sky\.n_star", config("[sky]\nn_star = 5\n"),),
    # ---- user text printed literally, never as rich markup ----------------------------------
    Case("config-section-in-brackets", ["run", "--config", "{t}/c.toml", "--out", "{t}/o", *RUN_FAST], 2, E + r".*unknown config section \[bogus\]; known sections", config("[bogus]\nx = 1\n"),),
    Case("path-with-markup", ["score", "{t}/[red]x[/red].parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*/\[red\]x\[/red\]\.parquet does not exist",),
    Case("path-with-emoji-code", ["score", "{t}/:x:.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*/:x:\.parquet does not exist",),
    Case("csv-cell-closing-tag", ["score", "{t}/x.csv", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*parallax.*\[/b\]", csv("x.csv", cell=("parallax", 3, "[/b]")),),
    Case("info-install-hint", ["info"], 0, r"GPU backend: (available|unavailable — .*pip install .*'(gpu_mc|\.)\[gpu-cu1\d\]')", stream="stdout",),
    # ---- leftovers of killed runs are cleaned by a rerun; a run directory is whole ----------
    Case("score-rerun-cleans-stale-tmp", [*SCORE, "--out", "{t}/s.parquet", *Q], 0, r"^Scored 2,000 stars", text(".s.parquet.abc123.tmp", "partial"), creates=("s.parquet",), replaces=(".s.parquet.abc123.tmp",), stream="stdout",),
    Case("run-replaces-old-run-dir-whole", ["run", "--config", "{t}/fast.toml", "--out", "{t}/o", *RUN_FAST], 0, r"^Outputs in ", stale_run_directory, creates=("o/*", "o/model/*"), replaces=("o/*", "o/.staging-*", ".o.*", "o/model/*"), stream="stdout", check=run_dir_is_new,),
    # ---- io: formats, types and values (branch wave1-io) ------------------------------------
    Case("score-out-votable", [*SCORE, "--out", "{t}/o.vot", *Q], 0, r"^Scored 2,000 stars", creates=("o.vot",), stream="stdout", check=read_back("o.vot", "votable")),
    Case("score-out-votable-xml", [*SCORE, "--out", "{t}/o.xml", *Q], 0, r"^Scored 2,000 stars", creates=("o.xml",), stream="stdout", check=read_back("o.xml", "votable")),
    Case("score-out-fits", [*SCORE, "--out", "{t}/o.fits", *Q], 0, r"^Scored 2,000 stars", creates=("o.fits",), stream="stdout", check=read_back("o.fits"),),
    Case("score-out-csv", [*SCORE, "--out", "{t}/o.csv", *Q], 0, r"^Scored 2,000 stars", creates=("o.csv",), stream="stdout", check=read_back("o.csv", "ascii.csv"),),
    Case("bool-pmra", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*pmra", parquet("x.parquet", as_bool("pmra"))),
    Case("bool-source-id", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*source_id", parquet("x.parquet", lambda t: with_column(t, "source_id", np.arange(t.num_rows) % 2 == 0))),
    Case("csv-with-bom", ["score", "{t}/x.csv", "--model", M, "--out", "{t}/o.parquet", *Q], 0, r"^Scored 2,000 stars", csv("x.csv", bom=True), creates=("o.parquet",), stream="stdout"),
    Case("fits-int-parallax-tnull", ["score", "{t}/tnull.fits", "--model", M, "--out", "{t}/o.parquet", *Q], 0, r"^Scored 200 stars", tnull_parallax, creates=("o.parquet",), stream="stdout"),
    Case("fits-equatorial-ra-degrees", ["score", "{t}/eq.fits", "--model", M, "--out", "{t}/o.parquet", *Q], 0, r"^Scored 200 stars", equatorial_degrees, creates=("o.parquet",), stream="stdout"),
    Case("corr-five", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*pmra_pmdec_corr", parquet("x.parquet", value("pmra_pmdec_corr", 5.0))),
    Case("negative-parallax-error", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*parallax_error", parquet("x.parquet", value("parallax_error", -0.1))),
    Case("negative-pmra-error", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*pmra_error", parquet("x.parquet", value("pmra_error", -1.0))),
    Case("g-99", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*phot_g_mean_mag", parquet("x.parquet", value("phot_g_mean_mag", 99.0))),
    Case("g-minus-5", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*phot_g_mean_mag", parquet("x.parquet", value("phot_g_mean_mag", -5.0))),
    Case("bp-1e30", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*phot_bp_mean_mag", parquet("x.parquet", value("phot_bp_mean_mag", 1e30))),
    Case("negative-source-id", ["score", "{t}/x.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 2, E + r".*source_id", parquet("x.parquet", value("source_id", -42))),
    Case("crossmatch-ra-400", ["crossmatch", "{t}/L.parquet", "{t}/R.parquet", "--radius-arcsec", "1", "--out", "{t}/p.parquet",], 2, r"(?i)" + E + r".*(\bra\b|right ascension).*outside", catalogue_with("ra", 400.0)),
    Case("crossmatch-dec-95", ["crossmatch", "{t}/L.parquet", "{t}/R.parquet", "--radius-arcsec", "1", "--out", "{t}/p.parquet",], 2, E + r".*\bdec\b.*outside", catalogue_with("dec", 95.0),),
    # ---- arch: the model is validated and hashed whole (branch wave1-arch) ------------------
    Case("model-json-feature-order", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model", edit_model_json(lambda m: m["features"].reverse())),
    Case("model-json-cloud", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model", edit_model_json(lambda m: m["target"].update(name="smc"))),
    Case("model-json-threshold-nan", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model", edit_model_json(lambda m: m["thresholds"].update(optimal=math.nan))),
    Case("model-json-threshold-huge", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model", edit_model_json(lambda m: m["thresholds"].update(optimal=math.inf))),
    Case("model-missing-features-key", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model.*features", edit_model_json(lambda m: m.pop("features"))),
    Case("model-missing-cloud-key", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model.*target", edit_model_json(lambda m: m.pop("target"))),
    Case("model-features-wrong-type", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model.*features", edit_model_json(lambda m: m.update(features=5))),
    Case("model-hidden-wrong-type", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model.*hidden", edit_model_json(lambda m: m["architecture"]["settings"].update(hidden="wide"))),
    Case("model-unknown-feature", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model.*colour", edit_model_json(lambda m: m["features"].__setitem__(0, "colour"))),
    Case("model-unknown-cloud", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model", edit_model_json(lambda m: m["target"].update(name="m31"))),
    Case("model-nan-standardisation", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model", edit_model_weights(lambda m: m.mean.__setitem__(0, np.nan))),
    Case("model-huge-scale", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model", edit_model_weights(lambda m: m.scale.__setitem__(0, 1e300))),
    Case("model-without-standardisation", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model.*standardis", drop_standardisation),
    Case("model-json-not-json", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model\.json is not valid JSON", lambda t, b: (copy_model(b, t) / "model.json").write_text("{nope"),),
    Case("model-json-a-list", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model\.json", lambda t, b: (copy_model(b, t) / "model.json").write_text("[]")),
    Case("model-weights-truncated", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r".*model\.safetensors", lambda t, b: (copy_model(b, t) / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}"),),
    Case("model-dir-empty", ["score", S, "--model", "{t}/m", "--out", "{t}/o.parquet", *Q], 2, E + r"model file .* is missing", text("m/keep", ""),),
    Case("lmc-model-on-smc-sky", ["score", "{base}/smc.parquet", "--model", M, "--out", "{t}/o.parquet", *Q], 0, r"(?i)warning.*(smc|footprint|target)", creates=("o.parquet",)),
    Case("train-on-smc-input", ["train", "--input", "{base}/smc.parquet", "--config", "{t}/c.toml", "--out", "{t}/m", *Q, "--backend", "cpu",], 2, E + r".*'smc' sky: use --cloud smc", config(FAST)),
]
# fmt: on


def _first_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _fill(args: list[str], t: Path, base: Path) -> list[str]:
    return [a.replace("{t}", str(t)).replace("{base}", str(base)) for a in args]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input(case: Case, base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    t = tmp_path / "case"
    t.mkdir()
    if case.make is not None:
        case.make(t, base)
    if case.patch is not None:
        case.patch(monkeypatch, t)
    before, base_before = snapshot(t), snapshot(base)
    status, stdout, stderr = gpu_mc(_fill(case.args, t, base))
    after = snapshot(t)

    assert "Traceback" not in stderr, stderr
    assert status == case.status, (status, stderr)
    if case.stream == "stdout":
        assert re.search(case.first, stdout, re.MULTILINE), stdout
    else:
        assert re.search(case.first, _first_line(stderr)), stderr
    if case.status != 0:
        assert len([ln for ln in stderr.splitlines() if ln.startswith("gpu-mc: error:")]) <= 1

    def allowed(rel: str, patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatch(rel, p) for p in patterns)

    touched = [p for p in before if after.get(p) != before[p] and not allowed(p, case.replaces)]
    assert not touched, f"inputs changed or removed: {touched}"
    new = sorted(set(after) - set(before))
    assert all(allowed(p, case.creates) for p in new), f"unexpected files left: {new}"
    for pattern in case.creates:
        assert any(fnmatch.fnmatch(p, pattern) for p in after), f"{pattern} was not written"
    assert snapshot(base) == base_before, "a shared input was changed"
    if case.check is not None:
        case.check(t)


def test_the_table_covers_issue_14():
    """At least 70 cases, each with a distinct id."""
    ids = [c.id for c in CASES]
    assert len(ids) >= 70 and len(set(ids)) == len(ids)


# --------------------------------------------------------------------------- signals


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "gpu_mc", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for_line(proc: subprocess.Popen, needle: str) -> list[str]:
    """Read stderr until a line holding ``needle`` (a stage that has finished) appears."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError("".join(seen))


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_run_exits_with_one_line_and_no_output(tmp_path, sig, status):
    (tmp_path / "c.toml").write_text("[train]\nmax_epochs = 40\npatience = 40\nbatch_size = 256\n")
    proc = _start(
        ["run", "--n-stars", "20000", "--config", "c.toml", "--out", "o", "--backend", "cpu"],
        tmp_path,
    )
    seen = _wait_for_line(proc, "simulate sky")
    time.sleep(0.5)
    os.killpg(proc.pid, sig)
    _, rest = proc.communicate(timeout=300)
    stderr = "".join(seen) + rest
    assert proc.returncode == status, stderr
    assert "Traceback" not in stderr
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    assert (
        stderr.strip().splitlines()[-1]
        == f"gpu-mc: {'interrupted' if status == 130 else 'terminated'} ({name})"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"], "partial output left"


@pytest.mark.slow
def test_sigint_during_dask_scoring_then_resume(base, tmp_path):
    """Ctrl-C with dask: 130, no partial partition file, and --resume completes the rest."""
    parts = tmp_path / "parts"
    parts.mkdir()
    table = pq.read_table(base / "lmc.parquet")
    for i in range(4):
        pq.write_table(table.slice(500 * i, 500), parts / f"part-{i:03d}.parquet")
    out = tmp_path / "o"
    proc = _start(
        ["score", "parts", "--model", str(base / "model"), "--out", "o", "--workers", "1", "-q"],
        tmp_path,
    )
    while not list(out.glob("part-*.parquet")) and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "gpu-mc: interrupted (SIGINT)"
    written = sorted(p.name for p in out.iterdir())
    assert all(not n.startswith(".") for n in written), written
    for name in written:
        assert pq.read_table(out / name).num_rows == 500
    status, stdout, stderr = gpu_mc(
        [
            "score",
            str(parts),
            "--model",
            str(base / "model"),
            "--out",
            str(out),
            "--resume",
            "-q",
            "--workers",
            "1",
        ]
    )
    assert status == 0, stderr
    assert f"({len(written)} already complete)" in stdout
    assert sorted(p.name for p in out.iterdir()) == [f"part-{i:03d}.parquet" for i in range(4)]


@pytest.mark.slow
def test_failing_dask_partition_is_one_line_and_not_retried(base, tmp_path):
    """A partition with a missing column fails once, on one line, with no worker traceback."""
    parts = tmp_path / "parts"
    parts.mkdir()
    table = pq.read_table(base / "lmc.parquet")
    pq.write_table(table.slice(0, 1000), parts / "part-000.parquet")
    pq.write_table(table.slice(1000).drop(["pmra"]), parts / "part-001.parquet")
    proc = _start(
        ["score", "parts", "--model", str(base / "model"), "--out", "o", "--workers", "1", "-q"],
        tmp_path,
    )
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr and "Compute Failed" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("gpu-mc: error:")]
    assert len(errors) == 1 and "part-001.parquet" in errors[0] and "pmra" in errors[0], stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["part-000.parquet"]


def test_deterministic_partition_error_is_returned_not_raised(tmp_path):
    """dask retries a task that raises; a GpuMcError is returned as its message instead."""
    from gpu_mc.config import Config
    from gpu_mc.parallel import score_partition

    result = score_partition(
        str(tmp_path / "p.parquet"), str(tmp_path / "o.parquet"), "0" * 64, Config(), "p"
    )
    assert isinstance(result, str) and result.startswith("GpuMcError: model 000000000000")
    assert not (tmp_path / "o.parquet").exists()
