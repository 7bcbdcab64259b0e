"""The command line reproduces OSTEP's homework simulators, and rejects bad input cleanly.

``data/sched_ostep_reference.json`` holds the outputs of OSTEP's scheduler.py, mlfq.py and
lottery.py on each flag set (see the file's "comment" for how it was recorded).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hftos.sched.ostep import main

REFERENCE = json.loads((Path(__file__).parent / "data" / "sched_ostep_reference.json").read_text())


def run_json(argv: list[str], capsys) -> dict:
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def ids(cases: list[dict]) -> list[str]:
    return [" ".join(c["flags"]) for c in cases]


@pytest.mark.parametrize("case", REFERENCE["scheduler"], ids=ids(REFERENCE["scheduler"]))
def test_scheduler_py(case, capsys):
    out = run_json(case["flags"], capsys)
    for ours, theirs in zip(out["jobs"], case["jobs"], strict=True):
        assert {k: ours[k] for k in theirs} == pytest.approx(theirs)
    for key, value in case["averages"].items():  # printed with %.2f
        assert f"{out['averages'][key]:.2f}" == f"{value:.2f}"


@pytest.mark.parametrize("case", REFERENCE["mlfq"], ids=ids(REFERENCE["mlfq"]))
def test_mlfq_py(case, capsys):
    out = run_json(["--policy", "mlfq"] + case["flags"], capsys)
    assert [{"response": j["response"], "turnaround": j["turnaround"]} for j in out["jobs"]] == case["jobs"]


@pytest.mark.parametrize("case", REFERENCE["lottery"], ids=ids(REFERENCE["lottery"]))
def test_lottery_py(case, capsys):
    out = run_json(["--policy", "lottery"] + case["flags"], capsys)
    assert [j["completion"] for j in out["jobs"]] == case["completion"]
    assert main(["--policy", "lottery", "-c"] + case["flags"]) == 0
    text = capsys.readouterr().out
    draws = [[int(x) for x in m] for m in
             re.findall(r"^Random (\d+) -> Winning ticket (\d+) \(of (\d+)\) -> Run (\d+)$", text, re.M)]
    assert draws == case["draws"]


def test_scheduler_text_output_matches_ostep_layout(capsys):
    assert main(["-p", "RR", "-l", "24,3,3", "-q", "4", "-c"]) == 0
    out = capsys.readouterr().out
    assert "  Job   1 -- Response: 4.00  Turnaround 7.00  Wait 4.00" in out
    assert "  Average -- Response: 3.67  Turnaround 15.67  Wait 5.67" in out
    assert "  [ time   4 ] Run job   1 for 3.00 secs ( DONE at 7.00 )" in out


def test_without_c_prints_the_problem_only(capsys):
    assert main(["-s", "2"]) == 0
    out = capsys.readouterr().out
    assert "Job 0 ( length = " in out and "Final statistics" not in out


def test_other_policies_accept_job_list_flags(capsys):
    out = run_json(["--policy", "srtf", "-l", "0:7,2:4,4:1,5:4"], capsys)
    assert out["policy"] == "srtf" and out["averages"]["wait"] == 3
    out = run_json(["--policy", "cfs", "-l", "100,100", "--nice", "0,5", "--set", "latency=12"], capsys)
    assert out["params"]["latency"] == 12 and out["jobs"][0]["completion"] < out["jobs"][1]["completion"]
    out = run_json(["-p", "sched_rr", "-l", "5,3", "--prio", "10,10", "-q", "2"], capsys)
    assert [t["end"] for t in out["timeline"]][:2] == [2, 4]
    out = run_json(["-p", "stride", "-l", "10,10", "--tickets", "100,50", "--switch-cost", "0.5"], capsys)
    assert out["switches"] > 0


@pytest.mark.parametrize("argv, message", [
    (["-l", "3,,x", "-c"], "malformed"),
    (["-l", "3,-1", "-c"], "burst"),
    (["-p", "nope"], "unknown policy"),
    (["-p", "RR", "-q", "0", "-c", "-l", "3"], "quantum"),
    (["-p", "cfs", "-l", "1,2", "--nice", "0,30", "-c"], "nice"),
    (["-p", "cfs", "-l", "1,2", "--nice", "0", "-c"], "--nice has 1 values"),
    (["-p", "rr", "-l", "1", "--set", "quantun=3", "-c"], "quantun"),
    (["--policy", "mlfq", "-l", "0,10", "-c"], "startTime,runTime,ioFreq"),
    (["--policy", "lottery", "-l", "10:0", "-c"], "tickets"),
    (["--policy", "lottery", "-l", "10", "-c"], "runTime:tickets"),
    (["-s", "x"], "invalid int"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_module_entry_point():
    bad = subprocess.run([sys.executable, "-m", "hftos.sched", "-l", "3,,x", "-c"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
    good = subprocess.run([sys.executable, "-m", "hftos.sched", "-l", "24,3,3", "-p", "FIFO", "--json"],
                          capture_output=True, text=True, check=True)
    assert json.loads(good.stdout)["averages"]["wait"] == 17
