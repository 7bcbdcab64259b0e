"""Timer wake-up latency (``timer.c``, chapter 1.3): how late a sleeping thread runs again.

The same measurement as ``cyclictest``: sleep until an absolute time on ``CLOCK_MONOTONIC``, read
the clock on waking, record the lateness. It pins a CPU, may fork a CPU hog and may switch its own
helper process to ``SCHED_FIFO``, so it always runs in a helper process (:mod:`hftos.native.runner`).
"""

from __future__ import annotations

import numpy as np

from hftos import host
from hftos.measure import Result, scaled

from . import build, runner
from .checks import check, count, cpu_pair

_CDEF = """
int timer_wakeup(int cpu, int policy, int rt_priority, long slack_ns, int64_t interval_ns, int warmup,
                 int iters, int hog, int64_t hog_limit_ns, int64_t *late_ns);
"""

_POLICIES = {"other": 0, "fifo": 1}


def _lib() -> build.Compiled:
    return build.load("timer", _CDEF)


def _in_helper(cpu: int, policy: int, rt_priority: int, slack_ns: int, interval_ns: int, warmup: int, iters: int,
               hog: bool, hog_limit_ns: int) -> np.ndarray:
    """Runs inside the helper process: one C call."""
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    rc = c.lib.timer_wakeup(cpu, policy, rt_priority, slack_ns, interval_ns, warmup, iters, int(hog), hog_limit_ns,
                            c.ffi.cast("int64_t *", out.ctypes.data))
    check(rc, "timer wake-up")
    return out


def timer_wakeup(n: int | None = None, *, interval_us: int = 1000, cpu: int | None = None,
                 policy: str = "other", rt_priority: int = 10, slack_ns: int | None = 1,
                 hog: bool = False) -> Result:
    """Lateness (ns) of ``n`` periodic wake-ups every ``interval_us`` on one CPU.

    ``policy="fifo"`` runs the sleeper at ``SCHED_FIFO`` priority ``rt_priority`` (needs
    ``host.can("sched_fifo")``; raises :class:`PermissionError` with the reason otherwise). ``hog=True``
    runs a SCHED_OTHER busy loop pinned to the same CPU for the duration. ``slack_ns`` sets the sleeper's
    timer slack (1 ns by default, as ``cyclictest`` does; ``None`` keeps the process default, 50 us for
    SCHED_OTHER, which adds up to that much lateness). Default ``n``: about one second of wake-ups at the
    default budget.
    """
    if slack_ns is not None and (isinstance(slack_ns, bool) or not isinstance(slack_ns, int) or slack_ns < 1):
        raise ValueError(f"slack_ns must be a positive int or None, got {slack_ns!r}")
    if policy not in _POLICIES:
        raise ValueError(f"policy must be one of {', '.join(_POLICIES)}, got {policy!r}")
    if isinstance(interval_us, bool) or not isinstance(interval_us, int) or not 50 <= interval_us <= 1_000_000:
        raise ValueError(f"interval_us must be an int from 50 to 1000000, got {interval_us!r}")
    if policy == "fifo":
        if not 1 <= rt_priority <= 98:
            raise ValueError(f"rt_priority must be 1..98 (99 is for the kernel's own threads), got {rt_priority}")
        allowed = host.can("sched_fifo", priority=rt_priority)
        if not allowed:
            raise PermissionError(allowed.reason)
    iters = count(n if n is not None else scaled(1000, smoke=100))
    cpu_a, _ = cpu_pair(None if cpu is None else (cpu, cpu), cross=False)
    warmup = max(5, iters // 20)
    duration_ns = (iters + warmup) * interval_us * 1000
    timeout = duration_ns / 1e9 * 2 + 10
    _lib()  # compile here, so the helper's time limit covers only the experiment
    samples = runner.run(_in_helper, timeout=timeout, cpu=cpu_a, policy=_POLICIES[policy],
                         rt_priority=rt_priority, slack_ns=slack_ns or 0, interval_ns=interval_us * 1000, warmup=warmup, iters=iters,
                         hog=hog, hog_limit_ns=int(timeout * 1e9))
    label = "SCHED_FIFO " + str(rt_priority) if policy == "fifo" else "SCHED_OTHER"
    return Result.from_samples(
        f"timer wake-up lateness, {label}{' with a CPU hog' if hog else ''}, CPU {cpu_a}", samples,
        method={"clock": "CLOCK_MONOTONIC", "sleep": "clock_nanosleep(TIMER_ABSTIME)", "interval_us": interval_us,
                "cpu": cpu_a, "policy": label, "hog": hog,
                "timer_slack_ns": slack_ns if slack_ns else "process default", "iterations": iters, "warmup": warmup,
                "sample": "time of waking minus the requested wake-up time"})
