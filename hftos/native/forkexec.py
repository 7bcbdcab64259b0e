"""fork(), exec() and wait() as a real program (``forkexec.c``, chapter 1.2, errata E12/E13/E71).

``forkexec.c`` is a standalone C program: what it prints is the demonstration, so it is compiled with
:func:`hftos.native.build.executable` (cached like every course module) and run under
:func:`hftos.native.runner.run_program` (own process group, timeout, reaped), with its stdout connected to a
pipe, exactly the situation of a Jupyter kernel or a CI log. :func:`run` returns what it printed, raw and with
the PIDs replaced by ``<parent>`` and ``<child>`` so the text is the same on every run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import build, runner


@dataclass(frozen=True)
class ForkExecRun:
    """One run of ``forkexec``: the command line, stdout as printed, and stdout with symbolic PIDs."""

    command: str
    raw: str          #: stdout exactly as the program wrote it (real PIDs)
    text: str         #: the same with the parent's PID as ``<parent>`` and the child's as ``<child>``
    parent_pid: int | None
    child_pid: int | None

    @property
    def lines(self) -> list[str]:
        """:attr:`text` split into lines."""
        return self.text.splitlines()


def program() -> build.Executable:
    """``forkexec.c`` compiled as a program (course flags, ``-Werror``), cached on disk."""
    return build.executable("forkexec")


def symbolic(raw: str) -> tuple[str, int | None, int | None]:
    """Replace the parent's and the child's PID in ``forkexec`` output by ``<parent>`` and ``<child>``."""
    parent = re.search(r"^parent: pid=(\d+)", raw, re.M)
    child = re.search(r"^child: pid=(\d+)", raw, re.M) or re.search(r"child=(\d+)", raw)
    names = {}
    if parent:
        names[parent.group(1)] = "<parent>"
    if child:
        names[child.group(1)] = "<child>"
    text = re.sub(r"(?<=pid=)(\d+)|(?<=child=)(\d+)", lambda m: names.get(m.group(0), "<other>"), raw)
    return text, int(parent.group(1)) if parent else None, int(child.group(1)) if child else None


def run(*, flush: bool = True, fail_exec: bool = False, timeout: float = 30.0) -> ForkExecRun:
    """Run ``forkexec`` with stdout to a pipe. ``flush=False`` is the source text's version (no ``fflush``);
    ``fail_exec=True`` makes ``execvp`` fail (a program that does not exist)."""
    exe = program()
    argv = [str(exe.path)] + ([] if flush else ["--no-flush"]) + (["--fail-exec"] if fail_exec else [])
    out = runner.run_program(argv, timeout=timeout, what="forkexec").decode(errors="replace")
    text, ppid, cpid = symbolic(out)
    return ForkExecRun(" ".join(["forkexec", *argv[1:]]), out, text, ppid, cpid)
