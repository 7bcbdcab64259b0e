"""The helper process behind :func:`hftos.native.runner.run` (``python -m hftos.native._worker``).

Reads a pickled ``("module:function", kwargs)`` from stdin, calls it, and writes a pickled
``(True, result)`` or ``(False, exception)`` to the original stdout. File descriptor 1 is
pointed at stderr first, so nothing printed by accident can corrupt the result stream.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import sys


def main() -> None:
    """Run one request and exit."""
    result_stream = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # Last-resort bound: if the caller vanished without killing us, SIGALRM ends this process
    # (its default action); forked children then see EOF on their pipes or hit their deadlines.
    signal.alarm(int(os.environ.get("HFTOS_NATIVE_ALARM", "0")))
    target, kwargs = pickle.loads(sys.stdin.buffer.read())
    module_name, func_name = target.split(":")
    try:
        if not module_name.startswith("hftos.native."):
            raise ValueError(f"refusing to run {target}")
        func = getattr(importlib.import_module(module_name), func_name)
        reply = (True, func(**kwargs))
    except Exception as exc:  # sent back and re-raised in the caller
        reply = (False, exc)
    pickle.dump(reply, result_stream)
    result_stream.close()


if __name__ == "__main__":
    main()
