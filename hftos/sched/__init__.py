"""Scheduler simulators: pure Python, deterministic, checkable by hand.

>>> from hftos.sched import simulate
>>> simulate("fcfs", [24, 3, 3]).averages["wait"]
17.0
>>> round(simulate("rr", [24, 3, 3], quantum=4).averages["wait"], 2)
5.67

One module per policy family: :mod:`~hftos.sched.classic` (FCFS, SJF, SRTF, RR, priority),
:mod:`~hftos.sched.mlfq`, :mod:`~hftos.sched.proportional` (lottery, stride),
:mod:`~hftos.sched.fair` (CFS, EEVDF), :mod:`~hftos.sched.realtime` (SCHED_FIFO, SCHED_RR);
:mod:`~hftos.sched.weights` holds the kernel's nice-to-weight tables and
``python -m hftos.sched`` speaks the OSTEP homework simulators' flags (:mod:`~hftos.sched.ostep`).
"""

from __future__ import annotations

from typing import Any

from . import classic, fair, mlfq, proportional, realtime  # noqa: F401  (registers the policies)
from .engine import ALIASES, REGISTRY
from .model import Job, JobsInput, JobStats, Schedule, SchedError, Slice

#: Canonical policy names (aliases: ``fifo`` = ``fcfs``, ``stcf`` = ``srtf``).
POLICIES: tuple[str, ...] = tuple(REGISTRY)


def resolve(name: str) -> str:
    """The canonical name of policy ``name`` (case-insensitive, aliases allowed)."""
    key = str(name).strip().lower().replace("_", "-")
    for candidate in (key, key.replace("-", "_")):
        if candidate in REGISTRY:
            return candidate
        if candidate in ALIASES:
            return ALIASES[candidate]
    names = ", ".join(POLICIES) + " (aliases: " + ", ".join(f"{a}={c}" for a, c in ALIASES.items()) + ")"
    raise SchedError(f"unknown policy {name!r}; valid: {names}")


def simulate(policy: str, jobs: JobsInput, **params: Any) -> Schedule:
    """Simulate ``policy`` on ``jobs`` and return the :class:`Schedule`.

    ``jobs``: :class:`Job` objects, bursts (all arriving at 0), ``(arrival, burst)`` pairs or dicts
    of :class:`Job` fields; ids are positions in this sequence. ``params`` are the policy's
    keyword parameters (see each policy's docstring, e.g. ``help(hftos.sched.classic.rr)``);
    an unknown name raises :class:`SchedError` listing the valid ones.
    """
    return REGISTRY[resolve(policy)](jobs, **params)


__all__ = ["POLICIES", "Job", "JobStats", "Schedule", "SchedError", "Slice", "resolve", "simulate"]
