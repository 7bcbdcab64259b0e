"""Signals (``signals.c``, chapter 5): queueing, delivery latency, handler safety, ``EINTR``.

Everything here blocks signals, installs handlers or forks, so it runs in a fresh single-threaded helper
process (:mod:`hftos.native.runner`) with a timeout, never in the (multithreaded) Jupyter kernel. The public
functions, for chapters and labs:

- :func:`signal_coalescing` (C) and :func:`python_coalescing` (Python): block a signal, send it several times,
  unblock; a standard signal is delivered once, a real-time signal once per send (with its ``si_value``);
- :func:`parked_process`: a context manager yielding the PID of a process with signals pending, blocked,
  ignored and caught, for reading ``/proc/<pid>/status`` (:func:`hftos.proc.signal_masks`);
- :func:`signal_latency` (and :func:`python_signal_latency`): send -> receive latency for a C handler, a
  ``signalfd`` read, ``sigwaitinfo`` or a Python handler, as a :class:`~hftos.measure.Result`;
- :func:`eintr_read` (C) and :func:`python_eintr_read` (PEP 475): a blocking ``read`` interrupted by a signal;
- :func:`sigaction_flags`: what ``SA_SIGINFO``, ``SA_RESETHAND``, ``SA_NODEFER``, ``SA_ONSTACK`` change;
- :func:`handler_lock`: a handler that takes a lock the interrupted code holds never returns (bounded demo).
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import signal
import subprocess
import sys
import time
from typing import Any, Iterable, Iterator

import numpy as np

from hftos import proc
from hftos.measure import Result, scaled

from . import build, runner
from .checks import check, count, cpu_pair

_CDEF = """
#define SA_SIGINFO ...
#define SA_RESTART ...
#define SA_ONSTACK ...
#define SA_NODEFER ...
#define SA_RESETHAND ...
#define SI_USER ...
#define SI_QUEUE ...
#define SI_TKILL ...
#define SIGRTMAX ...
#define __SIGRTMIN ...
int sig_coalesce(int signo, int sends, int directed, int *out, int *values, int *codes, int max_record,
                 char *status, int status_len);
int sig_latency_send(int pid, int ack_fd, int cpu, int warmup, int iters, int gap_us, int timeout_ms,
                     int64_t *lat_ns);
int sig_latency(int kind, int cpu_send, int cpu_recv, int warmup, int iters, int gap_us, int timeout_ms,
                int64_t *lat_ns);
int sig_eintr_read(int restart, int signal_ms, int data_ms, int64_t *out);
int sig_flags(int flags, int reraise, int *out);
int sig_handler_lock(int safe, int wait_ms, int *out, char *stat_buf, char *wchan_buf, char *syscall_buf, int len);
"""

#: Signal-latency receivers: C handler, signalfd read, sigwaitinfo (C, forked) and a Python handler.
LATENCY_KINDS: tuple[str, ...] = ("c-handler", "signalfd", "sigwaitinfo", "python-handler")
_C_KINDS = {"c-handler": 0, "signalfd": 1, "sigwaitinfo": 2}

#: The ``sigaction`` flags :func:`sigaction_flags` accepts, by name.
FLAG_NAMES: tuple[str, ...] = ("SA_SIGINFO", "SA_RESTART", "SA_ONSTACK", "SA_NODEFER", "SA_RESETHAND")

#: The signal each coalescing kind uses: SIGUSR1, and the real-time signal SIGRTMIN+1.
COALESCING_KINDS: tuple[str, ...] = ("standard", "realtime")


def _lib() -> build.Compiled:
    return build.load("signals", _CDEF)


def _signo(kind: str) -> int:
    if kind not in COALESCING_KINDS:
        raise ValueError(f"kind must be 'standard' or 'realtime', got {kind!r}")
    return int(signal.SIGUSR1) if kind == "standard" else int(signal.SIGRTMIN) + 1


def si_code_name(code: int) -> str:
    """The name of a ``si_code`` a process can send (``SI_USER`` from ``kill``, ``SI_QUEUE``, ``SI_TKILL``)."""
    names = {0: "SI_USER", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ", -4: "SI_ASYNCIO", -5: "SI_SIGIO",
             -6: "SI_TKILL", 128: "SI_KERNEL"}
    return names.get(code, str(code))


def kernel_sigrtmin() -> dict[str, int]:
    """The first real-time signal as the kernel numbers it (``__SIGRTMIN``), glibc's ``SIGRTMIN`` and ``SIGRTMAX``."""
    c = _lib()
    return {"kernel_SIGRTMIN": int(c.lib.__SIGRTMIN), "glibc_SIGRTMIN": int(signal.SIGRTMIN),
            "SIGRTMAX": int(c.lib.SIGRTMAX)}


# ---------------------------------------------------------------------------------------- coalescing

def _coalesce_in_helper(signo: int, sends: int, directed: int, sigpending_limit: int | None = None) -> dict[str, Any]:
    c = _lib()
    if sigpending_limit is not None:        # lowering a soft limit needs no privilege; this helper only
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_SIGPENDING)
        resource.setrlimit(resource.RLIMIT_SIGPENDING, (sigpending_limit, hard))
    out = c.ffi.new("int[3]")
    values = c.ffi.new("int[]", sends)
    codes = c.ffi.new("int[]", sends)
    status = c.ffi.new("char[]", 8192)
    rc = c.lib.sig_coalesce(signo, sends, directed, out, values, codes, sends, status, 8192)
    check(rc, "signal coalescing")
    k = min(out[2], sends)
    return {"accepted": out[0], "refused_errno": out[1], "delivered": out[2],
            "values": [values[i] for i in range(k)], "codes": [codes[i] for i in range(k)],
            "status_text": c.ffi.string(status).decode()}


def signal_coalescing(kind: str = "standard", sends: int = 5, *, directed: str = "process",
                      sigpending_limit: int | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Block a signal, ``sigqueue`` it ``sends`` times (``si_value`` 1, 2, ...), unblock it, count deliveries (C).

    ``kind="standard"`` uses ``SIGUSR1`` (expect 1 delivery: a pending standard signal is a bit, and a second
    one is dropped), ``"realtime"`` uses ``SIGRTMIN+1`` (expect ``sends`` deliveries, in order, each with its
    value). ``directed="process"`` sends to the process (``sigqueue(getpid())``: the shared pending set,
    ``ShdPnd``), ``"thread"`` to the calling thread (``pthread_sigqueue``: its own set, ``SigPnd``).

    Returns a dict: ``signal`` (name), ``signo``, ``sends``, ``accepted`` (sends the kernel took; a real-time
    send fails with ``EAGAIN`` beyond ``RLIMIT_SIGPENDING``), ``refused_errno``, ``delivered``, ``values`` and
    ``codes`` (``si_value``/``si_code`` name of each delivery), ``masks`` (:class:`hftos.proc.SignalMasks` read
    from ``/proc/self/status`` while the signals were pending) and ``status_lines`` (those lines, raw).
    ``sigpending_limit`` lowers the helper's soft ``RLIMIT_SIGPENDING`` first (the limit counts every signal
    queued for this *user*, in all of the user's processes, so fewer may be accepted than the limit says).
    """
    signo = _signo(kind)
    if sigpending_limit is not None and (isinstance(sigpending_limit, bool) or not isinstance(sigpending_limit, int)
                                         or sigpending_limit < 0):
        raise ValueError(f"sigpending_limit must be a non-negative int or None, got {sigpending_limit!r}")
    sends = count(sends, "sends")
    if sends > 4096:
        raise ValueError(f"sends must be at most 4096, got {sends}")
    if directed not in ("process", "thread"):
        raise ValueError(f"directed must be 'process' or 'thread', got {directed!r}")
    _lib()
    r = runner.run(_coalesce_in_helper, timeout=timeout, signo=signo, sends=sends, directed=int(directed == "thread"),
                   sigpending_limit=sigpending_limit)
    text = r.pop("status_text")
    r["codes"] = [si_code_name(x) for x in r["codes"]]
    r.update(kind=kind, signal=proc.signal_name(signo), signo=signo, sends=sends, directed=directed,
             refused_errno_name=_errno.errorcode.get(r["refused_errno"], "") if r["refused_errno"] else "",
             masks=proc.parse_signal_masks(text),
             status_lines=[ln for ln in text.splitlines() if ln.startswith(("SigQ", "SigPnd", "ShdPnd", "SigBlk"))])
    return r


def _python_coalesce_in_helper(signo: int, sends: int) -> dict[str, Any]:
    """Runs in the helper: the same experiment with a Python handler, then counted with sigtimedwait."""
    calls = []
    signal.signal(signo, lambda s, f: calls.append(s))
    me = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signo})
    for _ in range(sends):
        os.kill(me, signo)
    pending = signo in signal.sigpending()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signo})   # the kernel delivers all pending instances here
    time.sleep(0.01)                                        # plenty of bytecodes and flag checks since then
    handler_count = len(calls)
    # The same sends, counted by taking the signals synchronously: one sigtimedwait per queued signal.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signo})
    for _ in range(sends):
        os.kill(me, signo)
    taken = 0
    while signal.sigtimedwait({signo}, 0) is not None:
        taken += 1
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signo})
    signal.signal(signo, signal.SIG_DFL)
    return {"pending_while_blocked": pending, "python_handler_calls": handler_count, "sigtimedwait_count": taken}


def python_coalescing(kind: str = "standard", sends: int = 5, *, timeout: float = 30.0) -> dict[str, Any]:
    """The coalescing experiment in Python (in a helper process), counted two ways.

    ``python_handler_calls``: how often a Python handler ran after unblocking. CPython's C-level handler only
    sets a per-signal "tripped" flag and the Python handler runs later, between bytecodes, once per flag, so
    five real-time signals delivered back to back may run it once: **a Python handler can undercount**.
    ``sigtimedwait_count``: the same sends taken one at a time with ``signal.sigtimedwait`` (the kernel's real
    count: 1 for a standard signal, ``sends`` for a real-time one).
    """
    signo = _signo(kind)
    sends = count(sends, "sends")
    if sends > 1000:
        raise ValueError(f"sends must be at most 1000, got {sends}")
    r = runner.run(_python_coalesce_in_helper, timeout=timeout, signo=signo, sends=sends)
    r.update(kind=kind, signal=proc.signal_name(signo), sends=sends)
    return r


_PARKED = r"""
import os, signal, sys, threading
signal.signal(signal.SIGUSR2, lambda s, f: None)                 # caught
signal.signal(signal.SIGHUP, signal.SIG_IGN)                     # ignored
rt1, rt2 = signal.SIGRTMIN + 1, signal.SIGRTMIN + 2
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, rt1, rt2})
me = os.getpid()
for _ in range(3):
    os.kill(me, signal.SIGUSR1)                                  # process-directed: ShdPnd, coalesced
    os.kill(me, rt1)                                             # process-directed: ShdPnd, queued
for _ in range(2):
    signal.pthread_kill(threading.get_ident(), rt2)              # thread-directed: SigPnd, queued
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()                                                 # park until the parent closes our stdin
"""


@contextlib.contextmanager
def parked_process(timeout: float = 30.0) -> Iterator[int]:
    """A helper Python process with signals blocked and pending, one ignored and one caught; yields its PID.

    It blocks ``SIGUSR1``, ``SIGRTMIN+1`` and ``SIGRTMIN+2``; sends itself ``SIGUSR1`` and ``SIGRTMIN+1`` three
    times each with ``kill`` (process-directed: ``ShdPnd``) and ``SIGRTMIN+2`` twice with ``pthread_kill``
    (thread-directed: ``SigPnd``); ignores ``SIGHUP``; catches ``SIGUSR2``. Python itself adds its defaults
    (``SIGINT`` caught, ``SIGPIPE`` and ``SIGXFSZ`` ignored). Read it with :func:`hftos.proc.signal_masks`.
    The process is killed and reaped when the ``with`` block ends (and in any case after ``timeout`` s).
    """
    p = subprocess.Popen([sys.executable, "-c", _PARKED], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         start_new_session=True)
    try:
        assert p.stdout is not None
        import select
        ready, _, _ = select.select([p.stdout], [], [], timeout)
        if not ready or p.stdout.readline().strip() != b"ready":
            raise runner.HelperTimeout(_errno.ETIMEDOUT, "parked process did not become ready")
        yield p.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.communicate()


# ---------------------------------------------------------------------------------------- latency

_PY_RECEIVER = r"""
import os, signal, sys, time
ack, cpu = int(sys.argv[1]), int(sys.argv[2])
if cpu >= 0:
    os.sched_setaffinity(0, {cpu})
mono, write = time.monotonic_ns, os.write

def handler(signum, frame):          # runs in the main thread, between bytecodes, after the C-level handler
    write(ack, mono().to_bytes(8, "little", signed=True))

signal.signal(signal.SIGUSR1, handler)
write(ack, bytes(8))                 # ready
while True:
    signal.pause()
"""


def _latency_in_helper(kind: str, cpu_send: int, cpu_recv: int, warmup: int, iters: int, gap_us: int,
                       timeout_ms: int) -> np.ndarray:
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    ptr = c.ffi.cast("int64_t *", out.ctypes.data)
    if kind in _C_KINDS:
        rc = c.lib.sig_latency(_C_KINDS[kind], cpu_send, cpu_recv, warmup, iters, gap_us, timeout_ms, ptr)
        check(rc, f"signal latency ({kind})")
        return out
    r, w = os.pipe()
    p = subprocess.Popen([sys.executable, "-c", _PY_RECEIVER, str(w), str(cpu_recv)], pass_fds=(w,),
                         stdin=subprocess.DEVNULL)
    os.close(w)
    try:
        rc = c.lib.sig_latency_send(p.pid, r, cpu_send, warmup, iters, gap_us, max(timeout_ms, 10_000), ptr)
        check(rc, f"signal latency ({kind})")
    finally:
        p.kill()
        p.wait()
        os.close(r)
    return out


def signal_latency(kind: str, n: int | None = None, *, cpus: tuple[int | None, int | None] | None = None,
                   gap_us: int = 50, timeout: float = 60.0) -> Result:
    """Signal delivery latency (ns): ``kill()`` in a sender to the first instruction of the receiving code.

    ``kind`` is the receiver (a separate process, blocked waiting for the signal): ``"c-handler"`` (a C
    ``SA_SIGINFO`` handler, the process waits in ``pause()``), ``"signalfd"`` (the signal blocked and read from a
    ``signalfd``), ``"sigwaitinfo"`` (blocked and taken with ``sigwaitinfo``), or ``"python-handler"`` (a Python
    ``signal.signal`` handler, the process waits in ``signal.pause()``). Each sample is the receiver's
    ``CLOCK_MONOTONIC`` time when its code runs minus the sender's just before ``kill(2)``; the receiver sends
    its time back over a pipe, which also paces the rounds. ``gap_us`` is a pause between rounds.

    ``cpus=(sender, receiver)``: ``(0, 1)`` cross-CPU (a wake-up IPI), ``(0, 0)`` the same CPU (a context
    switch); default: the first two allowed CPUs, or one CPU for both if only one is allowed.
    """
    if kind not in LATENCY_KINDS:
        raise ValueError(f"kind must be one of {', '.join(LATENCY_KINDS)}, got {kind!r}")
    iters = count(n if n is not None else scaled(3000, full=20000, smoke=200))
    if isinstance(gap_us, bool) or not isinstance(gap_us, int) or not 0 <= gap_us <= 100_000:
        raise ValueError(f"gap_us must be an int from 0 to 100000, got {gap_us!r}")
    cross = cpus is None and len(os.sched_getaffinity(0)) >= 2
    cpu_s, cpu_r = cpu_pair(cpus, cross=cross)
    warmup = max(20, iters // 20)
    _lib()
    samples = runner.run(_latency_in_helper, timeout=timeout, kind=kind, cpu_send=cpu_s, cpu_recv=cpu_r,
                         warmup=warmup, iters=iters, gap_us=gap_us, timeout_ms=2000)
    where = "same CPU" if cpu_s == cpu_r and cpu_s >= 0 else ("cross-CPU" if cpu_s >= 0 and cpu_r >= 0 else "unpinned")
    return Result.from_samples(
        f"{kind}, {where}", samples,
        method={"clock": "CLOCK_MONOTONIC", "signal": "SIGUSR1 via kill()", "receiver": kind,
                "cpus": (cpu_s, cpu_r), "placement": where, "iterations": iters, "warmup": warmup, "gap_us": gap_us,
                "sample": "receiver's clock when its code runs minus sender's clock just before kill()"})


def python_signal_latency(n: int | None = None, *, cpus: tuple[int | None, int | None] | None = None,
                          gap_us: int = 50, timeout: float = 60.0) -> Result:
    """:func:`signal_latency` with a Python handler as the receiver (a separate Python process)."""
    return signal_latency("python-handler", n, cpus=cpus, gap_us=gap_us, timeout=timeout)


# ---------------------------------------------------------------------------------------- EINTR

def _eintr_in_helper(restart: bool, signal_ms: int, data_ms: int) -> list[int]:
    c = _lib()
    out = c.ffi.new("int64_t[5]")
    check(c.lib.sig_eintr_read(int(restart), signal_ms, data_ms, out), "EINTR demo")
    return [int(out[i]) for i in range(5)]


def eintr_read(restart: bool, *, signal_ms: int = 50, data_ms: int = 100, timeout: float = 30.0) -> dict[str, Any]:
    """A blocking ``read()`` on an empty pipe, hit by a handled ``SIGUSR1`` after ``signal_ms``; a byte arrives
    ``data_ms`` later. ``restart=True`` installs the handler with ``SA_RESTART``.

    Returns ``returned`` (read's return value: 1, or -1), ``errno``/``errno_name`` (``EINTR`` without
    ``SA_RESTART``), ``handler_calls``, ``handler_after_ms`` and ``returned_after_ms`` (from the start of the read).
    """
    for name, v in (("signal_ms", signal_ms), ("data_ms", data_ms)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5000:
            raise ValueError(f"{name} must be an int from 1 to 5000, got {v!r}")
    _lib()
    ret, err, calls, th, tr = runner.run(_eintr_in_helper, timeout=timeout, restart=bool(restart),
                                         signal_ms=signal_ms, data_ms=data_ms)
    return {"restart": bool(restart), "flags": "SA_RESTART" if restart else "0", "returned": ret, "errno": err,
            "errno_name": _errno.errorcode.get(err, "0") if err else "0", "handler_calls": calls,
            "handler_after_ms": th / 1000 if th >= 0 else None, "returned_after_ms": tr / 1000}


def _python_eintr_in_helper(handler_raises: bool, signal_ms: int, data_ms: int) -> dict[str, Any]:
    calls: list[float] = []
    t0 = time.monotonic()

    def handler(signum: int, frame: Any) -> None:
        calls.append(time.monotonic() - t0)
        if handler_raises:
            raise TimeoutError("raised by the signal handler")

    signal.signal(signal.SIGUSR1, handler)
    r, w = os.pipe()
    parent = os.getpid()
    pid = os.fork()                       # this helper process is single-threaded: fork is safe here
    if pid == 0:
        try:
            time.sleep(signal_ms / 1000)
            os.kill(parent, signal.SIGUSR1)
            time.sleep(data_ms / 1000)
            os.write(w, b"x")
        finally:
            os._exit(0)
    outcome: str
    t0 = time.monotonic()
    try:
        data = os.read(r, 1)              # PEP 475: retried after the handler unless the handler raised
        outcome = f"returned {data!r}"
    except Exception as exc:  # noqa: BLE001 - showing what propagates is the point
        outcome = f"raised {type(exc).__name__}: {exc}"
    elapsed = time.monotonic() - t0
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(r)
    os.close(w)
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    return {"handler_raises": handler_raises, "outcome": outcome, "handler_calls": len(calls),
            "handler_after_ms": calls[0] * 1000 if calls else None, "returned_after_ms": elapsed * 1000}


def python_eintr_read(handler_raises: bool = False, *, signal_ms: int = 50, data_ms: int = 100,
                      timeout: float = 30.0) -> dict[str, Any]:
    """The same interrupted read in Python: since Python 3.5 (PEP 475) ``os.read`` is retried after the
    handler returns; if the handler raises, the exception propagates out of ``os.read`` instead."""
    for name, v in (("signal_ms", signal_ms), ("data_ms", data_ms)):
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5000:
            raise ValueError(f"{name} must be an int from 1 to 5000, got {v!r}")
    return runner.run(_python_eintr_in_helper, timeout=timeout, handler_raises=bool(handler_raises),
                      signal_ms=signal_ms, data_ms=data_ms)


# ---------------------------------------------------------------------------------------- sigaction flags

def _flags_in_helper(flags: int, reraise: bool) -> list[int]:
    c = _lib()
    out = c.ffi.new("int[7]")
    check(c.lib.sig_flags(flags, int(reraise), out), "sigaction flags demo")
    return [int(out[i]) for i in range(7)]


def sigaction_flags(flags: Iterable[str] = (), *, reraise: bool = False, timeout: float = 30.0) -> dict[str, Any]:
    """Install a C handler for ``SIGUSR2`` with the named ``sa_flags`` (``SA_SIGINFO`` is always added), queue one
    ``SIGUSR2`` with value 42, and report what happened.

    ``reraise=True``: the handler sends itself the same signal once more from inside; with ``SA_NODEFER`` it is
    re-entered at once (``max_depth`` 2), without it the second delivery waits until the first handler returns
    (``max_depth`` 1). Not allowed with ``SA_RESETHAND`` (the second signal would kill the helper).
    Returns ``calls``, ``max_depth``, ``si_code``, ``si_pid_is_self``, ``si_value``, ``on_altstack``,
    ``reset_to_default``.
    """
    names = list(flags)
    bad = [f for f in names if f not in FLAG_NAMES]
    if bad:
        raise ValueError(f"unknown flag(s) {bad}; known: {', '.join(FLAG_NAMES)}")
    if reraise and "SA_RESETHAND" in names:
        raise ValueError("reraise=True with SA_RESETHAND would kill the process with the default action")
    c = _lib()
    value = 0
    for f in names:
        value |= int(getattr(c.lib, f)) & 0xFFFFFFFF
    if value >= 2**31:                      # sa_flags is a C int; SA_RESETHAND is its top bit
        value -= 2**32
    out = runner.run(_flags_in_helper, timeout=timeout, flags=value, reraise=bool(reraise))
    return {"flags": " | ".join(names) or "0", "calls": out[0], "max_depth": out[1], "si_code": si_code_name(out[2]),
            "si_pid_is_self": bool(out[3]), "si_value": out[4], "on_altstack": bool(out[5]),
            "reset_to_default": bool(out[6])}


# ---------------------------------------------------------------------------------------- a lock in a handler

def _lock_in_helper(safe: bool, wait_ms: int) -> dict[str, Any]:
    c = _lib()
    out = c.ffi.new("int[3]")
    bufs = [c.ffi.new("char[]", 1024) for _ in range(3)]
    check(c.lib.sig_handler_lock(int(safe), wait_ms, out, *bufs, 1024), "handler lock demo")
    stat_text, wchan, syscall = (c.ffi.string(b).decode(errors="replace").strip() for b in bufs)
    state = ""
    if stat_text:
        with contextlib.suppress(ValueError):
            state = proc.parse_stat(stat_text).state
    return {"finished": bool(out[0]), "exit_status": out[1], "waited_ms": out[2], "state": state,
            "wchan": wchan, "syscall": syscall.split()[0] if syscall else ""}


def handler_lock(safe: bool, *, wait_ms: int = 300, timeout: float = 30.0) -> dict[str, Any]:
    """A signal arrives while the code holds a (non-recursive) lock; the handler logs through the same lock.

    ``safe=False``: the handler calls the locking logger and the child never finishes (a self-deadlock: the lock's
    owner is the very thread the handler interrupted). The parent gives up after ``wait_ms``, reads the child's
    state (``S``), ``wchan`` and current system call from ``/proc`` and kills it. ``safe=True``: the handler only
    sets a ``volatile sig_atomic_t`` flag and the main code logs after unlocking; the child finishes.
    Returns ``finished``, ``exit_status``, ``waited_ms``, ``state``, ``wchan``, ``syscall`` (number, or ``running``).
    """
    if isinstance(wait_ms, bool) or not isinstance(wait_ms, int) or not 10 <= wait_ms <= 10_000:
        raise ValueError(f"wait_ms must be an int from 10 to 10000, got {wait_ms!r}")
    _lib()
    return runner.run(_lock_in_helper, timeout=timeout, safe=bool(safe), wait_ms=wait_ms)
