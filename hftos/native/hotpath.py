"""A hot loop with and without pre-faulting, with malloc or a pool (``hotpath.c``, chapter 2.6).

Runs in a helper process (:mod:`hftos.native.runner`): it maps and may lock memory, and its loop thread needs a fresh
malloc arena.
"""

from __future__ import annotations

import numpy as np

from hftos import host
from hftos.measure import Result, scaled

from . import build, runner
from .checks import check, count, mem_available

_CDEF = """
struct hot_report {
    long faults_setup, faults_stack, faults_loop;
    int64_t setup_ns;
    int locked;
};
int hotpath_run(int prefault, int pool, int lock, int iters, int live, uint64_t seed, int64_t *lat_ns,
                struct hot_report *r);
"""

MSG_BYTES = 64
SLOT_BYTES = 512


def _lib() -> build.Compiled:
    return build.load("hotpath", _CDEF)


def _helper(prefault: bool, pool: bool, lock: bool, iters: int, live: int, seed: int) -> tuple:
    c = _lib()
    lat = np.empty(iters, dtype=np.int64)
    r = c.ffi.new("struct hot_report *")
    check(c.lib.hotpath_run(int(prefault), int(pool), int(lock), iters, live, seed,
                            c.ffi.cast("int64_t *", lat.ctypes.data), r), "hotpath_run")
    return lat, {"faults_setup": r.faults_setup, "faults_stack": r.faults_stack, "faults_loop": r.faults_loop,
                 "setup_ns": r.setup_ns, "locked": bool(r.locked)}


def hotpath_run(n: int | None = None, *, prefault: bool = False, pool: bool = False, lock: bool = False,
                live: int = 4096, seed: int = 1, timeout: float = 60.0) -> tuple[Result, dict]:
    """Run ``n`` messages through the toy handler of ``hotpath.c`` (from the first message, no warm-up).

    Returns the per-message latency :class:`Result` and a dict of minor-fault counts (``faults_setup``,
    ``faults_stack``, ``faults_loop``), ``setup_ns`` and ``locked``. ``lock=True`` needs
    ``host.can("mlock", mib=...)`` for the journal plus the pool and raises :class:`PermissionError` with the reason
    otherwise. The journal takes ``n * 64`` bytes (12.5 MiB at the default 200,000 messages).
    """
    iters = count(n if n is not None else scaled(200_000, smoke=20_000, full=1_000_000))
    live = count(live, "live")
    if iters > 4_000_000:
        raise ValueError("n must be at most 4,000,000 (256 MiB of journal)")
    need = iters * MSG_BYTES + (live + 1) * SLOT_BYTES * int(pool) + iters * 8
    if need > mem_available() // 4:
        raise ValueError(f"{need / 2**20:.0f} MiB is more than a quarter of MemAvailable")
    if lock:
        allowed = host.can("mlock", mib=need / 2**20 + 1)
        if not allowed:
            raise PermissionError(allowed.reason)
    _lib()
    lat, rep = runner.run(_helper, timeout=timeout, prefault=prefault, pool=pool, lock=lock, iters=iters,
                          live=live, seed=seed)
    parts = ["pre-faulted" if prefault else "lazy journal", "pool" if pool else "malloc"] + (["mlock"] if lock else [])
    res = Result.from_samples(
        ", ".join(parts), lat,
        method={"clock": "CLOCK_MONOTONIC", "iterations": iters, "warmup": 0, "live_objects": live,
                "prefault": prefault, "pool": pool, "mlock": lock, "message_bytes": MSG_BYTES,
                "sample": "one message: get object, fill it, append 64 B to the journal, release an old object"})
    return res, rep
