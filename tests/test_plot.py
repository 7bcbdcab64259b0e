"""hftos.plot: every function returns a small Figure with the expected artists.

Schedules are stand-ins built here (duck typing on the contract in CONTRIBUTING.md), so these
tests do not depend on hftos.sched. Results carry a fixed host dict.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from hftos import plot
from hftos.measure import Result

HOST = {"kernel": "6.8.0-45-generic", "cpu_model": "Test CPU 9000", "virt": "VM (KVM)", "container": "none"}


@dataclass
class Slice:
    job: Any
    start: float
    end: float
    kind: str = "run"


@dataclass
class JobStats:
    id: int
    arrival: float
    burst: float
    first_run: float
    completion: float
    response: float
    turnaround: float
    wait: float
    name: str | None = None


@dataclass
class Schedule:
    policy: str
    jobs: list
    timeline: list
    switches: int
    averages: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    trace: list = field(default_factory=list)


def rr_schedule(names: bool = False) -> Schedule:
    """J0 (0, 4), J1 (1, 3), J2 (9, 3) under RR q=2: 5 job slices, one idle gap 7-9."""
    tl = [Slice(0, 0, 2), Slice(1, 2, 4), Slice(0, 4, 6), Slice(1, 6, 7), Slice(None, 7, 9), Slice(2, 9, 12)]
    jobs = [JobStats(0, 0, 4, 0, 6, 0, 6, 2), JobStats(1, 1, 3, 2, 7, 1, 6, 3), JobStats(2, 9, 3, 9, 12, 0, 3, 0)]
    if names:
        for j, n in zip(jobs, ("feed", "strategy", "risk")):
            j.name = n
    return Schedule("rr", jobs, tl, 3, {"response": 1 / 3, "turnaround": 5.0, "wait": 5 / 3}, {"quantum": 2})


def result(name: str = "getpid", n: int = 1000, scale: float = 100.0, unit: str = "ns", seed: int = 0) -> Result:
    rng = np.random.default_rng(seed)
    return Result.from_samples(name, rng.lognormal(np.log(scale), 0.3, n), unit=unit, host=HOST)


def by_gid(ax, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


def legend_texts(ax) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def small(fig: Figure) -> None:
    w, _h = fig.get_size_inches()
    assert w <= 7.5 and fig.dpi <= 110
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert len(buf.getvalue()) < 120_000


# --------------------------------------------------------------------------- helpers

@pytest.mark.parametrize("ns, text", [(0, "0 ns"), (85, "85 ns"), (1500, "1.5 µs"), (12e6, "12 ms"),
                                      (2.5e9, "2.5 s"), (999, "999 ns"), (123456, "123 µs")])
def test_format_time(ns, text):
    assert plot.format_time(ns) == text


def test_host_label():
    assert plot.host_label(HOST) == "Test CPU 9000, Linux 6.8.0-45-generic, VM (KVM)"
    assert plot.host_label({}) == ""
    assert plot.host_label(None) == ""
    assert "bare metal" in plot.host_label({"cpu_model": "X", "virt": "none"})


def test_colors_are_stable():
    assert plot.job_color(1) == plot.job_color(11) != plot.job_color(2)
    assert plot.variant_color(0) == plot.job_color(0)


# --------------------------------------------------------------------------- Gantt

def test_gantt_bars_idle_arrivals_title():
    fig = plot.gantt(rr_schedule())
    try:
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        assert len(by_gid(ax, "slice")) == 5
        assert len(by_gid(ax, "idle")) == 1
        assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 3  # arrivals
        assert [t.get_text() for t in ax.get_yticklabels()] == ["J0", "J1", "J2"]
        title = ax.get_title(loc="left")
        assert title.startswith("RR (quantum=2)\naverage") and "3 switches" in title and "wait 1.67" in title
        assert ax.get_xlim() == (0, 12)
        assert "idle" in legend_texts(ax) and "arrival" in legend_texts(ax)
        # bars sit at the right place: first slice of J1 is [2, 4) on row 1
        j1 = [p for p in by_gid(ax, "slice") if abs(p.get_y() + p.get_height() / 2 - 1) < 1e-9]
        assert sorted((p.get_x(), p.get_width()) for p in j1) == [(2, 2), (6, 1)]
        small(fig)
    finally:
        plt.close(fig)


def test_gantt_names_no_idle_custom_title_and_ax():
    fig0 = Figure()
    ax = fig0.add_subplot()
    fig = plot.gantt(rr_schedule(names=True), ax=ax, title="custom", show_idle=False)
    assert fig is fig0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["feed", "strategy", "risk"]
    assert by_gid(ax, "idle") == [] and ax.get_title(loc="left") == "custom"
    plt.close(fig)


def test_gantt_tells_switch_from_idle_by_slice_kind():
    tl = [Slice(0, 0, 2), Slice(None, 2, 2.5, "switch"), Slice(1, 2.5, 4.5), Slice(None, 4.5, 6, "idle"),
          Slice(0, 6, 8)]
    jobs = [JobStats(0, 0, 4, 0, 8, 0, 8, 4), JobStats(1, 0, 2, 2.5, 4.5, 2.5, 4.5, 2.5)]
    s = Schedule("rr", jobs, tl, 2, {"response": 1.25, "turnaround": 6.25, "wait": 3.25},
                 {"quantum": 2, "switch_cost": 0.5})
    fig = plot.gantt(s)
    ax = fig.axes[0]
    assert len(by_gid(ax, "switch")) == 1 and len(by_gid(ax, "idle")) == 1
    assert "context switch" in legend_texts(ax)
    plt.close(fig)


def test_gantt_compare_shares_x():
    a, b = rr_schedule(), rr_schedule()
    b.policy = "fcfs"
    b.params = {}
    fig = plot.gantt_compare([a, b], title="same jobs")
    try:
        assert len(fig.axes) == 2
        assert fig.axes[0].get_shared_x_axes().joined(fig.axes[0], fig.axes[1])
        assert fig.axes[1].get_title(loc="left").startswith("FCFS")
        assert all(len(by_gid(ax, "slice")) == 5 for ax in fig.axes)
    finally:
        plt.close(fig)
    fig = plot.gantt_compare({"first": a})
    assert fig.axes[0].get_title(loc="left").startswith("first: RR")
    plt.close(fig)
    with pytest.raises(ValueError):
        plot.gantt_compare([])


# --------------------------------------------------------------------------- latency

@pytest.mark.parametrize("n", [1, 3])
def test_latency_hist(n):
    rs = [result(f"r{k}", 1000, 100 * 10 ** k, seed=k) for k in range(n)]
    fig = plot.latency_hist(rs if n > 1 else rs[0], bins=40)
    try:
        ax = fig.axes[0]
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert len(ax.patches) == n  # one filled step histogram per result
        for gid in ("p50", "p99", "p99.9"):
            assert len(by_gid(ax, gid)) == n
        texts = legend_texts(ax)
        assert "r0 (n=1,000)" in texts and {"p50", "p99", "p99.9"} <= set(texts)
        assert "Test CPU 9000" in ax.get_title(loc="left")
        p50 = by_gid(ax, "p50")[0].get_xdata()[0]
        assert p50 == pytest.approx(rs[0].stats.p50)
        small(fig)
    finally:
        plt.close(fig)


def test_latency_hist_units_and_nonpositive():
    r = Result.from_samples("us", np.array([0.0, 1.0, 2.0, 3.0]), unit="us", host=HOST)
    fig = plot.latency_hist({"label": r}, log=True, logy=False)
    ax = fig.axes[0]
    assert "label (n=4, 1 ≤ 0 not shown)" in legend_texts(ax)
    assert by_gid(ax, "p50")[0].get_xdata()[0] == pytest.approx(1500.0)  # µs -> ns
    assert ax.xaxis.get_major_formatter()(1500.0, 0) == "1.5 µs"
    plt.close(fig)
    fig = plot.latency_hist(r, log=False)
    assert fig.axes[0].get_xscale() == "linear"
    plt.close(fig)
    with pytest.raises(ValueError):
        plot.latency_hist([result(), result(unit="cycles")])


def test_latency_cdf_and_ccdf():
    rs = [result("a", 500), result("b", 800, 1000, seed=1)]
    fig = plot.latency_cdf(rs)
    ax = fig.axes[0]
    data = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
    assert len(data) == 2 and ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert data[0].get_ydata()[-1] == pytest.approx(1.0)
    plt.close(fig)
    fig = plot.latency_cdf(rs, ccdf=True)
    ax = fig.axes[0]
    data = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
    assert ax.get_yscale() == "log" and ax.get_ylim()[0] <= 1 / 800
    assert data[1].get_ydata()[0] == pytest.approx(1.0) and data[1].get_ydata()[-1] == pytest.approx(1 / 800)
    assert len(by_gid(ax, "guide")) == 2  # p50, p99: 800 samples cannot show a p99.9 level
    plt.close(fig)
    fig = plot.latency_cdf(result("c", 2000), ccdf=True)
    assert len(by_gid(fig.axes[0], "guide")) == 3
    plt.close(fig)


def test_latency_cdf_thins_large_sets_but_keeps_tail():
    r = result("big", 200_000)
    fig = plot.latency_cdf(r, ccdf=True)
    ln = [x for x in fig.axes[0].lines if not x.get_label().startswith("_")][0]
    assert len(ln.get_xdata()) <= 3001
    assert ln.get_xdata()[-1] == r.samples.max() and ln.get_ydata()[-1] == pytest.approx(1 / 200_000)
    small(fig)
    plt.close(fig)


def test_percentile_bars():
    rs = [result("getpid", scale=80), result("clock_gettime", scale=20, seed=1), result("pipe", scale=6000, seed=2)]
    fig = plot.percentile_bars(rs)
    try:
        ax = fig.axes[0]
        bars = by_gid(ax, "p50")
        assert len(bars) == 3 and ax.get_xscale() == "log"
        assert bars[0].get_x() + bars[0].get_width() == pytest.approx(rs[0].stats.p50)
        assert len(ax.containers) == 2  # bars + error bars
        assert len(by_gid(ax, "p99.9")[0].get_xdata()) == 3
        assert [t.get_text() for t in ax.get_yticklabels()] == ["getpid", "clock_gettime", "pipe"]
        assert any("p99.9" in t.get_text() for t in ax.texts)
        small(fig)
    finally:
        plt.close(fig)
    fig = plot.percentile_bars(rs, log=False, annotate=False)
    assert fig.axes[0].get_xscale() == "linear" and not fig.axes[0].texts
    plt.close(fig)


# --------------------------------------------------------------------------- shares, lines

def test_shares_bar():
    pred = {"nice 0": 0.5, "nice 5": 0.3, "nice 10": 0.2}
    meas = {"nice 0": 0.48, "nice 5": 0.31, "extra": 0.21}
    fig = plot.shares_bar(pred, meas, host=HOST)
    ax = fig.axes[0]
    assert len(by_gid(ax, "predicted")) == 4 and len(by_gid(ax, "measured")) == 4
    assert [t.get_text() for t in ax.get_xticklabels()] == ["nice 0", "nice 5", "nice 10", "extra"]
    assert "48.0%" in [t.get_text() for t in ax.texts]
    assert "Test CPU 9000" in ax.get_title(loc="left")
    plt.close(fig)


def test_line():
    fig = plot.line([16, 64, 256], {"4 KiB": [1e5, 3e5, 1.2e6], "THP": [8e4, 1e5, 1.5e5]},
                    "RSS (MiB)", "fork()", logx=True, logy=True, yunit="ns")
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.yaxis.get_major_formatter()(1e6, 0) == "1 ms"
    assert legend_texts(ax) == ["4 KiB", "THP"]
    plt.close(fig)
    fig = plot.line([1, 2], {"q": [3, 4]}, "x", "y")
    assert fig.axes[0].get_xscale() == "linear"
    plt.close(fig)
    with pytest.raises(ValueError):
        plot.line([1, 2, 3], {"bad": [1, 2]})


# --------------------------------------------------------------------------- process states

def test_state_diagram():
    fig = plot.state_diagram()
    try:
        ax = fig.axes[0]
        states = [p for p in ax.patches if isinstance(p, FancyBboxPatch) and p.get_gid() == "state"]
        arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
        assert len(states) == 6 and len(arrows) == 8
        text = " ".join(t.get_text() for t in ax.texts)
        for word in ("new", "ready", "running", "waiting", "terminated", "stopped", "sched_yield()",
                     "R (TASK_RUNNING)", "S sleeping", "D uninterruptible", "Z zombie", "then X", "T stopped",
                     "t traced", "SIGCONT"):
            assert word in text, word
        small(fig)
    finally:
        plt.close(fig)


def test_timeline_states():
    samples = [(0.0, {"spin": "R", "sleep": "S"}), (0.1, {"spin": "R", "sleep": "S", 4242: "R"}),
               (0.2, {"spin": "R", "sleep": "D", 4242: "T"}), (0.3, {"spin": "R", 4242: "Z"})]
    fig = plot.timeline_states(samples, host=HOST)
    ax = fig.axes[0]
    bands = by_gid(ax, "state")
    # spin: one merged R band; sleep: S, D; 4242: R, T, Z
    assert len(bands) == 6
    assert [t.get_text() for t in ax.get_yticklabels()] == ["spin", "sleep", "4242"]
    assert ax.get_xlim() == pytest.approx((0.0, 0.4))
    assert {t.split()[0] for t in legend_texts(ax)} == {"R", "S", "D", "T", "Z"}
    plt.close(fig)
    with pytest.raises(ValueError):
        plot.timeline_states([])


def test_no_pyplot_figures_leak():
    before = len(plt.get_fignums())
    figs = [plot.gantt(rr_schedule()), plot.latency_hist(result()), plot.state_diagram()]
    assert len(plt.get_fignums()) == before
    for f in figs:
        plt.close(f)


def test_gantt_compare_uses_the_longest_schedule():
    short = rr_schedule()
    long = rr_schedule()
    long.timeline = long.timeline + [Slice(None, 12, 20)]
    fig = plot.gantt_compare([long, short])
    assert fig.axes[0].get_xlim() == (0, 20) and fig.axes[1].get_xlim() == (0, 20)
    plt.close(fig)
