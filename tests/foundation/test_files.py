"""Files the tool writes are whole or absent: a write that fails halfway leaves the old file and no temporary."""

from __future__ import annotations

import pytest

from mlops_cli.files import write_atomically


def test_a_write_replaces_the_file_in_one_piece(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    write_atomically(target, lambda stream: stream.write(b"new"))
    assert target.read_text() == "new" and [path.name for path in tmp_path.iterdir()] == ["report.json"]


def test_a_write_that_fails_halfway_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")

    def half_then_fail(stream):
        stream.write(b"half of the new")
        raise KeyboardInterrupt  # Ctrl-C mid-write too

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "old" and [path.name for path in tmp_path.iterdir()] == ["report.json"]


def test_a_folder_that_cannot_be_written_is_an_oserror_for_the_caller(tmp_path):
    with pytest.raises(OSError):
        write_atomically(tmp_path / "missing" / "report.json", lambda stream: stream.write(b"x"))
