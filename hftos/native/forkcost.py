"""Process-creation latency versus the parent's resident memory (``forkcost.c``, chapter 1.2).

Runs in a helper process: it forks, and it grows the helper (not the notebook kernel) to the
requested resident size first.
"""

from __future__ import annotations

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import check, count, memory_bytes

_CDEF = """
struct memory_report { int64_t rss_kb; int64_t anon_huge_kb; };
int fork_cost(int method, size_t bytes, int thp, int warmup, int iters, int64_t *out_ns,
              struct memory_report *mem);
"""

#: Accepted ``method`` values and what each one times.
METHODS = {
    "fork": (0, "fork(); child _exit(0); waitpid()"),
    "vfork": (1, "vfork(); child _exit(0); waitpid()"),
    "posix_spawn": (2, "posix_spawn(/bin/true); waitpid()"),
    "fork_exec": (3, "fork(); child execve(/bin/true); waitpid()"),
}


def _lib() -> build.Compiled:
    return build.load("forkcost", _CDEF)


def _in_helper(method: int, size: int, thp: bool, warmup: int, iters: int) -> tuple[np.ndarray, dict]:
    """Runs inside the helper process."""
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    mem = c.ffi.new("struct memory_report *")
    check(c.lib.fork_cost(method, size, int(thp), warmup, iters, c.ffi.cast("int64_t *", out.ctypes.data), mem),
          "fork_cost")
    return out, {"rss_kib": mem.rss_kb, "anon_huge_kib": mem.anon_huge_kb}


def fork_cost(rss_mib: float = 16, *, method: str = "fork", thp: bool = False, n: int | None = None,
              timeout: float = 120.0) -> Result:
    """Latency (ns) of one process creation, from the call until the child is reaped.

    The helper first maps and touches ``rss_mib`` MiB (``thp=True``: ``MADV_HUGEPAGE``, else
    ``MADV_NOHUGEPAGE``); ``rss_mib`` may be at most half of ``MemAvailable``. ``method`` is
    ``"fork"``, ``"vfork"``, ``"posix_spawn"`` or ``"fork_exec"``. ``method["rss_kib"]`` and
    ``method["anon_huge_kib"]`` report what the helper's memory really was (huge pages only
    appear if THP is ``always`` or ``madvise`` in ``/sys/kernel/mm/transparent_hugepage/enabled``).
    The helper is a Python interpreter with numpy, already some 35-50 MiB resident before the
    region is added: ``rss_kib`` is the whole resident size whose page tables fork() copies, so
    plot against it, not against ``rss_mib``, at small sizes.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    size = memory_bytes(rss_mib)
    iters = count(n if n is not None else scaled(200, smoke=20))
    warmup = 3
    _lib()
    samples, mem = runner.run(_in_helper, timeout=timeout, method=METHODS[method][0], size=size, thp=bool(thp),
                              warmup=warmup, iters=iters)
    return Result.from_samples(f"{method}, {rss_mib:g} MiB parent" + (", THP" if thp else ""), samples, method={
        "clock": "CLOCK_MONOTONIC", "call": METHODS[method][1], "rss_mib": rss_mib,
        "madvise": "MADV_HUGEPAGE" if thp else "MADV_NOHUGEPAGE", "iterations": iters, "warmup": warmup,
        "cpus": "not pinned", **mem})
