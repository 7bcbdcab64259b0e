"""A seqlock, one step at a time: a writer and its readers interleaved on a schedule (chapter 4.5).

A seqlock protects a small record (a top-of-book snapshot) that one writer updates and many readers copy, without
readers ever blocking the writer. The writer bumps a sequence counter to odd, writes the record, bumps it to even.
A reader reads the counter, copies the record, reads the counter again, and keeps the copy only if both reads were
equal and even; otherwise it *retries*.

Model (sequentially consistent: every step is one load or store, and they happen in schedule order; real hardware
needs the barriers of section 4.5 to give the same order: on x86-64 (TSO) loads are not reordered with loads nor
stores with stores, so compiler barriers suffice; arm64 needs acquire/release or ``dmb`` fences):

- The record has ``words`` words; before any update it is version 0 (every word 0) and ``seq`` is 0. Update ``k``
  (``k`` = 1, 2, ...) writes the value ``k`` into every word, so a copy whose words are not all equal mixes two
  versions: it is **torn**.
- The writer ``w`` performs ``updates`` updates, each ``words + 2`` steps: ``seq += 1`` (now odd), write word 0,
  word 1, ..., word ``words-1``, ``seq += 1`` (even again).
- Reader ``rK`` makes read *attempts* of ``words + 2`` steps each: read ``seq`` (``seq1``), read word 0 ...
  ``words-1``, read ``seq`` (``seq2``). Then it decides:

  - ``mode="seqlock"``: accept iff ``seq1`` is even and ``seq1 == seq2``; else retry (a new attempt). (A real reader
    that sees an odd ``seq1`` retries at once instead of copying; the outcome is the same.)
  - ``mode="none"``: no seqlock check: every copy is accepted (the steps are identical, so the same schedule shows
    what the check prevents).

  A reader is done after ``reads`` accepted attempts.

Each attempt's outcome: ``ok`` (accepted, consistent), ``torn-retried`` (torn, rejected by the check: the seqlock
did its job), ``retried`` (consistent but rejected: the writer was active, a conservative retry), ``torn-unnoticed``
(torn and accepted: the bug a seqlock exists to prevent; impossible in ``seqlock`` mode).

Schedule: a list of actor names, one per step: ``"w"`` (the writer), ``"r0"``, ``"r1"``, ... (``"r"`` means
``"r0"``); as text ``"w,w,r0,r0"`` or compactly ``"wwrr"`` / ``"wr0r1w"``. A step for an actor that has finished
raises ``ValueError``. When an explicit schedule runs out, the remaining steps run to completion: the writer first,
then the readers in order. Without a schedule, each step picks uniformly (``random.Random(seed)``) among the actors
that have not finished.

Open-ended runs (explicit schedule only): ``updates=None`` and/or ``reads=None`` lift the limit, so the writer keeps
starting new updates and the readers keep starting new attempts for as long as the schedule says, and nothing runs
after the schedule ends (an attempt still in progress then is not reported). This is the contract of Lab 4's
seqlock task: the schedule alone decides everything.

Command line::

    python -m hftos.coherence.seqlock -n 3 -u 1 -S wrrwwrrrww -c
    python -m hftos.coherence.seqlock -n 4 -u 3 -R 2 --reads 3 -s 7 --mode none -c
    python -m hftos.coherence.seqlock -s 7 -c --json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, NoReturn, Sequence

__all__ = ["MODES", "OUTCOMES", "Event", "Attempt", "Run", "simulate", "parse_schedule", "accept", "classify",
           "main"]

MODES: tuple[str, ...] = ("seqlock", "none")
OUTCOMES: tuple[str, ...] = ("ok", "torn-retried", "retried", "torn-unnoticed")


@dataclass(frozen=True)
class Event:
    """One step: which actor did what."""

    t: int                 #: position in the interleaving, from 0
    actor: str             #: "w" or "rK"
    action: str            #: writer: "seq_begin", "write", "seq_end"; reader: "read_seq1", "read", "read_seq2"
    index: int | None      #: the word index for "write"/"read", else None
    value: int             #: the value stored (writer) or loaded (reader)


@dataclass(frozen=True)
class Attempt:
    """One read attempt of one reader."""

    reader: int            #: K of "rK"
    n: int                 #: this reader's attempt number, from 0
    start: int             #: t of its first step (read_seq1)
    end: int               #: t of its last step (read_seq2)
    seq1: int
    seq2: int
    words: tuple[int, ...] #: the versions the reader copied, word by word
    torn: bool             #: the words mix versions
    accepted: bool         #: the reader kept the copy
    outcome: str           #: one of OUTCOMES

    @property
    def retried(self) -> bool:
        return not self.accepted


@dataclass
class Run:
    """One interleaving."""

    mode: str
    words: int
    updates: int | None          #: None: open-ended (as many as the schedule makes)
    readers: int
    reads: int | None            #: None: open-ended
    seed: int | None
    schedule: list[str] = field(default_factory=list)     #: the actor of every step actually run
    events: list[Event] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)  #: in the order they complete

    def count(self, outcome: str) -> int:
        return sum(a.outcome == outcome for a in self.attempts)

    @property
    def torn_unnoticed(self) -> int:
        return self.count("torn-unnoticed")

    @property
    def torn_retried(self) -> int:
        return self.count("torn-retried")

    @property
    def torn(self) -> int:
        return sum(a.torn for a in self.attempts)

    @property
    def retries(self) -> int:
        return sum(not a.accepted for a in self.attempts)

    def counters(self) -> dict[str, int]:
        return {"attempts": len(self.attempts), **{o: self.count(o) for o in OUTCOMES}, "torn": self.torn,
                "retries": self.retries}

    def table(self) -> str:
        """One row per read attempt."""
        rows = [f"{'reader':<7}{'try':>4}{'steps':>10}  {'seq1':>4} {'seq2':>4}  {'words':<{2 * self.words + 8}}"
                "outcome"]
        for a in self.attempts:
            w = "[" + " ".join(map(str, a.words)) + "]"
            rows.append(f"{'r' + str(a.reader):<7}{a.n:>4}{f'{a.start}-{a.end}':>10}  {a.seq1:>4} {a.seq2:>4}  "
                        f"{w:<{2 * self.words + 8}}{a.outcome}")
        c = self.counters()
        rows.append(f"{self.mode}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
        return "\n".join(rows)

    def timeline(self) -> str:
        """One row per step: the interleaving a student can replay by hand."""
        out = []
        for e in self.events:
            what = {"seq_begin": f"seq = {e.value} (odd: update begins)", "seq_end": f"seq = {e.value} (even: done)",
                    "write": f"word[{e.index}] = {e.value}", "read_seq1": f"seq1 <- {e.value}",
                    "read": f"word[{e.index}] -> {e.value}", "read_seq2": f"seq2 <- {e.value}"}[e.action]
            out.append(f"{e.t:>4}  {e.actor:<3} {what}")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "words": self.words, "updates": self.updates, "readers": self.readers,
                "reads": self.reads, "seed": self.seed, "counters": self.counters(), "schedule": self.schedule,
                "attempts": [asdict(a) for a in self.attempts], "events": [asdict(e) for e in self.events]}


def accept(seq1: int, seq2: int) -> bool:
    """The seqlock reader's check: keep the copy iff ``seq1`` is even and unchanged at ``seq2``."""
    return seq1 % 2 == 0 and seq1 == seq2


def classify(words: Sequence[int], accepted: bool) -> str:
    """The outcome of an attempt from the copied words and the reader's decision."""
    torn = len(set(words)) > 1
    if accepted:
        return "torn-unnoticed" if torn else "ok"
    return "torn-retried" if torn else "retried"


_TOKEN = re.compile(r"[wW]|[rR]\d*")
_FULL = re.compile(r"^(?:\s*(?:[wW]|[rR]\d*)\s*,?)*$")


def parse_schedule(schedule: Iterable[str] | str, readers: int = 1) -> list[str]:
    """Actor names ``["w", "r0", ...]`` from a list or from text (``"w,r0,r0"`` or ``"wrrw"``)."""
    if isinstance(schedule, str):
        if not _FULL.match(schedule):
            raise ValueError(f"bad schedule {schedule!r}: expected actors w, r, r0, r1, ... (e.g. 'wwrr' or 'w,r0,r1')")
        items: list[str] = _TOKEN.findall(schedule)
    else:
        items = list(schedule)
    out = []
    for i, x in enumerate(items):
        if not isinstance(x, str) or not re.fullmatch(r"[wW]|[rR]\d*", x.strip()):
            raise ValueError(f"bad schedule item {x!r} at position {i}: expected 'w', 'r' or 'rK'")
        name = x.strip().lower()
        if name == "r":
            name = "r0"
        if name != "w" and int(name[1:]) >= readers:
            raise ValueError(f"schedule item {x!r} at position {i}: there are only {readers} reader(s) r0..r{readers - 1}")
        out.append(name)
    return out


def _count(v: object, what: str, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"bad {what} {v!r}: expected an int >= {lo}")
    return v


def simulate(schedule: Iterable[str] | str | None = None, *, words: int = 4, updates: int | None = 2,
             readers: int = 1, reads: int | None = 2, seed: int | None = 0, mode: str = "seqlock") -> Run:
    """Run one interleaving (explicit ``schedule``, or random with ``seed`` when ``schedule`` is None).

    ``updates``/``reads`` None: open-ended, explicit schedules only (see the module docstring).
    """
    _count(words, "words", 1)
    if updates is not None:
        _count(updates, "updates", 0)
    _count(readers, "readers", 1)
    if reads is not None:
        _count(reads, "reads", 1)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
    plan = None if schedule is None else parse_schedule(schedule, readers)
    if plan is None and (updates is None or reads is None):
        raise ValueError("updates=None / reads=None (open-ended) need an explicit schedule")
    if plan is None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"bad seed {seed!r}: expected an int")
    run = Run(mode, words, updates, readers, reads, seed if plan is None else None)

    seq = 0
    record = [0] * words
    wsteps = -1 if updates is None else updates * (words + 2)
    wdone = 0                                   # writer steps done
    rpos = [0] * readers                        # step within the current attempt, 0 .. words+1
    rseq1 = [0] * readers
    rwords: list[list[int]] = [[] for _ in range(readers)]
    rstart = [0] * readers
    raccepted = [0] * readers
    rtries = [0] * readers

    def finished(actor: str) -> bool:
        if actor == "w":
            return updates is not None and wdone >= wsteps
        return reads is not None and raccepted[int(actor[1:])] >= reads

    def do(actor: str) -> None:
        nonlocal seq, wdone
        t = len(run.events)
        if actor == "w":
            k, j = divmod(wdone, words + 2)
            if j == 0:
                seq += 1
                run.events.append(Event(t, "w", "seq_begin", None, seq))
            elif j == words + 1:
                seq += 1
                run.events.append(Event(t, "w", "seq_end", None, seq))
            else:
                record[j - 1] = k + 1
                run.events.append(Event(t, "w", "write", j - 1, k + 1))
            wdone += 1
        else:
            r = int(actor[1:])
            j = rpos[r]
            if j == 0:
                rseq1[r], rwords[r], rstart[r] = seq, [], t
                run.events.append(Event(t, actor, "read_seq1", None, seq))
                rpos[r] = 1
            elif j <= words:
                rwords[r].append(record[j - 1])
                run.events.append(Event(t, actor, "read", j - 1, record[j - 1]))
                rpos[r] = j + 1
            else:
                run.events.append(Event(t, actor, "read_seq2", None, seq))
                ok = True if mode == "none" else accept(rseq1[r], seq)
                got = tuple(rwords[r])
                run.attempts.append(Attempt(r, rtries[r], rstart[r], t, rseq1[r], seq, got, len(set(got)) > 1, ok,
                                            classify(got, ok)))
                rtries[r] += 1
                raccepted[r] += ok
                rpos[r] = 0
        run.schedule.append(actor)

    actors = ["w"] + [f"r{i}" for i in range(readers)]
    if plan is not None:
        for i, actor in enumerate(plan):
            if finished(actor):
                raise ValueError(f"schedule position {i}: {actor} has already finished "
                                 f"({'all updates written' if actor == 'w' else f'{reads} reads accepted'})")
            do(actor)
        if updates is not None and reads is not None:
            for actor in actors:
                while not finished(actor):
                    do(actor)
    else:
        rng = random.Random(seed)
        while True:
            live = [a for a in actors if not finished(a)]
            if not live:
                break
            do(live[rng.randrange(len(live))])
    return run


# ----------------------------------------------------------------------------------- command line

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = _Parser(prog="python -m hftos.coherence.seqlock",
                 description="Seqlock interleaving simulator: which reads are torn, which the check catches.")
    ap.add_argument("-n", "--words", type=int, default=4, help="words in the record")
    ap.add_argument("-u", "--updates", type=int, default=2, help="updates the writer makes")
    ap.add_argument("-R", "--readers", type=int, default=1, help="number of readers")
    ap.add_argument("--reads", type=int, default=2, help="accepted reads each reader needs")
    ap.add_argument("-S", "--schedule", default="", help="actors per step: 'wwrr', 'w,r0,r1'; empty: random")
    ap.add_argument("-s", "--seed", type=int, default=0, help="random seed (random schedule)")
    ap.add_argument("--mode", default="seqlock", help="seqlock (check and retry) or none (no check)")
    ap.add_argument("-N", "--notrace", action="store_true", help="no step-by-step timeline")
    ap.add_argument("-c", "--solve", "--compute", action="store_true", help="compute the answers")
    ap.add_argument("--json", action="store_true", help="print the run as JSON")
    a = ap.parse_args(argv)
    try:
        run = simulate(a.schedule or None, words=a.words, updates=a.updates, readers=a.readers, reads=a.reads,
                       seed=a.seed, mode=a.mode)
    except ValueError as e:
        ap.exit(2, f"{ap.prog}: error: {e}\n")
    if a.json:
        print(json.dumps({"args": {"words": a.words, "updates": a.updates, "readers": a.readers, "reads": a.reads,
                                   "schedule": a.schedule, "seed": a.seed, "mode": a.mode}, "run": run.to_dict()}))
        return 0
    print(f"ARG words {a.words}  updates {a.updates}  readers {a.readers}  reads {a.reads}  mode {a.mode}")
    print(f"ARG schedule {a.schedule or 'random'}  seed {a.seed}")
    steps = ",".join(run.schedule) if a.readers > 1 else "".join(x[0] for x in run.schedule)
    print(f"ARG steps {steps}")
    print()
    if not a.notrace or not a.solve:
        if a.solve:
            print(run.timeline())
        else:
            for ev in run.events:
                if ev.actor == "w":
                    print(f"{ev.t:>4}  w   " + {"seq_begin": "seq++", "seq_end": "seq++",
                                                 "write": f"word[{ev.index}] = {ev.value}"}[ev.action])
                else:
                    print(f"{ev.t:>4}  {ev.actor:<3} " + {"read_seq1": "read seq1", "read_seq2": "read seq2",
                                                          "read": f"read word[{ev.index}]"}[ev.action])
        print()
    if not a.solve:
        print("For each read attempt: what seq1, words and seq2 did the reader see? Was the copy torn? "
              + ("Did the seqlock check reject (retry) it?" if a.mode == "seqlock" else "Would a seqlock have caught it?"))
        print()
        print("Use -c to see the answers.")
        return 0
    print(run.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
