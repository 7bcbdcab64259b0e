"""hftos.native.sigfaults: each fault kind gives its documented signal and si_code, and leaves nothing behind."""

from __future__ import annotations

import os
import platform
import signal

import pytest

from hftos import native
from hftos.native import runner, sigfaults

X86 = platform.machine() == "x86_64"

#: kind -> expected label on x86-64 (the portable ones hold everywhere).
EXPECTED = {
    "unmapped": "SIGSEGV/SEGV_MAPERR",
    "readonly_write": "SIGSEGV/SEGV_ACCERR",
    "prot_none_read": "SIGSEGV/SEGV_ACCERR",
    "file_past_eof": "SIGBUS/BUS_ADRERR",
    "stack_overflow": "SIGSEGV/SEGV_MAPERR",
    "stack_overflow_no_altstack": "killed by SIGSEGV",
    "div_zero": "SIGFPE/FPE_INTDIV",
    "ud2": "SIGILL/ILL_ILLOPN",
    "int3": "SIGTRAP/SI_KERNEL",
    "privileged": "SIGSEGV/SI_KERNEL",
    "noncanonical": "SIGSEGV/SI_KERNEL",
}


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


@pytest.fixture(scope="module")
def table() -> dict[str, dict]:
    return {d["kind"]: d for d in native.fault_signals()}


def test_kinds_are_documented_and_ordered() -> None:
    assert native.FAULT_KINDS == tuple(EXPECTED)
    assert sigfaults.PORTABLE_KINDS[:4] == ("unmapped", "readonly_write", "prot_none_read", "file_past_eof")
    for kind in native.FAULT_KINDS:
        assert f"``{kind}``" in sigfaults.__doc__


@pytest.mark.parametrize("kind", sigfaults.PORTABLE_KINDS)
def test_portable_kinds(table: dict, kind: str) -> None:
    d = table[kind]
    assert d["label"] == EXPECTED[kind], d
    if kind != "stack_overflow_no_altstack":
        assert d["outcome"] == "handled" and d["addr_is_fault_addr"] is True, d
        assert d["si_addr"] == d["expected_addr"] or kind == "stack_overflow"
    else:
        assert d["outcome"] == "killed" and d["si_code"] is None and d["addr_is_fault_addr"] is None


@pytest.mark.parametrize("kind", [k for k in EXPECTED if k not in sigfaults.PORTABLE_KINDS])
def test_x86_kinds(table: dict, kind: str) -> None:
    d = table[kind]
    if not X86:
        assert d["outcome"] == "not on this architecture"
        return
    assert d["outcome"] == "handled" and d["label"] == EXPECTED[kind], d
    if kind in ("div_zero", "ud2"):
        assert d["si_addr"] == d["insn"] == d["ip"], "a fault reports the faulting instruction"
    elif kind == "int3":
        assert d["si_addr"] == 0 and d["ip"] == d["insn"] + 1, "a trap resumes after the instruction"
    else:
        assert d["si_addr"] == 0 and d["si_code"] == 0x80


def test_single_kind_and_bad_arguments() -> None:
    d = native.fault_signal("unmapped")
    assert d["label"] == "SIGSEGV/SEGV_MAPERR" and d["signo"] == signal.SIGSEGV
    with pytest.raises(ValueError, match="unknown fault kind"):
        native.fault_signal("null")
    with pytest.raises(ValueError):
        native.fault_signals([])
    with pytest.raises(ValueError, match="timeout"):
        native.fault_signal("unmapped", timeout=-1)


def test_si_code_names() -> None:
    assert native.si_code_name(signal.SIGBUS, 4) == "BUS_MCEERR_AR"
    assert native.si_code_name(signal.SIGSEGV, 0x80) == "SI_KERNEL"
    assert native.si_code_name(signal.SIGUSR1, 0) == "SI_USER"
    assert native.si_code_name(signal.SIGFPE, 1) == "FPE_INTDIV"
    assert native.si_code_name(signal.SIGFPE, 99) == "code 99"


def test_crash_handler_writes_one_line_and_dies_by_the_signal() -> None:
    r = native.crash_record("unmapped")
    assert r["killed_by"] == "SIGSEGV" and r["exit_code"] is None
    assert r["record"].count("\n") == 1 and r["record"].startswith("CRASH t=")
    assert r["fields"]["sig"] == str(int(signal.SIGSEGV)) and r["fields"]["code"] == "1"
    assert int(r["fields"]["pid"]) > 0 and r["fields"]["addr"].startswith("0x")
    bus = native.crash_record("file_past_eof")
    assert bus["killed_by"] == "SIGBUS" and bus["fields"]["code"] == "2"


def test_userfaultfd_probe_answers() -> None:
    r = native.userfaultfd_probe()
    assert set(r) == {"all faults", "user-mode faults only"}
    assert all(v == "allowed" or v.startswith("E") for v in r.values())


def test_source_keeps_the_handler_async_signal_safe() -> None:
    src = native.source("sigfaults")
    handler = src[src.index("static void on_fault("):src.index("/* ---- the crash handler")]
    for forbidden in ("printf", "malloc", "exit(0)", "fprintf"):
        assert forbidden not in handler.replace("_exit(0)", "")
    assert "PR_SET_DUMPABLE" in src and "RLIMIT_CORE" in src
