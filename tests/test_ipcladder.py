"""hftos.ipcladder: the registry, both placements, skip reasons, the command line."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hftos import ipcladder, native
from hftos.measure import Result

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2


def test_registry_covers_chapter_4() -> None:
    names = list(ipcladder.MECHANISMS)
    for expected in ("pipe", "fifo", "unix-stream", "unix-dgram", "unix-seqpacket", "tcp", "udp", "posix-mq",
                     "eventfd", "futex", "posix-sem", "shm-spin", "spsc-ring"):
        assert expected in names
    assert {m.family for m in ipcladder.MECHANISMS.values()} == {"copy", "notify", "poll"}
    for name in ("pipe", "fifo", "eventfd", "futex", "posix-mq", "posix-sem", "spsc-ring"):
        assert ipcladder.MECHANISMS[name].available(), name


def test_same_cpu_ladder_runs_every_available_mechanism() -> None:
    res = ipcladder.ladder("same-cpu", n=30)
    assert res.placement == "same-cpu" and res.cpus[0] == res.cpus[1]
    for name, m in ipcladder.MECHANISMS.items():
        if m.available():
            assert name in res, res.skipped.get(name)
        else:
            assert "not in this version" in res.skipped[name]
    for name, r in res.items():
        assert isinstance(r, Result) and r.samples.size >= 1
        assert np.all(np.isfinite(r.samples)) and np.all(r.samples > 0)
    assert res["spsc-ring"].samples.size <= ipcladder.PURE_SPIN_SAME_CPU_N
    ranked = ipcladder.rank(res)
    assert [q["p50"] for _, q in ranked] == sorted(q["p50"] for _, q in ranked)


@pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs")
def test_cross_cpu_ladder_subset() -> None:
    res = ipcladder.ladder("cross-cpu", n=30, mechanisms=["pipe", "posix-mq", "posix-sem", "spsc-ring"])
    assert res.cpus[0] != res.cpus[1] and set(res) == {"pipe", "posix-mq", "posix-sem", "spsc-ring"}
    assert res["pipe"].method["ladder"]["placement"] == "cross-cpu"
    assert ipcladder.skip_reason("cross-cpu") is None


def test_cross_cpu_on_one_cpu_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipcladder, "allowed_cpus", lambda: [0])
    why = ipcladder.skip_reason("cross-cpu")
    assert why and "two CPUs" in why
    with pytest.raises(native.NotEnoughCPUs):
        ipcladder.ladder("cross-cpu", n=5)
    assert ipcladder.skip_reason("same-cpu") is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ipcladder.ladder("same-core")
    with pytest.raises(ValueError):
        ipcladder.ladder("same-cpu", mechanisms=["carrier-pigeon"])
    with pytest.raises(ValueError):
        ipcladder.ladder("same-cpu", n=0)


def test_missing_function_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = ipcladder.Mechanism("teleport", "copy", "not built yet", "teleport_pingpong", "4.9")
    monkeypatch.setitem(ipcladder.MECHANISMS, "teleport", fake)
    res = ipcladder.ladder("same-cpu", n=5, mechanisms=["teleport", "pipe"])
    assert "pipe" in res and "teleport" not in res and "teleport_pingpong" in res.skipped["teleport"]


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert ipcladder.main(["--placement", "same-cpu", "-n", "5", "--only", "pipe,eventfd", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["same-cpu"]["results"]) == {"pipe", "eventfd"}
    assert ipcladder.main(["--only", "nope"]) == 2
    assert ipcladder.main(["-n", "0"]) == 2
