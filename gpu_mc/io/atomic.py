"""Safe output: atomic files and directories, and the refusal to write onto an input.

Every output goes to a hidden temporary sibling first and is renamed onto its final name only
when complete, so a final name never holds a partial file. A rerun removes the temporaries a
killed run left beside the same final name (``.NAME.*.tmp`` files, ``.NAME.staging-*`` and
``.NAME.old-*`` directories).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from gpu_mc.errors import InputError


def _remove_stale(final: Path, patterns: Iterable[str]) -> None:
    """Delete temporaries an earlier, killed write of ``final`` left in its directory."""
    for pattern in patterns:
        for stale in final.parent.glob(f".{final.name}.{pattern}"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    On any exception (KeyboardInterrupt included) the temporary file is removed and ``path``
    is left untouched, so no partial output ever appears under the final name. Temporaries of
    an earlier write of the same name that was killed (SIGKILL) are removed first.

    Parameters
    ----------
    path : str or Path
        Final file name. Its parent directory is created if needed.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(final, ["*.tmp"])
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory that replaces the directory ``path`` as a whole.

    The staging directory is a hidden sibling of ``path``. On success, an existing ``path`` is
    renamed aside, the staging directory renamed onto ``path`` and the old one deleted, so
    ``path`` never holds new files beside old ones (e.g. new scores beside an old sky). On any
    exception the staging directory is deleted and ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
        Final directory. Anything in it is replaced: callers refuse a directory holding files
        they did not write (see :func:`check_run_directory`).
    """
    final = Path(path).resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(final, ["staging-*", "old-*"])
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))
    old = None
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old)
        try:
            os.replace(staging, final)
        except BaseException:
            if old is not None:
                os.replace(old, final)
                old = None
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _same_file(a: Path, b: Path) -> bool:
    """Whether two existing paths are one file (hard links and bind mounts included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path("/")


def check_output(
    out: str | Path, inputs: Iterable[str | Path | None] = (), *, directory: bool = False
) -> Path:
    """Refuse, before any work, an output that would replace an input or cannot be written.

    Parameters
    ----------
    out : str or Path
        The ``--out`` path: a file, or with ``directory`` a directory of outputs.
    inputs : iterable of str or Path or None
        Every file or directory the command reads (None entries are ignored).
    directory : bool
        ``out`` is a directory.

    Returns
    -------
    Path
        ``out`` with links resolved.

    Raises
    ------
    InputError
        ``out`` is an input (after resolving links, or the same file by another name), an
        input lies inside the output directory, ``out`` is an existing file inside an input
        directory, ``out`` is a directory where a file is needed
        (or the reverse), a component of its path is a file, or its directory is not writable.
    """
    given = Path(out)
    final = given.resolve()
    for item in inputs:
        if item is None:
            continue
        src = Path(item).resolve()
        if final == src or _same_file(final, src):
            raise InputError(f"--out {given} would replace the input {item}; choose another name")
        if directory and src.is_relative_to(final):
            raise InputError(
                f"--out {given} would replace the input {item}, which lies inside it; "
                "choose another directory"
            )
        if not directory and src.is_dir() and final.is_file() and final.is_relative_to(src):
            raise InputError(
                f"--out {given} would replace a file of the input {item}; choose another name"
            )
    if final.exists():
        if directory and not final.is_dir():
            raise InputError(f"--out {given} is a file; give a directory")
        if not directory and final.is_dir():
            raise InputError(f"--out {given} is a directory; give a file name")
    base = _nearest_existing(final)
    if not base.is_dir():
        raise InputError(f"--out {given}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"--out {given}: directory {base} is not writable")
    return final


def check_input(path: str | Path) -> None:
    """Refuse an input file or directory that does not exist or cannot be read.

    Raises
    ------
    InputError
        Naming ``path``.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p} does not exist")
    mode = os.R_OK | (os.X_OK if p.is_dir() else 0)
    if not os.access(p, mode):
        raise InputError(f"{p} is not readable (permission denied)")


#: Entries a gpu-mc run directory may hold (all written or replaced by ``gpu-mc run``).
RUN_DIRECTORY_ENTRIES = frozenset(
    {"scores.parquet", "metrics.json", "model", "sky.parquet", "report"}
)


def check_run_directory(out: str | Path) -> None:
    """Refuse a ``run --out`` directory that holds files gpu-mc did not write.

    The run directory is replaced as a whole (:func:`atomic_directory`), so a directory with
    other files (the current directory, a home directory) must not be used. Staging
    directories (``.staging-*``) that killed runs of older versions left inside are allowed:
    the replacement removes them.

    Raises
    ------
    InputError
        Naming up to three foreign entries.
    """
    d = Path(out)
    if not d.is_dir():
        return
    foreign = sorted(
        p.name
        for p in d.iterdir()
        if p.name not in RUN_DIRECTORY_ENTRIES and not p.name.startswith(".staging-")
    )
    if foreign:
        raise InputError(
            f"--out {d} holds files that are not gpu-mc run outputs ({', '.join(foreign[:3])}); "
            "choose a new or empty directory"
        )
