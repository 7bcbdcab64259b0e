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


def _call_schedule(label: str, fn: Callable[..., Any], jobs: list[tuple[int, int]], args: tuple[Any, ...],
                   where: str = "") -> list[Segment] | None:
    """Call ``fn(jobs, *args)`` and normalise its schedule; print ``FAIL`` and return ``None`` if that fails."""
    ok, got = common.call(fn, jobs, *args)
    if not ok:
        print(f"FAIL {label}: {got}")
        return None
    try:
        return normalize(got)
    except common.Invalid as exc:
        print(f"FAIL {label}: {where}{exc}")
        return None


def check_schedule(label: str, fn: Callable[..., Any], jobs: Sequence[tuple[int, int]],
                   expected: Sequence[Segment], *args: Any) -> None:
    """Call ``fn(jobs, *args)`` and compare its schedule with ``expected``; print ``ok ...`` or why not."""
    expected_n = normalize(list(expected))
    got_n = _call_schedule(label, fn, [tuple(j) for j in jobs], args)
    if got_n is None:
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
        got_n = _call_schedule(label, fn, list(jobs), args, where=f"workload {k}: ")
        if got_n is None:
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


# ----------------------------------------------------------------------------- fair share, EEVDF mode

FAIR_MODES = ("cfs", "eevdf")


def eevdf_share_oracle(nices: Sequence[int], horizon_us: int, slice_us: int) -> tuple[list[float], list[int]]:
    """The Lab 1 EEVDF model: every task's vruntime starts at 0 and its virtual deadline at ``vslice``.

    ``vslice = slice_us * 1024 // weight``. A task is eligible when ``vruntime * W <= sum(w_j * vruntime_j)``
    (``W`` the total weight: the integer form of ``vruntime <= V``, as the kernel's ``entity_eligible()`` compares);
    among eligible tasks the earliest deadline runs one slice (ties to the lower index), then
    ``vruntime += vslice`` and ``deadline = vruntime + vslice``. Shares are run time / time simulated.
    """
    from hftos.sched.weights import nice_to_weight

    weights = [nice_to_weight(n) for n in nices]
    total = sum(weights)
    vslice = [slice_us * 1024 // w for w in weights]
    vruntime = [0] * len(nices)
    deadline = list(vslice)
    ran = [0] * len(nices)
    picks: list[int] = []
    for _ in range(horizon_us // slice_us):
        weighted = sum(w * v for w, v in zip(weights, vruntime))
        eligible = [j for j in range(len(nices)) if vruntime[j] * total <= weighted]
        i = min(eligible, key=lambda j: (deadline[j], j))
        picks.append(i)
        ran[i] += slice_us
        vruntime[i] += vslice[i]
        deadline[i] = vruntime[i] + vslice[i]
    simulated = (horizon_us // slice_us) * slice_us
    return [r / simulated for r in ran], picks


def share_oracle(nices: Sequence[int], horizon_us: int, slice_us: int, mode: str = "cfs"
                 ) -> tuple[list[float], list[int]]:
    """:func:`fair_share_oracle` (``mode="cfs"``) or :func:`eevdf_share_oracle` (``mode="eevdf"``)."""
    if mode not in FAIR_MODES:
        raise ValueError(f"mode must be one of {FAIR_MODES}, got {mode!r}")
    return (fair_share_oracle if mode == "cfs" else eevdf_share_oracle)(nices, horizon_us, slice_us)


def check_fair_mode(label: str, fn: Callable[..., Any], nices: Sequence[int], horizon_us: int, slice_us: int,
                    mode: str, expected_shares: Sequence[float], expected_first: Sequence[int]) -> None:
    """Like :func:`check_fair_share`, calling ``fn(nices, horizon_us, slice_us, mode)``."""
    check_fair_share(label, lambda n, h, s: fn(n, h, s, mode), nices, horizon_us, slice_us,
                     expected_shares, expected_first)


def check_random_fair_modes(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    """Compare ``fn(nices, horizon_us, slice_us, mode)`` with :func:`share_oracle` in both modes on ``count``
    random task sets each (``random.Random(seed)``)."""
    rng = random.Random(seed)
    for mode in FAIR_MODES:
        for k in range(count):
            nices = [rng.randint(-5, 15) for _ in range(rng.randint(1, 5))]
            slice_us = rng.choice([500, 700, 1000, 3000])
            horizon_us = slice_us * rng.randint(1, 120)
            exp_shares, exp_picks = share_oracle(nices, horizon_us, slice_us, mode)
            result = _call_fair(label, lambda n, h, s: fn(n, h, s, mode), nices, horizon_us, slice_us)
            if result is None:
                return
            shares, picks = result
            if [f"{s:.3f}" for s in shares] != [f"{s:.3f}" for s in exp_shares] or picks != exp_picks:
                print(f"FAIL {label}: {mode} task set {k} of {count} differs: nices {nices}, "
                      f"horizon {horizon_us} us, slice {slice_us} us")
                print(f"  expected shares {[round(s, 3) for s in exp_shares]}; "
                      f"got {common.short([round(s, 3) for s in shares])}")
                diff = next((i for i, (a, b) in enumerate(zip(exp_picks, picks)) if a != b),
                            min(len(picks), len(exp_picks)))
                print(f"  picks first differ at slice {diff}: expected {exp_picks[diff:diff + 10]}, "
                      f"got {picks[diff:diff + 10]}")
                return
    print(f"ok   {label}: {count} random task sets match in each mode")


# ----------------------------------------------------------------------------- copy-on-write and pagemap

#: The fields a decoded pagemap entry has (Documentation/admin-guide/mm/pagemap.rst).
PAGEMAP_FIELDS = ("present", "swapped", "file", "exclusive", "soft_dirty", "pfn", "swap")


def pagemap_oracle(entry: int) -> dict[str, Any]:
    """Decode one 64-bit ``/proc/<pid>/pagemap`` entry.

    Bit 63 present, 62 swapped, 61 file page or shared anonymous, 56 exclusively mapped, 55 soft-dirty;
    ``pfn`` is bits 0-54 when present and not swapped, else ``None``; ``swap`` is ``(type, offset)`` = (bits 0-4,
    bits 5-54) when swapped, else ``None``.
    """
    if isinstance(entry, bool) or not isinstance(entry, int) or not 0 <= entry < 1 << 64:
        raise ValueError(f"a pagemap entry is an unsigned 64-bit integer, got {entry!r}")
    present, swapped = bool(entry >> 63 & 1), bool(entry >> 62 & 1)
    return {"present": present, "swapped": swapped, "file": bool(entry >> 61 & 1),
            "exclusive": bool(entry >> 56 & 1), "soft_dirty": bool(entry >> 55 & 1),
            "pfn": entry & ((1 << 55) - 1) if present and not swapped else None,
            "swap": (entry & 0x1F, entry >> 5 & ((1 << 50) - 1)) if swapped else None}


def _decoded(got: Any) -> dict[str, Any]:
    if not isinstance(got, dict):
        raise common.Invalid(f"expected a dict with keys {', '.join(PAGEMAP_FIELDS)}, got {common.short(got)}")
    missing = [k for k in PAGEMAP_FIELDS if k not in got]
    if missing:
        raise common.Invalid(f"the dict has no key(s) {', '.join(missing)}: got {common.short(got)}")
    out = {k: got[k] for k in PAGEMAP_FIELDS}
    for k in ("present", "swapped", "file", "exclusive", "soft_dirty"):
        out[k] = bool(out[k]) if isinstance(out[k], (bool, int)) else out[k]
    if isinstance(out["swap"], list):
        out["swap"] = tuple(out["swap"])
    return out


def _check_entries(label: str, fn: Callable[..., Any], entries: Sequence[int]) -> bool:
    for entry in entries:
        ok, got = common.call(fn, entry)
        if not ok:
            print(f"FAIL {label}: {got}")
            return False
        want = pagemap_oracle(entry)
        try:
            have = _decoded(got)
        except common.Invalid as exc:
            print(f"FAIL {label}: entry {entry:#018x}: {exc}")
            return False
        if have != want:
            wrong = [k for k in PAGEMAP_FIELDS if have[k] != want[k]]
            print(f"FAIL {label}: entry {entry:#018x} (bits 63..55: {entry >> 55:09b})")
            for k in wrong:
                print(f"  {k}: expected {want[k]!r}, got {common.short(have[k])}")
            return False
    return True


def check_pagemap(label: str, fn: Callable[..., Any], entries: Sequence[int]) -> None:
    """Decode each of ``entries`` with ``fn`` and compare with :func:`pagemap_oracle`."""
    if _check_entries(label, fn, entries):
        print(f"ok   {label}: {len(entries)} entries decoded")


def check_random_pagemap(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    """Like :func:`check_pagemap` on ``count`` random entries (each flag bit set with probability 1/2)."""
    rng = random.Random(seed)
    entries = [rng.getrandbits(55) | rng.choice([0, 1]) << 63 | rng.choice([0, 1]) << 62 | rng.choice([0, 1]) << 61
               | rng.choice([0, 1]) << 56 | rng.choice([0, 1]) << 55 for _ in range(count)]
    if _check_entries(label, fn, entries):
        print(f"ok   {label}: {count} random entries decoded")


def check_cow_probe(label: str, fn: Callable[..., Any]) -> None:
    """Run the student's copy-on-write experiment on this host; a correct one returns ``(0, 1, 1, "A")``.

    (exclusive bit of the child's page before its write, after it, the child's minor faults during the write, the
    parent's byte afterwards.) Deterministic: the page is private anonymous, smaller than a huge page, populated
    before ``fork``, and the child's write is its only fault when its code path has been warmed up.
    """
    ok, got = common.call(fn)
    if not ok:
        print(f"FAIL {label}: {got}")
        return
    expected = (0, 1, 1, "A")
    try:
        have = (int(got[0]), int(got[1]), int(got[2]), got[3])
        if len(got) != 4:
            raise ValueError
    except Exception:  # noqa: BLE001: wrong shape is feedback
        print(f"FAIL {label}: expected a tuple (exclusive_before, exclusive_after, minor_faults, parent_byte), "
              f"got {common.short(got)}")
        return
    if have == expected:
        print(f"ok   {label}: exclusive {have[0]} -> {have[1]}, {have[2]} minor fault, parent still sees {have[3]!r}")
        return
    print(f"FAIL {label}: expected {expected}, got {common.short(got)}")
    notes = {0: "before the child's write the page is shared with the parent (mapped twice): exclusive bit 0",
             1: "after the write the child has its own copy (mapped once): exclusive bit 1",
             2: "the write is one minor fault; more means other pages were first written between your two readings "
                "(warm the code path up on a second page first)",
             3: "the parent's byte must be unchanged: the child wrote its private copy"}
    for k, (e, h) in enumerate(zip(expected, have)):
        if e != h:
            print(f"  field {k}: expected {e!r}, got {h!r}: {notes[k]}")
