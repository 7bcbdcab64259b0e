"""hftos.native.hotlog: every logging mode runs, logs every event in order, and leaves nothing behind."""

from __future__ import annotations

import math
import os

import pytest

from hftos import native
from hftos.native import hotlog, runner


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


def test_all_modes_run_and_log_everything() -> None:
    r = native.hotlog_compare(3_000, modes=tuple(hotlog.MODES))
    assert list(r["results"]) == [label for _, label in hotlog.MODES.values()]
    n = 3_000 + min(3_000, 2_000)
    for label, res in r["results"].items():
        s = res.stats
        assert s.count == 3_000 and s.min > 0 and math.isfinite(s.max)
        assert res.method["cpus"]["hot"] == r["cpus"][0]
    assert r["bytes"]["no logging"] == 0
    assert r["bytes"]["write() per event"] == n * hotlog.RECORD
    assert r["bytes"]["SPSC ring + logger thread"] == (n - r["drops"]["SPSC ring + logger thread"]) * hotlog.RECORD
    assert r["bytes"]["snprintf + write()"] > n * 20
    assert r["batches"]["SPSC ring + logger thread"] >= 1


def test_one_cpu_runs_both_threads_on_it() -> None:
    cpu = native.allowed_cpus()[0]
    r = native.hotlog_compare(2_000, modes=("ring",), cpus=(cpu, cpu))
    assert r["one_cpu"] and r["cpus"] == (cpu, cpu)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="modes"):
        native.hotlog_compare(10, modes=("syslog",))
    with pytest.raises(ValueError):
        native.hotlog_compare(0)
    with pytest.raises(ValueError, match="at most"):
        native.hotlog_compare(10_000_000)
    with pytest.raises(ValueError, match="cpus"):
        native.hotlog_compare(10, cpus=(0, 4096))
    with pytest.raises(ValueError, match="work_steps"):
        native.hotlog_compare(10, work_steps=-1)


def test_record_layout_in_source() -> None:
    src = native.source("hotlog")
    assert "_Static_assert(sizeof(struct record) == 32" in src
    assert "alignas(CACHE_LINE) _Atomic uint64_t tail" in src
