"""The command line, speaking the flags of the OSTEP homework simulators.

``python -m hftos.sched [-p|--policy NAME] [flags] [-c] [--json]``; the policy picks the flag set:

- ``FIFO``/``SJF``/``RR`` (default ``FIFO``) and every other job-list policy (``srtf``, ``priority``,
  ``cfs``, ``eevdf``, ``stride``, ``sched_fifo``, ...): the flags of ``cpu-sched/scheduler.py``
  (``-s -j -l -m -q -c``). Without ``-l`` jobs are generated from the seed exactly as scheduler.py
  does (``int(maxlen * random()) + 1``, all arriving at 0); ``-l`` also accepts ``arrival:burst``
  items. Extra flags: ``--switch-cost``, ``--nice``, ``--prio``, ``--tickets`` (per-job lists) and
  ``--set KEY=VALUE`` for any other policy parameter (e.g. ``--set latency=12``).
- ``mlfq``: the flags of ``cpu-sched-mlfq/mlfq.py`` (``-s -n -q -a -Q -A -j -m -M -B -i -S -I -l
  -c``), with its job generation and its boost bookkeeping (``ostep=True``).
- ``lottery``: the flags of ``cpu-sched-lottery/lottery.py`` (``-s -j -l -m -T -q -c``): same job
  generation, same draws and winners, same clock (``ostep=True``).

``-c`` prints the solution (trace, per-job response/turnaround/wait, averages) in the reference
simulator's layout; ``--json`` prints :meth:`Schedule.to_dict` instead. Bad input prints one line
``... error: ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from typing import Any, Callable, NoReturn, Optional, Sequence

from . import resolve, simulate
from .engine import parameters
from .model import Job, Schedule, SchedError

PROG = "python -m hftos.sched"


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _items(text: str, sep: str, convert: Callable[[str], Any], what: str) -> list[Any]:
    try:
        return [convert(item) for item in text.split(sep)]
    except ValueError:
        raise SchedError(f"malformed {what} {text!r}") from None


def _t(x: float) -> str:
    """A time the way the OSTEP tools print it: ``%3d`` when whole."""
    return f"{int(x):3d}" if x == int(x) else f"{x:g}"


def _base_parser(description: str) -> _Parser:
    parser = _Parser(prog=PROG, description=description)
    parser.add_argument("-p", "--policy", default="FIFO", help="policy (FIFO, SJF, RR, mlfq, lottery, ...)")
    parser.add_argument("-s", "--seed", type=int, default=0, help="the random seed")
    parser.add_argument("-c", dest="solve", action="store_true", help="compute answers for me")
    parser.add_argument("--json", action="store_true", help="print the solution as JSON")
    return parser


def _print_stats(schedule: Schedule, order: Sequence[int] | None = None) -> None:
    print("Final statistics:")
    for i in order if order is not None else range(len(schedule.jobs)):
        s = schedule.jobs[i]
        print(f"  Job {s.id:3d} -- Response: {s.response:3.2f}  Turnaround {s.turnaround:3.2f}  Wait {s.wait:3.2f}")
    a = schedule.averages
    print(f"\n  Average -- Response: {a['response']:3.2f}  Turnaround {a['turnaround']:3.2f}  Wait {a['wait']:3.2f}\n")


# --- scheduler.py and the other job-list policies ---------------------------------------------

Mode = tuple[list[Job], dict[str, Any], argparse.Namespace, Callable[[Optional[Schedule]], None]]
"""What a flag set yields: jobs, policy parameters, the parsed flags, and ``report(schedule)``
which prints the text output (the problem when ``schedule`` is None, else the solution)."""


def _problem() -> None:
    print("Compute the response, turnaround and wait time of each job; run again with -c")
    print("for the answers, with -s <seed> or -l for other problems.\n")


def _jobs_mode(argv: Sequence[str], name: str) -> Mode:
    parser = _base_parser("Job-list schedulers with the flags of OSTEP's cpu-sched/scheduler.py.")
    parser.add_argument("-j", "--jobs", type=int, default=3, help="number of random jobs")
    parser.add_argument("-l", "--jlist", default="", help="comma-separated bursts or arrival:burst items")
    parser.add_argument("-m", "--maxlen", type=int, default=10, help="max length of a random job")
    parser.add_argument("-q", "--quantum", type=_number, help="time slice (rr, sched_rr, stride, ...)")
    parser.add_argument("--switch-cost", type=_number, default=0, help="context-switch cost")
    parser.add_argument("--nice", default="", help="comma-separated nice values (cfs, eevdf)")
    parser.add_argument("--prio", default="", help="comma-separated priorities (priority*, sched_*)")
    parser.add_argument("--tickets", default="", help="comma-separated tickets (lottery, stride)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other policy parameter, e.g. --set latency=12")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    if args.jlist:
        pairs = [_items(item, ":", _number, f"-l item in {args.jlist!r}:") for item in args.jlist.split(",")]
        if any(len(p) not in (1, 2) for p in pairs):
            raise SchedError(f"malformed job list {args.jlist!r}: use bursts or arrival:burst items")
        fields = [{"burst": p[-1], "arrival": p[0] if len(p) == 2 else 0} for p in pairs]
    else:
        if args.jobs < 1 or args.maxlen < 1:
            raise SchedError("-j and -m must be >= 1")
        fields = [{"burst": int(args.maxlen * rng.random()) + 1} for _ in range(args.jobs)]
    for flag, key in (("nice", "nice"), ("prio", "priority"), ("tickets", "tickets")):
        text = getattr(args, flag)
        if text:
            values = _items(text, ",", int, f"--{flag} list")
            if len(values) != len(fields):
                raise SchedError(f"--{flag} has {len(values)} values for {len(fields)} jobs")
            for f, v in zip(fields, values):
                f[key] = v
    jobs = [Job(**f) for f in fields]
    params: dict[str, Any] = {}
    if args.quantum is not None and "quantum" in parameters(name):
        params["quantum"] = args.quantum  # like scheduler.py, -q is ignored by FIFO and SJF
    if args.switch_cost:
        params["switch_cost"] = args.switch_cost
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SchedError(f"--set expects KEY=VALUE, got {item!r}")
        params[key.replace("-", "_")] = _parse_value(value)

    def report(schedule: Schedule | None) -> None:
        print("ARG policy", args.policy)
        if args.jlist:
            print("ARG jlist", args.jlist)
        else:
            print("ARG jobs", args.jobs)
            print("ARG maxlen", args.maxlen)
            print("ARG seed", args.seed)
        print("\nHere is the job list, with the run time of each job: ")
        for i, job in enumerate(jobs):
            extra = f", arrival = {job.arrival}" if job.arrival else ""
            print(f"  Job {i} ( length = {job.burst}{extra} )")
        print("\n")
        if schedule is None:
            _problem()
            return
        print("** Solutions **\n")
        print("Execution trace:")
        done = {s.completion: s.id for s in schedule.jobs}
        for sl in schedule.timeline:
            if sl.job is None:
                what = "Context switch" if sl.kind == "switch" else "Idle"
                print(f"  [ time {_t(sl.start)} ] {what} for {sl.end - sl.start:.2f} secs")
                continue
            finish = f" ( DONE at {sl.end:.2f} )" if done.get(sl.end) == sl.job else ""
            print(f"  [ time {_t(sl.start)} ] Run job {sl.job:3d} for {sl.end - sl.start:.2f} secs{finish}")
        print()
        _print_stats(schedule)

    return jobs, params, args, report


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return _number(text)
    except ValueError:
        return text


# --- mlfq.py ----------------------------------------------------------------------------------

def _mlfq_mode(argv: Sequence[str]) -> Mode:
    parser = _base_parser("MLFQ with the flags of OSTEP's cpu-sched-mlfq/mlfq.py.")
    parser.add_argument("-n", "--numQueues", type=int, default=3, help="number of queues (if not using -Q)")
    parser.add_argument("-q", "--quantum", type=int, default=10, help="time slice (if not using -Q)")
    parser.add_argument("-a", "--allotment", type=int, default=1, help="allotment in quanta (if not using -A)")
    parser.add_argument("-Q", "--quantumList", default="", help="per-level quanta x,y,z (highest first)")
    parser.add_argument("-A", "--allotmentList", default="", help="per-level allotments x,y,z (highest first)")
    parser.add_argument("-j", "--numJobs", type=int, default=3, help="number of random jobs")
    parser.add_argument("-m", "--maxlen", type=int, default=100, help="max run time of a random job")
    parser.add_argument("-M", "--maxio", type=int, default=10, help="max I/O frequency of a random job")
    parser.add_argument("-B", "--boost", type=int, default=0, help="boost period (0: never)")
    parser.add_argument("-i", "--iotime", type=int, default=5, help="length of an I/O")
    parser.add_argument("-S", "--stay", action="store_true", help="reset quantum/allotment on I/O")
    parser.add_argument("-I", "--iobump", action="store_true", help="I/O completion goes to the queue front")
    parser.add_argument("-l", "--jlist", default="", help="start,run,ioFreq:start,run,ioFreq:...")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    specs: list[list[int]] = []
    if args.jlist:
        for item in args.jlist.split(":"):
            spec = _items(item, ",", int, "job")
            if len(spec) != 3:
                raise SchedError(f"malformed job {item!r}: use startTime,runTime,ioFreq")
            specs.append(spec)
    else:
        for _ in range(args.numJobs):
            run = int(rng.random() * (args.maxlen - 1) + 1)
            specs.append([0, run, int(rng.random() * (args.maxio - 1) + 1)])
    jobs = [Job(burst=run, arrival=start, io=io or None) for start, run, io in specs]
    quantum: Any = _items(args.quantumList, ",", int, "-Q list") if args.quantumList else args.quantum
    count = len(quantum) if isinstance(quantum, list) else args.numQueues
    allotment: Any = _items(args.allotmentList, ",", int, "-A list") if args.allotmentList else args.allotment
    params = {"queues": count, "quantum": quantum, "allotment": allotment, "boost": args.boost,
              "io_time": args.iotime, "stay": args.stay, "iobump": args.iobump, "ostep": True}

    quanta = quantum if isinstance(quantum, list) else [quantum] * count
    allots = allotment if isinstance(allotment, list) else [allotment] * count

    def report(schedule: Schedule | None) -> None:
        print("Here is the list of inputs:")
        print("OPTIONS jobs", len(jobs))
        print("OPTIONS queues", count)
        for level, (q, a) in enumerate(zip(quanta, allots)):
            print(f"OPTIONS allotments for queue {count - 1 - level:2d} is {a:3d}")
            print(f"OPTIONS quantum length for queue {count - 1 - level:2d} is {q:3d}")
        print("OPTIONS boost", args.boost)
        print("OPTIONS ioTime", args.iotime)
        print("OPTIONS stayAfterIO", args.stay)
        print("OPTIONS iobump", args.iobump)
        print("\n\nJob List:")
        for i, (start, run, io) in enumerate(specs):
            print(f"  Job {i:2d}: startTime {start:3d} - runTime {run:3d} - ioFreq {io:3d}")
        print()
        if schedule is None:
            _problem()
            return
        print("\nExecution Trace:\n")
        for line in schedule.trace:
            when, text = line.split(": ", 1)
            print(f"[ time {when[2:]} ] {text}")
        print("\nFinal statistics:")
        for s in schedule.jobs:
            print(f"  Job {s.id:2d}: startTime {s.arrival:3d} - response {s.response:3d} - turnaround {s.turnaround:3d}")
        a = schedule.averages
        print(f"\n  Avg   : startTime n/a - response {a['response']:.2f} - turnaround {a['turnaround']:.2f}\n")

    return jobs, params, args, report


# --- lottery.py -------------------------------------------------------------------------------

def _lottery_mode(argv: Sequence[str]) -> Mode:
    parser = _base_parser("Lottery scheduling with the flags of OSTEP's cpu-sched-lottery/lottery.py.")
    parser.add_argument("-j", "--jobs", type=int, default=3, help="number of random jobs")
    parser.add_argument("-l", "--jlist", default="", help="run:tickets,run:tickets,...")
    parser.add_argument("-m", "--maxlen", type=int, default=10, help="max length of a random job")
    parser.add_argument("-T", "--maxticket", type=int, default=100, help="max tickets of a random job")
    parser.add_argument("-q", "--quantum", type=int, default=1, help="length of time slice")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    specs: list[list[int]] = []
    if args.jlist:
        for item in args.jlist.split(","):
            spec = _items(item, ":", int, "job")
            if len(spec) != 2:
                raise SchedError(f"malformed job {item!r}: use runTime:tickets")
            specs.append(spec)
    else:
        if args.maxlen < 2 or args.maxticket < 2:
            raise SchedError("-m and -T must be >= 2 to generate random jobs")
        for _ in range(args.jobs):
            run = tickets = 0
            while run == 0:
                run = int(args.maxlen * rng.random())
            while tickets == 0:
                tickets = int(args.maxticket * rng.random())
            specs.append([run, tickets])
    jobs = [Job(burst=run, tickets=tickets) for run, tickets in specs]
    params = {"quantum": args.quantum, "seed": rng, "ostep": True}

    def report(schedule: Schedule | None) -> None:
        for key in ("jlist", "jobs", "maxlen", "maxticket", "quantum", "seed"):
            print("ARG", key, getattr(args, key))
        print("\nHere is the job list, with the run time of each job: ")
        for i, (run, tickets) in enumerate(specs):
            print(f"  Job {i} ( length = {run}, tickets = {tickets} )")
        print("\n")
        if schedule is None:
            print("Here is the set of random numbers you will need (at most):")
            for _ in range(sum(run for run, _ in specs)):
                print("Random", int(rng.random() * 1000001))
            return
        print("** Solutions **\n")
        for line in schedule.trace:
            when, text = line.split(": ", 1)
            if text.startswith("Random"):
                print(text)
            elif text.endswith(" done"):
                print(f"--> JOB {text[1:-5]} DONE at time {when[2:]}")
        print()
        _print_stats(schedule)

    return jobs, params, args, report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hftos.sched``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = _Parser(prog=PROG, add_help=False)
    pre.add_argument("-p", "--policy", default="FIFO")
    known, _ = pre.parse_known_args(argv)
    try:
        name = resolve(known.policy)
        if name == "mlfq":
            jobs, params, args, report = _mlfq_mode(argv)
        elif name == "lottery":
            jobs, params, args, report = _lottery_mode(argv)
        else:
            jobs, params, args, report = _jobs_mode(argv, name)
        schedule = simulate(name, jobs, **params) if args.solve or args.json else None
    except SchedError as exc:
        pre.error(str(exc))
    if args.json:
        print(json.dumps(schedule.to_dict()))
    else:
        report(schedule)
    return 0
