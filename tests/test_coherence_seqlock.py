"""Seqlock interleaving simulator: hand-worked schedules, the seqlock's guarantee (an accepted read is never torn) on
random schedules, the no-seqlock mode's unnoticed torn reads, the command line, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftos.coherence import seqlock as sl


def test_hand_worked_torn_read_is_retried():
    # w: seq=1; r: seq1=1, word0=0; w: word0=1, word1=1; r: word1=1, word2=0, seq2=1; then w finishes, r retries
    run = sl.simulate("wrrwwrrrww", words=3, updates=1, reads=1)
    a0, a1 = run.attempts
    assert (a0.seq1, a0.words, a0.seq2, a0.torn, a0.accepted, a0.outcome) == (1, (0, 1, 0), 1, True, False,
                                                                              "torn-retried")
    assert (a1.seq1, a1.words, a1.seq2, a1.outcome) == (2, (1, 1, 1), 2, "ok")
    assert (a0.start, a0.end, a1.start, a1.end) == (1, 7, 10, 14)
    assert "".join(x[0] for x in run.schedule) == "wrrwwrrrwwrrrrr"


def test_same_schedule_without_seqlock_is_torn_unnoticed():
    run = sl.simulate("wrrwwrrrww", words=3, updates=1, reads=1, mode="none")
    assert [a.outcome for a in run.attempts] == ["torn-unnoticed"]
    assert run.torn_unnoticed == 1


def test_writer_between_copy_and_second_seq_read_is_a_clean_retry():
    # reader copies version 0 completely, then the writer starts: seq2 = 1 != 0, the copy is rejected though clean
    run = sl.simulate("rrrwr", words=2, updates=1, reads=1)
    assert [a.outcome for a in run.attempts] == ["retried", "ok"]
    assert run.attempts[1].words == (1, 1)


def test_odd_seq_equal_on_both_reads_is_rejected():
    # the writer is mid-update for the whole attempt: seq1 == seq2 == 1, odd -> reject (the classic missing check)
    run = sl.simulate("wwrrrr", words=2, updates=1, reads=1)
    a = run.attempts[0]
    assert (a.seq1, a.seq2, a.words, a.outcome) == (1, 1, (1, 0), "torn-retried")
    assert not sl.accept(1, 1) and sl.accept(2, 2) and not sl.accept(2, 4)


def test_no_interference_reads_are_ok():
    run = sl.simulate("rrrr" + "w" * 4 + "rrrr", words=2, updates=1, reads=2)
    assert [(a.words, a.outcome) for a in run.attempts] == [((0, 0), "ok"), ((1, 1), "ok")]
    assert [e.value for e in run.events if e.actor == "w" and e.action != "write"] == [1, 2]


def test_open_ended_runs_follow_the_schedule_only():
    run = sl.simulate("wrrwwrrrww" + "rrr", words=3, updates=None, reads=None)
    assert [a.outcome for a in run.attempts] == ["torn-retried"]      # the second attempt is unfinished
    assert len(run.events) == 13
    run = sl.simulate("w" * 12 + "rrrr", words=2, updates=None, reads=None)
    assert run.attempts[0].words == (3, 3) and run.attempts[0].seq1 == 6
    with pytest.raises(ValueError, match="explicit schedule"):
        sl.simulate(None, updates=None)
    # a complete schedule gives the same attempts open-ended as with its limits
    full = sl.simulate(None, words=3, updates=2, reads=2, seed=3)
    sched = "".join(x[0] for x in full.schedule)
    assert sl.simulate(sched, words=3, updates=None, reads=None).attempts == full.attempts


def test_schedule_rules():
    assert sl.parse_schedule("wr0r1w", readers=2) == ["w", "r0", "r1", "w"]
    assert sl.parse_schedule("w, r, R1", readers=2) == ["w", "r0", "r1"]
    assert sl.parse_schedule(["w", "r"]) == ["w", "r0"]
    with pytest.raises(ValueError, match="only 1 reader"):
        sl.parse_schedule("r1")
    with pytest.raises(ValueError, match="bad schedule"):
        sl.parse_schedule("wxr")
    with pytest.raises(ValueError, match="already finished"):
        sl.simulate("wwww", words=1, updates=1)
    with pytest.raises(ValueError, match="already finished"):
        sl.simulate("rrrr", words=1, updates=0, reads=1)


@pytest.mark.parametrize("kw", [{"words": 0}, {"updates": -1}, {"readers": 0}, {"reads": 0}, {"mode": "mutex"},
                                {"seed": "x"}, {"words": True}])
def test_bad_parameters(kw):
    with pytest.raises(ValueError):
        sl.simulate(**kw)


def test_seeded_random_is_deterministic():
    a = sl.simulate(None, words=4, updates=3, readers=2, reads=3, seed=11)
    b = sl.simulate(None, words=4, updates=3, readers=2, reads=3, seed=11)
    assert a.to_dict() == b.to_dict()
    # replaying the recorded schedule gives the same run
    c = sl.simulate(a.schedule, words=4, updates=3, readers=2, reads=3)
    assert [x.outcome for x in c.attempts] == [x.outcome for x in a.attempts]


def test_seqlock_catches_what_none_misses():
    torn_none = sum(sl.simulate(None, words=4, updates=3, seed=s, mode="none").torn_unnoticed for s in range(40))
    torn_sl = sum(sl.simulate(None, words=4, updates=3, seed=s).torn_unnoticed for s in range(40))
    retried = sum(sl.simulate(None, words=4, updates=3, seed=s).torn_retried for s in range(40))
    assert torn_none > 0 and torn_sl == 0 and retried > 0


@settings(max_examples=200, deadline=None)
@given(words=st.integers(1, 5), updates=st.integers(0, 4), readers=st.integers(1, 3), reads=st.integers(1, 3),
       seed=st.integers(0, 10**6), mode=st.sampled_from(sl.MODES))
def test_invariants(words, updates, readers, reads, seed, mode):
    run = sl.simulate(None, words=words, updates=updates, readers=readers, reads=reads, seed=seed, mode=mode)
    assert len(run.events) == updates * (words + 2) + len(run.attempts) * (words + 2)
    for r in range(readers):
        mine = [a for a in run.attempts if a.reader == r]
        assert sum(a.accepted for a in mine) == reads and mine[-1].accepted
        assert [a.n for a in mine] == list(range(len(mine)))
    for a in run.attempts:
        assert a.torn == (len(set(a.words)) > 1)
        assert a.outcome == sl.classify(a.words, a.accepted)
        assert a.seq1 <= a.seq2
        # the versions a reader sees never go backwards, and lie between what seq1 and seq2 allow
        assert all(a.seq1 // 2 <= w <= (a.seq2 + 1) // 2 for w in a.words)
        if mode == "seqlock":
            assert a.accepted == sl.accept(a.seq1, a.seq2)
            if a.accepted:
                assert not a.torn and a.words[0] == a.seq1 // 2   # an accepted read is never torn, and current
        else:
            assert a.accepted
            if a.seq1 == a.seq2 and a.seq1 % 2 == 0:
                assert not a.torn


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hftos.coherence.seqlock", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli():
    p = _cli("-n", "3", "-u", "1", "--reads", "1", "-S", "wrrwwrrrww", "-c")
    assert p.returncode == 0
    assert "ARG words 3  updates 1" in p.stdout and "torn-retried" in p.stdout and "seq1 <- 1" in p.stdout
    q = _cli("-n", "3", "-u", "1", "--reads", "1", "-S", "wrrwwrrrww")
    assert "torn-retried" not in q.stdout and "read seq1" in q.stdout
    d = json.loads(_cli("-s", "7", "--mode", "none", "-R", "2", "--json").stdout)
    assert d["args"]["seed"] == 7 and d["run"]["counters"]["torn-retried"] == 0 and d["run"]["readers"] == 2
    assert d["run"]["attempts"] and d["run"]["mode"] == "none"


@pytest.mark.parametrize("args", [["-S", "wqx"], ["-n", "0"], ["--mode", "x"], ["-S", "r2"], ["--nope"]])
def test_cli_bad_input(args):
    p = _cli(*args)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "error" in p.stderr
