"""Children in every process state, watched live from ``/proc`` (chapter 1.1).

:func:`run` starts a helper process (``python -m hftos.procdemo``, its own session, bounded in time) that forks
five children, each made to sit in one Linux process state, and then changes their states on a fixed script. The
caller (the notebook) samples every child's state letter from ``/proc/<pid>/stat`` while that happens.

======  ===========================================  ==============================================
role    what the child does (first half)             second half of the run
======  ===========================================  ==============================================
spin    a busy loop: ``R``                           sleeps: ``S``
sleep   ``time.sleep()``: ``S``                      wakes and spins (``R``), then sleeps again
pipe    ``os.read()`` on an empty pipe: ``S``        the helper writes a byte: it wakes and exits (``Z``)
stopped stopped by the helper with ``SIGSTOP``: ``T``  ``SIGCONT``: back to its sleep loop (``S``)
zombie  exits at once; the helper does not           the helper reaps it with ``waitpid()``: its
        ``waitpid()`` it: ``Z``                      ``/proc`` entry vanishes
======  ===========================================  ==============================================

The zombie is a child of the helper, never of the Jupyter kernel. The helper is a fresh single-threaded
interpreter (not a fork of the caller), so forking in it is safe. Everything is bounded: every child has a
deadline, the helper arms ``SIGALRM`` as a last resort, and :func:`run` kills the helper's whole process group
and reaps the helper in a ``finally``, even on ``KeyboardInterrupt``. Nothing is left behind.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from hftos import proc

#: The children, in the order they are forked and shown.
ROLES: tuple[str, ...] = ("spin", "sleep", "pipe", "stopped", "zombie")

#: The state letter each child shows during the first phase of the run.
EXPECTED: dict[str, str] = {"spin": "R", "sleep": "S", "pipe": "S", "stopped": "T", "zombie": "Z"}

#: What each child does in the first phase, for tables.
ACTIONS: dict[str, str] = {
    "spin": "busy loop",
    "sleep": "time.sleep()",
    "pipe": "os.read() on an empty pipe",
    "stopped": "sleep loop, then SIGSTOP",
    "zombie": "exited; parent has not called waitpid()",
}

#: The script, as fractions of the run's duration (see the module docstring).
PHASES: dict[str, float] = {
    "spin_stops": 0.5,      # the spinner starts sleeping
    "sleep_wakes": 0.5,     # the sleeper starts spinning ...
    "sleep_sleeps": 0.75,   # ... and sleeps again
    "pipe_write": 0.5,      # the helper writes to the pipe; the reader exits
    "cont": 0.65,           # SIGCONT to the stopped child
    "reap": 0.85,           # the helper reaps the zombie (and the exited pipe reader)
}


@dataclass
class StateDemo:
    """What :func:`run` saw: the children and the sampled state letters."""

    pids: dict[str, int]                  #: role -> PID (``helper`` is the parent of all five)
    ppids: dict[str, int]                 #: role -> parent PID as read from ``/proc`` at the snapshot
    samples: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    #: (seconds since the start of the script, {role: letter}); a role missing from a sample had no /proc entry
    snapshot: dict[str, str] = field(default_factory=dict)
    #: the first sample in which every child showed its :data:`EXPECTED` letter (or the best one seen)
    snapshot_t: float = float("nan")      #: when that was, in seconds since the start
    duration: float = 0.0
    interval: float = 0.0

    def seen(self, role: str) -> list[str]:
        """The distinct letters ``role`` showed, in the order they first appeared."""
        out: list[str] = []
        for _, m in self.samples:
            c = m.get(role)
            if c is not None and c not in out:
                out.append(c)
        return out

    def table(self) -> str:
        """The snapshot as an aligned text table (PIDs shown relative to the helper: stable across runs)."""
        rows = [("role", "what it does", "state", "meaning", "expected")]
        for role in ROLES:
            c = self.snapshot.get(role, "?")
            rows.append((role, ACTIONS[role], c, proc.STATE_NAMES.get(c, "no /proc entry"), EXPECTED[role]))
        w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w[i]) for i, v in enumerate(r)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * x for x in w))
        return "\n".join(lines)


def _set_comm(name: str) -> None:
    """Name this process (``/proc/self/comm``, what ``ps`` and ``top`` show), best effort."""
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(name[:15])
    except OSError:
        pass


def _sleep_until(t: float) -> None:
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))


def _spin_until(t: float) -> None:
    while time.monotonic() < t:
        pass


def _child(role: str, t0: float, duration: float, rfd: int, wfd: int) -> None:
    """The body of one child (never returns)."""
    try:
        _set_comm(f"demo-{role}")
        hard_end = t0 + duration + 5.0          # every child ends by itself, whatever happens
        at = {k: t0 + v * duration for k, v in PHASES.items()}
        if role != "pipe":
            os.close(rfd)
        os.close(wfd)                           # the helper keeps the only write end
        if role == "spin":
            _spin_until(at["spin_stops"])
            _sleep_until(hard_end)
        elif role == "sleep":
            _sleep_until(at["sleep_wakes"])
            _spin_until(at["sleep_sleeps"])
            _sleep_until(hard_end)
        elif role == "pipe":
            r, _, _ = select.select([rfd], [], [], max(0.0, hard_end - time.monotonic()))
            if r:
                os.read(rfd, 1)                 # blocks in pipe_read() until the helper writes
        elif role == "stopped":
            _sleep_until(hard_end)
        # "zombie" (and the pipe reader once woken) simply exit
    finally:
        os._exit(0)


def _helper(duration: float) -> int:
    """``python -m hftos.procdemo DURATION``: fork the children, run the script, reap everything."""
    signal.alarm(int(duration) + 15)            # last resort if the caller vanished
    t0 = time.monotonic() + 0.15                # the script starts a little after the forks
    rfd, wfd = os.pipe()
    pids: dict[str, int] = {}
    try:
        for role in ROLES:
            pid = os.fork()
            if pid == 0:
                _child(role, t0, duration, rfd, wfd)
            pids[role] = pid
        os.close(rfd)
        os.kill(pids["stopped"], signal.SIGSTOP)
        _set_comm("demo-helper")
        sys.stdout.write(json.dumps({"t0": t0, "helper": os.getpid(), **pids}) + "\n")
        sys.stdout.flush()
        at = {k: t0 + v * duration for k, v in PHASES.items()}
        events = sorted([(at["pipe_write"], "pipe_write"), (at["cont"], "cont"), (at["reap"], "reap")])
        for when, what in events:
            _sleep_until(when)
            if what == "pipe_write":
                os.write(wfd, b"x")
            elif what == "cont":
                os.kill(pids["stopped"], signal.SIGCONT)
            elif what == "reap":
                for role in ("zombie", "pipe"):
                    os.waitpid(pids.pop(role), 0)
        _sleep_until(t0 + duration)
    finally:
        for pid in pids.values():
            for sig in (signal.SIGKILL, signal.SIGCONT):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        for pid in pids.values():
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        sys.stdout.write("done\n")
        sys.stdout.flush()
    return 0


def _read_line(p: subprocess.Popen[bytes], timeout: float) -> bytes:
    assert p.stdout is not None
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError(f"the state-demo helper did not start within {timeout:g} s")
    return p.stdout.readline()


def run(duration: float = 2.0, interval: float = 0.02) -> StateDemo:
    """Run the five-children state demo for ``duration`` seconds, sampling states every ``interval`` s.

    Returns a :class:`StateDemo`. Every process involved is gone when this returns (or raises).
    """
    if not (isinstance(duration, (int, float)) and 0.2 <= duration <= 30):
        raise ValueError(f"duration must be between 0.2 and 30 seconds, got {duration!r}")
    if not (isinstance(interval, (int, float)) and 0.001 <= interval <= duration / 4):
        raise ValueError(f"interval must be between 1 ms and a quarter of the duration, got {interval!r}")
    p = subprocess.Popen([sys.executable, "-m", "hftos.procdemo", str(float(duration))], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        line = _read_line(p, 15.0)
        if not line:
            raise RuntimeError("the state-demo helper exited early: "
                               + p.communicate(timeout=5)[1].decode(errors="replace")[-500:])
        info = json.loads(line)
        t0 = float(info.pop("t0"))
        pids = {k: int(v) for k, v in info.items()}
        demo = StateDemo(pids=pids, ppids={}, duration=float(duration), interval=float(interval))
        best = -1
        while True:
            now = time.monotonic()
            if now >= t0 + duration:
                break
            sample: dict[str, str] = {}
            for role in ("helper", *ROLES):
                try:
                    sample[role] = proc.stat(pids[role]).state
                except (ProcessLookupError, ValueError):
                    pass
            t = now - t0
            demo.samples.append((t, sample))
            if t < PHASES["spin_stops"] * duration:
                score = sum(sample.get(r) == EXPECTED[r] for r in ROLES)
                if score > best:
                    best, demo.snapshot, demo.snapshot_t = score, {r: sample.get(r, "?") for r in ROLES}, t
                    demo.ppids = {}
                    for r in ROLES:
                        try:
                            demo.ppids[r] = proc.stat(pids[r]).ppid
                        except (ProcessLookupError, ValueError):
                            pass
            time.sleep(max(0.0, interval - (time.monotonic() - now)))
        p.communicate(timeout=duration + 15)
        return demo
    finally:
        if p.returncode != 0:  # still running (an error or Ctrl-C here), or it failed: kill its whole group
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if p.returncode is None:
            p.communicate()


if __name__ == "__main__":
    sys.exit(_helper(float(sys.argv[1])))
