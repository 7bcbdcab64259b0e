"""What every lab's checks share: calling a student's function safely and printing short values.

Each lab module reloads this one when it is itself (re)loaded, and calls through the module (``common.call``), so an
answer cell that patches these helpers changes nothing once a check cell has reloaded its lab module.
"""

from __future__ import annotations

import os
import select
import traceback
from typing import Any, Callable

__all__ = ["Invalid", "call", "short"]

#: Longest ``repr`` a feedback line shows before it is cut.
MAX_REPR = 400


def short(value: Any) -> str:
    """``repr(value)``, cut to :data:`MAX_REPR` characters with a note of the full length."""
    text = repr(value)
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + f"... ({len(text)} characters)"


class Invalid(Exception):
    """An answer returned something of the wrong shape; the message says what was expected."""


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """``(True, fn(*args, **kwargs))``, or ``(False, the message to print)`` if it raised.

    ``NotImplementedError`` (an unanswered skeleton) gets its own message; any other exception is reported with
    its type, text and the line of the student's code it came from.

    Answers that fork are guarded: a child that comes back here (it returned or raised instead of ending with
    ``os._exit``) is ended at once, so it can never go on running the notebook, and the parent's result is
    reported as a failure saying so.
    """
    name = getattr(fn, "__name__", "your function")
    me = os.getpid()
    marker_r, marker_w = os.pipe()
    try:
        try:
            ok, result = True, fn(*args, **kwargs)
        except NotImplementedError:
            ok, result = False, f"not answered yet: {name}() raises NotImplementedError; write it in the answer cell above"
        except Exception as exc:  # noqa: BLE001: any error of the student's code is feedback
            tb = traceback.extract_tb(exc.__traceback__)
            where = f" (line {tb[-1].lineno})" if tb else ""
            ok, result = False, f"{name}() raised {type(exc).__name__}: {exc}{where}"
        if os.getpid() != me:  # a forked child of the answer got back here: stop it before it runs anything else
            try:
                os.write(marker_w, b"x")
            finally:
                os._exit(1)
        os.close(marker_w)
        marker_w = -1
        if _child_came_back(marker_r):
            return False, (f"a child process forked by {name}() returned (or raised) instead of ending with "
                           "os._exit(); it would have gone on running your notebook. End every forked child with "
                           "os._exit(0) in a finally block")
        return ok, result
    finally:
        for fd in (marker_r, marker_w):
            if fd >= 0:
                os.close(fd)


def _child_came_back(marker_r: int, wait_s: float = 2.0) -> bool:
    """Whether a forked child wrote the marker before every copy of the pipe's write end was closed.

    Waits at most ``wait_s`` for end of file (children still alive keep the write end open); a child that is still
    running after that is not the check's business.
    """
    while True:
        ready, _, _ = select.select([marker_r], [], [], wait_s)
        if not ready:
            return False
        data = os.read(marker_r, 64)
        if not data:
            return False
        if b"x" in data:
            return True
