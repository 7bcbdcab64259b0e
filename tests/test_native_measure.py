"""hftos.native measurements: each one runs and returns sane, well-shaped results (never timing asserts)."""

from __future__ import annotations

import os
import platform

import numpy as np
import pytest

from hftos import native
from hftos.measure import Result
from hftos.native import runner

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2
needs_two_cpus = pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs in this process's affinity mask")
x86_only = pytest.mark.skipif(platform.machine() != "x86_64", reason="rdtsc exists only on x86-64")


@pytest.fixture(autouse=True)
def no_temp_leftovers():
    """No FIFO directory or temp file of ours survives a test (conftest checks children and /dev/shm)."""
    yield
    assert not runner.leftovers(f"hftos-{os.getpid()}-")
    assert not [p for p in os.listdir("/tmp") if p.startswith("hftos-batch-")]


def sane(r: Result, n: int) -> None:
    assert isinstance(r, Result)
    assert r.unit == "ns"
    assert r.samples.shape == (n,)
    assert np.all(np.isfinite(r.samples)) and np.all(r.samples > 0)
    assert r.stats.count == n
    assert "clock" in r.method and "iterations" in r.method
    assert r.host


def test_syscall_getpid() -> None:
    r = native.syscall_getpid(50)
    sane(r, 50)
    assert r.method["batch"] == 100


@pytest.mark.parametrize("clock", native.clock_ids())
def test_clock_gettime_every_clock(clock: str) -> None:
    sane(native.clock_gettime_cost(clock, 20), 20)
    sane(native.clock_gettime_cost(clock, 20, via="syscall"), 20)


@x86_only
@pytest.mark.parametrize("variant", ["rdtsc", "rdtscp"])
def test_rdtsc(variant: str) -> None:
    sane(native.rdtsc_cost(30, variant=variant), 30)


@x86_only
def test_tsc_calibrate() -> None:
    cal = native.tsc_calibrate(rounds=2, window_ms=5)
    assert 0.1 < cal["ticks_per_ns"] < 10
    assert len(cal["rounds"]) == 2 and isinstance(cal["invariant"], (bool, type(None)))


def test_default_counts_follow_the_smoke_budget() -> None:
    assert os.environ["HFTOS_BUDGET"] == "smoke"
    assert native.syscall_getpid().stats.count == 200


@pytest.mark.parametrize("mode", ["process", "thread"])
@pytest.mark.parametrize("func", [native.pipe_pingpong, native.eventfd_pingpong])
def test_pingpong_same_cpu(func, mode: str) -> None:  # type: ignore[no-untyped-def]
    r = func(40, mode=mode)
    sane(r, 40)
    assert r.method["same_cpu"] is True


def test_pingpong_unpinned_and_fifo() -> None:
    sane(native.pipe_pingpong(20, cpus=(None, None)), 20)
    sane(native.fifo_pingpong(20), 20)


@needs_two_cpus
def test_pingpong_cross_cpu() -> None:
    a, b = sorted(os.sched_getaffinity(0))[:2]
    r = native.pipe_pingpong(30, cpus=(a, b))
    sane(r, 30)
    assert r.method["cpus"] == [a, b] and r.method["same_cpu"] is False


@pytest.mark.parametrize("method", ["fork", "vfork", "posix_spawn", "fork_exec"])
def test_fork_cost(method: str) -> None:
    r = native.fork_cost(4, method=method, n=5)
    sane(r, 5)
    assert r.method["rss_kib"] > 4 * 1024


def test_fork_cost_thp() -> None:
    r = native.fork_cost(4, thp=True, n=3)
    sane(r, 3)
    assert r.method["madvise"] == "MADV_HUGEPAGE" and r.method["anon_huge_kib"] >= 0


def test_cow_demo() -> None:
    release = tuple(int(x) for x in platform.release().split(".")[:2] if x.isdigit())
    if release < (4, 2):
        pytest.skip("pagemap bit 56 (exclusively mapped) needs Linux 4.2")
    r = native.cow_demo()
    assert (r["excl_before"], r["excl_after"], r["minflt_delta"], r["parent_byte"]) == (0, 1, 1, "A")
    assert (r["neighbour_before"], r["neighbour_after"]) == (0, 0)
    assert r["line"] == "0 1 1 A"


def test_spsc_layout_is_cache_line_aligned_and_lock_free() -> None:
    lay = native.spsc_layout()
    line = lay["cache_line"]
    assert line == 64
    for key in ("off_a_to_b", "off_b_to_a", "off_head", "off_tail", "off_slots", "sizeof_ring"):
        assert lay[key] % line == 0, key
    # producer's and consumer's fields on different lines; cached copies beside their owner's index
    assert lay["off_head"] // line != lay["off_tail"] // line
    assert lay["off_head_cache"] // line == lay["off_tail"] // line
    assert lay["off_tail_cache"] // line == lay["off_head"] // line
    assert lay["off_slots"] >= lay["off_tail"] + line
    assert lay["slots"] & (lay["slots"] - 1) == 0 and lay["capacity"] == lay["slots"] - 1
    assert lay["index_lock_free"] and lay["flag_lock_free"]


@needs_two_cpus
def test_spsc_pingpong_and_throughput() -> None:
    sane(native.spsc_pingpong(200), 200)
    t = native.spsc_throughput(20_000)
    assert t["messages"] == 20_000 and t["mops"] > 0 and np.isfinite(t["mops"])


def test_batch_write_devnull() -> None:
    r = native.batch_write(500)
    sane(r["direct"], 500)
    assert r["batched"].samples.shape == (500,) and np.all(r["batched"].samples >= 0)
    assert r["direct_mps"] > 0 and r["batched_mps"] > 0


def test_batch_write_file_keeps_every_byte_even_big_messages() -> None:
    # 20 kB messages exceed the 8 KiB buffer: written directly; the file size is checked inside.
    r = native.batch_write(50, msg_bytes=20_000, target="file")
    assert r["batched"].stats.count == 50
    r = native.batch_write(300, msg_bytes=100, buffer_bytes=1000, target="file")
    assert r["batched_mps"] > 0


@pytest.mark.parametrize("call", [
    lambda: native.syscall_getpid(0),
    lambda: native.syscall_getpid(-5),
    lambda: native.clock_gettime_cost("sundial"),
    lambda: native.clock_gettime_cost("monotonic", via="magic"),
    lambda: native.rdtsc_cost(10, variant="rdpmc"),
    lambda: native.pipe_pingpong(-1),
    lambda: native.pipe_pingpong(10, mode="fiber"),
    lambda: native.pipe_pingpong(10, cpus=(0, 4096)),
    lambda: native.pipe_pingpong(10, cpus=(-1, 0)),
    lambda: native.pipe_pingpong(10, cpus=(0,)),
    lambda: native.fork_cost(10**9),
    lambda: native.fork_cost(-1),
    lambda: native.fork_cost(16, method="clone9"),
    lambda: native.spsc_pingpong(10, cpus=(0, 0)),
    lambda: native.spsc_throughput(0),
    lambda: native.batch_write(10, target="printer"),
    lambda: native.batch_write(10, msg_bytes=0),
])
def test_bad_arguments_raise_value_error(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()
