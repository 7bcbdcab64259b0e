"""System-call, vDSO clock and TSC costs (``syscalls.c``, chapter 1.6).

These run in the caller's process: they neither fork, pin, nor spin on another process, so they
are safe inside a Jupyter kernel. Each sample is the *average of one batch* of ``batch`` calls
timed with ``CLOCK_MONOTONIC`` (one call is too short to time alone).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

import numpy as np

from hftos.measure import Result, scaled

from . import build
from .checks import check, count

_CDEF = """
#define CLOCK_REALTIME ...
#define CLOCK_MONOTONIC ...
#define CLOCK_MONOTONIC_RAW ...
#define CLOCK_BOOTTIME ...
#define CLOCK_REALTIME_COARSE ...
#define CLOCK_MONOTONIC_COARSE ...
#define CLOCK_TAI ...
#define CLOCK_PROCESS_CPUTIME_ID ...
#define CLOCK_THREAD_CPUTIME_ID ...
int getpid_cost(double *out, int samples, int batch, int warmup);
int clock_cost(int clock_id, int via_syscall, double *out, int samples, int batch, int warmup);
int tsc_available(void);
int tsc_cost(int variant, double *out, int samples, int batch, int warmup);
int tsc_calibrate(double *ticks_per_ns, int rounds, int64_t window_ns);
"""


@dataclass(frozen=True)
class ClockInfo:
    """One clock id: its C name and how ``clock_gettime`` serves it on x86-64/arm64 Linux."""

    c_name: str
    vdso: bool  #: served in user space by the vDSO (when the clocksource allows it)
    note: str


#: The clocks :func:`clock_gettime_cost` knows, by short name.
CLOCKS: dict[str, ClockInfo] = {
    "realtime": ClockInfo("CLOCK_REALTIME", True, "wall clock; stepped and slewed by NTP: not for intervals"),
    "monotonic": ClockInfo("CLOCK_MONOTONIC", True, "the clock for intervals; slewed by NTP, never stepped"),
    "monotonic_raw": ClockInfo("CLOCK_MONOTONIC_RAW", True,
                               "not slewed by NTP; vDSO on x86-64 since Linux 5.3 (generic vDSO)"),
    "boottime": ClockInfo("CLOCK_BOOTTIME", True,
                          "monotonic plus time suspended; vDSO since Linux 5.3 (generic vDSO)"),
    "realtime_coarse": ClockInfo("CLOCK_REALTIME_COARSE", True, "last tick's wall time: cheap, jiffy resolution"),
    "monotonic_coarse": ClockInfo("CLOCK_MONOTONIC_COARSE", True, "last tick's monotonic time: jiffy resolution"),
    "tai": ClockInfo("CLOCK_TAI", True,
                     "atomic time, no leap seconds; vDSO since 4.20 on x86-64, 5.3 (generic vDSO) elsewhere"),
    "process_cputime": ClockInfo("CLOCK_PROCESS_CPUTIME_ID", False, "CPU time of the process: a real system call"),
    "thread_cputime": ClockInfo("CLOCK_THREAD_CPUTIME_ID", False, "CPU time of the thread: a real system call"),
}

_TSC_VARIANTS = {"rdtsc": 0, "rdtscp": 1}
_TSC_SEQUENCE = {"rdtsc": "lfence; rdtsc", "rdtscp": "rdtscp; lfence"}


def _lib() -> build.Compiled:
    return build.load("syscalls", _CDEF)


def _sizes(n: int | None, batch: int) -> tuple[int, int, int]:
    """(samples, batch, warmup batches) for the current budget."""
    samples = count(n if n is not None else scaled(5000, smoke=200))
    count(batch, "batch")
    return samples, batch, max(1, samples // 10)


def _run(name: str, func: str, lead: tuple[int, ...], n: int | None, batch: int, method: dict) -> Result:
    """Run C function ``func(*lead, out, samples, batch, warmup)`` and wrap its samples."""
    samples, batch, warmup = _sizes(n, batch)
    out = np.empty(samples, dtype=np.float64)
    c = _lib()
    check(getattr(c.lib, func)(*lead, c.ffi.cast("double *", out.ctypes.data), samples, batch, warmup), name)
    return Result.from_samples(name, out, method={
        "clock": "CLOCK_MONOTONIC", "iterations": samples, "batch": batch, "warmup_batches": warmup,
        "sample": f"mean cost of one call over a batch of {batch} calls", "cpus": "not pinned", **method})


def syscall_getpid(n: int | None = None, *, batch: int = 100) -> Result:
    """Per-call cost of ``syscall(SYS_getpid)``: a real user→kernel→user round trip, in ns."""
    return _run("syscall(SYS_getpid)", "getpid_cost", (), n, batch,
                {"call": "syscall(SYS_getpid)"})


def clock_ids() -> list[str]:
    """Short names accepted by :func:`clock_gettime_cost` (see :data:`CLOCKS` for notes)."""
    return list(CLOCKS)


def clock_gettime_cost(clock: str = "monotonic", n: int | None = None, *, via: str = "vdso",
                       batch: int = 100) -> Result:
    """Per-call cost of ``clock_gettime(clock)``, in ns.

    ``via="vdso"`` calls it the normal way (glibc → vDSO when the clock and the clocksource allow);
    ``via="syscall"`` forces ``syscall(SYS_clock_gettime)`` for comparison: when both cost the
    same, the clock is served by a real system call (the CPU-time clocks, or any clock when the
    clocksource is not vDSO-capable, e.g. ``hpet``).
    """
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; known: {', '.join(CLOCKS)}")
    if via not in ("vdso", "syscall"):
        raise ValueError(f"via must be 'vdso' or 'syscall', got {via!r}")
    info = CLOCKS[clock]
    clock_id = getattr(_lib().lib, info.c_name)
    return _run(f"clock_gettime({info.c_name})" + (" via syscall" if via == "syscall" else ""),
                "clock_cost", (clock_id, int(via == "syscall")), n, batch,
                {"call": info.c_name, "via": via, "vdso_capable": info.vdso, "note": info.note})


def _require_tsc() -> None:
    if not _lib().lib.tsc_available():
        raise NotImplementedError(f"rdtsc/rdtscp exist only on x86-64; this machine is {platform.machine()} "
                                  "(arm64's counterpart is the CNTVCT_EL0 register)")


def rdtsc_cost(n: int | None = None, variant: str = "rdtsc", *, batch: int = 100) -> Result:
    """Per-read cost of the time-stamp counter: ``"rdtsc"`` = ``lfence; rdtsc``, ``"rdtscp"`` = ``rdtscp; lfence``.

    Raises ``NotImplementedError`` on non-x86 machines.
    """
    if variant not in _TSC_VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(_TSC_VARIANTS)}, got {variant!r}")
    _require_tsc()
    return _run(_TSC_SEQUENCE[variant], "tsc_cost", (_TSC_VARIANTS[variant],), n, batch,
                {"call": _TSC_SEQUENCE[variant]})


def tsc_calibrate(rounds: int = 5, window_ms: float = 20.0) -> dict:
    """Measure TSC ticks per nanosecond of ``CLOCK_MONOTONIC`` over ``rounds`` windows.

    Returns ``ticks_per_ns`` (median), ``ghz`` (the same number), ``rounds`` (each window's
    value), ``spread_ppm`` (max−min relative to the median: drift and noise), ``invariant``
    (``constant_tsc`` and ``nonstop_tsc`` both set: the TSC ticks at a fixed rate in every
    P- and C-state), the individual ``flags`` and the ``clocksource``. Only an invariant TSC
    can be converted to time with one calibration. Raises ``NotImplementedError`` off x86.
    """
    from hftos import host  # local: probing reads /proc and /sys

    count(rounds, "rounds")
    if not 0 < window_ms <= 1000:
        raise ValueError(f"window_ms must be in (0, 1000], got {window_ms}")
    _require_tsc()
    out = np.empty(rounds, dtype=np.float64)
    c = _lib()
    check(c.lib.tsc_calibrate(c.ffi.cast("double *", out.ctypes.data), rounds, int(window_ms * 1e6)),
          "tsc_calibrate")
    info = host.probe()
    med = float(np.median(out))
    return {
        "ticks_per_ns": med,
        "ghz": med,
        "rounds": out.tolist(),
        "spread_ppm": float((out.max() - out.min()) / med * 1e6),
        "window_ms": window_ms,
        "invariant": info.invariant_tsc,
        "flags": dict(info.tsc_flags),
        "clocksource": info.clocksource,
    }
