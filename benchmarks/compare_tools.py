#!/usr/bin/env python3
"""Run ``hftos.bench`` beside the established tools on this host and print a side-by-side table with ratios.

    python benchmarks/compare_tools.py [--json] [--skip-cyclictest]

The point is calibration: if the course's measurement of, say, a pinned pipe round trip disagrees with
``perf bench sched pipe`` on the same machine by more than noise, one of them measures something else. Pairs:

======================================  =============================================  =====================
hftos.bench metric                      established tool                               conversion
======================================  =============================================  =====================
syscall_getpid_ns                       ``perf bench syscall basic`` (getppid loop)     usecs/op x 1000
ctx_switch_same_cpu_ns                  ``taskset -c C perf bench sched pipe``          usecs/op x 1000 / 2
pipe_rtt_cross_cpu_ns                   ``perf bench sched pipe`` (unpinned)            usecs/op x 1000
timer_wakeup_us                         ``cyclictest`` (SCHED_OTHER, 1 ms interval)     us (hftos p50, cyclictest avg)
======================================  =============================================  =====================

perf reports a mean over its loop; ``hftos.bench`` reports medians of raw samples, so expect the ratio to sit a
little below 1 when the distribution has a tail. Tools that are not installed are listed with how to get them.
Nothing here changes system settings; cyclictest runs without a real-time priority unless ``--rt`` is given (which
needs root or ``RLIMIT_RTPRIO``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import asdict, dataclass

from hftos import bench, host, tools


@dataclass
class Row:
    what: str
    ours: float | None
    tool: str
    theirs: float | None
    unit: str
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.theirs:
            return None
        return self.ours / self.theirs


def _perf_usecs_per_op(argv: list[str], timeout: float = 120) -> tuple[float | None, str]:
    run = tools.run(argv, timeout=timeout)
    m = re.search(r"([0-9.]+)\s+usecs/op", run.stdout)
    if run.ok and m:
        return float(m.group(1)), ""
    return None, run.note or (run.stderr.strip().splitlines() or ["no usecs/op in perf output"])[-1]


def _cyclictest(seconds: int, rt: bool, cpu: int) -> tuple[dict[str, float] | None, str]:
    # --default-system: do not write /dev/cpu_dma_latency (cyclictest otherwise pins C-states for its run).
    argv = ["cyclictest", "-q", "-D", str(seconds), "-i", "1000", "-t", "1", "-a", str(cpu), "--default-system"]
    if rt:
        argv += ["-p", "80", "-m"]
    run = tools.run(argv, timeout=seconds + 30)
    m = re.search(r"Min:\s*(\d+).*Avg:\s*(\d+).*Max:\s*(\d+)", run.stdout)
    if m:
        return {"min": float(m.group(1)), "avg": float(m.group(2)), "max": float(m.group(3))}, ""
    return None, run.note or (run.stderr.strip().splitlines() or ["no result line"])[-1]


def compare(*, loops: int, cyclictest_seconds: int, rt: bool, skip_cyclictest: bool) -> list[Row]:
    """Run both sides and pair them up."""
    metrics = {m.key: m for m in bench.collect(lambda msg: print(f"  hftos.bench: {msg}", file=sys.stderr))}
    c0, c1 = bench.cpu_pair()
    rows: list[Row] = []

    def ours(key: str) -> float | None:
        return metrics[key].value if key in metrics else None

    print("  perf bench ...", file=sys.stderr)
    v, note = _perf_usecs_per_op(["perf", "bench", "syscall", "basic", "--loop", str(loops * 10)])
    rows.append(Row("syscall, per call", ours("syscall_getpid_ns"), "perf bench syscall basic",
                    None if v is None else v * 1000, "ns", note or "perf: getppid(); hftos: syscall(SYS_getpid)"))

    v, note = _perf_usecs_per_op(["taskset", "-c", str(c0), "perf", "bench", "sched", "pipe", "-l", str(loops)])
    rows.append(Row(f"context switch (half round trip, CPU {c0})", ours("ctx_switch_same_cpu_ns"),
                    f"taskset -c {c0} perf bench sched pipe", None if v is None else v * 1000 / 2, "ns", note))

    v, note = _perf_usecs_per_op(["perf", "bench", "sched", "pipe", "-l", str(loops)])
    cross = ours("pipe_rtt_cross_cpu_ns")
    rows.append(Row("pipe round trip, two CPUs", cross, "perf bench sched pipe (unpinned)",
                    None if v is None else v * 1000, "ns",
                    note or (f"hftos pins CPUs {c0},{c1}; perf lets the scheduler place both ends"
                             if c1 is not None else "one CPU: hftos skips this metric")))

    if not skip_cyclictest:
        print("  cyclictest ...", file=sys.stderr)
        res, note = _cyclictest(cyclictest_seconds, rt, c0)
        timer = metrics.get("timer_wakeup_us")
        ours_by_stat = {"avg": ours("timer_wakeup_us"),
                        "min": timer.result.stats.min if timer and timer.result else None,
                        "max": timer.result.stats.max if timer and timer.result else None}
        for stat in ("min", "avg", "max"):
            rows.append(Row(f"timer wake-up latency, {stat}", ours_by_stat[stat],
                            "cyclictest" + (" -p 80" if rt else ""), None if res is None else res[stat], "us",
                            note or ("hftos: median, SCHED_OTHER" if stat == "avg" else
                                     "hftos: SCHED_OTHER" + ("; cyclictest: SCHED_FIFO 80" if rt else ""))))
    return rows


def render(rows: list[Row]) -> str:
    fp = host.fingerprint()
    head = (f"Host: {fp.get('cpu_model', '?')}, {fp.get('cpus', '?')} CPUs, kernel {fp.get('kernel', '?')}, "
            f"virt: {fp.get('virt') or 'none detected'}")
    fmt = "{:<40} {:>12} {:>12} {:>7}  {:<38} {}"
    out = [head, "", fmt.format("measurement", "hftos", "tool", "ratio", "tool command", "note"),
           fmt.format("-" * 40, "-" * 12, "-" * 12, "-" * 7, "-" * 38, "-" * 4)]

    def num(x: float | None, unit: str) -> str:
        return "-" if x is None else f"{x:,.1f} {unit}"

    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        out.append(fmt.format(r.what, num(r.ours, r.unit), num(r.theirs, r.unit), ratio, r.tool, r.note))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--loops", type=int, default=100_000, help="perf bench sched pipe loops (default 100000)")
    p.add_argument("--cyclictest-seconds", type=int, default=5)
    p.add_argument("--rt", action="store_true", help="run cyclictest at SCHED_FIFO 80 with mlockall (privileged)")
    p.add_argument("--skip-cyclictest", action="store_true")
    a = p.parse_args(argv)
    if a.loops < 1 or a.cyclictest_seconds < 1:
        p.error("--loops and --cyclictest-seconds must be positive")
    missing = [t for t in ("perf", "taskset", "cyclictest") if tools.have(t) is None]
    for t in missing:
        print(f"note: {tools.install_hint(t)}", file=sys.stderr)
    rows = compare(loops=a.loops, cyclictest_seconds=a.cyclictest_seconds, rt=a.rt,
                   skip_cyclictest=a.skip_cyclictest)
    if a.json:
        print(json.dumps({"host": host.fingerprint(), "budget": os.environ.get("HFTOS_BUDGET", "default"),
                          "rows": [asdict(r) | {"ratio": r.ratio} for r in rows]}, indent=2))
    else:
        print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
