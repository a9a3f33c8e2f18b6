"""scripts/check_gpu_workstation.py on a machine without a GPU, and its verdict table."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_gpu_workstation.py"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("check_gpu_workstation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_without_a_gpu_reports_it_and_fails_cleanly(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "kernels")])}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "MISSING CuPy" in out and 'pip install torch==2.13.0 -e ".[gpu-cu1' in out
    assert "GPU backend: unusable" in out
    assert "GPU tests      skipped  no usable GPU" in out
    assert "GPU benchmark  skipped  no usable GPU" in out
    for label in ("score stage, stars/s", "warm whole pass, s", "score stage GPU/CPU"):
        line = next(ln for ln in out.splitlines() if ln.startswith(label))
        assert "not measured" in line and line.rstrip().endswith("no")
    assert out.rstrip().splitlines()[-1].startswith("VERDICT: FAIL — no usable GPU")
    assert list(tmp_path.iterdir()) == []  # no benchmark JSON without a GPU run


def test_missing_pytest_and_bench_tools_are_skipped_with_the_reason(check, monkeypatch, capsys):
    absent = {"pytest", "psutil", "cupy"}
    monkeypatch.setattr(
        check, "import_problem", lambda m: "not installed" if m in absent else None
    )
    monkeypatch.setattr(check, "torch_problem", lambda: None)
    monkeypatch.setattr("gpu_mc.backend.gpu_problem", lambda: None)
    assert check.main(["--out", "unused"]) == 1
    out = capsys.readouterr().out
    assert "MISSING pytest (for the GPU tests): not installed\n    pip install pytest" in out
    assert 'MISSING psutil (for the benchmark): not installed\n    pip install -e ".[bench]"' in out
    assert "GPU tests      skipped  pytest not installed" in out
    assert "GPU benchmark  skipped  psutil not installed" in out


def test_verdict_rows_from_a_benchmark_document(check):
    doc = {
        "targets": {
            "gpu_score_stars_per_s": {"measured": 2.5e9, "target": 1e9, "met": True},
            "gpu_pass_warm_s": {"measured": 0.8, "target": 0.5, "met": False},
        },
        "settings": {"precision_tolerance": 1e-4},
        "results": {"gpu": {"precision": {"tf32": {"max_abs_dp_vs_fp32": 3e-6},
                                          "bf16": {"max_abs_dp_vs_fp32": 4e-4}}}},
    }  # fmt: skip
    rows = {r[0]: r[1:] for r in check.verdict_rows(doc)}
    assert rows["score stage, stars/s"] == ("2.5e+09", ">= 1e+09", "yes")
    assert rows["warm whole pass, s"] == ("0.8", "<= 0.5", "no")
    assert rows["score stage GPU/CPU"] == ("not measured", "", "no")
    assert rows["tf32 max |Δp| vs fp32"] == ("3e-06", "<= 0.0001", "yes")
    assert rows["bf16 max |Δp| vs fp32"] == ("0.0004", "<= 0.0001", "no")
