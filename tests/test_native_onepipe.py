"""hftos.native.onepipe: the source's one-pipe benchmark reproduced without ever hanging (erratum E43)."""

from __future__ import annotations

import os
import time

import pytest

from hftos.native import onepipe, runner, source


@pytest.fixture(autouse=True)
def no_temp_leftovers():
    yield
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


def test_source_keeps_the_one_pipe_design() -> None:
    text = source("onepipe")
    assert text.startswith("/*") and "ONE pipe" in text and "poll(" in text
    assert onepipe._lib().path.exists()


@pytest.mark.parametrize("pinned", [True, False])
def test_counts_are_consistent_and_bounded(pinned: bool) -> None:
    t0 = time.monotonic()
    d = onepipe.onepipe_demo(3, iters=2000, pinned=pinned, patience_ms=100)
    assert time.monotonic() - t0 < 60, "a run must never hang"
    assert len(d["runs"]) == 3 and d["iters"] == 2000 and d["pinned"] is pinned
    assert 0 <= d["deadlocks"] <= 3
    for r in d["runs"]:
        assert 0 <= r["parent_self"] <= r["parent_reads"] <= 2000
        assert 0 <= r["child_self"] <= r["child_reads"] <= 2000
        assert r["deadlock"] == (r["parent_stuck"] or r["child_stuck"])
        if not r["parent_stuck"]:
            assert r["parent_reads"] == 2000 and r["source_ns"] > 0
        if not r["child_stuck"]:
            assert r["child_reads"] == 2000
        assert 0 <= r["self_read_pct"] <= 100


def test_c_counts_whose_byte_was_read() -> None:
    """Run the C directly (in a helper): every read is counted exactly once, as own byte or the other's."""
    raw = runner.run(onepipe._in_helper, timeout=60, cpu_parent=-1, cpu_child=-1, iters=500, patience_ms=50, runs=2)
    assert raw.shape == (2, 8)
    for ps, pr, pst, cs, cr, cst, elapsed, iters in raw:
        assert iters == 500 and elapsed > 0 and pst in (0, 1) and cst in (0, 1)
        assert ps <= pr and cs <= cr


@pytest.mark.parametrize("kwargs", [
    {"runs": 0}, {"iters": 0}, {"patience_ms": 0}, {"patience_ms": 20_000}, {"runs": 101},
    {"pinned": False, "cpu": 0}, {"cpu": 4096},
])
def test_bad_arguments_raise_before_anything_runs(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        onepipe.onepipe_demo(**kwargs)


def test_c_rejects_bad_arguments() -> None:
    c = onepipe._lib()
    out = c.ffi.new("int64_t[8]")
    assert c.lib.onepipe(-1, -1, 0, 100, out) < 0
    assert c.lib.onepipe(-1, -1, 10, 0, out) < 0
