"""What every lab's checks share: calling a student's function safely and printing short values.

Each lab module reloads this one when it is itself (re)loaded, and calls through the module (``common.call``), so an
answer cell that patches these helpers changes nothing once a check cell has reloaded its lab module.
"""

from __future__ import annotations

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
    """
    name = getattr(fn, "__name__", "your function")
    try:
        return True, fn(*args, **kwargs)
    except NotImplementedError:
        return False, f"not answered yet: {name}() raises NotImplementedError; write it in the answer cell above"
    except Exception as exc:  # noqa: BLE001: any error of the student's code is feedback
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (line {tb[-1].lineno})" if tb else ""
        return False, f"{name}() raised {type(exc).__name__}: {exc}{where}"
