"""MESI/MOESI simulator: hand-worked textbook traces, the coherence invariants on random traces, the trace builders,
the command line, and clean rejection of bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftos.coherence import mesi


def test_culler_singh_gupta_example():
    # CSG 5.3: P1 reads u, P3 reads u, P3 writes u, P1 reads u, P2 reads u (cores 0..2 here)
    run = mesi.simulate([(0, "R", 0), (2, "R", 0), (2, "W", 0), (0, "R", 0), (1, "R", 0)])
    assert [s.states for s in run.trace] == [("E", "I", "I"), ("S", "I", "S"), ("I", "I", "M"), ("S", "I", "S"),
                                             ("S", "S", "S")]
    assert [s.bus for s in run.trace] == ["BusRd", "BusRd", "BusUpgr", "BusRd", "BusRd"]
    assert [s.source for s in run.trace] == ["memory", "memory", None, "cache", "memory"]
    assert run.trace[3].supplier == 2 and run.trace[3].writeback
    assert run.trace[2].invalidated == (0,)
    assert run.counters() == {"invalidations": 1, "bus_transactions": 5, "writebacks": 1, "c2c": 1, "hits": 1,
                              "misses": 4}         # the write to S is a hit that still needs BusUpgr
    assert run.final == {0: ("S", "S", "S")}


def test_exclusive_avoids_the_bus_on_write():
    run = mesi.simulate("0R0,0W0,0W0,0R0")
    assert [s.bus for s in run.trace] == ["BusRd", None, None, None]
    assert [s.states for s in run.trace] == [("E",), ("M",), ("M",), ("M",)]
    assert run.hits == 3 and run.bus_transactions == 1


def test_write_miss_steals_modified_line():
    run = mesi.simulate("0W0,1W0")
    assert run.trace[0].bus == "BusRdX" and run.trace[0].source == "memory"
    t = run.trace[1]
    assert (t.bus, t.source, t.supplier, t.invalidated, t.writeback, t.states) == \
        ("BusRdX", "cache", 0, (0,), True, ("I", "M"))


def test_write_miss_invalidates_all_sharers():
    run = mesi.simulate("0R0,1R0,2R0,3W0")
    assert run.trace[-1].invalidated == (0, 1, 2)
    assert run.trace[-1].states == ("I", "I", "I", "M")
    assert run.invalidations == 3


def test_eviction():
    run = mesi.simulate("0W0,0X0,1R0,1X0,1X0")
    assert [(s.bus, s.writeback) for s in run.trace] == [("BusRdX", False), ("Flush", True), ("BusRd", False),
                                                          (None, False), (None, False)]
    assert run.trace[2].states == ("I", "E")
    assert run.final == {0: ("I", "I")}


def test_moesi_owner_keeps_dirty_line():
    run = mesi.simulate("0W0,1R0,2R0,1W0", protocol="moesi")
    assert [s.states for s in run.trace] == [("M", "I", "I"), ("O", "S", "I"), ("O", "S", "S"), ("I", "M", "I")]
    assert [s.source for s in run.trace] == ["memory", "cache", "cache", None]
    assert run.trace[3].bus == "BusUpgr" and run.trace[3].invalidated == (0, 2)
    assert run.writebacks == 0
    assert mesi.simulate("0W0,1R0,0X0", protocol="moesi").trace[-1].writeback
    # the same trace under MESI writes back on the first snooped read
    assert mesi.simulate("0W0,1R0,2R0,1W0").writebacks == 1


def test_step_is_the_transition_function():
    t = mesi.step(("S", "S", "I"), 2, "W")
    assert t.states == ("I", "I", "M") and t.bus == "BusRdX" and t.invalidated == (0, 1) and t.source == "memory"
    assert mesi.step("EI", 1, "R") == mesi.step(("E", "I"), 1, "R")
    assert mesi.step(("E", "I"), 1, "R").states == ("S", "S")
    assert mesi.step(("I", "I"), 1, "R").states == ("I", "E")


def test_false_sharing_vs_padding():
    fs = mesi.simulate(mesi.false_sharing(10))
    pd = mesi.simulate(mesi.padded(10))
    assert fs.invalidations == 19 and fs.bus_transactions == 20 and fs.c2c == 19
    assert pd.invalidations == 0 and pd.bus_transactions == 2 and pd.hits == 18
    assert pd.final == {0: ("M", "I"), 1: ("I", "M")}


def test_ping_pong_and_producer_consumer():
    pp = mesi.simulate(mesi.ping_pong(3))
    # round 1: 0W (RdX) 1R (Rd, c2c) 1W (Upgr) 0R (Rd, c2c); later rounds 0W is an upgrade from S
    assert pp.bus_counts() == {"BusRd": 6, "BusRdX": 1, "BusUpgr": 5, "Flush": 0}
    assert pp.invalidations == 5
    pc = mesi.simulate(mesi.producer_consumer(3))
    assert pc.invalidations == 4 and pc.c2c == 6
    assert pc.final == {0: ("S", "S"), 1: ("S", "S")}


def test_random_trace_is_seeded():
    assert mesi.random_trace(20, 3, 2, seed=5) == mesi.random_trace(20, 3, 2, seed=5)
    assert mesi.random_trace(20, 3, 2, seed=5) != mesi.random_trace(20, 3, 2, seed=6)
    assert all(op == "W" for _, op, _ in mesi.random_trace(10, write_frac=1.0))


def test_parse_and_format_round_trip():
    ops = [(0, "R", 0), (1, "W", 3), (2, "X", 1)]
    assert mesi.parse_trace("0R0, 1w3 ,2x1") == ops
    assert mesi.parse_trace("0:R:0,P1 W L3,2X1") == ops
    assert mesi.parse_trace(mesi.format_trace(ops)) == ops


@pytest.mark.parametrize("bad", ["0Q0", "R0", "x", [(0, "R")], [(0, "Z", 0)], [("0", "R", 0)], [(-1, "R", 0)],
                                 [(True, "R", 0)]])
def test_bad_trace(bad):
    with pytest.raises(ValueError):
        mesi.simulate(bad)


def test_bad_arguments():
    with pytest.raises(ValueError, match="protocol"):
        mesi.simulate("0R0", protocol="msi")
    with pytest.raises(ValueError, match="cores"):
        mesi.simulate("3R0", cores=2)
    with pytest.raises(ValueError, match="impossible"):
        mesi.step(("M", "S"), 0, "R")
    with pytest.raises(ValueError, match="state"):
        mesi.step(("O", "I"), 0, "R")          # O is not a MESI state
    with pytest.raises(ValueError, match="core"):
        mesi.step(("I", "I"), 2, "R")
    with pytest.raises(ValueError):
        mesi.false_sharing(0)


ops_strategy = st.lists(st.tuples(st.integers(0, 3), st.sampled_from("RWX"), st.integers(0, 2)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, protocol=st.sampled_from(mesi.PROTOCOLS))
def test_invariants_hold_at_every_step(ops, protocol):
    run = mesi.simulate(ops, cores=4, protocol=protocol)
    last: dict[int, tuple[str, ...]] = {}
    for s in run.trace:
        assert mesi.check_invariants(s.states) == ""
        assert s.before == last.get(s.line, ("I",) * 4)
        last[s.line] = s.states
        if s.op == "W":
            assert s.states[s.core] == "M"
            assert all(x == "I" for c, x in enumerate(s.states) if c != s.core)
        elif s.op == "R":
            assert s.states[s.core] != "I"
            assert s.hit == (s.bus is None)
        else:
            assert s.states[s.core] == "I"
        # only ops that are not hits (or writes to shared copies) use the bus; invalidations only by RdX/Upgr
        assert not s.invalidated or s.bus in ("BusRdX", "BusUpgr")
        assert (s.source == "cache") == (s.supplier is not None)
    assert run.final == dict(sorted(last.items()))
    assert run.bus_transactions == sum(run.bus_counts().values())


@settings(max_examples=80, deadline=None)
@given(ops=ops_strategy)
def test_moesi_never_writes_back_more_than_mesi(ops):
    a = mesi.simulate(ops, cores=4)
    b = mesi.simulate(ops, cores=4, protocol="moesi")
    assert b.writebacks <= a.writebacks
    assert b.invalidations == a.invalidations        # the same copies are valid/invalid in both
    assert [tuple(x != "I" for x in s.states) for s in a.trace] == [tuple(x != "I" for x in s.states)
                                                                     for s in b.trace]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hftos.coherence.mesi", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_solve_and_json():
    p = _cli("-t", "0R0,2R0,2W0,0R0,1R0", "-c")
    assert p.returncode == 0
    assert "ARG trace 0R0,2R0,2W0,0R0,1R0" in p.stdout
    assert "FINAL line 0: P0=S P1=S P2=S" in p.stdout
    assert "invalidations 1" in p.stdout
    q = _cli("--pattern", "false_sharing", "-n", "3", "--json")
    d = json.loads(q.stdout)
    assert d["run"]["invalidations"] == 5 and d["args"]["trace"] == "0W0,1W0,0W0,1W0,0W0,1W0"
    r = _cli("-s", "4", "-n", "6")
    assert r.returncode == 0 and "states?" in r.stdout and "FINAL" not in r.stdout


@pytest.mark.parametrize("args", [["-t", "0Q0"], ["--protocol", "msi"], ["--pattern", "nope"], ["-p", "0"],
                                  ["-t", "0R0", "--pattern", "ping_pong"], ["--bogus"]])
def test_cli_bad_input(args):
    p = _cli(*args)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "error" in p.stderr
