"""A pytest plugin the grader loads next to nbval: one JSON line per test phase, written as it happens;
and a kernel-death detector.

``pytest --junitxml`` only writes its report when the session ends, so a pytest process killed by a resource limit
or the wall-clock timeout would lose every result. This plugin appends ``{"nodeid", "when", "outcome", "message",
"output"}`` to ``$HFTOS_GRADE_LOG`` and flushes after each line; ``output`` is what the cell printed (nbval keeps it on
the item as ``test_outputs``), truncated, so feedback can show a student what their code printed.

nbval waits for a cell's reply for the whole cell timeout even when the kernel has died (``os._exit``, SIGKILL,
a segfault, a resource limit). :func:`pytest_configure` wraps ``nbval.kernel.RunningKernel.await_reply`` to wait in
half-second steps and raise :class:`KernelDied` (with the kernel's exit status) as soon as the kernel is gone, so a
crash costs no time and is reported as a crash, not as a timeout.
"""

from __future__ import annotations

import json
import os
import re
import time
from queue import Empty

import pytest

_LIMIT = 4000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _clip(text: str, limit: int = _LIMIT) -> str:
    text = _ANSI.sub("", text)
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"


def _outputs(item: pytest.Item) -> str:
    parts: list[str] = []
    for out in getattr(item, "test_outputs", None) or []:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(str(out.get("text", "")))
        elif kind == "error":
            tb = "\n".join(out.get("traceback") or [])
            parts.append(f"{tb[-1500:]}\n{out.get('ename')}: {out.get('evalue')}\n")
        elif kind in ("execute_result", "display_data"):
            parts.append(str(out.get("data", {}).get("text/plain", "")) + "\n")
    return _clip("".join(parts))


def _write(record: dict) -> None:
    path = os.environ.get("HFTOS_GRADE_LOG")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or report.outcome != "passed":
        _write({"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                "message": _clip(str(report.longreprtext or "")), "output": _outputs(item)})


class KernelDied(RuntimeError):
    """The kernel process ended while a cell was running."""


def _exit_status(kernel) -> str:  # type: ignore[no-untyped-def]
    try:
        code = kernel.km.provisioner.process.poll()
    except Exception:  # noqa: BLE001: best effort
        return "exit status unknown"
    if code is None:
        return "exit status unknown"
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def pytest_configure(config: pytest.Config) -> None:
    from nbval import kernel as nbkernel

    original = nbkernel.RunningKernel.await_reply
    if getattr(original, "_hftos", False):
        return

    def await_reply(self, msg_id, timeout=None):  # type: ignore[no-untyped-def]
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            step = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            try:
                return original(self, msg_id, timeout=step)
            except Empty:
                if not self.is_alive():
                    raise KernelDied(f"KernelDied: the kernel died while running this cell "
                                     f"({_exit_status(self)})") from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    await_reply._hftos = True  # type: ignore[attr-defined]
    nbkernel.RunningKernel.await_reply = await_reply
