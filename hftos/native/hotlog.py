"""Logging from a hot loop (``hotlog.c``, course section 3.6): synchronous ``write`` vs formatting vs a ring.

:func:`hotlog_compare` runs the same hot loop (fixed work + one log event per iteration) with each
logging mode and returns the per-iteration latencies. It pins threads and runs a logger thread, so
it runs in a helper process (:mod:`hftos.native.runner`) with a timeout. Log files live in a
private temporary directory named with the run's prefix, preallocated with ``posix_fallocate``,
checked, and removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Sequence

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import NativeError, allowed_cpus, check, count

_CDEF = """
int hotlog_run(int mode, int fd, long warmup, long iters, int work_steps, int cpu_hot, int cpu_logger,
               int64_t *lat_ns, long *drops, long *batches);
"""

#: Mode name -> (C constant, label used in tables and plots).
MODES = {
    "none": (0, "no logging"),
    "write": (1, "write() per event"),
    "format": (2, "snprintf + write()"),
    "fsync": (3, "write() + fdatasync/1024"),
    "ring": (4, "SPSC ring + logger thread"),
}
RECORD = 32


def _lib() -> build.Compiled:
    return build.load("hotlog", _CDEF)


def _in_helper(modes: list[str], warmup: int, iters: int, work_steps: int, cpu_hot: int, cpu_logger: int) -> dict:
    """Runs inside the helper: one preallocated file per mode in a private directory, checked, removed."""
    c = _lib()
    base = tempfile.mkdtemp(prefix=f"{runner.run_prefix()}-hotlog-")
    out: dict = {}
    try:
        for mode in modes:
            path = os.path.join(base, f"{mode}.log")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                if mode != "none":
                    os.posix_fallocate(fd, 0, (warmup + iters) * (96 if mode == "format" else RECORD))
                lat = np.empty(iters, dtype=np.int64)
                drops, batches = c.ffi.new("long *"), c.ffi.new("long *")
                check(c.lib.hotlog_run(MODES[mode][0], fd, warmup, iters, work_steps, cpu_hot, cpu_logger,
                                       c.ffi.cast("int64_t *", lat.ctypes.data), drops, batches), f"hotlog {mode}")
                written = os.lseek(fd, 0, os.SEEK_CUR)
            finally:
                os.close(fd)
            n = warmup + iters
            if mode in ("write", "fsync", "ring"):
                expect = (n - drops[0]) * RECORD
                if written != expect:
                    raise NativeError(5, f"{mode}: {written} bytes logged, expected {expect}")
                seq = np.fromfile(path, dtype=np.uint64, count=written // 8)[1::4]
                if seq.size and not np.all(np.diff(seq.astype(np.int64)) > 0):
                    raise NativeError(5, f"{mode}: records out of order in the log")
            out[mode] = {"lat": lat, "drops": int(drops[0]), "batches": int(batches[0]), "bytes": written}
            os.unlink(path)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return out


def hotlog_compare(iterations: int | None = None, *, modes: Sequence[str] = ("none", "write", "format", "ring"),
                   work_steps: int = 64, cpus: tuple[int, int] | None = None, timeout: float = 120.0) -> dict:
    """Per-iteration latency of a hot loop that logs one event per iteration, for each logging mode.

    ``modes`` from :data:`MODES`. ``cpus=(hot, logger)``; by default the second and first allowed CPUs
    (the logger on the lower-numbered "housekeeping" CPU), or both on the one CPU when the affinity
    mask has only one (``one_cpu`` is then True: the logger thread competes with the hot loop for the
    CPU). Returns ``{"results": {label: Result}, "drops", "batches", "bytes", "cpus", "one_cpu",
    "iterations"}``.
    """
    n = count(iterations if iterations is not None else scaled(200_000, smoke=5_000, full=1_000_000), "iterations")
    if n > 2_000_000:
        raise ValueError("at most 2,000,000 iterations (the log files stay under 256 MiB)")
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"modes must be from {', '.join(MODES)}, got {list(modes)!r}")
    if not isinstance(work_steps, int) or not 0 <= work_steps <= 10_000:
        raise ValueError(f"work_steps must be 0..10000, got {work_steps!r}")
    mask = allowed_cpus()
    if cpus is None:
        hot, log = (mask[1], mask[0]) if len(mask) >= 2 else (mask[0], mask[0])
    else:
        if len(cpus) != 2 or any(c not in mask for c in cpus):
            raise ValueError(f"cpus must be two CPUs from this process's affinity mask {mask}, got {cpus!r}")
        hot, log = cpus
    warmup = min(n, 2_000)
    raw = runner.run(_in_helper, timeout=timeout, modes=list(modes), warmup=warmup, iters=n,
                     work_steps=work_steps, cpu_hot=hot, cpu_logger=log)
    results = {}
    for mode in modes:
        label = MODES[mode][1]
        results[label] = Result.from_samples(label, raw[mode]["lat"].astype(float), method={
            "clock": "CLOCK_MONOTONIC", "iterations": n, "warmup": warmup, "work_steps": work_steps,
            "cpus": {"hot": hot, "logger": log}, "sample": "one hot-loop iteration: work + logging one event",
            "preallocated": mode != "none", "drops": raw[mode]["drops"]})
    return {"results": results, "drops": {MODES[m][1]: raw[m]["drops"] for m in modes},
            "batches": {MODES[m][1]: raw[m]["batches"] for m in modes},
            "bytes": {MODES[m][1]: raw[m]["bytes"] for m in modes},
            "cpus": (hot, log), "one_cpu": hot == log, "iterations": n}
