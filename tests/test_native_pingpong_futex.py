"""hftos.native.pingpong: the futex transport, the working-set parameter and the context-switch counters."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hftos import native
from hftos.measure import Result
from hftos.native import pingpong, runner

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2
needs_two_cpus = pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs in this process's affinity mask")


@pytest.fixture(autouse=True)
def no_temp_leftovers():
    yield
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


def sane(r: Result, n: int) -> None:
    assert isinstance(r, Result) and r.unit == "ns" and r.host
    assert r.samples.shape == (n,) and np.all(np.isfinite(r.samples)) and np.all(r.samples > 0)


def test_futex_is_in_the_source() -> None:
    text = native.source("pingpong")
    assert "FUTEX_WAIT" in text and "FUTEX_WAKE" in text and "touch_bytes" in text


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_futex_same_cpu(mode: str) -> None:
    r = native.futex_pingpong(40, mode=mode)
    sane(r, 40)
    assert r.method["transport"] == "futex" and r.method["same_cpu"] is True and r.method["mode"] == mode


@needs_two_cpus
@pytest.mark.parametrize("mode", ["process", "thread"])
def test_futex_cross_cpu(mode: str) -> None:
    a, b = sorted(os.sched_getaffinity(0))[:2]
    r = native.futex_pingpong(30, mode=mode, cpus=(a, b))
    sane(r, 30)
    assert r.method["same_cpu"] is False


def test_futex_unpinned() -> None:
    sane(native.futex_pingpong(20, cpus=(None, None)), 20)


@pytest.mark.parametrize("func", [native.pipe_pingpong, native.eventfd_pingpong, native.futex_pingpong])
def test_working_set_is_touched_and_timed(func) -> None:  # type: ignore[no-untyped-def]
    r0 = func(20)
    r = func(20, working_set_kib=64)
    sane(r, 20)
    assert r0.method["working_set_kib"] == 0 and r0.method["touch_ns"] == 0
    assert r.method["working_set_kib"] == 64 and r.method["touch_ns"] > 0
    assert "64 KiB touched" in r.name


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_context_switch_counters_are_reported(mode: str) -> None:
    n = 50
    r = native.pipe_pingpong(n, mode=mode)
    cs = r.method["ctxt_switches"]
    a = cs["side_a"]
    assert a["voluntary"] >= 0 and a["nonvoluntary"] >= 0
    # On one CPU every round trip switches away from A at least once (it blocks or is preempted).
    assert a["voluntary"] + a["nonvoluntary"] >= n
    assert ("side_b" in cs) == (mode == "process")


def test_old_helper_signature_still_works() -> None:
    """Callers that pass only the original keyword arguments (tests, bench) keep working."""
    out, extra = runner.run(pingpong._in_helper, timeout=30, transport="futex", threads=1, cpu_a=-1, cpu_b=-1,
                            warmup=1, iters=5)
    assert out.shape == (5,) and extra["touch_ns"] == 0


@pytest.mark.parametrize("call", [
    lambda: native.futex_pingpong(0),
    lambda: native.futex_pingpong(10, mode="fiber"),
    lambda: native.futex_pingpong(10, cpus=(0, 4096)),
    lambda: native.pipe_pingpong(10, working_set_kib=-1),
    lambda: native.pipe_pingpong(10, working_set_kib=10**9),
    lambda: native.pipe_pingpong(10, working_set_kib=1.5),
])
def test_bad_arguments_raise_before_anything_runs(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def test_c_rejects_bad_arguments() -> None:
    c = pingpong._lib()
    out, touch = c.ffi.new("int64_t[4]"), c.ffi.new("int64_t *")
    assert c.lib.pingpong(3, 1, c.ffi.NULL, -1, -1, 1, 0, 0, out, touch) < 0       # iters 0
    assert c.lib.pingpong(3, 1, c.ffi.NULL, -1, -1, 1, 1, -5, out, touch) < 0      # negative working set
    assert c.lib.pingpong(9, 1, c.ffi.NULL, -1, -1, 1, 1, 0, out, touch) < 0       # unknown transport
