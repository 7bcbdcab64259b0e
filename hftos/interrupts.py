"""Parse ``/proc/interrupts`` and ``/proc/softirqs``; interrupt rates per source and CPU between two snapshots.

Both files are tables with one column per *online* CPU (the header names them: ``CPU0 CPU2 CPU3`` when
CPU 1 is offline, so columns are matched by name, never by position) and one row per source:

- ``/proc/interrupts``: numbered device interrupts (``24:  1  0  IO-APIC  5-edge  ACPI:Ged``: counts, then
  the interrupt controller, the hardware IRQ number and trigger type, and the device names, any of which
  may contain spaces or be missing), then the architecture's named interrupts (``LOC:`` local timer,
  ``RES:`` rescheduling IPIs, ``CAL:`` function-call IPIs, ``TLB:`` shootdowns, ``NMI:``, ...; on arm64
  ``IPI0:`` ...), and the global counters ``ERR:`` and ``MIS:`` (arm64: ``Err:``), which have *one* number,
  not one per CPU;
- ``/proc/softirqs``: one row per softirq type (``TIMER``, ``NET_RX``, ``RCU``, ...), no description.

:func:`parse` reads either text into a :class:`Snapshot`; :func:`rates` turns two snapshots into a
:class:`Rates` matrix (events per second, source x CPU) ready for :func:`hftos.plot.interrupt_heatmap`;
:func:`sample` does both for the live file. Nothing here needs privileges: both files are world-readable.

Command line: ``python -m hftos.interrupts [--softirqs] [--seconds S] [--top N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = ["Row", "Snapshot", "Rates", "parse", "read", "rates", "sample", "INTERRUPTS", "SOFTIRQS"]

INTERRUPTS = "/proc/interrupts"
SOFTIRQS = "/proc/softirqs"

_CPU = re.compile(r"^CPU(\d+)$")
_GLOBAL = frozenset({"ERR", "MIS", "Err"})  # one machine-wide number, even on a one-CPU machine
_TRIGGER = re.compile(r"(?:^|-)(edge|level|fasteoi|Edge|Level)$")


@dataclass(frozen=True)
class Row:
    """One source: ``name`` (``"24"``, ``"LOC"``, ``"TIMER"``), ``counts`` (CPU number -> count; empty for
    ``ERR``/``MIS``), ``total`` (sum over CPUs, or the single number of ``ERR``/``MIS``) and ``description``
    (the rest of the line, whitespace collapsed: ``"IO-APIC 5-edge ACPI:Ged"``, ``"Local timer interrupts"``)."""

    name: str
    counts: Mapping[int, int]
    total: int
    description: str = ""

    @property
    def per_cpu(self) -> bool:
        """False for the global counters (``ERR``, ``MIS``) that have one number for the whole machine."""
        return bool(self.counts)

    @property
    def label(self) -> str:
        """A short label for plots: ``"24 ACPI:Ged"``, ``"LOC local timer"``, ``"NET_RX"``."""
        if self.name.isdigit():
            words = self.description.split()
            devices = ""
            for i in range(len(words) - 1, -1, -1):
                if _TRIGGER.search(words[i]):
                    devices = " ".join(words[i + 1:])
                    break
            if not devices and words:
                devices = words[-1]
            return f"{self.name} {devices}".strip()
        desc = self.description.replace(" interrupts", "").replace("interrupts", "").strip()
        return f"{self.name} {desc}".strip() if desc else self.name


@dataclass(frozen=True)
class Snapshot:
    """One reading of the file: ``cpus`` (CPU numbers in column order), ``rows`` (name -> :class:`Row`, in
    file order), ``t`` (``time.monotonic()`` when it was read, or ``None`` for parsed text)."""

    cpus: tuple[int, ...]
    rows: dict[str, Row]
    t: float | None = None

    def count(self, name: str, cpu: int) -> int:
        return self.rows[name].counts.get(cpu, 0)


@dataclass(frozen=True)
class Rates:
    """Events per second between two snapshots.

    ``matrix[i, j]`` is the rate of source ``names[i]`` on CPU ``cpus[j]``; ``labels`` are the plot labels;
    ``totals`` holds the per-second rate of the global counters (``ERR``, ``MIS``); ``seconds`` is the
    interval. Only CPUs present in both snapshots are kept (a CPU that went offline in between is dropped).
    """

    names: list[str]
    labels: list[str]
    cpus: list[int]
    matrix: np.ndarray
    seconds: float
    totals: dict[str, float] = field(default_factory=dict)
    kind: str = "interrupts"

    def per_cpu_total(self) -> dict[int, float]:
        """Sum over sources, per CPU."""
        return {cpu: float(self.matrix[:, j].sum()) for j, cpu in enumerate(self.cpus)}

    def top(self, n: int) -> "Rates":
        """The ``n`` busiest sources (by total rate, ties in file order), busiest first."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        order = sorted(range(len(self.names)), key=lambda i: (-float(self.matrix[i].sum()), i))[:n]
        return Rates([self.names[i] for i in order], [self.labels[i] for i in order], list(self.cpus),
                     self.matrix[order] if order else self.matrix[:0], self.seconds, dict(self.totals), self.kind)

    def active(self) -> "Rates":
        """Only the sources that fired at all during the interval (file order)."""
        keep = [i for i in range(len(self.names)) if float(self.matrix[i].sum()) > 0]
        return Rates([self.names[i] for i in keep], [self.labels[i] for i in keep], list(self.cpus),
                     self.matrix[keep] if keep else self.matrix[:0], self.seconds, dict(self.totals), self.kind)

    def rows(self) -> list[tuple[str, list[float], float]]:
        """``(label, per-CPU rates, total)`` per source."""
        return [(lab, [float(v) for v in self.matrix[i]], float(self.matrix[i].sum()))
                for i, lab in enumerate(self.labels)]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "seconds": self.seconds, "cpus": self.cpus,
                "sources": {n: {"label": lab, "per_cpu": [float(v) for v in self.matrix[i]]}
                            for i, (n, lab) in enumerate(zip(self.names, self.labels))},
                "totals": self.totals}


def _header_cpus(line: str) -> tuple[int, ...]:
    cpus = []
    for word in line.split():
        m = _CPU.match(word)
        if not m:
            raise ValueError(f"header word {word!r} is not CPUn")
        cpus.append(int(m.group(1)))
    if not cpus:
        raise ValueError("empty header: no CPU columns")
    if len(set(cpus)) != len(cpus):
        raise ValueError(f"a CPU appears twice in the header: {line.strip()!r}")
    return tuple(cpus)


def parse(text: str) -> Snapshot:
    """Parse the text of ``/proc/interrupts`` or ``/proc/softirqs``.

    Rules: the first non-empty line is the header of ``CPUn`` names. Every other line is ``NAME:`` followed
    by up to one number per CPU column, then free text. ``ERR``, ``MIS`` and ``Err``, and any line with a
    single number, fewer CPUs than the header and nothing after it, are global counters; a line with fewer numbers and a description is
    padded with zeros (some architectures print short rows). Blank lines are skipped; a line without a
    ``NAME:`` raises ``ValueError``.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("no text to parse")
    cpus = _header_cpus(lines[0])
    rows: dict[str, Row] = {}
    for ln in lines[1:]:
        head, sep, rest = ln.partition(":")
        name = head.strip()
        if not sep or not name or " " in name:
            raise ValueError(f"not a 'NAME: counts' line: {ln!r}")
        words = rest.split()
        nums: list[int] = []
        while len(nums) < len(cpus) and len(nums) < len(words) and words[len(nums)].isdigit():
            nums.append(int(words[len(nums)]))
        description = " ".join(words[len(nums):])
        if name in _GLOBAL or (len(nums) < len(cpus) and not description and len(nums) == 1):
            rows[name] = Row(name, {}, nums[0], "")          # ERR:, MIS: one global number
            continue
        counts = {cpu: (nums[i] if i < len(nums) else 0) for i, cpu in enumerate(cpus)}
        rows[name] = Row(name, counts, sum(counts.values()), description)
    return Snapshot(cpus, rows)


def read(path: str | Path = INTERRUPTS) -> Snapshot:
    """Read and parse ``path`` now (``/proc/interrupts`` by default), stamped with ``time.monotonic()``."""
    text = Path(path).read_text()
    t = time.monotonic()
    snap = parse(text)
    return Snapshot(snap.cpus, snap.rows, t)


def rates(before: Snapshot, after: Snapshot, seconds: float | None = None, *, kind: str = "interrupts") -> Rates:
    """Per-source, per-CPU events per second from ``before`` to ``after``.

    ``seconds`` defaults to the difference of the snapshots' timestamps. Sources are those of ``after`` that
    also exist in ``before`` (a device registered in between has no baseline), in ``after``'s order; CPUs are
    those in both headers. A count that went down (a counter reset) gives rate 0.
    """
    if seconds is None:
        if before.t is None or after.t is None:
            raise ValueError("parsed text has no timestamp: pass seconds=")
        seconds = after.t - before.t
    if not seconds > 0:
        raise ValueError(f"the interval must be positive, got {seconds!r} s")
    cpus = [c for c in after.cpus if c in before.cpus]
    names, labels, data, totals = [], [], [], {}
    for name, row in after.rows.items():
        old = before.rows.get(name)
        if old is None:
            continue
        if not row.per_cpu or not old.per_cpu:
            totals[name] = max(0, row.total - old.total) / seconds
            continue
        names.append(name)
        labels.append(row.label)
        data.append([max(0, row.counts.get(c, 0) - old.counts.get(c, 0)) / seconds for c in cpus])
    matrix = np.array(data, dtype=float).reshape(len(names), len(cpus))
    return Rates(names, labels, cpus, matrix, float(seconds), totals, kind)


def sample(seconds: float = 2.0, path: str | Path = INTERRUPTS) -> Rates:
    """Two snapshots of ``path`` ``seconds`` apart (the calling thread sleeps) and the rates between them."""
    if not 0 < seconds <= 600:
        raise ValueError(f"seconds must be in (0, 600], got {seconds!r}")
    before = read(path)
    time.sleep(seconds)
    after = read(path)
    return rates(before, after, kind="softirqs" if "softirq" in str(path) else "interrupts")


def format_table(r: Rates, *, top: int | None = None) -> str:
    """A text table: one line per source, rates per CPU and the total, busiest first when ``top`` is given."""
    rr = r.top(top) if top else r
    width = max([len(lab) for lab in rr.labels] + [6])
    head = f"{'source':<{width}}  " + "  ".join(f"{'CPU' + str(c):>9}" for c in rr.cpus) + f"  {'total':>9}"
    lines = [head, "-" * len(head)]
    for lab, per, tot in rr.rows():
        lines.append(f"{lab:<{width}}  " + "  ".join(f"{v:>9,.0f}" for v in per) + f"  {tot:>9,.0f}")
    lines.append(f"({r.kind} per second over {r.seconds:.2f} s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hftos.interrupts``: interrupt (or softirq) rates per source and CPU over a few seconds."""
    ap = argparse.ArgumentParser(prog="python -m hftos.interrupts", description=main.__doc__)
    ap.add_argument("--softirqs", action="store_true", help="read /proc/softirqs instead of /proc/interrupts")
    ap.add_argument("--seconds", type=float, default=2.0, help="interval between the two snapshots (default 2)")
    ap.add_argument("--top", type=int, default=None, help="show only the N busiest sources")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    path = SOFTIRQS if args.softirqs else INTERRUPTS
    print(f"# {path}, {args.seconds:g} s, top={args.top}", file=sys.stderr)
    try:
        r = sample(args.seconds, path)
        if args.top is not None:
            r = r.top(args.top)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(r.to_dict(), indent=2) if args.json else format_table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
