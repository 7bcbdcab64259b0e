"""Demand paging: per-page fault timing and fault counters (``faults.c``, chapter 2.3).

:func:`fault_passes` maps anonymous memory and runs passes over it (read, write, ``madvise``),
timing every page's touch and counting the minor/major faults of each pass (``getrusage``).
:func:`file_faults` maps a file of our own whose cached pages were dropped with
``posix_fadvise(POSIX_FADV_DONTNEED)`` and times the (major) faults of reading it back.

Both run in a helper process (:mod:`hftos.native.runner`): the memory is the helper's, its fault
counters count only the experiment, and the Jupyter kernel's memory is never touched. Memory is
bounded: 32 MiB by default (at most 64 MiB at the default budget), temporary files live in a
private directory that is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field

import numpy as np

from hftos.measure import Result, budget, scaled

from . import build, runner
from .checks import check, count

_CDEF = """
int fault_passes(size_t pages, int populate, int thp, const int *ops, int nops,
                 int64_t *times, long *minflt, long *majflt, long *trace, size_t every);
int fault_file(const char *path, size_t pages, int drop, int random, int64_t *times,
               long *minflt, long *majflt, long *cached);
"""

#: Pass names accepted by :func:`fault_passes`, with their C codes.
OPS: dict[str, int] = {"read": 0, "write": 1, "dontneed": 2, "willneed": 3}

PAGE = 4096


def _lib() -> build.Compiled:
    return build.load("faults", _CDEF)


def _max_pages() -> int:
    return {"smoke": 16384, "default": 16384, "full": 65536}[budget()]


@dataclass
class Pass:
    """One pass over the mapping: what it did, per-page times (None for ``madvise`` passes), faults taken."""

    op: str
    result: Result | None
    minflt: int
    majflt: int


@dataclass
class FaultRun:
    """The outcome of :func:`fault_passes`."""

    pages: int
    populate: bool
    thp: bool
    passes: list[Pass]
    touched: np.ndarray = field(repr=False)       #: pages touched so far in pass 0 (x of the trace)
    cumulative: np.ndarray = field(repr=False)    #: minor faults taken so far in pass 0

    def __getitem__(self, k: int) -> Pass:
        return self.passes[k]


def _passes_in_helper(pages: int, populate: int, thp: int, ops: list[int], every: int) -> tuple:
    c = _lib()
    nops = len(ops)
    times = np.zeros(nops * pages, dtype=np.int64)
    mi = np.zeros(nops, dtype=np.int64)
    ma = np.zeros(nops, dtype=np.int64)
    trace = np.zeros(pages // every + 1, dtype=np.int64)
    cops = c.ffi.new("int[]", ops)
    ptr = lambda a, t: c.ffi.cast(t, a.ctypes.data)  # noqa: E731
    check(c.lib.fault_passes(pages, populate, thp, cops, nops, ptr(times, "int64_t *"), ptr(mi, "long *"),
                             ptr(ma, "long *"), ptr(trace, "long *"), every), "fault_passes")
    return times.reshape(nops, pages), mi, ma, trace


def fault_passes(ops: tuple[str, ...] | list[str] = ("write", "write"), pages: int | None = None, *,
                 populate: bool = False, thp: bool = False, every: int | None = None,
                 timeout: float = 120.0) -> FaultRun:
    """Map ``pages`` anonymous 4 KiB pages and run the passes ``ops`` over them, in a helper process.

    ``ops`` are ``"read"``/``"write"`` (touch one byte per page, timed) and ``"dontneed"``/``"willneed"``
    (``madvise`` on the whole mapping). ``populate=True`` maps with ``MAP_POPULATE``; ``thp=True`` asks for
    transparent huge pages (``MADV_HUGEPAGE``), otherwise 4 KiB pages are forced (``MADV_NOHUGEPAGE``).
    The per-page times are :class:`Result` samples in ns (clock ``CLOCK_MONOTONIC``, including the ~20 ns of
    reading it). ``every``: the cumulative-fault trace of pass 0 is sampled every ``every`` pages.
    Default ``pages``: 8192 (32 MiB); at most 16384 (64 MiB) at the default budget.
    """
    if not ops:
        raise ValueError("ops must name at least one pass")
    for op in ops:
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}; known: {', '.join(OPS)}")
    pages = count(pages if pages is not None else scaled(8192, smoke=1024), "pages")
    if pages > _max_pages():
        raise ValueError(f"pages must be at most {_max_pages()} at the {budget()} budget, got {pages}")
    every = count(every if every is not None else max(1, pages // 256), "every")
    _lib()
    times, mi, ma, trace = runner.run(_passes_in_helper, timeout=timeout, pages=pages, populate=int(populate),
                                      thp=int(thp), ops=[OPS[o] for o in ops], every=every)
    passes = []
    for k, op in enumerate(ops):
        res = None
        if op in ("read", "write"):
            res = Result.from_samples(
                f"{op} pass {k + 1}" + (" (MAP_POPULATE)" if populate else "") + (" (THP)" if thp else ""),
                times[k].astype(float),
                method={"clock": "CLOCK_MONOTONIC", "pages": pages, "page_size": PAGE, "pass": k + 1,
                        "passes": list(ops), "populate": populate, "thp": thp,
                        "sample": f"one {op} of one byte in one page, timed alone (includes the clock read)"})
        passes.append(Pass(op, res, int(mi[k]), int(ma[k])))
    touched = np.arange(len(trace)) * every
    keep = touched <= pages
    return FaultRun(pages, populate, thp, passes, touched[keep], trace[keep])


def first_touch(pages: int | None = None, **kw) -> FaultRun:
    """Write every page twice: pass 1 is the first touch (a fault per page), pass 2 the second (none)."""
    return fault_passes(("write", "write"), pages, **kw)


def mount_of(path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(mount point, filesystem type)`` of the mount holding ``path``, from ``/proc/self/mountinfo``."""
    target = os.path.realpath(path)
    best = ("/", "unknown")
    try:
        lines = open("/proc/self/mountinfo").read().splitlines()
    except OSError:
        return best
    for line in lines:
        left, _, right = line.partition(" - ")
        parts = left.split()
        if len(parts) < 5 or not right:
            continue
        mnt = parts[4].replace("\\040", " ")
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) >= len(best[0]):
            best = (mnt, right.split()[0])
    return best


#: Filesystems whose file pages live only in memory: dropping them is impossible, no major faults.
MEMORY_FILESYSTEMS = ("tmpfs", "ramfs", "hugetlbfs", "devtmpfs")


@dataclass
class FileFaults:
    """The outcome of :func:`file_faults`."""

    result: Result
    minflt: int
    majflt: int
    cached_before: int     #: pages of the file still in the page cache after the drop (mincore)
    cached_after: int
    pages: int
    directory: str
    fstype: str
    note: str              #: why there were no major faults, when there were none


def _file_in_helper(path: str, pages: int, drop: int, random: int) -> tuple:
    c = _lib()
    times = np.zeros(pages, dtype=np.int64)
    mi, ma = c.ffi.new("long *"), c.ffi.new("long *")
    cached = c.ffi.new("long[2]")
    check(c.lib.fault_file(path.encode(), pages, drop, random, c.ffi.cast("int64_t *", times.ctypes.data),
                           mi, ma, cached), "fault_file")
    return times, mi[0], ma[0], cached[0], cached[1]


def file_faults(pages: int | None = None, *, directory: str | None = None, drop: bool = True,
                random: bool = True, timeout: float = 120.0) -> FileFaults:
    """Write a file of ``pages`` pages in a private temporary directory, drop it from the page cache, map it
    and read one byte per page (timed). Where the drop works (a disk filesystem) each read is a major fault.

    ``random=True`` sets ``MADV_RANDOM`` so that every page is its own fault (no readahead). Default
    ``pages``: 2048 (8 MiB). The file and directory are removed afterwards, however the run ends.
    """
    pages = count(pages if pages is not None else scaled(2048, smoke=256), "pages")
    if pages > _max_pages():
        raise ValueError(f"pages must be at most {_max_pages()} at the {budget()} budget, got {pages}")
    base = directory or tempfile.gettempdir()
    free = shutil.disk_usage(base).free
    if free < 4 * pages * PAGE:
        raise OSError(f"not enough free space in {base}: {free >> 20} MiB")
    mnt, fstype = mount_of(base)
    _lib()
    tmp = tempfile.mkdtemp(prefix="hftos-faults-", dir=base)
    try:
        path = os.path.join(tmp, "data.bin")
        with open(path, "wb") as f:
            block = bytes(range(256)) * (PAGE // 256)
            for _ in range(pages):
                f.write(block)
        times, mi, ma, before, after = runner.run(_file_in_helper, timeout=timeout, path=path, pages=pages,
                                                  drop=int(drop), random=int(random))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    note = ""
    if ma == 0:
        if not drop:
            note = "the pages were not dropped (drop=False): they were still in the page cache"
        elif fstype in MEMORY_FILESYSTEMS:
            note = f"{base} is on {fstype}: file pages live only in memory, so they cannot be dropped and never need I/O"
        elif before:
            note = (f"{before} of {pages} pages stayed in the page cache after POSIX_FADV_DONTNEED "
                    f"({fstype} on {mnt} ignored or could not honour the hint)")
        else:
            note = "no major faults although the pages were dropped"
    res = Result.from_samples(f"read of a dropped file page ({fstype})", times.astype(float), method={
        "clock": "CLOCK_MONOTONIC", "pages": pages, "directory": base, "mount": mnt, "fstype": fstype,
        "drop": "fdatasync + posix_fadvise(POSIX_FADV_DONTNEED)" if drop else "none",
        "advice": "MADV_RANDOM" if random else "default readahead",
        "sample": "one read of one byte in one page of a MAP_SHARED file mapping"})
    return FileFaults(res, int(mi), int(ma), int(before), int(after), pages, base, fstype, note)
