"""edgeml.artifacts.file_set: a command's files appear in their folder together, or not at all."""

from __future__ import annotations

import errno
import os

import pytest

from edgeml.artifacts import check_output_dir, current_umask, file_set
from edgeml.errors import EdgeMLError


def test_the_set_moves_into_a_new_nested_folder_only_when_complete(tmp_path):
    out = tmp_path / "a" / "b" / "report"
    with file_set(out) as staging:
        (staging / "one.json").write_text("1")
        (staging / "two.md").write_text("2")
        assert not (tmp_path / "a").exists()  # nothing visible until the set is complete
        assert staging.parent == tmp_path and staging.name.startswith(".report.edgeml-")
    assert sorted(p.name for p in out.iterdir()) == ["one.json", "two.md"]
    assert (out / "one.json").read_text() == "1" and (out / "two.md").read_text() == "2"
    assert (out / "two.md").stat().st_mode & 0o777 == 0o666 & ~current_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_an_existing_folder_keeps_its_other_files_and_gets_the_new_versions(tmp_path):
    (tmp_path / "config.json").write_text("mine")
    (tmp_path / "metrics.json").write_text("old")
    with file_set(tmp_path) as staging:
        (staging / "metrics.json").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "metrics.json"]
    assert (tmp_path / "config.json").read_text() == "mine" and (tmp_path / "metrics.json").read_text() == "new"


def test_a_failure_in_the_block_leaves_nothing_and_is_re_raised(tmp_path):
    (tmp_path / "metrics.json").write_text("old")
    with pytest.raises(ValueError, match="render failed"):
        with file_set(tmp_path) as staging:
            (staging / "metrics.json").write_text("new")
            raise ValueError("render failed")
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    assert (tmp_path / "metrics.json").read_text() == "old"


def test_a_write_error_names_the_output_file(tmp_path):
    out = tmp_path / "fw"
    with pytest.raises(EdgeMLError) as failure:
        with file_set(out) as staging:
            (staging / "model_data.h").write_text("x")
            raise OSError(errno.ENOSPC, "No space left on device", str(staging / "model_ops.h"))
    assert str(failure.value) == f"cannot write {out / 'model_ops.h'}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_folder_below_a_file_is_one_error(tmp_path):
    (tmp_path / "notes.txt").write_text("keep")
    with pytest.raises(EdgeMLError, match=r"^cannot write to .*notes.txt/fw: Not a directory$"):
        with file_set(tmp_path / "notes.txt" / "fw"):
            pass
    assert (tmp_path / "notes.txt").read_text() == "keep"


def test_an_output_name_taken_by_a_folder_is_one_error_and_nothing_moves(tmp_path):
    (tmp_path / "report.md").mkdir()
    (tmp_path / "report.md" / "inside").write_text("x")
    (tmp_path / "report.html").write_text("old")
    with pytest.raises(EdgeMLError) as failure:
        with file_set(tmp_path) as staging:
            (staging / "report.html").write_text("new")  # sorts before report.md: would move first
            (staging / "report.md").write_text("# report")
    assert str(failure.value) == f"cannot write into {tmp_path}: {tmp_path / 'report.md'} is a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md"]
    assert (tmp_path / "report.html").read_text() == "old"
    assert [p.name for p in (tmp_path / "report.md").iterdir()] == ["inside"]


def test_every_blocked_target_is_named_in_one_error(tmp_path):
    (tmp_path / "a.h").mkdir()
    (tmp_path / "plots").write_text("a file where a folder goes")
    with pytest.raises(EdgeMLError) as failure:
        with file_set(tmp_path) as staging:
            (staging / "a.h").write_text("x")
            (staging / "b.h").write_text("y")
            (staging / "plots").mkdir()
    assert str(failure.value) == (f"cannot write into {tmp_path}: {tmp_path / 'a.h'} is a directory; "
                                  f"{tmp_path / 'plots'} is a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h", "plots"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits: a read-only folder cannot be tested as root")
def test_a_read_only_folder_is_one_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(EdgeMLError, match=r"^cannot write to .*locked/out: Permission denied$"):
            with file_set(locked / "out"):
                pass
    finally:
        locked.chmod(0o755)


def test_check_output_dir_refuses_a_file_name_taken_by_a_folder_even_with_force(tmp_path):
    """Before the work: --force replaces files, never a folder (file_set would refuse it after the work)."""
    (tmp_path / "model_data.h").write_text("old")
    (tmp_path / "export.json").mkdir()
    assert check_output_dir(tmp_path, True, ("model_data.h",)) == tmp_path
    with pytest.raises(EdgeMLError) as failure:
        check_output_dir(tmp_path, True, ("model_data.h", "export.json"))
    assert str(failure.value) == f"cannot write into {tmp_path}: {tmp_path / 'export.json'} is a directory"
