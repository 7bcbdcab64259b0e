"""MLFQ, lottery, stride, CFS, EEVDF, SCHED_FIFO/SCHED_RR and the kernel weight table."""

from __future__ import annotations

import random

import pytest

from hftos.sched import Job, Schedule, simulate
from hftos.sched.fair import CFS, scale_factor
from hftos.sched.engine import recorder
from hftos.sched.weights import SCHED_PRIO_TO_WEIGHT, SCHED_PRIO_TO_WMULT, cpu_shares, nice_to_weight

# Copied by hand from torvalds/linux kernel/sched/core.c (sched_prio_to_weight[40], sched_prio_to_wmult[40]).
KERNEL_WEIGHT = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916,
    9548, 7620, 6100, 4904, 3906, 3121, 2501, 1991, 1586, 1277,
    1024, 820, 655, 526, 423, 335, 272, 215, 172, 137,
    110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
]
KERNEL_WMULT = [
    48388, 59856, 76040, 92818, 118348, 147320, 184698, 229616, 287308, 360437,
    449829, 563644, 704093, 875809, 1099582, 1376151, 1717300, 2157191, 2708050, 3363326,
    4194304, 5237765, 6557202, 8165337, 10153587, 12820798, 15790321, 19976592, 24970740, 31350126,
    39045157, 49367440, 61356676, 76695844, 95443717, 119304647, 148102320, 186737708, 238609294, 286331153,
]


def cpu_until(s: Schedule, job: int, until: float) -> float:
    """CPU time ``job`` received in [0, until)."""
    return sum(min(x.end, until) - x.start for x in s.timeline if x.job == job and x.start < until)


# --- weights -----------------------------------------------------------------------------------

def test_weight_tables_equal_kernel():
    assert list(SCHED_PRIO_TO_WEIGHT) == KERNEL_WEIGHT
    assert list(SCHED_PRIO_TO_WMULT) == KERNEL_WMULT
    assert nice_to_weight(0) == 1024 and nice_to_weight(-20) == 88761 and nice_to_weight(19) == 15


def test_weight_ratio_is_about_1_25_and_wmult_is_inverse():
    for a, b in zip(KERNEL_WEIGHT, KERNEL_WEIGHT[1:]):
        assert 1.19 < a / b < 1.31          # rounding to integers; 18/15 is exactly 1.2
    assert (KERNEL_WEIGHT[0] / KERNEL_WEIGHT[-1]) ** (1 / 39) == pytest.approx(1.25, abs=0.001)
    for w, m in zip(KERNEL_WEIGHT, KERNEL_WMULT):
        assert abs(m - 2**32 / w) <= 1
    assert [round(x, 3) for x in cpu_shares([0, 1])] == [0.555, 0.445]


def test_scale_factor():
    assert [scale_factor(n) for n in (1, 2, 3, 4, 8, 64)] == [1, 2, 2, 3, 4, 4]


# --- CFS ---------------------------------------------------------------------------------------

def test_cfs_integer_vruntime():
    jobs = [Job(10, nice=5)]
    pol = CFS(jobs, recorder(jobs, 0, 1_000_000), 6_000_000, 750_000)
    pol.charge(0, 1_000_000)
    assert pol.vruntime[0] == 1_000_000 * 1024 // 335 == 3056716


def test_cfs_default_slices_follow_latency_and_ncpu():
    assert tuple(simulate("cfs", [10, 10]).timeline[0])[:3] == (0, 0, 3)          # 6 ms / 2
    assert tuple(simulate("cfs", [10, 10], ncpu=8).timeline[0])[:3] == (0, 0, 10)  # 24 ms / 2 > burst
    assert tuple(simulate("cfs", [10] * 16).timeline[0])[:3] == (0, 0, 0.75)        # min_granularity


@pytest.mark.parametrize("nices", [[0, 5], [0, 1, 2], [-3, 0, 4, 10]])
def test_cfs_shares_converge_to_weight_ratio(nices):
    s = simulate("cfs", [Job(5000, nice=n) for n in nices])
    horizon = min(j.completion for j in s.jobs)
    got = [cpu_until(s, i, horizon) / horizon for i in range(len(nices))]
    assert got == pytest.approx(cpu_shares(nices), abs=0.01)


def test_cfs_late_arrival_placed_at_min_vruntime_does_not_monopolise():
    s = simulate("cfs", [Job(200), Job(50, arrival=100)])
    assert s.jobs[1].completion > 190        # shares the CPU instead of running 100..150 alone
    assert s.jobs[0].completion == 250


def test_eevdf_alternates_base_slices_and_shares_by_weight():
    s = simulate("eevdf", [10, 10])  # default base slice: 0.70 ms on one CPU (Linux 6.15+)
    assert [tuple(x)[:3] for x in s.timeline[:3]] == [(0, 0, 0.7), (1, 0.7, 1.4), (0, 1.4, 2.1)]
    s = simulate("eevdf", [10, 10], base_slice=0.75)  # kernels 6.6-6.14
    assert [tuple(x)[:3] for x in s.timeline[:3]] == [(0, 0, 0.75), (1, 0.75, 1.5), (0, 1.5, 2.25)]
    nices = [0, 3, 6]
    s = simulate("eevdf", [Job(3000, nice=n) for n in nices])
    horizon = min(j.completion for j in s.jobs)
    got = [cpu_until(s, i, horizon) / horizon for i in range(3)]
    assert got == pytest.approx(cpu_shares(nices), abs=0.01)
    assert any("eligible" in line and "lag" in line for line in s.trace)


def test_eevdf_late_arrival_zero_lag():
    s = simulate("eevdf", [Job(200), Job(50, arrival=100)], base_slice=3)
    assert s.jobs[1].completion > 190 and s.jobs[0].completion == 250


def test_fair_units():
    a = simulate("cfs", [10, 10])
    b = simulate("cfs", [10_000, 10_000], unit="us")
    assert [x.end for x in b.timeline] == [x.end * 1000 for x in a.timeline]


# --- real-time ---------------------------------------------------------------------------------

def test_sched_fifo_higher_priority_preempts_and_preempted_goes_to_head():
    jobs = [Job(5, priority=10), Job(2, arrival=1, priority=20), Job(3, arrival=1, priority=10)]
    s = simulate("sched_fifo", jobs)
    assert [tuple(x)[:3] for x in s.timeline] == [(0, 0, 1), (1, 1, 3), (0, 3, 7), (2, 7, 10)]


def test_sched_rr_rotates_and_keeps_unexpired_quantum():
    jobs = [Job(5, priority=10), Job(3, priority=10), Job(1, arrival=1, priority=50)]
    s = simulate("sched_rr", jobs, quantum=2)
    assert [tuple(x)[:3] for x in s.timeline] == [(0, 0, 1), (2, 1, 2), (0, 2, 3), (1, 3, 5), (0, 5, 7), (1, 7, 8), (0, 8, 9)]


def test_sched_rr_default_quantum_is_100():
    s = simulate("sched_rr", [Job(250, priority=1), Job(250, priority=1)])
    assert s.params["quantum"] == 100 and tuple(s.timeline[0])[:3] == (0, 0, 100)


# --- proportional share ------------------------------------------------------------------------

def test_stride_matches_ostep_figure():
    s = simulate("stride", [Job(100, tickets=100), Job(100, tickets=50), Job(100, tickets=250)])
    assert [tuple(x)[:3] for x in s.timeline[:5]] == [(0, 0, 1), (1, 1, 2), (2, 2, 5), (0, 5, 6), (2, 6, 8)]


def test_lottery_share_close_to_ticket_ratio_and_deterministic():
    jobs = [Job(4000, tickets=75), Job(4000, tickets=25)]
    s = simulate("lottery", jobs, seed=42)
    horizon = min(j.completion for j in s.jobs)
    assert cpu_until(s, 0, horizon) / horizon == pytest.approx(0.75, abs=0.03)
    assert simulate("lottery", jobs, seed=42).timeline == s.timeline
    assert simulate("lottery", jobs, seed=random.Random(42)).timeline == s.timeline
    assert simulate("lottery", jobs, seed=43).timeline != s.timeline


def test_lottery_ostep_clock_charges_whole_quanta():
    jobs = [Job(3, tickets=1)]
    assert simulate("lottery", jobs, quantum=2).jobs[0].completion == 3
    assert simulate("lottery", jobs, quantum=2, ostep=True).jobs[0].completion == 4


# --- MLFQ --------------------------------------------------------------------------------------

def test_mlfq_io_blocks_and_idles():
    s = simulate("mlfq", [Job(5, io=2)], io_time=3)
    assert [tuple(x)[:3] for x in s.timeline] == [(0, 0, 2), (None, 2, 5), (0, 5, 7), (None, 7, 10), (0, 10, 11)]
    assert s.jobs[0].wait == 0 and s.jobs[0].turnaround == 11


def test_mlfq_demotes_after_allotment_and_new_job_preempts():
    s = simulate("mlfq", [Job(30), Job(5, arrival=12)], quantum=10, queues=2)
    # J0 uses its top-level quantum 0..10, is demoted; J1 arrives at 12 at the top and runs at once.
    assert [tuple(x)[:3] for x in s.timeline] == [(0, 0, 12), (1, 12, 17), (0, 17, 35)]


def test_mlfq_boost_modes_differ_only_in_bookkeeping():
    jobs = [Job(60), Job(60)]
    ours = simulate("mlfq", jobs, quantum=[4, 8], boost=20)
    ostep = simulate("mlfq", jobs, quantum=[4, 8], boost=20, ostep=True)
    assert ours.timeline != ostep.timeline
    assert {j.completion for j in ours.jobs} | {j.completion for j in ostep.jobs} <= set(range(100, 121))
