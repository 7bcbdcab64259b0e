"""Running the established command-line tools (``perf``, ``taskset``, ``chrt``, ``cyclictest``, ...) from notebooks.

Notebooks use no IPython shell magics (conventions §2); they call :func:`run`, which is bounded in time, never
raises for a missing tool or a non-zero exit, and says what happened. :func:`have` tells whether a tool is installed
and, if not, which Debian package provides it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Sequence

#: Debian packages that provide the tools the course compares against.
PACKAGES: dict[str, str] = {
    "perf": "linux-perf",
    "cyclictest": "rt-tests",
    "hackbench": "rt-tests",
    "stress-ng": "stress-ng",
    "sysbench": "sysbench",
    "taskset": "util-linux",
    "chrt": "util-linux",
    "numactl": "numactl",
    "lstopo": "hwloc",
    "strace": "strace",
}


@dataclass(frozen=True)
class ToolRun:
    """The outcome of one :func:`run`: the command, its exit status and output, or why it did not run."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    note: str = ""

    @property
    def ok(self) -> bool:
        """True when the tool ran and exited with status 0."""
        return self.returncode == 0

    @property
    def command(self) -> str:
        """The command as a reader would type it: the program by its name, this interpreter as ``python``."""
        prog = "python" if self.argv[0] == sys.executable else os.path.basename(self.argv[0])
        return " ".join((prog,) + self.argv[1:])

    def __str__(self) -> str:
        if self.returncode is None:
            return f"$ {self.command}\n({self.note})"
        out = (self.stdout + self.stderr).rstrip()
        tail = "" if self.ok else f"\n(exit status {self.returncode}{'; ' + self.note if self.note else ''})"
        return f"$ {self.command}\n{out}{tail}"


def have(tool: str) -> str | None:
    """Return the path of ``tool`` if it is installed, else ``None``."""
    return shutil.which(tool)


def install_hint(tool: str) -> str:
    """One sentence telling the reader how to get ``tool``."""
    pkg = PACKAGES.get(tool, tool)
    return f"{tool} is not installed here; on Debian or Ubuntu: sudo apt-get install {pkg}"


def run(argv: Sequence[str], *, timeout: float = 60.0, input_text: str | None = None) -> ToolRun:
    """Run ``argv`` (no shell) with a time limit and return a :class:`ToolRun`.

    A missing tool gives ``returncode=None`` and an install hint; a timeout kills the command's whole process group
    and says so. The command never inherits the notebook's standard input.
    """
    argv = tuple(str(a) for a in argv)
    if not argv:
        raise ValueError("run() needs a command")
    if have(argv[0]) is None and not os.path.exists(argv[0]):
        return ToolRun(argv, None, "", "", install_hint(argv[0]))
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        out, err = proc.communicate(input_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return ToolRun(argv, proc.returncode, out, err, f"killed after {timeout:g} s")
    except BaseException:  # KeyboardInterrupt in a notebook: leave nothing running
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return ToolRun(argv, proc.returncode, out, err)
