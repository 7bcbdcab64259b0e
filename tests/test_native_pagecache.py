"""pagecache.c and the file-system probes: residency, cold/warm reads, write latency, flush costs, mountinfo."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

from hftos.native import pagecache as pc

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
30 27 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=100k
31 27 0:28 / /mnt/with\\040space rw - overlay overlay rw,lowerdir=/a,upperdir=/b
"""


def test_mountinfo_parsing_and_lookup() -> None:
    t = pc.mounts(MOUNTINFO)
    assert [m.fstype for m in t] == ["proc", "ext4", "tmpfs", "overlay"]
    assert t[3].point == "/mnt/with space" and t[1].source == "/dev/vda" and t[1].dev == "254:0"
    assert pc.mount_of("/", t).fstype == "ext4"
    assert pc.mount_of("/dev/shm", t).fstype == "tmpfs"


def test_fs_of_tempdir_and_shm() -> None:
    i = pc.fs_of()
    assert i["free_bytes"] > 0 and i["total_bytes"] >= i["free_bytes"] and i["fstype"]
    if os.path.isdir("/dev/shm"):
        s = pc.fs_of("/dev/shm")
        if s["fstype"] == "tmpfs":
            assert s["block"] is None and s["statfs_name"] == "tmpfs" and "tmpfs" in s["caveat"]


def test_dirty_settings_and_thresholds() -> None:
    s = pc.dirty_settings()
    assert set(s) == set(pc.DIRTY_KEYS)
    t = pc.dirty_thresholds({"dirty_background_ratio": 10, "dirty_ratio": 20, "dirty_background_bytes": 0,
                             "dirty_bytes": 0, "dirty_expire_centisecs": 3000, "dirty_writeback_centisecs": 500},
                            {"MemFree": 1000, "Active(file)": 0, "Inactive(file)": 0, "MemTotal": 2000})
    assert (t["background_bytes"], t["hard_bytes"], t["expire_s"]) == (100, 200, 30.0)
    t = pc.dirty_thresholds({"dirty_background_ratio": 30, "dirty_ratio": 20, "dirty_background_bytes": 0,
                             "dirty_bytes": 0, "dirty_expire_centisecs": 0, "dirty_writeback_centisecs": 0},
                            {"MemFree": 1000})
    assert t["background_bytes"] == 100  # bg >= hard: half of hard


def test_residency_counts_pages() -> None:
    with tempfile.TemporaryDirectory() as d:
        fd = os.open(os.path.join(d, "f"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            assert pc.residency(fd) == (0, 0)
            os.write(fd, b"x" * 3 * os.sysconf("SC_PAGE_SIZE"))
            res, total = pc.residency(fd)
            assert total == 3 and res == 3  # just written: in the page cache
        finally:
            os.close(fd)


@pytest.mark.parametrize("directory", [None, "/dev/shm"])
def test_cold_warm_read(directory: str | None) -> None:
    if directory and not os.path.isdir(directory):
        pytest.skip("no /dev/shm")
    r = pc.cold_warm_read(2, chunk_kib=64, directory=directory)
    assert r["pages"] == 2 * 2**20 // os.sysconf("SC_PAGE_SIZE")
    assert r["resident_after_warm"] == r["pages"]
    assert r["cold"].samples.size == r["warm"].samples.size == 32
    assert np.all(r["warm"].samples > 0) and r["warm_MBps"] > 0
    if r["fs"]["fstype"] == "tmpfs":
        assert not r["evicted"]
    r = pc.cold_warm_read(1, chunk_kib=64, readahead=False, directory=directory)
    assert r["cold"].method["readahead"].startswith("off") and r["cold"].samples.size == 16


def test_write_latency_modes() -> None:
    r = pc.write_latency(4, chunk_kib=64, samples_of_dirty=8)
    assert r["write"].samples.size == 64 and r["sync"] is None and np.all(r["write"].samples > 0)
    assert r["dirty_bytes"].size >= 8 and np.all(np.diff(r["t_s"]) >= 0)
    r = pc.write_latency(4, chunk_kib=64, sync_every_kib=1024)
    assert r["sync"] is not None and r["sync"].samples.size == 4
    r = pc.write_latency(1, chunk_kib=64, o_dsync=True)
    assert r["mode"] == "O_DSYNC" and r["write"].samples.size == 16


def test_sync_cost() -> None:
    r = pc.sync_cost(1, reps=2)
    assert list(r) == list(pc.SYNC_MODES)
    assert all(v.samples.size == 2 and np.all(v.samples > 0) for v in r.values())


def test_bounds_and_bad_arguments() -> None:
    with pytest.raises(ValueError):
        pc.write_latency(pc.MAX_BYTES // 2**20 + 1)
    with pytest.raises(ValueError):
        pc.write_latency(1, chunk_kib=64, sync_every_kib=32)
    with pytest.raises(ValueError):
        pc.cold_warm_read(0)
    with pytest.raises(ValueError):
        pc.sync_cost(1, reps=0)


def test_nothing_left_behind() -> None:
    with tempfile.TemporaryDirectory() as d:
        pc.write_latency(1, directory=d)
        pc.cold_warm_read(1, directory=d)
        pc.sync_cost(1, reps=1, directory=d)
        assert os.listdir(d) == []
