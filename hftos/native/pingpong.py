"""Ping-pong round trips over pipes, FIFOs and eventfds (``pingpong.c``, chapters 1.4 and 1.5).

Both ends pinned to one CPU: half a round trip bounds the context-switch cost. Pinned to two CPUs:
the round trip is dominated by cross-CPU wake-up. The C code forks or starts a thread and pins,
so it always runs in a helper process (:mod:`hftos.native.runner`).
"""

from __future__ import annotations

import shutil
import tempfile

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import CPUPair, check, count, cpu_pair

_CDEF = """
int pingpong(int transport, int threads, const char *fifo_dir, int cpu_a, int cpu_b,
             int warmup, int iters, int64_t *rtt_ns);
"""

_TRANSPORTS = {"pipe": 0, "eventfd": 1, "fifo": 2}
_MODES = {"process": 0, "thread": 1}


def _lib() -> build.Compiled:
    return build.load("pingpong", _CDEF)


def _in_helper(transport: str, threads: int, cpu_a: int, cpu_b: int, warmup: int, iters: int) -> np.ndarray:
    """Runs inside the helper process: one C call, FIFOs in a private per-run directory."""
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    fifo_dir = tempfile.mkdtemp(prefix=runner.run_prefix()) if transport == "fifo" else None
    try:
        rc = c.lib.pingpong(_TRANSPORTS[transport], threads, fifo_dir.encode() if fifo_dir else c.ffi.NULL,
                            cpu_a, cpu_b, warmup, iters, c.ffi.cast("int64_t *", out.ctypes.data))
    finally:
        if fifo_dir:
            shutil.rmtree(fifo_dir, ignore_errors=True)
    check(rc, f"{transport} ping-pong")
    return out


def _pingpong(transport: str, n: int | None, mode: str, cpus: CPUPair | None, timeout: float) -> Result:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    iters = count(n if n is not None else scaled(5000, smoke=200))
    cpu_a, cpu_b = cpu_pair(cpus, cross=False)
    warmup = max(10, iters // 10)
    _lib()  # compile here, so the helper's time limit covers only the experiment
    samples = runner.run(_in_helper, timeout=timeout, transport=transport, threads=_MODES[mode],
                         cpu_a=cpu_a, cpu_b=cpu_b, warmup=warmup, iters=iters)
    pinned = [None if c < 0 else c for c in (cpu_a, cpu_b)]
    same = pinned[0] is not None and pinned[0] == pinned[1]
    where = (f"CPU {pinned[0]}" if same
             else "CPUs " + ",".join("any" if c is None else str(c) for c in pinned))
    plural = "processes" if mode == "process" else "threads"
    return Result.from_samples(f"{transport} round trip, {plural} on {where}", samples, method={
        "clock": "CLOCK_MONOTONIC", "transport": transport, "mode": mode, "cpus": pinned,
        "same_cpu": same, "iterations": iters, "warmup": warmup,
        "sample": "one round trip A->B->A" + ("; half of it bounds one context switch + write + read"
                                              if same else "; includes cross-CPU wake-up")})


def pipe_pingpong(n: int | None = None, *, mode: str = "process", cpus: CPUPair | None = None,
                  timeout: float = 60.0) -> Result:
    """Round-trip time (ns) of a byte over two pipes (one per direction, erratum E43).

    ``mode``: ``"process"`` (side B is a forked child) or ``"thread"``. ``cpus=(a, b)`` pins each
    side (``None`` leaves one unpinned); default: both on the first CPU of the affinity mask.
    """
    return _pingpong("pipe", n, mode, cpus, timeout)


def fifo_pingpong(n: int | None = None, *, cpus: CPUPair | None = None, timeout: float = 60.0) -> Result:
    """Round-trip time (ns) over two FIFOs (mode 0600, private directory, unlinked once open), between processes."""
    return _pingpong("fifo", n, "process", cpus, timeout)


def eventfd_pingpong(n: int | None = None, *, mode: str = "process", cpus: CPUPair | None = None,
                     timeout: float = 60.0) -> Result:
    """Round-trip time (ns) of an eventfd hand-off (one eventfd per direction)."""
    return _pingpong("eventfd", n, mode, cpus, timeout)
