"""The page cache, measured (``pagecache.c``, chapter 3.3), and the file-system facts of a path.

Read-only helpers (nothing is changed on the host):

- :func:`mounts` parses ``/proc/self/mountinfo``; :func:`fs_of` says which mount, file-system type
  (``statfs`` ``f_type`` and the mount table), block device, I/O scheduler and read-ahead back a path;
- :func:`dirty_settings` reads the ``vm.dirty_*`` sysctls and turns the ratios into bytes for this host
  (:func:`dirty_thresholds`); :func:`meminfo` reads ``Dirty``/``Writeback`` from ``/proc/meminfo``.

Measurements (C, in this process: they do not fork, pin or spin; every file lives in a private temporary
directory removed in ``finally``; sizes are bounded and checked against free disk space and MemAvailable):

- :func:`residency` (``mincore``) and :func:`cold_warm_read` (``posix_fadvise(POSIX_FADV_DONTNEED)`` then two
  timed reads);
- :func:`write_latency` (per-``write()`` latency over time while dirtying a bounded amount, optionally with a
  periodic ``fdatasync``, sampling ``Dirty`` as it goes) and :func:`sync_cost` (``fsync``/``fdatasync``/
  ``sync_file_range`` after dirtying N bytes).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hftos.measure import Result, scaled

from . import build
from .checks import NativeError, check, count, mem_available

#: ``statfs`` magic numbers (``include/uapi/linux/magic.h``) for the file systems a reader is likely to meet.
FS_MAGIC = {
    0xEF53: "ext2/3/4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs", 0x794C7630: "overlayfs",
    0x6969: "nfs", 0x2FC12FC1: "zfs", 0xF2F52010: "f2fs", 0x65735546: "fuse", 0x01021997: "9p (v9fs)",
    0x858458F6: "ramfs", 0x4D44: "vfat", 0x5346544E: "ntfs", 0x73717368: "squashfs", 0xFF534D42: "cifs",
    0x9FA0: "proc", 0x62656572: "sysfs", 0x1CD1: "devpts", 0x63677270: "cgroup2", 0x27E0EB: "cgroup",
}


@dataclass(frozen=True)
class Mount:
    """One line of ``/proc/self/mountinfo``."""
    mount_id: int
    parent_id: int
    dev: str          # major:minor of the file system (0:N for file systems without a block device)
    root: str
    point: str
    options: str
    fstype: str
    source: str
    super_options: str


def _unescape(s: str) -> str:
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mounts(text: str | None = None) -> list[Mount]:
    """Parse ``/proc/self/mountinfo`` (or ``text``) into :class:`Mount` s (see ``man 5 proc_pid_mountinfo``)."""
    if text is None:
        with open("/proc/self/mountinfo") as f:
            text = f.read()
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        a, b = left.split(), right.split()
        out.append(Mount(int(a[0]), int(a[1]), a[2], _unescape(a[3]), _unescape(a[4]), a[5], b[0],
                         _unescape(b[1]) if len(b) > 1 else "", b[2] if len(b) > 2 else ""))
    return out


def mount_of(path: str, table: list[Mount] | None = None) -> Mount:
    """The mount a path lives on: the longest mount point that is a prefix of its real path (the last one
    mounted wins when several are stacked on one point)."""
    real = os.path.realpath(path)
    best: Mount | None = None
    for m in table if table is not None else mounts():
        p = m.point.rstrip("/") or "/"
        if real == p or real.startswith(p + "/") or p == "/":
            if best is None or len(p) >= len(best.point.rstrip("/") or "/"):
                best = m
    if best is None:
        raise FileNotFoundError(errno.ENOENT, "no mount found", path)
    return best


def statfs_type(path: str) -> int | None:
    """``f_type`` from ``statfs(2)`` (the file-system magic number), or None if it cannot be read."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux; f_type comes first
    if libc.statfs(os.fsencode(path), buf) != 0:
        return None
    word = ctypes.sizeof(ctypes.c_long)
    return int.from_bytes(buf.raw[:word], sys.byteorder) & 0xFFFFFFFF


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def block_device(dev: str) -> dict[str, Any] | None:
    """Queue facts of the block device ``major:minor`` from ``/sys/dev/block`` (the whole disk for a
    partition): name, scheduler (the bracketed one is active), read_ahead_kb, rotational, logical block size.
    None when the file system has no block device (tmpfs, overlayfs, NFS, ...)."""
    base = f"/sys/dev/block/{dev}"
    if not os.path.exists(base):
        return None
    real = os.path.realpath(base)
    queue = os.path.join(real, "queue")
    if not os.path.isdir(queue) and os.path.exists(os.path.join(real, "partition")):
        real = os.path.dirname(real)
        queue = os.path.join(real, "queue")
    out: dict[str, Any] = {"name": os.path.basename(real), "partition_of": None}
    if os.path.basename(real) != os.path.basename(os.path.realpath(base)):
        out["partition_of"] = out["name"]
        out["name"] = os.path.basename(os.path.realpath(base))
    for key in ("scheduler", "read_ahead_kb", "rotational", "logical_block_size", "nr_requests", "max_sectors_kb"):
        v = _read(os.path.join(queue, key))
        out[key] = int(v) if v is not None and v.isdigit() else v
    sched = out.get("scheduler")
    out["active_scheduler"] = (sched.split("[", 1)[1].split("]", 1)[0]
                               if isinstance(sched, str) and "[" in sched else sched)
    return out


def fs_of(path: str | None = None) -> dict[str, Any]:
    """What backs ``path`` (default: the temporary directory): mount point, type from the mount table and from
    ``statfs``, source, options, block device (or None), free and total bytes, and a one-line ``caveat`` for
    the page-cache experiments (tmpfs/overlayfs/network file systems behave differently)."""
    path = path or tempfile.gettempdir()
    m = mount_of(path)
    magic = statfs_type(path)
    st = os.statvfs(path)
    caveat = ""
    if m.fstype in ("tmpfs", "ramfs") or magic in (0x01021994, 0x858458F6):
        caveat = ("tmpfs keeps files only in the page cache: there is no disk behind it, so nothing is written "
                  "back, fsync returns at once, and POSIX_FADV_DONTNEED cannot evict the pages.")
    elif m.fstype == "overlay" or magic == 0x794C7630:
        caveat = ("overlayfs (a container's root) passes reads and writes to the file system below it "
                  "(the 'upper' directory); the page cache and writeback are those of that file system.")
    elif m.fstype in ("nfs", "nfs4", "cifs", "9p", "fuse", "virtiofs") or m.fstype.startswith("fuse"):
        caveat = "a network or FUSE file system: writeback and fsync go over a protocol; timings vary widely."
    return {"path": path, "mount_point": m.point, "fstype": m.fstype, "statfs_magic": magic,
            "statfs_name": FS_MAGIC.get(magic, hex(magic) if magic is not None else None), "source": m.source,
            "options": m.options, "super_options": m.super_options, "dev": m.dev,
            "block": block_device(m.dev) if not m.dev.startswith("0:") else None,
            "free_bytes": st.f_bavail * st.f_frsize, "total_bytes": st.f_blocks * st.f_frsize, "caveat": caveat}


DIRTY_KEYS = ("dirty_background_ratio", "dirty_background_bytes", "dirty_ratio", "dirty_bytes",
              "dirty_expire_centisecs", "dirty_writeback_centisecs")


def dirty_settings() -> dict[str, int | None]:
    """The ``vm.dirty_*`` sysctls (read only; None where unreadable)."""
    out: dict[str, int | None] = {}
    for k in DIRTY_KEYS:
        v = _read(f"/proc/sys/vm/{k}")
        out[k] = int(v) if v is not None and v.lstrip("-").isdigit() else None
    return out


def meminfo(keys: tuple[str, ...] = ("MemTotal", "MemFree", "MemAvailable", "Cached", "Dirty", "Writeback",
                                     "Active(file)", "Inactive(file)")) -> dict[str, int]:
    """Selected ``/proc/meminfo`` fields in bytes."""
    out: dict[str, int] = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = int(v.split()[0]) * 1024
    return out


def dirty_thresholds(settings: dict[str, int | None] | None = None, mem: dict[str, int] | None = None
                     ) -> dict[str, Any]:
    """The two dirty thresholds in bytes, the way ``mm/page-writeback.c`` computes them (approximately).

    The ratios are percentages of *dirtyable* memory, which ``global_dirtyable_memory()`` takes as free pages
    plus file-backed LRU pages (minus reserves), not MemTotal; ``MemFree + Active(file) + Inactive(file)``
    is used here as the estimate. A non-zero ``*_bytes`` sysctl replaces its ratio. When the background
    threshold is not below the hard one, the kernel uses half of the hard one.
    """
    s = settings or dirty_settings()
    m = mem or meminfo()
    dirtyable = m.get("MemFree", 0) + m.get("Active(file)", 0) + m.get("Inactive(file)", 0)
    hard = s["dirty_bytes"] or (dirtyable * (s["dirty_ratio"] or 0) // 100)
    bg = s["dirty_background_bytes"] or (dirtyable * (s["dirty_background_ratio"] or 0) // 100)
    if bg >= hard:
        bg = hard // 2
    return {"dirtyable_bytes": dirtyable, "background_bytes": bg, "hard_bytes": hard,
            "expire_s": (s["dirty_expire_centisecs"] or 0) / 100, "flusher_period_s":
            (s["dirty_writeback_centisecs"] or 0) / 100, "memtotal_bytes": m.get("MemTotal", 0)}


def _private_dir() -> str:
    return tempfile.mkdtemp(prefix="hftos-pagecache-")


def _check_space(directory: str, nbytes: int) -> None:
    free = shutil.disk_usage(directory).free
    if nbytes > free // 4:
        raise ValueError(f"{nbytes / 2**20:.0f} MiB is more than a quarter of the free space in {directory} "
                         f"({free / 2**20:.0f} MiB free)")


# --------------------------------------------------------------------------- measurements (pagecache.c)

_CDEF = """
long pc_residency(int fd, size_t len);
int pc_read_timed(int fd, size_t chunk, long n, int64_t *lat_ns, int64_t *bytes_read);
int pc_write_timed(int fd, size_t chunk, long n, long sync_every, long sample_every,
                   int64_t *t_ns, int64_t *lat_ns, int64_t *sync_ns, long *n_syncs,
                   int64_t *sample_t_ns, long *dirty_kb, long *writeback_kb, long *n_samples);
int pc_sync_cost(int fd, size_t bytes, int mode, int64_t *ns);
"""

#: Largest file or amount of dirty data a measurement may create (the course's disk/memory budget).
MAX_BYTES = 256 * 2**20

SYNC_MODES = ("fsync", "fdatasync", "sync_file_range(WRITE)", "sync_file_range(WAIT|WRITE|WAIT)")


def _lib() -> build.Compiled:
    return build.load("pagecache", _CDEF)


def _ptr(c: build.Compiled, a: np.ndarray, ctype: str = "int64_t *") -> Any:
    return c.ffi.cast(ctype, a.ctypes.data)


def _budget(nbytes: int, directory: str) -> None:
    if nbytes > MAX_BYTES:
        raise ValueError(f"at most {MAX_BYTES // 2**20} MiB, got {nbytes / 2**20:.0f} MiB")
    _check_space(directory, nbytes)
    if nbytes > mem_available() // 4:
        raise ValueError(f"{nbytes / 2**20:.0f} MiB is more than a quarter of MemAvailable")


def residency(fd: int) -> tuple[int, int]:
    """``(resident_pages, total_pages)`` of the open file ``fd``, from ``mincore(2)`` on a read-only mapping."""
    size = os.fstat(fd).st_size
    page = os.sysconf("SC_PAGE_SIZE")
    total = (size + page - 1) // page
    r = _lib().lib.pc_residency(fd, size)
    check(int(r), "mincore")
    return int(r), total


def _read_all(fd: int, chunk: int, n: int) -> np.ndarray:
    c = _lib()
    lat = np.zeros(n, dtype=np.int64)
    got = c.ffi.new("int64_t *")
    check(c.lib.pc_read_timed(fd, chunk, n, _ptr(c, lat), got), "pc_read_timed")
    return lat


def cold_warm_read(mib: int | None = None, *, chunk_kib: int = 128, readahead: bool = True,
                   directory: str | None = None) -> dict[str, Any]:
    """Read a file of our own twice, after evicting it from the page cache, and time every ``read()``.

    Steps: write ``mib`` MiB, ``fdatasync`` (dirty pages cannot be dropped), ``posix_fadvise(POSIX_FADV_DONTNEED)``,
    residency (``mincore``), timed read ("cold"), residency, timed read again ("warm"). Returns ``cold`` and
    ``warm`` (:class:`Result`, ns per ``chunk_kib`` read), the residency before/after each step, MB/s of each
    pass, ``evicted`` (did DONTNEED drop the pages?) and ``fs`` (:func:`fs_of`). On tmpfs and some overlay or
    network file systems DONTNEED drops nothing: ``evicted`` is False and "cold" is really warm.
    ``readahead=False`` calls ``posix_fadvise(POSIX_FADV_RANDOM)`` before the cold pass, which turns read-ahead off
    for this file: every cold chunk then waits for the device.
    """
    mib = mib if mib is not None else scaled(64, smoke=8, full=256)
    count(mib, "mib")
    chunk = chunk_kib * 1024
    count(chunk_kib, "chunk_kib")
    nbytes = mib * 2**20
    d = _private_dir() if directory is None else tempfile.mkdtemp(prefix="hftos-pagecache-", dir=directory)
    try:
        _budget(nbytes, d)
        path = os.path.join(d, "cold.bin")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            block = os.urandom(2**20)
            for _ in range(mib):
                os.write(fd, block)
            os.fdatasync(fd)
            written = residency(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            after_drop = residency(fd)
            if not readahead:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            n = (nbytes + chunk - 1) // chunk
            t0 = time_ns()
            cold = _read_all(fd, chunk, n)
            t1 = time_ns()
            after_cold = residency(fd)
            warm = _read_all(fd, chunk, n)
            t2 = time_ns()
            after_warm = residency(fd)
        finally:
            os.close(fd)
        info = fs_of(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    method = {"clock": "CLOCK_MONOTONIC", "chunk_bytes": chunk, "file_bytes": nbytes, "iterations": n,
              "cpus": "not pinned", "fs": info["fstype"], "sample": "one pread() of chunk_bytes",
              "readahead": "default" if readahead else "off (POSIX_FADV_RANDOM)"}
    cold_name = f"read {chunk_kib} KiB, cold" + ("" if readahead else ", no read-ahead")
    return {
        "cold": Result.from_samples(cold_name, cold, method=dict(method, cache="evicted")),
        "warm": Result.from_samples(f"read {chunk_kib} KiB, warm", warm, method=dict(method, cache="resident")),
        "pages": written[1], "resident_written": written[0], "resident_after_dontneed": after_drop[0],
        "resident_after_cold": after_cold[0], "resident_after_warm": after_warm[0],
        "evicted": after_drop[0] < written[1] // 2,
        "cold_MBps": nbytes / max(t1 - t0, 1) * 1e3, "warm_MBps": nbytes / max(t2 - t1, 1) * 1e3,
        "mib": mib, "fs": info,
    }


def time_ns() -> int:
    """``CLOCK_MONOTONIC`` in ns (for the wall time of a whole pass)."""
    return time.monotonic_ns()


def write_latency(mib: int | None = None, *, chunk_kib: int = 64, sync_every_kib: int = 0,
                  samples_of_dirty: int = 400, o_dsync: bool = False, directory: str | None = None
                  ) -> dict[str, Any]:
    """Write ``mib`` MiB in ``chunk_kib`` KiB ``write()`` s to a new file, timing every call.

    ``sync_every_kib > 0`` calls ``fdatasync`` after every that many KiB (timed separately, ``sync``);
    ``o_dsync`` opens the file with ``O_DSYNC`` instead (every write waits for the device). ``Dirty`` and
    ``Writeback`` from ``/proc/meminfo`` are sampled about ``samples_of_dirty`` times during the run (between
    writes, untimed). The file is deleted afterwards (its dirty pages are then discarded, never written).

    Returns ``write`` (:class:`Result`, ns per ``write()``), ``t_s`` (start time of each write, seconds),
    ``sync`` (:class:`Result` of the ``fdatasync`` calls, or None), ``dirty_t_s``/``dirty_bytes``/
    ``writeback_bytes`` (the meminfo samples), ``elapsed_s``, ``MBps`` and the parameters.
    """
    mib = mib if mib is not None else scaled(256, smoke=16)
    count(mib, "mib")
    count(chunk_kib, "chunk_kib")
    if sync_every_kib < 0:
        raise ValueError("sync_every_kib must be >= 0")
    chunk = chunk_kib * 1024
    nbytes = mib * 2**20
    n = nbytes // chunk
    if n < 1:
        raise ValueError("mib must be at least one chunk")
    sync_every = (sync_every_kib * 1024) // chunk if sync_every_kib else 0
    if sync_every_kib and sync_every < 1:
        raise ValueError("sync_every_kib must be at least chunk_kib")
    sample_every = max(1, n // max(1, samples_of_dirty))
    c = _lib()
    t = np.zeros(n, dtype=np.int64)
    lat = np.zeros(n, dtype=np.int64)
    syncs = np.zeros(max(1, n // sync_every) if sync_every else 1, dtype=np.int64)
    ns = n // sample_every + 2
    st = np.zeros(ns, dtype=np.int64)
    dk = np.zeros(ns, dtype=np.int_)
    wk = np.zeros(ns, dtype=np.int_)
    nsync = c.ffi.new("long *")
    nsamp = c.ffi.new("long *")
    d = _private_dir() if directory is None else tempfile.mkdtemp(prefix="hftos-pagecache-", dir=directory)
    try:
        _budget(nbytes, d)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | (os.O_DSYNC if o_dsync else 0)
        fd = os.open(os.path.join(d, "dirty.bin"), flags, 0o600)
        try:
            t0 = time_ns()
            check(c.lib.pc_write_timed(fd, chunk, n, sync_every, sample_every, _ptr(c, t), _ptr(c, lat),
                                       _ptr(c, syncs), nsync, _ptr(c, st), _ptr(c, dk, "long *"),
                                       _ptr(c, wk, "long *"), nsamp), "pc_write_timed")
            elapsed = (time_ns() - t0) / 1e9
        finally:
            os.close(fd)
        info = fs_of(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    mode = "O_DSYNC" if o_dsync else (f"fdatasync every {sync_every_kib} KiB" if sync_every else "buffered")
    method = {"clock": "CLOCK_MONOTONIC", "chunk_bytes": chunk, "total_bytes": nbytes, "iterations": n,
              "mode": mode, "cpus": "not pinned", "fs": info["fstype"], "sample": "one write() of chunk_bytes"}
    k = int(nsamp[0])
    return {
        "write": Result.from_samples(f"write {chunk_kib} KiB, {mode}", lat, method=method),
        "t_s": t / 1e9,
        "sync": (Result.from_samples(f"fdatasync of {sync_every_kib} KiB", syncs[:int(nsync[0])],
                                     method=dict(method, sample="one fdatasync()")) if sync_every else None),
        "dirty_t_s": st[:k] / 1e9, "dirty_bytes": dk[:k].astype(np.int64) * 1024,
        "writeback_bytes": wk[:k].astype(np.int64) * 1024,
        "elapsed_s": elapsed, "MBps": nbytes / elapsed / 1e6, "mib": mib, "mode": mode, "fs": info,
    }


def sync_cost(mib: int = 8, *, reps: int | None = None, directory: str | None = None) -> dict[str, Result]:
    """Dirty ``mib`` MiB of a file, then time one flush; ``reps`` times for each of :data:`SYNC_MODES`.

    Returns ``{mode: Result}`` (ns per call). ``sync_file_range(WRITE)`` only *starts* writeback (and is not a
    durability guarantee); the ``WAIT`` form waits for the data pages but writes no metadata and does not flush
    the device's cache, so only ``fsync``/``fdatasync`` make data durable.
    """
    reps = reps if reps is not None else scaled(8, smoke=2)
    count(mib, "mib")
    count(reps, "reps")
    nbytes = mib * 2**20
    c = _lib()
    out: dict[str, list[int]] = {m: [] for m in SYNC_MODES}
    d = _private_dir() if directory is None else tempfile.mkdtemp(prefix="hftos-pagecache-", dir=directory)
    try:
        _budget(nbytes * 2, d)
        ns = c.ffi.new("int64_t *")
        for r in range(reps):
            for mode, name in enumerate(SYNC_MODES):
                path = os.path.join(d, f"sync-{mode}.bin")
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    check(c.lib.pc_sync_cost(fd, nbytes, mode, ns), name)
                    out[name].append(int(ns[0]))
                    os.fdatasync(fd)           # settle before the next mode, so runs do not overlap
                finally:
                    os.close(fd)
        info = fs_of(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return {m: Result.from_samples(f"{m} after {mib} MiB", np.array(v, dtype=float), method={
        "clock": "CLOCK_MONOTONIC", "dirty_bytes": nbytes, "iterations": reps, "fs": info["fstype"],
        "sample": "one flush call after rewriting the file"}) for m, v in out.items()}


__all__ = ["FS_MAGIC", "Mount", "MAX_BYTES", "SYNC_MODES", "block_device", "cold_warm_read", "dirty_settings",
           "dirty_thresholds", "fs_of", "meminfo", "mount_of", "mounts", "residency", "statfs_type", "sync_cost",
           "write_latency", "NativeError"]
