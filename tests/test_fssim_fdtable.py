"""File-description semantics simulator (hftos.fssim.fdtable): hand-worked cases, the command line, and the
simulator checked against the real kernel on random scripts."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hftos.fssim import fdtable as f


def test_example_by_hand() -> None:
    s = f.simulate(f.EXAMPLE)
    assert [x.result for x in s.steps][:6] == [3, 4, 4, 2, 5, 2]
    assert s.files == {"log.txt": b"ccAABBDDE"}
    assert s.offsets() == {"p0": {3: 9, 4: 9, 5: 2}, "p1": {4: 9, 5: 2}}


def test_two_opens_do_not_share_offsets() -> None:
    s = f.simulate("p0 open x\np0 open x\np0 write 3 hello\np0 write 4 J\n")
    assert s.files["x"] == b"Jello"
    assert s.offsets() == {"p0": {3: 5, 4: 1}}


def test_append_never_overwrites_and_is_shared_after_fork() -> None:
    s = f.simulate("p0 open x append\np0 fork p1\np0 open x append\np1 write 3 AA\np0 write 4 BB\np0 write 3 C\n")
    assert s.files["x"] == b"AABBC"


def test_plain_separate_opens_overwrite() -> None:
    s = f.simulate("p0 fork p1\np0 open x\np1 open x\np0 write 3 AA\np1 write 3 BB\n")
    assert s.files["x"] == b"BB"


def test_setfl_is_shared_via_description() -> None:
    s = f.simulate("p0 open x\np0 dup 3\np0 write 3 abc\np0 lseek 3 0\np0 setfl 4 append\np0 write 3 d\n")
    assert s.files["x"] == b"abcd" and s.flags() == {"p0": {3: "append", 4: "append"}}


def test_hole_reads_zero_and_lseek_end() -> None:
    s = f.simulate("p0 open x\np0 lseek 3 3\np0 write 3 A\np0 lseek 3 0\np0 read 3 10\np0 lseek 3 -1 end\n")
    assert s.files["x"] == b"\0\0\0A"
    assert s.steps[4].result == "\0\0\0A" and s.steps[5].result == 3


def test_cloexec_exec_dup2_and_refcounts() -> None:
    s = f.simulate("p0 open x cloexec\np0 dup 3\np0 dup2 3 7\np0 dup2 7 7\np0 exec\n")
    assert s.offsets() == {"p0": {4: 0, 7: 0}} and s.flags() == {"p0": {4: "", 7: ""}}
    assert s.descs[0].refs == 2
    s = f.simulate("p0 open x\np0 close 3\np0 open y\n")
    assert s.steps[2].result == 3 and list(s.descs) == [1]


def test_fork_copies_cloexec_and_exit() -> None:
    s = f.simulate("p0 open x cloexec\np0 fork p1\np0 exit\np1 write 3 z\n")
    assert s.flags() == {"p1": {3: "cloexec"}} and s.files["x"] == b"z"


@pytest.mark.parametrize("script, msg", [
    ("p0 close 3", "EBADF"), ("p1 open x", "does not exist"), ("p0 fork p0", "already used"),
    ("p0 open x\np0 lseek 3 -1", "negative"), ("p0 frob 3", "unknown operation"), ("p0 open a/b", "'/'"),
    ("p0 open x sync", "unknown open flag"), ("p0 write 1 x", "not modelled"), ("p0 read x 3", "integer"),
    ("p0 fork p1\np1 exit\np1 open x", "has exited"), ("p0", "expected"),
])
def test_bad_scripts(script: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        f.simulate(script)


def test_random_script_deterministic_and_valid() -> None:
    assert f.random_script(5, 25) == f.random_script(5, 25)
    assert f.random_script(5, 25) != f.random_script(6, 25)
    for seed in range(200):
        f.simulate(f.random_script(seed, 40, procs=4, files=3))


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert f.main(["-c"]) == 0
    out = capsys.readouterr().out
    assert "ARG source built-in example" in out and "'ccAABBDDE'" in out
    assert f.main(["--random", "10", "--seed", "3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["params"]["seed"] == 3 and len(d["results"]) == 10
    assert f.main(["/nonexistent/script"]) == 2
    assert "error:" in capsys.readouterr().err


def test_kernel_agrees_on_example() -> None:
    ok, diffs = f.compare(f.EXAMPLE)
    assert ok, diffs


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 30))
def test_simulator_equals_kernel_on_random_scripts(seed: int, n: int) -> None:
    ok, diffs = f.compare(f.random_script(seed, n))
    assert ok, diffs
