"""Shared-memory SPSC ring between two processes (``ipc.c``, chapters 1.5 and 4).

Both ends busy-poll, so they must sit on two different CPUs: on one CPU a spinning side hands
over only when the scheduler preempts it (milliseconds). The experiments fork and spin, so
they run in a helper process; the segment is named with the run's prefix and removed however
the run ends.
"""

from __future__ import annotations

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import CPUPair, check, count, cpu_pair

_CDEF = """
struct spsc_layout {
    long cache_line, slots, capacity, sizeof_segment, sizeof_ring;
    long off_a_to_b, off_b_to_a, off_head, off_tail_cache, off_tail, off_head_cache, off_slots;
    int index_lock_free, flag_lock_free;
};
int spsc_pingpong(const char *name, int cpu_a, int cpu_b, int warmup, long iters, int64_t *rtt_ns,
                  int timeout_ms);
int spsc_throughput(const char *name, int cpu_a, int cpu_b, long messages, int64_t *elapsed_ns,
                    int timeout_ms);
void spsc_layout(struct spsc_layout *out);
"""


def _lib() -> build.Compiled:
    return build.load("ipc", _CDEF)


def _two_cpus(cpus: CPUPair | None) -> tuple[int, int]:
    """Two different, pinned CPUs (both ends busy-poll)."""
    a, b = cpu_pair(cpus, cross=True)
    if a < 0 or b < 0 or a == b:
        raise ValueError(f"the SPSC ring's two ends busy-poll and must be pinned to two different CPUs, "
                         f"got cpus={cpus!r}")
    return a, b


def _c_timeout_ms(timeout: float) -> int:
    """The C spin loops give up a little before the runner would kill the helper."""
    return max(100, int(timeout * 1000 * 0.8))


def _in_helper(experiment: str, cpu_a: int, cpu_b: int, warmup: int, iters: int, timeout_ms: int) -> np.ndarray:
    """Runs inside the helper process; the segment name carries the run's prefix."""
    c = _lib()
    name = f"/{runner.run_prefix()}-spsc".encode()
    if experiment == "pingpong":
        out = np.empty(iters, dtype=np.int64)
        rc = c.lib.spsc_pingpong(name, cpu_a, cpu_b, warmup, iters, c.ffi.cast("int64_t *", out.ctypes.data),
                                 timeout_ms)
    else:
        out = np.empty(1, dtype=np.int64)
        rc = c.lib.spsc_throughput(name, cpu_a, cpu_b, iters, c.ffi.cast("int64_t *", out.ctypes.data), timeout_ms)
    check(rc, f"spsc {experiment}")
    return out


def spsc_pingpong(n: int | None = None, *, cpus: CPUPair | None = None, timeout: float = 60.0) -> Result:
    """Round-trip time (ns) of a message over two SPSC rings between two processes on two CPUs.

    ``cpus=(a, b)``: default the first two CPUs of the affinity mask; raises
    :class:`~hftos.native.NotEnoughCPUs` if this process may use only one CPU.
    """
    a, b = _two_cpus(cpus)
    iters = count(n if n is not None else scaled(20000, smoke=1000))
    warmup = max(100, iters // 10)
    _lib()
    samples = runner.run(_in_helper, timeout=timeout, experiment="pingpong", cpu_a=a, cpu_b=b, warmup=warmup,
                         iters=iters, timeout_ms=_c_timeout_ms(timeout))
    return Result.from_samples(f"SPSC ring round trip, CPUs {a},{b}", samples, method={
        "clock": "CLOCK_MONOTONIC", "cpus": [a, b], "iterations": iters, "warmup": warmup,
        "sample": "one round trip A->B->A over two rings, both ends busy-polling with pause",
        "ring_slots": spsc_layout()["slots"]})


def spsc_throughput(messages: int | None = None, *, cpus: CPUPair | None = None, timeout: float = 60.0) -> dict:
    """One-way throughput of one SPSC ring between two processes on two CPUs.

    Streams ``messages`` 64-bit values; the consumer checks that it receives 0, 1, 2, ... in
    order (a mismatch raises :class:`~hftos.native.NativeError` with ``EPROTO``). Returns
    ``mops`` (million messages per second), ``messages``, ``elapsed_ns``, ``ns_per_message``
    and ``cpus``.
    """
    a, b = _two_cpus(cpus)
    m = count(messages if messages is not None else scaled(5_000_000, smoke=200_000), "messages")
    _lib()
    elapsed = int(runner.run(_in_helper, timeout=timeout, experiment="throughput", cpu_a=a, cpu_b=b, warmup=0,
                             iters=m, timeout_ms=_c_timeout_ms(timeout))[0])
    return {"mops": m / elapsed * 1e3, "messages": m, "elapsed_ns": elapsed, "ns_per_message": elapsed / m,
            "cpus": [a, b], "clock": "CLOCK_MONOTONIC"}


def spsc_layout() -> dict:
    """The ring's memory layout as compiled: offsets (bytes), sizes, capacity and lock-freedom.

    Keys: ``cache_line``, ``slots``, ``capacity`` (= ``slots - 1``), ``sizeof_segment``,
    ``sizeof_ring``, ``off_a_to_b``/``off_b_to_a`` (rings within the segment),
    ``off_head``/``off_tail_cache`` (producer's line), ``off_tail``/``off_head_cache`` (consumer's
    line), ``off_slots``, ``index_lock_free``/``flag_lock_free`` (``atomic_is_lock_free``).
    """
    c = _lib()
    out = c.ffi.new("struct spsc_layout *")
    c.lib.spsc_layout(out)
    d = {field: getattr(out, field) for field, _ in c.ffi.typeof("struct spsc_layout").fields}
    d["index_lock_free"] = bool(d["index_lock_free"])
    d["flag_lock_free"] = bool(d["flag_lock_free"])
    return d
