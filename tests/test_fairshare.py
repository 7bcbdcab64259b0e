"""hftos.fairshare: the live nice-value CPU-share measurement (shape and cleanup, never timing ratios)."""

from __future__ import annotations

import math
import os

import pytest

from hftos import fairshare, host
from hftos.sched.weights import cpu_shares


def _gone(pid: int) -> bool:
    """True if ``pid`` no longer exists (or, after PID reuse, is no longer one of our workers)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"sched_setaffinity" not in f.read()
    except OSError:
        return True


@pytest.mark.parametrize("sessions", ["one", "separate"])
def test_shape_and_cleanup(sessions: str) -> None:
    nices = (0, 5, 10)
    r = fairshare.measure_shares(nices, sessions=sessions, warmup_s=0.05, window_s=0.3)
    assert r.nices == nices and r.sessions == sessions
    assert len(r.measured) == len(r.predicted) == len(r.cpu_seconds) == len(r.pids) == 3
    assert r.weights == (1024, 335, 110)
    assert r.predicted == pytest.approx(cpu_shares(list(nices)))
    assert sum(r.predicted) == pytest.approx(1.0)
    assert all(math.isfinite(m) and 0.0 <= m <= 1.0 for m in r.measured)
    assert sum(r.measured) == pytest.approx(1.0)
    assert all(c >= 0 for c in r.cpu_seconds) and r.window_s > 0
    assert r.cpu in os.sched_getaffinity(0)
    assert len(set(r.pids)) == 3 and os.getpid() not in r.pids
    assert all(_gone(pid) for pid in r.pids), "a worker outlived measure_shares()"
    predicted, measured = r.as_maps()
    assert list(predicted) == list(measured) == ["nice 0", "nice 5", "nice 10"]
    assert "nice 10" in str(r) and r.method["sessions"] == sessions
    assert r.ps.startswith("$ ps")


def test_repeated_nice_labels_are_unique() -> None:
    r = fairshare.measure_shares([3, 3], warmup_s=0.05, window_s=0.2)
    assert r.labels == ["#0 nice 3", "#1 nice 3"]
    assert all(_gone(pid) for pid in r.pids)


@pytest.mark.parametrize("bad, exc", [
    ([20], ValueError), ([-21], ValueError), ([], ValueError), ([0] * (fairshare.MAX_WORKERS + 1), ValueError),
    ([1.5], TypeError), ([True], TypeError), (["0"], TypeError), ("05", TypeError), (5, TypeError),
])
def test_bad_nice_values_rejected(bad, exc) -> None:
    with pytest.raises(exc):
        fairshare.measure_shares(bad, window_s=0.1)


@pytest.mark.parametrize("kw", [{"cpu": -1}, {"cpu": 10_000}, {"cpu": True}, {"window_s": 0}, {"warmup_s": -1},
                                {"window_s": float("nan")}, {"sessions": "two"}])
def test_bad_parameters_rejected(kw) -> None:
    with pytest.raises(ValueError):
        fairshare.measure_shares([0, 5], **kw)


def test_lower_nice_without_privilege_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    started = []
    monkeypatch.setattr(fairshare._host, "can",
                        lambda name, **kw: host.Capability(name, False, "no CAP_SYS_NICE in this test."))
    monkeypatch.setattr(fairshare.subprocess, "Popen", lambda *a, **k: started.append(a))
    with pytest.raises(PermissionError, match="CAP_SYS_NICE"):
        fairshare.measure_shares([-5, 0], window_s=0.1)
    assert not started, "nothing may be started for a refused request"
