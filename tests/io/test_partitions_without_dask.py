"""Partition files need no dask: `gpu-mc simulate --partitions` works where dask is absent."""

import subprocess
import sys
import textwrap

import pytest


@pytest.mark.slow
def test_simulate_partitions_without_dask(tmp_path):
    # A meta-path finder refuses dask and distributed, as if they were not installed.
    code = textwrap.dedent(
        f"""
        import sys
        class NoDask:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("dask", "distributed", "dask_cuda"):
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
        sys.meta_path.insert(0, NoDask())
        sys.argv = ["gpu-mc", "simulate", "--n-stars", "3000", "--partitions", "3",
                    "--out", {str(tmp_path / "parts")!r}, "--quiet", "--backend", "cpu"]
        from gpu_mc.cli import main
        main()
        assert "distributed" not in sys.modules and "dask" not in sys.modules
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == [
        "part-000.parquet",
        "part-001.parquet",
        "part-002.parquet",
    ]
