"""Invariants every policy must keep, on random small workloads (hypothesis)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hftos.sched import POLICIES, Job, Schedule, simulate

PARAMS = {"rr": {"quantum": 2}, "sched_rr": {"quantum": 3}, "stride": {"quantum": 2},
          "lottery": {"seed": 7}, "mlfq": {"quantum": 3}, "cfs": {"latency": 4, "min_granularity": 1},
          "eevdf": {"base_slice": 1}}

whole = st.integers(0, 20)
job = st.builds(lambda a, b, p, n, t: Job(burst=b, arrival=a, priority=p, nice=n, tickets=t),
                whole, st.integers(1, 12), st.integers(1, 4), st.integers(-5, 5), st.integers(1, 50))
fractional = st.builds(lambda a, b: Job(burst=b, arrival=a),
                       st.sampled_from([0, 0.5, 1.25, 3, 7.1]), st.sampled_from([0.1, 0.25, 1, 2.5, 4]))
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_invariants(s: Schedule, jobs: list[Job]) -> None:
    tol = Fraction(1, 10**6)  # the fair class works in whole nanoseconds of a millisecond
    tl = s.timeline
    assert tl[0].start == 0
    for a, b in zip(tl, tl[1:]):
        assert a.end == b.start and (a.job, a.end) != (b.job, b.start)  # contiguous and merged
    assert all(x.end > x.start for x in tl)
    for i, (j, st_) in enumerate(zip(jobs, s.jobs)):
        mine = [x for x in tl if x.job == i]
        assert abs(sum(Fraction(x.end) - Fraction(x.start) for x in mine) - Fraction(j.burst)) <= tol
        assert min(x.start for x in mine) >= j.arrival
        assert st_.first_run == mine[0].start and st_.completion == mine[-1].end
        assert st_.completion >= j.arrival + j.burst - tol
        assert st_.turnaround == pytest.approx(st_.completion - j.arrival)
        assert st_.wait == pytest.approx(st_.turnaround - j.burst)
        assert st_.response == pytest.approx(st_.first_run - j.arrival) and st_.response >= 0
    for x in tl:
        if x.job is None:  # idle only when nothing is runnable
            assert all(j.arrival >= x.end or st_.completion <= x.start for j, st_ in zip(jobs, s.jobs))
    ran = [x.job for x in tl if x.job is not None]
    assert s.switches == sum(a != b for a, b in zip(ran, ran[1:]))


@pytest.mark.parametrize("policy", POLICIES)
@SETTINGS
@given(jobs=st.lists(job, min_size=1, max_size=6))
def test_invariants(policy, jobs):
    check_invariants(simulate(policy, jobs, **PARAMS.get(policy, {})), jobs)


@pytest.mark.parametrize("policy", ["fcfs", "sjf", "srtf", "rr", "priority-preemptive", "stride", "lottery"])
@SETTINGS
@given(jobs=st.lists(fractional, min_size=1, max_size=5))
def test_invariants_with_fractional_times(policy, jobs):
    params = {"quantum": 0.3} if policy in ("rr", "stride", "lottery") else {}
    check_invariants(simulate(policy, jobs, **params), jobs)


@SETTINGS
@given(jobs=st.lists(job, min_size=1, max_size=6))
def test_srtf_never_worse_than_sjf_on_average_wait(jobs):
    assert simulate("srtf", jobs).averages["wait"] <= simulate("sjf", jobs).averages["wait"] + 1e-9


@SETTINGS
@given(bursts=st.lists(st.integers(1, 30), min_size=1, max_size=8))
def test_sjf_is_optimal_when_all_arrive_together(bursts):
    best = simulate("sjf", bursts).averages["wait"]
    for policy in ("fcfs", "rr", "srtf"):
        assert best <= simulate(policy, bursts).averages["wait"] + 1e-9
