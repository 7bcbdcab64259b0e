"""hftos.proc: /proc parsing, on fixed lines and on live processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hftos import proc

# A real line, with a command name containing a space and parentheses (the reason to split at the last ')').
LINE = ("4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1234 0 5 0 250 30 0 0 20 0 3 0 100 1000000 300 "
        "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0")


def test_parse_stat_fields() -> None:
    s = proc.parse_stat(LINE)
    assert (s.pid, s.comm, s.state, s.ppid) == (4242, "my (odd) cmd", "S", 1)
    assert (s.minflt, s.majflt) == (1234, 5)
    assert s.utime_s == 250 / proc.CLK_TCK and s.stime_s == 30 / proc.CLK_TCK
    assert (s.priority, s.nice, s.num_threads, s.processor, s.rt_priority, s.policy) == (20, 0, 3, 1, 0, 0)


@pytest.mark.parametrize("bad", ["", "garbage", "12 (x) R 1 2 3"])
def test_parse_stat_rejects_malformed_lines(bad: str) -> None:
    with pytest.raises(ValueError):
        proc.parse_stat(bad)


def test_self() -> None:
    s = proc.stat()
    assert s.pid == os.getpid() and s.state == "R" and s.num_threads >= 1
    vol, invol = proc.context_switches()
    assert vol >= 0 and invol >= 0
    assert proc.rss_kib() > 1000


def test_live_states_of_a_sleeping_a_stopped_and_a_zombie_child() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    stopped = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.kill(stopped.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        want = {sleeper.pid: "S", stopped.pid: "T", zombie.pid: "Z"}
        while time.monotonic() < deadline:
            got = {pid: proc.stat(pid).state for pid in want}
            if got == want:
                break
            time.sleep(0.02)
        assert got == want
    finally:
        for p in (sleeper, stopped, zombie):
            p.kill()
            p.wait()
    with pytest.raises(ProcessLookupError):
        proc.stat(zombie.pid)
