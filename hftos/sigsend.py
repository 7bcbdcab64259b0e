"""Send a signal to a process at the moment it blocks: the interrupter for EINTR experiments (Lab 5, section 5.3).

:func:`interrupt_when_blocked` forks a small sender that polls the target's state in ``/proc/<pid>/stat`` until
it is sleeping (``S``: blocked in a system call such as ``read``), sends it a signal, waits a little, writes one
byte to a pipe so that a restarted ``read`` can complete, and ends with ``os._exit``. Waiting for ``S`` instead of
sleeping a fixed time makes the experiment deterministic on a loaded machine: the signal always arrives *during*
the blocking call, never before it.
"""

from __future__ import annotations

import os
import signal
import time

__all__ = ["interrupt_when_blocked", "process_state"]


def process_state(pid: int) -> str:
    """The state letter of ``pid`` (``R``, ``S``, ``D``, ``Z``, ...) from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return data[data.rindex(b")") + 2:][:1].decode()


def interrupt_when_blocked(pid: int, signo: int, wake_fd: int, *, after_s: float = 0.2,
                           timeout: float = 5.0) -> int:
    """Fork a sender: once ``pid`` is sleeping, send it ``signo``; ``after_s`` seconds later write one byte to
    ``wake_fd``; then exit. Returns the sender's pid: the caller must ``os.waitpid`` it.

    If ``pid`` is not seen sleeping within ``timeout`` seconds the signal is sent anyway (and the byte written),
    so the caller never blocks for ever. ``signo`` must be a valid signal number; ``after_s`` and ``timeout``
    positive.
    """
    if signo not in set(signal.valid_signals()) or signo in (signal.SIGKILL, signal.SIGSTOP):
        raise ValueError(f"signo must be a catchable signal number, got {signo!r}")
    if not (0 < after_s <= 10 and 0 < timeout <= 60):
        raise ValueError("after_s must be in (0, 10] and timeout in (0, 60] seconds")
    sender = os.fork()
    if sender == 0:  # the sender: poll, signal, wake, _exit
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and process_state(pid) != "S":
                time.sleep(0.001)
            time.sleep(0.01)  # still sleeping: the target is in its blocking call, not on its way out
            os.kill(pid, signo)
            time.sleep(after_s)
            os.write(wake_fd, b"x")
        finally:
            os._exit(0)
    return sender
