import os

import pytest

from gpu_mc.io.atomic import atomic_path, write_text_atomic


def test_success_renames_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    write_text_atomic(target, "hello")
    assert target.read_text() == "hello"
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)
    assert [p.name for p in target.parent.iterdir()] == ["a.txt"]


def test_failure_leaves_nothing(tmp_path):
    target = tmp_path / "b.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_previous_file(tmp_path):
    target = tmp_path / "c.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
