"""malloc/free latency by size class and the cost of untouched memory (``alloc.c``, chapter 2.5).

Both measurements run in a helper process (:mod:`hftos.native.runner`): ``alloc_sweep`` may call ``mallopt()``, and
``alloc_untouched`` maps up to a few hundred MiB; neither should change the notebook kernel's heap.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import check, count, memory_bytes

_CDEF = """
int alloc_sweep(const size_t *sizes, int nsizes, int warmup, int iters, long fixed_threshold,
                int64_t *malloc_ns, int64_t *free_ns, int64_t *first_ns, double *faults);
struct vm_snapshot { int64_t vmsize_kb, vmrss_kb; };
struct untouched_report {
    struct vm_snapshot before, after_malloc, after_touch;
    int64_t malloc_ns, minflt_malloc, minflt_touch;
};
int alloc_untouched(size_t bytes, struct untouched_report *r, int64_t *first_ns, int64_t *second_ns);
"""

#: Default size classes: 16 B to 1 MiB, powers of two.
SIZES = tuple(16 << k for k in range(17))


def _lib() -> build.Compiled:
    return build.load("alloc", _CDEF)


def _sweep_helper(sizes: list[int], warmup: int, iters: int, threshold: int) -> tuple:
    c = _lib()
    n = len(sizes)
    m = np.empty(n * iters, dtype=np.int64)
    f = np.empty(n * iters, dtype=np.int64)
    faults = np.empty(n, dtype=np.float64)
    first = np.empty(n, dtype=np.int64)
    sz = c.ffi.new("size_t[]", sizes)
    rc = c.lib.alloc_sweep(sz, n, warmup, iters, threshold, c.ffi.cast("int64_t *", m.ctypes.data),
                           c.ffi.cast("int64_t *", f.ctypes.data), c.ffi.cast("int64_t *", first.ctypes.data),
                           c.ffi.cast("double *", faults.ctypes.data))
    check(rc, "alloc_sweep")
    return m.reshape(n, iters), f.reshape(n, iters), first, faults


def alloc_sweep(sizes: Sequence[int] = SIZES, n: int | None = None, *, fixed_threshold: int | None = None,
                timeout: float = 60.0) -> dict:
    """Time ``malloc(size)`` and ``free()`` ``n`` times per size, in a fresh helper process.

    Sizes run in the order given. ``fixed_threshold`` (bytes) calls ``mallopt(M_MMAP_THRESHOLD, ...)`` first, which
    fixes glibc's mmap threshold (by default it starts at 128 KiB and rises when an mmap'ed block is freed).
    The loop runs in a new thread of the helper, so it starts with a fresh, empty arena. Returns
    ``{"malloc": {size: Result}, "free": {size: Result}, "faults": {size: minor faults per iteration},
    "first_ns": {size: the very first malloc() of that size, before warm-up}}``.
    """
    sizes = [int(s) for s in sizes]
    if not sizes or any(s < 1 or s > 64 << 20 for s in sizes):
        raise ValueError("sizes must be between 1 byte and 64 MiB")
    iters = count(n if n is not None else scaled(2000, smoke=200, full=20000))
    if fixed_threshold is not None and not 0 < fixed_threshold <= 32 << 20:
        raise ValueError("fixed_threshold must be 1 byte .. 32 MiB")
    _lib()
    m, f, first, faults = runner.run(_sweep_helper, timeout=timeout, sizes=sizes, warmup=max(10, iters // 20), iters=iters,
                              threshold=int(fixed_threshold or 0))
    label = f"mmap threshold fixed at {fixed_threshold} B" if fixed_threshold else "glibc default (dynamic) threshold"
    method = {"clock": "CLOCK_MONOTONIC", "iterations": iters, "threshold": label,
              "sample": "one malloc() (or free()); one byte written in between, untimed"}
    out: dict = {"malloc": {}, "free": {}, "faults": {}, "first_ns": {}}
    for k, s in enumerate(sizes):
        out["malloc"][s] = Result.from_samples(f"malloc({s})", m[k], method=method)
        out["free"][s] = Result.from_samples(f"free({s})", f[k], method=method)
        out["faults"][s] = float(faults[k])
        out["first_ns"][s] = int(first[k])
    return out


def _untouched_helper(nbytes: int) -> tuple:
    c = _lib()
    import os
    page = os.sysconf("SC_PAGESIZE")
    npages = nbytes // page
    first = np.empty(npages, dtype=np.int64)
    second = np.empty(npages, dtype=np.int64)
    r = c.ffi.new("struct untouched_report *")
    check(c.lib.alloc_untouched(nbytes, r, c.ffi.cast("int64_t *", first.ctypes.data),
                                c.ffi.cast("int64_t *", second.ctypes.data)), "alloc_untouched")
    snap = lambda s: {"VmSize_kib": s.vmsize_kb, "VmRSS_kib": s.vmrss_kb}
    rep = {"before": snap(r.before), "after_malloc": snap(r.after_malloc), "after_touch": snap(r.after_touch),
           "malloc_ns": r.malloc_ns, "minflt_malloc": r.minflt_malloc, "minflt_touch": r.minflt_touch,
           "pages": npages, "page_size": page}
    return rep, first, second


def alloc_untouched(mib: float | None = None, *, timeout: float = 60.0) -> dict:
    """malloc ``mib`` MiB, then write one byte per page twice; in a helper process.

    Returns VmSize/VmRSS (KiB) ``before``, ``after_malloc`` and ``after_touch``, ``malloc_ns``, minor faults taken by
    malloc and by the first touch, and two :class:`Result`: ``first_touch`` and ``second_touch`` (ns per page).
    Default size: 64 MiB (16 at the smoke budget), refused above a quarter of MemAvailable.
    """
    size = memory_bytes(mib if mib is not None else scaled(64, smoke=16, full=256), fraction=0.25)
    if size < 1 << 20:
        raise ValueError("use at least 1 MiB, well above the mmap threshold")
    _lib()
    rep, first, second = runner.run(_untouched_helper, timeout=timeout, nbytes=size)
    method = {"clock": "CLOCK_MONOTONIC", "bytes": size, "pages": rep["pages"],
              "sample": "one 1-byte write to one page of a fresh malloc() block"}
    rep["first_touch"] = Result.from_samples("first write to a page", first, method=method)
    rep["second_touch"] = Result.from_samples("second write to the same page", second, method=method)
    rep["bytes"] = size
    return rep
