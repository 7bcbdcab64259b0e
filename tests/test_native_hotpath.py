"""hftos.native.hotpath: the hot loop runs, and pre-faulting plus a pool leave it without page faults.

Fault counts are structural (the same on every Linux host), so they are asserted; timings are not.
"""

from __future__ import annotations

import numpy as np
import pytest

from hftos import host
from hftos.native import hotpath_run, source


def test_lazy_journal_faults_in_the_loop() -> None:
    r, rep = hotpath_run(20_000, live=256)
    assert r.samples.shape == (20_000,) and np.all(np.isfinite(r.samples)) and np.all(r.samples >= 0)
    # 20,000 x 64 B = 1.25 MB of journal: one fault per 4 KiB page, inside the loop
    assert rep["faults_loop"] >= 20_000 * 64 // 4096 * 0.9
    assert rep["locked"] is False and r.method["prefault"] is False


def test_prefault_and_pool_leave_the_loop_fault_free() -> None:
    r, rep = hotpath_run(20_000, prefault=True, pool=True, live=256)
    assert rep["faults_loop"] == 0
    assert rep["faults_setup"] >= 20_000 * 64 // 4096 * 0.9      # the same faults, moved to start-up
    assert rep["faults_stack"] >= 0


def test_lock_needs_the_capability() -> None:
    try:
        _, rep = hotpath_run(10_000, prefault=True, pool=True, lock=True, live=64)
    except PermissionError as exc:              # no CAP_IPC_LOCK and too small an RLIMIT_MEMLOCK: says why
        assert "RLIMIT_MEMLOCK" in str(exc) or "CAP_IPC_LOCK" in str(exc)
        assert not host.can("mlock", mib=2)
    else:
        assert rep["locked"] and rep["faults_loop"] == 0


@pytest.mark.parametrize("kw", [dict(n=0), dict(live=0), dict(n=10_000_000)])
def test_bad_arguments(kw: dict) -> None:
    with pytest.raises(ValueError):
        hotpath_run(**kw)


def test_source_is_shown() -> None:
    assert "MAP_POPULATE" in source("hotpath") and "mlock" in source("hotpath")
