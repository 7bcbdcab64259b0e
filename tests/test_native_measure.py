"""hftos.native measurements: each one runs and returns sane, well-shaped results (never timing asserts)."""

from __future__ import annotations

import errno
import os
import platform
import signal

import numpy as np
import pytest

from hftos import native
from hftos.measure import Result
from hftos.native import forkcost, runner

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


@pytest.mark.parametrize("thp", [False, True])
@pytest.mark.parametrize("method", ["fork", "vfork", "posix_spawn", "fork_exec"])
def test_fork_cost(method: str, thp: bool) -> None:
    r = native.fork_cost(4, method=method, thp=thp, n=5)
    sane(r, 5)
    assert 4 * 1024 <= r.method["rss_kib"] <= 4 * 1024 + 8192
    assert r.method["madvise"] == ("MADV_HUGEPAGE" if thp else "MADV_NOHUGEPAGE")
    assert r.method["anon_huge_kib"] <= r.method["rss_kib"]
    assert r.method["command"].startswith(f"forkcost {method} {4 * 2**20} {int(thp)} ")


@pytest.mark.parametrize("thp", [False, True])
@pytest.mark.parametrize("mib", [16, 64])
def test_fork_cost_parent_is_the_requested_size(mib: int, thp: bool) -> None:
    """The measuring parent is a small C program: its VmRSS is the region plus at most a few MiB."""
    r = native.fork_cost(mib, thp=thp, n=3)
    sane(r, 3)
    assert mib * 1024 <= r.method["rss_kib"] <= mib * 1024 + 8192


def test_fork_sweep() -> None:
    results = forkcost.fork_sweep([4, 8], methods=("fork", "vfork"), n=3)
    assert [(r.method["call"].split("(")[0], r.method["thp"], r.method["rss_mib"]) for r in results] == [
        (m, t, s) for m in ("fork", "vfork") for t in (False, True) for s in (4, 8)]
    for r in results:
        sane(r, 3)
        assert r.method["rss_mib"] * 1024 <= r.method["rss_kib"] <= r.method["rss_mib"] * 1024 + 8192


def test_fork_sweep_default_sizes_follow_the_budget() -> None:
    results = forkcost.fork_sweep(thp=False)
    assert [r.method["rss_mib"] for r in results] == list(forkcost.SWEEP_SIZES_MIB["smoke"])
    for r in results:
        sane(r, 10)


def _programs_running(path: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/exe") == path:
                pids.append(int(entry))
        except OSError:
            pass
    return pids


def test_fork_cost_timeout_kills_the_program_and_its_children() -> None:
    exe = str(forkcost.program().path)
    with pytest.raises(native.HelperTimeout) as info:
        native.fork_cost(16, n=10**7, timeout=1.0)
    assert info.value.errno == errno.ETIMEDOUT
    assert not _programs_running(exe)  # the program and its forked children (same executable) are gone


def test_fork_cost_interrupt_kills_the_program() -> None:
    """Ctrl-C ("interrupt kernel") during a measurement: the program's process group is killed and reaped."""
    def interrupt(signum, frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    exe = str(forkcost.program().path)
    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            native.fork_cost(16, n=10**7, timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not _programs_running(exe)


def test_fork_cost_program_errors_carry_errno() -> None:
    exe = str(forkcost.program().path)
    with pytest.raises(native.NativeError) as info:
        runner.run_program([exe, "fork", "16", "0", "0"], timeout=30, what="fork_cost")
    assert info.value.errno == errno.EINVAL and "usage" in str(info.value)
    with pytest.raises(native.NativeError) as info:  # past memory_bytes(): mmap itself refuses
        runner.run_program([exe, "fork", str(2**62), "0", "0", "1"], timeout=30, what="fork_cost")
    assert info.value.errno == errno.ENOMEM and "mmap" in str(info.value)


@pytest.mark.parametrize("call", [
    lambda: native.fork_cost(10**9),
    lambda: native.fork_cost(-1),
    lambda: native.fork_cost(True),
    lambda: native.fork_cost(16, method="clone9"),
    lambda: native.fork_cost(16, thp="yes"),
    lambda: native.fork_cost(16, n=0),
    lambda: native.fork_cost(16, timeout=0),
    lambda: forkcost.fork_sweep([4, 10**9]),
    lambda: forkcost.fork_sweep([]),
    lambda: forkcost.fork_sweep("16"),
    lambda: forkcost.fork_sweep([4], methods=("fork", "clone9")),
    lambda: forkcost.fork_sweep([4], thp=(False, "yes")),
    lambda: forkcost.fork_sweep([4], n=-1),
    lambda: forkcost.fork_sweep([4], timeout=-1),
])
def test_fork_bad_arguments_raise_before_anything_runs(call, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def must_not_run(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("ran before the arguments were checked")

    monkeypatch.setattr(forkcost, "program", must_not_run)
    monkeypatch.setattr(runner, "run_program", must_not_run)
    with pytest.raises(ValueError):
        call()


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
