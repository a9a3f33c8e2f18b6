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


def test_rerun_removes_stale_temporaries_of_its_own_name_only(tmp_path):
    from gpu_mc.io.atomic import atomic_path

    (tmp_path / ".s.parquet.abc.tmp").write_text("killed run")
    (tmp_path / ".other.parquet.abc.tmp").write_text("someone else's")
    with atomic_path(tmp_path / "s.parquet") as tmp:
        tmp.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.parquet.abc.tmp", "s.parquet"]


def _old_run(d):
    d.mkdir()
    for name in ("scores.parquet", "sky.parquet", "metrics.json"):
        (d / name).write_text("old")


def test_directory_is_replaced_as_a_whole(tmp_path):
    from gpu_mc.io.atomic import atomic_directory

    out = tmp_path / "o"
    _old_run(out)
    (tmp_path / ".o.staging-x").mkdir()
    (tmp_path / ".o.old-y").mkdir()
    with atomic_directory(out) as staging:
        (staging / "scores.parquet").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["scores.parquet"]
    assert (out / "scores.parquet").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_directory_failure_keeps_the_old_one(tmp_path):
    from gpu_mc.io.atomic import atomic_directory

    out = tmp_path / "o"
    _old_run(out)
    with pytest.raises(RuntimeError), atomic_directory(out) as staging:
        (staging / "scores.parquet").write_text("new")
        raise RuntimeError("boom")
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "scores.parquet": "old",
        "sky.parquet": "old",
        "metrics.json": "old",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_failed_commit_restores_the_old_directory(tmp_path, monkeypatch):
    """The rename of the new directory into place fails: the old one comes back whole."""
    from gpu_mc.io import atomic

    out = tmp_path / "o"
    _old_run(out)
    real = os.replace

    def replace(src, dst):
        if ".staging-" in str(src):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(OSError), atomic.atomic_directory(out) as staging:
        (staging / "scores.parquet").write_text("new")
    assert (out / "scores.parquet").read_text() == "old"
    assert (out / "sky.parquet").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_check_output_refuses_an_input_by_any_name(tmp_path):
    from gpu_mc.errors import InputError
    from gpu_mc.io.atomic import check_output

    src = tmp_path / "x.parquet"
    src.write_text("stars")
    (tmp_path / "sym.parquet").symlink_to(src)
    os.link(src, tmp_path / "hard.parquet")
    for name in ("x.parquet", "sym.parquet", "hard.parquet", "d/../x.parquet"):
        with pytest.raises(InputError, match="would replace the input"):
            check_output(tmp_path / name, [src])
    with pytest.raises(InputError, match="lies inside it"):
        check_output(tmp_path, [src], directory=True)
    assert check_output(tmp_path / "y.parquet", [src]) == (tmp_path / "y.parquet").resolve()
