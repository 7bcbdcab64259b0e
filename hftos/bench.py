"""The headline live measurements of Chapter 1 in under a minute: ``python -m hftos.bench [--json]``.

Each metric is the median of raw samples taken by :mod:`hftos.native` (the table also shows the tail). The JSON
object has one key per metric (``None`` when the metric cannot run on this host, with the reason under
``"skipped"``), the percentiles of every metric under ``"detail"``, and the host fingerprint under ``"host"``.

Metrics and their definitions:

``syscall_getpid_ns``
    per-call cost of ``syscall(SYS_getpid)`` (a real kernel entry; glibc's ``getpid()`` may be cached).
``clock_gettime_monotonic_ns``
    per-call cost of ``clock_gettime(CLOCK_MONOTONIC)`` through the vDSO.
``rdtsc_ns``
    per-call cost of ``lfence; rdtsc`` (x86-64 only).
``ctx_switch_same_cpu_ns``
    half a two-pipe round trip between two processes both pinned to one CPU: a context switch plus a ``write`` and
    a ``read`` (an upper bound on the switch itself).
``pipe_rtt_cross_cpu_ns``
    a full two-pipe round trip with the two processes on two CPUs (wake-up latency); ``None`` on a one-CPU host.
``fork_exit_wait_us_16mib``
    ``fork()`` + child ``_exit()`` + ``waitpid()`` from a parent whose whole resident size is about 16 MiB (a small
    C program that touched 16 MiB with 4 KiB pages, not the Python interpreter), in microseconds.
``spsc_rtt_cross_cpu_ns`` / ``spsc_throughput_mops``
    round trip through the lock-free shared-memory ring between two processes on two CPUs, and one-way throughput in
    millions of messages per second; ``None`` on a one-CPU host.
``timer_wakeup_us``
    how late a ``SCHED_OTHER`` thread wakes from ``clock_nanosleep`` on a 1 ms period, with the default timer
    slack (50 us) that ordinary threads have: the measurement ``cyclictest`` makes without ``-p``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from hftos import host, native
from hftos.measure import Result, table


@dataclass
class Metric:
    """One headline number: its JSON key, what it is, and the samples behind it."""

    key: str
    label: str
    result: Result | None
    value: float | None
    unit: str
    note: str = ""


def cpu_pair() -> tuple[int, int | None]:
    """The first two CPUs this process may run on (the second is None on a one-CPU mask)."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[0], (allowed[1] if len(allowed) > 1 else None)


def _median(r: Result) -> float:
    return float(np.median(r.samples))


def _renamed(r: Result, name: str) -> Result:
    """``r`` under another name (the metric's label)."""
    return dataclasses.replace(r, name=name)


def collect(progress: Callable[[str], None] | None = None) -> list[Metric]:
    """Run every headline measurement once and return the metrics in a fixed order."""
    say = progress or (lambda _msg: None)
    c0, c1 = cpu_pair()
    metrics: list[Metric] = []

    def add(key: str, label: str, make: Callable[[], tuple[Result | None, float | None, str, str]]) -> None:
        say(label)
        try:
            result, value, unit, note = make()
        except (NotImplementedError, native.NativeError, ValueError) as exc:
            result, value, unit, note = None, None, "", f"skipped: {exc}"
        metrics.append(Metric(key, label, result, value, unit, note))

    def getpid():
        r = native.syscall_getpid()
        return r, _median(r), "ns", ""

    def monotonic():
        r = native.clock_gettime_cost("monotonic")
        return r, _median(r), "ns", ""

    def rdtsc():
        if not host.can("rdtsc"):
            return None, None, "ns", f"skipped: {host.can('rdtsc').reason}"
        r = native.rdtsc_cost(variant="rdtsc")
        return r, _median(r), "ns", ""

    def ctx():
        rtt = native.pipe_pingpong(mode="process", cpus=(c0, c0))
        r = _renamed(rtt.scaled(0.5, "ns"), f"context switch, half round trip, CPU {c0}")
        return r, _median(r), "ns", f"both processes pinned to CPU {c0}"

    def pipe_cross():
        if c1 is None:
            return None, None, "ns", "skipped: needs two CPUs in this process's affinity mask"
        r = native.pipe_pingpong(mode="process", cpus=(c0, c1))
        return r, _median(r), "ns", f"CPUs {c0} and {c1}"

    def fork16():
        r = _renamed(native.fork_cost(16, method="fork").in_unit("us"), "fork+_exit+waitpid, 16 MiB parent")
        return r, _median(r), "us", f"4 KiB pages (MADV_NOHUGEPAGE), parent VmRSS {r.method['rss_kib'] / 1024:.1f} MiB"

    one_cpu = ("skipped: needs two CPUs in this process's affinity mask (two busy-polling ends on one CPU "
               "hand over only when the scheduler preempts one)")

    def spsc_rtt():
        if c1 is None:
            return None, None, "ns", one_cpu
        r = native.spsc_pingpong(cpus=(c0, c1))
        return r, _median(r), "ns", f"CPUs {c0} and {c1}"

    def spsc_tput():
        if c1 is None:
            return None, None, "Mmsg/s", one_cpu
        runs = [native.spsc_throughput(cpus=(c0, c1))["mops"] for _ in range(3)]
        return None, float(np.median(runs)), "Mmsg/s", f"CPUs {c0} and {c1}; median of {len(runs)} runs"

    def timer():
        r = _renamed(native.timer_wakeup(cpu=c0, slack_ns=None).in_unit("us"),
                     f"timer wake-up lateness, SCHED_OTHER, CPU {c0}")
        return r, _median(r), "us", f"clock_nanosleep every 1 ms on CPU {c0}, SCHED_OTHER, default timer slack"

    add("syscall_getpid_ns", "syscall(SYS_getpid)", getpid)
    add("clock_gettime_monotonic_ns", "clock_gettime(CLOCK_MONOTONIC), vDSO", monotonic)
    add("rdtsc_ns", "lfence; rdtsc", rdtsc)
    add("ctx_switch_same_cpu_ns", "context switch (half pipe round trip, one CPU)", ctx)
    add("pipe_rtt_cross_cpu_ns", "pipe round trip across CPUs", pipe_cross)
    add("fork_exit_wait_us_16mib", "fork + exit + wait, 16 MiB parent", fork16)
    add("spsc_rtt_cross_cpu_ns", "SPSC shared-memory ring round trip", spsc_rtt)
    add("spsc_throughput_mops", "SPSC ring throughput", spsc_tput)
    add("timer_wakeup_us", "timer wake-up lateness (1 ms period)", timer)
    return metrics


def to_json(metrics: list[Metric]) -> dict:
    """The JSON object printed by ``--json``."""
    out: dict = {m.key: (None if m.value is None else round(m.value, 3)) for m in metrics}
    out["units"] = {m.key: m.unit for m in metrics}
    out["notes"] = {m.key: m.note for m in metrics if m.note and not m.note.startswith("skipped")}
    out["skipped"] = {m.key: m.note.removeprefix("skipped: ") for m in metrics if m.value is None}
    # The host is given once, below, not once per metric.
    out["detail"] = {m.key: {k: v for k, v in m.result.to_dict().items() if k != "host"}
                     for m in metrics if m.result is not None}
    out["host"] = host.fingerprint()
    out["budget"] = os.environ.get("HFTOS_BUDGET", "default")
    return out


def render_text(metrics: list[Metric]) -> str:
    """A readable report: the medians, then the percentile table of every measured metric."""
    fp = host.fingerprint()
    lines = [f"hftos.bench on {fp.get('cpu_model', '?')}, kernel {fp.get('kernel', '?')}"
             f" ({fp.get('virt') or 'bare metal?'})", ""]
    width = max(len(m.label) for m in metrics)
    for m in metrics:
        value = "-" if m.value is None else f"{m.value:,.3g}" if m.value < 100 else f"{m.value:,.0f}"
        lines.append(f"  {m.label:<{width}}  {value:>10} {m.unit:<7} {m.note}")
    measured = [m.result for m in metrics if m.result is not None]
    if measured:
        lines += ["", str(table(measured))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m hftos.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    progress = None if args.json else (lambda msg: print(f"  measuring: {msg}", file=sys.stderr, flush=True))
    metrics = collect(progress)
    if args.json:
        print(json.dumps(to_json(metrics), indent=2, sort_keys=False))
    else:
        print(render_text(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
