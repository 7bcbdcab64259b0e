"""hftos.native.timer: timer wake-up lateness, the cyclictest measurement (never its speed)."""

from __future__ import annotations

import numpy as np
import pytest

from hftos import host
from hftos.native.timer import timer_wakeup


@pytest.mark.parametrize("hog", [False, True])
def test_lateness_samples_are_sane(hog: bool) -> None:
    r = timer_wakeup(50, interval_us=500, hog=hog)
    assert r.samples.shape == (50,) and np.all(np.isfinite(r.samples))
    assert np.all(r.samples >= 0), "a wake-up cannot come before the requested time"
    assert r.method["hog"] is hog and r.method["timer_slack_ns"] == 1 and r.method["cpu"] >= 0


def test_fifo_needs_the_capability_and_says_so() -> None:
    allowed = host.can("sched_fifo", priority=10)
    if allowed:
        r = timer_wakeup(30, interval_us=500, policy="fifo", hog=True)
        assert r.method["policy"] == "SCHED_FIFO 10" and r.samples.size == 30
    else:
        with pytest.raises(PermissionError, match="SCHED_FIFO"):
            timer_wakeup(30, policy="fifo")


@pytest.mark.parametrize("kwargs", [
    {"policy": "deadline"}, {"interval_us": 10}, {"interval_us": 2_000_000}, {"policy": "fifo", "rt_priority": 99},
    {"slack_ns": 0}, {"n": 0}, {"cpu": 4096},
])
def test_bad_arguments_raise_before_anything_runs(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        timer_wakeup(**kwargs)
