"""MESI (and MOESI) cache coherence on a snooping bus, step by step (chapter 4.5).

Every core has a private cache; all caches snoop one shared bus. A *trace* is a list of operations
``(core, op, line)``: core ``core`` reads (``"R"``) or writes (``"W"``) cache line ``line`` (a line is the unit of
coherence: two different words of one 64-byte line are the same ``line`` here, which is exactly what false sharing
is). ``"X"`` evicts the line from that core's cache (optional; caches are otherwise infinite, so lines leave a cache
only by invalidation or by ``"X"``).

``simulate(trace)`` returns a :class:`Run`: per step the line's state in every core after the step, the bus
transaction, where the data came from, which cores were invalidated, whether memory was written; plus the final
state of every line and the counters. ``step(states, core, op)`` is the transition function alone: the states of one
line in all cores in, the new states and the bus action out.

Protocol (the Illinois MESI of Culler, Singh & Gupta, *Parallel Computer Architecture*, 5.3.2, and Hennessy &
Patterson, *Computer Architecture*, 5.2; the choices where textbooks differ are stated):

States: ``M`` modified (only valid copy, dirty), ``E`` exclusive (only copy, clean), ``S`` shared (clean, maybe
others), ``I`` invalid; MOESI adds ``O`` owned (dirty, other S copies may exist, this cache answers for the line).

Processor side, core ``c`` with state ``s``:

- ``R`` and ``s`` valid (M, O, E, S): read hit, no bus transaction, no change.
- ``R`` and ``s`` is I: ``BusRd``. If another cache holds the line valid (the "shared" wire is asserted), the line
  loads ``S``; otherwise it loads ``E`` (nobody else has it).
- ``W`` and ``s`` is M: write hit, nothing. ``W`` and ``s`` is E: silent upgrade E -> M, no bus transaction (the
  point of E).
- ``W`` and ``s`` is S (or O in MOESI): ``BusUpgr`` (an invalidation without data): every other valid copy becomes
  I, ``c`` becomes M.
- ``W`` and ``s`` is I: ``BusRdX`` (read for ownership): every other valid copy becomes I, ``c`` becomes M.
- ``X`` (evict): M (or O) -> I with a write-back of the dirty line (bus transaction ``Flush``); E or S -> I silently
  (no bus transaction); I: nothing.

Snoop side (the other caches) and who supplies the data:

- ``BusRd`` seen in M: the owner *flushes*: it supplies the line cache-to-cache and memory is updated (a
  write-back); M -> S. In MOESI instead M -> O and memory is **not** updated (the owner keeps answering).
- ``BusRd`` seen in O (MOESI): O supplies the line cache-to-cache and stays O.
- ``BusRd`` seen in E: E -> S. Memory supplies the data (it is clean; the basic textbook protocol, no clean
  cache-to-cache sharing). S stays S.
- ``BusRdX`` seen in M: the owner flushes (cache-to-cache, and in MESI memory is updated: a write-back), M -> I. In
  MOESI ``BusRdX`` seen in M or O: the owner supplies the line cache-to-cache, -> I, no write-back (the dirty line
  passes on to the new M owner).
- ``BusRdX`` or ``BusUpgr`` seen in E, S (or O after a ``BusUpgr``): -> I. Each valid copy made I by a
  ``BusRdX``/``BusUpgr`` counts as one *invalidation*.
- A ``BusRd``/``BusRdX`` that no cache answers is supplied by memory.

Counters: ``invalidations`` (valid copies invalidated), ``bus_transactions`` (BusRd + BusRdX + BusUpgr + Flush on
eviction; the snooping flush that answers a BusRd/BusRdX is part of that transaction, not a new one),
``writebacks`` (times memory was updated with a dirty line: MESI snoop flushes of M and evictions of M/O),
``c2c`` (cache-to-cache transfers: data supplied by a cache instead of memory), ``hits`` and ``misses`` (a read or
write that found the line valid in its own cache is a hit, even a write to S that still needs ``BusUpgr``).

Invariants the tests check after every step: at most one core holds a line in M or E, and then every other copy is
I; at most one core holds it in O; a line in S has no M or E copy elsewhere.

Trace builders: ``false_sharing`` (cores write different words of one line), ``padded`` (the same, each core's word
on its own line), ``ping_pong``, ``producer_consumer``, ``random_trace``. Command line::

    python -m hftos.coherence.mesi -t 0R0,1R0,0W0,1R0,1W0 -c
    python -m hftos.coherence.mesi --pattern false_sharing -n 4 -c
    python -m hftos.coherence.mesi -s 3 -p 3 -l 2 -n 10 --protocol moesi -c --json

Trace text: comma-separated ``<core><op><line>`` items, e.g. ``0R0`` (core 0 reads line 0), ``1W2``, ``0X0``;
``0:R:0`` is accepted too.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, NoReturn, Sequence

__all__ = [
    "PROTOCOLS", "STATES", "Op", "Transition", "Step", "Run", "step", "simulate", "parse_trace", "format_trace",
    "check_invariants", "false_sharing", "padded", "ping_pong", "producer_consumer", "random_trace", "main",
]

PROTOCOLS: tuple[str, ...] = ("mesi", "moesi")
STATES: dict[str, frozenset[str]] = {"mesi": frozenset("MESI"), "moesi": frozenset("MOESI")}
OPS: frozenset[str] = frozenset("RWX")
BUS: tuple[str, ...] = ("BusRd", "BusRdX", "BusUpgr", "Flush")

Op = tuple[int, str, int]   #: ``(core, "R" | "W" | "X", line)``


@dataclass(frozen=True)
class Transition:
    """What one operation does to one line (the result of :func:`step`)."""

    states: tuple[str, ...]          #: the line's state in every core after the operation
    bus: str | None                  #: "BusRd", "BusRdX", "BusUpgr", "Flush" (eviction write-back) or None
    source: str | None               #: where the data came from: "memory", "cache", or None (no data moved)
    supplier: int | None             #: the core whose cache supplied the data (source "cache"), else None
    invalidated: tuple[int, ...]     #: cores whose valid copy this operation invalidated
    writeback: bool                  #: memory was updated with the dirty line
    hit: bool                        #: the line was valid in the requesting core's cache beforehand


@dataclass(frozen=True)
class Step:
    """One step of the trace."""

    t: int                           #: position in the trace, from 0
    core: int
    op: str
    line: int
    before: tuple[str, ...]          #: the line's state in every core before the step
    states: tuple[str, ...]          #: ... and after
    bus: str | None
    source: str | None
    supplier: int | None
    invalidated: tuple[int, ...]
    writeback: bool
    hit: bool


@dataclass
class Run:
    """A protocol's run over a trace."""

    protocol: str
    cores: int
    trace: list[Step] = field(default_factory=list)
    final: dict[int, tuple[str, ...]] = field(default_factory=dict)   #: line -> state in every core at the end

    @property
    def invalidations(self) -> int:
        return sum(len(s.invalidated) for s in self.trace)

    @property
    def bus_transactions(self) -> int:
        return sum(s.bus is not None for s in self.trace)

    @property
    def writebacks(self) -> int:
        return sum(s.writeback for s in self.trace)

    @property
    def c2c(self) -> int:
        return sum(s.source == "cache" for s in self.trace)

    @property
    def hits(self) -> int:
        return sum(s.hit for s in self.trace if s.op != "X")

    @property
    def misses(self) -> int:
        return sum(not s.hit for s in self.trace if s.op != "X")

    def bus_counts(self) -> dict[str, int]:
        """How many of each bus transaction."""
        return {b: sum(s.bus == b for s in self.trace) for b in BUS}

    def counters(self) -> dict[str, int]:
        return {"invalidations": self.invalidations, "bus_transactions": self.bus_transactions,
                "writebacks": self.writebacks, "c2c": self.c2c, "hits": self.hits, "misses": self.misses}

    def table(self) -> str:
        """The hand-worked table: one row per step with the line's state in every core after it."""
        head = f"{'t':>3}  {'op':<8}" + "".join(f"  P{c}" for c in range(self.cores)) + "  bus      data       inval"
        rows = [head]
        for s in self.trace:
            data = "-" if s.source is None else ("mem" if s.source == "memory" else f"P{s.supplier}")
            if s.writeback:
                data = "wb" if s.source is None else data + "+wb"
            inv = ",".join(f"P{c}" for c in s.invalidated) or "-"
            rows.append(f"{s.t:>3}  {f'P{s.core} {s.op} L{s.line}':<8}" + "".join(f"  {x:>2}" for x in s.states)
                        + f"  {s.bus or '-':<8} {data:<10} {inv}")
        c = self.counters()
        rows.append(f"{self.protocol.upper()}, {self.cores} cores, {len(self.trace)} ops: "
                    + ", ".join(f"{k} {v}" for k, v in c.items()))
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "cores": self.cores, **self.counters(), "bus_counts": self.bus_counts(),
                "final": {str(k): list(v) for k, v in self.final.items()},
                "trace": [asdict(s) for s in self.trace]}


def _protocol(name: str) -> str:
    p = str(name).lower()
    if p not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}: expected one of {', '.join(PROTOCOLS)}")
    return p


def step(states: Sequence[str], core: int, op: str, *, protocol: str = "mesi") -> Transition:
    """Apply one operation of ``core`` to one line whose state in every core is ``states`` (e.g. ``("S", "S", "I")``).

    ``op`` is ``"R"``, ``"W"`` or ``"X"`` (evict). Returns the :class:`Transition` (new states, bus transaction,
    data source, invalidated cores, write-back). The rules are in the module docstring.
    """
    proto = _protocol(protocol)
    st = tuple(str(x).upper() for x in states)
    bad = [x for x in st if x not in STATES[proto]]
    if bad:
        raise ValueError(f"bad state {bad[0]!r} for {proto.upper()}: expected one of {''.join(sorted(STATES[proto]))}")
    if not isinstance(core, int) or isinstance(core, bool) or not 0 <= core < len(st):
        raise ValueError(f"bad core {core!r}: expected 0 .. {len(st) - 1}")
    o = str(op).upper()
    if o not in OPS:
        raise ValueError(f"bad op {op!r}: expected 'R', 'W' or 'X'")
    _check_states(st)
    new = list(st)
    mine = st[core]
    others = [c for c in range(len(st)) if c != core and st[c] != "I"]
    hit = mine != "I"
    moesi = proto == "moesi"

    if o == "X":
        if mine in ("M", "O"):
            new[core] = "I"
            return Transition(tuple(new), "Flush", None, None, (), True, hit)
        new[core] = "I"
        return Transition(tuple(new), None, None, None, (), False, hit)

    if o == "R":
        if hit:
            return Transition(st, None, None, None, (), False, True)
        source, supplier, wb = "memory", None, False
        for c in others:
            if st[c] == "M":
                source, supplier = "cache", c
                if moesi:
                    new[c] = "O"
                else:
                    new[c] = "S"
                    wb = True
            elif st[c] == "O":
                source, supplier = "cache", c
            elif st[c] == "E":
                new[c] = "S"
        new[core] = "S" if others else "E"
        return Transition(tuple(new), "BusRd", source, supplier, (), wb, False)

    # write
    if mine == "M":
        return Transition(st, None, None, None, (), False, True)
    if mine == "E":
        new[core] = "M"
        return Transition(tuple(new), None, None, None, (), False, True)
    if mine in ("S", "O"):
        for c in others:
            new[c] = "I"
        new[core] = "M"
        return Transition(tuple(new), "BusUpgr", None, None, tuple(others), False, True)
    source, supplier, wb = "memory", None, False
    for c in others:
        if st[c] in ("M", "O"):
            source, supplier = "cache", c
            wb = not moesi
        new[c] = "I"
    new[core] = "M"
    return Transition(tuple(new), "BusRdX", source, supplier, tuple(others), wb, False)


def _check_states(st: Sequence[str]) -> None:
    problem = check_invariants(st)
    if problem:
        raise ValueError(f"impossible line state {''.join(st)}: {problem}")


def check_invariants(states: Sequence[str]) -> str:
    """Why the states of one line across all cores are impossible, or "" when they are coherent.

    At most one core in M or E, and then every other copy is I; at most one core in O.
    """
    st = [str(x).upper() for x in states]
    owners = [c for c, x in enumerate(st) if x in ("M", "E")]
    if len(owners) > 1:
        return f"cores {owners} all hold it in M/E"
    if owners and any(x != "I" for c, x in enumerate(st) if c != owners[0]):
        return f"core {owners[0]} holds it in {st[owners[0]]} but another copy is valid"
    if st.count("O") > 1:
        return "more than one O owner"
    return ""


_ITEM = re.compile(r"^\s*[pP]?(\d+)\s*:?\s*([rwxRWX])\s*:?\s*[lL]?(\d+)\s*$")


def parse_trace(trace: Iterable[Sequence[Any] | str] | str) -> list[Op]:
    """``[(core, op, line), ...]`` from tuples or from text like ``"0R0,1W0,0X0"`` (``"0:R:0"``, ``"P0 R L0"``)."""
    if isinstance(trace, str):
        trace = [t for t in trace.replace(";", ",").split(",") if t.strip()]
    out: list[Op] = []
    for item in trace:
        if isinstance(item, str):
            m = _ITEM.match(item)
            if not m:
                raise ValueError(f"bad trace item {item!r}: expected <core><R|W|X><line>, e.g. '0R0' or '1W2'")
            core, op, line = int(m.group(1)), m.group(2).upper(), int(m.group(3))
        else:
            try:
                core, op, line = item
            except (TypeError, ValueError):
                raise ValueError(f"bad trace item {item!r}: expected (core, 'R'|'W'|'X', line)") from None
            if (not isinstance(core, int) or isinstance(core, bool) or not isinstance(line, int)
                    or isinstance(line, bool) or not isinstance(op, str) or op.upper() not in OPS):
                raise ValueError(f"bad trace item {item!r}: expected (core, 'R'|'W'|'X', line) with int core/line")
            op = op.upper()
        if core < 0 or line < 0:
            raise ValueError(f"bad trace item {item!r}: core and line are >= 0")
        out.append((core, op, line))
    return out


def format_trace(trace: Iterable[Op]) -> str:
    """The text form of a trace: ``"0R0,1W0"``."""
    return ",".join(f"{c}{o}{ln}" for c, o, ln in trace)


def simulate(trace: Iterable[Sequence[Any] | str] | str, *, cores: int | None = None,
             protocol: str = "mesi") -> Run:
    """Run the protocol over a trace; every line starts I in every cache. ``cores`` defaults to the highest core + 1."""
    proto = _protocol(protocol)
    ops = parse_trace(trace)
    need = max((c for c, _, _ in ops), default=-1) + 1
    n = need if cores is None else cores
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"bad cores {cores!r}: expected a positive int")
    if n < need:
        raise ValueError(f"the trace uses core {need - 1} but cores={n}")
    lines: dict[int, tuple[str, ...]] = {}
    run = Run(proto, n)
    for t, (core, op, line) in enumerate(ops):
        before = lines.get(line, ("I",) * n)
        tr = step(before, core, op, protocol=proto)
        lines[line] = tr.states
        run.trace.append(Step(t, core, op, line, before, tr.states, tr.bus, tr.source, tr.supplier,
                              tr.invalidated, tr.writeback, tr.hit))
    run.final = dict(sorted(lines.items()))
    return run


# ----------------------------------------------------------------------------------- trace builders

def false_sharing(n: int, cores: int = 2, line: int = 0) -> list[Op]:
    """``n`` rounds in which every core writes its own word of the *same* line: each write steals the line."""
    _positive(n, "n")
    _positive(cores, "cores")
    return [(c, "W", line) for _ in range(n) for c in range(cores)]


def padded(n: int, cores: int = 2, first_line: int = 0) -> list[Op]:
    """The same writes as :func:`false_sharing`, each core's word padded onto its own line ``first_line + core``."""
    _positive(n, "n")
    _positive(cores, "cores")
    return [(c, "W", first_line + c) for _ in range(n) for c in range(cores)]


def ping_pong(n: int, line: int = 0) -> list[Op]:
    """``n`` round trips of a flag between core 0 and core 1: 0 writes, 1 reads, 1 writes, 0 reads."""
    _positive(n, "n")
    return [op for _ in range(n) for op in ((0, "W", line), (1, "R", line), (1, "W", line), (0, "R", line))]


def producer_consumer(n: int, data_line: int = 0, flag_line: int = 1) -> list[Op]:
    """``n`` messages: core 0 writes the data line then the flag line; core 1 reads the flag then the data."""
    _positive(n, "n")
    return [op for _ in range(n) for op in ((0, "W", data_line), (0, "W", flag_line), (1, "R", flag_line),
                                            (1, "R", data_line))]


def random_trace(n: int, cores: int = 2, lines: int = 2, *, seed: int = 0, write_frac: float = 0.4,
                 evict_frac: float = 0.0) -> list[Op]:
    """``n`` operations drawn with ``random.Random(seed)``: per op a core, a line, then R/W/X by the fractions."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"bad n {n!r}: expected an int >= 0")
    _positive(cores, "cores")
    _positive(lines, "lines")
    if not (0.0 <= write_frac <= 1.0 and 0.0 <= evict_frac <= 1.0 and write_frac + evict_frac <= 1.0):
        raise ValueError("write_frac and evict_frac must be in [0, 1] and sum to at most 1")
    rng = random.Random(seed)
    out: list[Op] = []
    for _ in range(n):
        c, ln, u = rng.randrange(cores), rng.randrange(lines), rng.random()
        out.append((c, "W" if u < write_frac else "X" if u < write_frac + evict_frac else "R", ln))
    return out


def _positive(v: object, what: str) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"bad {what} {v!r}: expected a positive int")


PATTERNS = {"false_sharing": false_sharing, "padded": padded, "ping_pong": ping_pong,
            "producer_consumer": producer_consumer}


# ----------------------------------------------------------------------------------- command line

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = _Parser(prog="python -m hftos.coherence.mesi",
                 description="MESI/MOESI snooping-coherence simulator: states, bus transactions, invalidations.")
    ap.add_argument("-t", "--trace", default="", help="comma-separated ops <core><R|W|X><line>, e.g. 0R0,1W0")
    ap.add_argument("--pattern", default="", help="build the trace: " + ", ".join(PATTERNS))
    ap.add_argument("-n", "--numops", type=int, default=8,
                    help="random trace: number of ops; --pattern: number of rounds")
    ap.add_argument("-p", "--cores", type=int, default=2, help="cores (random trace and false_sharing/padded)")
    ap.add_argument("-l", "--lines", type=int, default=2, help="random trace: number of lines")
    ap.add_argument("-w", "--write-frac", type=float, default=0.4, help="random trace: fraction of writes")
    ap.add_argument("-x", "--evict-frac", type=float, default=0.0, help="random trace: fraction of evictions")
    ap.add_argument("--protocol", default="mesi", help="mesi or moesi")
    ap.add_argument("-s", "--seed", type=int, default=0, help="random seed")
    ap.add_argument("-c", "--solve", "--compute", action="store_true", help="compute the answers")
    ap.add_argument("--json", action="store_true", help="print the run as JSON")
    a = ap.parse_args(argv)
    try:
        proto = _protocol(a.protocol)
        if a.cores < 1:
            raise ValueError("-p/--cores must be positive")
        if a.trace and a.pattern:
            raise ValueError("give either --trace or --pattern, not both")
        if a.trace:
            ops = parse_trace(a.trace)
        elif a.pattern:
            if a.pattern not in PATTERNS:
                raise ValueError(f"unknown pattern {a.pattern!r}: expected one of {', '.join(PATTERNS)}")
            ops = (PATTERNS[a.pattern](a.numops, a.cores) if a.pattern in ("false_sharing", "padded")
                   else PATTERNS[a.pattern](a.numops))
        else:
            ops = random_trace(a.numops, a.cores, a.lines, seed=a.seed, write_frac=a.write_frac,
                               evict_frac=a.evict_frac)
        cores = max(a.cores, max((c for c, _, _ in ops), default=0) + 1)
        run = simulate(ops, cores=cores, protocol=proto)
    except ValueError as e:
        ap.exit(2, f"{ap.prog}: error: {e}\n")
    if a.json:
        print(json.dumps({"args": {"trace": format_trace(ops), "protocol": proto, "cores": cores, "seed": a.seed},
                          "run": run.to_dict()}))
        return 0
    print(f"ARG trace {format_trace(ops)}")
    print(f"ARG protocol {proto.upper()}  cores {cores}  seed {a.seed}")
    print()
    if not a.solve:
        print(f"Every line starts I in every cache. For each operation give the line's {proto.upper()} state in every"
              " core afterwards, the bus transaction, and who supplies the data. Then count the invalidations.")
        for core, op, line in ops:
            print(f"P{core} {'reads' if op == 'R' else 'writes' if op == 'W' else 'evicts'} line {line}:"
                  "  states?  bus?  data from?")
        print()
        print("Use -c to see the answers.")
        return 0
    print(run.table())
    print()
    for line, st in run.final.items():
        print(f"FINAL line {line}: " + " ".join(f"P{c}={x}" for c, x in enumerate(st)))
    print("COUNTS " + "  ".join(f"{k} {v}" for k, v in run.counters().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
