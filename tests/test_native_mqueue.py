"""hftos.native.mqueue: limits, EINVAL beyond them, priorities, the /dev/mqueue view, mq_notify, ping-pong."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hftos import native
from hftos.measure import Result
from hftos.native import mqueue, runner

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2


def _our_queues() -> set[str]:
    mount = mqueue.mqueue_mount()
    if mount is None:
        return set()
    return {p.name for p in Path(mount).iterdir() if p.name.startswith(f"hftos-{os.getpid()}-")}


@pytest.fixture(autouse=True)
def no_queue_leftovers():
    before = _our_queues()
    yield
    assert _our_queues() == before
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


def test_exports_and_source() -> None:
    assert native.mq_pingpong is mqueue.mq_pingpong
    text = native.source("mqueue")
    assert "mq_open" in text and "mq_notify" in text and "mq_unlink" in text


def test_limits_are_read() -> None:
    lim = mqueue.mq_limits()
    assert lim["defaults"]["msg_max"] == 10 and lim["defaults"]["msgsize_max"] == 8192
    if mqueue.PROC_DIR.is_dir():
        assert isinstance(lim["msg_max"], int) and lim["msg_max"] >= 1
    soft, hard = lim["rlimit_msgqueue"]
    assert soft != 0 and hard != 0


def test_default_queue_and_einval_beyond_msg_max() -> None:
    lim = mqueue.mq_limits()
    ok = mqueue.mq_try_create()
    assert ok["ok"] and ok["maxmsg"] == min(lim["msg_max"], lim["msg_default"])
    over = mqueue.mq_try_create(lim["msg_max"] + 1, 64)
    assert not over["ok"] and over["error"] == "EINVAL"
    over = mqueue.mq_try_create(1, lim["msgsize_max"] + 1)
    assert not over["ok"] and over["error"] == "EINVAL"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        mqueue.mq_try_create(5, 0)
    with pytest.raises(ValueError):
        mqueue.mq_priority_demo([])
    with pytest.raises(ValueError):
        mqueue.mq_priority_demo([40000])
    with pytest.raises(ValueError):
        mqueue.mq_pingpong(10, msg_bytes=0)
    with pytest.raises(ValueError):
        mqueue.mq_pingpong(10, msg_bytes=8193)


def test_priorities_highest_first_fifo_within() -> None:
    got = mqueue.mq_priority_demo([0, 5, 1, 5, 9, 0, 3])
    assert got == [(9, 4), (5, 1), (5, 3), (3, 6), (1, 2), (0, 0), (0, 5)]


def test_fs_view() -> None:
    try:
        v = mqueue.mq_fs_view(nmsgs=3, msg_bytes=100)
    except native.NativeError as exc:
        pytest.skip(str(exc))
    assert v["file_seen"] and v["mode"] == "0o600" and v["name"].startswith("/hftos-")
    assert v["file_before"].startswith("QSIZE:0 ") and v["file_after"].startswith("QSIZE:300 ")
    assert "NOTIFY:1" in v["file_notify"] and v["curmsgs_after"] == 3
    assert not v["exists_after_unlink"]


def test_notify_rules() -> None:
    d = mqueue.mq_notify_demo()
    assert d["si_code_is_mesgq"] and d["si_pid_is_sender"] and d["sival"] == 42
    assert d["busy_error"] == "EBUSY" and d["second_signal"] == 0 and d["waiter_signal"] == 0
    assert d["received"] == 3 and d["latency_ns"] > 0


@pytest.mark.parametrize("msg_bytes", [1, 64, 8192])
def test_pingpong_same_cpu(msg_bytes: int) -> None:
    r = mqueue.mq_pingpong(30, msg_bytes=msg_bytes)
    assert isinstance(r, Result) and r.samples.shape == (30,)
    assert np.all(np.isfinite(r.samples)) and np.all(r.samples > 0)
    assert r.method["same_cpu"] is True and r.method["msg_bytes"] == msg_bytes and r.host


@pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs")
def test_pingpong_cross_cpu() -> None:
    a, b = sorted(os.sched_getaffinity(0))[:2]
    r = mqueue.mq_pingpong(20, cpus=(a, b))
    assert r.samples.shape == (20,) and r.method["same_cpu"] is False


def test_pingpong_returns_when_the_other_side_dies() -> None:
    """Side B fails at once (it cannot pin to a CPU that does not exist), leaving A's first message in a
    one-slot queue: A must give up with an error after its timeouts, not block forever in mq_send."""
    cpu = sorted(os.sched_getaffinity(0))[0]
    with pytest.raises(native.NativeError) as err:
        runner.run(mqueue._pingpong_in_helper, timeout=40, cpu_a=cpu, cpu_b=100_000, warmup=1, iters=5, msg_bytes=64)
    assert not isinstance(err.value, runner.HelperTimeout)     # the C returned an error by itself
