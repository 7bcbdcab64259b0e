"""hftos.native.hotsignals: the gap detector, signal routing, SIGPIPE and timer demos run and count correctly."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from hftos import native
from hftos.measure import Result
from hftos.native import hotsignals, runner


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


@pytest.fixture(scope="module")
def run() -> dict:
    return native.hot_signals(seconds=0.2, rate_hz=500, rounds=2)


def test_modes_and_routing(run: dict) -> None:
    labels = [label for _, label in hotsignals.MODES.values()]
    assert list(run["results"]) == labels
    none, handler, sfd = (run["stats"][lab] for lab in labels)
    assert none["sent"] == 0 and none["handled"] == 0 and none["read_sfd"] == 0
    assert handler["sent"] >= 90 and handler["read_sfd"] == 0
    assert 1 <= handler["handled"] <= handler["sent"], "standard signals may coalesce, never multiply"
    assert sfd["handled"] == 0, "with every thread blocking SIGUSR1 the hot thread's handler never runs"
    assert 1 <= sfd["read_sfd"] <= sfd["sent"]
    for lab in labels:
        st = run["stats"][lab]
        assert st["iterations"] > 1000 and st["spin_ns"] >= 0.2e9
        assert res_ok(run, lab)
        assert st["gaps_recorded"] == min(st["gaps_total"], hotsignals.MAX_GAPS)
        res = run["results"][lab]
        assert res.samples.size == st["gaps_recorded"]
        assert np.all(res.samples > run["threshold_ns"]) and np.all(np.isfinite(res.samples))
        assert res.method["policy"] == "SCHED_OTHER"


def res_ok(run: dict, lab: str) -> bool:
    return run["results"][lab].method["rounds"] == run["rounds"] == 2


def test_gap_rate_and_table(run: dict) -> None:
    res = next(iter(run["results"].values()))
    xs = [250, 1_000, 10_000, 1e12]
    rates = hotsignals.gap_rate(res, xs)
    assert rates.shape == (4,) and np.all(np.diff(rates) <= 0) and rates[-1] == 0
    rows = hotsignals.gap_table(run)
    assert [r["mode"] for r in rows] == list(run["results"])
    for r in rows:
        assert r[">1us"] >= r[">5us"] >= r[">10us"] >= 0 and math.isfinite(r["lost_pct"])
    text = hotsignals.format_gap_table(rows)
    assert "> 5 us" in text and len(text.splitlines()) == 2 + len(rows)


def test_gap_rate_by_hand() -> None:
    res = Result.from_samples("x", np.array([300.0, 2_000.0, 20_000.0]),
                              method={"spin_ns": 2e9, "gaps_total": 6, "gaps_recorded": 3})
    assert hotsignals.gap_rate(res, [250, 1_000, 10_000, 50_000]).tolist() == [3.0, 2.0, 1.0, 0.0]


def test_one_cpu_placement() -> None:
    cpu = native.allowed_cpus()[0]
    r = native.hot_signals(("handler",), seconds=0.05, rate_hz=200, cpus=(cpu, cpu))
    assert r["one_cpu"] and r["cpus"] == (cpu, cpu)


def test_sigpipe() -> None:
    r = native.sigpipe_demo()
    assert r == {"write(), default SIGPIPE action": "killed by SIGPIPE",
                 "send(..., MSG_NOSIGNAL)": "returned -1, errno EPIPE",
                 "write(), SIGPIPE ignored": "returned -1, errno EPIPE"}


def test_timer_ticks() -> None:
    r = native.timer_ticks(n=20, period_us=2000)
    assert list(r) == [label for _, label in hotsignals.TIMER_KINDS.values()]
    for res in r.values():
        assert res.samples.shape == (20,) and np.all(res.samples >= 0) and np.all(np.isfinite(res.samples))
        assert res.method["lost"] >= 0


@pytest.mark.parametrize("kwargs", [{"modes": ("spin",)}, {"modes": ()}, {"seconds": 0}, {"seconds": 100},
                                    {"rate_hz": 0}, {"rate_hz": 1_000_000}, {"threshold_ns": 0},
                                    {"cpus": (0, 4096)}, {"rounds": 0}, {"rounds": 50},
                                    {"seconds": 0.02, "rounds": 5}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        native.hot_signals(**kwargs)


def test_bad_timer_arguments() -> None:
    with pytest.raises(ValueError):
        native.timer_ticks(("alarm",))
    with pytest.raises(ValueError):
        native.timer_ticks(period_us=10)
    with pytest.raises(ValueError):
        native.timer_ticks(n=0)
