"""CPU exceptions and the signals they become (``sigfaults.c``, course section 5.4; Lab 5).

:func:`fault_signal` provokes one fault of a known kind in a throw-away child process and returns what
the child's ``SA_SIGINFO`` handler saw: the signal, its ``si_code`` (with its name, e.g.
``SEGV_MAPERR``), ``si_addr`` and whether that is the faulting address. It is deterministic: the same
kind gives the same signal and ``si_code`` on every Linux host of the same architecture.

Where it runs: :mod:`hftos.native.runner` starts a helper process; in it, C forks the child that
faults (the helper never faults itself). The child disables its own core dumps first
(``RLIMIT_CORE`` 0, ``PR_SET_DUMPABLE`` 0), so nothing is ever written to disk; the file for
``file_past_eof`` is one page in a private temporary directory, removed afterwards.

Kinds (:data:`FAULT_KINDS`, in this order):

============================ ============================================== ===========================
kind                         what the child does                            expected ``signal/si_code``
============================ ============================================== ===========================
``unmapped``                 reads a page it has just ``munmap``-ed         ``SIGSEGV/SEGV_MAPERR``
``readonly_write``           writes to a ``PROT_READ`` mapping              ``SIGSEGV/SEGV_ACCERR``
``prot_none_read``           reads a ``PROT_NONE`` page                     ``SIGSEGV/SEGV_ACCERR``
``file_past_eof``            reads page 2 of a mapped one-page file         ``SIGBUS/BUS_ADRERR``
``stack_overflow``           recurses past ``RLIMIT_STACK``; handler on     ``SIGSEGV/SEGV_MAPERR``
                             a ``sigaltstack``
``stack_overflow_no_altstack`` the same without an alternate stack          killed by ``SIGSEGV``
``div_zero`` (x86-64)        ``divl`` by zero                               ``SIGFPE/FPE_INTDIV``
``ud2`` (x86-64)             the undefined instruction ``ud2``              ``SIGILL/ILL_ILLOPN``
``int3`` (x86-64)            the breakpoint instruction ``int3``            ``SIGTRAP/SI_KERNEL``
``privileged`` (x86-64)      ``hlt`` in user mode (general protection)      ``SIGSEGV/SI_KERNEL``
``noncanonical`` (x86-64)    reads address ``0x8000000000000000``           ``SIGSEGV/SI_KERNEL``
============================ ============================================== ===========================

The x86-64 kinds return ``outcome="not on this architecture"`` elsewhere (arm64's ``udiv``/``sdiv``
return 0 for a zero divisor and never trap). The first four kinds are architecture-independent.
"""

from __future__ import annotations

import errno as _errno
import os
import platform
import shutil
import signal
import tempfile
from typing import Any, Sequence

from . import build, runner
from .checks import NativeError, check

_CDEF = """
struct sf_result {
    int32_t outcome, signo, code, err;
    uint64_t addr, expect, ip, insn, deepest;
};
int sigfault_run(int kind, int file_fd, int timeout_ms, struct sf_result *out);
int crash_run(int kind, int log_fd, int file_fd, int timeout_ms, int *term_sig, int *exit_code);
int uffd_probe(int flags);
"""

#: kind -> (C enum value, what the child does, x86-64 only?)
_KINDS: dict[str, tuple[int, str, bool]] = {
    "unmapped": (0, "read a page that was just munmap()ed", False),
    "readonly_write": (1, "write to a PROT_READ mapping", False),
    "prot_none_read": (2, "read a PROT_NONE page", False),
    "file_past_eof": (3, "read page 2 of a mapping of a one-page file", False),
    "stack_overflow": (4, "recurse past RLIMIT_STACK, handler on a sigaltstack", False),
    "stack_overflow_no_altstack": (5, "recurse past RLIMIT_STACK, no alternate stack", False),
    "div_zero": (6, "integer division by zero (divl)", True),
    "ud2": (7, "execute ud2 (undefined instruction)", True),
    "int3": (8, "execute int3 (breakpoint)", True),
    "privileged": (9, "execute hlt in user mode (general protection)", True),
    "noncanonical": (10, "read non-canonical address 0x8000000000000000", True),
}

#: Every fault kind, in table order.
FAULT_KINDS: tuple[str, ...] = tuple(_KINDS)

#: The kinds that behave the same on every architecture (Lab 5's classification task).
PORTABLE_KINDS: tuple[str, ...] = tuple(k for k, v in _KINDS.items() if not v[2])

_OUTCOMES = {0: "handled", 1: "no signal", 2: "killed", 3: "timeout", 4: "failed"}

#: ``si_code`` names from ``<asm-generic/siginfo.h>``, per signal, plus the generic ones.
_SI_CODES: dict[int, dict[int, str]] = {
    signal.SIGSEGV: {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR", 5: "SEGV_ACCADI",
                     6: "SEGV_ADIDERR", 7: "SEGV_ADIPERR", 8: "SEGV_MTEAERR", 9: "SEGV_MTESERR", 10: "SEGV_CPERR"},
    signal.SIGBUS: {1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR", 4: "BUS_MCEERR_AR", 5: "BUS_MCEERR_AO"},
    signal.SIGFPE: {1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV", 4: "FPE_FLTOVF", 5: "FPE_FLTUND",
                    6: "FPE_FLTRES", 7: "FPE_FLTINV", 8: "FPE_FLTSUB", 14: "FPE_FLTUNK", 15: "FPE_CONDTRAP"},
    signal.SIGILL: {1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP", 5: "ILL_PRVOPC",
                    6: "ILL_PRVREG", 7: "ILL_COPROC", 8: "ILL_BADSTK", 9: "ILL_BADIADDR"},
    signal.SIGTRAP: {1: "TRAP_BRKPT", 2: "TRAP_TRACE", 3: "TRAP_BRANCH", 4: "TRAP_HWBKPT", 5: "TRAP_UNK",
                     6: "TRAP_PERF"},
}
_GENERIC_CODES = {0x80: "SI_KERNEL", 0: "SI_USER", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ",
                  -4: "SI_ASYNCIO", -5: "SI_SIGIO", -6: "SI_TKILL"}

#: ``flags`` for :func:`userfaultfd_probe` (``<linux/userfaultfd.h>``).
UFFD_USER_MODE_ONLY = 1


def _lib() -> build.Compiled:
    return build.load("sigfaults", _CDEF)


def si_code_name(signo: int, code: int) -> str:
    """The name of ``si_code`` ``code`` for signal ``signo`` (``SEGV_MAPERR``, ``SI_KERNEL``, ...).

    Signal-specific codes are positive and small; the generic ones (``SI_KERNEL`` = 0x80, ``SI_USER`` = 0,
    negative values for ``sigqueue``, timers, ``tkill``) apply to every signal. Unknown codes read ``"code N"``.
    """
    if code in _GENERIC_CODES and not (0 < code < 0x80):
        return _GENERIC_CODES[code]
    return _SI_CODES.get(signo, {}).get(code, f"code {code}")


def signal_name(signo: int) -> str:
    """``"SIGSEGV"`` for 11 (on this host's numbering); ``"signal N"`` if unknown."""
    try:
        return signal.Signals(signo).name
    except ValueError:
        return f"signal {signo}"


def _check_kind(kind: str) -> tuple[int, str, bool]:
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    return _KINDS[kind]


def _is_x86_64() -> bool:
    return platform.machine() in ("x86_64", "AMD64", "amd64")


def _base(kind: str) -> dict[str, Any]:
    return {"kind": kind, "description": _KINDS[kind][1], "arch": platform.machine(), "outcome": None,
            "signal": None, "signo": None, "si_code": None, "si_code_name": None, "label": None, "si_addr": None,
            "expected_addr": None, "addr_is_fault_addr": None, "addr_note": "", "ip": None, "insn": None}


def _interpret(kind: str, raw: dict[str, int]) -> dict[str, Any]:
    """Turn the C record into the documented dict."""
    d = _base(kind)
    outcome = _OUTCOMES.get(raw["outcome"], "failed")
    d["outcome"] = outcome
    if outcome == "failed":
        d["addr_note"] = f"the child could not set up the fault: {os.strerror(raw['err'])}"
        return d
    if outcome == "timeout":
        d["addr_note"] = "the child did not finish in time and was killed"
        return d
    if outcome == "no signal":
        d["label"] = "no signal"
        d["addr_note"] = "the operation completed without a trap"
        return d
    d["signo"] = raw["signo"]
    d["signal"] = signal_name(raw["signo"])
    if outcome == "killed":
        d["label"] = f"killed by {d['signal']}"
        d["addr_note"] = "no handler ran: the kernel could not build the handler's frame on the full stack"
        return d
    d["si_code"] = raw["code"]
    d["si_code_name"] = si_code_name(raw["signo"], raw["code"])
    d["label"] = f"{d['signal']}/{d['si_code_name']}"
    addr, expect, insn, ip = raw["addr"], raw["expect"], raw["insn"], raw["ip"]
    d["si_addr"], d["ip"] = addr, ip or None
    d["insn"] = insn or None
    if kind.startswith("stack_overflow"):
        below = raw["deepest"] - addr
        d["expected_addr"] = raw["deepest"]
        d["addr_is_fault_addr"] = 0 < below <= 8192
        d["addr_note"] = f"si_addr is {below} bytes below the deepest stack frame reached"
    elif raw["code"] == 0x80:  # SI_KERNEL: force_sig() carries no address
        d["expected_addr"] = 0
        d["addr_is_fault_addr"] = False
        d["addr_note"] = "SI_KERNEL: the kernel sent the signal without an address (si_addr reads 0)"
        if insn and ip:
            d["addr_note"] += f"; saved IP = instruction {'+ ' + str(ip - insn) if ip != insn else 'itself'}"
    elif insn and not expect:  # an instruction fault: si_addr should be the instruction
        d["expected_addr"] = insn
        d["addr_is_fault_addr"] = addr == insn
        d["addr_note"] = "si_addr is the faulting instruction" if addr == insn else "si_addr is not the instruction"
    else:  # a data fault: si_addr should be the address touched
        d["expected_addr"] = expect
        d["addr_is_fault_addr"] = addr == expect
        d["addr_note"] = "si_addr is the address touched" if addr == expect else "si_addr differs from the address touched"
    return d


def _raw(c: build.Compiled, kind_id: int, file_fd: int, timeout_ms: int) -> dict[str, int]:
    out = c.ffi.new("struct sf_result *")
    check(c.lib.sigfault_run(kind_id, file_fd, timeout_ms, out), "sigfault_run")
    return {f: int(getattr(out, f)) for f in ("outcome", "signo", "code", "err", "addr", "expect", "ip", "insn",
                                              "deepest")}


def _in_helper(kinds: list[str], timeout_ms: int) -> list[dict[str, Any]]:
    """Runs inside the helper process: one forked child per kind."""
    c = _lib()
    tmp = tempfile.mkdtemp(prefix=f"{runner.run_prefix()}-sigfaults-")
    results = []
    try:
        for kind in kinds:
            kind_id, _, x86_only = _KINDS[kind]
            if x86_only and not _is_x86_64():
                d = _base(kind)
                d["outcome"] = d["label"] = "not on this architecture"
                d["addr_note"] = ("arm64 integer division by zero returns 0 and does not trap" if kind == "div_zero"
                                  else "an x86-64 instruction")
                results.append(d)
                continue
            fd = -1
            if kind == "file_past_eof":
                fd = os.open(os.path.join(tmp, "one_page"), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                results.append(_interpret(kind, _raw(c, kind_id, fd, timeout_ms)))
            finally:
                if fd >= 0:
                    os.close(fd)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def fault_signals(kinds: Sequence[str] | None = None, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """:func:`fault_signal` for several kinds (default: all of :data:`FAULT_KINDS`) in one helper process."""
    names = list(FAULT_KINDS if kinds is None else kinds)
    if not names:
        raise ValueError("no fault kinds given")
    for k in names:
        _check_kind(k)
    if not (isinstance(timeout, (int, float)) and 0 < timeout <= 600):
        raise ValueError(f"timeout must be a number of seconds in (0, 600], got {timeout!r}")
    per_kind_ms = max(1000, int(timeout * 1000 / (len(names) + 1)))
    _lib()  # compile here, so the helper's time limit covers only the faults
    return runner.run(_in_helper, timeout=timeout + 5, kinds=names, timeout_ms=per_kind_ms)


def fault_signal(kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """Provoke one fault of ``kind`` (see :data:`FAULT_KINDS`) in a child process; return what its handler saw.

    Keys of the returned dict:

    - ``kind``, ``description``, ``arch`` (``platform.machine()``);
    - ``outcome``: ``"handled"`` (the handler caught a signal), ``"killed"`` (the child died by a signal
      without a handler running: ``stack_overflow_no_altstack``), ``"no signal"`` (the operation did not
      trap), ``"not on this architecture"`` (an x86-64 kind elsewhere), ``"timeout"`` or ``"failed"``;
    - ``signal`` (``"SIGSEGV"``), ``signo``, ``si_code`` (int), ``si_code_name`` (``"SEGV_MAPERR"``) and
      ``label``: ``"SIGSEGV/SEGV_MAPERR"``, ``"killed by SIGSEGV"`` or the outcome;
    - ``si_addr``; ``expected_addr`` (the data address touched, or the faulting instruction for
      instruction faults, or the deepest stack frame for the stack kinds); ``addr_is_fault_addr``
      (bool, ``None`` when no handler ran) and ``addr_note`` (one sentence);
    - ``ip`` (the program counter saved in the handler's context) and ``insn`` (the faulting
      instruction's address, x86-64 kinds only).

    Addresses differ from run to run (ASLR); ``signal``, ``si_code`` and ``addr_is_fault_addr`` do not.
    Raises ``ValueError`` for an unknown kind, :class:`~hftos.native.NativeError` if the helper fails.
    """
    _check_kind(kind)
    return fault_signals([kind], timeout=timeout)[0]


# ---------------------------------------------------------------------------------- crash handler (5.5)

def _crash_in_helper(kind: str, timeout_ms: int) -> dict[str, Any]:
    c = _lib()
    tmp = tempfile.mkdtemp(prefix=f"{runner.run_prefix()}-crash-")
    try:
        log_path = os.path.join(tmp, "crash.log")
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        file_fd = -1
        if kind == "file_past_eof":
            file_fd = os.open(os.path.join(tmp, "one_page"), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            sig, code = c.ffi.new("int *"), c.ffi.new("int *")
            check(c.lib.crash_run(_KINDS[kind][0], log_fd, file_fd, timeout_ms, sig, code), "crash_run")
        finally:
            os.close(log_fd)
            if file_fd >= 0:
                os.close(file_fd)
        with open(log_path) as f:
            record = f.read()
        return {"record": record, "term_signal": int(sig[0]), "exit_code": int(code[0])}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def crash_record(kind: str = "unmapped", *, timeout: float = 10.0) -> dict[str, Any]:
    """Run the crash handler of ``crash_run`` (section 5.5) against one fault of ``kind``.

    The child's handler writes one line (``CRASH t=... pid=... tid=... sig=... code=... addr=... ip=...``)
    with ``write()`` to a log file opened before the fault, then restores the default action and re-raises,
    so the child dies by the signal. Returns ``{"record": the line(s) written, "killed_by": signal name or
    None, "exit_code": int or None, "fields": the record parsed into a dict}``; the log file lives in a
    private temporary directory that is removed afterwards.
    """
    _, _, x86_only = _check_kind(kind)
    if x86_only and not _is_x86_64():
        raise ValueError(f"fault kind {kind!r} exists only on x86-64")
    _lib()
    raw = runner.run(_crash_in_helper, timeout=timeout + 5, kind=kind, timeout_ms=int(timeout * 1000))
    fields: dict[str, str] = {}
    for line in raw["record"].splitlines()[:1]:
        for part in line.split()[1:]:
            key, _, value = part.partition("=")
            fields[key] = value
    return {"record": raw["record"], "killed_by": signal_name(raw["term_signal"]) if raw["term_signal"] else None,
            "exit_code": raw["exit_code"] if raw["exit_code"] >= 0 else None, "fields": fields}


# ---------------------------------------------------------------------------------- userfaultfd

def userfaultfd_probe() -> dict[str, str]:
    """May this process create a userfaultfd? Tries ``userfaultfd(0)`` and ``userfaultfd(UFFD_USER_MODE_ONLY)``.

    Returns ``{"all faults": "allowed" | errno name, "user-mode faults only": ...}``. Each successful call's
    descriptor is closed at once; nothing is registered, so this changes nothing. ``ENOSYS`` means the
    kernel was built without ``CONFIG_USERFAULTFD``.
    """
    c = _lib()
    out = {}
    for label, flags in (("all faults", 0), ("user-mode faults only", UFFD_USER_MODE_ONLY)):
        rc = c.lib.uffd_probe(flags)
        out[label] = "allowed" if rc == 0 else _errno.errorcode.get(-rc, str(-rc))
    return out


__all__ = ["FAULT_KINDS", "PORTABLE_KINDS", "UFFD_USER_MODE_ONLY", "crash_record", "fault_signal", "fault_signals",
           "si_code_name", "signal_name", "userfaultfd_probe", "NativeError"]
