"""The IPC latency ladder (chapter 4.6): every local IPC mechanism's round trip, on one CPU or across two.

:data:`MECHANISMS` lists the mechanisms in the order a reader meets them in Chapter 4, each with a
one-line description, its family (``"copy"``: the kernel copies bytes or messages; ``"notify"``: the
kernel only wakes a sleeper, no payload; ``"poll"``: shared memory, both sides busy-poll, no kernel
at all) and the ``hftos.native`` function that measures it. :func:`ladder` runs them for one
placement and returns the :class:`~hftos.measure.Result` of each (a round trip between two processes
in ns, 64-byte messages where there is a payload).

Placements:

- ``"same-cpu"``: both processes pinned to the first CPU of the affinity mask; every hand-off is a
  context switch. The shared-memory mechanisms behave very differently here: ``shm-spin`` calls
  ``sched_yield()`` in its spin loop (the round trip becomes two switches), while ``spsc-ring``
  busy-polls without yielding, so each hand-off waits until the scheduler preempts the spinner
  (milliseconds): its sample count is capped at :data:`PURE_SPIN_SAME_CPU_N` to stay bounded.
- ``"cross-cpu"``: the two processes pinned to the first two CPUs; every blocking hand-off is a
  cross-CPU wake-up, and the pollers never sleep. On a host (or affinity mask) with one CPU,
  :func:`ladder` raises :class:`~hftos.native.NotEnoughCPUs`; :func:`skip_reason` returns that
  sentence without raising.

Functions written by other sections are looked up on :mod:`hftos.native` at call time, so the ladder
works with whatever this version of the library has: a missing one is reported in
``result.skipped`` instead of failing. A mechanism that fails at run time (an error from the helper)
is reported there too, with the error's message, so one broken transport never hides the others.

Command line: ``python -m hftos.ipcladder [--placement same-cpu|cross-cpu|both] [-n N] [--only a,b] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from hftos import native
from hftos.measure import Result, scaled
from hftos.native.checks import NotEnoughCPUs, allowed_cpus

__all__ = ["PLACEMENTS", "MECHANISMS", "Mechanism", "LadderResult", "ladder", "skip_reason", "rank", "default_n",
           "PURE_SPIN_SAME_CPU_N", "main"]

#: The two placements :func:`ladder` accepts.
PLACEMENTS: tuple[str, ...] = ("same-cpu", "cross-cpu")

#: Samples of a non-yielding busy-poll on one CPU (each takes milliseconds).
PURE_SPIN_SAME_CPU_N = 20


@dataclass(frozen=True)
class Mechanism:
    """One rung of the ladder."""

    name: str                      #: key in :data:`MECHANISMS`
    family: str                    #: ``"copy"``, ``"notify"`` or ``"poll"``
    what: str                      #: one line for tables
    function: str                  #: the ``hftos.native`` function that measures it
    section: str                   #: where Chapter 4 explains it
    kwargs: tuple[tuple[str, Any], ...] = ()   #: extra arguments (e.g. the socket kind)
    positional: tuple[Any, ...] = ()           #: leading positional arguments (the socket kind)

    def available(self) -> bool:
        """Whether this version of :mod:`hftos.native` has the function."""
        return callable(getattr(native, self.function, None))


def _m(name: str, family: str, what: str, function: str, section: str, *positional: Any) -> Mechanism:
    return Mechanism(name, family, what, function, section, positional=positional)


#: Every mechanism, in Chapter 4's order.
MECHANISMS: dict[str, Mechanism] = {m.name: m for m in (
    _m("pipe", "copy", "two anonymous pipes, 1 byte", "pipe_pingpong", "4.2"),
    _m("fifo", "copy", "two named pipes (FIFOs), 1 byte", "fifo_pingpong", "4.2"),
    _m("unix-stream", "copy", "socketpair(AF_UNIX, SOCK_STREAM), 64 B", "socket_pingpong", "4.3", "unix-stream"),
    _m("unix-dgram", "copy", "socketpair(AF_UNIX, SOCK_DGRAM), 64 B", "socket_pingpong", "4.3", "unix-dgram"),
    _m("unix-seqpacket", "copy", "socketpair(AF_UNIX, SOCK_SEQPACKET), 64 B", "socket_pingpong", "4.3",
       "unix-seqpacket"),
    _m("tcp", "copy", "TCP over loopback, TCP_NODELAY, 64 B", "socket_pingpong", "4.3", "tcp"),
    _m("udp", "copy", "UDP over loopback, 64 B", "socket_pingpong", "4.3", "udp"),
    _m("posix-mq", "copy", "two POSIX message queues, 64 B", "mq_pingpong", "4.4"),
    _m("eventfd", "notify", "two eventfds (a counter each way)", "eventfd_pingpong", "4.4"),
    _m("futex", "notify", "two futex words in shared memory", "futex_pingpong", "4.4"),
    _m("posix-sem", "notify", "two process-shared POSIX semaphores", "sem_pingpong", "4.4"),
    _m("shm-spin", "poll", "two cache lines in shared memory, both sides spin", "shm_spin_pingpong", "4.5"),
    _m("spsc-ring", "poll", "two SPSC rings in shared memory, both sides spin", "spsc_pingpong", "4.5"),
)}


class LadderResult(dict):
    """``{mechanism name: Result}`` for one placement, plus ``placement``, ``cpus`` and ``skipped``
    (``{mechanism name: one-sentence reason}`` for those that did not run)."""

    def __init__(self, placement: str, cpus: tuple[int, int]) -> None:
        super().__init__()
        self.placement = placement
        self.cpus = cpus
        self.skipped: dict[str, str] = {}


def _cpus(placement: str) -> tuple[int, int]:
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    mask = allowed_cpus()
    if placement == "same-cpu":
        return mask[0], mask[0]
    if len(mask) < 2:
        raise NotEnoughCPUs(f"the cross-CPU ladder needs two CPUs, but this process may only run on CPU {mask[0]}: "
                            "give the VM or container a second CPU (or widen the taskset mask) to see it")
    return mask[0], mask[1]


def skip_reason(placement: str) -> str | None:
    """``None`` if :func:`ladder` can run this placement here, else the sentence explaining why not."""
    try:
        _cpus(placement)
    except NotEnoughCPUs as exc:
        return str(exc)
    return None


def default_n(mechanism: str) -> int:
    """Round trips per mechanism at the current budget (busy-polling ones are cheap: more samples)."""
    family = MECHANISMS[mechanism].family
    return scaled(20000, smoke=500) if family == "poll" else scaled(4000, smoke=100)


def _pure_spin_same_cpu(n: int, cpu: int, timeout: float) -> Result:
    """The SPSC ring's ping-pong with both ends on one CPU: no yielding, each hand-off waits for preemption."""
    from hftos.native import ipc, runner

    iters = min(n, scaled(PURE_SPIN_SAME_CPU_N, smoke=5))
    samples = runner.run(ipc._in_helper, timeout=timeout, experiment="pingpong", cpu_a=cpu, cpu_b=cpu,
                         warmup=2, iters=iters, timeout_ms=int(timeout * 1000 * 0.8))
    return Result.from_samples(f"SPSC ring round trip, both ends busy-polling on CPU {cpu}", samples, method={
        "clock": "CLOCK_MONOTONIC", "cpus": [cpu, cpu], "same_cpu": True, "iterations": iters, "warmup": 2,
        "transport": "spsc-ring",
        "sample": "one round trip over two SPSC rings; both ends spin on ONE CPU without yielding, so each "
                  "hand-off waits until the scheduler preempts the spinner",
        "capped_at": iters})


def _run_one(m: Mechanism, placement: str, cpus: tuple[int, int], n: int | None, timeout: float) -> Result:
    count = n if n is not None else default_n(m.name)
    if m.name == "spsc-ring" and placement == "same-cpu":
        return _pure_spin_same_cpu(count, cpus[0], timeout)
    fn: Callable[..., Result] = getattr(native, m.function)
    r = fn(*m.positional, count, cpus=cpus, timeout=timeout, **dict(m.kwargs))
    r.method.setdefault("transport", m.name)
    r.method["ladder"] = {"mechanism": m.name, "family": m.family, "placement": placement}
    return r


def ladder(placement: str, n: int | None = None, mechanisms: Sequence[str] | None = None, *,
           timeout: float = 60.0) -> LadderResult:
    """Measure each mechanism's round trip between two processes for ``placement``.

    ``n``: round trips per mechanism (default :func:`default_n`, scaled by ``HFTOS_BUDGET``; the
    non-yielding busy-poll on one CPU is capped at :data:`PURE_SPIN_SAME_CPU_N`). ``mechanisms``:
    names from :data:`MECHANISMS` (default all, in ladder order). Raises ``ValueError`` for an
    unknown placement or mechanism, :class:`~hftos.native.NotEnoughCPUs` for ``"cross-cpu"`` on one
    CPU. Mechanisms whose function is missing or fails end up in ``result.skipped`` with the reason.
    """
    cpus = _cpus(placement)
    names = list(MECHANISMS) if mechanisms is None else list(mechanisms)
    unknown = [x for x in names if x not in MECHANISMS]
    if unknown:
        raise ValueError(f"unknown mechanism(s) {', '.join(map(repr, unknown))}; known: {', '.join(MECHANISMS)}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int, got {n!r}")
    out = LadderResult(placement, cpus)
    for name in names:
        m = MECHANISMS[name]
        if not m.available():
            out.skipped[name] = f"hftos.native.{m.function} is not in this version of the library"
            continue
        try:
            out[name] = _run_one(m, placement, cpus, n, timeout)
        except (native.NativeError, ValueError) as exc:
            out.skipped[name] = f"{type(exc).__name__}: {exc}"
    return out


def rank(results: dict[str, Result]) -> list[tuple[str, dict[str, float]]]:
    """Mechanisms sorted by median round trip, with their ``p50``/``p99``/``p999`` (ns)."""
    rows = [(k, {"p50": r.stats.p50, "p99": r.stats.p99, "p999": r.stats.p999}) for k, r in results.items()]
    return sorted(rows, key=lambda kv: kv[1]["p50"])


def main(argv: list[str] | None = None) -> int:
    """Command line: print the ladder for one or both placements (or JSON)."""
    ap = argparse.ArgumentParser(prog="python -m hftos.ipcladder", description="The IPC latency ladder.")
    ap.add_argument("--placement", choices=[*PLACEMENTS, "both"], default="both")
    ap.add_argument("-n", type=int, default=None, help="round trips per mechanism (default: by budget)")
    ap.add_argument("--only", default=None, help="comma-separated mechanisms (default: all)")
    ap.add_argument("--json", action="store_true", help="print JSON (stats, method, skipped)")
    args = ap.parse_args(argv)
    mechs = args.only.split(",") if args.only else None
    if mechs and any(x not in MECHANISMS for x in mechs):
        print(f"error: unknown mechanism in --only; known: {', '.join(MECHANISMS)}", file=sys.stderr)
        return 2
    if args.n is not None and args.n < 1:
        print("error: -n must be >= 1", file=sys.stderr)
        return 2
    report: dict[str, Any] = {}
    for placement in (PLACEMENTS if args.placement == "both" else (args.placement,)):
        why = skip_reason(placement)
        if why:
            report[placement] = {"skipped": why}
            if not args.json:
                print(f"{placement}: skipped: {why}")
            continue
        res = ladder(placement, args.n, mechs)
        report[placement] = {"cpus": list(res.cpus), "results": {k: r.to_dict() for k, r in res.items()},
                             "skipped": res.skipped}
        if not args.json:
            print(f"{placement} (CPUs {res.cpus[0]},{res.cpus[1]}; n={args.n or 'default'}):")
            for name, q in rank(res):
                print(f"  {name:<15}{q['p50'] / 1e3:>10.2f} µs p50{q['p99'] / 1e3:>10.2f} µs p99"
                      f"{q['p999'] / 1e3:>10.2f} µs p99.9")
            for name, why in res.skipped.items():
                print(f"  {name:<15}skipped: {why}")
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
