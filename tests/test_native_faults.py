"""Demand-paging experiments (faults.c): fault counts that hold on every Linux host, shapes, errors."""

from __future__ import annotations

import pytest

from hftos import native
from hftos.native import faults


def test_first_touch_faults_once_per_page() -> None:
    run = native.first_touch(256)
    first, second = run.passes
    assert first.minflt >= 256 - 4          # one minor fault per 4 KiB page (a few extra for the helper's stack)
    assert second.minflt <= 4
    assert first.result.samples.shape == (256,) and (first.result.samples > 0).all()
    assert run.cumulative[0] == 0 and run.cumulative[-1] >= 250 and (run.cumulative[1:] >= run.cumulative[:-1]).all()


def test_read_then_write_faults_twice() -> None:
    run = native.fault_passes(("read", "write", "write"), 128)
    assert [p.op for p in run.passes] == ["read", "write", "write"]
    assert run[0].minflt >= 124 and run[1].minflt >= 124 and run[2].minflt <= 4


def test_populate_removes_faults() -> None:
    run = native.fault_passes(("write",), 256, populate=True)
    assert run[0].minflt <= 4


def test_dontneed_makes_pages_fault_again() -> None:
    run = native.fault_passes(("write", "dontneed", "write"), 128)
    assert run[1].result is None and run[2].minflt >= 124


def test_file_faults_major_or_explained() -> None:
    f = native.file_faults(64)
    assert f.result.samples.shape == (64,)
    assert f.majflt > 0 or f.note
    assert f.fstype


@pytest.mark.parametrize("kw", [dict(ops=()), dict(ops=("poke",)), dict(pages=0), dict(pages=10**7)])
def test_bad_arguments(kw) -> None:
    with pytest.raises(ValueError):
        native.fault_passes(**kw)


def test_mount_of_root() -> None:
    mnt, fstype = faults.mount_of("/")
    assert mnt == "/" and fstype


def test_memory_filesystem_fallback_explains() -> None:
    import os

    if not os.path.isdir("/dev/shm") or faults.mount_of("/dev/shm")[1] not in faults.MEMORY_FILESYSTEMS:
        pytest.skip("no tmpfs at /dev/shm")
    f = native.file_faults(32, directory="/dev/shm")
    assert f.majflt == 0 and "tmpfs" in f.note
    assert not [p for p in os.listdir("/dev/shm") if p.startswith("hftos-faults-")]
