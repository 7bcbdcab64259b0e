"""CPU shares of CPU-bound processes at different nice values, measured live (section 1.2).

:func:`measure_shares` starts one CPU-bound worker per nice value, all pinned to the same CPU,
lets them compete for a bounded time and reads how much CPU each one got from
``/proc/<pid>/stat`` (utime + stime, through :mod:`hftos.proc`). The fair class (CFS before
Linux 6.6, EEVDF since) should split the CPU in proportion to the load weights
``sched_prio_to_weight[nice + 20]``, so the prediction is ``w_i / sum(w)``
(:func:`hftos.sched.weights.cpu_shares`).

How the workers are run (conventions §4: anything that pins or spins runs in helper processes):

- A small *supervisor* (``python -c``) is started with ``start_new_session=True``: a new session
  and process group. It starts the workers (``python -c`` again, via ``subprocess.Popen``), which
  therefore share the supervisor's session and process group. Each worker sets its own CPU
  affinity and nice value (``os.sched_setaffinity``, ``os.setpriority``), reports ``ok <pid>``
  and spins until its deadline (warm-up + window + a few seconds of slack), so nothing outlives
  a crashed notebook by more than that.
- Why one session: with ``/proc/sys/kernel/sched_autogroup_enabled`` = 1 (the default in many
  distributions) every session is its own scheduling group, and nice values only weigh tasks
  *inside* one group against each other. Workers in one session compete by nice; workers in
  separate sessions each get an equal share of the CPU whatever their nice value (as long as the
  groups live in the root cpu cgroup, the only place autogroup applies). ``sessions="separate"``
  starts each worker in a session of its own to show exactly that.
- The parent samples utime + stime of every worker after a warm-up, twice, ``window_s`` apart.
  Then (and in every error path) it closes the supervisor's stdin; the supervisor kills its
  workers with SIGKILL, reaps them and exits; the parent reaps the supervisor. If the supervisor
  does not exit in time, the parent kills its process group and any worker still alive.

Lowering a nice value below the current one needs ``CAP_SYS_NICE`` (or ``RLIMIT_NICE``); the
request is checked with :func:`hftos.host.can` first and refused with :class:`PermissionError`
rather than failing inside a worker. Raising it (being nicer) is always allowed.
"""

from __future__ import annotations

import json
import math
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from hftos import host as _host
from hftos import measure, proc, tools
from hftos.sched.model import NICE_MAX, NICE_MIN
from hftos.sched.weights import cpu_shares, nice_to_weight

__all__ = ["FairShare", "measure_shares", "default_cpu", "MAX_WORKERS"]

#: At most this many workers (each is a spinning process).
MAX_WORKERS = 16

#: Extra seconds a worker may spin past the measurement before it stops by itself.
_SLACK_S = 5.0
#: Seconds to wait for the workers to start and report.
_START_TIMEOUT_S = 20.0

# One worker: pin, renice, report, spin until the deadline. argv: cpu nice seconds.
_WORKER = r"""
import os, sys, time
cpu, nice, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
try:
    os.sched_setaffinity(0, {cpu})
    os.setpriority(os.PRIO_PROCESS, 0, nice)
except OSError as e:
    print("err", e.errno, e.strerror, flush=True)
    os._exit(1)
print("ok", os.getpid(), flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(10000):
        pass
os._exit(0)
"""

# The supervisor: start the workers, report their pids (one JSON line), sleep until stdin closes,
# then kill and reap the workers. argv: json {"cpu", "nices", "seconds", "separate"}.
_SUPERVISOR = r"""
import json, os, signal, subprocess, sys
cfg = json.loads(sys.argv[1])
workers, pids, errors = [], [], []
try:
    for nice in cfg["nices"]:
        workers.append(subprocess.Popen(
            [sys.executable, "-c", cfg["worker"], str(cfg["cpu"]), str(nice), str(cfg["seconds"])],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
            start_new_session=bool(cfg["separate"])))
    for nice, w in zip(cfg["nices"], workers):
        line = (w.stdout.readline() or "err 0 worker exited before reporting").split(maxsplit=2)
        if line[0] == "ok":
            pids.append(int(line[1]))
        else:
            pids.append(None)
            errors.append({"nice": nice, "errno": int(line[1]), "message": line[2].strip()})
    print(json.dumps({"pids": pids, "errors": errors}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
finally:
    for w in workers:
        try:
            w.kill()
        except OSError:
            pass
    for w in workers:
        w.wait()
"""


@dataclass(frozen=True)
class FairShare:
    """The result of :func:`measure_shares`.

    ``predicted``: ``w_i / sum(w)`` from ``sched_prio_to_weight``. ``measured``: each worker's
    share of the CPU time all workers got in the window (sums to 1). ``cpu_seconds``: the CPU time
    behind it. ``group_cpu_fraction``: all workers' CPU time divided by the window: how much of the
    pinned CPU the workers got between them (below 1 when other work ran on that CPU).
    ``kernel_weights``: ``se.load.weight`` as ``/proc/<pid>/sched`` reported it during the run,
    scaled down to the table's units (``None`` where unreadable). ``ps``: what the established tool
    said at the end of the window (``ps -o pid,ni,psr,pcpu``; its %CPU is averaged over each worker's
    whole life, start-up and warm-up included), or its install hint. ``method`` says how it was measured.
    """

    nices: tuple[int, ...]
    weights: tuple[int, ...]
    predicted: tuple[float, ...]
    measured: tuple[float, ...]
    cpu_seconds: tuple[float, ...]
    window_s: float
    group_cpu_fraction: float
    cpu: int
    sessions: str
    pids: tuple[int, ...]
    kernel_weights: tuple[int | None, ...]
    autogroups: tuple[str | None, ...]
    ps: str = ""
    method: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """One label per worker: ``"nice 5"`` (with ``#i`` when a nice value repeats)."""
        dup = len(set(self.nices)) != len(self.nices)
        return [f"#{i} nice {n}" if dup else f"nice {n}" for i, n in enumerate(self.nices)]

    def as_maps(self) -> tuple[dict[str, float], dict[str, float]]:
        """``(predicted, measured)`` keyed by :attr:`labels`, ready for :func:`hftos.plot.shares_bar`."""
        return dict(zip(self.labels, self.predicted)), dict(zip(self.labels, self.measured))

    def __str__(self) -> str:
        where = "all in one session" if self.sessions == "one" else "each in its own session"
        lines = [f"{len(self.nices)} CPU-bound workers on CPU {self.cpu}, {where}, {self.window_s:.2f} s window",
                 f"{'worker':<10} {'weight':>7} {'kernel':>7} {'predicted':>10} {'measured':>9} {'CPU s':>7}"]
        for lab, w, kw, p, m, c in zip(self.labels, self.weights, self.kernel_weights, self.predicted,
                                       self.measured, self.cpu_seconds):
            lines.append(f"{lab:<10} {w:>7} {'?' if kw is None else kw:>7} {p:>10.1%} {m:>9.1%} {c:>7.2f}")
        lines.append(f"the workers together got {self.group_cpu_fraction:.0%} of CPU {self.cpu}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"FairShare(nices={list(self.nices)}, predicted={[round(p, 3) for p in self.predicted]}, "
                f"measured={[round(m, 3) for m in self.measured]}, sessions={self.sessions!r})")


def default_cpu() -> int:
    """The highest-numbered CPU this process may run on (CPU 0 tends to take more interrupts)."""
    return max(os.sched_getaffinity(0))


def _check_nices(nices: Sequence[int]) -> tuple[int, ...]:
    if isinstance(nices, (str, bytes)) or not isinstance(nices, Sequence):
        raise TypeError(f"nices must be a sequence of integers, got {nices!r}")
    out = []
    for n in nices:
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"nice values must be integers, got {n!r}")
        if not NICE_MIN <= n <= NICE_MAX:
            raise ValueError(f"nice must be in {NICE_MIN}..{NICE_MAX}, got {n}")
        out.append(int(n))
    if not 1 <= len(out) <= MAX_WORKERS:
        raise ValueError(f"need 1..{MAX_WORKERS} nice values, got {len(out)}")
    return tuple(out)


def _positive(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


def _budget_seconds() -> tuple[float, float]:
    """(warm-up, window) in seconds for the current budget."""
    return {"smoke": (0.15, 0.4), "default": (0.5, 2.5), "full": (1.0, 10.0)}[measure.budget()]


def _kernel_weight(pid: int, nice: int) -> int | None:
    """``se.load.weight`` from ``/proc/<pid>/sched``, in ``sched_prio_to_weight`` units (64-bit kernels
    keep it shifted left by 10 bits); None if the file is missing or unreadable."""
    try:
        with open(f"/proc/{pid}/sched") as f:
            for line in f:
                if line.startswith("se.load.weight"):
                    raw = int(line.split(":")[1])
                    expected = nice_to_weight(nice)
                    return raw >> 10 if raw != expected and raw % 1024 == 0 else raw
    except (OSError, ValueError, IndexError):
        return None
    return None


def _autogroup(pid: int) -> str | None:
    """``/proc/<pid>/autogroup`` (e.g. ``/autogroup-42 nice 0``), or None."""
    try:
        with open(f"/proc/{pid}/autogroup") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _read_line(pipe: Any, timeout: float) -> str:
    """One line from the supervisor's stdout, or '' after ``timeout`` seconds."""
    sel = selectors.DefaultSelector()
    sel.register(pipe, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return ""
        return pipe.readline()
    finally:
        sel.close()


def _cpu_s(pids: Sequence[int]) -> list[float]:
    return [proc.stat(pid).cpu_s for pid in pids]


def _stop(sup: subprocess.Popen, pids: Sequence[int]) -> None:
    """Close the supervisor's stdin (it kills and reaps the workers), then reap it; force if needed."""
    try:
        if sup.stdin is not None:
            sup.stdin.close()
    except OSError:
        pass
    try:
        sup.wait(timeout=10)
        return
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:  # workers in their own sessions are not in the supervisor's group
        try:
            if proc.stat(pid).ppid == sup.pid:
                os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(sup.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    sup.wait()


def measure_shares(nices: Sequence[int] = (0, 5, 10), *, cpu: int | None = None,
                   window_s: float | None = None, warmup_s: float | None = None,
                   sessions: str = "one") -> FairShare:
    """Run one CPU-bound worker per entry of ``nices`` on CPU ``cpu`` and measure their CPU shares.

    ``cpu`` defaults to :func:`default_cpu`. ``window_s``/``warmup_s`` default to the budget
    (smoke 0.4/0.15 s, default 2.5/0.5 s, full 10/1 s). ``sessions="one"`` (default) puts every
    worker in one new session, so they share one autogroup and compete by nice value;
    ``"separate"`` gives each worker a session (and, with autogroup enabled, a group) of its own.

    Raises ``TypeError``/``ValueError`` for bad arguments, :class:`PermissionError` when a nice
    value below the current one is asked for without the privilege to set it, ``OSError`` when a
    worker could not pin or renice itself, ``RuntimeError`` when the workers did not start.
    Everything started here has been killed and reaped when it returns or raises.
    """
    nice_t = _check_nices(nices)
    if sessions not in ("one", "separate"):
        raise ValueError(f"sessions must be 'one' or 'separate', got {sessions!r}")
    allowed = sorted(os.sched_getaffinity(0))
    if cpu is None:
        cpu = default_cpu()
    if isinstance(cpu, bool) or not isinstance(cpu, int) or cpu not in allowed:
        raise ValueError(f"cpu must be one of this process's CPUs {allowed}, got {cpu!r}")
    warm_default, window_default = _budget_seconds()
    warmup = _positive(warmup_s if warmup_s is not None else warm_default, "warmup_s")
    window = _positive(window_s if window_s is not None else window_default, "window_s")
    current = os.getpriority(os.PRIO_PROCESS, 0)
    lowest = min(nice_t)
    if lowest < current:
        capability = _host.can("nice_lower", nice=lowest)
        if not capability:
            raise PermissionError(f"nice {lowest} is below this process's nice {current}: {capability.reason}")

    seconds = warmup + window + _SLACK_S
    cfg = {"cpu": cpu, "nices": list(nice_t), "seconds": seconds, "separate": sessions == "separate",
           "worker": _WORKER}
    sup = subprocess.Popen([sys.executable, "-c", _SUPERVISOR, json.dumps(cfg)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    pids: list[int] = []
    try:
        line = _read_line(sup.stdout, _START_TIMEOUT_S)
        if not line:
            raise RuntimeError("the workers did not start within "
                               f"{_START_TIMEOUT_S:.0f} s (supervisor exit code {sup.poll()})")
        report = json.loads(line)
        pids = [p for p in report["pids"] if p is not None]
        if report["errors"]:
            e = report["errors"][0]
            raise OSError(e["errno"], f"worker at nice {e['nice']} could not pin/renice itself: {e['message']}")
        measure.wait(warmup, "fair-share workers warming up")
        kernel_weights = tuple(_kernel_weight(p, n) for p, n in zip(pids, nice_t))
        groups = tuple(_autogroup(p) for p in pids)
        t0, c0 = time.monotonic(), _cpu_s(pids)
        measure.wait(window, "fair-share measurement window")
        t1, c1 = time.monotonic(), _cpu_s(pids)
        ps = str(tools.run(["ps", "-o", "pid,ni,psr,pcpu,comm", "-p", ",".join(map(str, pids))], timeout=10))
    finally:
        _stop(sup, pids)

    used = [b - a for a, b in zip(c0, c1)]
    total = sum(used)
    elapsed = t1 - t0
    shares = [u / total if total > 0 else math.nan for u in used]
    autogroup_enabled = None
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            autogroup_enabled = int(f.read().strip())
    except (OSError, ValueError):
        pass
    method = {
        "clock": "CLOCK_MONOTONIC (window); utime+stime from /proc/<pid>/stat",
        "cpu_time_resolution_s": 1 / proc.CLK_TCK,
        "cpu": cpu,
        "workers": len(nice_t),
        "sessions": sessions,
        "warmup_s": warmup,
        "window_s": elapsed,
        "autogroup_enabled": autogroup_enabled,
        "parent_nice": current,
        "budget": measure.budget(),
    }
    return FairShare(
        nices=nice_t, weights=tuple(nice_to_weight(n) for n in nice_t), predicted=tuple(cpu_shares(list(nice_t))),
        measured=tuple(shares), cpu_seconds=tuple(used), window_s=elapsed,
        group_cpu_fraction=total / elapsed if elapsed > 0 else math.nan, cpu=cpu, sessions=sessions,
        pids=tuple(pids), kernel_weights=kernel_weights, autogroups=groups, ps=ps, method=method,
        host=_host.fingerprint(),
    )
