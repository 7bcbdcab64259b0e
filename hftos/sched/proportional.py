"""Proportional-share policies: lottery and stride scheduling (OSTEP chapter 9).

Both run jobs for at most ``quantum`` (default 1) per decision and read ``Job.tickets``.

Lottery: before each quantum, draw ``r = int(rng.random() * 1000001)`` and take
``winner = r % total`` where ``total`` is the tickets of the ready jobs; the winner is the first
job, in id order, whose cumulative ticket count exceeds ``winner``. This is exactly OSTEP's
``lottery.py``, so the same seed gives the same draws and winners. ``seed`` is an int (a fresh
``random.Random(seed)``) or a ``random.Random`` to draw from (the command line passes the one it
generated the jobs with, as lottery.py does).

Stride: each job has ``stride = 10000 / tickets`` and a ``pass`` value; the ready job with the
smallest (pass, id) runs and its pass grows by ``stride`` per full quantum (pro rata for a
shorter run). A job arriving later starts at the smallest pass among the jobs present (0 if none),
so it neither owes nor is owed CPU time.
"""

from __future__ import annotations

import random
from fractions import Fraction

from .engine import QueuePolicy, Time, no_io, policy, positive, recorder, run_queue
from .model import Job, Number, Recorder, Schedule, SchedError

#: OSTEP's "large number" that strides are computed from.
STRIDE1 = 10_000


def _rng(seed: int | random.Random) -> random.Random:
    if isinstance(seed, random.Random):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SchedError(f"seed must be an int or a random.Random, got {seed!r}")
    return random.Random(seed)


class Lottery(QueuePolicy):
    """Ready jobs in a set; :meth:`pick` holds a lottery among them."""

    def __init__(self, jobs: list[Job], rec: Recorder, quantum: Number, rng: random.Random,
                 hold: bool) -> None:
        super().__init__(jobs, rec)
        self.quantum = positive(quantum, "quantum")
        self.rng = rng
        self.hold_budget = hold
        self.ready: set[int] = set()

    def arrive(self, job: int, now: Time) -> None:
        self.ready.add(job)

    def has_ready(self) -> bool:
        return bool(self.ready)

    def pick(self, now: Time) -> int:
        pool = sorted(self.ready)
        total = sum(self.jobs[j].tickets for j in pool)
        draw = int(self.rng.random() * 1000001)
        winning = draw % total
        cumulative = 0
        for job in pool:
            cumulative += self.jobs[job].tickets
            if cumulative > winning:
                break
        self.rec.note(now, f"Random {draw} -> Winning ticket {winning} (of {total}) -> Run {job}")
        self.ready.remove(job)
        return job

    def budget(self, job: int, now: Time) -> Time:
        return self.quantum

    def requeue(self, job: int, now: Time, expired: bool) -> None:
        self.ready.add(job)


class Stride(QueuePolicy):
    """Deterministic proportional share: smallest (pass, id) runs."""

    def __init__(self, jobs: list[Job], rec: Recorder, quantum: Number) -> None:
        super().__init__(jobs, rec)
        self.quantum = positive(quantum, "quantum")
        self.stride = [Fraction(STRIDE1, j.tickets) for j in jobs]
        self.pass_: list[Fraction] = [Fraction(0)] * len(jobs)
        self.ready: set[int] = set()
        self.current: int | None = None

    def arrive(self, job: int, now: Time) -> None:
        present = [self.pass_[j] for j in self.ready]
        if self.current is not None:
            present.append(self.pass_[self.current])
        self.pass_[job] = min(present, default=Fraction(0))
        self.ready.add(job)

    def has_ready(self) -> bool:
        return bool(self.ready)

    def pick(self, now: Time) -> int:
        job = min(self.ready, key=lambda j: (self.pass_[j], j))
        passes = " ".join(f"J{j}={float(self.pass_[j]):g}" for j in sorted(self.ready))
        self.rec.note(now, f"pass {passes} -> run J{job}")
        self.ready.remove(job)
        self.current = job
        return job

    def budget(self, job: int, now: Time) -> Time:
        return self.quantum

    def charge(self, job: int, ran: Time) -> None:
        self.pass_[job] += self.stride[job] * ran / self.quantum

    def requeue(self, job: int, now: Time, expired: bool) -> None:
        self.ready.add(job)
        self.current = None

    def finish(self, job: int, now: Time) -> None:
        self.current = None


@policy("lottery")
def lottery(jobs: list[Job], *, quantum: Number = 1, seed: int | random.Random = 0,
            ostep: bool = False, switch_cost: Number = 0) -> Schedule:
    """Lottery scheduling (see the module docstring for the draw).

    ``ostep=True`` reproduces lottery.py's clock: every draw costs a whole quantum, so a job that
    needs less than a quantum still holds the CPU (and is charged) until the quantum ends and
    completes then. With the default ``False`` the next draw happens as soon as the job finishes.
    """
    no_io(jobs, "lottery")
    return run_queue(Lottery(jobs, recorder(jobs, switch_cost), quantum, _rng(seed), bool(ostep)))


@policy("stride")
def stride(jobs: list[Job], *, quantum: Number = 1, switch_cost: Number = 0) -> Schedule:
    """Stride scheduling (see the module docstring); ties on pass go to the lower id."""
    no_io(jobs, "stride")
    return run_queue(Stride(jobs, recorder(jobs, switch_cost), quantum))
