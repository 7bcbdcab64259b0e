"""hftos.grade.labchecks.common.call: answers are called safely, and a forked child that returns is stopped."""

from __future__ import annotations

import os
import time

from hftos.grade.labchecks import common


def _forks(child_returns: bool) -> int:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, b"7")
        if child_returns:
            return 7  # the bug: the child goes back into the caller (the notebook) instead of os._exit
        os._exit(0)
    os.close(w)
    try:
        return int(os.read(r, 8))
    finally:
        os.close(r)
        os.waitpid(pid, 0)


def test_a_forked_child_that_returns_is_stopped_and_reported() -> None:
    t0 = time.monotonic()
    ok, msg = common.call(_forks, True)
    assert not ok and "returned (or raised) instead of ending with os._exit()" in msg
    assert common.call(_forks, False) == (True, 7)
    assert time.monotonic() - t0 < 5


def test_errors_and_unanswered() -> None:
    def skeleton() -> None:
        raise NotImplementedError

    def broken() -> None:
        raise KeyError("x")

    assert common.call(skeleton) == (False, "not answered yet: skeleton() raises NotImplementedError; "
                                            "write it in the answer cell above")
    ok, msg = common.call(broken)
    assert not ok and msg.startswith("broken() raised KeyError: 'x' (line ")
    assert common.call(lambda a, b=0: a + b, 1, b=2) == (True, 3)
    assert common.short("x" * 1000).endswith("(1002 characters)")
