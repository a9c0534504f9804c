"""Atomic file writes: complete files with ordinary permissions, the old file kept when writing fails."""

import os
import stat

import pytest

from choreo.io.atomic import FILE_MODE, write_atomically


def test_written_file_has_the_permissions_of_a_plain_open(tmp_path):
    path = write_atomically(tmp_path / "sub" / "out.json", lambda file: file.write("{}"), binary=False)
    assert path.read_text() == "{}"
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE == 0o666 & ~umask


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "poses.npz"
    target.write_bytes(b"old")

    def fail(file):
        file.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["poses.npz"]
