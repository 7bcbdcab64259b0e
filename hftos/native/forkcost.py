"""Process-creation latency versus the parent's resident memory (``forkcost.c``, chapter 1.2, errata E08/E09).

fork() copies the page tables of the *whole* parent, so the parent must be small for "16 MiB" to
mean 16 MiB: a Python helper with numpy is already 35-50 MiB resident. The measurement therefore
runs in a minimal native parent, ``forkcost.c`` compiled as a standalone program (its ``main()``,
switched on by ``-DHFTOS_FORKCOST_MAIN``; the same file, and the same measurement loop, as the cffi
module). It is cached on disk like the cffi modules and run under :func:`hftos.native.runner.run_program`
(own process group, timeout, killed and reaped on Ctrl-C), with its parameters on the command line;
it writes its resident size and the raw samples to stdout as int64.
"""

from __future__ import annotations

import errno
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from hftos.measure import Result, budget, progress, scaled

from . import build, runner
from .checks import NativeError, count, mem_available, memory_bytes

_CDEF = """
struct memory_report { int64_t rss_kb; int64_t anon_huge_kb; };
int fork_cost(int method, size_t bytes, int thp, int warmup, int iters, int64_t *out_ns,
              struct memory_report *mem);
"""

#: The define that switches on the standalone program's ``main()`` in ``forkcost.c``.
MAIN_DEFINE = "HFTOS_FORKCOST_MAIN"

#: Accepted ``method`` values and what each one times.
METHODS = {
    "fork": (0, "fork(); child _exit(0); waitpid()"),
    "vfork": (1, "vfork(); child _exit(0); waitpid()"),
    "posix_spawn": (2, "posix_spawn(/bin/true); waitpid()"),
    "fork_exec": (3, "fork(); child execve(/bin/true); waitpid()"),
}

#: Default sizes (MiB) of :func:`fork_sweep` per budget; sizes above half of MemAvailable are left out.
SWEEP_SIZES_MIB = {"smoke": (4, 16), "default": (16, 64, 256), "full": (16, 64, 256, 1024, 2048, 4096)}

_WARMUP = 3


def _lib() -> build.Compiled:
    """The cffi module (``fork_cost()`` callable from Python; the library itself uses :func:`program`)."""
    return build.load("forkcost", _CDEF)


def program() -> build.Executable:
    """The standalone measuring parent: ``forkcost.c`` compiled with ``-DHFTOS_FORKCOST_MAIN``, cached."""
    return build.executable("forkcost", defines=(MAIN_DEFINE,))


def _thp_mode() -> str | None:
    """The bracketed word of ``/sys/kernel/mm/transparent_hugepage/enabled`` (None if there is no THP)."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


def _check_method(method: object) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def _check_thp(thp: object) -> bool:
    if not isinstance(thp, (bool, np.bool_)) and thp not in (0, 1):
        raise ValueError(f"thp must be True or False, got {thp!r}")
    return bool(thp)


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (0 < timeout < math.inf):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _run(method: str, rss_mib: float, size: int, thp: bool, iters: int, timeout: float) -> Result:
    """Run the measuring program once (arguments already checked) and wrap its samples."""
    exe = program()
    argv = [str(exe.path), method, str(size), str(int(thp)), str(_WARMUP), str(iters)]
    out = runner.run_program(argv, timeout=timeout, what="fork_cost")
    data = np.frombuffer(out, dtype=np.int64)
    if data.size != 2 + iters:
        raise NativeError(errno.EIO, f"fork_cost: expected {2 + iters} int64 values from {exe.path.name}, "
                                     f"got {len(out)} bytes")
    samples = data[2:].astype(float)
    return Result.from_samples(f"{method}, {rss_mib:g} MiB parent" + (", THP" if thp else ""), samples, method={
        "clock": "CLOCK_MONOTONIC", "call": METHODS[method][1], "rss_mib": rss_mib, "thp": thp,
        "madvise": "MADV_HUGEPAGE" if thp else "MADV_NOHUGEPAGE", "iterations": iters, "warmup": _WARMUP,
        "cpus": "not pinned", "parent": "forkcost.c main() (-DHFTOS_FORKCOST_MAIN), not Python",
        "command": " ".join(["forkcost", *argv[1:]]), "thp_enabled": _thp_mode(),
        "rss_kib": int(data[0]), "anon_huge_kib": int(data[1])})


def fork_cost(rss_mib: float = 16, *, method: str = "fork", thp: bool = False, n: int | None = None,
              timeout: float = 120.0) -> Result:
    """Latency (ns) of one process creation, from the call until the child is reaped.

    The measuring parent is a small C program (about 1 MiB resident) that first maps and touches
    ``rss_mib`` MiB (``thp=True``: ``MADV_HUGEPAGE``, else ``MADV_NOHUGEPAGE``); ``rss_mib`` may be
    at most half of ``MemAvailable``. ``method`` is ``"fork"``, ``"vfork"``, ``"posix_spawn"`` or
    ``"fork_exec"``. ``method["rss_kib"]`` is the parent's whole ``VmRSS`` just before the first
    creation (``rss_mib * 1024`` plus a MiB or two), ``method["anon_huge_kib"]`` how much of it is
    transparent huge pages (they only appear if ``method["thp_enabled"]``, from
    ``/sys/kernel/mm/transparent_hugepage/enabled``, is ``always`` or ``madvise``).
    ``method["command"]`` is the command line that reproduces the run.
    """
    method = _check_method(method)
    thp = _check_thp(thp)
    size = memory_bytes(rss_mib)
    iters = count(n if n is not None else scaled(200, smoke=20))
    timeout = _check_timeout(timeout)
    return _run(method, rss_mib, size, thp, iters, timeout)


def fork_sweep(sizes_mib: Iterable[float] | None = None, *, methods: Sequence[str] = ("fork",),
               thp: bool | Sequence[bool] = (False, True), n: int | None = None,
               timeout: float | None = None) -> list[Result]:
    """:func:`fork_cost` for every combination of size, method and THP setting: the E08 curve.

    ``sizes_mib`` defaults to :data:`SWEEP_SIZES_MIB` for the budget (16, 64 and 256 MiB by
    default, up to 4 GiB with ``HFTOS_BUDGET=full``), leaving out sizes above half of
    ``MemAvailable``; an explicit size above that raises ``ValueError``, as does any bad argument,
    before anything runs. Without ``n``, sizes above 256 MiB get proportionally fewer iterations
    (at least 20) so a default sweep stays under about 10 s on 2 CPUs. ``timeout`` is per run
    (default: generous, from the size and iteration count). Results come in the order
    ``for method: for thp: for size``; each carries ``rss_mib``, ``thp`` and ``rss_kib`` in its
    ``method`` dict, ready to plot time against ``rss_kib``.
    """
    if sizes_mib is None:
        limit = mem_available() / 2**21
        sizes = [s for s in SWEEP_SIZES_MIB[budget()] if s <= limit]
    else:
        if isinstance(sizes_mib, (str, bytes)) or not isinstance(sizes_mib, Iterable):
            raise ValueError(f"sizes_mib must be a sequence of sizes in MiB, got {sizes_mib!r}")
        sizes = list(sizes_mib)
    if not sizes:
        raise ValueError("fork_sweep needs at least one size")
    byte_sizes = [memory_bytes(s) for s in sizes]
    if isinstance(methods, str):
        methods = (methods,)
    methods = [_check_method(m) for m in methods]
    thps = [_check_thp(t) for t in ((thp,) if isinstance(thp, (bool, int, np.bool_)) else thp)]
    if not methods or not thps:
        raise ValueError("fork_sweep needs at least one method and one thp setting")
    base = count(n if n is not None else scaled(200, smoke=10))
    if timeout is not None:
        timeout = _check_timeout(timeout)
    results = []
    runs = [(method, t, mib, size) for method in methods for t in thps for mib, size in zip(sizes, byte_sizes)]
    for method, t, mib, size in progress(runs, "fork sweep"):
        iters = base if n is not None or mib <= 256 else max(min(base, 20), int(base * 256 / mib))
        # ~60 us per MiB per creation would be 4x the slowest rate measured (E08).
        limit = timeout if timeout is not None else 60.0 + 6e-5 * mib * (iters + _WARMUP) + mib / 100
        results.append(_run(method, mib, size, t, iters, limit))
    return results


# ------------------------------------------------------------------ the same measurement from a Python parent

def _python_parent(method_code: int, size: int, thp: bool, warmup: int, iters: int) -> dict:
    """Runs inside the Python helper: the cffi entry point ``fork_cost()``, timed from this interpreter."""
    from .checks import check

    c = _lib()
    out = c.ffi.new("int64_t[]", iters)
    mem = c.ffi.new("struct memory_report *")
    check(c.lib.fork_cost(method_code, size, int(thp), warmup, iters, out, mem), "fork_cost")
    return {"samples": np.frombuffer(c.ffi.buffer(out), dtype=np.int64).copy(),
            "rss_kib": int(mem.rss_kb), "anon_huge_kib": int(mem.anon_huge_kb)}


def fork_cost_from_python(rss_mib: float = 16, *, method: str = "fork", thp: bool = False, n: int | None = None,
                          timeout: float = 120.0) -> Result:
    """:func:`fork_cost`, but with a Python interpreter as the forking parent (errata E08/E09).

    The same C loop (``fork_cost()`` in ``forkcost.c``, called through cffi) runs inside a Python helper process
    (``python -m hftos.native._worker``, started by :func:`hftos.native.runner.run`) that has imported numpy and
    the course library before it maps and touches ``rss_mib`` MiB. fork() copies the page tables of the *whole*
    process, so this parent forks its interpreter's 30-50 MiB too: ``method["rss_kib"]`` (the helper's VmRSS just
    before the first fork) is that much larger than :func:`fork_cost`'s at the same ``rss_mib``, and so is the
    time. It is the situation of forking from a Jupyter kernel or any large, warmed-up process.
    ``method["parent"]`` says which parent measured. Arguments as for :func:`fork_cost`.
    """
    method = _check_method(method)
    thp = _check_thp(thp)
    size = memory_bytes(rss_mib)
    iters = count(n if n is not None else scaled(200, smoke=20))
    timeout = _check_timeout(timeout)
    _lib()  # compile here (cached), not inside the helper's time limit
    r = runner.run(_python_parent, timeout=timeout, method_code=METHODS[method][0], size=size, thp=thp,
                   warmup=_WARMUP, iters=iters)
    return Result.from_samples(f"{method}, {rss_mib:g} MiB region, Python parent" + (", THP" if thp else ""),
                               r["samples"].astype(float), method={
        "clock": "CLOCK_MONOTONIC", "call": METHODS[method][1], "rss_mib": rss_mib, "thp": thp,
        "madvise": "MADV_HUGEPAGE" if thp else "MADV_NOHUGEPAGE", "iterations": iters, "warmup": _WARMUP,
        "cpus": "not pinned", "parent": "Python helper (python -m hftos.native._worker) calling fork_cost() via cffi",
        "thp_enabled": _thp_mode(), "rss_kib": r["rss_kib"], "anon_huge_kib": r["anon_huge_kib"]})
