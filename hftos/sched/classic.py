"""The textbook policies: FCFS, SJF, SRTF (STCF), Round Robin and priority scheduling.

All run on :func:`~hftos.sched.engine.run_queue`; times are in the caller's unit. Every policy
accepts ``switch_cost`` (>= 0, default 0): CPU time spent on each switch to a different job.

Tie rules (errata E14): FCFS orders by (arrival, id); SJF by (burst, arrival, id); SRTF by
(remaining, arrival, id); priority by (priority, arrival, id) with a *lower* number meaning more
urgent. A preemptive policy preempts only for a *strictly* better job. The CPU idles only when
nothing has arrived, and then jumps to the next arrival (E18, E24).
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Callable

from .engine import QueuePolicy, Time, no_io, policy, positive, recorder, run_queue
from .model import Job, Number, Recorder, Schedule


class KeyedPolicy(QueuePolicy):
    """Ready jobs in a heap ordered by ``key(self, job)``; optionally preempt for a smaller key."""

    def __init__(self, jobs: list[Job], rec: Recorder,
                 key: Callable[[KeyedPolicy, int], tuple], preemptive: bool) -> None:
        super().__init__(jobs, rec)
        self.key = key
        self.arrival_preemption = preemptive
        self.heap: list[tuple[tuple, int]] = []

    def arrive(self, job: int, now: Time) -> None:
        heapq.heappush(self.heap, (self.key(self, job), job))

    def has_ready(self) -> bool:
        return bool(self.heap)

    def pick(self, now: Time) -> int:
        return heapq.heappop(self.heap)[1]

    def preempts(self, job: int, now: Time) -> bool:
        return bool(self.heap) and self.heap[0][0] < self.key(self, job)

    def requeue(self, job: int, now: Time, expired: bool) -> None:
        self.arrive(job, now)  # the key is recomputed: SRTF sees the new remaining time


class RoundRobin(QueuePolicy):
    """A FIFO ready queue; each dispatch gets at most ``quantum``."""

    def __init__(self, jobs: list[Job], rec: Recorder, quantum: Number) -> None:
        super().__init__(jobs, rec)
        self.quantum = positive(quantum, "quantum")
        self.queue: deque[int] = deque()

    def arrive(self, job: int, now: Time) -> None:
        self.queue.append(job)

    def has_ready(self) -> bool:
        return bool(self.queue)

    def pick(self, now: Time) -> int:
        return self.queue.popleft()

    def budget(self, job: int, now: Time) -> Time:
        return self.quantum

    def requeue(self, job: int, now: Time, expired: bool) -> None:
        self.queue.append(job)  # behind the jobs admitted at this instant (E23)


def _keyed(name: str, jobs: list[Job], switch_cost: Number, preemptive: bool,
           key: Callable[[KeyedPolicy, int], tuple]) -> Schedule:
    no_io(jobs, name)
    return run_queue(KeyedPolicy(jobs, recorder(jobs, switch_cost), key, preemptive))


@policy("fcfs", "fifo")
def fcfs(jobs: list[Job], *, switch_cost: Number = 0) -> Schedule:
    """First come, first served: run to completion in (arrival, id) order."""
    return _keyed("fcfs", jobs, switch_cost, False, lambda p, j: (p.arrivals[j], j))


@policy("sjf")
def sjf(jobs: list[Job], *, switch_cost: Number = 0) -> Schedule:
    """Shortest job first, non-preemptive: among arrived jobs the smallest (burst, arrival, id).

    Optimal for average wait only when all jobs are available at once (errata E19).
    """
    return _keyed("sjf", jobs, switch_cost, False, lambda p, j: (p.bursts[j], p.arrivals[j], j))


@policy("srtf", "stcf")
def srtf(jobs: list[Job], *, switch_cost: Number = 0) -> Schedule:
    """Shortest remaining time first (OSTEP's STCF): preemptive SJF.

    Picks the smallest (remaining, arrival, id); an arrival preempts the running job only when
    its burst is strictly shorter than the running job's remaining time.
    """
    return _keyed("srtf", jobs, switch_cost, True, lambda p, j: (p.remaining[j], p.arrivals[j], j))


def _by_priority(p: KeyedPolicy, j: int) -> tuple:
    return (p.jobs[j].priority, p.arrivals[j], j)


@policy("priority")
def priority(jobs: list[Job], *, switch_cost: Number = 0) -> Schedule:
    """Non-preemptive priority: smallest (priority, arrival, id) first; lower number = more urgent."""
    return _keyed("priority", jobs, switch_cost, False, _by_priority)


@policy("priority-preemptive")
def priority_preemptive(jobs: list[Job], *, switch_cost: Number = 0) -> Schedule:
    """Preemptive priority: an arrival with a strictly lower priority number preempts.

    The preempted job goes back into the ready heap with its remaining time, under the same key.
    """
    return _keyed("priority-preemptive", jobs, switch_cost, True, _by_priority)


@policy("rr")
def rr(jobs: list[Job], *, quantum: Number = 1, switch_cost: Number = 0) -> Schedule:
    """Round Robin with time slice ``quantum`` (default 1, as OSTEP's scheduler.py).

    A FIFO queue in (arrival, id) order. When a quantum expires, jobs that arrived up to and
    including that instant are queued *before* the preempted job (E23). A job alone in the
    system keeps running without a switch.
    """
    no_io(jobs, "rr")
    return run_queue(RoundRobin(jobs, recorder(jobs, switch_cost), quantum))
