"""Lab 4's check helpers and course-provided pieces, without the grader: the ring memory and its layout, the
two-process harness, every helper's FAIL feedback on wrong and wrong-shaped answers, the oracles against the
simulators, and the reference answers beyond the hidden checks."""

from __future__ import annotations

import mmap

import nbformat
import pytest

from hftos.coherence import mesi, seqlock
from hftos.grade import cells as _cells
from hftos.grade.labchecks import lab04 as c
from test_grade_lab04 import (MESI_WITHOUT_E, REFERENCE, RING_WASTES_A_SLOT, SEQLOCK_WITHOUT_ODD_CHECK,
                              reference_answers)


def _ns(*sources: str) -> dict:
    ns: dict = {"Ring": c.Ring}
    for src in sources:
        exec(src, ns)  # noqa: S102: the reference solution and our own wrong answers
    return ns


@pytest.fixture(scope="module")
def ref() -> dict:
    a = reference_answers()
    return _ns(a["t1-answer"], a["t2-answer"], a["t3-answer"])


def test_ring_layout_and_validation() -> None:
    r = c.Ring(8)
    assert (r.capacity, r.mask, c.Ring.size(8)) == (8, 7, 128 + 64)
    assert c.HEAD_OFF % c.CACHE_LINE == 0 and c.TAIL_OFF % c.CACHE_LINE == 0 and c.TAIL_OFF - c.HEAD_OFF >= 64
    buf = bytearray(c.Ring.size(4))
    ring = c.Ring(4, buf, start=5)
    ring.store_slot(3, 0xDEADBEEF)
    ring.store_head(6)
    assert int.from_bytes(buf[0:8], "little") == 6 and int.from_bytes(buf[64:72], "little") == 5
    assert int.from_bytes(buf[128 + 24:128 + 32], "little") == 0xDEADBEEF
    assert ring.load_tail() == 5 and ring.load_slot(3) == 0xDEADBEEF
    with pytest.raises(IndexError, match="k & ring.mask"):
        ring.load_slot(4)
    with pytest.raises(ValueError, match="unsigned 64-bit"):
        ring.store_head(-1)
    for bad in (0, 3, 6, True, 2.0):
        with pytest.raises(ValueError, match="power of two"):
            c.Ring(bad)
    with pytest.raises(ValueError, match="needs"):
        c.Ring(8, bytearray(100))
    m = mmap.mmap(-1, c.Ring.size(2), flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    r2 = c.Ring(2, m)
    r2.store_tail(9)
    r2.release()
    m.close()


def test_tracing_ring_logs_every_access() -> None:
    t = c.TracingRing(2, start=4)
    t.store_slot(t.load_head() & t.mask, 7)
    t.store_head(5)
    assert t.log == [("load_head", 4), ("store_slot", 0, 7), ("store_head", 5)]


def test_stream_stats() -> None:
    assert c.stream_stats([0, 1, 2, 3], 4) == {"received": 4, "missing": 0, "duplicates": 0, "out_of_order": 0,
                                               "crc32": c.stream_stats(list(range(4)), 4)["crc32"]}
    s = c.stream_stats([0, 2, 2, 1], 4)
    assert (s["missing"], s["duplicates"], s["out_of_order"]) == (1, 1, 3)
    assert c.stream_stats([1, 0], 2)["crc32"] != c.stream_stats([0, 1], 2)["crc32"]   # order-sensitive


def test_two_processes_reference_and_broken(ref: dict) -> None:
    r = c.run_two_processes(ref["push"], ref["pop"], 50_000, capacity=8, timeout=20)
    assert (r["received"], r["missing"], r["duplicates"], r["out_of_order"], r["child"], r["consumer"]) == \
        (50_000, 0, 0, 0, "ok", "ok")
    r = c.run_two_processes(lambda ring, v: False, ref["pop"], 10, timeout=1)
    assert r["timed_out"] and r["received"] == 0 and r["child"] == "the producer did not finish"
    r = c.run_two_processes(lambda ring, v: 1 / 0, ref["pop"], 10, timeout=5)
    assert "ZeroDivisionError" in r["child"] and not r["timed_out"]


def test_ring_checks_feedback(ref: dict, capsys: pytest.CaptureFixture[str]) -> None:
    push, pop = ref["push"], ref["pop"]
    wrong = _ns(RING_WASTES_A_SLOT)
    c.check_ring_full("full", wrong["push"], wrong["pop"], 4, 1_000_003, 5)
    out = capsys.readouterr().out
    assert out.startswith("FAIL full") and "push(3): expected True, got False" in out and "3 of 4 slots" in out

    def publish_first(ring, value):
        h = ring.load_head()
        if h - ring.load_tail() == ring.capacity:
            return False
        ring.store_head(h + 1)
        ring.store_slot(h & ring.mask, value)
        return True

    c.check_ring_order("order", publish_first, pop, 4, [1, None])
    assert "head was stored before the slot" in capsys.readouterr().out

    def slot_first(ring):
        t = ring.load_tail()
        v = ring.load_slot(t & ring.mask)
        if ring.load_head() == t:
            return None
        ring.store_tail(t + 1)
        return v

    c.check_ring_order("order", push, slot_first, 4, [1, None])
    assert "the slot was read before head" in capsys.readouterr().out
    c.check_ring_basic("basic", lambda r, v: r.store_slot(r.load_head(), v) or True, pop, 4, [1, 2, 3, 4, 5])
    assert "push(5): expected False, got True" in capsys.readouterr().out          # unmasked index / no full test
    c.check_ring_basic("basic", push, lambda r: "x", 4, [1, None])
    assert "pop() must return an int or None, got 'x'" in capsys.readouterr().out
    c.check_ring_basic("basic", lambda r, v: None, pop, 4, [1])
    assert "push() must return True or False, got None" in capsys.readouterr().out
    c.check_random_ring("hidden", wrong["push"], wrong["pop"], 4101, 200)
    assert capsys.readouterr().out.startswith("FAIL hidden: case ")
    c.check_ring_cross_process("x", lambda r, v: None, pop, 100, 64)
    assert capsys.readouterr().out == "FAIL x: push() must return True or False, got None\n"
    c.check_ring_cross_process("x", push, lambda r: None, 100, 64, timeout=1)
    out = capsys.readouterr().out
    assert "expected: received 100" in out and "got:      received 0" in out and "gave up after 1 s" in out


def test_seqlock_checks_feedback(ref: dict, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = _ns(SEQLOCK_WITHOUT_ODD_CHECK)["seqlock_reads"]
    c.check_seqlock("odd", wrong, [("wwrrrrwwrrrr", 2, True, "torn-retried ok")])
    out = capsys.readouterr().out
    assert out.startswith("FAIL odd") and "attempt 0: expected (seq1 1, copy (1, 0), seq2 1, accepted=False)" in out
    assert "expected outcomes: torn-retried, ok" in out
    c.check_random_seqlock("hidden", wrong, 4201, 150)
    assert capsys.readouterr().out.startswith("FAIL hidden: schedule ")
    for bad, msg in ((lambda s, w, k: None, "expected a list of (seq1, copy, seq2, accepted) tuples, got NoneType"),
                     (lambda s, w, k: [(0, 0, 0, True)], "attempt 0 should be a (seq1, copy, seq2, accepted) tuple"),
                     (lambda s, w, k: [(0, (0,), 0, 1)], "accepted must be True or False"),
                     (lambda s, w, k: [], "expected 2 completed attempts, got 0")):
        c.check_seqlock("x", bad, [("wwrrrrwwrrrr", 2, True, "torn-retried ok")])
        assert msg in capsys.readouterr().out
    c.check_seqlock("ok", ref["seqlock_reads"], [("wwrrrrwwrrrr", 2, True, "torn-retried ok")])
    assert capsys.readouterr().out == "ok   ok: torn-retried ok\n"


def test_mesi_checks_feedback(ref: dict, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = _ns(MESI_WITHOUT_E)["mesi_step"]
    c.check_mesi_steps("reads", wrong, [("III", 0, "R", "EII", "BusRd")])
    out = capsys.readouterr().out
    assert "expected P0=E P1=I P2=I, bus BusRd" in out and "got      P0=S P1=I P2=I, bus BusRd" in out
    c.check_mesi_trace("t", wrong, "0R0,2R0,2W0,0R0,1R0", 3, {0: "SSS"}, 1)
    out = capsys.readouterr().out
    assert out.startswith("FAIL t: trace 0R0,2R0,2W0,0R0,1R0") and "step 0: P0 reads line 0" in out
    c.check_random_mesi("hidden", wrong, 4301, 200)
    assert capsys.readouterr().out.startswith("FAIL hidden: trace ")
    c.check_false_sharing("fs", wrong, 10)                       # writes only: MSI and MESI agree
    assert capsys.readouterr().out.startswith("ok   fs")
    for bad, msg in ((lambda s, k, o: None, "expected a (new_states, bus) pair, got None"),
                     (lambda s, k, o: (("X", "I"), None), "each 'M', 'E', 'S' or 'I'"),
                     (lambda s, k, o: (s, "BusRead"), "bus must be None, 'BusRd', 'BusRdX' or 'BusUpgr'"),
                     (lambda s, k, o: s[5], "raised IndexError")):
        c.check_mesi_steps("x", bad, [("II", 0, "R", "EI", "BusRd")])
        assert msg in capsys.readouterr().out
    c.check_mesi_trace("x", lambda s, k, o: ("EI", "BusRd"), "0R0", 2, {0: "EI"}, 0)   # states as a string: accepted
    assert capsys.readouterr().out.startswith("ok   x")


def test_oracles_are_the_simulators() -> None:
    for seed in range(30):
        run = seqlock.simulate(None, words=3, updates=2, reads=2, seed=seed)
        sched = "".join(x[0] for x in run.schedule)
        assert c.seqlock_oracle(sched, 3) == [(a.seq1, a.words, a.seq2, a.accepted) for a in run.attempts]
    assert c.mesi_oracle(("S", "S"), 0, "W") == (("M", "I"), "BusUpgr")


def test_reference_answers_agree_with_the_oracles_beyond_the_hidden_checks(
        ref: dict, capsys: pytest.CaptureFixture[str]) -> None:
    c.check_random_ring("ring", ref["push"], ref["pop"], seed=1, count=300)
    c.check_random_seqlock("seqlock", ref["seqlock_reads"], seed=1, count=300)
    c.check_random_mesi("mesi", ref["mesi_step"], seed=1, count=300)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(line.startswith("ok   ") for line in out), out
    # the transition function agrees with the simulator on every coherent 3-core state, both ops, every core
    import itertools

    for st in itertools.product("MESI", repeat=3):
        if mesi.check_invariants(st):
            continue
        for core in range(3):
            for op in "RW":
                assert ref["mesi_step"](st, core, op) == c.mesi_oracle(st, core, op), (st, core, op)


def test_reference_metadata() -> None:
    nb = nbformat.read(str(REFERENCE), as_version=4)
    assert nb.metadata["hftos"]["lab"] == "lab04_ipc" and nb.metadata["hftos"]["version"] == "reference"
    ids = [ci.id for _, ci in _cells.lab_cells(nb)]
    assert len(ids) == len(set(ids))
