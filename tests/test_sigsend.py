"""hftos.sigsend: the signal arrives during the blocking read, and bad arguments are refused."""

from __future__ import annotations

import ctypes
import os
import signal

import pytest

from hftos import sigsend


def _interrupted_read(restart: bool) -> tuple[int, int]:
    """In a forked child: block in libc read() while the sender signals; return (read's result, errno)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            data_r, data_w = os.pipe()
            signal.signal(signal.SIGUSR1, lambda s, f: None)
            signal.siginterrupt(signal.SIGUSR1, not restart)
            sender = sigsend.interrupt_when_blocked(os.getpid(), signal.SIGUSR1, data_w, after_s=0.05)
            buf = ctypes.create_string_buffer(1)
            ret = libc.read(data_r, buf, 1)
            err = ctypes.get_errno() if ret < 0 else 0
            os.waitpid(sender, 0)
            os.write(w, f"{ret} {err}".encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        data = os.read(r, 64)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    ret, err = map(int, data.split())
    return ret, err


@pytest.mark.parametrize("restart,expected", [(False, (-1, 4)), (True, (1, 0))])
def test_read_is_interrupted_or_restarted(restart: bool, expected: tuple[int, int]) -> None:
    for _ in range(3):
        assert _interrupted_read(restart) == expected


def test_state_and_bad_arguments() -> None:
    assert sigsend.process_state(os.getpid()) == "R"
    with pytest.raises(ValueError):
        sigsend.interrupt_when_blocked(os.getpid(), signal.SIGKILL, 1)
    with pytest.raises(ValueError):
        sigsend.interrupt_when_blocked(os.getpid(), signal.SIGUSR1, 1, after_s=0)
