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


MAPS = """\
55d0a0000000-55d0a0001000 r--p 00000000 fe:00 100  /usr/bin/prog
55d0a0001000-55d0a0002000 r-xp 00001000 fe:00 100  /usr/bin/prog
55d0a0002000-55d0a0003000 rw-p 00002000 fe:00 100  /usr/bin/prog
55d0a0003000-55d0a0005000 rw-p 00000000 00:00 0
55d0a1000000-55d0a1021000 rw-p 00000000 00:00 0    [heap]
7f0000000000-7f0000001000 ---p 00000000 00:00 0
7f0000001000-7f0000801000 rw-p 00000000 00:00 0
7f0000801000-7f0000900000 rw-p 00000000 00:00 0
7f1000000000-7f1000020000 r-xp 00000000 fe:00 200  /usr/lib/x86_64-linux-gnu/libc.so.6
7f1000020000-7f1000021000 rw-p 00020000 fe:00 200  /usr/lib/x86_64-linux-gnu/libc.so.6
7f1000021000-7f1000030000 rw-p 00000000 00:00 0
7f1000040000-7f1000050000 r--p 00000000 fe:00 300  /usr/lib/locale/locale-archive
7f1000050000-7f1000051000 rw-s 00000000 00:01 400  /dev/shm/seg (deleted)
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0    [stack]
7ffd00100000-7ffd00104000 r--p 00000000 00:00 0    [vvar]
7ffd00104000-7ffd00106000 r-xp 00000000 00:00 0    [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]
"""


def test_parse_maps_classifies_every_kind() -> None:
    e = proc.parse_maps(MAPS, exe="/usr/bin/prog", stack_pointers=[0x7F0000800F00])
    kinds = [x.kind for x in e]
    assert kinds == ["program", "program", "program", "bss", "heap", "guard page", "thread stack", "anonymous",
                     "library", "library", "bss", "file", "file", "main stack", "vdso", "vdso", "vdso"]
    assert [x.segment for x in e[:3]] == ["read-only data", "text", "data"]
    assert e[5].size == 4096 and e[6].size == 8 << 20
    assert e[12].path == "/dev/shm/seg (deleted)" and e[12].perms == "rw-s"
    assert e[-1].start == 0xFFFFFFFFFF600000
    # without the thread's stack pointer the same region is plain anonymous memory, and no guard page is named
    plain = proc.parse_maps(MAPS, exe="/usr/bin/prog")
    assert plain[5].kind == "anonymous" and plain[6].kind == "anonymous"


def test_summarize_maps() -> None:
    e = proc.parse_maps(MAPS, exe="/usr/bin/prog")
    s = {x.kind: x for x in proc.summarize_maps(e)}
    assert s["program"].regions == 3 and s["program"].size_kib == 12
    assert s["vdso"].regions == 3 and s["heap"].size_kib == 132
    assert all(x.rss_kib is None for x in s.values())
    assert [x.kind for x in proc.summarize_maps(e)] == [k for k in proc.MAP_KINDS if k in s]


@pytest.mark.parametrize("bad", ["", "garbage", "zz-yy r--p 0 fe:00 1"])
def test_parse_maps_line_rejects_malformed_lines(bad: str) -> None:
    with pytest.raises(ValueError):
        proc.parse_maps_line(bad)


def test_live_maps_of_this_process() -> None:
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait, args=(10,))
    t.start()
    try:
        time.sleep(0.05)
        e = proc.maps(rss=True)
    finally:
        stop.set()
        t.join()
    kinds = {x.kind for x in e}
    assert {"program", "library", "main stack", "vdso", "thread stack", "guard page"} <= kinds
    assert all(x.rss_kib is not None and x.rss_kib >= 0 for x in e)
    exe = os.readlink("/proc/self/exe")
    assert any(x.path == exe and "x" in x.perms for x in e) or any(x.kind == "program" for x in e)
    total_rss = sum(x.rss_kib or 0 for x in e)
    assert total_rss > 1000
    with pytest.raises(ProcessLookupError):
        proc.maps(2**22 + 12345)
