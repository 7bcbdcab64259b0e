"""Tests for hftos.measure: statistics, budgets, measure(), compare(), progress, tables, files.

Following conventions §3, nothing here asserts an absolute time or that one variant is faster
than another: only that measurements ran and produced sane, positive, finite numbers of the right shape.
"""

from __future__ import annotations

import gc
import io
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hftos import measure as m
from hftos.measure import (PERCENTILES, Progress, Result, Stats, Table, budget, compare, interleave_schedule,
                           measure, progress, scaled, summary, table)

HOST = {"kernel": "6.8.0-test", "cpu_model": "Test CPU", "cpus": 2, "virt": "VM (KVM)", "container": "none detected"}


# ------------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------------

def test_percentiles_constant() -> None:
    assert [label for label, _ in PERCENTILES] == ["p50", "p90", "p99", "p99.9"]


def test_stats_known_array_1000() -> None:
    a = np.arange(1, 1001, dtype=float)  # 1..1000
    s = Stats.of(a)
    assert s.count == 1000 and s.min == 1 and s.max == 1000
    assert s.p50 == pytest.approx(500.5)
    assert s.p90 == pytest.approx(900.1)
    assert s.p99 == pytest.approx(990.01)
    assert s.p999 == pytest.approx(999.001)  # linear interpolation between the 999th and 1000th values
    assert s.mean == pytest.approx(500.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stats_match_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(mean=4.0, sigma=0.7, size=1000)
    s = Stats.of(a)
    assert s.p50 == pytest.approx(np.percentile(a, 50))
    assert s.p90 == pytest.approx(np.percentile(a, 90))
    assert s.p99 == pytest.approx(np.percentile(a, 99))
    assert s.p999 == pytest.approx(np.percentile(a, 99.9))
    assert (s.min, s.max, s.count) == (a.min(), a.max(), 1000)
    d = s.as_dict()
    assert list(d) == ["count", "min", "p50", "p90", "p99", "p99.9", "max"]


def test_stats_rejects_empty_and_nan() -> None:
    with pytest.raises(ValueError):
        Stats.of([])
    with pytest.raises(ValueError):
        Stats.of([1.0, float("nan")])
    with pytest.raises(ValueError):
        Stats.of([1.0, float("inf")])


@given(st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=300))
@settings(max_examples=60, deadline=None)
def test_stats_are_ordered(xs: list[float]) -> None:
    s = Stats.of(xs)
    eps = 1e-6 * max(1.0, abs(s.max), abs(s.min))
    assert s.min - eps <= s.p50 <= s.p90 + eps <= s.p99 + 2 * eps <= s.p999 + 3 * eps <= s.max + 4 * eps
    assert s.count == len(xs)


# ------------------------------------------------------------------------------------------------
# budgets
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [("smoke", "smoke"), ("default", "default"), ("full", "full"),
                                            ("", "default"), (" FULL ", "full"), (None, "default")])
def test_budget_values(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str) -> None:
    if value is None:
        monkeypatch.delenv("HFTOS_BUDGET", raising=False)
    else:
        monkeypatch.setenv("HFTOS_BUDGET", value)
    assert budget() == expected


def test_budget_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFTOS_BUDGET", "huge")
    with pytest.raises(ValueError, match="huge"):
        budget()
    with pytest.raises(ValueError):
        scaled(100)


def test_scaled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFTOS_BUDGET", "default")
    assert scaled(100) == 100
    monkeypatch.setenv("HFTOS_BUDGET", "full")
    assert scaled(100) == 1000 and scaled(100, full=5000) == 5000
    monkeypatch.setenv("HFTOS_BUDGET", "smoke")
    assert scaled(100) == 10 and scaled(5) == 1 and scaled(100, smoke=3) == 3
    with pytest.raises(ValueError):
        scaled(0)


# ------------------------------------------------------------------------------------------------
# measure()
# ------------------------------------------------------------------------------------------------

def _work() -> int:
    return sum(range(50))


def test_measure_trivial_function() -> None:
    r = measure(_work, name="sum50", n=200, warmup=20, host=HOST)
    assert isinstance(r, Result) and r.name == "sum50" and r.unit == "ns"
    assert r.samples.shape == (200,)
    assert np.all(np.isfinite(r.samples)) and np.all(r.samples > 0)
    assert r.method["clock"].startswith("perf_counter_ns (")
    if sys.platform.startswith("linux"):
        assert r.method["clock"] == "perf_counter_ns (CLOCK_MONOTONIC)"
    assert (r.method["n"], r.method["warmup"], r.method["inner"]) == (200, 20, 1)
    assert r.method["timer_overhead_ns"] >= 0 and r.method["gc"] == "disabled while timing"
    assert r.host == HOST
    s = r.stats
    assert 0 < s.min <= s.p50 <= s.p99 <= s.max


def test_measure_defaults_use_budget_and_attach_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFTOS_BUDGET", "smoke")
    r = measure(_work, name="default-n")
    assert r.samples.size == scaled(1000, smoke=100) == 100
    assert r.method["warmup"] == 10 and r.method["budget"] == "smoke"
    assert r.host.get("kernel") == os.uname().release  # the live fingerprint
    json.dumps(r.to_dict(with_samples=True))


def test_measure_inner_and_setup_counts() -> None:
    calls = {"fn": 0, "setup": 0}

    def fn() -> None:
        calls["fn"] += 1

    def setup() -> None:
        calls["setup"] += 1

    r = measure(fn, name="counted", n=30, warmup=5, inner=7, setup=setup, host=HOST)
    assert calls == {"fn": (30 + 5) * 7, "setup": 30 + 5}
    assert r.samples.size == 30 and r.method["inner"] == 7 and r.method["setup"] == "setup"
    assert np.all(np.isfinite(r.samples)) and np.all(r.samples >= 0)


def test_measure_restores_gc_and_affinity() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    assert gc.isenabled()
    r = measure(_work, name="pinned", n=20, cpu=cpus[-1], host=HOST)
    assert r.method["cpus"] == [cpus[-1]] and r.method["pinned"] is True
    assert sorted(os.sched_getaffinity(0)) == cpus
    assert gc.isenabled()

    def boom() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        measure(boom, name="fails", n=5, host=HOST)
    assert gc.isenabled()


def test_measure_rejects_bad_arguments() -> None:
    for kw in ({"n": 0}, {"inner": 0}, {"warmup": -1}):
        with pytest.raises(ValueError):
            measure(_work, name="bad", host=HOST, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# compare()
# ------------------------------------------------------------------------------------------------

def test_interleave_schedule_is_deterministic() -> None:
    names = ["a", "b", "c"]
    s1 = interleave_schedule(names, 10, seed=7)
    assert s1 == interleave_schedule(names, 10, seed=7)
    assert all(sorted(r) == names for r in s1)
    assert any(interleave_schedule(names, 10, seed=s) != s1 for s in range(8, 12))
    assert interleave_schedule(names, 3, order="alternate") == [names, names[::-1], names]
    assert interleave_schedule(names, 3, order="rotate") == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    with pytest.raises(ValueError):
        interleave_schedule(names, 3, order="random")


@pytest.mark.parametrize("order", ["shuffle", "alternate", "rotate"])
def test_compare_follows_schedule_and_counts(order: str) -> None:
    log: list[str] = []

    def make(name: str):  # type: ignore[no-untyped-def]
        def fn() -> None:
            log.append(name)
        return fn

    names = ["A", "B", "C"]
    rounds, per, warm = 6, 4, 2
    res = compare({k: make(k) for k in names}, rounds=rounds, n_per_round=per, warmup=warm, seed=3,
                  order=order, host=HOST)
    assert list(res) == names
    expected = [k for k in names for _ in range(warm)]
    for perm in interleave_schedule(names, rounds, seed=3, order=order):
        for k in perm:
            expected += [k] * per
    assert log == expected
    for k, r in res.items():
        assert r.name == k and r.samples.size == rounds * per
        assert np.all(np.isfinite(r.samples)) and np.all(r.samples >= 0)
        assert r.method["rounds"] == rounds and r.method["n_per_round"] == per
        assert r.method["order"] == order and r.method["seed"] == 3 and "interleave" in r.method
        assert r.host == HOST


def test_compare_defaults_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFTOS_BUDGET", "smoke")
    res = compare({"x": _work, "y": lambda: _work() + 1}, host=HOST)
    assert {r.samples.size for r in res.values()} == {4 * 25}
    with pytest.raises(ValueError):
        compare({}, rounds=1, n_per_round=1)
    with pytest.raises(ValueError):
        compare({"x": _work}, rounds=0, n_per_round=1)


# ------------------------------------------------------------------------------------------------
# progress
# ------------------------------------------------------------------------------------------------

class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_silent_under_delay(capsys: pytest.CaptureFixture[str]) -> None:
    buf = FakeTTY()
    with progress(100, "quick", file=buf) as p:
        for _ in range(100):
            p.update()
    assert buf.getvalue() == "" and not p.shown
    assert list(progress(range(5), "quick")) == [0, 1, 2, 3, 4]
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_progress_appears_after_delay_with_fake_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(m.time, "monotonic", lambda: now[0])
    buf = FakeTTY()
    p = Progress(10, "slow", file=buf)
    p.update(3)
    now[0] += 1.9
    p.update(1)
    assert buf.getvalue() == ""  # still under 2 s
    now[0] += 0.2
    p.update(1)  # first update after 2 s creates the line
    assert p.shown and buf.getvalue().startswith("\rslow: 5/10 (50%)")
    p.close()
    text = buf.getvalue()
    assert text.endswith("\n") and text.rstrip().endswith("(done)") and text.count("\n") == 1
    assert text.count("\r") == 2  # one line, rewritten in place


def test_progress_terminal_line(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    for _ in progress(range(50), "iter", delay=0):
        pass
    text = fake.getvalue()
    assert text.startswith("\riter: ") and "50/50 (100%)" in text
    assert text.rstrip().endswith("(done)") and text.count("\n") == 1


def test_progress_not_a_tty_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    with progress(10, "piped", delay=0) as p:
        p.update(10)
    assert plain.getvalue() == "" and not p.shown


def test_progress_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFTOS_PROGRESS", "off")
    buf = FakeTTY()
    with progress(10, "off", delay=0, file=buf) as p:
        p.update(10)
    assert buf.getvalue() == ""


def test_progress_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = FakeTTY()
    with pytest.raises(KeyboardInterrupt):
        with progress(10, "cut", delay=0, file=buf) as p:
            p.update(3)
            raise KeyboardInterrupt
    assert buf.getvalue().rstrip().endswith("(interrupted)")


def test_progress_widget_in_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ipywidgets")
    import IPython.display

    shown: list[object] = []
    monkeypatch.setattr(m, "_in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    with progress(20, "widget", delay=0) as p:
        p.update(20)
    assert p.mode == "widget" and len(shown) == 1
    bar, label = shown[0].children  # type: ignore[attr-defined]
    assert bar.value == 20 and bar.max == 20 and bar.bar_style == "success" and "(done)" in label.value


def test_progress_kernel_without_ipywidgets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "_in_kernel", lambda: True)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    err = io.StringIO()  # a kernel's stderr is not a tty, but Jupyter renders \r
    monkeypatch.setattr(sys, "stderr", err)
    with progress(5, "fallback", delay=0) as p:
        p.update(5)
    assert p.mode == "line" and "fallback: 5/5" in err.getvalue()


def test_progress_unknown_total() -> None:
    buf = FakeTTY()
    for _ in progress((i for i in range(3)), "gen", delay=0, file=buf):
        pass
    assert "gen: 3," in buf.getvalue()


# ------------------------------------------------------------------------------------------------
# tables and formatting
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x,text", [
    (1234567.0, "1,235,000"), (12345.0, "12,340"), (1234.5, "1,234"), (123.4, "123"), (12.34, "12.3"),
    (1.234, "1.23"), (0.01234, "0.0123"), (0.0, "0.00"), (-12.34, "-12.3"), (float("inf"), "inf"),
])
def test_fmt_significant_digits(x: float, text: str) -> None:
    assert m._fmt(x) == text


def _res(name: str, values: np.ndarray, unit: str = "ns") -> Result:
    return Result.from_samples(name, values, unit=unit, method={"clock": "test"}, host=HOST)


def test_table_renders_html_and_text() -> None:
    a = _res("fast", np.arange(1, 1001, dtype=float))
    b = _res("slow <b>", np.full(10, 1234567.0))
    t = table([a, b])
    assert isinstance(t, Table) and len(t.rows) == 2
    assert t.rows[0] == ("fast", "1000", "1.00", "500", "900", "990", "999", "1,000", "ns")
    assert t.rows[1][2:8] == ("1,235,000",) * 6
    h = t._repr_html_()
    assert h.startswith("<table") and h.count("<tr>") == 3 and "slow &lt;b&gt;" in h
    for c in ("name", "count", "min", "p50", "p90", "p99", "p99.9", "max", "unit"):
        assert f">{c}</th>" in h
    lines = str(t).splitlines()
    assert lines[0].split() == ["name", "count", "min", "p50", "p90", "p99", "p99.9", "max", "unit"]
    assert len(lines) == 5 and set(lines[1]) <= {"-", " "}
    assert lines[-1] == "measured on Test CPU, Linux 6.8.0-test, VM (KVM)", "a table says which host it came from"
    assert "<caption" in h and "measured on Test CPU" in h
    assert t.stats[0]["p99.9"] == pytest.approx(999.001)


def test_table_mapping_single_and_unit() -> None:
    a = _res("a", np.array([1000.0, 2000.0, 3000.0]))
    t = table({"label": a}, unit="us")
    assert t.rows[0][0] == "label" and t.rows[0][-1] == "us" and t.rows[0][2] == "1.00"
    assert table(a).rows[0][0] == "a"
    line = summary(a)
    assert line.startswith("a: n=3, min 1,000") and line.endswith(" ns")


# ------------------------------------------------------------------------------------------------
# units, save/load
# ------------------------------------------------------------------------------------------------

def test_unit_conversion() -> None:
    r = _res("t", np.array([1500.0, 2500.0]))
    us = r.in_unit("us")
    assert us.unit == "us" and np.allclose(us.samples, [1.5, 2.5]) and us.method["scaled"] == pytest.approx(1e-3)
    assert np.allclose(r.in_unit("µs").samples, [1.5, 2.5]) and r.in_unit("µs").unit == "µs"
    assert np.allclose(us.in_unit("ns").samples, r.samples)
    assert np.allclose(r.in_unit("s").samples, [1.5e-6, 2.5e-6])
    cyc = r.scaled(2.9, "cycles")
    assert cyc.unit == "cycles" and np.allclose(cyc.samples, [4350.0, 7250.0])
    assert r.samples[0] == 1500.0  # the original is untouched
    with pytest.raises(ValueError):
        cyc.in_unit("ns")
    with pytest.raises(ValueError):
        r.scaled(0.0, "x")


@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_save_load_roundtrip(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(1)
    r = _res("recorded", rng.lognormal(5, 1, 1000))
    p = r.save(tmp_path / f"r{suffix}")
    back = Result.load(p)
    assert back.name == r.name and back.unit == r.unit
    assert np.array_equal(back.samples, r.samples)  # JSON floats round-trip exactly
    assert back.method == r.method and back.host == r.host
    assert back.stats == r.stats
    assert "Test CPU" in back.provenance() and "Linux 6.8.0-test" in back.provenance()
    if suffix == ".json":
        d = json.loads(p.read_text())
        assert d["format"] == m.RESULT_FORMAT and d["stats"]["count"] == 1000 and "saved_at" in d


def test_load_rejects_other_json(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(ValueError):
        Result.load(p)


def test_measured_result_roundtrips(tmp_path: Path) -> None:
    r = measure(_work, name="live", n=20)
    back = Result.load(r.save(tmp_path / "live.json"))
    assert np.array_equal(back.samples, r.samples) and back.host == json.loads(json.dumps(r.host))
    assert math.isfinite(back.stats.p999)
    assert back.provenance() != "host unknown"


def test_wait_sleeps_about_the_time_asked_and_rejects_negative() -> None:
    import time

    start = time.monotonic()
    m.wait(0.25, "test")
    assert time.monotonic() - start >= 0.24
    with pytest.raises(ValueError):
        m.wait(-1)
