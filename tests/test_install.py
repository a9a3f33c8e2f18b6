"""The README's GPU install commands resolve (``pip install --dry-run``), for each CUDA major.

Each ``pip install`` line of the README that names a GPU extra is run exactly as written, with
``--dry-run --ignore-installed --report``, against the public package indexes. pip's
machine configuration is left out (``PIP_CONFIG_FILE=/dev/null`` and no find-links, extra
indexes or constraints from the environment): a local wheel directory would otherwise supply
``torch 2.13.0+cpu``, which satisfies ``torch==2.13.0`` and hides exactly the CUDA conflict
these tests exist for. A test skips only when an index it needs cannot be reached; a command
that pip cannot resolve fails. Each command is resolved once per session, in the background
while the other tests run (:class:`DryRuns`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/simple/"
#: pip output that means the network, not the resolver, failed.
NETWORK_ERRORS = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Could not resolve host",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "Network is unreachable",
)
#: Scheduling priority of the pip dry runs, which run beside the other tests (0 normal, 19 least).
NICENESS = 10
#: Environment variables that make pip see more than a user's machine would.
MACHINE_PIP_VARS = ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT", "PIP_NO_INDEX")


def readme_gpu_commands() -> list[str]:
    """The README's ``pip install`` commands that install a GPU extra, as written."""
    text = (ROOT / "README.md").read_text()
    lines = []
    for line in text.splitlines():
        command = line.split("#", 1)[0].strip()
        if command.startswith("pip install") and re.search(r"\[[^\]]*gpu-cu1[23]", command):
            lines.append(command)
    return lines


def _reachable(url: str) -> str | None:
    """None if ``url`` answers, else why not."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as exc:  # answered: the index is there
        return None if exc.code < 500 else f"{url} answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{url} cannot be reached ({type(exc).__name__}: {exc})"
    return None


def _indexes(args: list[str]) -> list[str]:
    urls = [os.environ.get("PIP_INDEX_URL", PYPI)]
    for flag in ("--index-url", "-i", "--extra-index-url"):
        urls += [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]
    if "--index-url" in args or "-i" in args:
        urls = urls[1:]
    return [u if u.endswith("/") else u + "/" for u in urls]


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in MACHINE_PIP_VARS}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def cu12_stack_args() -> list[str]:
    """The core dependencies without torch, and the ``gpu-cu12`` extra, from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [d for d in project["dependencies"] if not d.startswith("torch")]
    return [*core, *project["optional-dependencies"]["gpu-cu12"]]


def dry_run_args() -> list[list[str]]:
    """The arguments of every ``pip install`` this module resolves, one list per command."""
    return [shlex.split(c)[2:] for c in readme_gpu_commands()] + [cu12_stack_args()]


@dataclass(frozen=True)
class Resolution:
    """What ``pip install --dry-run ARGS`` gave: why it was not run, or its status and output."""

    unreachable: str | None = None
    returncode: int = 0
    output: str = ""
    report: str = ""


def _resolve(args: list[str], report: Path) -> Resolution:
    """Run pip's resolver on ``args`` unless an index it needs cannot be reached."""
    for url in _indexes(args):
        problem = _reachable(url)
        if problem is not None:
            return Resolution(unreachable=problem)
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
    cmd += ["--quiet", "--report", str(report), *args]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=_pip_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if hasattr(os, "setpriority"):  # a background job: let the tests have the CPU first
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, proc.pid, NICENESS)
    stdout, stderr = proc.communicate()
    text = report.read_text() if proc.returncode == 0 else ""
    return Resolution(None, proc.returncode, stdout + stderr, text)


class DryRuns:
    """Every pip resolver run of this module, each done once per session, in the background.

    A dry run takes about a minute (pip downloads what the indexes offer and resolves);
    :meth:`start` begins them all, at a low priority (:data:`NICENESS`), when the session's
    tests are collected (``tests/conftest.py``), so they use the CPU time the other tests leave
    and the tests here, which run last, mostly only collect them.
    """

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._dir: Path | None = None
        self._runs: dict[tuple[str, ...], Future[Resolution]] = {}

    def start(self) -> None:
        """Start every dry run of :func:`dry_run_args` (again a no-op)."""
        if self._pool is not None:
            return
        self._dir = Path(tempfile.mkdtemp(prefix="gpu_mc-dry-run-"))
        runs = dry_run_args()
        self._pool = ThreadPoolExecutor(len(runs), thread_name_prefix="pip-dry-run")
        for k, args in enumerate(runs):
            report = self._dir / f"report-{k}.json"
            self._runs[tuple(args)] = self._pool.submit(_resolve, args, report)

    def result(self, args: list[str]) -> Resolution:
        """The resolution of ``args`` (one of :func:`dry_run_args`), waiting for it."""
        self.start()
        return self._runs[tuple(args)].result()

    def close(self) -> None:
        """Wait for the dry runs still going and delete their reports."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(self._dir, ignore_errors=True)
            self._pool = None
            self._runs = {}


DRY_RUNS = DryRuns()


@pytest.fixture(scope="session")
def pip_dry_runs():
    """The session's :class:`DryRuns` (started early by ``tests/conftest.py`` when it can)."""
    DRY_RUNS.start()
    yield DRY_RUNS
    DRY_RUNS.close()


def dry_run(args: list[str], runs: DryRuns) -> dict[str, str]:
    """Resolve ``pip install ARGS`` without installing; return {distribution: version}.

    Skips when an index in ``args`` (or PyPI) cannot be reached, fails when pip cannot resolve.
    """
    done = runs.result(args)
    if done.unreachable is not None:
        pytest.skip(f"package index unreachable, not tested: {done.unreachable}")
    if done.returncode != 0:
        if any(marker in done.output for marker in NETWORK_ERRORS):
            pytest.skip(f"package index unreachable during the dry run: {done.output[-400:]}")
        pytest.fail(f"`pip install {shlex.join(args)}` does not resolve:\n{done.output[-3000:]}")
    items = json.loads(done.report)["install"]
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in items}


def _cuda_majors(resolved: dict[str, str]) -> set[str]:
    """CUDA majors named by the resolved distributions (cudf-cu12, cupy-cuda13x, ...)."""
    majors = set()
    for name in resolved:
        m = re.search(r"-cu(?:da)?(1[0-9])x?$", name)
        if m:
            majors.add(m.group(1))
    return majors


def test_readme_names_a_command_per_cuda_major():
    commands = readme_gpu_commands()
    assert any("gpu-cu13" in c for c in commands), commands
    cu12 = [c for c in commands if "gpu-cu12" in c]
    assert cu12 and all("download.pytorch.org/whl/cu12" in c for c in cu12), cu12
    assert all("torch==" in c for c in commands), commands


def _check(command: str, runs: DryRuns) -> dict[str, str]:
    args = shlex.split(command)[2:]
    resolved = dry_run(args, runs)
    major = "13" if "gpu-cu13" in command else "12"
    assert _cuda_majors(resolved) == {major}, sorted(resolved)
    torch_pin = re.search(r"torch==([0-9.]+)", command).group(1)
    assert resolved["torch"].split("+")[0] == torch_pin
    if major == "12":
        assert resolved["torch"].split("+")[1].startswith("cu12"), resolved["torch"]
    assert int(resolved["cudf-cu" + major].split(".")[0]) >= 26
    assert tuple(int(p) for p in resolved["numba-cuda"].split(".")[:2]) >= (0, 30)
    if "dask-cuda" in command:
        assert "dask-cuda" in resolved
    return resolved


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_gpu_commands())
def test_readme_gpu_install_resolves(command, pip_dry_runs):
    resolved = _check(command, pip_dry_runs)
    print(command, {k: resolved[k] for k in sorted(resolved) if re.search("cu|torch|numba", k)})


@pytest.mark.slow
def test_cu12_stack_resolves_with_torch_left_out(pip_dry_runs):
    """The CUDA 12 extra's own stack and the core dependencies, without torch, from PyPI.

    Runs where the CUDA 12 torch index cannot be reached, and catches a conflict inside the
    RAPIDS / CuPy / numba-cuda pins of ``gpu-cu12`` that the full command would also hit.
    """
    resolved = dry_run(cu12_stack_args(), pip_dry_runs)
    assert "torch" not in resolved
    assert _cuda_majors(resolved) == {"12"}, sorted(resolved)


def test_info_finds_gpu_libraries_under_their_distribution_names(monkeypatch):
    import importlib.metadata as md

    from gpu_mc.backend import library_versions

    installed = {"cupy-cuda12x": "14.2.0", "cudf-cu13": "26.10.2", "numpy": "2.4.6"}

    def version(dist):
        if dist not in installed:
            raise md.PackageNotFoundError(dist)
        return installed[dist]

    monkeypatch.setattr(md, "version", version)
    found = library_versions()
    assert found["cupy"] == ("cupy-cuda12x", "14.2.0")
    assert found["cudf"] == ("cudf-cu13", "26.10.2")
    assert found["numpy"] == ("numpy", "2.4.6")
    assert found["dask-cuda"] is None and "cuml" not in found


@pytest.mark.slow
def test_wheel_lacks_benchmarks_and_bench_says_it_needs_a_checkout(tmp_path):
    import zipfile

    problem = _reachable(os.environ.get("PIP_INDEX_URL", PYPI))
    if problem is not None:
        pytest.skip(f"package index unreachable (hatchling for the build): {problem}")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("gpu_mc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("gpu_mc/cli.py") for n in names)
    assert any(n.startswith("gpu_mc_kernels/") for n in names)
    assert not any(n.startswith("benchmarks/") for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Import gpu_mc from the wheel alone: drop every path entry that holds this checkout.
    code = (
        "import sys, pathlib;"
        "sys.path[:] = [p for p in sys.path if not (pathlib.Path(p or '.') / 'benchmarks').is_dir()"
        " and not (pathlib.Path(p or '.') / 'gpu_mc_kernels').is_dir()];"
        f"sys.path.insert(0, {str(site)!r});"
        "import gpu_mc; assert gpu_mc.__file__.startswith(sys.path[0]), gpu_mc.__file__;"
        "sys.argv = ['gpu-mc', 'bench', '--quick'];"
        "from gpu_mc.cli import main; main()"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "needs a source checkout" in lines[0], r.stderr
