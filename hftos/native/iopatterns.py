"""I/O system-call patterns (``iopatterns.c``, course section 3.5).

- :func:`io_sweep`: throughput and system calls per second versus buffer size, for ``read``,
  ``pread``, ``write``, ``pwrite`` and an ``mmap`` pass over the same file;
- :func:`io_gather`: one ``write`` per piece versus one ``writev`` per record;
- :func:`io_copy`: copying a file with a ``read``/``write`` loop versus ``sendfile``;
- :func:`scratch_file`: a private temporary file of a given size, removed afterwards.

Runs in the caller's process: it does not fork, pin or spin, and every pass is bounded in bytes and
system calls. Files live in a private temporary directory (``$TMPDIR`` or ``dir``), removed in
``finally``; at most 256 MiB each.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import tempfile
from typing import Iterator, Sequence

from hftos.measure import scaled

from . import build
from .checks import check, count, mem_available

_CDEF = """
int io_sweep(int fd, int mode, size_t bufsize, size_t total, int64_t *elapsed_ns, long *calls, uint64_t *sum);
int io_gather(int fd, int use_writev, int pieces, size_t piece_len, long records, int64_t *elapsed_ns);
int io_copy(int in_fd, int out_fd, int use_sendfile, size_t bufsize, size_t total, int64_t *elapsed_ns,
            long *calls);
"""

MODES = {"read": 0, "pread": 1, "write": 2, "pwrite": 3, "mmap": 4}
#: The default sweep: 4 B to 1 MiB in steps of 4x.
SIZES = tuple(4 ** k for k in range(1, 11))
MAX_FILE = 256 * 2**20


def _lib() -> build.Compiled:
    return build.load("iopatterns", _CDEF)


@contextlib.contextmanager
def scratch_file(size: int, *, dir: str | None = None, prefix: str = "hftos-io-") -> Iterator[str]:
    """A file of ``size`` bytes (non-zero pattern, in the page cache) in a private temporary directory.

    The directory and everything in it are removed on exit, however the block ends.
    """
    count(size, "size")
    if size > MAX_FILE:
        raise ValueError(f"at most {MAX_FILE // 2**20} MiB, got {size / 2**20:.1f} MiB")
    base = tempfile.mkdtemp(prefix=prefix, dir=dir)
    try:
        if shutil.disk_usage(base).free < 2 * size + 64 * 2**20:
            raise OSError(28, f"not enough free space in {base} for a {size / 2**20:.0f} MiB file")
        path = os.path.join(base, "data")
        block = bytes(range(256)) * 4096                       # 1 MiB of a non-zero pattern
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            done = 0
            while done < size:
                done += os.write(fd, block[: min(len(block), size - done)])
        finally:
            os.close(fd)
        yield path
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _pass(fd: int, mode: str, bufsize: int, total: int) -> tuple[int, int]:
    c = _lib()
    ns, calls, s = c.ffi.new("int64_t *"), c.ffi.new("long *"), c.ffi.new("uint64_t *")
    check(c.lib.io_sweep(fd, MODES[mode], bufsize, total, ns, calls, s), f"io_sweep({mode}, {bufsize} B)")
    return int(ns[0]), int(calls[0])


def io_sweep(sizes: Sequence[int] = SIZES, *, modes: Sequence[str] = ("read", "write", "mmap"),
             file_mib: float | None = None, max_calls: int | None = None, reps: int | None = None,
             dir: str | None = None) -> dict:
    """Throughput (MB/s, 10^6 bytes per second) and system calls per second versus buffer size.

    A file of ``file_mib`` MiB (default 64, 4 at the smoke budget, at most a quarter of available memory) is created in a private temporary
    directory and read into the page cache. For each mode and buffer size, one pass moves
    ``min(file size, max_calls * size)`` bytes (so 4-byte buffers stay bounded in time), repeated
    ``reps`` times; the median pass is reported. ``mmap`` maps the whole file and reads every
    8-byte word (its "calls" are the mmap and munmap; the page faults are not system calls).

    Returns ``{"sizes", "file_bytes", "dir", mode: {"bytes", "calls", "seconds", "mb_s", "calls_s"}}``
    with one list entry per size (for ``mmap``, the same pass repeated for every size, for plotting).
    """
    file_bytes = int((file_mib if file_mib is not None else scaled(64, smoke=4, full=256)) * 2**20)
    if file_mib is None:                   # the default never takes more than a quarter of available memory
        file_bytes = max(2**20, min(file_bytes, mem_available() // 4 // 2**20 * 2**20))
    calls_cap = count(max_calls if max_calls is not None else scaled(200_000, smoke=5_000), "max_calls")
    r = count(reps if reps is not None else scaled(3, smoke=1, full=5), "reps")
    sizes = [count(s, "buffer size") for s in sizes]
    if not sizes:
        raise ValueError("no buffer sizes")
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown mode(s) {bad}; use {', '.join(MODES)}")
    if max(sizes) > file_bytes:
        raise ValueError(f"buffer size {max(sizes)} is larger than the {file_bytes}-byte file")
    out: dict = {"sizes": sizes, "file_bytes": file_bytes, "max_calls": calls_cap, "reps": r}
    with scratch_file(file_bytes, dir=dir, prefix="hftos-io-sweep-") as path:
        out["dir"] = os.path.dirname(os.path.dirname(path))
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            _pass(fd, "read", 1 << 20, file_bytes)               # warm: the whole file in the page cache
            for mode in modes:
                row: dict[str, list[float]] = {"bytes": [], "calls": [], "seconds": [], "mb_s": [], "calls_s": []}
                mmap_result = None
                for size in sizes:
                    total = file_bytes if mode == "mmap" else min(file_bytes, calls_cap * size)
                    if mode == "mmap" and mmap_result is not None:
                        runs = mmap_result
                    else:
                        runs = [_pass(fd, mode, size, total) for _ in range(r)]
                        mmap_result = runs if mode == "mmap" else None
                    ns = statistics.median(x[0] for x in runs)
                    calls = runs[0][1]
                    row["bytes"].append(total)
                    row["calls"].append(calls)
                    row["seconds"].append(ns / 1e9)
                    row["mb_s"].append(total / ns * 1e3)
                    row["calls_s"].append(calls / ns * 1e9)
                out[mode] = row
        finally:
            os.close(fd)
    return out


def io_gather(pieces: int = 4, piece_len: int = 16, records: int | None = None, *, target: str = "devnull") -> dict:
    """Records of ``pieces`` small pieces: one ``write`` per piece versus one ``writev`` per record.

    ``target`` is ``"devnull"`` (system-call cost only) or ``"file"`` (a private temporary file).
    Returns ns per record and records per second for both, and the parameters.
    """
    n = count(records if records is not None else scaled(50_000, smoke=2_000), "records")
    count(pieces, "pieces")
    count(piece_len, "piece_len")
    if pieces > 1024:
        raise ValueError("at most 1024 pieces (IOV_MAX)")
    if target not in ("devnull", "file"):
        raise ValueError(f"target must be 'devnull' or 'file', got {target!r}")
    if n * pieces * piece_len > MAX_FILE:
        raise ValueError("at most 256 MiB in total")
    c = _lib()
    ns = c.ffi.new("int64_t *")
    out: dict = {"pieces": pieces, "piece_len": piece_len, "records": n, "target": target}
    ctx = contextlib.nullcontext(os.devnull) if target == "devnull" else scratch_file(1, prefix="hftos-io-gather-")
    with ctx as path:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | (os.O_TRUNC if target == "file" else 0))
        try:
            for name, v in (("write", 0), ("writev", 1)):
                if target == "file":
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
                check(c.lib.io_gather(fd, v, pieces, piece_len, n, ns), f"io_gather({name})")
                out[f"{name}_ns"] = ns[0] / n
                out[f"{name}_per_s"] = n / ns[0] * 1e9
                if target == "file" and os.fstat(fd).st_size != n * pieces * piece_len:
                    raise OSError(5, f"{name}: file has {os.fstat(fd).st_size} bytes, expected {n * pieces * piece_len}")
        finally:
            os.close(fd)
    return out


def io_copy(mib: float | None = None, bufsize: int = 128 * 1024, *, dir: str | None = None) -> dict:
    """Copy a ``mib``-MiB file (default 32, 2 at smoke) with ``read``/``write`` and with ``sendfile``.

    Both copies start from a file in the page cache and write into a second file in the same private
    directory; the copy is checked byte for byte. Returns MB/s and system calls for each.
    """
    size = int((mib if mib is not None else scaled(32, smoke=2, full=128)) * 2**20)
    count(bufsize, "bufsize")
    c = _lib()
    ns, calls = c.ffi.new("int64_t *"), c.ffi.new("long *")
    out: dict = {"bytes": size, "bufsize": bufsize}
    with scratch_file(size, dir=dir, prefix="hftos-io-copy-") as src:
        dst = src + ".copy"
        in_fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
        out_fd = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            for name, v in (("read/write", 0), ("sendfile", 1)):
                check(c.lib.io_copy(in_fd, out_fd, v, bufsize, size, ns, calls), f"io_copy({name})")
                out[name] = {"mb_s": size / ns[0] * 1e3, "calls": int(calls[0]), "seconds": ns[0] / 1e9}
            with open(src, "rb") as a, open(dst, "rb") as b:
                if a.read() != b.read():
                    raise OSError(5, "the copy differs from the source")
        finally:
            os.close(in_fd)
            os.close(out_fd)
    return out
