"""Multi-level feedback queue, tick by tick, with the rules and flags of OSTEP's ``mlfq.py``.

Time is in integer ticks (bursts, arrivals, quanta, ``Job.io`` and ``io_time`` must be whole).
Queues are numbered as in OSTEP: ``queues - 1`` is the highest priority, 0 the lowest.

Each tick, in this order:

1. Boost: if ``boost > 0`` and the time is a non-zero multiple of ``boost``, the jobs in the lower
   queues move to the tail of the top queue (lowest queue first, each in queue order) and every
   unfinished job's level becomes the top one (see ``ostep`` for its counters).
2. Events due now: arrivals (in id order) and then I/O completions (in the order they were
   issued) append the job to its level's queue; with ``iobump`` an I/O completion goes to the
   *front* instead.
3. The head of the highest non-empty queue runs one tick (a higher queue preempts at the next
   tick; the preempted job stays at the head of its queue with its ticks left). If all queues
   are empty the CPU idles, jumping straight to the next event or boost.
4. After the tick: a finished job leaves. A job that has run ``Job.io`` ticks since its last I/O
   starts an I/O of ``io_time`` ticks (with ``stay``, its quantum and allotment are reset first).
   A job whose quantum is used up spends one unit of allotment: with allotment left it gets a
   fresh quantum at the tail of its queue, else it moves one level down (the lowest level just
   starts over) with that level's quantum and allotment. The quantum check uses the ticks left
   before the ``stay`` reset, exactly as mlfq.py does.

``allotment`` counts quanta (OSTEP's ``-a``): a job is demoted after using ``allotment`` full
quanta at a level.

``wait`` in the results is the time spent ready but not running (turnaround - burst - I/O time).
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

from .engine import policy, recorder
from .model import Job, Number, Schedule, SchedError, exact

__all__ = ["mlfq"]


def _tick(value: Number, what: str, minimum: int) -> int:
    result = exact(value, what)
    if result.denominator != 1 or result < minimum:
        raise SchedError(f"{what} must be a whole number of ticks >= {minimum}, got {value!r}")
    return int(result)


def _levels(value: int | Sequence[int], count: int, what: str) -> list[int]:
    """Per-level values indexed by queue number (0 = lowest); a list is given highest first."""
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise SchedError(f"{what} lists {len(value)} levels but there are {count} queues")
        return [_tick(v, what, 1) for v in reversed(value)]
    return [_tick(value, what, 1)] * count


@policy("mlfq")
def mlfq(jobs: list[Job], *, queues: int | None = None, quantum: int | Sequence[int] = 10,
         allotment: int | Sequence[int] = 1, boost: int = 0, io_time: int = 5, stay: bool = False,
         iobump: bool = False, ostep: bool = False) -> Schedule:
    """MLFQ (see the module docstring for the per-tick rules).

    Args:
        queues: number of levels (default 3, or the length of a ``quantum`` list).
        quantum: ticks per quantum, one for all levels or a list, highest priority first (OSTEP -q/-Q).
        allotment: quanta a job may use at a level before demotion, one or a list (OSTEP -a/-A).
        boost: move every job to the top queue every ``boost`` ticks; 0 never (OSTEP -B).
        io_time: ticks an I/O takes (OSTEP -i); jobs issue one every ``Job.io`` ticks of CPU.
        stay: reset quantum and allotment when a job issues an I/O (OSTEP -S, gameable).
        iobump: a job finishing I/O goes to the front of its queue (OSTEP -I).
        ostep: reproduce mlfq.py's boost bookkeeping exactly: a boosted job's ticks left are set
            to the *top queue's allotment* and its allotment counter is not reset. With ``False``
            a boost gives a fresh top-level quantum and allotment.
    """
    if isinstance(quantum, (list, tuple)):
        count = len(quantum)
        if queues is not None and queues != count:
            raise SchedError(f"queues={queues} but quantum lists {count} levels")
    else:
        count = 3 if queues is None else _tick(queues, "queues", 1)
    quanta = _levels(quantum, count, "quantum")
    allots = _levels(allotment, count, "allotment")
    boost = _tick(boost, "boost", 0)
    io_time = _tick(io_time, "io_time", 0)
    top = count - 1

    n = len(jobs)
    burst = [_tick(j.burst, f"job {i} burst", 1) for i, j in enumerate(jobs)]
    io_every = [0 if j.io is None else _tick(j.io, f"job {i} io", 1) for i, j in enumerate(jobs)]
    rec = recorder(jobs, 0)
    left = list(burst)
    level = [top] * n
    ticks = [quanta[top]] * n
    allot = [allots[top]] * n
    ready: list[deque[int]] = [deque() for _ in range(count)]
    events: dict[int, list[tuple[int, str]]] = {}
    for i, job in enumerate(jobs):
        events.setdefault(_tick(job.arrival, f"job {i} arrival", 0), []).append((i, "arrives"))

    now, finished = 0, 0
    while finished < n:
        if boost and now and now % boost == 0:
            rec.note(now, f"BOOST (every {boost})")
            for q in range(top):
                ready[top].extend(ready[q])
                ready[q].clear()
            for j in range(n):
                if left[j] > 0:
                    level[j] = top
                    if ostep:
                        ticks[j] = allots[top]
                    else:
                        ticks[j], allot[j] = quanta[top], allots[top]
        for j, what in events.pop(now, []):
            rec.note(now, f"J{j} {what}" + (f" (burst {burst[j]})" if what == "arrives" else ""))
            if iobump and what == "finishes I/O":
                ready[level[j]].appendleft(j)
            else:
                ready[level[j]].append(j)
        busy = [q for q in range(top, -1, -1) if ready[q]]
        if not busy:
            nxt = min(events)
            if boost:
                nxt = min(nxt, (now // boost + 1) * boost)
            rec.idle(now, nxt)
            now = nxt
            continue
        q = busy[0]
        j = ready[q][0]
        left[j] -= 1
        ticks[j] -= 1
        quantum_used = ticks[j] == 0
        rec.run(j, now, now + 1)
        rec.note(now, f"run J{j} at priority {q} [ticks {ticks[j]} allot {allot[j]} "
                      f"time {left[j]} (of {burst[j]})]")
        now += 1
        if left[j] == 0:
            ready[q].popleft()
            rec.complete(j, now)
            finished += 1
            continue
        doing_io = bool(io_every[j]) and (burst[j] - left[j]) % io_every[j] == 0
        if doing_io:
            ready[q].popleft()
            if stay:
                ticks[j], allot[j] = quanta[q], allots[q]
            events.setdefault(now + io_time, []).append((j, "finishes I/O"))
            rec.blocked[j] += io_time
            rec.note(now, f"J{j} starts I/O until {now + io_time}")
        if quantum_used:
            if not doing_io:
                ready[q].popleft()
            allot[j] -= 1
            if allot[j] == 0:
                level[j] = max(q - 1, 0)
                ticks[j], allot[j] = quanta[level[j]], allots[level[j]]
            else:
                ticks[j] = quanta[q]
            if not doing_io:
                ready[level[j]].append(j)
    return rec.schedule()
