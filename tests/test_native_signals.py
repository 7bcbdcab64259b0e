"""hftos.native.signals: queueing, delivery latency, EINTR, sigaction flags, a lock in a handler.

Counts and flags are exact (the kernel's rules are deterministic); latencies are only checked for shape.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest

from hftos import native, proc
from hftos.native import signals


def test_standard_signal_coalesces_and_realtime_queues() -> None:
    std = signals.signal_coalescing("standard", 5)
    assert std["accepted"] == 5 and std["delivered"] == 1 and std["values"] == [1]
    assert std["signal"] == "SIGUSR1" and std["codes"] == ["SI_QUEUE"]
    assert signal.SIGUSR1 in std["masks"].shared_pending and signal.SIGUSR1 in std["masks"].blocked
    rt = signals.signal_coalescing("realtime", 5)
    assert rt["delivered"] == 5 and rt["values"] == [1, 2, 3, 4, 5], "real-time signals queue, in order"
    assert rt["signal"] == "SIGRTMIN+1" and rt["masks"].queued >= 5


def test_thread_directed_signal_is_in_the_threads_own_set() -> None:
    r = signals.signal_coalescing("realtime", 3, directed="thread")
    assert r["delivered"] == 3
    assert r["signo"] in r["masks"].pending and r["signo"] not in r["masks"].shared_pending


def test_python_handler_undercounts_but_sigtimedwait_does_not() -> None:
    std = signals.python_coalescing("standard", 5)
    assert std["pending_while_blocked"] and std["sigtimedwait_count"] == 1 and std["python_handler_calls"] == 1
    rt = signals.python_coalescing("realtime", 5)
    assert rt["sigtimedwait_count"] == 5
    assert 1 <= rt["python_handler_calls"] <= 5


def test_parked_process_shows_its_masks() -> None:
    with signals.parked_process() as pid:
        m = proc.signal_masks(pid)
    rt1, rt2 = signal.SIGRTMIN + 1, signal.SIGRTMIN + 2
    assert set(m.blocked) >= {signal.SIGUSR1, rt1, rt2}
    assert set(m.shared_pending) >= {signal.SIGUSR1, rt1} and rt2 in m.pending
    assert signal.SIGHUP in m.ignored and signal.SIGUSR2 in m.caught
    with pytest.raises(ProcessLookupError):
        proc.signal_masks(pid)


def test_kernel_and_glibc_sigrtmin() -> None:
    k = signals.kernel_sigrtmin()
    assert k["kernel_SIGRTMIN"] == 32 and k["glibc_SIGRTMIN"] == signal.SIGRTMIN >= 32 and k["SIGRTMAX"] == 64


@pytest.mark.parametrize("kind", signals.LATENCY_KINDS)
def test_latency_samples_are_sane(kind: str) -> None:
    cpu = native.allowed_cpus()[0]
    r = signals.signal_latency(kind, 50, cpus=(cpu, cpu), gap_us=0)
    assert r.samples.shape == (50,) and np.all(np.isfinite(r.samples)) and np.all(r.samples > 0)
    assert r.method["receiver"] == kind and r.method["placement"] == "same CPU"


def test_eintr_with_and_without_sa_restart() -> None:
    plain = signals.eintr_read(False, signal_ms=20, data_ms=40)
    assert plain["returned"] == -1 and plain["errno_name"] == "EINTR" and plain["handler_calls"] == 1
    restarted = signals.eintr_read(True, signal_ms=20, data_ms=40)
    assert restarted["returned"] == 1 and restarted["errno"] == 0 and restarted["handler_calls"] == 1
    assert restarted["returned_after_ms"] > restarted["handler_after_ms"]


def test_python_retries_unless_the_handler_raises() -> None:
    assert signals.python_eintr_read(False, signal_ms=20, data_ms=40)["outcome"] == "returned b'x'"
    raised = signals.python_eintr_read(True, signal_ms=20, data_ms=40)
    assert raised["outcome"].startswith("raised TimeoutError") and raised["handler_calls"] == 1


def test_sigaction_flags_do_what_the_man_page_says() -> None:
    base = signals.sigaction_flags()
    assert base["si_code"] == "SI_QUEUE" and base["si_value"] == 42 and base["si_pid_is_self"]
    assert not base["on_altstack"] and not base["reset_to_default"]
    assert signals.sigaction_flags(["SA_ONSTACK"])["on_altstack"]
    assert signals.sigaction_flags(["SA_RESETHAND"])["reset_to_default"]
    assert signals.sigaction_flags(["SA_NODEFER"], reraise=True)["max_depth"] == 2
    deferred = signals.sigaction_flags([], reraise=True)
    assert deferred["max_depth"] == 1 and deferred["calls"] == 2


def test_a_lock_in_a_handler_never_returns_and_a_flag_does() -> None:
    bad = signals.handler_lock(False, wait_ms=100)
    assert not bad["finished"] and bad["state"] in ("S", "D")
    good = signals.handler_lock(True, wait_ms=2000)
    assert good["finished"] and good["exit_status"] == 0


@pytest.mark.parametrize("call", [
    lambda: signals.signal_coalescing("other"), lambda: signals.signal_coalescing("standard", 0),
    lambda: signals.signal_coalescing("standard", directed="group"), lambda: signals.signal_latency("rust"),
    lambda: signals.signal_latency("signalfd", 0), lambda: signals.signal_latency("signalfd", gap_us=-1),
    lambda: signals.signal_latency("signalfd", cpus=(4096, 4096)), lambda: signals.eintr_read(True, signal_ms=0),
    lambda: signals.sigaction_flags(["SA_FOO"]), lambda: signals.sigaction_flags(["SA_RESETHAND"], reraise=True),
    lambda: signals.handler_lock(False, wait_ms=1), lambda: signals.python_coalescing("realtime", 0),
])
def test_bad_arguments_raise_before_anything_runs(call) -> None:
    with pytest.raises(ValueError):
        call()
