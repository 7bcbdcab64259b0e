"""The data every scheduler simulator shares: jobs in, a :class:`Schedule` out.

- :class:`Job` is what a student writes down: a CPU burst, an arrival time and the
  attributes some policies read (``priority``, ``nice``, ``tickets``, ``io``).
- :class:`Slice` is one bar of a Gantt chart; :class:`JobStats` one row of the results table.
- :class:`Schedule` is the result: per-job metrics, averages, the timeline, the number of
  context switches and a trace of events a student can check by hand.
- :class:`Recorder` builds a :class:`Schedule` while a policy's loop runs, so that every
  policy merges slices, counts switches and computes metrics the same way.

Times are plain numbers in whatever unit the caller uses (the classic textbook examples use
milliseconds or "time units"). Inside the simulators times are exact :class:`~fractions.Fraction`
values (``0.1`` is read as 1/10), so float rounding never creates phantom slices; results are
converted back to ``int`` when whole and to ``float`` otherwise.

Metrics, for a job with arrival ``a`` and burst ``b``:
``response = first_run - a``, ``turnaround = completion - a`` and
``wait = turnaround - b - blocked`` (time spent ready but not running; ``blocked`` is the time
spent in I/O, non-zero only for policies that model I/O).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping, NamedTuple, Sequence, Union

#: A time as the caller gives it (int, float, Fraction).
Number = Union[int, float, Fraction]

NICE_MIN, NICE_MAX = -20, 19


class SchedError(ValueError):
    """Bad input to a scheduler simulator (a job, a parameter or a policy name)."""


def exact(value: Any, what: str) -> Fraction:
    """Return ``value`` as an exact Fraction; floats are read through their decimal text.

    Raises :class:`SchedError` for anything that is not a finite real number (``bool`` included).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SchedError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SchedError(f"{what} must be finite, got {value!r}")
        return Fraction(repr(value))
    return Fraction(value)


def plain(value: Fraction) -> int | float:
    """Return an exact time as ``int`` when whole, else as the nearest ``float``."""
    return int(value) if value.denominator == 1 else float(value)


@dataclass(frozen=True)
class Job:
    """One job (process) to schedule.

    Attributes:
        burst: CPU time the job needs, > 0.
        arrival: when it becomes runnable, >= 0.
        priority: for ``priority``/``priority-preemptive`` a *lower* number is more urgent
            (textbook convention); for ``sched_fifo``/``sched_rr`` it is the Linux RT priority
            1..99 and *higher* runs first.
        nice: -20..19, mapped to a weight by ``cfs``/``eevdf``.
        tickets: > 0, read by ``lottery``/``stride``.
        io: for ``mlfq``: the job issues an I/O after every ``io`` units of CPU time (OSTEP's
            ``ioFreq``); ``None`` for a CPU-bound job. Other policies reject jobs with ``io``.
        name: a label for tables; defaults to ``"J<id>"``.
    """

    burst: Number
    arrival: Number = 0
    priority: int = 0
    nice: int = 0
    tickets: int = 100
    io: Number | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if exact(self.burst, "burst") <= 0:
            raise SchedError(f"burst must be > 0, got {self.burst!r}")
        if exact(self.arrival, "arrival") < 0:
            raise SchedError(f"arrival must be >= 0, got {self.arrival!r}")
        for attr in ("priority", "nice", "tickets"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise SchedError(f"{attr} must be an integer, got {value!r}")
        if not NICE_MIN <= self.nice <= NICE_MAX:
            raise SchedError(f"nice must be in {NICE_MIN}..{NICE_MAX}, got {self.nice}")
        if self.tickets <= 0:
            raise SchedError(f"tickets must be > 0, got {self.tickets}")
        if self.io is not None and exact(self.io, "io") <= 0:
            raise SchedError(f"io (CPU time between I/Os) must be > 0 or None, got {self.io!r}")


JobsInput = Iterable[Union[Job, Number, Sequence[Number], Mapping[str, Any]]]


def normalize_jobs(jobs: JobsInput) -> list[Job]:
    """Turn the accepted job forms into a list of :class:`Job` (ids are list positions).

    Accepted items: a :class:`Job`; a number (a burst arriving at 0); an ``(arrival, burst)``
    pair; a mapping with :class:`Job`'s field names.
    """
    out: list[Job] = []
    for i, item in enumerate(jobs):
        if isinstance(item, Job):
            out.append(item)
        elif isinstance(item, Mapping):
            unknown = set(item) - set(Job.__dataclass_fields__)
            if unknown:
                raise SchedError(f"job {i}: unknown field(s) {sorted(unknown)}; "
                                 f"valid: {', '.join(Job.__dataclass_fields__)}")
            if "burst" not in item:
                raise SchedError(f"job {i}: a dict needs a 'burst'")
            out.append(Job(**item))
        elif isinstance(item, numbers.Real) and not isinstance(item, bool):
            out.append(Job(burst=item))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            out.append(Job(burst=item[1], arrival=item[0]))
        else:
            raise SchedError(f"job {i}: expected a Job, a burst, an (arrival, burst) pair or a dict, "
                             f"got {item!r}")
    if not out:
        raise SchedError("no jobs to schedule")
    return out


class Slice(NamedTuple):
    """One bar of the Gantt chart: ``job`` ran from ``start`` to ``end``.

    ``kind`` is ``"run"`` when a job ran, ``"idle"`` when nothing was runnable, and ``"switch"``
    for context-switch overhead (only with ``switch_cost > 0``); ``job is None`` for the last two.
    Adjacent slices of the same job and kind are merged; an idle gap and the switch after it stay
    two slices.
    """

    job: int | None
    start: Number
    end: Number
    kind: str = "run"


@dataclass(frozen=True)
class JobStats:
    """Per-job results (see the module docstring for the formulas)."""

    id: int
    name: str
    arrival: Number
    burst: Number
    first_run: Number
    completion: Number
    response: Number
    turnaround: Number
    wait: Number


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Fraction):
        return plain(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


@dataclass
class Schedule:
    """The result of :func:`hftos.sched.simulate`.

    ``params`` holds every parameter the policy used, defaults included. ``switches`` counts
    dispatches of a job different from the previously running one (idle time in between does
    not reset it; the first dispatch is not a switch).
    """

    policy: str
    params: dict[str, Any]
    jobs: list[JobStats]
    averages: dict[str, float]
    timeline: list[Slice]
    switches: int
    trace: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``policy``, ``params``, ``jobs``, ``averages``, ``timeline``, ``switches``."""
        return {
            "policy": self.policy,
            "params": _jsonable(self.params),
            "jobs": [
                {"id": s.id, "name": s.name, "arrival": s.arrival, "burst": s.burst,
                 "first_run": s.first_run, "completion": s.completion,
                 "response": s.response, "turnaround": s.turnaround, "wait": s.wait}
                for s in self.jobs
            ],
            "averages": dict(self.averages),
            "timeline": [{"job": s.job, "start": s.start, "end": s.end, "kind": s.kind} for s in self.timeline],
            "switches": self.switches,
        }

    def __str__(self) -> str:
        params = ", ".join(f"{k}={_jsonable(v)}" for k, v in self.params.items())
        head = f"{'job':>4} {'name':<8} {'arrival':>8} {'burst':>8} {'first':>8} {'done':>8} " \
               f"{'response':>9} {'turnaround':>10} {'wait':>8}"
        lines = [f"policy {self.policy}" + (f" ({params})" if params else ""), head]
        for s in self.jobs:
            lines.append(f"{s.id:>4} {s.name:<8} {s.arrival:>8g} {s.burst:>8g} {s.first_run:>8g} "
                         f"{s.completion:>8g} {s.response:>9g} {s.turnaround:>10g} {s.wait:>8g}")
        a = self.averages
        lines.append(f"{'avg':>4} {'':<8} {'':>8} {'':>8} {'':>8} {'':>8} {a['response']:>9.2f} "
                     f"{a['turnaround']:>10.2f} {a['wait']:>8.2f}")
        lines.append(f"context switches: {self.switches}")
        return "\n".join(lines)


class Recorder:
    """Builds a :class:`Schedule` while a policy's loop runs.

    Times passed in are the loop's internal times (exact Fractions or ints). ``scale`` converts
    them to the caller's unit on output (``cfs``/``eevdf`` work in integer nanoseconds and use
    ``scale = ns per unit``).
    """

    def __init__(self, jobs: Sequence[Job], switch_cost: Fraction | int = 0, scale: int = 1) -> None:
        self.jobs = list(jobs)
        self.switch_cost = switch_cost
        self.scale = scale
        self.timeline: list[list[Any]] = []  # [job, start, end, kind], merged as recorded
        self.trace: list[str] = []
        self.first_run: list[Fraction | None] = [None] * len(self.jobs)
        self.completion: list[Fraction | None] = [None] * len(self.jobs)
        self.blocked: list[Fraction] = [Fraction(0)] * len(self.jobs)
        self.switches = 0
        self.last_job: int | None = None

    def out(self, t: Fraction | int) -> int | float:
        """An internal time in the caller's unit."""
        return plain(Fraction(t) / self.scale)

    def note(self, now: Fraction | int, text: str) -> None:
        """Add a trace line ``t=<now>: <text>``."""
        self.trace.append(f"t={self.out(now)}: {text}")

    def _append(self, job: int | None, start: Fraction | int, end: Fraction | int, kind: str) -> None:
        """Add a slice; it extends the previous one if that has the same job and kind and ends at ``start``."""
        if end <= start:
            return
        last = self.timeline[-1] if self.timeline else None
        if last is not None and last[0] == job and last[3] == kind and last[2] == start:
            last[2] = end
        else:
            self.timeline.append([job, start, end, kind])

    def idle(self, start: Fraction | int, end: Fraction | int) -> None:
        """The CPU ran nothing in ``[start, end)``."""
        if end > start:
            self.note(start, f"idle until {self.out(end)}")
        self._append(None, start, end, "idle")

    def dispatch(self, job: int, now: Fraction | int) -> Fraction | int:
        """Pay ``switch_cost`` if ``job`` differs from the last job that ran; return the new time."""
        if self.switch_cost and self.last_job is not None and job != self.last_job:
            end = now + self.switch_cost
            self.note(now, f"context switch J{self.last_job} -> J{job} until {self.out(end)}")
            self._append(None, now, end, "switch")
            return end
        return now

    def run(self, job: int, start: Fraction | int, end: Fraction | int) -> None:
        """``job`` ran in ``[start, end)``; counts a switch when the job changes."""
        if end <= start:
            return
        if self.last_job is not None and job != self.last_job:
            self.switches += 1
        self.last_job = job
        if self.first_run[job] is None:
            self.first_run[job] = Fraction(start)
        self._append(job, start, end, "run")

    def complete(self, job: int, now: Fraction | int) -> None:
        """``job`` finished at ``now``."""
        self.completion[job] = Fraction(now)
        self.note(now, f"J{job} done")

    def schedule(self) -> Schedule:
        """The finished :class:`Schedule` (the registry fills ``policy`` and ``params``)."""
        stats: list[JobStats] = []
        sums = {"response": Fraction(0), "turnaround": Fraction(0), "wait": Fraction(0)}
        for i, job in enumerate(self.jobs):
            first, done = self.first_run[i], self.completion[i]
            assert first is not None and done is not None, f"J{i} never completed"
            arrival = exact(job.arrival, "arrival") * self.scale
            burst = exact(job.burst, "burst") * self.scale
            metrics = {"response": first - arrival, "turnaround": done - arrival,
                       "wait": done - arrival - burst - self.blocked[i]}
            for key, value in metrics.items():
                sums[key] += value
            stats.append(JobStats(
                id=i, name=job.name or f"J{i}", arrival=self.out(arrival), burst=self.out(burst),
                first_run=self.out(first), completion=self.out(done),
                **{key: self.out(value) for key, value in metrics.items()},
            ))
        averages = {key: float(total / len(stats) / self.scale) for key, total in sums.items()}
        timeline = [Slice(j, self.out(s), self.out(e), kind) for j, s, e, kind in self.timeline]
        return Schedule(policy="", params={}, jobs=stats, averages=averages,
                        timeline=timeline, switches=self.switches, trace=self.trace)
