"""Interactive explorers (ipywidgets 8) with a static rendering for the website.

- :func:`scheduler_explorer`: choose a policy, the RR quantum, per-job nice values (CFS/EEVDF)
  and a context-switch cost; a Gantt chart and a metrics table are redrawn on every change.
- :func:`scheduler_explorer_static`: the same picture as one matplotlib figure (Gantt chart and
  table), for pages built without a kernel (``scheduler_explorer(..., static=True)`` returns it too).
- :func:`metrics_table`: per-job response/turnaround/wait, averages and switches as an HTML table
  (plain text outside a browser).
- :func:`quantum_sweep`: a static figure of average wait/turnaround/response and context switches
  versus the quantum.

Simulations go through ``hftos.sched.simulate(policy, jobs, **params)``, imported only when it is
first needed; every function takes ``simulate=`` to use another implementation (tests do).

The explorer renders its initial state into its output area when it is built, so an executed
notebook stores a meaningful picture in the widget state. Errors from a simulation (an invalid
parameter, a policy that rejects an option) are shown as a one-line message in the output area,
never as a traceback.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import numbers
from typing import Any, Callable, Iterable, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hftos import plot

__all__ = [
    "DEFAULT_JOBS", "QUANTUM_POLICIES", "NICE_POLICIES",
    "scheduler_explorer", "scheduler_explorer_static", "metrics_table", "quantum_sweep",
]

#: The classic four-job example: (arrival, burst) pairs (Silberschatz's SRTF example).
DEFAULT_JOBS: tuple[tuple[int, int], ...] = ((0, 8), (1, 4), (2, 9), (3, 5))

#: Policies that take a ``quantum`` parameter (the quantum slider is shown for them).
QUANTUM_POLICIES = frozenset({"rr", "sched_rr"})
#: Policies that read each job's ``nice`` value (the nice sliders are shown for them).
NICE_POLICIES = frozenset({"cfs", "eevdf"})

Simulate = Callable[..., Any]


def _resolve(simulate: Simulate | None) -> Simulate:
    if simulate is not None:
        return simulate
    from hftos.sched import simulate as sim  # lazy: the simulators are optional for this module
    return sim


# --------------------------------------------------------------------------- jobs

def _job_fields(job: Any) -> tuple[Any, Any, str | None]:
    """(arrival, burst, name) of any accepted job form, for captions."""
    if isinstance(job, Mapping):
        return job.get("arrival", 0), job.get("burst"), job.get("name")
    if isinstance(job, numbers.Real):
        return 0, job, None
    if isinstance(job, (tuple, list)) and len(job) == 2:
        return job[0], job[1], None
    return getattr(job, "arrival", 0), getattr(job, "burst", None), getattr(job, "name", None)


def _job_nice(job: Any) -> int:
    value = job.get("nice", 0) if isinstance(job, Mapping) else getattr(job, "nice", 0)
    return int(value) if isinstance(value, numbers.Integral) else 0


def _with_nice(job: Any, nice: int) -> Any:
    """The same job with ``nice`` set, in a form ``hftos.sched`` accepts."""
    if isinstance(job, Mapping):
        return {**job, "nice": nice}
    if isinstance(job, numbers.Real):
        return {"burst": job, "nice": nice}
    if isinstance(job, (tuple, list)) and len(job) == 2:
        return {"arrival": job[0], "burst": job[1], "nice": nice}
    if dataclasses.is_dataclass(job) and not isinstance(job, type):
        return dataclasses.replace(job, nice=nice)
    raise TypeError(f"cannot set nice on job {job!r}")


def _describe_jobs(jobs: Sequence[Any]) -> str:
    parts = []
    for i, j in enumerate(jobs):
        arrival, burst, name = _job_fields(j)
        parts.append(f"{html.escape(str(name or f'J{i}'))}: arrives {arrival}, burst {burst}")
    return "; ".join(parts)


def _num(x: Any) -> str:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f"{f:g}" if f == int(f) else f"{f:.2f}"


# --------------------------------------------------------------------------- metrics table

_COLUMNS = ("arrival", "burst", "first_run", "completion", "response", "turnaround", "wait")
_HEAD = ("arrival", "burst", "first run", "done", "response", "turnaround", "wait")


class SchedTable:
    """Per-job metrics of a schedule: HTML in a notebook, aligned text elsewhere."""

    def __init__(self, schedule: Any) -> None:
        self.schedule = schedule
        self.rows = [[plot._job_label(j)] + [_num(getattr(j, c, "")) for c in _COLUMNS] for j in schedule.jobs]
        av = getattr(schedule, "averages", {}) or {}
        self.average = ["average"] + ["" for _ in _COLUMNS[:4]] + [
            f"{float(av[k]):.2f}" if k in av else "" for k in ("response", "turnaround", "wait")]
        self.switches = getattr(schedule, "switches", None)

    def _repr_html_(self) -> str:
        th = "".join(f"<th>{h}</th>" for h in ("job",) + _HEAD)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        avg = "<tr style='font-weight:bold'>" + "".join(f"<td>{c}</td>" for c in self.average) + "</tr>"
        sw = (f"<caption style='caption-side:bottom;text-align:left;font-size:90%'>context switches: "
              f"{self.switches}</caption>" if self.switches is not None else "")
        return (f"<table class='hftos-metrics' style='font-size:85%;text-align:right'>{sw}"
                f"<thead><tr>{th}</tr></thead><tbody>{body}{avg}</tbody></table>")

    def __repr__(self) -> str:
        rows = [["job", *_HEAD], *self.rows, self.average]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                 for r in rows]
        if self.switches is not None:
            lines.append(f"context switches: {self.switches}")
        return "\n".join(lines)


def metrics_table(schedule: Any) -> SchedTable:
    """Per-job first run, completion, response, turnaround and wait, the averages and the switch count."""
    return SchedTable(schedule)


# --------------------------------------------------------------------------- static renderings

def _simulate_with(simulate: Simulate, policy: str, jobs: Sequence[Any], quantum: Any, switch_cost: Any,
                   nice: Sequence[int] | None, params: Mapping[str, Any] | None) -> Any:
    kw: dict[str, Any] = dict(params or {})
    if policy in QUANTUM_POLICIES:
        kw["quantum"] = quantum
    if switch_cost:
        kw["switch_cost"] = switch_cost
    job_list = list(jobs)
    if policy in NICE_POLICIES and nice is not None:
        if len(nice) != len(job_list):
            raise ValueError(f"{len(nice)} nice values for {len(job_list)} jobs")
        job_list = [_with_nice(j, int(n)) for j, n in zip(job_list, nice)]
    return simulate(policy, job_list, **kw)


def scheduler_explorer_static(jobs: Sequence[Any] | None = None, policy: str = "fcfs", quantum: Any = 4,
                              switch_cost: Any = 0, nice: Sequence[int] | None = None, *,
                              simulate: Simulate | None = None, params: Mapping[str, Any] | None = None,
                              table: bool = True) -> Figure:
    """One schedule as a figure for a page built without a kernel: the Gantt chart and, with ``table``,
    the per-job metrics drawn beneath it. Arguments as for :func:`scheduler_explorer`.
    """
    jobs = list(DEFAULT_JOBS if jobs is None else jobs)
    sched = _simulate_with(_resolve(simulate), policy, jobs, quantum, switch_cost, nice, params)
    if not table:
        return plot.gantt(sched)
    t = metrics_table(sched)
    n = len(sched.jobs)
    g_h = min(5.2, max(2.0, 1.25 + 0.3 * n))
    t_h = 0.25 * (n + 3)
    fig = plot.new_figure(g_h + t_h)
    ax_g, ax_t = fig.subplots(2, 1, height_ratios=[g_h, t_h])
    plot.gantt(sched, ax=ax_g)
    ax_t.axis("off")
    cells = [r[1:] for r in t.rows] + [t.average[1:]]
    rows = [r[0] for r in t.rows] + ["average"]
    tab = ax_t.table(cellText=cells, rowLabels=rows, colLabels=list(_HEAD), loc="center", cellLoc="right",
                     edges="horizontal")
    tab.auto_set_font_size(False)
    tab.set_fontsize(7.5)
    if t.switches is not None:
        ax_t.set_title(f"context switches: {t.switches}", fontsize=7.5, loc="right", y=-0.05, pad=0)
    return fig


def quantum_sweep(jobs: Sequence[Any], quanta: Iterable[Any], *, policy: str = "rr", switch_cost: Any = 0,
                  simulate: Simulate | None = None, params: Mapping[str, Any] | None = None, ax: Any = None,
                  title: str | None = None) -> Figure:
    """Average wait, turnaround and response (left axis) and context switches (right axis, grey dashed)
    versus the quantum, for ``policy`` (default ``rr``) on ``jobs``.
    """
    sim = _resolve(simulate)
    qs = list(quanta)
    if not qs:
        raise ValueError("no quanta to sweep")
    scheds = [_simulate_with(sim, policy, jobs, q, switch_cost, None, {**(params or {}), "quantum": q})
              for q in qs]
    x = np.asarray([float(q) for q in qs])
    ys = {f"avg {k}": [float(s.averages[k]) for s in scheds] for k in ("wait", "turnaround", "response")}
    fig = plot.line(x, ys, xlabel="quantum", ylabel="time", ax=ax,
                    title=title if title is not None else
                    f"{policy.upper()} quantum sweep ({len(list(jobs))} jobs"
                    + (f", switch cost {switch_cost}" if switch_cost else "") + ")")
    axes = ax if ax is not None else fig.axes[0]
    axes.set_ylim(bottom=0)
    ax2 = axes.twinx()
    ax2.plot(x, [s.switches for s in scheds], color="0.35", linestyle="--", marker="s", markersize=3,
             linewidth=1.1, label="context switches")
    ax2.set_ylabel("context switches", fontsize=8)
    ax2.tick_params(labelsize=8)
    ax2.set_ylim(bottom=0)
    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    h1, l1 = axes.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    axes.legend(h1 + h2, l1 + l2, fontsize=7, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0),
                ncol=2, borderaxespad=0.1, columnspacing=1.0, handlelength=1.6, labelspacing=0.2)
    return fig


# --------------------------------------------------------------------------- the explorer

def _png_output(fig: Figure) -> dict[str, Any]:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=plot.DPI)
    w, h = fig.get_size_inches()
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                     "text/plain": f"<Figure size {w * plot.DPI:.0f}x{h * plot.DPI:.0f}>"}}


def _html_output(obj: Any) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/html": obj._repr_html_(), "text/plain": repr(obj)}}


def _error_output(message: str) -> dict[str, Any]:
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/html": f"<div style='color:#b00020'>⚠ {html.escape(message)}</div>",
                     "text/plain": f"error: {message}"}}


class ExplorerBox(widgets.VBox):
    """The explorer's container. ``controls`` maps names to the control widgets, ``output`` is the
    output area, ``state`` holds the last ``schedule``, ``error`` and the number of ``renders``, and
    :meth:`render` redraws. Its text representation is one short line (no image data), so a notebook's
    stored plain-text output stays small and deterministic.
    """

    controls: dict[str, Any]
    output: widgets.Output
    state: dict[str, Any]
    render: Callable[[], None]

    def __repr__(self) -> str:
        c = getattr(self, "controls", {})
        bits = [f"{k}={w.value!r}" for k, w in c.items() if hasattr(w, "value")]
        if c.get("nice"):
            bits.append(f"nice={[w.value for w in c['nice']]}")
        return f"SchedulerExplorer({', '.join(bits)})"


def scheduler_explorer(jobs: Sequence[Any] | None = None,
                       policies: Sequence[str] = ("fcfs", "sjf", "srtf", "rr", "cfs"),
                       quantum: int = 4, *, policy: str | None = None, switch_cost: float = 0.0,
                       nice: Sequence[int] | None = None, max_quantum: int | None = None,
                       max_switch_cost: float = 2.0, params: Mapping[str, Any] | None = None,
                       simulate: Simulate | None = None, static: bool = False) -> Any:
    """An interactive scheduler explorer; returns the container widget (an :class:`ExplorerBox`).

    Controls: a policy dropdown (``policies``, starting at ``policy`` or the first), a quantum
    slider (shown for RR), a context-switch cost slider, and one nice slider per job (shown for
    CFS/EEVDF; starting values from ``nice`` or the jobs' own ``nice``). Every change re-runs
    ``simulate(policy, jobs, **params)`` (``quantum`` for RR, ``switch_cost`` when non-zero, plus
    ``params``) and redraws the Gantt chart and :func:`metrics_table` in the output area. An error is
    shown there as a message. The initial state is rendered before the function returns.

    ``jobs`` are in any form ``hftos.sched`` accepts (default :data:`DEFAULT_JOBS`). With
    ``static=True`` no widget is built: the initial state is returned as a figure
    (:func:`scheduler_explorer_static`) for pages built without a kernel.
    """
    jobs = list(DEFAULT_JOBS if jobs is None else jobs)
    policies = list(policies)
    if not policies:
        raise ValueError("no policies to explore")
    start = policy if policy is not None else policies[0]
    if start not in policies:
        policies.insert(0, start)
    nice0 = list(nice) if nice is not None else [_job_nice(j) for j in jobs]
    if static:
        return scheduler_explorer_static(jobs, start, quantum, switch_cost, nice0, simulate=simulate,
                                         params=params)

    cont = dict(continuous_update=False, style={"description_width": "initial"})
    dd = widgets.Dropdown(options=policies, value=start, description="policy",
                          layout=widgets.Layout(width="170px"), style={"description_width": "initial"})
    qmax = max_quantum if max_quantum is not None else max(20, int(quantum) * 2)
    q = widgets.IntSlider(value=int(quantum), min=1, max=qmax, step=1, description="quantum",
                          layout=widgets.Layout(width="260px"), **cont)
    sc = widgets.FloatSlider(value=float(switch_cost), min=0.0, max=max(float(max_switch_cost), float(switch_cost)),
                             step=0.1, description="switch cost", readout_format=".1f",
                             layout=widgets.Layout(width="280px"), **cont)
    nice_w = [widgets.IntSlider(value=int(n), min=-20, max=19, step=1,
                                description=str(_job_fields(j)[2] or f"J{i}") + " nice",
                                layout=widgets.Layout(width="230px"), **cont)
              for i, (j, n) in enumerate(zip(jobs, nice0 + [0] * (len(jobs) - len(nice0))))]
    nice_box = widgets.HBox(nice_w, layout=widgets.Layout(flex_flow="row wrap"))
    caption = widgets.HTML(f"<small>Jobs: {_describe_jobs(jobs)}</small>")
    out = widgets.Output()
    box = ExplorerBox([widgets.HBox([dd, q, sc], layout=widgets.Layout(flex_flow="row wrap")), nice_box,
                       caption, out])
    box.controls = {"policy": dd, "quantum": q, "switch_cost": sc, "nice": nice_w}
    box.output = out
    box.state = {"schedule": None, "error": None, "renders": 0}

    def render(*_: Any) -> None:
        p = dd.value
        q.layout.display = None if p in QUANTUM_POLICIES else "none"
        nice_box.layout.display = None if (p in NICE_POLICIES and nice_w) else "none"
        box.state["renders"] += 1
        try:
            sim = _resolve(simulate)
            sched = _simulate_with(sim, p, jobs, q.value, round(float(sc.value), 6),
                                   [w.value for w in nice_w], params)
            fig = plot.gantt(sched)
            outputs = (_png_output(fig), _html_output(metrics_table(sched)))
        except Exception as e:  # a bad combination of values must not end in a traceback
            box.state.update(schedule=None, error=f"{type(e).__name__}: {e}")
            out.outputs = (_error_output(f"{p}: {e}" if str(e) else f"{p}: {type(e).__name__}"),)
            return
        box.state.update(schedule=sched, error=None)
        out.outputs = outputs

    box.render = render
    for w in [dd, q, sc, *nice_w]:
        w.observe(render, names="value")
    render()
    return box
