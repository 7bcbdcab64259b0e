"""The Linux fair class on one CPU: CFS (2.6.23-6.5) and EEVDF (6.6+).

Times are in ``unit`` (default ``"ms"``) and are simulated in integer nanoseconds, as the
kernel does; every time must be a whole number of nanoseconds. Weights come from the kernel's
``sched_prio_to_weight[]`` via ``Job.nice`` (:mod:`hftos.sched.weights`), and virtual time
advances as ``vruntime += delta_ns * 1024 // weight`` in integers (errata E31).

Defaults follow the kernel's ``SCHED_TUNABLESCALING_LOG`` with
``factor = 1 + ilog2(min(ncpu, 8))`` (errata E28): CFS ``latency`` 6 ms x factor and
``min_granularity`` 0.75 ms x factor; EEVDF ``base_slice`` 0.70 ms x factor (the default since Linux
6.15, also in the 6.12 stable series; it was 0.75 ms in 6.6-6.14: pass ``base_slice=0.75`` to model those).

Simplifications (both policies): jobs never block; there is no wake-up preemption (a job
arriving while another runs waits until the running job's slice ends, as with tick-based
preemption); a new job is placed when the scheduler next runs.

CFS: runnable jobs sit in a tree ordered by (vruntime, enqueue order), so equal vruntimes are
served first-in first-out, like the kernel's red-black tree; the leftmost runs. The running job
is *not* in the tree (errata E33; asserted). Its slice is
``max(latency * w / sum(w), min_granularity)`` (sum over the running and queued jobs). A new job
is placed at ``min_vruntime`` (``place_entity()`` without START_DEBIT), which only moves forward.

EEVDF: ``V`` is the load-weighted average vruntime of the runnable jobs (running one included);
a job is eligible when its lag ``V - vruntime`` is >= 0 (compared exactly, in integers, like
``entity_eligible()``). Among eligible jobs the earliest virtual deadline runs, ties to the lower
id; the deadline is ``vruntime + base_slice * 1024 // weight`` and is renewed when the job has
used its slice. A new job is placed at ``V`` with zero lag.
"""

from __future__ import annotations

import heapq

from .engine import QueuePolicy, Time, no_io, policy, recorder, run_queue
from .model import Job, Number, Recorder, Schedule, SchedError, exact
from .weights import NICE_0_LOAD, nice_to_weight

#: nanoseconds per time unit.
UNITS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def scale_factor(ncpu: int) -> int:
    """``1 + ilog2(min(ncpu, 8))``: the kernel's log scaling of the fair-class tunables."""
    if isinstance(ncpu, bool) or not isinstance(ncpu, int) or ncpu < 1:
        raise SchedError(f"ncpu must be an integer >= 1, got {ncpu!r}")
    return min(ncpu, 8).bit_length()  # bit_length() == 1 + ilog2() for n >= 1


def _unit(unit: str) -> int:
    if unit not in UNITS:
        raise SchedError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    return UNITS[unit]


def _ns(value: Number | None, default_ns: int, scale: int, what: str) -> int:
    """A positive duration in whole nanoseconds (``default_ns`` when ``value`` is None)."""
    if value is None:
        return default_ns
    result = exact(value, what) * scale
    if result <= 0 or result.denominator != 1:
        raise SchedError(f"{what} must be > 0 and a whole number of nanoseconds, got {value!r}")
    return int(result)


class FairPolicy(QueuePolicy):
    """What CFS and EEVDF share: weights, vruntimes, the running job, integer time."""

    def __init__(self, jobs: list[Job], rec: Recorder) -> None:
        super().__init__(jobs, rec)
        for i, t in enumerate(self.bursts + self.arrivals):
            if not isinstance(t, int):
                raise SchedError(f"fair-class times must be whole nanoseconds; job {i % len(jobs)} "
                                 "has a finer burst or arrival")
        if not isinstance(rec.switch_cost, int):
            raise SchedError("switch_cost must be a whole number of nanoseconds")
        self.weight = [nice_to_weight(j.nice) for j in jobs]
        self.vruntime = [0] * len(jobs)
        self.current: int | None = None

    def charge(self, job: int, ran: Time) -> None:
        self.vruntime[job] += ran * NICE_0_LOAD // self.weight[job]

    def finish(self, job: int, now: Time) -> None:
        self.current = None

    def _v(self, job: int) -> str:
        return f"J{job}:{self.rec.out(self.vruntime[job])}"


class CFS(FairPolicy):
    """CFS: leftmost vruntime first, slice from the latency target."""

    def __init__(self, jobs: list[Job], rec: Recorder, latency: int, min_granularity: int) -> None:
        super().__init__(jobs, rec)
        self.latency, self.min_granularity = latency, min_granularity
        self.tree: list[tuple[int, int, int]] = []  # heap of (vruntime, enqueue order, job)
        self.queued: set[int] = set()
        self.order = 0
        self.min_vruntime = 0

    def _enqueue(self, job: int) -> None:
        assert job != self.current and job not in self.queued, "running job must stay out of the tree"
        heapq.heappush(self.tree, (self.vruntime[job], self.order, job))
        self.order += 1
        self.queued.add(job)

    def _update_min_vruntime(self) -> None:
        candidates = [self.tree[0][0]] if self.tree else []
        if self.current is not None:
            candidates.append(self.vruntime[self.current])
        if candidates:
            self.min_vruntime = max(self.min_vruntime, min(candidates))

    def arrive(self, job: int, now: Time) -> None:
        self._update_min_vruntime()
        self.vruntime[job] = self.min_vruntime
        self.rec.note(now, f"J{job} placed at min_vruntime {self.rec.out(self.min_vruntime)}")
        self._enqueue(job)

    def has_ready(self) -> bool:
        return bool(self.tree)

    def pick(self, now: Time) -> int:
        view = " ".join(self._v(j) for _, _, j in sorted(self.tree))
        _, _, job = heapq.heappop(self.tree)
        self.queued.remove(job)
        self.current = job
        self.rec.note(now, f"vruntime {view} -> run J{job}")
        return job

    def budget(self, job: int, now: Time) -> Time:
        total = self.weight[job] + sum(self.weight[j] for j in self.queued)
        return max(self.latency * self.weight[job] // total, self.min_granularity)

    def charge(self, job: int, ran: Time) -> None:
        super().charge(job, ran)
        self._update_min_vruntime()

    def requeue(self, job: int, now: Time, expired: bool) -> None:
        self.current = None
        self._enqueue(job)


class EEVDF(FairPolicy):
    """EEVDF: earliest virtual deadline among the eligible jobs."""

    def __init__(self, jobs: list[Job], rec: Recorder, base_slice: int) -> None:
        super().__init__(jobs, rec)
        self.base_slice = base_slice
        self.vslice = [base_slice * NICE_0_LOAD // w for w in self.weight]
        self.deadline = [0] * len(jobs)
        self.queued: set[int] = set()
        self.avg = 0  # last V, used to place a job when nothing else is runnable

    def _load(self) -> tuple[int, int]:
        """(sum of w*v, sum of w) over the runnable jobs, the running one included."""
        members = self.queued | ({self.current} if self.current is not None else set())
        return (sum(self.weight[j] * self.vruntime[j] for j in members),
                sum(self.weight[j] for j in members))

    def arrive(self, job: int, now: Time) -> None:
        weighted, load = self._load()
        if load:
            self.avg = weighted // load
        self.vruntime[job] = self.avg
        self.deadline[job] = self.avg + self.vslice[job]
        self.rec.note(now, f"J{job} placed at V={self.rec.out(self.avg)}, "
                           f"deadline {self.rec.out(self.deadline[job])}")
        self.queued.add(job)

    def has_ready(self) -> bool:
        return bool(self.queued)

    def pick(self, now: Time) -> int:
        weighted, load = self._load()
        eligible = [j for j in sorted(self.queued) if self.vruntime[j] * load <= weighted]
        job = min(eligible, key=lambda j: (self.deadline[j], j))
        avg = weighted // load
        lags = " ".join(f"J{j}:{self.rec.out(avg - self.vruntime[j])}" for j in sorted(self.queued))
        self.rec.note(now, f"V={self.rec.out(avg)} lag {lags} eligible "
                           f"{','.join(f'J{j}' for j in eligible)} -> run J{job} "
                           f"(deadline {self.rec.out(self.deadline[job])})")
        self.queued.remove(job)
        self.current = job
        return job

    def budget(self, job: int, now: Time) -> Time:
        return self.base_slice

    def requeue(self, job: int, now: Time, expired: bool) -> None:
        if self.vruntime[job] >= self.deadline[job]:
            self.deadline[job] = self.vruntime[job] + self.vslice[job]
        self.current = None
        self.queued.add(job)


@policy("cfs")
def cfs(jobs: list[Job], *, latency: Number | None = None, min_granularity: Number | None = None,
        ncpu: int = 1, unit: str = "ms", switch_cost: Number = 0) -> Schedule:
    """Completely Fair Scheduler (see the module docstring).

    ``latency`` (sched_latency) and ``min_granularity`` are in ``unit``; ``None`` gives the
    kernel defaults for ``ncpu`` CPUs (6 ms and 0.75 ms on 1 CPU, 12 and 1.5 on 2, 24 and 3 on 8+).
    """
    no_io(jobs, "cfs")
    scale, factor = _unit(unit), scale_factor(ncpu)
    pol = CFS(jobs, recorder(jobs, switch_cost, scale),
              _ns(latency, 6_000_000 * factor, scale, "latency"),
              _ns(min_granularity, 750_000 * factor, scale, "min_granularity"))
    return run_queue(pol)


@policy("eevdf")
def eevdf(jobs: list[Job], *, base_slice: Number | None = None, ncpu: int = 1, unit: str = "ms",
          switch_cost: Number = 0) -> Schedule:
    """Earliest Eligible Virtual Deadline First (see the module docstring).

    ``base_slice`` (debugfs ``base_slice_ns``) is in ``unit``; ``None`` gives the current kernel default
    0.70 ms x factor (2.8 ms on 8 or more CPUs); kernels 6.6-6.14 used 0.75 ms x factor.
    """
    no_io(jobs, "eevdf")
    scale, factor = _unit(unit), scale_factor(ncpu)
    pol = EEVDF(jobs, recorder(jobs, switch_cost, scale),
                _ns(base_slice, 700_000 * factor, scale, "base_slice"))
    return run_queue(pol)
