"""Lab 5 (signals and exceptions) check helpers, and the oracles its hidden checks compare against.

Three models a student implements and the checks compare with the oracles here and, where it is
deterministic, with the running kernel:

- :func:`dequeue_oracle`: the order in which the kernel hands out pending signals to ``sigtimedwait``
  (``next_signal()`` in ``kernel/signal.c``): synchronous signals first, then the lowest number;
  standard signals coalesce, real-time signals queue in order;
- :func:`fault_oracle`: which signal and ``si_code`` a memory access raises (``arch/x86/mm/fault.c``,
  ``mm/memory.c``), for a small description of a mapping and an access;
- the live experiments (signal counts after blocking, an interrupted ``read``) are checked against fixed
  expected values that hold on every Linux host.
"""

from __future__ import annotations

import importlib
import os
import random
import signal
import time
from typing import Any, Callable, Sequence

from . import common

common = importlib.reload(common)  # a check cell reloads this module; patches to common go too

#: The synchronous signals the kernel dequeues before all others (``SYNCHRONOUS_MASK``).
SYNCHRONOUS = (4, 5, 7, 8, 11, 31)  # SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS
#: First real-time signal number in the kernel's numbering (glibc's SIGRTMIN is 34: it keeps 32 and 33).
KERNEL_SIGRTMIN = 32
MAX_SIGNAL = 64
#: Page size of the fault model (state it in the task: the model is about x86-64/arm64 4 KiB pages).
PAGE = 4096
FAULT_LABELS = ("none", "SIGSEGV/SEGV_MAPERR", "SIGSEGV/SEGV_ACCERR", "SIGBUS/BUS_ADRERR")


# ----------------------------------------------------------------------------- task 1: pending signals

def _valid_signo(s: Any) -> int:
    if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= MAX_SIGNAL or s in (9, 19):
        raise ValueError(f"a signal is an int 1..64 other than SIGKILL (9) and SIGSTOP (19), got {s!r}")
    return s


def dequeue_oracle(events: Sequence[tuple]) -> list[tuple[int, Any] | None]:
    """Run a script of ``("send", signo, value)`` and ``("take",)`` / ``("take", [signos])`` events.

    All signals are blocked for the whole script (a process that consumes them with ``sigtimedwait``).
    ``send`` makes ``signo`` pending: a standard signal (1-31) that is already pending is discarded (the pending
    one keeps its value); a real-time signal (32-64) is queued behind the instances already pending.
    ``take`` dequeues one signal (from ``signos`` only, if given): among the pending ones, a synchronous signal
    (4, 5, 7, 8, 11, 31) first, then the lowest number; for a real-time signal its oldest instance. It
    returns ``(signo, value)``, or ``None`` when nothing (eligible) is pending. The result lists what every
    ``take`` returned, in order.
    """
    pending: dict[int, list[Any]] = {}
    out: list[tuple[int, Any] | None] = []
    for k, ev in enumerate(events):
        if not isinstance(ev, (tuple, list)) or not ev or ev[0] not in ("send", "take"):
            raise ValueError(f"event {k} should be ('send', signo, value) or ('take',) or ('take', [signos]), got {ev!r}")
        if ev[0] == "send":
            if len(ev) != 3:
                raise ValueError(f"event {k}: a send is ('send', signo, value), got {ev!r}")
            s = _valid_signo(ev[1])
            queue = pending.setdefault(s, [])
            if s >= KERNEL_SIGRTMIN or not queue:
                queue.append(ev[2])
            continue
        allowed = None if len(ev) == 1 else {_valid_signo(s) for s in ev[1]}
        ready = [s for s, q in pending.items() if q and (allowed is None or s in allowed)]
        if not ready:
            out.append(None)
            continue
        sync = [s for s in ready if s in SYNCHRONOUS]
        s = min(sync or ready)
        out.append((s, pending[s].pop(0)))
    return out


def random_script(rng: random.Random) -> list[tuple]:
    """3-25 events: sends of a few standard, synchronous and real-time signals with values, and takes."""
    pool = rng.sample([1, 2, 4, 7, 10, 11, 12, 15, 17, 31, 32, 33, 34, 35, 40, 50, 64], rng.randint(1, 5))
    events: list[tuple] = []
    for v in range(rng.randint(3, 25)):
        r = rng.random()
        if r < 0.55:
            events.append(("send", rng.choice(pool), v))
        elif r < 0.85:
            events.append(("take",))
        else:
            events.append(("take", sorted(rng.sample(pool, rng.randint(1, len(pool))))))
    return events


def _norm_takes(got: Any) -> list[tuple[int, Any] | None]:
    if not isinstance(got, (list, tuple)):
        raise common.Invalid(f"expected a list with one entry per take, got {common.short(got)}")
    out: list[tuple[int, Any] | None] = []
    for k, item in enumerate(got):
        if item is None:
            out.append(None)
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            out.append((item[0], item[1]))
        else:
            raise common.Invalid(f"take {k} should be (signo, value) or None, got {common.short(item)}")
    return out


def _compare_script(label: str, fn: Callable[..., Any], events: list[tuple]) -> bool:
    want = dequeue_oracle(events)
    ok, got = common.call(fn, [tuple(e) if e[0] == "send" or len(e) == 1 else (e[0], list(e[1])) for e in events])
    if not ok:
        print(f"FAIL {label}: {got}")
        return False
    try:
        have = _norm_takes(got)
    except common.Invalid as exc:
        print(f"FAIL {label}: {exc}")
        return False
    if have == want:
        return True
    print(f"FAIL {label}")
    print(f"  events:   {events}")
    print(f"  expected: {want}")
    print(f"  got:      {common.short(have)}")
    k = next((i for i, (a, b) in enumerate(zip(want, have)) if a != b), min(len(want), len(have)))
    if k < min(len(want), len(have)):
        print(f"  first difference at take {k}: expected {want[k]}, got {have[k]}")
    else:
        print(f"  expected {len(want)} takes, got {len(have)}")
    return False


def check_dequeue(label: str, fn: Callable[..., Any], events: Sequence[tuple]) -> None:
    """Compare ``fn(events)`` with :func:`dequeue_oracle` on one script."""
    events = [tuple(e) for e in events]
    if _compare_script(label, fn, events):
        print(f"ok   {label}: {sum(e[0] == 'take' for e in events)} takes: "
              f"{' '.join('-' if t is None else f'{t[0]}:{t[1]}' for t in dequeue_oracle(events))}")


def check_random_dequeue(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    """Compare ``fn`` with :func:`dequeue_oracle` on ``count`` scripts from ``random.Random(seed)``."""
    rng = random.Random(seed)
    for _ in range(count):
        if not _compare_script(label, fn, random_script(rng)):
            return
    print(f"ok   {label}: {count} random scripts match")


def kernel_dequeue_order(events: Sequence[tuple], timeout: float = 10.0) -> list[int | None]:
    """Run ``events`` on this kernel in a forked child: block everything, ``kill`` for each send, ``sigtimedwait``
    (zero timeout) for each take. Returns the signal numbers taken (values cannot travel with ``kill``).

    The child is single-threaded, so every process-directed signal is pending for it alone; glibc's own
    signals (32 and 33) cannot be blocked from Python and must not be used.
    """
    for e in events:
        if e[0] == "send" and e[1] in (32, 33):
            raise ValueError("signals 32 and 33 belong to glibc (its SIGRTMIN is 34): use 34-64 for a live run")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: single-threaded, ends with _exit
        try:
            os.close(r)
            everything = set(range(1, signal.NSIG)) - {signal.SIGKILL, signal.SIGSTOP, 32, 33}
            signal.pthread_sigmask(signal.SIG_BLOCK, everything)
            taken = []
            me = os.getpid()
            for e in events:
                if e[0] == "send":
                    os.kill(me, e[1])
                else:
                    wanted = everything if len(e) == 1 else set(e[1])
                    info = signal.sigtimedwait(wanted, 0)
                    taken.append("-" if info is None else str(info.si_signo))
            os.write(w, " ".join(taken).encode() or b"empty")
        finally:
            os._exit(0)
    os.close(w)
    deadline = time.monotonic() + timeout
    try:
        data = b""
        while time.monotonic() < deadline:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    text = data.decode()
    return [] if text == "empty" else [None if t == "-" else int(t) for t in text.split()]


def check_against_kernel(label: str, fn: Callable[..., Any], events: Sequence[tuple]) -> None:
    """The signal numbers ``fn(events)`` takes must be the ones this kernel's ``sigtimedwait`` returns."""
    events = [tuple(e) for e in events]
    ok, got = common.call(fn, list(events))
    if not ok:
        print(f"FAIL {label}: {got}")
        return
    try:
        mine = [None if t is None else t[0] for t in _norm_takes(got)]
    except common.Invalid as exc:
        print(f"FAIL {label}: {exc}")
        return
    kernel = kernel_dequeue_order(events)
    if mine == kernel:
        print(f"ok   {label}: this kernel's sigtimedwait returned {' '.join('-' if s is None else str(s) for s in kernel)}"
              ", as your model says")
        return
    print(f"FAIL {label}: your model takes {mine}; this kernel's sigtimedwait returned {kernel}")


def check_deliveries(label: str, fn: Callable[..., Any], cases: Sequence[tuple[int, int]]) -> None:
    """``fn(signo, sends)`` runs the live blocking experiment; standard signals must give 1 (0 if never sent),
    real-time signals ``sends``."""
    for signo, sends in cases:
        ok, got = common.call(fn, signo, sends)
        if not ok:
            print(f"FAIL {label}: {got}")
            return
        want = (1 if sends else 0) if signo < KERNEL_SIGRTMIN else sends
        if isinstance(got, bool) or not isinstance(got, int) or got != want:
            kind = "standard signals coalesce: " if signo < KERNEL_SIGRTMIN else "real-time signals queue: "
            print(f"FAIL {label}: count_deliveries({signo}, {sends}) returned {common.short(got)}, expected {want} "
                  f"({kind}{sends} sends while blocked are {want} pending)")
            return
    print(f"ok   {label}: " + ", ".join(f"signal {s} sent {n}x -> {(1 if n else 0) if s < KERNEL_SIGRTMIN else n}"
                                          for s, n in cases))


# ----------------------------------------------------------------------------- task 2: faults

def fault_oracle(scenario: dict[str, Any]) -> str:
    """The signal/si_code an access raises, for a scenario ``{"region", "prot", "access", "pages", "page",
    "file_bytes"}``:

    - ``region``: ``"none"`` (nothing mapped), ``"anon"`` (``MAP_PRIVATE|MAP_ANONYMOUS``) or ``"file"`` (a mapping
      of a regular file of ``file_bytes`` bytes from offset 0); ``pages``: the mapping's length in 4 KiB pages;
    - ``prot``: ``"none"``, ``"r"`` or ``"rw"``; ``access``: ``"read"`` or ``"write"``; ``page``: which page of the
      mapping is touched (0-based; ``page >= pages`` is past the end of the mapping, where nothing is mapped).

    Rules, in the kernel's order: no mapping at the address -> ``SIGSEGV/SEGV_MAPERR``; the access not allowed
    by ``prot`` -> ``SIGSEGV/SEGV_ACCERR``; a file page wholly past the end of the file (``page * 4096 >=``
    ``file_bytes`` rounded up to a page) -> ``SIGBUS/BUS_ADRERR``; otherwise ``"none"`` (the rest of the page that
    holds EOF reads as zeros).
    """
    if not isinstance(scenario, dict):
        raise ValueError(f"a scenario is a dict, got {scenario!r}")
    region, prot, access = scenario.get("region"), scenario.get("prot"), scenario.get("access")
    if region not in ("none", "anon", "file") or access not in ("read", "write"):
        raise ValueError(f"bad scenario {scenario!r}")
    if region == "none":
        return "SIGSEGV/SEGV_MAPERR"
    pages, page = scenario.get("pages"), scenario.get("page")
    if prot not in ("none", "r", "rw") or not isinstance(pages, int) or not isinstance(page, int) or pages < 1 or page < 0:
        raise ValueError(f"bad scenario {scenario!r}")
    if page >= pages:
        return "SIGSEGV/SEGV_MAPERR"
    if prot == "none" or (prot == "r" and access == "write"):
        return "SIGSEGV/SEGV_ACCERR"
    if region == "file":
        size = scenario.get("file_bytes")
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"a file scenario needs file_bytes >= 0, got {scenario!r}")
        if page >= -(-size // PAGE):
            return "SIGBUS/BUS_ADRERR"
    return "none"


#: The four architecture-independent faults of section 5.4 as scenarios, keyed by ``hftos.native`` fault kind.
KERNEL_SCENARIOS: dict[str, dict[str, Any]] = {
    "unmapped": {"region": "none", "access": "read"},
    "readonly_write": {"region": "anon", "prot": "r", "access": "write", "pages": 1, "page": 0},
    "prot_none_read": {"region": "anon", "prot": "none", "access": "read", "pages": 1, "page": 0},
    "file_past_eof": {"region": "file", "prot": "r", "access": "read", "pages": 2, "page": 1, "file_bytes": PAGE},
}


def random_scenario(rng: random.Random) -> dict[str, Any]:
    region = rng.choice(["none", "anon", "anon", "file", "file", "file"])
    s: dict[str, Any] = {"region": region, "access": rng.choice(["read", "write"])}
    if region != "none":
        s.update(prot=rng.choice(["none", "r", "rw", "rw"]), pages=rng.randint(1, 4))
        s["page"] = rng.randint(0, s["pages"])
        if region == "file":
            s["file_bytes"] = rng.choice([0, 1, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE, 3 * PAGE - 5, rng.randint(0, 5 * PAGE)])
    return s


def _compare_faults(label: str, fn: Callable[..., Any], scenarios: Sequence[dict[str, Any]]) -> bool:
    for s in scenarios:
        ok, got = common.call(fn, dict(s))
        if not ok:
            print(f"FAIL {label}: {got}")
            return False
        want = fault_oracle(s)
        if got != want:
            print(f"FAIL {label}: scenario {s}")
            print(f"  expected {want!r}, got {common.short(got)}")
            if got not in FAULT_LABELS:
                print(f"  the answer must be one of {', '.join(FAULT_LABELS)}")
            return False
    return True


def check_faults(label: str, fn: Callable[..., Any], scenarios: Sequence[dict[str, Any]]) -> None:
    """Compare ``fn(scenario)`` with :func:`fault_oracle` on fixed scenarios."""
    if _compare_faults(label, fn, scenarios):
        print(f"ok   {label}: {', '.join(fault_oracle(s) for s in scenarios)}")


def check_random_faults(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    rng = random.Random(seed)
    if _compare_faults(label, fn, [random_scenario(rng) for _ in range(count)]):
        print(f"ok   {label}: {count} random scenarios match")


def check_faults_on_kernel(label: str, fn: Callable[..., Any]) -> None:
    """Provoke the four architecture-independent faults on this kernel (:func:`hftos.native.fault_signals`, each in
    a throw-away child) and compare what the handlers saw with ``fn``'s answers for the same scenarios."""
    from hftos.native import fault_signals

    answers = {}
    for kind, s in KERNEL_SCENARIOS.items():
        ok, got = common.call(fn, dict(s))
        if not ok:
            print(f"FAIL {label}: {got}")
            return
        answers[kind] = got
    seen = {d["kind"]: d["label"] for d in fault_signals(list(KERNEL_SCENARIOS))}
    wrong = [k for k in KERNEL_SCENARIOS if answers[k] != seen[k]]
    if not wrong:
        print(f"ok   {label}: " + ", ".join(f"{k} {seen[k]}" for k in KERNEL_SCENARIOS))
        return
    print(f"FAIL {label}")
    for k in wrong:
        print(f"  {k} ({KERNEL_SCENARIOS[k]}): this kernel raised {seen[k]}, you said {common.short(answers[k])}")


# ----------------------------------------------------------------------------- task 3: EINTR

def check_interrupted_read(label: str, fn: Callable[..., Any], cases: Sequence[tuple[bool, str, int]]) -> None:
    """``fn(restart, via, signo)`` runs the live experiment; the expected result is ``(-1, "EINTR")`` for a libc
    ``read`` without ``SA_RESTART`` and ``(1, "OK")`` otherwise (restarted by the kernel, or retried by Python's
    ``os.read``, PEP 475)."""
    for restart, via, signo in cases:
        ok, got = common.call(fn, restart, via, signo)
        if not ok:
            print(f"FAIL {label}: {got}")
            return
        want = (-1, "EINTR") if (via == "libc" and not restart) else (1, "OK")
        try:
            have = (int(got[0]), str(got[1]))
            if len(got) != 2:
                raise ValueError
        except Exception:  # noqa: BLE001: wrong shape is feedback
            print(f"FAIL {label}: expected a (return value, errno name) pair, got {common.short(got)}")
            return
        if have != want:
            why = ("without SA_RESTART the kernel returns -1/EINTR from the interrupted read"
                   if want[0] == -1 else
                   "with SA_RESTART the kernel restarts the read, which then returns the byte"
                   if via == "libc" else "os.read retries after EINTR (PEP 475), so it returns the byte")
            print(f"FAIL {label}: interrupted_read(restart={restart}, via={via!r}, signo={signo}) returned "
                  f"{common.short(got)}, expected {want}: {why}")
            return
    print(f"ok   {label}: " + ", ".join(
        f"{via} {'SA_RESTART' if restart else 'no SA_RESTART'} -> {'(-1, EINTR)' if via == 'libc' and not restart else '(1, OK)'}"
        for restart, via, _ in cases))
