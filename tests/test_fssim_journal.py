"""hftos.fssim.journal: hand-worked crash points, properties of each journaling mode, bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftos.fssim import journal as j

REPLACE = "create a; append a v1; sync; create t; append t v2; rename t a"


def test_ordered_writes_by_hand() -> None:
    a = j.plan("create a; append a v1", "ordered")
    assert [(w.target, w.what) for w in a.writes] == [
        ("D0", "data 'v1'"),
        ("journal", "TxB inodes {a:[D0]}, bitmap 100000"),
        ("journal", "TxE (commit tx1)"),
        ("inodes", "checkpoint {a:[D0]}"),
        ("bitmap", "checkpoint 100000"),
    ]
    assert a.views == [{}, {"a": "v1"}]


def test_ordered_crash_points_by_hand() -> None:
    a = j.simulate(REPLACE, "ordered")
    assert [p.outcome for p in a.points] == ["old"] * 3 + ["new"] * 2 + ["old"] * 3 + ["new"] * 3
    assert a.points[3].replayed == (1,) and a.points[3].files == {"a": "v1"}
    assert a.points[8].replayed == (1, 2) and a.points[8].files == {"a": "v2"}


def test_writeback_exposes_stale_blocks_after_commit() -> None:
    a = j.simulate(REPLACE, "writeback")
    garbage = [p.k for p in a.points if p.outcome == "garbage"]
    assert garbage == [2, 3, 4, 7, 8, 9]
    assert a.points[2].files == {"a": "old0"} and a.points[7].files == {"a": "old1"}
    assert a.counts() == {"new": 1, "old": 4, "garbage": 6, "inconsistent": 0}


def test_no_journal_leaves_fsck_work() -> None:
    a = j.simulate(REPLACE, "none")
    assert len(a.writes) == 6
    assert a.points[2].outcome == "inconsistent" and "marked free" in a.points[2].detail
    assert "leak" in a.points[5].detail


def test_data_journal_writes_data_twice() -> None:
    a = j.plan("create a; append a v1", "journal")
    assert [w.target for w in a.writes] == ["journal", "journal", "D0", "inodes", "bitmap"]
    assert "D0='v1'" in a.writes[0].what


def test_uncommitted_transaction_is_ignored() -> None:
    a = j.plan("create a; append a v1", "ordered")
    disk, replayed = j.recover(j.crash(a, 2))   # descriptor written, commit record not
    assert replayed == () and disk.files() == {}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), mode=st.sampled_from(j.MODES))
def test_properties_of_every_mode(seed: int, n: int, mode: str) -> None:
    ops = j.random_workload(seed, n, blocks=12)
    a = j.simulate(ops, mode, blocks=12)
    assert len(a.points) == len(a.writes) + 1
    assert a.points[0].outcome == "old" and a.points[-1].outcome == "new"
    assert a.points[-1].files == a.views[-1]
    if mode in ("ordered", "journal"):
        assert all(p.outcome in ("old", "new") for p in a.points), "a journaled data mode exposed garbage"
    if mode != "none":
        assert not any(p.outcome == "inconsistent" for p in a.points)
    for k in range(len(a.writes) + 1):
        once, rep1 = j.recover(j.crash(a, k))
        twice, rep2 = j.recover(once)
        assert once == twice and rep1 == rep2, "recovery is not idempotent"


def test_random_workload_is_seeded() -> None:
    assert j.random_workload(7) == j.random_workload(7)
    assert j.random_workload(7, 20) != j.random_workload(8, 20)


@pytest.mark.parametrize("text, msg", [
    ("", "no operation"), ("sync", "no operation"), ("format a", "unknown operation"),
    ("create", "takes 1"), ("append a", "takes 2"), ("append a x", "no file"),
    ("create a; create a", "exists"), ("rename a b", "no file"),
    ("create a; append a 1; append a 2", "no free data block"),
])
def test_bad_workloads(text: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        j.simulate(text, "ordered", blocks=1)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="mode"):
        j.plan("create a", "async")
    with pytest.raises(ValueError, match="blocks"):
        j.plan("create a", "ordered", blocks=0)
    a = j.plan("create a", "ordered")
    with pytest.raises(ValueError, match="crash point"):
        j.crash(a, len(a.writes) + 1)


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert j.main(["-m", "writeback", "-w", REPLACE, "-c"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ARG mode writeback") and "garbage 6" in out
    assert j.main(["-m", "all", "--seed", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["mode"] for d in data] == list(j.MODES)
    assert j.main(["-w", "create a"]) == 0
    assert "?" in capsys.readouterr().out
    assert j.main(["-m", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_block_freed_in_running_transaction_is_not_reused() -> None:
    # rename frees a's D0 in tx3; the append in the same transaction must not overwrite D0, which the last
    # committed state (tx2) still shows as a's content
    a = j.simulate("create a; append a v1; sync; create t; append t v2; sync; rename t a; create n; append n v3",
                   "ordered")
    assert [w.target for w in a.writes if w.tx == 3][0] == "D2"
    assert all(p.outcome in ("old", "new") for p in a.points)
    with pytest.raises(ValueError, match="uncommitted"):
        j.simulate("create a; append a v1; sync; create t; rename t a; append a v2", "ordered", blocks=1)
