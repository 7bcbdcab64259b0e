"""POSIX semaphores, eventfd semaphore mode and a futex lock (``semaphores.c``, chapter 4.4).

- :func:`sem_pingpong`: round trip between two processes over two process-shared semaphores
  (unnamed in a shared mapping, or named with ``sem_open``).
- :func:`lock_cost`: the cost of a lock: a minimal futex lock (shown in the C file), ``pthread_mutex_t``
  or a semaphore used as a lock; uncontended (one thread, ns per lock+unlock pair) or contended
  (two threads, ns per acquisition, with the number of ``FUTEX_WAIT``/``FUTEX_WAKE`` calls).
- :func:`eventfd_modes`: what ``read`` returns from an eventfd with and without ``EFD_SEMAPHORE``.
- :func:`sem_named_view`: a named semaphore's file in ``/dev/shm`` while it exists.

Semaphore names carry the pid (``/hftos-<pid>-...``) and are unlinked as soon as they are open.
Functions that fork, pin or start threads run in a helper process (:mod:`hftos.native.runner`).
"""

from __future__ import annotations

import errno as _errno
import os
import secrets
from typing import Any

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import CPUPair, check, count, cpu_pair

_CDEF = """
struct sem_view {
    long sizeof_sem_t;
    int file_seen, mode;
    long file_size;
    int value_initial, trywait_ok, trywait_errno, value_after;
    int exists_after_unlink;
};
int lock_cost(int kind, int contended, int spawn_first, int cpu_a, int cpu_b, int warmup, int iters, int batch,
              int work, int64_t *samples, long *stats_out);
int sem_pingpong(int named, const char *name, int cpu_a, int cpu_b, int warmup, int iters, int64_t *rtt_ns);
int sem_named_view(const char *name, int initial, struct sem_view *v);
int eventfd_modes(int semaphore, int posts, uint64_t *reads, int max_reads);
"""

#: Lock kinds accepted by :func:`lock_cost`.
LOCK_KINDS = {"futex": 0, "pthread": 1, "semaphore": 2}


def _lib() -> build.Compiled:
    return build.load("semaphores", _CDEF)


def _where(pinned: list[int | None]) -> tuple[bool, str]:
    same = pinned[0] is not None and pinned[0] == pinned[1]
    return same, (f"CPU {pinned[0]}" if same else "CPUs " + ",".join("any" if c is None else str(c) for c in pinned))


# ------------------------------------------------------------------------------- ping-pong

def _pingpong_in_helper(named: bool, cpu_a: int, cpu_b: int, warmup: int, iters: int) -> np.ndarray:
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    name = f"/{runner.run_prefix()}-{os.getpid()}-sem".encode()
    check(c.lib.sem_pingpong(int(named), name, cpu_a, cpu_b, warmup, iters, c.ffi.cast("int64_t *", out.ctypes.data)),
          "semaphore ping-pong")
    return out


def sem_pingpong(n: int | None = None, *, cpus: CPUPair | None = None, named: bool = False,
                 timeout: float = 60.0) -> Result:
    """Round-trip time (ns) over two process-shared POSIX semaphores between two processes.

    ``named=False``: ``sem_init(&s, 1, 0)`` in a ``MAP_SHARED`` mapping; ``named=True``: ``sem_open``.
    ``cpus=(a, b)`` pins each side (``None`` leaves one unpinned); default: both on the first CPU
    of the affinity mask.
    """
    iters = count(n if n is not None else scaled(5000, smoke=200))
    cpu_a, cpu_b = cpu_pair(cpus, cross=False)
    warmup = max(10, iters // 10)
    _lib()
    samples = runner.run(_pingpong_in_helper, timeout=timeout, named=bool(named), cpu_a=cpu_a, cpu_b=cpu_b,
                         warmup=warmup, iters=iters)
    pinned = [None if c < 0 else c for c in (cpu_a, cpu_b)]
    same, where = _where(pinned)
    kind = "named" if named else "unnamed, pshared"
    return Result.from_samples(f"POSIX semaphore ({kind}) round trip, processes on {where}", samples, method={
        "clock": "CLOCK_MONOTONIC", "transport": "posix-sem", "named": bool(named), "mode": "process",
        "cpus": pinned, "same_cpu": same, "iterations": iters, "warmup": warmup,
        "sample": "one round trip A->B->A: sem_post + sem_timedwait each way"})


# ------------------------------------------------------------------------------- lock cost

def _lock_in_helper(kind: int, contended: bool, cpu_a: int, cpu_b: int, warmup: int, iters: int, batch: int,
                    work: int, spawn_first: bool = True) -> tuple[np.ndarray, list[int]]:
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    stats = c.ffi.new("long[3]")
    check(c.lib.lock_cost(kind, int(contended), int(spawn_first), cpu_a, cpu_b, warmup, iters, batch, work,
                          c.ffi.cast("int64_t *", out.ctypes.data), stats), "lock cost")
    return out, [stats[0], stats[1], stats[2]]


def lock_cost(kind: str = "futex", *, contended: bool = False, n: int | None = None,
              cpus: CPUPair | None = None, batch: int = 1000, work: int = 50, threaded: bool = True,
              timeout: float = 60.0) -> Result:
    """Cost of a lock (ns): ``kind`` is ``"futex"`` (the C file's minimal lock), ``"pthread"`` or ``"semaphore"``.

    ``contended=False``: one thread; each sample is the mean of ``batch`` lock+unlock pairs. With
    ``threaded=True`` (the default) the helper creates and joins a thread first, as any real program
    that needs a lock has done; ``threaded=False`` shows glibc's single-threaded shortcut (until a
    second thread has existed, ``pthread_mutex_lock``/``unlock`` of a private mutex are plain stores,
    no atomic instruction: ``lll_mutex_lock_optimized`` in glibc's ``nptl/pthread_mutex_lock.c``).
    ``contended=True``: two threads (pinned to ``cpus``, default both on the first allowed CPU) each
    take the lock ``n`` times, spinning ``work`` loop iterations inside and outside the critical
    section; each sample is one acquisition by thread A (from calling lock to holding it).
    ``method`` holds ``futex_waits``/``futex_wakes`` (futex kind only) and ``exclusive`` (the shared
    counter came out exact: mutual exclusion held).
    """
    if kind not in LOCK_KINDS:
        raise ValueError(f"kind must be one of {', '.join(LOCK_KINDS)}, got {kind!r}")
    iters = count(n if n is not None else scaled(2000 if not contended else 20000, smoke=100 if not contended else 1000))
    batch = count(batch, "batch")
    if isinstance(work, bool) or not isinstance(work, int) or work < 0:
        raise ValueError(f"work must be an int >= 0, got {work!r}")
    cpu_a, cpu_b = cpu_pair(cpus, cross=False)
    warmup = max(10, iters // 10)
    _lib()
    samples, stats = runner.run(_lock_in_helper, timeout=timeout, kind=LOCK_KINDS[kind], contended=contended,
                                cpu_a=cpu_a, cpu_b=cpu_b, warmup=warmup, iters=iters,
                                batch=1 if contended else batch, work=work, spawn_first=bool(threaded))
    pinned = [None if c < 0 else c for c in (cpu_a, cpu_b)]
    same, where = _where(pinned)
    label = {"futex": "futex lock", "pthread": "pthread_mutex", "semaphore": "sem_wait/sem_post"}[kind]
    name = (f"{label}, contended, threads on {where}" if contended
            else f"{label}, uncontended{'' if threaded else ', single-threaded process'}, "
                 f"CPU {pinned[0] if pinned[0] is not None else 'any'}")
    method: dict[str, Any] = {
        "clock": "CLOCK_MONOTONIC", "kind": kind, "contended": contended, "iterations": iters, "warmup": warmup,
        "exclusive": bool(stats[2]),
        "sample": ("thread A's time from lock() to holding the lock; B competes" if contended
                   else f"mean of {batch} lock+unlock pairs in one thread")}
    if contended:
        method.update(cpus=pinned, same_cpu=same, work=work)
    else:
        method.update(cpus=pinned[:1], batch=batch, threaded=bool(threaded))
    if kind == "futex":
        method.update(futex_waits=stats[0], futex_wakes=stats[1])
    return Result.from_samples(name, samples, method=method)


# ------------------------------------------------------------------------------- demos

def eventfd_modes(posts: int = 3) -> dict[str, list[int]]:
    """Write ``posts`` increments of 1 to an eventfd, then read until ``EAGAIN``, in both modes.

    Returns ``{"counter": [...], "semaphore": [...]}``: the values each successful ``read`` returned
    (counter mode: one read of ``posts``; ``EFD_SEMAPHORE``: ``posts`` reads of 1).
    """
    posts = count(posts, "posts")
    if posts > 1000:
        raise ValueError("posts must be at most 1000")
    c = _lib()
    out: dict[str, list[int]] = {}
    for label, sem in (("counter", 0), ("semaphore", 1)):
        buf = c.ffi.new("uint64_t[]", posts + 1)
        got = c.lib.eventfd_modes(sem, posts, buf, posts + 1)
        check(got, "eventfd")
        out[label] = [int(buf[k]) for k in range(got)]
    return out


def sem_named_view(initial: int = 3) -> dict[str, Any]:
    """Create a named semaphore with value ``initial``, look at its file in ``/dev/shm``, drain it, unlink it.

    Returns ``name``, ``path``, ``file_seen``, ``mode``, ``file_size`` (= ``sizeof_sem_t``, 32 bytes
    on x86-64 glibc), ``value_initial``, ``trywait_ok`` (successful ``sem_trywait`` calls),
    ``trywait_error`` (``EAGAIN`` at zero), ``value_after``, ``exists_after_unlink``.
    """
    if isinstance(initial, bool) or not isinstance(initial, int) or not 0 <= initial <= 100:
        raise ValueError("initial must be an int in 0..100")
    c = _lib()
    v = c.ffi.new("struct sem_view *")
    name = f"/hftos-{os.getpid()}-{secrets.token_hex(4)}-named"
    check(c.lib.sem_named_view(name.encode(), initial, v), "sem_named_view")
    d = {field: getattr(v, field) for field, _ in c.ffi.typeof("struct sem_view").fields}
    d["mode"] = oct(d["mode"])
    d["trywait_error"] = _errno.errorcode.get(d.pop("trywait_errno"), "") or "none"
    d["file_seen"], d["exists_after_unlink"] = bool(d["file_seen"]), bool(d["exists_after_unlink"])
    return {"name": name, "path": f"/dev/shm/sem.{name[1:]}", **d}
