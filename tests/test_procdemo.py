"""hftos.procdemo: children in every state, seen from /proc, and nothing left behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hftos import proc, procdemo


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_every_child_shows_its_state_and_then_changes() -> None:
    d = procdemo.run(duration=1.5, interval=0.02)
    assert d.snapshot == procdemo.EXPECTED
    # the five are children of the helper, not of this process
    assert set(d.ppids.values()) == {d.pids["helper"]}
    assert d.pids["helper"] != os.getpid()
    seen = {r: d.seen(r) for r in procdemo.ROLES}
    assert "R" in seen["spin"] and "S" in seen["spin"]
    assert "R" in seen["sleep"]
    assert "Z" in seen["pipe"]
    st = seen["stopped"]
    assert "T" in st and "S" in st[st.index("T"):]  # stopped, then back in its sleep loop after SIGCONT
    assert "Z" in seen["zombie"]
    # the reaped zombie disappears from later samples
    assert "zombie" not in d.samples[-1][1]
    times = [t for t, _ in d.samples]
    assert times == sorted(times) and times[-1] < d.duration + 0.5


def test_nothing_is_left_behind() -> None:
    d = procdemo.run(duration=0.6, interval=0.02)
    deadline = time.monotonic() + 5
    pids = list(d.pids.values())
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.05)
    assert all(_gone(p) for p in pids)
    with pytest.raises(ProcessLookupError):
        os.killpg(d.pids["helper"], 0)


def test_interrupt_kills_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, int] = {}
    real_stat = proc.stat

    def stat_then_interrupt(pid: int | str = "self", tid: int | None = None) -> proc.ProcStat:
        s = real_stat(pid, tid)
        seen[str(pid)] = int(pid) if str(pid).isdigit() else 0
        if len(seen) >= 6:
            raise KeyboardInterrupt
        return s

    monkeypatch.setattr(procdemo.proc, "stat", stat_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        procdemo.run(duration=5.0, interval=0.05)
    pids = [p for p in seen.values() if p]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.05)
    assert pids and all(_gone(p) for p in pids)


@pytest.mark.parametrize("kwargs", [{"duration": 0.0}, {"duration": 100}, {"interval": 0.0},
                                    {"duration": 1.0, "interval": 0.5}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        procdemo.run(**kwargs)


