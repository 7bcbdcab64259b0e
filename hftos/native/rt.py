"""Real-time policies and CPU affinity, measured (``rt.c``, chapter 1.3).

- :func:`try_policy`: ask for SCHED_FIFO/SCHED_RR in a helper and report success or the errno (EPERM
  without ``CAP_SYS_NICE``/``RLIMIT_RTPRIO``), plus what ``sched_rr_get_interval`` says there.
- :func:`rt_thread_setup`: create a thread the source text's way (pin and raise the priority after
  ``pthread_create``) or with everything in the attributes (erratum E40); the thread reports what it
  saw as its very first action.
- :func:`rr_interleave`: two spinning SCHED_RR threads at equal priority on one CPU, recorded as a
  :class:`~hftos.sched.Schedule` timeline for :func:`hftos.plot.gantt`.
- :func:`spin_jitter`: the gaps in a busy loop's execution, pinned or not, and how often it changed CPU.
- :func:`rt_guard`: whether a bounded SCHED_RR/SCHED_FIFO spinner is safe on this host (RT throttling,
  fair server, CPUs); :func:`rr_interleave` calls it first.

Everything pins threads or changes policy, so it runs in a helper process (:mod:`hftos.native.runner`).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hftos import host
from hftos.measure import Result, scaled
from hftos.sched.model import JobStats, Schedule, Slice

from . import build, runner
from .checks import check, cpu_pair

_CDEF = """
int rt_thread_setup(int mode, int cpu, int policy, int priority, int reps, int64_t *out);
int rr_interleave(int cpu, int policy, int priority, int nthreads, int64_t duration_ns, int64_t threshold_ns,
                  int max_gaps, int64_t *gaps, int64_t *info);
int spin_jitter(int cpu, int64_t duration_ns, int64_t threshold_ns, int max_gaps, int64_t *gap_ns, int64_t *gap_at,
                int64_t *gap_moved, int64_t *info);
"""

#: Linux policy numbers (``<sched.h>``), as ``os.SCHED_*`` has them.
POLICIES: dict[str, int] = {"other": 0, "fifo": 1, "rr": 2}
POLICY_NAMES: dict[int, str] = {0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH", 5: "SCHED_IDLE",
                                6: "SCHED_DEADLINE"}
_MODES = {"after_create": 0, "attributes": 1}
_MAX_GAPS = 4096


def _lib() -> build.Compiled:
    return build.load("rt", _CDEF)


def _policy(policy: str) -> int:
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    return POLICIES[policy]


def _priority(policy: str, priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(f"priority must be an int, got {priority!r}")
    if policy == "other":
        if priority != 0:
            raise ValueError(f"SCHED_OTHER takes priority 0, got {priority}")
    elif not 1 <= priority <= 98:
        raise ValueError(f"RT priority must be 1..98 (99 is for the kernel's own threads), got {priority}")
    return priority


def _allowed(policy: str, priority: int) -> None:
    if policy != "other":
        ok = host.can("sched_fifo", priority=priority)
        if not ok:
            raise PermissionError(ok.reason)


def _one_cpu(cpu: int | None) -> int:
    a, _ = cpu_pair(None if cpu is None else (cpu, cpu), cross=False)
    return a


# ------------------------------------------------------------------------------------------------ guard

@dataclass(frozen=True)
class Guard:
    """Whether a bounded real-time spinner is safe here, and why (see :func:`rt_guard`)."""

    ok: bool
    reason: str
    rt_runtime_us: int | None
    rt_period_us: int | None
    fair_server: bool | None
    cpus: int

    def __bool__(self) -> bool:
        return self.ok


def rt_guard(info: host.HostInfo | None = None) -> Guard:
    """Check what keeps a spinning RT thread from freezing its CPU, before starting one.

    Up to Linux 6.11 RT throttling (``sched_rt_runtime_us`` of every ``sched_rt_period_us``, by
    default 950000 of 1000000 µs) leaves 5 % of each CPU to other tasks; since 6.12 the fair
    server reserves 50 ms per second for SCHED_OTHER tasks when they are runnable. Either one, or a
    second CPU this process may use, makes a bounded spinner safe. With none of them the answer is
    no and the reason says how to check.
    """
    i = info or host.probe()
    cpus = len(os.sched_getaffinity(0))
    rt, period = i.rt_runtime_us, i.rt_period_us
    throttled = rt is not None and period is not None and 0 <= rt < period
    parts = []
    if throttled:
        parts.append(f"RT throttling leaves {period - rt} of every {period} µs to other tasks")
    elif rt is not None and rt < 0:
        parts.append("RT throttling is off (sched_rt_runtime_us = -1)")
    if i.fair_server:
        parts.append("the fair server reserves 50 ms/s for SCHED_OTHER tasks (Linux ≥ 6.12)")
    if cpus >= 2:
        parts.append(f"this process may use {cpus} CPUs, so the spinner's CPU is not the only one")
    ok = throttled or bool(i.fair_server) or cpus >= 2
    reason = "; ".join(parts) if parts else "no RT throttling, no fair server and one CPU"
    if not ok:
        reason += (": a spinning real-time thread would starve everything else on this CPU, so the demo refuses "
                   "(check `cat /proc/sys/kernel/sched_rt_runtime_us`; -1 disables throttling)")
    return Guard(ok, reason[0].upper() + reason[1:] + ".", rt, period, i.fair_server, cpus)


# ------------------------------------------------------------------------------------------------ try a policy

def _try_in_helper(policy: int, priority: int) -> dict[str, Any]:
    """Runs inside the helper: Python's own os.sched_setscheduler on the helper's main thread."""
    before = os.sched_rr_get_interval(0)
    try:
        os.sched_setscheduler(0, policy | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except OSError as exc:
        return {"ok": False, "errno": exc.errno, "error": f"{errno.errorcode.get(exc.errno or 0, '?')}: "
                f"{exc.strerror}", "rr_interval_s_before": before}
    return {"ok": True, "errno": 0, "error": "", "policy": POLICY_NAMES.get(os.sched_getscheduler(0) & 0xff, "?"),
            "priority": os.sched_getparam(0).sched_priority, "rr_interval_s_before": before,
            "rr_interval_s": os.sched_rr_get_interval(0)}


def try_policy(policy: str = "fifo", priority: int = 10, timeout: float = 30.0) -> dict[str, Any]:
    """Ask for ``policy`` at ``priority`` in a helper process (never in the notebook) and report what happened.

    Returns ``ok`` and, on failure, ``errno``/``error`` (``EPERM`` when this process has neither
    ``CAP_SYS_NICE`` nor ``RLIMIT_RTPRIO`` ≥ ``priority``, or an RT cgroup without runtime). On success
    ``policy``/``priority`` as read back, and ``rr_interval_s``: ``sched_rr_get_interval`` in the helper
    after the change (the RR quantum for SCHED_RR, 0 for SCHED_FIFO), ``rr_interval_s_before`` before it
    (for SCHED_OTHER the current fair slice, rounded to ticks, or 0). The helper sleeps nothing and
    spins nothing: it changes policy, reads it back and exits.
    """
    p = _policy(policy)
    _priority(policy, priority)
    return runner.run(_try_in_helper, timeout=timeout, policy=p, priority=priority)


# ------------------------------------------------------------------------------------------------ thread setup

def _setup_in_helper(mode: int, cpu: int, policy: int, priority: int, reps: int) -> np.ndarray:
    c = _lib()
    out = np.zeros(16, dtype=np.int64)
    check(c.lib.rt_thread_setup(mode, cpu, policy, priority, reps, c.ffi.cast("int64_t *", out.ctypes.data)),
          "rt_thread_setup")
    return out


def rt_thread_setup(mode: str = "attributes", *, policy: str = "fifo", priority: int = 10, cpu: int | None = None,
                    reps: int | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Create ``reps`` threads one after another and count what each saw as its very first action.

    ``mode="after_create"`` is the source text's order: ``pthread_create`` with default attributes, then
    ``pthread_setaffinity_np`` and ``pthread_setschedparam`` from the creator, so a thread that runs at
    once starts on any CPU at SCHED_OTHER. ``mode="attributes"`` puts CPU, policy and priority into the
    attributes with ``PTHREAD_EXPLICIT_SCHED`` (erratum E40). Returns ``first``/``later`` (the first
    thread's observations: ``cpu``, ``policy``, ``priority``, ``pinned``), the counts over all threads
    ``first_unpinned``, ``first_wrong_policy``, ``first_other_cpu``, ``later_unpinned``,
    ``later_wrong_policy``, ``reps``, and ``setup_error`` (the creator's setup errno in ``after_create``
    mode, e.g. ``EPERM``). A real-time ``policy`` needs ``host.can("sched_fifo")``, else
    :class:`PermissionError`. Default ``reps``: 200 (20 at the smoke budget).
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    p = _policy(policy)
    _priority(policy, priority)
    n = reps if reps is not None else scaled(200, smoke=20)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
        raise ValueError(f"reps must be an int from 1 to 100000, got {reps!r}")
    _allowed(policy, priority)
    c = _one_cpu(cpu)
    _lib()
    out = runner.run(_setup_in_helper, timeout=timeout, mode=_MODES[mode], cpu=c, policy=p, priority=priority,
                     reps=n)

    def seen(a: np.ndarray) -> dict[str, Any]:
        return {"cpu": int(a[0]), "policy": POLICY_NAMES.get(int(a[1]), str(int(a[1]))), "priority": int(a[2]),
                "pinned": bool(a[3])}

    err = int(out[8])
    return {"mode": mode, "cpu": c, "policy": f"{POLICY_NAMES[p]} {priority}", "reps": int(out[10]),
            "first": seen(out[0:4]), "later": seen(out[4:8]),
            "first_unpinned": int(out[11]), "first_wrong_policy": int(out[12]), "first_other_cpu": int(out[13]),
            "later_unpinned": int(out[14]), "later_wrong_policy": int(out[15]),
            "setup_error": errno.errorcode.get(err, str(err)) if err else ""}


# ------------------------------------------------------------------------------------------------ RR interleave

@dataclass
class RRTrace:
    """Two or more threads sharing one CPU under SCHED_RR/SCHED_FIFO, as measured.

    ``schedule`` is a :class:`~hftos.sched.Schedule` in milliseconds (``plot.gantt(trace.schedule)``):
    one job per thread, its run slices, and ``idle`` slices where none of the threads ran (other work:
    interrupts, kernel threads, the fair server, the hypervisor); ``schedule.switches`` counts hand-overs
    between the threads. ``runs`` holds each thread's turns (ms): the time from taking the CPU over from
    another thread to handing it to the next, other work in between included. ``quantum_ms`` is what
    ``sched_rr_get_interval`` reported in each thread.
    """

    schedule: Schedule
    runs: dict[str, list[float]]
    quantum_ms: list[float]
    method: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)

    def slice_lengths(self, *, complete_only: bool = True) -> list[float]:
        """All turn lengths in ms; ``complete_only`` drops each thread's first and last turn
        (cut short by the start and the deadline)."""
        out: list[float] = []
        for runs in self.runs.values():
            out.extend(runs[1:-1] if complete_only else runs)
        return out


def _interleave_in_helper(cpu: int, policy: int, priority: int, nthreads: int, duration_ns: int,
                          threshold_ns: int) -> tuple[np.ndarray, np.ndarray]:
    c = _lib()
    gaps = np.zeros(nthreads * 2 * _MAX_GAPS, dtype=np.int64)
    info = np.zeros(nthreads * 8, dtype=np.int64)
    check(c.lib.rr_interleave(cpu, policy, priority, nthreads, duration_ns, threshold_ns, _MAX_GAPS,
                              c.ffi.cast("int64_t *", gaps.ctypes.data), c.ffi.cast("int64_t *", info.ctypes.data)),
          "rr_interleave")
    return gaps, info


def _to_schedule(gaps: np.ndarray, info: np.ndarray, nthreads: int, policy: str, quantum_ms: float,
                 threshold_ns: int) -> tuple[Schedule, dict[str, list[float]]]:
    """Turn each thread's gaps into run slices (ms from the start gate), fill the holes with idle slices,
    and measure each thread's *turns*: consecutive slices of one thread with no other thread in between
    (a turn interrupted only by other work is one turn)."""
    start = float(info[6])
    ms = lambda t: (float(t) - start) / 1e6  # noqa: E731
    names = [f"T{k}" for k in range(nthreads)]
    slices: list[tuple[float, float, int]] = []
    stats: list[JobStats] = []
    for k in range(nthreads):
        first, last, ngaps = info[8 * k], info[8 * k + 1], int(info[8 * k + 2])
        g = gaps[k * 2 * _MAX_GAPS: k * 2 * _MAX_GAPS + 2 * ngaps].reshape(-1, 2)
        bounds = [first, *g.ravel().tolist(), last]
        runs = [(ms(bounds[i]), ms(bounds[i + 1])) for i in range(0, len(bounds), 2)]
        runs = [(a, b) for a, b in runs if b > a]
        slices += [(a, b, k) for a, b in runs]
        burst = sum(b - a for a, b in runs)
        first_ms, last_ms = ms(first), ms(last)
        stats.append(JobStats(k, names[k], 0, round(burst, 3), round(first_ms, 3), round(last_ms, 3),
                              round(first_ms, 3), round(last_ms, 3), round(last_ms - burst, 3)))
    slices.sort()
    timeline: list[Slice] = []
    turns: list[list[float]] = []            # [job, start, end]
    t = 0.0
    for a, b, k in slices:
        if a - t > threshold_ns / 1e6:
            timeline.append(Slice(None, round(t, 3), round(a, 3), "idle"))
        timeline.append(Slice(k, round(a, 3), round(b, 3), "run"))
        if turns and turns[-1][0] == k:
            turns[-1][2] = b
        else:
            turns.append([k, a, b])
        t = max(t, b)
    runs_by: dict[str, list[float]] = {n: [] for n in names}
    for k, a, b in turns:
        runs_by[names[int(k)]].append(round(b - a, 3))
    n = max(1, len(stats))
    averages = {key: round(sum(getattr(s, key) for s in stats) / n, 3) for key in ("response", "turnaround", "wait")}
    sched = Schedule(f"{policy} (measured)", {"quantum": round(quantum_ms, 3), "unit": "ms"}, stats, averages,
                     timeline, max(0, len(turns) - 1))
    return sched, runs_by


def rr_interleave(duration_ms: int | None = None, *, threads: int = 2, policy: str = "rr", priority: int = 10,
                  cpu: int | None = None, threshold_us: int = 50) -> RRTrace:
    """Run ``threads`` spinning threads pinned to one CPU at the same RT priority for ``duration_ms``.

    Under SCHED_RR they take turns, one quantum (``/proc/sys/kernel/sched_rr_timeslice_ms``, 100 ms by
    default) each; under SCHED_FIFO the first one runs until its deadline and only then the next. Each
    thread records every gap longer than ``threshold_us`` in its own execution; the gaps of one thread
    are the other threads' slices. Needs ``host.can("sched_fifo")`` (else :class:`PermissionError`) and a
    safe :func:`rt_guard` (else :class:`RuntimeError` with the reason). Default duration: five quanta at the
    default budget (at least 200 ms, at most 2 s).
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 8:
        raise ValueError(f"threads must be 1..8, got {threads!r}")
    if policy not in ("rr", "fifo"):
        raise ValueError(f"policy must be 'rr' or 'fifo', got {policy!r}")
    _priority(policy, priority)
    if isinstance(threshold_us, bool) or not isinstance(threshold_us, int) or not 1 <= threshold_us <= 10_000:
        raise ValueError(f"threshold_us must be an int from 1 to 10000, got {threshold_us!r}")
    info = host.probe()
    quantum = float(info.rr_timeslice_ms or 100)
    if duration_ms is None:
        duration_ms = int(min(2000, max(200, scaled(5, smoke=3) * quantum)))
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, int) or not 10 <= duration_ms <= 5000:
        raise ValueError(f"duration_ms must be an int from 10 to 5000, got {duration_ms!r}")
    c = _one_cpu(cpu)
    _allowed(policy, priority)
    guard = rt_guard(info)
    if not guard:
        raise RuntimeError(guard.reason)
    _lib()
    timeout = duration_ms / 1000 + 2 * quantum / 1000 * threads + 15
    gaps, raw = runner.run(_interleave_in_helper, timeout=timeout, cpu=c, policy=POLICIES[policy], priority=priority,
                           nthreads=threads, duration_ns=duration_ms * 1_000_000, threshold_ns=threshold_us * 1000)
    quanta = [float(raw[8 * k + 4]) / 1e6 for k in range(threads)]
    label = "SCHED_RR" if policy == "rr" else "SCHED_FIFO"
    sched, runs = _to_schedule(gaps, raw, threads, label, quanta[0], threshold_us * 1000)
    dropped = int(sum(raw[8 * k + 3] for k in range(threads)))
    return RRTrace(sched, runs, quanta, method={
        "clock": "CLOCK_MONOTONIC", "policy": f"{label} {priority}", "threads": threads, "cpu": c,
        "duration_ms": duration_ms, "gap_threshold_us": threshold_us, "gaps_dropped": dropped,
        "setup": "pthread_attr_setaffinity_np + PTHREAD_EXPLICIT_SCHED, then SCHED_RESET_ON_FORK",
        "guard": guard.reason}, host=host.fingerprint())


# ------------------------------------------------------------------------------------------------ spin jitter

def _jitter_in_helper(cpu: int, duration_ns: int, threshold_ns: int, max_gaps: int) -> dict[str, Any]:
    c = _lib()
    gap_ns = np.zeros(max_gaps, dtype=np.int64)
    gap_at = np.zeros(max_gaps, dtype=np.int64)
    moved = np.zeros(max_gaps, dtype=np.int64)
    info = np.zeros(8, dtype=np.int64)
    p = lambda a: c.ffi.cast("int64_t *", a.ctypes.data)  # noqa: E731
    check(c.lib.spin_jitter(cpu, duration_ns, threshold_ns, max_gaps, p(gap_ns), p(gap_at), p(moved), p(info)),
          "spin_jitter")
    n = int(info[1])
    return {"gap_ns": gap_ns[:n], "gap_at_ns": gap_at[:n], "moved": moved[:n], "info": info}


def spin_jitter(duration_ms: int | None = None, *, pinned: bool = True, cpu: int | None = None,
                threshold_ns: int = 1000, max_gaps: int = 100_000) -> Result:
    """Gaps (ns) longer than ``threshold_ns`` in a busy loop's execution, pinned to one CPU or not.

    The loop reads ``CLOCK_MONOTONIC`` and ``sched_getcpu()`` every iteration; a gap is time it did not
    run (an interrupt, another task, the hypervisor, a migration). ``method`` carries ``gaps_seen``,
    ``cpu_switches`` (changes of ``sched_getcpu``), ``moved_gaps`` (gaps after which the CPU was another),
    ``cpus_seen``, ``loops``, ``gap_at_ns`` (when each stored gap started, ns from the start). Samples
    are the gap lengths; if there was none above the threshold the one sample is ``threshold_ns``
    and ``method["no_gaps"]`` is True. Default duration 300 ms (50 ms at the smoke budget).
    """
    if duration_ms is None:
        duration_ms = scaled(300, smoke=50)
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, int) or not 1 <= duration_ms <= 5000:
        raise ValueError(f"duration_ms must be an int from 1 to 5000, got {duration_ms!r}")
    if isinstance(threshold_ns, bool) or not isinstance(threshold_ns, int) or not 100 <= threshold_ns <= 10**9:
        raise ValueError(f"threshold_ns must be an int from 100 to 1e9, got {threshold_ns!r}")
    if isinstance(max_gaps, bool) or not isinstance(max_gaps, int) or not 1 <= max_gaps <= 10**7:
        raise ValueError(f"max_gaps must be an int from 1 to 1e7, got {max_gaps!r}")
    if not pinned and cpu is not None:
        raise ValueError("cpu= pins the loop; pass pinned=True with it")
    c = _one_cpu(cpu) if pinned else -1
    _lib()
    r = runner.run(_jitter_in_helper, timeout=duration_ms / 1000 * 2 + 15, cpu=c, duration_ns=duration_ms * 1_000_000,
                   threshold_ns=threshold_ns, max_gaps=max_gaps)
    info = r["info"]
    mask = int(info[7])
    cpus_seen = [k for k in range(63) if mask >> k & 1]
    samples = r["gap_ns"].astype(float)
    no_gaps = samples.size == 0
    if no_gaps:
        samples = np.array([float(threshold_ns)])
    where = f"pinned to CPU {c}" if pinned else "unpinned"
    return Result.from_samples(f"spin-loop gaps, {where}", samples, method={
        "clock": "CLOCK_MONOTONIC", "pinned": pinned, "cpu": c if pinned else None, "duration_ms": duration_ms,
        "threshold_ns": threshold_ns, "gaps_seen": int(info[0]), "gaps_stored": int(info[1]),
        "cpu_switches": int(info[2]), "moved_gaps": int(r["moved"].sum()), "loops": int(info[3]),
        "elapsed_ns": int(info[4]), "cpus_seen": cpus_seen, "no_gaps": no_gaps,
        "gap_at_ns": r["gap_at_ns"].tolist(),
        "sample": "length of one gap in the loop's execution (time it did not run)"})
