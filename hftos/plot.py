"""Plots for the course: Gantt charts, latency distributions, shares, sweeps, process states.

Every function draws with matplotlib's object-oriented API, takes an optional ``ax=`` to draw
into an existing axes, and returns the :class:`~matplotlib.figure.Figure`.

When no ``ax`` is given the figure is a :class:`CourseFigure` (a plain matplotlib Figure that
knows how to show itself as PNG), not registered with pyplot: nothing is shown behind the
reader's back, a notebook cell that ends with the call shows exactly one image (a pyplot figure
would be shown twice: once as the cell's value and once by the inline backend), and figures are
freed when no longer referenced. To show a figure that is not the cell's last value, use
``IPython.display.display(fig)``; ``fig = gantt(s)`` alone shows nothing.

Figures are small (7 inches wide, 100 dpi) so executed notebooks stay small (conventions §7).
Titles say what is shown and, for measurements, on which host (``result.host``: CPU model,
kernel, virtualisation). Times in a :class:`hftos.measure.Result` are converted from its
``unit`` and axes are labelled in ns/µs/ms/s as the values require.

Colours are stable: job ``i`` of a schedule is always ``job_color(i)``, the ``k``-th variant
of a comparison is ``variant_color(k)``, and a process state letter always has the same colour.

No display is needed: nothing here selects a backend or calls ``pyplot.show``.
"""

from __future__ import annotations

import io
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.lines import Line2D
from matplotlib.path import Path
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, PercentFormatter
from matplotlib.transforms import blended_transform_factory

from hftos.host import label as host_label

__all__ = [
    "WIDTH", "DPI", "CourseFigure", "new_figure", "job_color", "variant_color", "STATE_COLORS",
    "format_time", "host_label",
    "gantt", "gantt_compare",
    "latency_hist", "latency_cdf", "percentile_bars",
    "shares_bar", "line", "state_diagram", "timeline_states", "interrupt_heatmap",
]

#: Default figure width in inches and resolution; 7 x 2.5 in at 100 dpi is about 20-40 kB as PNG.
WIDTH = 7.0
DPI = 100

_PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3",
            "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")

#: Colour of each Linux process state letter (``/proc/<pid>/stat`` field 3).
STATE_COLORS: dict[str, str] = {
    "R": "#55a868",  # running or runnable
    "S": "#4c72b0",  # interruptible sleep
    "D": "#dd8452",  # uninterruptible sleep
    "T": "#8172b3",  # stopped by a signal
    "t": "#b4a7d6",  # stopped by a tracer
    "Z": "#c44e52",  # zombie
    "X": "#222222",  # dead
    "I": "#b0b0b0",  # idle kernel thread
}
_STATE_NAMES = {"R": "running/runnable", "S": "sleeping", "D": "uninterruptible", "T": "stopped",
                "t": "traced", "Z": "zombie", "X": "dead", "I": "idle kthread"}

_TITLE_SIZE = 9
_SMALL = 7.5


def job_color(i: int) -> str:
    """The colour of job ``i`` (by job id) in every schedule plot."""
    return _PALETTE[int(i) % len(_PALETTE)]


def variant_color(k: int) -> str:
    """The colour of the ``k``-th result/variant in a comparison plot."""
    return _PALETTE[int(k) % len(_PALETTE)]


# --------------------------------------------------------------------------- helpers

class CourseFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that shows itself as a PNG in Jupyter.

    IPython only knows how to display a plain Figure once pyplot's inline backend has been loaded;
    this one also displays in a notebook that never imports pyplot. When the inline backend is
    active, its own printer is used instead (same picture), so the figure is never shown twice.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=self.dpi, bbox_inches="tight")
        return buf.getvalue()


def new_figure(height: float, width: float = WIDTH) -> CourseFigure:
    """A new course figure (constrained layout, :data:`DPI`), not registered with pyplot."""
    return CourseFigure(figsize=(width, height), dpi=DPI, layout="constrained")


def _figure(ax: Axes | None, height: float, width: float = WIDTH) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(height, width)
    return fig, fig.add_subplot()


_TIME_SCALE = {"ns": 1.0, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "sec": 1e9}


def format_time(ns: float, digits: int = 3) -> str:
    """Format a time given in nanoseconds with a fitting unit: ``'85 ns'``, ``'1.5 µs'``, ``'12 ms'``."""
    if not math.isfinite(ns):
        return str(ns)
    a = abs(ns)
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if a >= scale:
            return f"{_sig(ns / scale, digits)} {unit}"
    return f"{_sig(ns, digits)} ns"


def _sig(x: float, digits: int = 3) -> str:
    if x == 0:
        return "0"
    s = f"{x:.{digits}g}"
    if "e" in s:  # %g switches to exponents for large values; those are not wanted here
        s = f"{x:.0f}"
    return s


def _fmt_value(v: float, unit: str | None) -> str:
    if unit is None:
        return _sig(v)
    if unit in _TIME_SCALE:
        return format_time(v)  # values are already converted to ns
    return f"{_sig(v)} {unit}"


def _time_axis(axis: Any) -> None:
    """Label an axis holding nanoseconds in ns/µs/ms/s."""
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: format_time(v) if v > 0 or axis.get_scale() != "log"
                                           else ""))


def _log_ticks(axis: Any, lo: float, hi: float) -> None:
    """On a log axis spanning less than ~2 decades, add 2x and 5x ticks; never label minor ticks."""
    if lo > 0 and hi > 0 and math.log10(hi / lo) < 2.2:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_formatter(NullFormatter())


def _plain_log_label(v: float, _pos: Any = None) -> str:
    """Tick label on a log axis without a unit: plain numbers between 0.001 and 1e6, else 10^k."""
    if v <= 0:
        return ""
    if 1e-3 <= v < 1e6:
        return f"{v:g}"
    e = math.log10(v)
    return f"$10^{{{e:.0f}}}$" if abs(e - round(e)) < 1e-9 else f"{v:.0e}"


def _bytes_axis(axis: Any) -> None:
    def f(v: float, _pos: Any) -> str:
        for scale, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(v) >= scale:
                return f"{_sig(v / scale)} {unit}"
        return f"{_sig(v)} B"
    axis.set_major_formatter(FuncFormatter(f))


def _unit_axis(axis: Any, unit: str | None) -> None:
    if unit in _TIME_SCALE:
        _time_axis(axis)
    elif unit in ("B", "bytes"):
        _bytes_axis(axis)


def _host_line(hosts: Iterable[Mapping[str, Any] | None]) -> str:
    labels = []
    for h in hosts:
        lab = host_label(h)
        if lab and lab not in labels:
            labels.append(lab)
    if not labels:
        return ""
    if len(labels) == 1:
        return f"on {labels[0]}"
    return f"on {len(labels)} different hosts: " + "; ".join(labels)


def _title(ax: Axes, what: str, hosts: Iterable[Mapping[str, Any] | None] = ()) -> None:
    line = _host_line(hosts)
    ax.set_title(what + (f"\n{line}" if line else ""), fontsize=_TITLE_SIZE, loc="left")


def _as_results(results: Any) -> list[tuple[str, Any]]:
    """Accept a Result, a sequence of Results, or a mapping label -> Result."""
    if hasattr(results, "samples"):
        return [(str(results.name), results)]
    if isinstance(results, Mapping):
        items = [(str(k), v) for k, v in results.items()]
    else:
        items = [(str(r.name), r) for r in results]
    if not items:
        raise ValueError("no results to plot")
    return items


def _values(items: list[tuple[str, Any]]) -> tuple[list[np.ndarray], str | None]:
    """Samples of each result in a common unit: ns when all units are times, else the shared unit."""
    units = {getattr(r, "unit", "ns") or "ns" for _, r in items}
    if all(u in _TIME_SCALE for u in units):
        return [np.asarray(r.samples, dtype=float) * _TIME_SCALE[getattr(r, "unit", "ns") or "ns"]
                for _, r in items], "ns"
    if len(units) == 1:
        return [np.asarray(r.samples, dtype=float) for _, r in items], units.pop()
    raise ValueError(f"cannot plot results with different units on one axis: {sorted(units)}")


def _finite(a: np.ndarray, name: str) -> np.ndarray:
    a = a[np.isfinite(a)]
    if a.size == 0:
        raise ValueError(f"{name}: no finite samples to plot")
    return a


def _axis_label(quantity: str, unit: str | None) -> str:
    if unit in _TIME_SCALE or unit is None:
        return quantity
    return f"{quantity} ({unit})"


_PCT_STYLE = (("p50", 50.0, "-"), ("p99", 99.0, "--"), ("p99.9", 99.9, ":"))


# --------------------------------------------------------------------------- schedules

def _job_label(job: Any) -> str:
    name = getattr(job, "name", None)
    return str(name) if name not in (None, "") else f"J{getattr(job, 'id')}"


def _slice_job_id(s: Any) -> Any:
    j = s.job
    return getattr(j, "id", j)


def _num(x: float) -> str:
    return f"{x:g}" if float(x) == int(x) else f"{x:.2f}"


def _schedule_title(schedule: Any) -> str:
    policy = str(getattr(schedule, "policy", "schedule"))
    params = getattr(schedule, "params", None)
    label = policy.upper() if policy.islower() and len(policy) <= 5 else policy
    if isinstance(params, Mapping) and params:
        shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in list((k, v) for k, v in params.items()
                                           if k != "unit" and not isinstance(v, (Mapping, list, tuple))
                                           and v not in (None, False, 0, ""))[:4])
        if shown:
            label += f" ({shown})"
    av = getattr(schedule, "averages", {}) or {}
    bits = [f"{k} {_num(av[k])}" for k in ("response", "turnaround", "wait") if k in av]
    sw = getattr(schedule, "switches", None)
    if sw is not None:
        bits.append(f"{sw} switch" + ("" if sw == 1 else "es"))
    return label + ("\naverage " + " · ".join(bits) if bits else "")


def _switch_slices(timeline: list[Any]) -> set[int]:
    """Indices of slices that are context-switch overhead (``Slice.kind == "switch"``) rather than idle time."""
    return {i for i, s in enumerate(timeline) if getattr(s, "kind", "run") == "switch"}


def gantt(schedule: Any, ax: Axes | None = None, title: str | None = None, show_idle: bool = True) -> Figure:
    """Gantt chart of a :class:`Schedule` from ``hftos.sched.simulate``.

    One row per job (its ``name``, else ``J<id>``; job 0 on top), one bar per timeline slice in the
    job's colour, idle time hatched grey across all rows, context-switch overhead solid grey, a ▼ at
    each job's arrival. The default title gives the policy (and the non-zero ``schedule.params`` if
    it has them), the average response, turnaround and wait, and the number of context switches.

    Relies on the contract in CONTRIBUTING.md: ``policy``, ``jobs`` (``id``, ``arrival``, ...),
    ``averages``, ``timeline`` of ``Slice(job, start, end)`` (``job`` None when idle or switching),
    ``switches``; ``name`` and ``params`` are used when present; ``Slice.kind`` tells idle from switch time. Bars carry ``gid='slice'``, idle spans ``gid='idle'``, switch spans ``gid='switch'``.
    """
    jobs = sorted(schedule.jobs, key=lambda j: j.id)
    fig, ax = _figure(ax, min(5.2, max(2.0, 1.25 + 0.3 * len(jobs))))
    row = {j.id: r for r, j in enumerate(jobs)}
    timeline = list(schedule.timeline)
    end = max([float(s.end) for s in timeline] + [float(getattr(j, "completion", 0) or 0) for j in jobs] + [1.0])

    for j in jobs:
        sl = [s for s in timeline if s.job is not None and _slice_job_id(s) == j.id]
        if sl:
            ax.barh([row[j.id]] * len(sl), [float(s.end) - float(s.start) for s in sl],
                    left=[float(s.start) for s in sl], height=0.62, color=job_color(j.id),
                    edgecolor="white", linewidth=0.8, gid="slice")
    switch = _switch_slices(timeline)
    for i, s in enumerate(timeline):
        if s.job is not None or float(s.end) <= float(s.start):
            continue
        if i in switch:
            ax.axvspan(float(s.start), float(s.end), facecolor="0.7", alpha=0.7, linewidth=0, gid="switch",
                       zorder=0)
        elif show_idle:
            ax.axvspan(float(s.start), float(s.end), facecolor="none", edgecolor="0.55",
                       hatch="////", linewidth=0, gid="idle", zorder=0)
    if jobs:
        ax.scatter([float(j.arrival) for j in jobs], [row[j.id] - 0.42 for j in jobs], marker="v", s=22,
                   c=[job_color(j.id) for j in jobs], edgecolors="black", linewidths=0.5, zorder=3, clip_on=False)

    ax.set_yticks(range(len(jobs)), [_job_label(j) for j in jobs], fontsize=8)
    ax.set_ylim(len(jobs) - 0.5, -0.6)
    ax.set_xlim(0, end)
    unit = getattr(schedule, "unit", None)
    params = getattr(schedule, "params", None)
    if unit is None and isinstance(params, Mapping) and isinstance(params.get("unit"), str):
        unit = params["unit"]
    ax.set_xlabel(f"time ({unit})" if unit else "time", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    if end <= 400:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=12))
    ax.grid(axis="x", color="0.9", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = [Line2D([], [], marker="v", linestyle="none", color="0.4", markeredgecolor="black",
                      markersize=5, label="arrival")]
    if show_idle and any(s.job is None and i not in switch for i, s in enumerate(timeline)):
        handles.append(Patch(facecolor="none", edgecolor="0.55", hatch="////", linewidth=0, label="idle"))
    if switch:
        handles.append(Patch(facecolor="0.7", alpha=0.7, linewidth=0, label="context switch"))
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=1, fontsize=_SMALL,
              frameon=False, borderaxespad=0.1, handlelength=1.2, labelspacing=0.2)
    ax.set_title(title if title is not None else _schedule_title(schedule), fontsize=_TITLE_SIZE, loc="left")
    return fig


def gantt_compare(schedules: Sequence[Any] | Mapping[str, Any], title: str | None = None,
                  show_idle: bool = True) -> Figure:
    """Several schedules (e.g. one per policy, same jobs) stacked with a shared time axis.

    ``schedules`` is a sequence (titled by policy and averages) or a mapping ``label -> schedule``
    (the label is put in front of each title).
    """
    items = list(schedules.items()) if isinstance(schedules, Mapping) else [(None, s) for s in schedules]
    if not items:
        raise ValueError("no schedules to plot")
    ratios = [len(s.jobs) + 2.2 for _, s in items]
    height = min(12.0, 0.35 + sum(0.28 * r + 0.25 for r in ratios))
    fig = new_figure(height)
    axes = fig.subplots(len(items), 1, sharex=True, height_ratios=ratios, squeeze=False)[:, 0]
    for ax, (label, s) in zip(axes, items):
        t = _schedule_title(s)
        gantt(s, ax=ax, title=f"{label}: {t}" if label is not None else t, show_idle=show_idle)
    ends = [max([float(sl.end) for sl in s.timeline] + [float(getattr(j, "completion", 0) or 0) for j in s.jobs]
                + [1.0]) for _, s in items]
    axes[0].set_xlim(0, max(ends))
    for ax in axes[:-1]:
        ax.set_xlabel("")
        ax.tick_params(axis="x", labelbottom=False)
    if title:
        fig.suptitle(title, fontsize=_TITLE_SIZE + 1, x=0.01, ha="left")
    return fig


# --------------------------------------------------------------------------- latency

def latency_hist(results: Any, ax: Axes | None = None, bins: int = 60, log: bool = True, *,
                 logy: bool = True, title: str | None = None, xlabel: str = "latency") -> Figure:
    """Histogram of one or more :class:`~hftos.measure.Result` (a Result, a list, or ``{label: Result}``).

    With ``log=True`` (the default) the x axis is logarithmic and the ``bins`` bins are log-spaced
    over all results, so a tail three decades out is still visible; ``logy`` puts counts on a log
    scale too (single outliers show). Vertical lines mark p50 (solid), p99 (dashed) and p99.9
    (dotted) of each result in its colour; the legend gives each result's sample count.
    Non-positive samples cannot be placed on a log axis: they are left out and the legend says how many.
    """
    items = _as_results(results)
    vals, unit = _values(items)
    vals = [_finite(v, name) for v, (name, _) in zip(vals, items)]
    fig, ax = _figure(ax, 2.6)
    dropped = [int(np.count_nonzero(v <= 0)) if log else 0 for v in vals]
    shown = [v[v > 0] if log else v for v in vals]
    allv = np.concatenate([s for s in shown if s.size]) if any(s.size for s in shown) else np.array([1.0])
    lo, hi = float(allv.min()), float(allv.max())
    if log:
        if lo == hi:
            lo, hi = lo / 1.5, hi * 1.5
        edges = np.geomspace(lo, hi * 1.0001, int(bins) + 1)
    else:
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, int(bins) + 1)

    handles = []
    for k, ((name, r), v, s, d) in enumerate(zip(items, vals, shown, dropped)):
        c = variant_color(k)
        if s.size:
            ax.hist(s, bins=edges, histtype="stepfilled", color=c, alpha=0.35, edgecolor=c, linewidth=1.0)
        q = np.percentile(v, [p for _, p, _ in _PCT_STYLE])
        for (lab, _, ls), x in zip(_PCT_STYLE, q):
            if x > 0 or not log:
                ax.axvline(x, color=c, linestyle=ls, linewidth=1.1, gid=lab)
        extra = f", {d:,} ≤ 0 not shown" if d else ""
        handles.append(Patch(facecolor=c, alpha=0.5, edgecolor=c, label=f"{name} (n={v.size:,}{extra})"))
    handles += [Line2D([], [], color="0.3", linestyle=ls, linewidth=1.1, label=lab) for lab, _, ls in _PCT_STYLE]

    if log:
        ax.set_xscale("log")
        _log_ticks(ax.xaxis, lo, hi)
    if logy:
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.7)
        ax.yaxis.set_minor_formatter(NullFormatter())
    _unit_axis(ax.xaxis, unit)
    ax.set_xlabel(_axis_label(xlabel, unit), fontsize=8)
    ax.set_ylabel("count", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(handles=handles, fontsize=_SMALL, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.02))
    _title(ax, title if title is not None else "Latency histogram", (getattr(r, "host", None) for _, r in items))
    return fig


def _cdf_points(a: np.ndarray, keep: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """Sorted samples and their ranks, thinned to at most ~2*keep points but keeping the whole tail."""
    a = np.sort(a)
    n = a.size
    if n <= 2 * keep:
        idx = np.arange(n)
    else:
        body = np.linspace(0, n - 1, keep).round().astype(int)
        tail = (n - np.round(n * np.geomspace(1.0, 1.0 / n, keep))).astype(int)
        idx = np.unique(np.clip(np.concatenate([body, tail, [n - 1]]), 0, n - 1))
    return a[idx], idx


def latency_cdf(results: Any, ax: Axes | None = None, ccdf: bool = False, *, log: bool = True,
                title: str | None = None, xlabel: str = "latency") -> Figure:
    """CDF (fraction of samples ≤ x) or, with ``ccdf=True``, CCDF (fraction ≥ x) of one or more results.

    The x axis is logarithmic (``log=True``); a CCDF also has a logarithmic y axis down to 1/n, so
    p99 and p99.9 are a decade apart and the tail is readable. Grey guide lines mark p50/p99/p99.9.
    Large sample sets are thinned for drawing, keeping every point of the tail.
    """
    items = _as_results(results)
    vals, unit = _values(items)
    vals = [_finite(v, name) for v, (name, _) in zip(vals, items)]
    fig, ax = _figure(ax, 2.6)
    nmax = 1
    lo, hi = math.inf, 0.0
    for k, ((name, _r), v) in enumerate(zip(items, vals)):
        n = v.size
        nmax = max(nmax, n)
        x, idx = _cdf_points(v)
        y = (n - idx) / n if ccdf else (idx + 1) / n
        if log:
            keep = x > 0
            x, y = x[keep], y[keep]
        if x.size:
            lo, hi = min(lo, float(x.min())), max(hi, float(x.max()))
        ax.plot(x, y, drawstyle="steps-pre" if ccdf else "steps-post", color=variant_color(k), linewidth=1.4,
                label=f"{name} (n={n:,})")
    guides = (("p50", 0.5), ("p99", 0.01), ("p99.9", 0.001)) if ccdf else (("p50", 0.5), ("p99", 0.99))
    tr = blended_transform_factory(ax.transAxes, ax.transData)
    for lab, y in guides:
        if ccdf and y < 1.0 / nmax:
            continue
        ax.axhline(y, color="0.75", linewidth=0.7, linestyle="--", zorder=0, gid="guide")
        ax.text(1.005, y, lab, transform=tr, fontsize=6.5, color="0.45", va="center", ha="left")
    if log:
        ax.set_xscale("log")
        if math.isfinite(lo) and hi > 0:
            _log_ticks(ax.xaxis, lo, hi)
    if ccdf:
        ax.set_yscale("log")
        ax.set_ylim(0.5 / nmax, 1.5)
        ax.set_ylabel("fraction ≥ x", fontsize=8)
    else:
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("fraction ≤ x", fontsize=8)
    _unit_axis(ax.xaxis, unit)
    ax.set_xlabel(_axis_label(xlabel, unit), fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(color="0.92", linewidth=0.6)
    ax.legend(fontsize=_SMALL, frameon=False, loc="lower left" if ccdf else "lower right")
    what = "Latency CCDF" if ccdf else "Latency CDF"
    _title(ax, title if title is not None else what, (getattr(r, "host", None) for _, r in items))
    return fig


def percentile_bars(results: Any, ax: Axes | None = None, log: bool = True, *, title: str | None = None,
                    xlabel: str = "time per call", annotate: bool = True) -> Figure:
    """The "per-call costs" chart: one horizontal bar per result at its p50, a whisker to p99 and a ◆ at p99.9.

    ``log=True`` puts the values on a log axis so 20 ns and 20 µs fit one chart. With ``annotate``
    the three percentiles are written beside each bar.
    """
    items = _as_results(results)
    vals, unit = _values(items)
    vals = [_finite(v, name) for v, (name, _) in zip(vals, items)]
    n = len(items)
    fig, ax = _figure(ax, min(6.0, max(1.8, 1.0 + 0.36 * n)))
    q = np.array([np.percentile(v, [50.0, 99.0, 99.9]) for v in vals])
    p50, p99, p999 = q[:, 0], q[:, 1], q[:, 2]
    y = np.arange(n)
    if log:
        positive = q[q > 0]
        floor = 10 ** math.floor(math.log10(positive.min() / 1.5)) if positive.size else 1.0
        left = floor
        ax.set_xscale("log")
    else:
        left = 0.0
    width = np.maximum(p50 - left, 0.0)
    ax.barh(y, width, left=left, height=0.6, color=[variant_color(k) for k in range(n)], alpha=0.85, gid="p50")
    ax.errorbar(p50, y, xerr=[np.zeros(n), np.maximum(p99 - p50, 0.0)], fmt="none", ecolor="0.15",
                elinewidth=1.0, capsize=3, gid="p99")
    ax.plot(p999, y, linestyle="none", marker="D", markersize=4, color="0.15", gid="p99.9")
    top = float(np.nanmax(p999)) if n else 1.0
    if log:
        ax.set_xlim(left, max(top, left * 10) * (12 if annotate else 2))
        _log_ticks(ax.xaxis, left, top)
    else:
        ax.set_xlim(0, max(top, 1e-12) * (1.75 if annotate else 1.05))
    if annotate:
        for k in range(n):
            x = p999[k] * (1.25 if log else 1.0) + (0 if log else 0.02 * top)
            ax.text(x, k, f"p50 {_fmt_value(p50[k], unit)} · p99 {_fmt_value(p99[k], unit)} · "
                          f"p99.9 {_fmt_value(p999[k], unit)}", fontsize=6.5, va="center", ha="left", color="0.25")
    ax.set_yticks(y, [name for name, _ in items], fontsize=8)
    ax.set_ylim(n - 0.5, -0.5)
    _unit_axis(ax.xaxis, unit)
    ax.set_xlabel(_axis_label(xlabel, unit) + " (bar p50, whisker p99, ◆ p99.9)", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="0.92", linewidth=0.6)
    ax.set_axisbelow(True)
    _title(ax, title if title is not None else "Per-call cost", (getattr(r, "host", None) for _, r in items))
    return fig


# --------------------------------------------------------------------------- shares, sweeps

def shares_bar(predicted: Mapping[Any, float], measured: Mapping[Any, float], ax: Axes | None = None, *,
               title: str | None = None, host: Mapping[str, Any] | None = None) -> Figure:
    """Predicted versus measured CPU shares, one pair of bars per key (e.g. ``"nice 0"``).

    Shares are fractions (0..1, shown as percent) or any other common scale; a key missing from one
    side gets no bar there. Predicted bars are hatched, measured bars solid, both in the key's colour.
    """
    keys = list(predicted) + [k for k in measured if k not in predicted]
    if not keys:
        raise ValueError("no shares to plot")
    fig, ax = _figure(ax, 2.6)
    x = np.arange(len(keys))
    pv = np.array([float(predicted.get(k, np.nan)) for k in keys])
    mv = np.array([float(measured.get(k, np.nan)) for k in keys])
    colors = [variant_color(i) for i in range(len(keys))]
    w = 0.38
    ax.bar(x - w / 2, np.nan_to_num(pv), w, color=colors, alpha=0.35, edgecolor=colors, hatch="///",
           linewidth=1.0, gid="predicted")
    ax.bar(x + w / 2, np.nan_to_num(mv), w, color=colors, alpha=0.9, gid="measured")
    allv = np.concatenate([pv[np.isfinite(pv)], mv[np.isfinite(mv)]])
    frac = allv.size > 0 and float(allv.max()) <= 1.0 + 1e-9 and float(allv.min()) >= 0
    for xs, vs in ((x - w / 2, pv), (x + w / 2, mv)):
        for xi, v in zip(xs, vs):
            if np.isfinite(v):
                ax.text(xi, v, f"{v * 100:.1f}%" if frac else _sig(v), ha="center", va="bottom", fontsize=6.5)
    top = float(np.nanmax(allv)) if allv.size else 1.0
    ax.set_ylim(0, top * 1.18 if top > 0 else 1)
    if frac:
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xticks(x, [str(k) for k in keys], fontsize=8)
    ax.set_ylabel("CPU share", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(handles=[Patch(facecolor="0.85", edgecolor="0.4", hatch="///", label="predicted"),
                       Patch(facecolor="0.4", label="measured")], fontsize=_SMALL, frameon=False, loc="upper right")
    _title(ax, title if title is not None else "CPU shares: predicted vs measured", [host])
    return fig


def line(x: Sequence[float], ys: Mapping[str, Sequence[float]], xlabel: str = "", ylabel: str = "",
         logx: bool = False, logy: bool = False, ax: Axes | None = None, *, title: str | None = None,
         xunit: str | None = None, yunit: str | None = None, host: Mapping[str, Any] | None = None,
         markers: bool = True) -> Figure:
    """A labelled line per entry of ``ys`` against ``x``: sweeps such as fork time vs RSS or a quantum sweep.

    ``ys`` maps a label to values (same length as ``x``; NaN leaves a gap). ``xunit``/``yunit``
    of ``"ns"``/``"us"``/``"ms"``/``"s"`` label that axis in ns/µs/ms/s (values converted to ns),
    ``"B"`` in KiB/MiB/GiB. ``host`` (a fingerprint) is named in the title for measured data.
    """
    if not ys:
        raise ValueError("no lines to plot")
    fig, ax = _figure(ax, 2.6)
    xv = np.asarray(x, dtype=float) * (_TIME_SCALE.get(xunit, 1.0) if xunit else 1.0)
    marker_cycle = "osD^vP*X"
    yvals = []
    for k, (label, vals) in enumerate(ys.items()):
        yv = np.asarray(vals, dtype=float) * (_TIME_SCALE.get(yunit, 1.0) if yunit else 1.0)
        yvals.append(yv)
        if yv.shape != xv.shape:
            raise ValueError(f"{label}: {yv.size} values for {xv.size} x positions")
        ax.plot(xv, yv, color=variant_color(k), marker=marker_cycle[k % len(marker_cycle)] if markers else None,
                markersize=3.5, linewidth=1.3, label=str(label))
    for axis, on, values in ((ax.xaxis, logx, [xv]), (ax.yaxis, logy, yvals)):
        if not on:
            continue
        if axis is ax.xaxis:
            ax.set_xscale("log")
        else:
            ax.set_yscale("log")
        v = np.concatenate([np.ravel(a) for a in values])
        v = v[np.isfinite(v) & (v > 0)]
        if v.size:
            _log_ticks(axis, float(v.min()), float(v.max()))
            axis.set_major_formatter(FuncFormatter(_plain_log_label))
    _unit_axis(ax.xaxis, "ns" if xunit in _TIME_SCALE else xunit)
    _unit_axis(ax.yaxis, "ns" if yunit in _TIME_SCALE else yunit)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(color="0.92", linewidth=0.6)
    if len(ys) > 1 or any(str(k) for k in ys):
        ax.legend(fontsize=_SMALL, frameon=False)
    _title(ax, title if title is not None else (f"{ylabel} vs {xlabel}" if xlabel and ylabel else ""), [host])
    return fig


# --------------------------------------------------------------------------- process states

def state_diagram(ax: Axes | None = None, *, title: str | None = None) -> Figure:
    """The textbook five-state process model with its Linux state letters.

    New, ready, running, waiting and terminated, plus Linux's stopped state (``T``/``t``). Ready
    and running sit in one dashed box because Linux has one state for both, ``R``
    (``TASK_RUNNING``); waiting is ``S``/``D`` (``I`` for idle kernel threads); terminated is
    ``Z`` until the parent waits, then ``X``. Arrows are labelled with what causes each transition,
    including preemption and ``sched_yield()``. States carry ``gid='state'``, arrows ``gid='transition'``.
    """
    fig, ax = _figure(ax, 3.7)
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5.75)
    ax.axis("off")

    st = {  # name: (x, y, width, Linux letters, colour letter)
        "new": (0.8, 4.3, 1.3, "fork()/clone():\nno letter yet", None),
        "ready": (3.1, 4.3, 1.5, "R  on a run queue", "R"),
        "running": (6.9, 4.3, 1.5, "R  on a CPU", "R"),
        "terminated": (9.1, 4.3, 1.45, "Z zombie until\nwait(), then X", "Z"),
        "waiting": (5.0, 1.35, 2.3, "S sleeping · D uninterruptible\n(I idle kernel thread)", "S"),
        "stopped": (8.6, 1.35, 1.7, "T stopped · t traced\n(Linux extra)", "T"),
    }
    h = 0.95
    for name, (x, y, w, letters, letter) in st.items():
        fc = STATE_COLORS.get(letter, "#dddddd") if letter else "#e8e8e8"
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.15",
                                    facecolor=fc, alpha=0.28, edgecolor="0.25", linewidth=1.0, gid="state"))
        ax.text(x, y + 0.2, name, ha="center", va="center", fontsize=9, fontweight="bold")
        ax.text(x, y - 0.17, letters, ha="center", va="center", fontsize=6.5, linespacing=1.1)
    # ready + running: one Linux state
    ax.add_patch(FancyBboxPatch((2.2, 3.3), 5.52, 1.8, boxstyle="round,pad=0.04,rounding_size=0.2",
                                facecolor="none", edgecolor=STATE_COLORS["R"], linestyle="--", linewidth=1.2,
                                gid="group"))
    ax.text(5.0, 5.2, "Linux: ready and running are one state, R (TASK_RUNNING)", ha="center", va="bottom",
            fontsize=7, color="#2f6b3c")

    def arrow(a: tuple[float, float], b: tuple[float, float], label: str, at: tuple[float, float],
              rad: float = 0.0, path: list[tuple[float, float]] | None = None, ha: str = "center") -> None:
        kw = dict(arrowstyle="-|>", mutation_scale=10, color="0.2", linewidth=1.0, gid="transition")
        if path is not None:
            p = FancyArrowPatch(path=Path(path), **kw)
        else:
            p = FancyArrowPatch(a, b, connectionstyle=f"arc3,rad={rad}", **kw)
        ax.add_patch(p)
        ax.text(at[0], at[1], label, ha=ha, va="center", fontsize=6.5, color="0.1", linespacing=1.1)

    arrow((1.47, 4.3), (2.33, 4.3), "admitted", (1.9, 4.52))
    arrow((3.89, 4.5), (6.11, 4.5), "dispatch: the scheduler picks it", (5.0, 4.82), rad=-0.12)
    arrow((6.11, 4.1), (3.89, 4.1), "preempted (quantum used, higher\npriority woke) or sched_yield()",
          (5.0, 3.62), rad=-0.12)
    arrow((7.67, 4.3), (8.36, 4.3), "exit()", (8.06, 4.5))
    arrow((6.65, 3.82), (5.75, 1.84), "waits: I/O, a lock,\na timer, a pipe", (6.3, 2.7), ha="left")
    arrow((4.25, 1.84), (3.35, 3.82), "event done:\nwoken up", (3.6, 2.7), ha="right")
    arrow((7.55, 3.82), (8.45, 1.84), "SIGSTOP,\nptrace", (8.15, 2.9), ha="left")
    arrow((0, 0), (0, 0), "SIGCONT", (5.0, 0.45),
          path=[(8.6, 0.87), (8.6, 0.3), (2.6, 0.3), (2.6, 3.82)])
    ax.set_title(title if title is not None else "Process states: the textbook model and Linux's letters",
                 fontsize=_TITLE_SIZE, loc="left")
    return fig


def timeline_states(samples: Sequence[tuple[float, Mapping[Any, str]]], ax: Axes | None = None, *,
                    title: str | None = None, host: Mapping[str, Any] | None = None) -> Figure:
    """Per-process state timeline from sampled ``/proc/<pid>/stat`` letters.

    ``samples`` is a list of ``(t_seconds, {pid_or_label: state_letter})``. Each process gets a row
    (in order of first appearance); a state holds from its sample until the next sample, and the last
    one for the median sampling interval. A process missing from a sample (not yet started, or
    reaped) leaves a gap. Bands are coloured by letter (:data:`STATE_COLORS`) and carry ``gid='state'``.
    """
    samples = sorted(((float(t), dict(m)) for t, m in samples), key=lambda s: s[0])
    if not samples:
        raise ValueError("no samples to plot")
    keys: list[Any] = []
    for _, m in samples:
        for k in m:
            if k not in keys:
                keys.append(k)
    times = np.array([t for t, _ in samples])
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    dt = dt if dt > 0 else 1.0
    fig, ax = _figure(ax, min(5.0, max(1.8, 1.1 + 0.3 * len(keys))))
    span = times[-1] + dt - times[0]
    seen: list[str] = []
    for r, key in enumerate(keys):
        bands: list[list[Any]] = []  # [start, end, letter]
        for i, (t, m) in enumerate(samples):
            end = samples[i + 1][0] if i + 1 < len(samples) else t + dt
            if key not in m:
                continue
            letter = str(m[key])[:1] or "?"
            prev_present = i > 0 and key in samples[i - 1][1]
            if bands and prev_present and bands[-1][2] == letter:
                bands[-1][1] = end
            else:
                bands.append([t, end, letter])
        if not bands:
            continue
        ax.barh([r] * len(bands), [e - s for s, e, _ in bands], left=[s for s, _, _ in bands], height=0.62,
                color=[STATE_COLORS.get(c, "#dddddd") for _, _, c in bands], edgecolor="white", linewidth=0.5,
                gid="state")
        for s, e, c in bands:
            if c not in seen:
                seen.append(c)
            if (e - s) > 0.03 * span:
                ax.text((s + e) / 2, r, c, ha="center", va="center", fontsize=7,
                        color="white" if c in "RSDTZX" else "black")
    ax.set_yticks(range(len(keys)), [str(k) for k in keys], fontsize=8)
    ax.set_ylim(len(keys) - 0.5, -0.5)
    ax.set_xlim(times[0], times[-1] + dt)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(handles=[Patch(color=STATE_COLORS.get(c, "#dddddd"), label=f"{c} {_STATE_NAMES.get(c, '')}".strip())
                       for c in seen], loc="upper right", bbox_to_anchor=(1.0, -0.22), ncol=min(4, max(1, len(seen))),
              fontsize=_SMALL, frameon=False, borderaxespad=0.1, handlelength=1.0)
    _title(ax, title if title is not None else "Process states sampled from /proc", [host])
    return fig


# --------------------------------------------------------------------------- interrupts (section 5.4)

def interrupt_heatmap(rates: Any, ax: Axes | None = None, *, top: int | None = 20, title: str | None = None,
                      host: Mapping[str, Any] | None = None, log: bool = True, annotate: bool | None = None) -> Figure:
    """Heat map of interrupt (or softirq) rates: one row per source, one column per CPU, colour = events/s.

    ``rates`` is a :class:`hftos.interrupts.Rates` (or anything with ``labels``, ``cpus``, ``matrix`` of shape
    sources x CPUs in events per second, and optionally ``seconds``, ``kind`` and ``top(n)``). ``top`` keeps the
    ``n`` busiest sources (``None``: all). Colours use a log scale (``log=False``: linear); a cell with no events
    is left white. Each cell is labelled with its rate when the map is small enough (``annotate=None``: up to
    about 200 cells). ``host`` (a fingerprint) is named in the title.
    """
    labels, cpus = list(getattr(rates, "labels")), list(getattr(rates, "cpus"))
    matrix = np.asarray(getattr(rates, "matrix"), dtype=float)
    if top is not None:
        if top < 1:
            raise ValueError(f"top must be >= 1 or None, got {top}")
        order = sorted(range(len(labels)), key=lambda i: (-float(matrix[i].sum()), i))[:top]
        labels, matrix = [labels[i] for i in order], matrix[order] if order else matrix[:0]
    if matrix.ndim != 2 or matrix.shape != (len(labels), len(cpus)) or not labels or not cpus:
        raise ValueError(f"need a sources x CPUs matrix with at least one cell, got shape {matrix.shape} "
                         f"for {len(labels)} sources and {len(cpus)} CPUs")
    if np.any(~np.isfinite(matrix)) or np.any(matrix < 0):
        raise ValueError("rates must be finite and non-negative")
    from matplotlib.colors import LogNorm, Normalize

    height = min(9.0, 0.9 + 0.22 * len(labels))
    width = min(WIDTH, 3.2 + 0.55 * len(cpus))
    fig, ax = _figure(ax, height, width)
    shown = np.ma.masked_where(matrix <= 0, matrix)
    vmax = float(matrix.max()) if matrix.max() > 0 else 1.0
    positive = matrix[matrix > 0]
    vmin = float(positive.min()) if positive.size else 0.1
    norm = LogNorm(vmin=min(vmin, vmax / 10), vmax=vmax) if log else Normalize(vmin=0, vmax=vmax)
    import matplotlib as mpl

    cmap = mpl.colormaps["viridis"].with_extremes(bad="white")
    im = ax.imshow(shown, aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_xticks(range(len(cpus)), [f"CPU{c}" for c in cpus], fontsize=7.5)
    ax.set_yticks(range(len(labels)), [lab if len(lab) <= 34 else lab[:33] + "…" for lab in labels], fontsize=7.5)
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(-0.5, len(cpus), 1), minor=True)
    ax.set_yticks(np.arange(-0.5, len(labels), 1), minor=True)
    ax.grid(which="minor", color="0.85", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    if annotate is None:
        annotate = matrix.size <= 200
    if annotate:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                v = matrix[i, j]
                if v <= 0:
                    continue
                txt = f"{v:,.0f}" if v >= 10 else f"{v:.1f}"
                dark = norm(v) < 0.6
                ax.text(j, i, txt, ha="center", va="center", fontsize=6.5, color="white" if dark else "black")
    cb = fig.colorbar(im, ax=ax, pad=0.02, fraction=0.06)
    kind = getattr(rates, "kind", "interrupts")
    cb.set_label(f"{kind} per second", fontsize=7.5)
    if log:
        cb.ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        cb.ax.yaxis.set_major_formatter(FuncFormatter(_plain_log_label))
        cb.ax.yaxis.set_minor_formatter(NullFormatter())
    cb.ax.tick_params(labelsize=7)
    seconds = getattr(rates, "seconds", None)
    what = title if title is not None else (f"{kind.capitalize()} per second by source and CPU"
                                            + (f" (over {seconds:.1f} s)" if seconds else ""))
    _title(ax, what, [host])
    return fig
