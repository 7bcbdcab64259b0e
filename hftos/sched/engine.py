"""The event loop and the policy registry every queue-based simulator shares.

A policy is a :class:`QueuePolicy`: it owns the ready structure and answers four questions
(who runs next, for how long at most, does an arrival preempt the running job, where does a
job go when its slice ends). :func:`run_queue` owns time: it admits arrivals, jumps over idle
gaps to the next arrival (no tick-by-tick idling), pays the context-switch cost, runs slices
and records everything through a :class:`~hftos.sched.model.Recorder`.

Rules the loop applies to every policy (each policy's docstring repeats the ones it relies on):

- Arrivals at the same instant are admitted in (arrival, id) order.
- When a slice ends (budget used up or preemption), jobs that arrived up to and including that
  instant are admitted *before* the job is put back (the textbook RR convention, errata E23).
- A job that is picked again right after its own slice continues without a context switch.
- With ``switch_cost > 0`` every dispatch of a different job than the last one to run costs
  ``switch_cost`` of CPU time (shown as a ``job=None`` slice). The decision is taken when the
  switch starts; jobs arriving during the switch are considered at the next decision point.

:func:`policy` registers a simulator function under a name and aliases; it validates parameter
names (a typo raises :class:`~hftos.sched.model.SchedError` listing the valid ones) and fills
``Schedule.policy``/``params``.
"""

from __future__ import annotations

import functools
import inspect
from fractions import Fraction
from typing import Any, Callable

from .model import Job, JobsInput, Number, Recorder, Schedule, SchedError, exact, normalize_jobs

#: canonical name -> simulator function (filled by :func:`policy`).
REGISTRY: dict[str, Callable[..., Schedule]] = {}
#: alias -> canonical name.
ALIASES: dict[str, str] = {}

Time = Any  # an int, or an exact Fraction when not whole (always int nanoseconds in the fair class)


def policy(name: str, *aliases: str) -> Callable[[Callable[..., Schedule]], Callable[..., Schedule]]:
    """Register ``fn(jobs: list[Job], *, param=default, ...) -> Schedule`` as policy ``name``."""

    def decorate(fn: Callable[..., Schedule]) -> Callable[..., Schedule]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(jobs: JobsInput, **params: Any) -> Schedule:
            valid = parameters(name)
            unknown = sorted(set(params) - set(valid))
            if unknown:
                raise SchedError(f"policy {name!r} has no parameter(s) {', '.join(unknown)}; "
                                 f"valid: {', '.join(valid) or '(none)'}")
            bound = signature.bind(normalize_jobs(jobs), **params)
            bound.apply_defaults()
            schedule = fn(*bound.args, **bound.kwargs)
            schedule.policy = name
            schedule.params = {k: v for k, v in bound.arguments.items() if k != "jobs"}
            return schedule

        REGISTRY[name] = wrapper
        for alias in aliases:
            ALIASES[alias] = name
        return wrapper

    return decorate


def parameters(name: str) -> list[str]:
    """The keyword parameters of registered policy ``name``."""
    return [p for p in inspect.signature(REGISTRY[name]).parameters if p != "jobs"]


def positive(value: Any, what: str) -> Fraction:
    """``value`` as an exact Fraction, or :class:`SchedError` unless it is > 0."""
    result = exact(value, what)
    if result <= 0:
        raise SchedError(f"{what} must be > 0, got {value!r}")
    return result


def non_negative(value: Any, what: str) -> Fraction:
    """``value`` as an exact Fraction, or :class:`SchedError` unless it is >= 0."""
    result = exact(value, what)
    if result < 0:
        raise SchedError(f"{what} must be >= 0, got {value!r}")
    return result


def recorder(jobs: list[Job], switch_cost: Number, scale: int = 1) -> Recorder:
    """A :class:`Recorder` for ``jobs`` with a validated ``switch_cost`` (caller's unit)."""
    return Recorder(jobs, internal(non_negative(switch_cost, "switch_cost"), scale, "switch_cost"), scale)


def no_io(jobs: list[Job], name: str) -> None:
    """Reject jobs with ``io`` for a policy that does not model I/O."""
    for i, job in enumerate(jobs):
        if job.io is not None:
            raise SchedError(f"policy {name!r} does not model I/O (job {i} has io={job.io!r}); use 'mlfq'")


class QueuePolicy:
    """The ready structure of one policy; :func:`run_queue` calls these hooks.

    ``remaining`` (per job, internal time units) is kept up to date by the loop and may be read.
    The running job is never in the ready structure between :meth:`pick` and :meth:`requeue`.
    """

    #: stop at every arrival while a job runs and ask :meth:`preempts`.
    arrival_preemption = False
    #: a job always holds the CPU for its whole budget: one that needs less is charged the full
    #: budget and completes at its end (quantum-granular accounting, as OSTEP's lottery.py).
    hold_budget = False

    def __init__(self, jobs: list[Job], recorder: Recorder) -> None:
        self.jobs = jobs
        self.rec = recorder
        self.bursts = [internal(j.burst, recorder.scale, "burst") for j in jobs]
        self.arrivals = [internal(j.arrival, recorder.scale, "arrival") for j in jobs]
        self.remaining: list[Time] = list(self.bursts)

    def arrive(self, job: int, now: Time) -> None:
        """``job`` became runnable (at or before ``now``)."""
        raise NotImplementedError

    def has_ready(self) -> bool:
        """Is any job waiting to run?"""
        raise NotImplementedError

    def pick(self, now: Time) -> int:
        """Remove and return the job to run next (only called when :meth:`has_ready`)."""
        raise NotImplementedError

    def budget(self, job: int, now: Time) -> Time | None:
        """How long ``job`` may run before the policy decides again; ``None``: until it finishes."""
        return None

    def charge(self, job: int, ran: Time) -> None:
        """``job`` just ran for ``ran``."""

    def preempts(self, job: int, now: Time) -> bool:
        """After arrivals at ``now``: should the running ``job`` give up the CPU?"""
        return False

    def requeue(self, job: int, now: Time, expired: bool) -> None:
        """Put ``job`` back: its budget ended (``expired``) or it was preempted."""
        raise NotImplementedError

    def finish(self, job: int, now: Time) -> None:
        """``job`` completed."""


def run_queue(pol: QueuePolicy) -> Schedule:
    """Run ``pol`` until every job has completed and return the recorded schedule."""
    rec, bursts, arrivals, remaining = pol.rec, pol.bursts, pol.arrivals, pol.remaining
    n = len(bursts)
    order = sorted(range(n), key=lambda i: (arrivals[i], i))
    admitted = 0
    now: Time = 0
    finished = 0
    current: int | None = None
    slice_end: Time | None = None

    def admit(upto: Time) -> None:
        nonlocal admitted
        while admitted < n and arrivals[order[admitted]] <= upto:
            job = order[admitted]
            admitted += 1
            rec.note(arrivals[job], f"J{job} arrives (burst {rec.out(bursts[job])})")
            pol.arrive(job, upto)

    while finished < n:
        admit(now)
        if current is None:
            if not pol.has_ready():
                nxt = arrivals[order[admitted]]
                rec.idle(now, nxt)
                now = nxt
                continue
            current = pol.pick(now)
            start = rec.dispatch(current, now)
            if start != now:
                now = start
                admit(now)
            budget = pol.budget(current, now)
            slice_end = None if budget is None else now + budget
            rec.note(now, f"run J{current} ({rec.out(remaining[current])} left"
                     + ("" if budget is None else f", budget {rec.out(budget)}") + ")")
        stop = now + remaining[current]
        if slice_end is not None:
            stop = slice_end if pol.hold_budget else min(stop, slice_end)
        if pol.arrival_preemption and admitted < n:
            stop = min(stop, arrivals[order[admitted]])
        rec.run(current, now, stop)
        remaining[current] -= min(stop - now, remaining[current])
        pol.charge(current, stop - now)
        now = stop
        admit(now)
        if remaining[current] == 0:
            rec.complete(current, now)
            pol.finish(current, now)
            finished += 1
            current = None
        elif slice_end is not None and now >= slice_end:
            rec.note(now, f"J{current} budget used ({rec.out(remaining[current])} left)")
            pol.requeue(current, now, expired=True)
            current = None
        elif pol.arrival_preemption and pol.preempts(current, now):
            rec.note(now, f"J{current} preempted ({rec.out(remaining[current])} left)")
            pol.requeue(current, now, expired=False)
            current = None
    return rec.schedule()


def internal(value: Number, scale: int, what: str) -> Time:
    """A caller's time in internal units: an ``int`` when whole (fast), else an exact Fraction."""
    result = exact(value, what) * scale
    return int(result) if result.denominator == 1 else result


__all__ = ["ALIASES", "REGISTRY", "QueuePolicy", "internal", "no_io", "non_negative", "parameters", "recorder",
           "policy", "positive", "run_queue"]
