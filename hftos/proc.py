"""Reading one process's (or thread's) state from ``/proc``: the fields the chapters show.

``/proc/<pid>/stat`` is one line of space-separated fields (``proc(5)``); field 2, the command name, is in
parentheses and may itself contain spaces and parentheses, so it is split at the *last* ``)``. ``/proc/<pid>/status``
is ``Key:\tvalue`` lines. Both vanish when the process is reaped: the readers then raise
:class:`ProcessLookupError`, which callers sampling a changing set of processes catch.

Linux state letters (field 3 of ``stat``; ``ps -o stat``):

=====  ==================================  ==========================================
letter  Linux state                         textbook five-state model
=====  ==================================  ==========================================
R      running or runnable (TASK_RUNNING)  ready *and* running: Linux does not split them
S      interruptible sleep                 waiting (a signal wakes it)
D      uninterruptible sleep               waiting (usually on I/O; signals wait)
T      stopped (SIGSTOP, SIGTSTP)          (no textbook state)
t      stopped by a tracer (ptrace)        (no textbook state)
Z      zombie: exited, not yet reaped      terminated
X      dead (being removed; rarely seen)   terminated
I      idle kernel thread                  (kernel threads only)
=====  ==================================  ==========================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: What each state letter means, for tables and legends.
STATE_NAMES: dict[str, str] = {
    "R": "running or runnable",
    "S": "interruptible sleep",
    "D": "uninterruptible sleep",
    "T": "stopped",
    "t": "stopped by tracer",
    "Z": "zombie",
    "X": "dead",
    "I": "idle kernel thread",
}

#: Clock ticks per second, the unit of utime/stime in ``stat`` (``sysconf(_SC_CLK_TCK)``, 100 on Linux).
CLK_TCK: int = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the course uses (``proc(5)`` numbers them from 1)."""

    pid: int          #: field 1
    comm: str         #: field 2, without the parentheses
    state: str        #: field 3: one of :data:`STATE_NAMES`
    ppid: int         #: field 4
    minflt: int       #: field 10: minor faults (no I/O needed)
    majflt: int       #: field 12: major faults (I/O needed)
    utime_s: float    #: field 14, converted from clock ticks to seconds
    stime_s: float    #: field 15, likewise
    priority: int     #: field 18: for SCHED_OTHER 20 + nice; for real-time policies -1 - rt_priority
    nice: int         #: field 19
    num_threads: int  #: field 20
    processor: int    #: field 39: the CPU it last ran on
    rt_priority: int  #: field 40
    policy: int       #: field 41: SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6

    @property
    def cpu_s(self) -> float:
        """User plus system CPU time, in seconds."""
        return self.utime_s + self.stime_s


def _path(pid: int | str, tid: int | None, name: str) -> Path:
    base = Path("/proc") / str(pid)
    return (base / "task" / str(tid) / name) if tid is not None else (base / name)


def parse_stat(line: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line."""
    head, sep, tail = line.rpartition(")")
    if not sep or " (" not in head:
        raise ValueError(f"not a /proc/<pid>/stat line: {line[:80]!r}")
    pid_text, comm = head.split(" (", 1)
    f = tail.split()
    # f[0] is field 3 (state); field k is f[k - 3].
    if len(f) < 39:
        raise ValueError(f"/proc/<pid>/stat line has {len(f) + 2} fields, expected at least 41")
    return ProcStat(
        pid=int(pid_text), comm=comm, state=f[0], ppid=int(f[1]), minflt=int(f[7]), majflt=int(f[9]),
        utime_s=int(f[11]) / CLK_TCK, stime_s=int(f[12]) / CLK_TCK, priority=int(f[15]), nice=int(f[16]),
        num_threads=int(f[17]), processor=int(f[36]), rt_priority=int(f[37]), policy=int(f[38]),
    )


def stat(pid: int | str = "self", tid: int | None = None) -> ProcStat:
    """``/proc/<pid>/stat`` (or ``/proc/<pid>/task/<tid>/stat``), parsed.

    Raises :class:`ProcessLookupError` if the process or thread no longer exists.
    """
    try:
        return parse_stat(_path(pid, tid, "stat").read_text())
    except FileNotFoundError:
        raise ProcessLookupError(f"no process {pid}" + (f" thread {tid}" if tid is not None else "")) from None


def status(pid: int | str = "self", tid: int | None = None) -> dict[str, str]:
    """``/proc/<pid>/status`` as a dict of strings (``VmRSS``, ``voluntary_ctxt_switches``, ...)."""
    try:
        text = _path(pid, tid, "status").read_text()
    except FileNotFoundError:
        raise ProcessLookupError(f"no process {pid}") from None
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def context_switches(pid: int | str = "self", tid: int | None = None) -> tuple[int, int]:
    """(voluntary, nonvoluntary) context switches so far, from ``/proc/<pid>/status``.

    Voluntary: the task blocked (read, sleep, futex wait). Nonvoluntary: it was preempted while runnable.
    """
    s = status(pid, tid)
    return int(s["voluntary_ctxt_switches"]), int(s["nonvoluntary_ctxt_switches"])


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size in KiB (``VmRSS``)."""
    return int(status(pid)["VmRSS"].split()[0])
