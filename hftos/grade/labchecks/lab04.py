"""Lab 4 (IPC: an SPSC ring, a seqlock, MESI) check helpers, the course-provided ring memory, and the oracles.

A check cell prints one line starting with ``ok`` when the answer is right; on anything else it prints what was
expected and what came back. The grader never reads these strings: nbval compares a check cell's whole output with
the reference notebook's stored output. Check cells reload this module right before they use it, so an answer cell
that patches a helper changes nothing.

What the course provides to the students (task 1), documented in the lab:

- :class:`Ring`: the memory of a single-producer/single-consumer ring. Two 64-bit counters, ``head`` (written only
  by the producer) and ``tail`` (written only by the consumer), each on its own 64-byte cache line, then
  ``capacity`` 8-byte slots; ``capacity`` is a power of two and ``mask = capacity - 1``. The counters run free (they
  are never masked; slot ``k & mask`` holds message ``k``), so all ``capacity`` slots are usable: empty when
  ``head == tail``, full when ``head - tail == capacity``. Every access is one aligned 8-byte load or store
  (``load_head()``, ``store_head(v)``, ``load_tail()``, ``store_tail(v)``, ``load_slot(i)``, ``store_slot(i, v)``).
- :func:`run_two_processes`: the cross-process harness (fork a producer, consume in the caller, bounded, nothing
  left behind).

Oracles: :mod:`hftos.coherence.seqlock` (task 2) and :mod:`hftos.coherence.mesi` (task 3); for task 1 a
``collections.deque`` of at most ``capacity`` items.
"""

from __future__ import annotations

import importlib
import mmap
import os
import random
import signal
import struct
import time
import zlib
from collections import deque
from typing import Any, Callable, Sequence

from . import common

common = importlib.reload(common)  # a check cell reloads this module; patches to common go too

__all__ = ["Ring", "TracingRing", "run_two_processes", "stream_stats", "check_ring_basic", "check_ring_full",
           "check_ring_order", "check_ring_cross_process", "check_random_ring", "seqlock_oracle", "check_seqlock",
           "check_random_seqlock", "mesi_oracle", "run_mesi", "check_mesi_steps", "check_mesi_trace",
           "check_random_mesi", "check_false_sharing"]

CACHE_LINE = 64
HEAD_OFF, TAIL_OFF, SLOTS_OFF = 0, 64, 128      # bytes: head and tail each on their own cache line
U64 = 1 << 64


# ----------------------------------------------------------------------------------------------- task 1: the ring

class Ring:
    """The memory of an SPSC ring of ``capacity`` 8-byte slots (a power of two), over ``buffer`` or a new bytearray.

    Layout (bytes): ``head`` at 0, ``tail`` at 64 (each on its own cache line, so the producer and the consumer do
    not fight over one line), slot ``i`` at ``128 + 8 * i``. Pass a shared ``mmap`` as ``buffer`` and two processes
    share the ring. ``head`` and ``tail`` start at ``start`` (default 0).

    Every method is one aligned 8-byte load or store (a ``memoryview`` cast to unsigned 64-bit: CPython copies the 8
    bytes with one ``memcpy``, which is one ``mov`` on x86-64). There are no barriers here: on x86-64 (TSO) the CPU
    keeps loads in order and stores in order, which is what the ring needs; arm64 may reorder them, so this Python
    ring is correct across processes only on x86-64 (a C ring uses acquire/release atomics instead).
    """

    def __init__(self, capacity: int, buffer: Any = None, *, start: int = 0) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1 or capacity & (capacity - 1):
            raise ValueError(f"capacity must be a power of two >= 1, got {capacity!r}")
        need = SLOTS_OFF + 8 * capacity
        if buffer is None:
            buffer = bytearray(need)
        if len(buffer) < need:
            raise ValueError(f"the buffer has {len(buffer)} bytes, a ring of {capacity} slots needs {need}")
        self.capacity = capacity
        self.mask = capacity - 1
        self._mem = memoryview(buffer).cast("B")[:need].cast("Q")
        self._slot0 = SLOTS_OFF // 8
        if start:
            self._mem[HEAD_OFF // 8] = start
            self._mem[TAIL_OFF // 8] = start

    @staticmethod
    def size(capacity: int) -> int:
        """Bytes a ring of ``capacity`` slots needs."""
        return SLOTS_OFF + 8 * capacity

    def load_head(self) -> int:
        return self._mem[0]

    def store_head(self, value: int) -> None:
        self._mem[0] = self._u64(value, "head")

    def load_tail(self) -> int:
        return self._mem[8]

    def store_tail(self, value: int) -> None:
        self._mem[8] = self._u64(value, "tail")

    def load_slot(self, i: int) -> int:
        return self._mem[self._slot0 + self._index(i)]

    def store_slot(self, i: int, value: int) -> None:
        self._mem[self._slot0 + self._index(i)] = self._u64(value, "a slot")

    def _index(self, i: int) -> int:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.capacity:
            raise IndexError(f"slot index {i!r} is outside 0..{self.capacity - 1}: the counters run free, so the "
                             f"slot of counter k is k & ring.mask")
        return i

    @staticmethod
    def _u64(value: int, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < U64:
            raise ValueError(f"{what} holds an unsigned 64-bit integer, got {value!r}")
        return value

    def release(self) -> None:
        """Drop the view of the buffer (needed before closing an mmap)."""
        self._mem.release()


class TracingRing(Ring):
    """A :class:`Ring` that records every access as ``(operation, argument(s)...)`` in :attr:`log`."""

    def __init__(self, capacity: int, *, start: int = 0) -> None:
        super().__init__(capacity, start=start)
        self.log: list[tuple[Any, ...]] = []

    def load_head(self) -> int:
        v = super().load_head()
        self.log.append(("load_head", v))
        return v

    def store_head(self, value: int) -> None:
        super().store_head(value)
        self.log.append(("store_head", value))

    def load_tail(self) -> int:
        v = super().load_tail()
        self.log.append(("load_tail", v))
        return v

    def store_tail(self, value: int) -> None:
        super().store_tail(value)
        self.log.append(("store_tail", value))

    def load_slot(self, i: int) -> int:
        v = super().load_slot(i)
        self.log.append(("load_slot", i, v))
        return v

    def store_slot(self, i: int, value: int) -> None:
        super().store_slot(i, value)
        self.log.append(("store_slot", i, value))


def _push(label: str, push: Callable[..., Any], ring: Ring, value: int) -> tuple[bool, Any]:
    ok, got = common.call(push, ring, value)
    if not ok:
        return False, got
    if not isinstance(got, bool):
        return False, f"push() must return True or False, got {common.short(got)}"
    return True, got


def _pop(label: str, pop: Callable[..., Any], ring: Ring) -> tuple[bool, Any]:
    ok, got = common.call(pop, ring)
    if not ok:
        return False, got
    if got is not None and (isinstance(got, bool) or not isinstance(got, int)):
        return False, f"pop() must return an int or None, got {common.short(got)}"
    return True, got


def _run_ops(label: str, push: Callable[..., Any], pop: Callable[..., Any], ring: Ring,
             ops: Sequence[int | None], trace_orders: bool = False) -> str:
    """Apply ``ops`` (an int: push it; None: pop) to ``ring`` and to a deque model; "" if all agree, else why not."""
    model: deque[int] = deque()
    history: list[str] = []
    for k, op in enumerate(ops):
        head0, tail0, items = ring._mem[0], ring._mem[8], len(model)
        start = len(ring.log) if isinstance(ring, TracingRing) else 0
        if op is None:
            ok, got = _pop(label, pop, ring)
            want: Any = model.popleft() if model else None
            what = "pop()"
        else:
            ok, got = _push(label, push, ring, op)
            want = len(model) < ring.capacity
            if want:
                model.append(op)
            what = f"push({op})"
        if not ok:
            return f"operation {k}, {what}: {got}" + _hist(history)
        if got != want:
            return (f"operation {k}, {what}: expected {want!r}, got {common.short(got)} (before it: head {head0}, "
                    f"tail {tail0}, {items} of {ring.capacity} slots in use)" + _hist(history))
        history.append(f"{what} -> {got!r}")
        if isinstance(ring, TracingRing) and trace_orders:
            why = _order_problem(ring.log[start:], op, got, head0, tail0, ring.mask)
            if why:
                return f"operation {k}, {what} -> {got!r}: {why}" + _hist(history[:-1])
    head, tail = ring._mem[0], ring._mem[8]
    if head - tail != len(model):
        return f"after all operations head - tail = {head} - {tail} = {head - tail}, but {len(model)} items are queued"
    return ""


def _hist(history: list[str]) -> str:
    if not history:
        return ""
    tail = history[-6:]
    return "\n  the operations before it: " + ("... " if len(history) > 6 else "") + ", ".join(tail)


def _order_problem(log: list[tuple[Any, ...]], op: int | None, got: Any, head0: int, tail0: int, mask: int) -> str:
    """Why the loads/stores of one push or pop break the SPSC rules, or ""."""
    names = [e[0] for e in log]
    shown = ", ".join(f"{e[0]}({', '.join(map(str, e[1:]))})" for e in log)
    if op is not None:  # push, in the producer
        if "store_tail" in names or "load_slot" in names:
            return f"the producer must not write tail or read slots; it did: {shown}"
        if got is False:
            if any(n.startswith("store") for n in names):
                return f"a push into a full ring must not store anything; it did: {shown}"
            return ""
        stores = [e for e in log if e[0].startswith("store")]
        want = [("store_slot", head0 & mask, op), ("store_head", head0 + 1)]
        if stores != want:
            if [e[0] for e in stores] == ["store_head", "store_slot"]:
                return (f"head was stored before the slot: the consumer may see head move and read the slot before "
                        f"the value is in it. Write the slot first, then publish it with the head store. Accesses: "
                        f"{shown}")
            return f"expected exactly the stores store_slot({head0 & mask}, {op}), store_head({head0 + 1}) in " \
                   f"that order; got: {shown}"
        return ""
    if "store_head" in names or "store_slot" in names:
        return f"the consumer must not write head or slots; it did: {shown}"
    if got is None:
        if any(n.startswith("store") for n in names):
            return f"a pop from an empty ring must not store anything; it did: {shown}"
        return ""
    if "load_slot" not in names or "load_head" not in names:
        return f"a pop must load head (to see the message is there) and the slot; accesses: {shown}"
    if names.index("load_head") > names.index("load_slot"):
        return (f"the slot was read before head: the value may be one the producer has not written yet. Load head "
                f"first (it publishes the slot), then the slot. Accesses: {shown}")
    stores = [e for e in log if e[0].startswith("store")]
    if stores != [("store_tail", tail0 + 1)]:
        return f"expected exactly one store, store_tail({tail0 + 1}); accesses: {shown}"
    if names.index("store_tail") < max(i for i, n in enumerate(names) if n == "load_slot"):
        return (f"tail was stored before the slot was read: the producer may overwrite the slot before you read it. "
                f"Accesses: {shown}")
    return ""


def check_ring_basic(label: str, push: Callable[..., Any], pop: Callable[..., Any], capacity: int,
                     ops: Sequence[int | None]) -> None:
    """Run ``ops`` (int: push it, None: pop) on a new ring; compare every result with a FIFO queue."""
    why = _run_ops(label, push, pop, Ring(capacity), ops)
    if why:
        print(f"FAIL {label}: capacity {capacity}\n  {why}")
        return
    pops = [op for op in ops if op is None]
    print(f"ok   {label}: {len(ops) - len(pops)} pushes, {len(pops)} pops in FIFO order, empty gives None")


def check_ring_full(label: str, push: Callable[..., Any], pop: Callable[..., Any], capacity: int, start: int,
                    rounds: int) -> None:
    """Fill the ring (the push after ``capacity`` pushes must fail), then ``rounds`` of pop/push/push at the full
    boundary, with both counters starting at ``start`` so the slot index wraps many times."""
    ops: list[int | None] = list(range(capacity + 1))
    for k in range(rounds):
        ops += [None, 1000 + k, 2000 + k]
    ops += [None] * (capacity + 1)
    ring = Ring(capacity, start=start)
    why = _run_ops(label, push, pop, ring, ops)
    if why:
        print(f"FAIL {label}: capacity {capacity}, counters start at {start}\n  {why}")
        return
    print(f"ok   {label}: full after {capacity} pushes, {rounds} rounds at the boundary, counters "
          f"{start} -> {ring._mem[0]}")


def check_ring_order(label: str, push: Callable[..., Any], pop: Callable[..., Any], capacity: int,
                     ops: Sequence[int | None]) -> None:
    """Like :func:`check_ring_basic` on a :class:`TracingRing`, also checking each push's and pop's accesses:
    a push stores the slot, then head + 1 (and nothing else); a pop loads head before the slot and stores
    tail + 1 after reading it; the producer never writes tail, the consumer never writes head or a slot."""
    ring = TracingRing(capacity)
    why = _run_ops(label, push, pop, ring, ops, trace_orders=True)
    if why:
        print(f"FAIL {label}: capacity {capacity}\n  {why}")
        return
    print(f"ok   {label}: every push stores the slot before head, every pop loads head before the slot "
          f"and stores tail after it")


def check_random_ring(label: str, push: Callable[..., Any], pop: Callable[..., Any], seed: int, count: int) -> None:
    """``count`` random rings (capacity 1-64, counters starting anywhere below 2**40) and random push/pop sequences,
    compared with a FIFO model, with the access-order rules of :func:`check_ring_order`."""
    rng = random.Random(seed)
    for k in range(count):
        capacity = 1 << rng.randint(0, 6)
        start = rng.choice([0, rng.randrange(1 << 40)])
        p_push = rng.choice([0.3, 0.5, 0.7])
        ops: list[int | None] = [rng.randrange(1 << 32) if rng.random() < p_push else None
                                 for _ in range(rng.randint(1, 4 * capacity + 8))]
        ring = TracingRing(capacity, start=start)
        why = _run_ops(label, push, pop, ring, ops, trace_orders=True)
        if why:
            print(f"FAIL {label}: case {k} of {count}: capacity {capacity}, counters start at {start}\n  {why}")
            return
    print(f"ok   {label}: {count} random rings match a FIFO queue")


def stream_stats(values: Sequence[int], n: int) -> dict[str, int]:
    """What the consumer saw, expected ``0 .. n-1`` in order: received, missing, duplicates, out of order, crc32.

    ``missing``: numbers in ``0..n-1`` never received; ``duplicates``: received - distinct; ``out_of_order``:
    places where a value is not the previous one + 1; ``crc32``: ``zlib.crc32`` of the values as little-endian
    unsigned 64-bit integers, in the order received (order-sensitive).
    """
    distinct = set(values)
    crc = 0
    for i in range(0, len(values), 4096):
        chunk = values[i:i + 4096]
        crc = zlib.crc32(struct.pack(f"<{len(chunk)}Q", *[v % U64 for v in chunk]), crc)
    return {"received": len(values), "missing": sum(1 for v in range(n) if v not in distinct),
            "duplicates": len(values) - len(distinct),
            "out_of_order": sum(1 for a, b in zip(values, values[1:]) if b != a + 1) + (1 if values and values[0] != 0 else 0),
            "crc32": crc}


def run_two_processes(push: Callable[..., Any], pop: Callable[..., Any], n: int, capacity: int = 64,
                      timeout: float = 20.0) -> dict[str, Any]:
    """Stream ``0 .. n-1`` from a forked producer (``push``) to this process (``pop``) through a shared ring.

    The ring lives in an anonymous shared mapping (``MAP_SHARED | MAP_ANONYMOUS``: no name, nothing to unlink). The
    child pushes, yielding the CPU (``os.sched_yield``) whenever the ring is full, and ends with ``os._exit``; the
    parent pops, yielding whenever it is empty, until it has ``n`` values, the child has died with the ring empty, or
    ``timeout`` seconds have passed; then it kills the child if needed and reaps it. Returns :func:`stream_stats`
    plus ``seconds``, ``child`` (``"ok"`` or what went wrong in the producer), ``consumer`` (``"ok"`` or what
    ``pop`` raised) and ``timed_out``.
    """
    size = Ring.size(capacity)
    mem = mmap.mmap(-1, size + 512, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    ring = Ring(capacity, mem)
    ctl = memoryview(mem).cast("B")[size:size + 512]   # status byte, then the child's error message
    values: list[int] = []
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the producer: push, report, _exit; never return into the caller
        code = 0
        try:
            deadline = time.monotonic() + timeout
            i = 0
            while i < n:
                if push(ring, i):
                    i += 1
                else:
                    os.sched_yield()
                    if not i & 255 and time.monotonic() > deadline:
                        break
            ctl[0] = 1
        except BaseException as exc:  # noqa: BLE001: anything the student's push raises is reported
            msg = f"{type(exc).__name__}: {exc}".encode()[:500]
            ctl[2:2 + len(msg)] = msg
            ctl[0] = 2
            code = 1
        finally:
            os._exit(code)
    status = "ok"
    consumer = "ok"
    timed_out = False
    try:
        deadline = t0 + timeout
        idle = 0
        while len(values) < n:
            v = pop(ring)
            if v is not None:
                values.append(v)
                idle = 0
                continue
            idle += 1
            os.sched_yield()
            if idle & 63 == 0:
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    pid = 0
                    if pop(ring) is None:
                        break
    except Exception as exc:  # noqa: BLE001: anything the student's pop raises is reported
        consumer = f"pop() raised {type(exc).__name__}: {exc}"
    finally:
        if pid:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if not done:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        if ctl[0] == 2:
            status = "push() raised in the producer process: " + bytes(ctl[2:]).rstrip(b"\0").decode(errors="replace")
        elif ctl[0] != 1:
            status = "the producer did not finish"
        seconds = time.monotonic() - t0
        ring.release()
        ctl.release()
        mem.close()
    return {**stream_stats(values, n), "seconds": seconds, "child": status, "consumer": consumer,
            "timed_out": timed_out}


def check_ring_cross_process(label: str, push: Callable[..., Any], pop: Callable[..., Any], n: int,
                             capacity: int, timeout: float = 20.0) -> None:
    """Stream ``n`` numbers between two processes with :func:`run_two_processes`; print the stream's statistics.

    A push and a pop on a scratch ring first, so an unanswered, crashing or wrong-shaped function is reported by
    name before any process is forked."""
    scratch = Ring(capacity)
    for ok, got in (_push(label, push, scratch, 0), _pop(label, pop, scratch)):
        if not ok:
            print(f"FAIL {label}: {got}")
            return
    ok, got = common.call(run_two_processes, push, pop, n, capacity, timeout)
    if not ok:
        print(f"FAIL {label}: {got}")
        return
    want = stream_stats(list(range(n)), n)
    fields = ("received", "missing", "duplicates", "out_of_order", "crc32")

    def fmt(d: dict[str, Any]) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {d[k]:#010x}" if k == "crc32" else f"{k.replace('_', ' ')} {d[k]:,}"
                         for k in fields)

    text = fmt(got)
    if all(got[k] == want[k] for k in fields) and got["child"] == "ok" and got["consumer"] == "ok":
        print(f"ok   {label}: {text}")
        return
    print(f"FAIL {label}: {n} numbers through a ring of {capacity} slots between two processes")
    print(f"  expected: {fmt(want)}")
    print(f"  got:      {text}")
    if got["child"] != "ok":
        print(f"  producer: {got['child']}")
    if got["consumer"] != "ok":
        print(f"  consumer: {got['consumer']}")
    if got["timed_out"]:
        print(f"  gave up after {timeout:.0f} s: does push() ever succeed again after the ring was full, or pop() "
              f"after it was empty?")


# --------------------------------------------------------------------------------------------- task 2: seqlock

Attempt = tuple  # (seq1, copy, seq2, accepted)


def seqlock_oracle(schedule: str, words: int, check: bool = True) -> list[Attempt]:
    """The course simulator's attempts for one writer and one reader on an open-ended schedule of "w"/"r"."""
    from hftos.coherence import seqlock

    run = seqlock.simulate(schedule, words=words, updates=None, reads=None, mode="seqlock" if check else "none")
    return [(a.seq1, tuple(a.words), a.seq2, a.accepted) for a in run.attempts]


def _outcome(att: Attempt) -> str:
    from hftos.coherence import seqlock

    return seqlock.classify(att[1], att[3])


def _attempts(got: Any) -> list[Attempt]:
    if not isinstance(got, (list, tuple)):
        raise common.Invalid(f"expected a list of (seq1, copy, seq2, accepted) tuples, got {type(got).__name__}: "
                             f"{common.short(got)}")
    out = []
    for k, a in enumerate(got):
        if not isinstance(a, (list, tuple)) or len(a) != 4 or not isinstance(a[1], (list, tuple)):
            raise common.Invalid(f"attempt {k} should be a (seq1, copy, seq2, accepted) tuple with copy a tuple of "
                                 f"ints, got {common.short(a)}")
        try:
            out.append((int(a[0]), tuple(int(x) for x in a[1]), int(a[2]), a[3]))
        except (TypeError, ValueError):
            raise common.Invalid(f"attempt {k}: seq1, seq2 and the copied words are ints, got {common.short(a)}") \
                from None
        if not isinstance(a[3], bool):
            raise common.Invalid(f"attempt {k}: accepted must be True or False, got {common.short(a[3])}")
    return out


def _fmt_att(a: Attempt) -> str:
    return f"(seq1 {a[0]}, copy {tuple(a[1])}, seq2 {a[2]}, accepted={a[3]})"


def _compare_seqlock(fn: Callable[..., Any], schedule: str, words: int, check: bool) -> tuple[str, list[Attempt]]:
    """("" or why not, the expected attempts)."""
    want = seqlock_oracle(schedule, words, check)
    ok, got = common.call(fn, schedule, words, check)
    if not ok:
        return str(got), want
    try:
        have = _attempts(got)
    except common.Invalid as exc:
        return str(exc), want
    if have == want:
        return "", want
    lines = [f"schedule {schedule!r}, words {words}, check {check}"]
    for k, (e, g) in enumerate(zip(want, have)):
        if e != g:
            lines.append(f"attempt {k}: expected {_fmt_att(e)}, got {_fmt_att(g)}")
            break
    else:
        lines.append(f"expected {len(want)} completed attempts, got {len(have)}")
    lines.append("expected outcomes: " + ", ".join(_outcome(a) for a in want))
    return "\n  ".join(lines), want


def check_seqlock(label: str, fn: Callable[..., Any], cases: Sequence[tuple[str, int, bool, str]]) -> None:
    """Each case ``(schedule, words, check, outcomes)``: ``fn(schedule, words, check)`` must return the oracle's
    attempts; ``outcomes`` (space-separated, shown in the lab) is what the oracle gives, asserted here."""
    summary = []
    for schedule, words, check, outcomes in cases:
        why, want = _compare_seqlock(fn, schedule, words, check)
        assert " ".join(_outcome(a) for a in want) == outcomes, (schedule, [_outcome(a) for a in want])
        if why:
            print(f"FAIL {label}: {why}")
            return
        summary.append(" ".join(_outcome(a) for a in want))
    print(f"ok   {label}: " + "; ".join(summary))


def random_schedule(rng: random.Random) -> tuple[str, int]:
    """A complete random schedule (one writer, one reader) drawn by the course simulator, and its word count."""
    from hftos.coherence import seqlock

    words = rng.randint(1, 5)
    run = seqlock.simulate(None, words=words, updates=rng.randint(0, 3), readers=1, reads=rng.randint(1, 3),
                           seed=rng.randrange(1 << 30), mode=rng.choice(seqlock.MODES))
    return "".join(x[0] for x in run.schedule), words


def check_random_seqlock(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    """``count`` random schedules from ``random.Random(seed)``, each with and without the check, vs the oracle."""
    rng = random.Random(seed)
    for k in range(count):
        schedule, words = random_schedule(rng)
        for check in (True, False):
            why, _ = _compare_seqlock(fn, schedule, words, check)
            if why:
                print(f"FAIL {label}: schedule {k} of {count}: {why}")
                return
    print(f"ok   {label}: {count} random schedules match, with and without the check")


# ------------------------------------------------------------------------------------------------ task 3: MESI

BUSES = (None, "BusRd", "BusRdX", "BusUpgr")


def mesi_oracle(states: Sequence[str], core: int, op: str) -> tuple[tuple[str, ...], str | None]:
    """The course simulator's ``(new_states, bus)`` for one read or write (:func:`hftos.coherence.mesi.step`)."""
    from hftos.coherence import mesi

    t = mesi.step(tuple(states), core, op)
    return t.states, t.bus


def _transition(got: Any, n: int) -> tuple[tuple[str, ...], str | None]:
    if not isinstance(got, (list, tuple)) or len(got) != 2:
        raise common.Invalid(f"expected a (new_states, bus) pair, got {common.short(got)}")
    states, bus = got
    if isinstance(states, str):
        states = tuple(states)
    if not isinstance(states, (list, tuple)) or len(states) != n or not all(
            isinstance(x, str) and x in ("M", "E", "S", "I") for x in states):
        raise common.Invalid(f"new_states must be a tuple of {n} states, each 'M', 'E', 'S' or 'I'; got "
                             f"{common.short(states)}")
    if bus not in BUSES:
        raise common.Invalid(f"bus must be None, 'BusRd', 'BusRdX' or 'BusUpgr'; got {common.short(bus)}")
    return tuple(states), bus


def _fmt_states(st: Sequence[str]) -> str:
    return " ".join(f"P{c}={x}" for c, x in enumerate(st))


def check_mesi_steps(label: str, fn: Callable[..., Any],
                     cases: Sequence[tuple[str, int, str, str, str | None]]) -> None:
    """Each case ``(states, core, op, new_states, bus)`` (states as strings like ``"SIS"``): one call of
    ``fn(states_tuple, core, op)``; also asserts the oracle agrees with the case."""
    for states, core, op, new, bus in cases:
        want = (tuple(new), bus)
        assert mesi_oracle(tuple(states), core, op) == want, (states, core, op)
        ok, got = common.call(fn, tuple(states), core, op)
        if not ok:
            print(f"FAIL {label}: {got}")
            return
        try:
            have = _transition(got, len(states))
        except common.Invalid as exc:
            print(f"FAIL {label}: line in {_fmt_states(states)}, P{core} {'reads' if op == 'R' else 'writes'}: {exc}")
            return
        if have != want:
            print(f"FAIL {label}: line in {_fmt_states(states)}, P{core} {'reads' if op == 'R' else 'writes'}")
            print(f"  expected {_fmt_states(want[0])}, bus {want[1]}")
            print(f"  got      {_fmt_states(have[0])}, bus {have[1]}")
            return
    print(f"ok   {label}: {len(cases)} transitions")


def run_mesi(fn: Callable[..., Any], trace: Sequence[tuple[int, str, int]], cores: int
             ) -> tuple[dict[int, tuple[str, ...]], int, list[tuple[tuple[str, ...], str | None]]]:
    """Run a transition function over a trace (every line starts I everywhere): ``(final, invalidations, steps)``.

    ``invalidations`` counts, per step, the other cores whose valid copy became I. Raises :class:`common.Invalid`
    (with the step) on a wrong-shaped result, and re-raises what ``fn`` raises as ``common.Invalid``.
    """
    lines: dict[int, tuple[str, ...]] = {}
    inval = 0
    steps = []
    for k, (core, op, line) in enumerate(trace):
        before = lines.get(line, ("I",) * cores)
        ok, got = common.call(fn, before, core, op)
        if not ok:
            raise common.Invalid(f"step {k} (P{core} {op} line {line}, line in {_fmt_states(before)}): {got}")
        try:
            after, bus = _transition(got, cores)
        except common.Invalid as exc:
            raise common.Invalid(f"step {k} (P{core} {op} line {line}): {exc}") from None
        inval += sum(1 for c in range(cores) if c != core and before[c] != "I" and after[c] == "I")
        lines[line] = after
        steps.append((after, bus))
    return dict(sorted(lines.items())), inval, steps


def _trace_text(trace: Sequence[tuple[int, str, int]]) -> str:
    return ",".join(f"{c}{o}{ln}" for c, o, ln in trace)


def _compare_mesi(fn: Callable[..., Any], trace: Sequence[tuple[int, str, int]], cores: int) -> str:
    from hftos.coherence import mesi

    run = mesi.simulate(list(trace), cores=cores)
    try:
        final, inval, steps = run_mesi(fn, trace, cores)
    except common.Invalid as exc:
        return f"trace {_trace_text(trace)}: {exc}"
    for k, (s, (after, bus)) in enumerate(zip(run.trace, steps)):
        if (s.states, s.bus) != (after, bus):
            return (f"trace {_trace_text(trace)} ({cores} cores)\n  step {k}: P{s.core} "
                    f"{'reads' if s.op == 'R' else 'writes'} line {s.line} in {_fmt_states(s.before)}\n"
                    f"  expected {_fmt_states(s.states)}, bus {s.bus}\n  got      {_fmt_states(after)}, bus {bus}")
    if inval != run.invalidations or final != run.final:
        return f"trace {_trace_text(trace)}: expected {run.invalidations} invalidations, got {inval}"
    return ""


def check_mesi_trace(label: str, fn: Callable[..., Any], trace: str, cores: int, final: dict[int, str],
                     invalidations: int) -> None:
    """Run ``fn`` over ``trace`` (text like ``"0R0,1W0"``); compare every step with the oracle, then print the final
    states per line (``final``: line -> states string, shown in the lab) and the number of invalidations."""
    from hftos.coherence import mesi

    ops = mesi.parse_trace(trace)
    run = mesi.simulate(ops, cores=cores)
    assert {k: "".join(v) for k, v in run.final.items()} == final and run.invalidations == invalidations, \
        (run.final, run.invalidations)
    why = _compare_mesi(fn, ops, cores)
    if why:
        print(f"FAIL {label}: {why}")
        return
    print(f"ok   {label}: " + "; ".join(f"line {k}: {_fmt_states(v)}" for k, v in final.items())
          + f"; {invalidations} invalidation{'' if invalidations == 1 else 's'}")


def check_random_mesi(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    """``count`` random traces (2-4 cores, 1-3 lines, 1-30 reads/writes) from ``random.Random(seed)`` vs the oracle,
    step by step."""
    from hftos.coherence import mesi

    rng = random.Random(seed)
    for k in range(count):
        cores = rng.randint(2, 4)
        trace = mesi.random_trace(rng.randint(1, 30), cores, rng.randint(1, 3), seed=rng.randrange(1 << 30),
                                  write_frac=rng.choice([0.2, 0.4, 0.6]))
        why = _compare_mesi(fn, trace, cores)
        if why:
            print(f"FAIL {label}: trace {k} of {count}: {why}")
            return
    print(f"ok   {label}: {count} random traces match step by step")


def check_false_sharing(label: str, fn: Callable[..., Any], rounds: int, cores: int = 2) -> None:
    """Each of ``cores`` cores writes its own word ``rounds`` times, first all in one line (false sharing), then each
    word on its own line (padded); compare every step with the oracle and print both outcomes."""
    from hftos.coherence import mesi

    parts = []
    for name, trace in (("false sharing", mesi.false_sharing(rounds, cores)), ("padded", mesi.padded(rounds, cores))):
        why = _compare_mesi(fn, trace, cores)
        if why:
            print(f"FAIL {label}: {name}: {why}")
            return
        run = mesi.simulate(trace, cores=cores)
        parts.append(f"{name} {run.invalidations} invalidations, {run.bus_transactions} bus transactions")
    print(f"ok   {label}: " + "; ".join(parts))
