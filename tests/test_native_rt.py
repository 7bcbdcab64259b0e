"""hftos.native.rt: RT policies, thread setup, SCHED_RR interleaving, spin-loop jitter (shape and sanity, never speed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from hftos import host
from hftos.measure import Result
from hftos.native import rt, runner, source

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2
needs_two_cpus = pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs in this process's affinity mask")
RT_OK = bool(host.can("sched_fifo", priority=10))
needs_rt = pytest.mark.skipif(not RT_OK, reason="needs CAP_SYS_NICE or RLIMIT_RTPRIO >= 10")


@pytest.fixture(autouse=True)
def no_temp_leftovers():
    """Nothing named with one of our run prefixes survives (the root conftest checks children and /dev/shm)."""
    yield
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


def test_source_is_the_c_that_runs() -> None:
    text = source("rt")
    assert text.startswith("/*")
    for needle in ("pthread_attr_setaffinity_np", "PTHREAD_EXPLICIT_SCHED", "SCHED_RESET_ON_FORK",
                   "sched_rr_get_interval", "sched_getcpu"):
        assert needle in text
    assert rt._lib().path.exists()


def test_guard_says_why() -> None:
    g = rt.rt_guard()
    assert isinstance(g.ok, bool) and g.reason.endswith(".") and g.cpus >= 1
    # A made-up host with nothing to protect the CPU: refused, with the command to check.
    info = host.probe()
    from dataclasses import replace
    bare = replace(info, rt_runtime_us=-1, rt_period_us=1000000, fair_server=False)
    g1 = rt.rt_guard(bare)
    if g1.cpus < 2:
        assert not g1 and "sched_rt_runtime_us" in g1.reason
    throttled = replace(info, rt_runtime_us=950000, rt_period_us=1000000, fair_server=False)
    assert rt.rt_guard(throttled) and "50000 of every 1000000" in rt.rt_guard(throttled).reason


@pytest.mark.parametrize("policy,priority", [("fifo", 10), ("rr", 10), ("other", 0)])
def test_try_policy_reports_success_or_errno(policy: str, priority: int) -> None:
    r = rt.try_policy(policy, priority)
    assert isinstance(r["ok"], bool)
    if r["ok"]:
        assert r["policy"] == {"fifo": "SCHED_FIFO", "rr": "SCHED_RR", "other": "SCHED_OTHER"}[policy]
        assert r["priority"] == priority and r["rr_interval_s"] >= 0
        if policy == "rr":
            assert r["rr_interval_s"] > 0        # the RR quantum
        if policy == "fifo":
            assert r["rr_interval_s"] == 0       # FIFO has no quantum
    else:
        assert policy != "other" and r["errno"] == 1 and "EPERM" in r["error"]


def test_try_policy_refuses_eperm_as_a_result_not_a_traceback() -> None:
    """As user nobody (when we are root), SCHED_FIFO fails with EPERM and says so."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    code = ("import os\n"
            "from hftos.native import rt\n"        # import first: the interpreter may live under /root
            "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
            "r = rt._try_in_helper(1, 10)\n"
            "print(r['ok'], r['errno'])\n")
    env = dict(os.environ, HOME="/tmp")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "1"]


@pytest.mark.parametrize("mode", ["after_create", "attributes"])
def test_thread_setup_other_runs_everywhere(mode: str) -> None:
    r = rt.rt_thread_setup(mode, policy="other", priority=0, reps=5)
    assert r["reps"] == 5 and r["setup_error"] == ""
    assert r["later"]["pinned"] and r["later"]["policy"] == "SCHED_OTHER" and r["later"]["cpu"] == r["cpu"]
    assert r["later_unpinned"] == 0 and r["later_wrong_policy"] == 0
    if mode == "attributes":  # set before the thread exists: never wrong, not even at its first instruction
        assert r["first_unpinned"] == 0 and r["first_wrong_policy"] == 0 and r["first_other_cpu"] == 0


@needs_rt
def test_thread_setup_fifo_with_attributes_is_never_wrong() -> None:
    r = rt.rt_thread_setup("attributes", policy="fifo", priority=10, reps=10)
    assert r["first"] == {"cpu": r["cpu"], "policy": "SCHED_FIFO", "priority": 10, "pinned": True}
    assert r["first_unpinned"] == r["first_wrong_policy"] == r["first_other_cpu"] == 0
    after = rt.rt_thread_setup("after_create", policy="fifo", priority=10, reps=10)
    assert after["later"]["policy"] == "SCHED_FIFO" and after["later_wrong_policy"] == 0
    assert 0 <= after["first_wrong_policy"] <= 10  # the race: sometimes, never asserted


@needs_rt
def test_rr_interleave_gives_a_timeline() -> None:
    t0 = time.monotonic()
    tr = rt.rr_interleave(120, threads=2)
    assert time.monotonic() - t0 < 30
    s = tr.schedule
    assert [j.name for j in s.jobs] == ["T0", "T1"]
    assert len(tr.quantum_ms) == 2 and all(q > 0 for q in tr.quantum_ms)
    runs = [sl for sl in s.timeline if sl.kind == "run"]
    assert runs and all(sl.end > sl.start >= 0 for sl in s.timeline)
    assert {sl.job for sl in runs} <= {0, 1}
    assert all(s.timeline[i].start <= s.timeline[i + 1].start for i in range(len(s.timeline) - 1))
    assert s.switches >= 0 and sum(sum(v) for v in tr.runs.values()) > 0
    assert tr.method["policy"] == "SCHED_RR 10" and tr.host
    from hftos import plot
    assert plot.gantt(s) is not None


@needs_rt
def test_rr_interleave_fifo_single_thread() -> None:
    tr = rt.rr_interleave(30, threads=1, policy="fifo")
    assert tr.quantum_ms == [0.0] and len(tr.schedule.jobs) == 1


def test_rr_interleave_without_permission_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    no = host.Capability("sched_fifo", False, "SCHED_FIFO needs CAP_SYS_NICE or RLIMIT_RTPRIO.")
    monkeypatch.setattr(host, "can", lambda *a, **k: no)
    with pytest.raises(PermissionError, match="CAP_SYS_NICE"):
        rt.rr_interleave(50)
    with pytest.raises(PermissionError):
        rt.rt_thread_setup("attributes", policy="fifo", priority=10)


def test_rr_interleave_refuses_when_unguarded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "can", lambda *a, **k: host.Capability("sched_fifo", True, "ok"))
    monkeypatch.setattr(rt, "rt_guard", lambda info=None: rt.Guard(False, "No protection.", -1, 1000000, False, 1))
    with pytest.raises(RuntimeError, match="No protection"):
        rt.rr_interleave(50)


@pytest.mark.parametrize("pinned", [True, False])
def test_spin_jitter_is_sane(pinned: bool) -> None:
    r = rt.spin_jitter(40, pinned=pinned)
    assert isinstance(r, Result) and r.unit == "ns" and r.host
    assert r.samples.size >= 1 and np.all(np.isfinite(r.samples)) and np.all(r.samples > 0)
    m = r.method
    assert m["loops"] > 0 and 0 < m["elapsed_ns"] < 5e9 and m["cpus_seen"]
    assert m["gaps_stored"] <= m["gaps_seen"] and m["moved_gaps"] <= m["cpu_switches"] + 1
    if not m["no_gaps"]:
        assert np.all(r.samples > m["threshold_ns"]) and len(m["gap_at_ns"]) == r.samples.size
    if pinned:
        assert m["cpu_switches"] == 0 and m["cpus_seen"] == [m["cpu"]]


@pytest.mark.parametrize("call", [
    lambda: rt.try_policy("deadline"),
    lambda: rt.try_policy("fifo", 99),
    lambda: rt.try_policy("fifo", 0),
    lambda: rt.try_policy("other", 5),
    lambda: rt.rt_thread_setup("sideways"),
    lambda: rt.rt_thread_setup("attributes", policy="other", priority=0, reps=0),
    lambda: rt.rt_thread_setup("attributes", policy="other", priority=0, cpu=4096),
    lambda: rt.rr_interleave(50, threads=0),
    lambda: rt.rr_interleave(50, policy="other", priority=0),
    lambda: rt.rr_interleave(5),
    lambda: rt.rr_interleave(50, threshold_us=0),
    lambda: rt.spin_jitter(0),
    lambda: rt.spin_jitter(10, threshold_ns=5),
    lambda: rt.spin_jitter(10, pinned=False, cpu=0),
    lambda: rt.spin_jitter(10, cpu=4096),
])
def test_bad_arguments_raise_before_anything_runs(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def test_c_rejects_bad_arguments_too() -> None:
    c = rt._lib()
    out = c.ffi.new("int64_t[16]")
    assert c.lib.rt_thread_setup(7, 0, 0, 0, 1, out) < 0
    gaps, info = c.ffi.new("int64_t[4]"), c.ffi.new("int64_t[8]")
    assert c.lib.rr_interleave(0, 2, 10, 9, 1000, 1000, 1, gaps, info) < 0
    assert c.lib.spin_jitter(0, 0, 1000, 1, gaps, gaps, gaps, info) < 0
