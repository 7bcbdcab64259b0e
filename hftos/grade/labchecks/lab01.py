"""Lab 1 (CPU scheduling) check helpers, and the oracles its hidden checks compare against.

A check cell prints one line starting with ``ok`` when the answer is right; on anything else it
prints what was expected and what came back, so a student can learn from it. The grader never
reads these strings: nbval compares a check cell's whole output with the reference notebook's
stored output, so a check passes only if it prints exactly what a correct answer prints.

Check cells import this module afresh (``importlib.reload``) right before they use it, so an
answer cell that redefines or monkeypatches a helper does not change what the check does.

Conventions the helpers share (Lab 1, stated in the lab's tasks too):

- a workload is a list of ``(arrival, burst)`` pairs; job ``i`` is the ``i``-th pair;
- a schedule is a list of ``(job, start, end)`` segments in time order; ``job`` is ``None`` while the
  CPU idles (also before the first arrival); zero-length segments are dropped and adjacent segments of
  the same job are merged before comparing, so ``[(0, 0, 2), (0, 2, 4)]`` equals ``[(0, 0, 4)]``.
"""

from __future__ import annotations

import importlib
import random
from typing import Any, Callable, Sequence

from . import common

common = importlib.reload(common)  # a check cell reloads this module; patches to common go too

__all__ = ["averages", "check_fair_share", "check_random_fair_share", "check_random_schedules",
           "check_schedule", "fair_share_oracle", "normalize", "oracle_schedule"]

Segment = tuple  # (job | None, start, end)



def normalize(segments: Any) -> list[Segment]:
    """``segments`` as a list of ``(job, start, end)`` tuples: zero-length dropped, same-job neighbours merged."""
    if not isinstance(segments, (list, tuple)):
        raise common.Invalid(f"expected a list of (job, start, end) tuples, got {type(segments).__name__}: "
                       f"{common.short(segments)}")
    out: list[list[Any]] = []
    for k, seg in enumerate(segments):
        if not isinstance(seg, (list, tuple)) or len(seg) != 3:
            raise common.Invalid(f"segment {k} should be a (job, start, end) tuple, got {common.short(seg)}")
        job, start, end = seg
        if end == start:
            continue
        if out and out[-1][0] == job and out[-1][2] == start:
            out[-1][2] = end
        else:
            out.append([job, start, end])
    return [tuple(s) for s in out]


def averages(jobs: Sequence[tuple[int, int]], segments: Sequence[Segment]) -> tuple[float, float] | None:
    """(average wait, average turnaround) implied by ``segments``; ``None`` if some job never completes."""
    done: dict[int, Any] = {}
    ran: dict[int, Any] = {}
    for job, start, end in segments:
        if job is not None:
            done[job] = end
            ran[job] = ran.get(job, 0) + (end - start)
    if set(done) != set(range(len(jobs))):
        return None
    turnaround = [done[i] - a for i, (a, b) in enumerate(jobs)]
    wait = [t - b for t, (a, b) in zip(turnaround, jobs)]
    return sum(wait) / len(jobs), sum(turnaround) / len(jobs)



def _first_difference(expected: list[Segment], got: list[Segment]) -> str:
    for k, (e, g) in enumerate(zip(expected, got)):
        if tuple(e) != tuple(g):
            return f"first difference at segment {k}: expected {e}, got {g}"
    if len(expected) != len(got):
        return f"expected {len(expected)} segments, got {len(got)}"
    return "no difference"


def _fmt_avgs(avgs: tuple[float, float] | None) -> str:
    return "(some job never completes)" if avgs is None else f"average wait {avgs[0]:.2f}, turnaround {avgs[1]:.2f}"


def check_schedule(label: str, fn: Callable[..., Any], jobs: Sequence[tuple[int, int]],
                   expected: Sequence[Segment], *args: Any) -> None:
    """Call ``fn(jobs, *args)`` and compare its schedule with ``expected``; print ``ok ...`` or why not."""
    expected_n = normalize(list(expected))
    ok, got = common.call(fn, [tuple(j) for j in jobs], *args)
    if not ok:
        print(f"FAIL {label}: {got}")
        return
    try:
        got_n = normalize(got)
    except common.Invalid as exc:
        print(f"FAIL {label}: {exc}")
        return
    want = averages(jobs, expected_n)
    if got_n == expected_n:
        print(f"ok   {label}: {len(expected_n)} segments, {_fmt_avgs(want)}")
        return
    print(f"FAIL {label}")
    print(f"  jobs (arrival, burst): {list(jobs)}" + (f", parameters {args}" if args else ""))
    print(f"  expected: {expected_n}")
    print(f"  got:      {common.short(got_n)}")
    print(f"  {_first_difference(expected_n, got_n)}")
    try:
        print(f"  expected {_fmt_avgs(want)}; yours gives {_fmt_avgs(averages(jobs, got_n))}")
    except Exception:  # noqa: BLE001: a malformed answer cannot be averaged
        pass


def oracle_schedule(policy: str, jobs: Sequence[tuple[int, int]], **params: Any) -> list[Segment]:
    """The course simulator's schedule (:func:`hftos.sched.simulate`) as ``(job, start, end)`` segments."""
    from hftos.sched import simulate

    sched = simulate(policy, [tuple(j) for j in jobs], **params)
    return normalize([(s.job if s.kind == "run" else None, s.start, s.end) for s in sched.timeline])


def random_workload(rng: random.Random) -> list[tuple[int, int]]:
    """1-7 jobs, integer arrivals in 0..20 (repeats and gaps likely) and bursts in 1..10."""
    n = rng.randint(1, 7)
    return [(rng.randint(0, 20), rng.randint(1, 10)) for _ in range(n)]


def check_random_schedules(label: str, fn: Callable[..., Any], policy: str, seed: int, count: int,
                           quanta: Sequence[int] = ()) -> None:
    """Compare ``fn`` with the course simulator on ``count`` random workloads from ``random.Random(seed)``.

    With ``quanta``, each workload also draws a quantum from it and ``fn(jobs, quantum)`` is called.
    """
    rng = random.Random(seed)
    for k in range(count):
        jobs = random_workload(rng)
        args: tuple[Any, ...] = (rng.choice(list(quanta)),) if quanta else ()
        params = {"quantum": args[0]} if quanta else {}
        expected = oracle_schedule(policy, jobs, **params)
        ok, got = common.call(fn, list(jobs), *args)
        if not ok:
            print(f"FAIL {label}: {got}")
            return
        try:
            got_n = normalize(got)
        except common.Invalid as exc:
            print(f"FAIL {label}: workload {k}: {exc}")
            return
        if got_n != expected:
            print(f"FAIL {label}: workload {k} of {count} differs")
            print(f"  jobs (arrival, burst): {jobs}" + (f", quantum {args[0]}" if quanta else ""))
            print(f"  expected: {expected}")
            print(f"  got:      {common.short(got_n)}")
            print(f"  {_first_difference(expected, got_n)}")
            return
    print(f"ok   {label}: {count} random workloads match")


def fair_share_oracle(nices: Sequence[int], horizon_us: int, slice_us: int) -> tuple[list[float], list[int]]:
    """The Lab 1 fair-share model: min vruntime runs for one slice (ties to the lower index);
    ``vruntime += slice_us * 1024 // weight``; shares are run time / horizon."""
    from hftos.sched.weights import NICE_0_LOAD, nice_to_weight

    weights = [nice_to_weight(n) for n in nices]
    vruntime = [0] * len(nices)
    ran = [0] * len(nices)
    picks: list[int] = []
    for _ in range(horizon_us // slice_us):
        i = min(range(len(nices)), key=lambda j: (vruntime[j], j))
        picks.append(i)
        ran[i] += slice_us
        vruntime[i] += slice_us * NICE_0_LOAD // weights[i]
    total = (horizon_us // slice_us) * slice_us
    return [r / total for r in ran], picks


def _fair_result(label: str, got: Any, n: int) -> tuple[list[float], list[int]] | None:
    try:
        shares, picks = got
        shares = [float(s) for s in shares]
        picks = [int(p) for p in picks]
    except Exception:  # noqa: BLE001: wrong shape is feedback
        print(f"FAIL {label}: expected a (shares, picks) pair of lists, got {common.short(got)}")
        return None
    if len(shares) != n:
        print(f"FAIL {label}: expected {n} shares (one per task), got {len(shares)}: {common.short(shares)}")
        return None
    return shares, picks


def _call_fair(label: str, fn: Callable[..., Any], nices: Sequence[int], horizon_us: int,
               slice_us: int) -> tuple[list[float], list[int]] | None:
    """Call a student's fair-share function and validate its result's shape; print FAIL and return None if it fails."""
    ok, got = common.call(fn, list(nices), horizon_us, slice_us)
    if not ok:
        print(f"FAIL {label}: {got}")
        return None
    return _fair_result(label, got, len(nices))


def check_fair_share(label: str, fn: Callable[..., Any], nices: Sequence[int], horizon_us: int, slice_us: int,
                     expected_shares: Sequence[float], expected_first: Sequence[int]) -> None:
    """Call ``fn(nices, horizon_us, slice_us)``; compare shares (3 decimals) and the first picks."""
    result = _call_fair(label, fn, nices, horizon_us, slice_us)
    if result is None:
        return
    shares, picks = result
    want = [f"{s:.3f}" for s in expected_shares]
    have = [f"{s:.3f}" for s in shares]
    first = picks[:len(expected_first)]
    slices = horizon_us // slice_us
    if have == want and first == list(expected_first) and len(picks) == slices:
        print(f"ok   {label}: shares {' '.join(want)}; first {len(first)} picks {''.join(map(str, first))}")
        return
    print(f"FAIL {label}: nices {list(nices)}, horizon {horizon_us} us, slice {slice_us} us")
    print(f"  expected shares {' '.join(want)}; got {' '.join(have)}")
    print(f"  expected first picks {''.join(map(str, expected_first))}; got {''.join(map(str, first))}")
    if len(picks) != slices:
        print(f"  expected {slices} picks in all (one per slice), got {len(picks)}")


def check_random_fair_share(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    """Compare ``fn`` with :func:`fair_share_oracle` on ``count`` random task sets from ``random.Random(seed)``."""
    rng = random.Random(seed)
    for k in range(count):
        nices = [rng.randint(-5, 15) for _ in range(rng.randint(1, 5))]
        slice_us = rng.choice([500, 1000, 4000])
        horizon_us = slice_us * rng.randint(1, 120)
        exp_shares, exp_picks = fair_share_oracle(nices, horizon_us, slice_us)
        result = _call_fair(label, fn, nices, horizon_us, slice_us)
        if result is None:
            return
        shares, picks = result
        if [f"{s:.3f}" for s in shares] != [f"{s:.3f}" for s in exp_shares] or picks != exp_picks:
            print(f"FAIL {label}: task set {k} of {count} differs: nices {nices}, horizon {horizon_us} us, "
                  f"slice {slice_us} us")
            print(f"  expected shares {[round(s, 3) for s in exp_shares]}; got {common.short([round(s, 3) for s in shares])}")
            diff = next((i for i, (a, b) in enumerate(zip(exp_picks, picks)) if a != b), min(len(picks), len(exp_picks)))
            print(f"  picks first differ at slice {diff}: expected {exp_picks[diff:diff + 10]}, "
                  f"got {picks[diff:diff + 10]}")
            return
    print(f"ok   {label}: {count} random task sets match")
