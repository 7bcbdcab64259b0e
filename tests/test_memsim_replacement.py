"""Page-replacement simulator: hand-worked traces, Belady's anomaly, OPT's optimality, LRU's stack property,
OSTEP's paging-policy.py reproduced, and clean rejection of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftos.memsim import replacement as rp

BELADY = "1,2,3,4,1,2,5,1,2,3,4,5"
REFERENCE = json.loads((Path(__file__).parent / "data" / "memsim_paging_policy_reference.json").read_text())


def test_belady_anomaly_fifo():
    assert rp.simulate("fifo", BELADY, 3).faults == 9
    assert rp.simulate("fifo", BELADY, 4).faults == 10


def test_belady_string_other_policies():
    assert rp.simulate("lru", BELADY, 3).faults == 10
    assert rp.simulate("lru", BELADY, 4).faults == 8
    assert rp.simulate("opt", BELADY, 3).faults == 7
    assert rp.simulate("opt", BELADY, 4).faults == 6


def test_fifo_hand_worked_trace():
    run = rp.simulate("fifo", BELADY, 3)
    assert run.hm() == "MMMMMMMHHMMH"
    assert run.evictions == [1, 2, 3, 4, 1, 2]
    assert [a.frames for a in run.trace][:7] == [(1, None, None), (1, 2, None), (1, 2, 3), (4, 2, 3), (4, 1, 3),
                                                 (4, 1, 2), (5, 1, 2)]


def test_silberschatz_string():
    # the classic 20-reference string: FIFO 15, LRU 12, OPT 9 faults with 3 frames
    s = "7,0,1,2,0,3,0,4,2,3,0,3,2,1,2,0,1,7,0,1"
    assert [rp.simulate(p, s, 3).faults for p in ("fifo", "lru", "opt")] == [15, 12, 9]


def test_clock_hand_worked():
    run = rp.simulate("clock", BELADY, 3)
    assert run.hm() == "MMMMMMMHHMMH"          # all R bits set when full: clock degenerates to FIFO here
    run = rp.simulate("clock", "1,2,3,1,4,5", 3)
    # at 4: hand sweeps 1,2,3 clearing R, wraps, evicts 1 (its R was cleared); at 5: evicts 2
    assert run.evictions == [1, 2]
    assert run.trace[-1].frames == (4, 5, 3)


def test_eclock_prefers_clean_and_counts_writebacks():
    run = rp.simulate("eclock", "1w,2,3,4", 3)
    assert run.evictions == [2]                 # 1 is dirty: the clean 2 goes first
    assert run.writebacks == 0
    run = rp.simulate("eclock", "1w,2w,3w,4", 3)
    assert run.evictions == [1] and run.writebacks == 1


def test_writebacks_counted_for_fifo():
    assert rp.simulate("fifo", "1w,2,3,4", 3).writebacks == 1


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=[" ".join(c["flags"]) for c in REFERENCE["cases"]])
def test_reproduces_ostep(case, capsys):
    assert rp.main(case["flags"] + ["-c", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    run = out["runs"][0]
    assert [a["page"] for a in run["trace"]] == case["pages"]
    assert "".join("H" if a["hit"] else "M" for a in run["trace"]) == case["hm"]
    assert run["evictions"] == case["victims"]
    assert (run["hits"], run["faults"]) == (case["hits"], case["misses"])


refs_st = st.lists(st.integers(0, 7), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(refs_st, st.integers(1, 6))
def test_opt_is_optimal(refs, frames):
    opt = rp.simulate("opt", refs, frames).faults
    for p in ("fifo", "lru", "clock", "eclock", "rand"):
        assert opt <= rp.simulate(p, refs, frames).faults


@settings(max_examples=150, deadline=None)
@given(refs_st)
def test_lru_and_opt_have_no_anomaly(refs):
    for p in ("lru", "opt"):
        faults = [rp.simulate(p, refs, f).faults for f in range(1, 9)]
        assert all(a >= b for a, b in zip(faults, faults[1:])), (p, faults)


@settings(max_examples=100, deadline=None)
@given(refs_st, st.integers(1, 6), st.sampled_from(rp.POLICIES))
def test_invariants(refs, frames, policy):
    run = rp.simulate(policy, refs, frames)
    distinct = len(set(refs))
    assert run.faults >= min(distinct, len(refs))            # every distinct page misses once
    assert run.faults + run.hits == len(refs)
    for a in run.trace:
        resident = [p for p in a.frames if p is not None]
        assert a.page in resident and len(resident) == len(set(resident)) <= frames
    if distinct <= frames:
        assert run.faults == distinct


def test_one_frame_faults_on_every_change():
    assert rp.simulate("lru", "1,1,2,2,1", 1).faults == 3


def test_generators_deterministic_and_in_range():
    for gen in (lambda s: rp.uniform(100, 10, seed=s), lambda s: rp.hot_cold(100, 10, seed=s),
                lambda s: rp.phases(100, 20, phase_len=25, set_size=4, seed=s)):
        a, b = gen(3), gen(3)
        assert a == b and len(a) == 100 and all(0 <= x < 20 for x in a)
    assert rp.looping(7, 3) == [0, 1, 2, 0, 1, 2, 0]
    hot = rp.hot_cold(5000, 10, seed=1)
    assert 0.75 < sum(x < 2 for x in hot) / len(hot) < 0.85


def test_working_set_and_pff():
    assert rp.working_set("1,2,1,3,3,3,4", 3) == [1, 2, 2, 3, 2, 1, 2]
    ws = rp.working_set(rp.phases(400, 50, phase_len=100, set_size=5, seed=2), 20)
    assert max(ws) <= 10 and min(ws[20:]) >= 1
    faults, sizes = rp.pff("1,2,3,1,2,3,4,5,6,4,5,6", 2)
    assert faults == 6 and sizes[-1] <= 6


def test_sweep():
    assert rp.sweep(["fifo", "lru"], BELADY, [3, 4]) == {"fifo": [9, 10], "lru": [10, 8]}


@pytest.mark.parametrize("args", [("fifo", "1,x", 3), ("fifo", "1,2", 0), ("nope", "1", 1), ("lru", [-1], 2),
                                  ("lru", "1", True), ("lru", [1.5], 2)])
def test_bad_input(args):
    with pytest.raises(ValueError):
        rp.simulate(*args)
    with pytest.raises(ValueError):
        rp.working_set("1,2", 0)


def test_cli_bad_input_exits_2_without_traceback():
    p = subprocess.run([sys.executable, "-m", "hftos.memsim.replacement", "-p", "lru", "-C", "0", "-a", "1,2", "-c"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "error" in p.stderr and "Traceback" not in p.stderr


def test_cli_table(capsys):
    assert rp.main(["-p", "fifo", "-C", "3,4", "-r", BELADY, "-c", "-N"]) == 0
    out = capsys.readouterr().out
    assert "misses 9" in out and "misses 10" in out and "ARG" in out
