"""hftos.proc signal-mask decoding (/proc/<pid>/status SigQ, SigPnd, ShdPnd, SigBlk, SigIgn, SigCgt)."""

from __future__ import annotations

import os
import signal

import pytest

from hftos import proc

STATUS = """Name:\tdemo
Threads:\t1
SigQ:\t6/63499
SigPnd:\t0000000800000000
ShdPnd:\t0000000400000200
SigBlk:\t0000000c00000200
SigIgn:\t0000000001001001
SigCgt:\t0000000000000802
"""


def test_decode_sigset_by_hand() -> None:
    assert proc.decode_sigset("0000000000000000") == ()
    assert proc.decode_sigset("0000000000000201") == (1, 10)
    assert proc.decode_sigset("8000000000000000") == (64,)
    with pytest.raises(ValueError):
        proc.decode_sigset("xyz")


def test_parse_signal_masks_fixed_text() -> None:
    m = proc.parse_signal_masks(STATUS)
    assert (m.queued, m.queue_limit) == (6, 63499)
    assert m.pending == (36,) and m.shared_pending == (10, 35) and m.blocked == (10, 35, 36)
    assert m.ignored == (1, 13, 25) and m.caught == (2, 12)


def test_parse_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="SigQ"):
        proc.parse_signal_masks("Name:\tx\n")


def test_own_process_and_names() -> None:
    m = proc.signal_masks(os.getpid())
    assert m.queue_limit > 0 and all(1 <= s <= 64 for s in m.blocked + m.ignored + m.caught)
    assert proc.signal_name(10) == "SIGUSR1" and proc.signal_name(32) == "SIG32"
    assert proc.signal_name(signal.SIGRTMIN + 1) == "SIGRTMIN+1" and proc.signal_name(64) == "SIGRTMAX"
    with pytest.raises(ValueError):
        proc.signal_name(65)
    with pytest.raises(ProcessLookupError):
        proc.signal_masks(2**22 + 12345)
