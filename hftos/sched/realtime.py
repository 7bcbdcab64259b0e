"""Linux real-time policies: SCHED_FIFO and SCHED_RR on one CPU.

``Job.priority`` is the RT priority, 1..99, and *higher runs first*. Within one priority level
jobs wait in a FIFO list (admitted in (arrival, id) order). A job arriving with a strictly
higher priority preempts the running job at once; the preempted job goes back to the *head*
of its priority list (as Linux does), and under SCHED_RR it keeps the unexpired part of its
quantum. SCHED_FIFO runs a job until it completes (these simulated jobs never block).
SCHED_RR moves a job whose quantum (default 100, i.e. the kernel's 100 ms with times in ms) has
expired to the *tail* of its list, behind jobs that arrived at that instant. RT throttling
(``sched_rt_runtime_us``) and the fair deadline server are not modelled.
"""

from __future__ import annotations

from collections import deque

from .engine import QueuePolicy, Time, no_io, policy, positive, recorder, run_queue
from .model import Job, Number, Recorder, Schedule, SchedError

RT_PRIO_MIN, RT_PRIO_MAX = 1, 99


class RealTime(QueuePolicy):
    """One FIFO list per RT priority; ``quantum=None`` is SCHED_FIFO."""

    arrival_preemption = True

    def __init__(self, jobs: list[Job], rec: Recorder, quantum: Number | None) -> None:
        super().__init__(jobs, rec)
        for i, job in enumerate(jobs):
            if not RT_PRIO_MIN <= job.priority <= RT_PRIO_MAX:
                raise SchedError(f"job {i}: RT priority must be in {RT_PRIO_MIN}..{RT_PRIO_MAX}, "
                                 f"got {job.priority}")
        self.quantum = None if quantum is None else positive(quantum, "quantum")
        self.left = [self.quantum] * len(jobs)  # unexpired quantum per job (SCHED_RR)
        self.lists: dict[int, deque[int]] = {}

    def _best(self) -> int:
        return max(p for p, q in self.lists.items() if q)

    def arrive(self, job: int, now: Time) -> None:
        self.lists.setdefault(self.jobs[job].priority, deque()).append(job)

    def has_ready(self) -> bool:
        return any(self.lists.values())

    def pick(self, now: Time) -> int:
        return self.lists[self._best()].popleft()

    def budget(self, job: int, now: Time) -> Time | None:
        return self.left[job]

    def charge(self, job: int, ran: Time) -> None:
        if self.quantum is not None:
            self.left[job] -= ran

    def preempts(self, job: int, now: Time) -> bool:
        return self.has_ready() and self._best() > self.jobs[job].priority

    def requeue(self, job: int, now: Time, expired: bool) -> None:
        queue = self.lists[self.jobs[job].priority]
        if expired:
            self.left[job] = self.quantum
            queue.append(job)
        else:
            queue.appendleft(job)


@policy("sched_fifo")
def sched_fifo(jobs: list[Job], *, switch_cost: Number = 0) -> Schedule:
    """SCHED_FIFO: highest RT priority (1..99) first, FIFO within a priority, no time slice."""
    no_io(jobs, "sched_fifo")
    return run_queue(RealTime(jobs, recorder(jobs, switch_cost), None))


@policy("sched_rr")
def sched_rr(jobs: list[Job], *, quantum: Number = 100, switch_cost: Number = 0) -> Schedule:
    """SCHED_RR: SCHED_FIFO plus rotation every ``quantum`` among jobs of equal priority."""
    no_io(jobs, "sched_rr")
    return run_queue(RealTime(jobs, recorder(jobs, switch_cost), quantum))
