"""Classic policies: the source text's worked examples and hand-worked timelines."""

from __future__ import annotations

import json

import pytest

from hftos.sched import POLICIES, Job, SchedError, Slice, simulate


def timeline(policy: str, jobs, **params) -> list[tuple]:
    return [tuple(s)[:3] for s in simulate(policy, jobs, **params).timeline]


# --- the source text's examples (errata E15) --------------------------------------------------

def test_fcfs_convoy_example():
    s = simulate("fcfs", [24, 3, 3])
    assert s.averages["wait"] == 17
    assert [j.wait for j in s.jobs] == [0, 24, 27]
    assert simulate("fcfs", [3, 3, 24]).averages["wait"] == 3


def test_sjf_example():
    assert simulate("sjf", [24, 3, 3]).averages["wait"] == 3


def test_rr_example():
    s = simulate("rr", [24, 3, 3], quantum=4)
    assert round(s.averages["wait"], 2) == 5.67
    assert timeline("rr", [24, 3, 3], quantum=4) == [(0, 0, 4), (1, 4, 7), (2, 7, 10), (0, 10, 30)]
    assert s.switches == 3


def test_aliases_and_case():
    assert simulate("FIFO", [24, 3, 3]).policy == "fcfs"
    assert simulate("STCF", [5, 1]).policy == "srtf"
    assert simulate("SCHED-FIFO", [Job(1, priority=1)]).policy == "sched_fifo"
    assert set(POLICIES) >= {"fcfs", "sjf", "srtf", "rr", "priority", "priority-preemptive", "mlfq",
                             "lottery", "stride", "cfs", "eevdf", "sched_fifo", "sched_rr"}


# --- hand-worked cases with arrivals and idle gaps -------------------------------------------

def test_fcfs_idle_gap_jumps_to_next_arrival_and_ties_by_id():
    jobs = [(0, 3), (5, 2), (5, 1)]
    assert timeline("fcfs", jobs) == [(0, 0, 3), (None, 3, 5), (1, 5, 7), (2, 7, 8)]


def test_fcfs_ties_by_arrival_then_id():
    jobs = [(2, 1), (0, 1), (0, 1)]
    assert timeline("fcfs", jobs) == [(1, 0, 1), (2, 1, 2), (0, 2, 3)]


def test_sjf_with_arrivals():
    jobs = [(0, 7), (2, 4), (4, 1), (5, 4)]
    s = simulate("sjf", jobs)
    assert [tuple(x)[:3] for x in s.timeline] == [(0, 0, 7), (2, 7, 8), (1, 8, 12), (3, 12, 16)]
    assert s.averages["wait"] == 4


def test_srtf_with_arrivals():
    jobs = [(0, 7), (2, 4), (4, 1), (5, 4)]
    s = simulate("srtf", jobs)
    assert [tuple(x)[:3] for x in s.timeline] == [(0, 0, 2), (1, 2, 4), (2, 4, 5), (1, 5, 7), (3, 7, 11), (0, 11, 16)]
    assert s.averages["wait"] == 3
    assert [j.response for j in s.jobs] == [0, 0, 0, 2]


def test_srtf_equal_remaining_does_not_preempt():
    assert timeline("srtf", [(0, 4), (1, 3)]) == [(0, 0, 4), (1, 4, 7)]


def test_rr_arrivals_and_idle():
    jobs = [(0, 3), (1, 4), (10, 2)]
    assert timeline("rr", jobs, quantum=2) == [(0, 0, 2), (1, 2, 4), (0, 4, 5), (1, 5, 7), (None, 7, 10), (2, 10, 12)]


def test_rr_new_arrival_queued_before_preempted_job():
    # J1 arrives exactly when J0's quantum expires: it goes first (errata E23).
    assert timeline("rr", [(0, 4), (2, 2)], quantum=2) == [(0, 0, 2), (1, 2, 4), (0, 4, 6)]


def test_rr_lone_job_keeps_running_without_switch():
    s = simulate("rr", [5], quantum=1)
    assert s.timeline == [Slice(0, 0, 5)] and s.switches == 0


def test_rr_exact_fractions():
    s = simulate("rr", [0.3, 0.2], quantum=0.1)
    assert [j.completion for j in s.jobs] == [0.5, 0.4]
    assert len(s.timeline) == 5


def test_priority_non_preemptive_and_preemptive():
    jobs = [Job(5, priority=3), Job(2, arrival=1, priority=1), Job(1, arrival=2, priority=2)]
    assert timeline("priority", jobs) == [(0, 0, 5), (1, 5, 7), (2, 7, 8)]
    assert timeline("priority-preemptive", jobs) == [(0, 0, 1), (1, 1, 3), (2, 3, 4), (0, 4, 8)]


def test_switch_cost_between_different_jobs_only():
    s = simulate("fcfs", [3, 3], switch_cost=1)
    assert s.timeline == [Slice(0, 0, 3), Slice(None, 3, 4, "switch"), Slice(1, 4, 7)]
    assert s.switches == 1 and s.jobs[1].wait == 4
    assert simulate("rr", [5], quantum=1, switch_cost=1).timeline == [Slice(0, 0, 5)]
    # after an idle gap the switch to a different job is still paid, as its own slice
    s = simulate("fcfs", [(0, 2), (5, 1)], switch_cost=0.5)
    assert s.timeline == [Slice(0, 0, 2), Slice(None, 2, 5, "idle"), Slice(None, 5, 5.5, "switch"),
                          Slice(1, 5.5, 6.5)]
    assert [line for line in s.trace if "context switch" in line] == ["t=5: context switch J0 -> J1 until 5.5"]


def test_schedule_output_forms():
    s = simulate("rr", [24, 3, 3], quantum=4)
    d = json.loads(json.dumps(s.to_dict()))
    assert d["policy"] == "rr" and d["params"] == {"quantum": 4, "switch_cost": 0}
    assert [j["id"] for j in d["jobs"]] == [0, 1, 2] and set(d["averages"]) == {"response", "turnaround", "wait"}
    text = str(s)
    assert "5.67" in text and "J2" in text
    assert any("J1 done" in line for line in s.trace)


def test_job_input_forms_are_equivalent():
    a = simulate("fcfs", [(0, 3), (1, 2)])
    b = simulate("fcfs", [Job(3), {"burst": 2, "arrival": 1}])
    assert a.timeline == b.timeline and a.jobs == b.jobs


@pytest.mark.parametrize("call, message", [
    (lambda: simulate("fcfs", [0]), "burst"),
    (lambda: simulate("fcfs", [-1]), "burst"),
    (lambda: simulate("fcfs", [(-1, 2)]), "arrival"),
    (lambda: simulate("fcfs", []), "no jobs"),
    (lambda: simulate("fcfs", ["x"]), "job 0"),
    (lambda: simulate("cfs", [Job(1, nice=20)]), "nice"),
    (lambda: simulate("cfs", [{"burst": 1, "nice": -21}]), "nice"),
    (lambda: simulate("sched_fifo", [Job(1, priority=0)]), "1..99"),
    (lambda: simulate("sched_rr", [Job(1, priority=100)]), "1..99"),
    (lambda: simulate("nope", [1]), "valid: fcfs"),
    (lambda: simulate("rr", [1], quantum=0), "quantum"),
    (lambda: simulate("rr", [1], quantum=-2), "quantum"),
    (lambda: simulate("lottery", [Job(1, tickets=0)]), "tickets"),
    (lambda: simulate("rr", [1], quantun=2), "quantun"),
    (lambda: simulate("fcfs", [1], quantum=2), "valid: switch_cost"),
    (lambda: simulate("fcfs", [1], switch_cost=-1), "switch_cost"),
    (lambda: simulate("rr", [Job(3, io=1)]), "I/O"),
    (lambda: simulate("fcfs", [{"burst": 1, "bogus": 2}]), "bogus"),
    (lambda: simulate("mlfq", [1.5]), "whole"),
    (lambda: simulate("cfs", [1], unit="hours"), "unit"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(SchedError, match=message) as info:
        call()
    assert isinstance(info.value, ValueError)
