"""Keeping signals away from a hot thread (``hotsignals.c``, course section 5.5).

- :func:`hot_signals`: a hot thread spins on the clock and records every gap longer than a threshold, while
  a separate sender process sends ``SIGUSR1`` at a fixed rate; run with no signals, with the signals
  delivered to the hot thread (a handler), and with the signals blocked everywhere and read from a
  ``signalfd`` by a housekeeping thread on another CPU. Everything runs in a helper process
  (:mod:`hftos.native.runner`), ``SCHED_OTHER`` only, bounded in time.
- :func:`gap_rate`, :func:`gap_table`: the hot thread's gap distribution as "gaps longer than x per second of
  spinning" (a CCDF scaled by the spin time) and a table at fixed thresholds.
- :func:`sigpipe_demo`: a write to a socket whose peer has gone, with the default ``SIGPIPE`` action, with
  ``MSG_NOSIGNAL``, and with ``SIGPIPE`` ignored.
- :func:`timer_ticks`: periodic ticks for a housekeeping thread from a ``timerfd``, a POSIX timer with
  ``SIGEV_THREAD_ID``, and ``setitimer``/``SIGALRM``, with the lateness of each tick.
"""

from __future__ import annotations

import errno as _errno
import signal
from typing import Any, Mapping, Sequence

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import allowed_cpus, check, count

_CDEF = """
struct hs_stats {
    int64_t iterations, gaps_total, gaps_recorded, spin_ns, sent, handled, read_sfd;
};
int hotsig_run(int mode, int cpu_hot, int cpu_hk, int64_t duration_ns, int rate_hz, int64_t threshold_ns,
               int64_t *gaps, int64_t *gap_at, long max_gaps, struct hs_stats *st);
int sigpipe_demo(int how, int *term_sig, int *err);
int timer_demo(int kind, int64_t period_ns, int n, int cpu, int64_t *late_ns, int64_t *lost);
"""

#: mode -> (C constant, label used in tables and plots)
MODES: dict[str, tuple[int, str]] = {
    "none": (0, "no signals"),
    "handler": (1, "signals delivered to the hot thread"),
    "signalfd": (2, "signals blocked, read by a signalfd thread"),
}

#: timer kind -> (C constant, label)
TIMER_KINDS: dict[str, tuple[int, str]] = {
    "timerfd": (0, "timerfd read()"),
    "thread_id": (1, "POSIX timer, SIGEV_THREAD_ID + sigwaitinfo"),
    "setitimer": (2, "setitimer SIGALRM + sigwaitinfo"),
}

#: At most this many gaps are kept per mode (the count of all gaps is kept regardless).
MAX_GAPS = 200_000


def _lib() -> build.Compiled:
    return build.load("hotsignals", _CDEF)


_STATS = ("iterations", "gaps_total", "gaps_recorded", "spin_ns", "sent", "handled", "read_sfd")


def _hot_in_helper(modes: list[str], rounds: int, cpu_hot: int, cpu_hk: int, duration_ns: int, rate_hz: int,
                   threshold_ns: int) -> dict[str, Any]:
    """Runs inside the helper: ``rounds`` rounds, each running every mode once (interleaved), summed per mode."""
    c = _lib()
    out: dict[str, Any] = {m: {"gaps": [], "stats": dict.fromkeys(_STATS, 0)} for m in modes}
    per_run = max(1, MAX_GAPS // rounds)
    gaps = np.empty(per_run, dtype=np.int64)
    at = np.empty(per_run, dtype=np.int64)
    for _ in range(rounds):
        for mode in modes:
            st = c.ffi.new("struct hs_stats *")
            check(c.lib.hotsig_run(MODES[mode][0], cpu_hot, cpu_hk, duration_ns, rate_hz, threshold_ns,
                                   c.ffi.cast("int64_t *", gaps.ctypes.data), c.ffi.cast("int64_t *", at.ctypes.data),
                                   per_run, st), f"hot thread, {mode}")
            out[mode]["gaps"].append(gaps[:int(st.gaps_recorded)].copy())
            for f in _STATS:
                out[mode]["stats"][f] += int(getattr(st, f))
    for mode in modes:
        out[mode]["gaps"] = np.concatenate(out[mode]["gaps"])
    return out


def hot_signals(modes: Sequence[str] = ("none", "handler", "signalfd"), *, seconds: float | None = None,
                rate_hz: int = 1000, threshold_ns: int = 250, cpus: tuple[int, int] | None = None,
                rounds: int = 3, timeout: float | None = None) -> dict[str, Any]:
    """The hot thread's gaps for each mode of :data:`MODES`, with a sender signalling at ``rate_hz``.

    ``seconds`` of spinning per mode in total (default 1 s, 0.2 s at the smoke budget, 5 s at full), split into
    ``rounds`` runs; the modes are interleaved round by round (none, handler, signalfd, none, ...), so a burst of
    noise from the rest of the machine falls on all of them alike. ``cpus=(hot,
    housekeeping)``: by default the second and first allowed CPUs; the sender process and the housekeeping
    thread run on the housekeeping CPU. With a one-CPU affinity mask everything shares that CPU (``one_cpu``
    is then True). A gap is the time between two consecutive clock readings of the hot thread when it exceeds
    ``threshold_ns``.

    Returns ``{"results": {label: Result of the gaps in ns}, "stats": {label: counters summed over the rounds},
    "cpus": (hot, hk), "one_cpu", "rate_hz", "seconds", "rounds", "threshold_ns"}``. Counters: ``iterations`` (clock readings),
    ``gaps_total``, ``gaps_recorded`` (at most :data:`MAX_GAPS`), ``spin_ns``, ``sent`` (by the sender),
    ``handled`` (by the hot thread's handler), ``read_sfd`` (by the housekeeping thread).
    """
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"modes must be from {', '.join(MODES)}, got {list(modes)!r}")
    if seconds is None:
        seconds = scaled(1000, smoke=200, full=5000) / 1000
    if not (isinstance(seconds, (int, float)) and 0.01 <= seconds <= 30):
        raise ValueError(f"seconds must be between 0.01 and 30, got {seconds!r}")
    count(rate_hz, "rate_hz")
    if rate_hz > 100_000:
        raise ValueError(f"rate_hz must be at most 100000, got {rate_hz}")
    count(threshold_ns, "threshold_ns")
    count(rounds, "rounds")
    if rounds > 20 or seconds / rounds < 0.01:
        raise ValueError(f"rounds must be at most 20 and leave at least 10 ms per run, got {rounds}")
    mask = allowed_cpus()
    if cpus is None:
        hot, hk = (mask[1], mask[0]) if len(mask) >= 2 else (mask[0], mask[0])
    else:
        if len(cpus) != 2 or any(c not in mask for c in cpus):
            raise ValueError(f"cpus must be two CPUs from this process's affinity mask {mask}, got {cpus!r}")
        hot, hk = cpus
    if timeout is None:
        timeout = len(modes) * (seconds + 0.5 * rounds) * 3 + 15
    _lib()
    raw = runner.run(_hot_in_helper, timeout=timeout, modes=list(modes), rounds=rounds, cpu_hot=hot, cpu_hk=hk,
                     duration_ns=int(seconds / rounds * 1e9), rate_hz=rate_hz, threshold_ns=threshold_ns)
    results, stats = {}, {}
    for mode in modes:
        label = MODES[mode][1]
        st = raw[mode]["stats"]
        stats[label] = st
        results[label] = Result.from_samples(label, raw[mode]["gaps"].astype(float), method={
            "clock": "CLOCK_MONOTONIC", "sample": f"a gap > {threshold_ns} ns between two clock readings of the hot thread",
            "threshold_ns": threshold_ns, "rate_hz": rate_hz if mode != "none" else 0, "signal": "SIGUSR1",
            "cpus": {"hot": hot, "housekeeping": hk}, "policy": "SCHED_OTHER", "rounds": rounds, **st})
    return {"results": results, "stats": stats, "cpus": (hot, hk), "one_cpu": hot == hk, "rate_hz": rate_hz,
            "seconds": float(seconds), "rounds": rounds, "threshold_ns": threshold_ns}


def gap_rate(result: Result, xs_ns: Sequence[float] | np.ndarray) -> np.ndarray:
    """Gaps longer than each ``x`` (ns) per second of spinning: the CCDF of the gaps scaled by the spin time.

    ``result`` comes from :func:`hot_signals` (its ``method`` holds ``spin_ns`` and ``gaps_total``); when more
    gaps happened than were recorded, the counts are scaled up by ``gaps_total / gaps_recorded``.
    """
    gaps = np.sort(np.asarray(result.samples, dtype=float))
    spin_s = float(result.method["spin_ns"]) / 1e9
    if spin_s <= 0:
        raise ValueError("the result has no spin time")
    scale = result.method["gaps_total"] / max(1, result.method["gaps_recorded"])
    above = gaps.size - np.searchsorted(gaps, np.asarray(xs_ns, dtype=float), side="right")
    return above * scale / spin_s


def gap_table(run: Mapping[str, Any], thresholds_us: Sequence[float] = (1, 5, 10)) -> list[dict[str, Any]]:
    """One row per mode: gaps longer than each threshold (count and per second), lost time and signal counts."""
    rows = []
    for label, res in run["results"].items():
        st = run["stats"][label]
        spin_s = st["spin_ns"] / 1e9
        gaps = np.asarray(res.samples, dtype=float)
        row: dict[str, Any] = {"mode": label, "spin_s": spin_s, "sent": st["sent"],
                               "received": st["handled"] + st["read_sfd"],
                               "max_us": float(gaps.max()) / 1e3 if gaps.size else 0.0,
                               "lost_pct": float(gaps.sum()) / st["spin_ns"] * 100 if st["spin_ns"] else 0.0}
        for t in thresholds_us:
            n = int(np.count_nonzero(gaps > t * 1e3))
            row[f">{t:g}us"] = n
            row[f">{t:g}us/s"] = n / spin_s if spin_s else 0.0
        rows.append(row)
    return rows


def format_gap_table(rows: list[dict[str, Any]], thresholds_us: Sequence[float] = (1, 5, 10)) -> str:
    """:func:`gap_table` rows as text."""
    w = max(len(r["mode"]) for r in rows)
    head = (f"{'mode':<{w}}  {'sent':>6} {'recv':>6}  " + "  ".join(f"{'> ' + format(t, 'g') + ' us':>14}" for t in thresholds_us)
            + f"  {'max':>9}  {'time lost':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = "  ".join(f"{r[f'>{t:g}us']:>6,} ({r[f'>{t:g}us/s']:>5,.0f}/s)" for t in thresholds_us)
        lines.append(f"{r['mode']:<{w}}  {r['sent']:>6,} {r['received']:>6,}  {cells}  {r['max_us']:>6,.1f} us"
                     f"  {r['lost_pct']:>8.3f}%")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- SIGPIPE

_PIPE_CASES = {"write(), default SIGPIPE action": 0, "send(..., MSG_NOSIGNAL)": 1, "write(), SIGPIPE ignored": 2}


def _pipe_in_helper() -> dict[str, tuple[int, int]]:
    c = _lib()
    out = {}
    for label, how in _PIPE_CASES.items():
        sig, err = c.ffi.new("int *"), c.ffi.new("int *")
        check(c.lib.sigpipe_demo(how, sig, err), "sigpipe_demo")
        out[label] = (int(sig[0]), int(err[0]))
    return out


def sigpipe_demo(timeout: float = 20.0) -> dict[str, str]:
    """Write one byte to a stream socket whose peer has closed, three ways, each in a child process.

    Returns ``{case: outcome}`` with outcomes ``"killed by SIGPIPE"`` or ``"returned -1, errno EPIPE"``.
    """
    _lib()
    raw = runner.run(_pipe_in_helper, timeout=timeout)
    out = {}
    for label, (sig, err) in raw.items():
        if sig:
            out[label] = f"killed by {signal.Signals(sig).name}"
        elif err > 0:
            out[label] = f"returned -1, errno {_errno.errorcode.get(err, str(err))}"
        else:
            out[label] = "succeeded"
    return out


# ---------------------------------------------------------------------------------- timers

def _timers_in_helper(kinds: list[str], period_ns: int, n: int, cpu: int) -> dict[str, tuple[np.ndarray, int]]:
    c = _lib()
    out = {}
    for kind in kinds:
        late = np.empty(n, dtype=np.int64)
        lost = c.ffi.new("int64_t *")
        check(c.lib.timer_demo(TIMER_KINDS[kind][0], period_ns, n, cpu, c.ffi.cast("int64_t *", late.ctypes.data),
                               lost), f"timer {kind}")
        out[kind] = (late, int(lost[0]))
    return out


def timer_ticks(kinds: Sequence[str] = ("timerfd", "thread_id", "setitimer"), *, n: int | None = None,
                period_us: int = 1000, cpu: int | None = None, timeout: float | None = None) -> dict[str, Result]:
    """Lateness (ns) of ``n`` periodic ticks every ``period_us`` received by a housekeeping thread, per timer kind.

    All timer signals stay blocked in every thread and are taken with ``sigwaitinfo``; the ``timerfd`` needs no
    signal at all. Runs in a helper process pinned to ``cpu`` (default: the first allowed CPU). A sample is how long
    after the most recent due time the thread woke up (so it is below one period); each Result's ``method["lost"]``
    counts the ticks that fell due without a wake-up of their own (merged into another: a timerfd count above 1,
    ``si_overrun``, or ``SIGALRM`` ticks that vanished because ``setitimer`` re-arms only when the signal is taken).
    """
    bad = [k for k in kinds if k not in TIMER_KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds must be from {', '.join(TIMER_KINDS)}, got {list(kinds)!r}")
    if isinstance(period_us, bool) or not isinstance(period_us, int) or not 50 <= period_us <= 1_000_000:
        raise ValueError(f"period_us must be an int from 50 to 1000000, got {period_us!r}")
    n = count(n if n is not None else scaled(500, smoke=50, full=5000), "n")
    mask = allowed_cpus()
    if cpu is None:
        cpu = mask[0]
    elif cpu not in mask:
        raise ValueError(f"CPU {cpu} is not in this process's affinity mask {mask}")
    if timeout is None:
        timeout = len(kinds) * (n * period_us / 1e6 + 1) * 3 + 10
    _lib()
    raw = runner.run(_timers_in_helper, timeout=timeout, kinds=list(kinds), period_ns=period_us * 1000, n=n, cpu=cpu)
    return {TIMER_KINDS[k][1]: Result.from_samples(TIMER_KINDS[k][1], raw[k][0].astype(float), method={
        "clock": "CLOCK_MONOTONIC", "period_us": period_us, "ticks": n, "cpu": cpu, "lost": raw[k][1],
        "sample": "wake-up time minus the most recent due time (modulo the period)"}) for k in kinds}


__all__ = ["MODES", "TIMER_KINDS", "MAX_GAPS", "format_gap_table", "gap_rate", "gap_table", "hot_signals",
           "sigpipe_demo", "timer_ticks"]
