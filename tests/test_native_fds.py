"""fds.c: offsets shared across fork, O_APPEND with two writers, fdinfo parsing."""

from __future__ import annotations

import os
import tempfile

import pytest

from hftos.native import fds


def test_fork_shares_the_offset() -> None:
    r = fds.fork_shared_offset()
    assert (r["parent_before"], r["child_start"], r["child_after"], r["parent_after"]) == (7, 7, 13, 13)
    assert r["content"] == "parent:child;"
    assert r["parent_fdinfo"]["pos"] == 13 and "O_RDWR" in r["parent_fdinfo"]["flag_names"]


def test_append_loses_nothing() -> None:
    r = fds.two_writers(True, records=300, reclen=16)
    assert r["bytes"] == r["expected_bytes"] == 2 * 300 * 16
    assert r["intact_A"] == r["intact_B"] == 300 and r["lost_records"] == 0


def test_separate_offsets_overwrite() -> None:
    r = fds.two_writers(False, records=300, reclen=16)
    assert r["bytes"] == 300 * 16 and r["lost_records"] >= 300


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        fds.two_writers(True, records=0)
    with pytest.raises(ValueError):
        fds.two_writers(True, reclen=1)


def test_fdinfo_and_decode() -> None:
    with tempfile.TemporaryDirectory() as d:
        fd = os.open(os.path.join(d, "f"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, b"12345")
            info = fds.fdinfo(fd)
            assert info["pos"] == 5
            assert {"O_WRONLY", "O_APPEND", "O_CLOEXEC"} <= set(info["flag_names"])
            assert "O_CREAT" not in info["flag_names"]  # open() drops O_CREAT/O_TRUNC/O_EXCL from f_flags
            assert info["ino"] == os.fstat(fd).st_ino or "ino" not in info
        finally:
            os.close(fd)
    assert fds.decode_flags(0o2) == ["O_RDWR"]
    assert fds.decode_flags(os.O_WRONLY | os.O_APPEND) == ["O_WRONLY", "O_APPEND"]
    assert fds.decode_flags(0o4000000000)[-1] == oct(0o4000000000)
