"""Ping-pong round trips over pipes, FIFOs, eventfds and futexes (``pingpong.c``, chapters 1.4 and 1.5).

Both ends pinned to one CPU: half a round trip bounds the context-switch cost. Pinned to two CPUs:
the round trip is dominated by cross-CPU wake-up. ``working_set_kib`` makes each side read that much
of its own buffer between hand-offs (lmbench ``lat_ctx -s``), so the indirect cost of a switch (cache
refill) shows; ``method["touch_ns"]`` is the time to read it with warm caches, to subtract.
``method["ctxt_switches"]`` holds the context-switch counters of side A (from
``/proc/<pid>/task/<tid>/status``) and, for processes, of side B (``getrusage(RUSAGE_CHILDREN)``).

The C code forks or starts a thread and pins, so it always runs in a helper process
(:mod:`hftos.native.runner`).
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
from typing import Any

import numpy as np

from hftos import proc
from hftos.measure import Result, scaled

from . import build, runner
from .checks import CPUPair, check, count, cpu_pair

_CDEF = """
int pingpong(int transport, int threads, const char *fifo_dir, int cpu_a, int cpu_b,
             int warmup, int iters, long touch_bytes, int64_t *rtt_ns, int64_t *touch_ns);
"""

_TRANSPORTS = {"pipe": 0, "eventfd": 1, "fifo": 2, "futex": 3}

#: Largest working set per side, KiB (the C side allows 256 MiB).
MAX_WORKING_SET_KIB = 65536
_MODES = {"process": 0, "thread": 1}


def _lib() -> build.Compiled:
    return build.load("pingpong", _CDEF)


def _in_helper(transport: str, threads: int, cpu_a: int, cpu_b: int, warmup: int, iters: int,
               touch_bytes: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Runs inside the helper process: one C call, FIFOs in a private per-run directory.

    Returns the round trips and the extras: warm touch time and context-switch counter deltas.
    """
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    touch = c.ffi.new("int64_t *")
    fifo_dir = tempfile.mkdtemp(prefix=runner.run_prefix()) if transport == "fifo" else None
    me = os.getpid()  # side A is this process's main thread, whose tid is the pid
    a0, kids0 = proc.context_switches(me, tid=me), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        rc = c.lib.pingpong(_TRANSPORTS[transport], threads, fifo_dir.encode() if fifo_dir else c.ffi.NULL,
                            cpu_a, cpu_b, warmup, iters, touch_bytes, c.ffi.cast("int64_t *", out.ctypes.data),
                            touch)
    finally:
        if fifo_dir:
            shutil.rmtree(fifo_dir, ignore_errors=True)
    check(rc, f"{transport} ping-pong")
    a1, kids1 = proc.context_switches(me, tid=me), resource.getrusage(resource.RUSAGE_CHILDREN)
    switches = {"side_a": {"voluntary": a1[0] - a0[0], "nonvoluntary": a1[1] - a0[1]}}
    if not threads:
        switches["side_b"] = {"voluntary": kids1.ru_nvcsw - kids0.ru_nvcsw,
                              "nonvoluntary": kids1.ru_nivcsw - kids0.ru_nivcsw}
    return out, {"touch_ns": int(touch[0]), "ctxt_switches": switches}


def _pingpong(transport: str, n: int | None, mode: str, cpus: CPUPair | None, timeout: float,
              working_set_kib: int = 0) -> Result:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if (isinstance(working_set_kib, bool) or not isinstance(working_set_kib, int)
            or not 0 <= working_set_kib <= MAX_WORKING_SET_KIB):
        raise ValueError(f"working_set_kib must be an int from 0 to {MAX_WORKING_SET_KIB}, got {working_set_kib!r}")
    iters = count(n if n is not None else scaled(5000, smoke=200))
    cpu_a, cpu_b = cpu_pair(cpus, cross=False)
    warmup = max(10, iters // 10)
    _lib()  # compile here, so the helper's time limit covers only the experiment
    samples, extra = runner.run(_in_helper, timeout=timeout, transport=transport, threads=_MODES[mode],
                                cpu_a=cpu_a, cpu_b=cpu_b, warmup=warmup, iters=iters,
                                touch_bytes=working_set_kib * 1024)
    pinned = [None if c < 0 else c for c in (cpu_a, cpu_b)]
    same = pinned[0] is not None and pinned[0] == pinned[1]
    where = (f"CPU {pinned[0]}" if same
             else "CPUs " + ",".join("any" if c is None else str(c) for c in pinned))
    plural = "processes" if mode == "process" else "threads"
    ws = f", {working_set_kib} KiB touched" if working_set_kib else ""
    return Result.from_samples(f"{transport} round trip, {plural} on {where}{ws}", samples, method={
        "clock": "CLOCK_MONOTONIC", "transport": transport, "mode": mode, "cpus": pinned,
        "same_cpu": same, "iterations": iters, "warmup": warmup,
        "working_set_kib": working_set_kib, "touch_ns": extra["touch_ns"],
        "ctxt_switches": extra["ctxt_switches"],
        "sample": "one round trip A->B->A" + ("; half of it bounds one context switch + write + read"
                                              if same else "; includes cross-CPU wake-up")
                  + ("; includes each side reading its working set once (touch_ns each when warm)"
                     if working_set_kib else "")})


def pipe_pingpong(n: int | None = None, *, mode: str = "process", cpus: CPUPair | None = None,
                  timeout: float = 60.0, working_set_kib: int = 0) -> Result:
    """Round-trip time (ns) of a byte over two pipes (one per direction, erratum E43).

    ``mode``: ``"process"`` (side B is a forked child) or ``"thread"``. ``cpus=(a, b)`` pins each
    side (``None`` leaves one unpinned); default: both on the first CPU of the affinity mask.
    ``working_set_kib``: each side reads that much of its own buffer per hand-off (see the module doc).
    """
    return _pingpong("pipe", n, mode, cpus, timeout, working_set_kib)


def fifo_pingpong(n: int | None = None, *, cpus: CPUPair | None = None, timeout: float = 60.0) -> Result:
    """Round-trip time (ns) over two FIFOs (mode 0600, private directory, unlinked once open), between processes."""
    return _pingpong("fifo", n, "process", cpus, timeout)


def eventfd_pingpong(n: int | None = None, *, mode: str = "process", cpus: CPUPair | None = None,
                     timeout: float = 60.0, working_set_kib: int = 0) -> Result:
    """Round-trip time (ns) of an eventfd hand-off (one eventfd per direction)."""
    return _pingpong("eventfd", n, mode, cpus, timeout, working_set_kib)


def futex_pingpong(n: int | None = None, *, mode: str = "process", cpus: CPUPair | None = None,
                   timeout: float = 60.0, working_set_kib: int = 0) -> Result:
    """Round-trip time (ns) of a futex hand-off: one 32-bit word per direction in shared memory.

    A side stores a new value and calls ``FUTEX_WAKE``; the other sleeps in ``FUTEX_WAIT`` while the
    word is unchanged (``FUTEX_PRIVATE_FLAG`` between threads). No file descriptor is involved. A wait
    gives up after 5 s without news (the other side died) with ``ETIMEDOUT``.
    """
    return _pingpong("futex", n, mode, cpus, timeout, working_set_kib)
