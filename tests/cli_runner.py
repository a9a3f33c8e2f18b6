"""Run ``gpu-mc`` in the test process: typer's ``CliRunner`` isolation around ``run_cli``.

:func:`gpu_mc.cli.run_cli` is what the console script (and ``python -m gpu_mc``) runs, so a
test gets the same exit status, stdout and stderr as a user would, without paying for a new
Python process. Tests whose point is the process itself (signals, import isolation, the
installed entry point, dask worker processes) start a subprocess instead.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import dataclass
from os import PathLike

from typer.testing import CliRunner


@dataclass(frozen=True)
class Result:
    """What a finished ``gpu-mc`` command left: exit status and its two streams.

    The attribute names are those of :class:`subprocess.CompletedProcess`.
    """

    returncode: int
    stdout: str
    stderr: str


def gpu_mc(*args: str | PathLike) -> Result:
    """Run ``gpu-mc ARGS`` in this process and return its status, stdout and stderr.

    Log records of level WARNING and above and Python warnings are appended to stderr, as the
    console script prints them.
    """
    with (
        CliRunner().isolation() as (out, err, _),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            from gpu_mc.cli import run_cli

            status = run_cli([str(a) for a in args])
        finally:
            root.removeHandler(handler)
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    stderr += "".join(f"WARNING {w.category.__name__}: {w.message}\n" for w in caught)
    return Result(status, stdout, stderr)
