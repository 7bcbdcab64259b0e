"""hftos.native.semaphores: semaphore ping-pong, lock cost, eventfd modes, named semaphores."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hftos import native
from hftos.measure import Result
from hftos.native import runner, semaphores

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2


def _our_sems() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob(f"sem.hftos-{os.getpid()}-*")} if shm.is_dir() else set()


@pytest.fixture(autouse=True)
def no_leftovers():
    before = _our_sems()
    yield
    assert _our_sems() == before
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


def sane(r: Result, n: int) -> None:
    assert isinstance(r, Result) and r.unit == "ns" and r.host
    assert r.samples.shape == (n,) and np.all(np.isfinite(r.samples)) and np.all(r.samples >= 0)


def test_exports_and_source() -> None:
    assert native.sem_pingpong is semaphores.sem_pingpong
    text = native.source("semaphores")
    assert "FUTEX_WAIT" in text and "sem_init" in text and "EFD_SEMAPHORE" in text and "-pthread" in text


@pytest.mark.parametrize("named", [False, True])
def test_sem_pingpong_same_cpu(named: bool) -> None:
    r = semaphores.sem_pingpong(30, named=named)
    sane(r, 30)
    assert r.method["same_cpu"] is True and r.method["named"] is named
    assert np.all(r.samples > 0)


@pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs")
def test_sem_pingpong_cross_cpu() -> None:
    a, b = sorted(os.sched_getaffinity(0))[:2]
    r = semaphores.sem_pingpong(20, cpus=(a, b))
    sane(r, 20)
    assert r.method["same_cpu"] is False


@pytest.mark.parametrize("kind", list(semaphores.LOCK_KINDS))
def test_lock_uncontended(kind: str) -> None:
    r = semaphores.lock_cost(kind, n=20, batch=100)
    sane(r, 20)
    assert r.method["exclusive"] and r.method["batch"] == 100
    if kind == "futex":
        assert r.method["futex_waits"] == 0 and r.method["futex_wakes"] == 0


@pytest.mark.parametrize("kind", list(semaphores.LOCK_KINDS))
def test_lock_contended_keeps_mutual_exclusion(kind: str) -> None:
    cpus = tuple(sorted(os.sched_getaffinity(0))[:2]) if TWO_CPUS else None
    r = semaphores.lock_cost(kind, contended=True, n=2000, cpus=cpus)
    sane(r, 2000)
    assert r.method["exclusive"] and r.method["contended"]
    if kind == "futex":
        assert r.method["futex_waits"] >= 0 and r.method["futex_wakes"] >= 0


def test_lock_bad_kind() -> None:
    with pytest.raises(ValueError):
        semaphores.lock_cost("spin")


def test_eventfd_modes() -> None:
    assert semaphores.eventfd_modes(3) == {"counter": [3], "semaphore": [1, 1, 1]}
    assert semaphores.eventfd_modes(1) == {"counter": [1], "semaphore": [1]}


def test_named_view() -> None:
    v = semaphores.sem_named_view(3)
    assert v["file_seen"] and v["mode"] == "0o600" and v["file_size"] == v["sizeof_sem_t"]
    assert v["value_initial"] == 3 and v["trywait_ok"] == 3 and v["trywait_error"] == "EAGAIN"
    assert v["value_after"] == 0 and not v["exists_after_unlink"]


def test_lock_single_threaded_flag() -> None:
    r = semaphores.lock_cost("pthread", n=10, batch=50, threaded=False)
    sane(r, 10)
    assert r.method["threaded"] is False and "single-threaded" in r.name
    assert semaphores.lock_cost("pthread", n=10, batch=50).method["threaded"] is True
