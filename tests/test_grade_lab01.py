"""Lab 1 and the grader on good input: the reference scores full marks, the student version scores zero and runs,
the committed student notebook is the generated one, a wrong answer loses exactly the checks it should fail, and
the table is the same whatever the parallelism, on a re-run, and after ``--resume``."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

from grade_fixtures import REFERENCE, ROOT, RR_WITHOUT_ARRIVAL_RULE, STUDENT, submission, write
from hftos.grade import cells as _cells
from hftos.grade.labchecks import lab01 as checks

LIMITS = ["--cell-timeout", "20", "--timeout", "120"]


def grade(subs: list[Path], out: Path, *extra: str) -> tuple[str, str]:
    """Run the command line; return (CSV text, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "hftos.grade", str(REFERENCE), *map(str, subs), "--out", str(out),
                           *LIMITS, *extra], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out.read_text(), proc.stderr


def table(text: str) -> dict[str, dict[str, str]]:
    return {r["submission"]: r for r in csv.DictReader(io.StringIO(text))}


@pytest.fixture(scope="module")
def subs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("subs")
    return {
        "reference": write(nbformat.read(str(REFERENCE), as_version=4), d / "reference.ipynb"),
        "student": write(nbformat.read(str(STUDENT), as_version=4), d / "student.ipynb"),
        "wrong_rr": write(submission({"t2-answer": RR_WITHOUT_ARRIVAL_RULE}), d / "wrong_rr.ipynb"),
        "text": (d / "text.ipynb", (d / "text.ipynb").write_text("not a notebook"))[0],
    }


@pytest.fixture(scope="module")
def parallel_run(subs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("j2") / "grades.csv"
    text, _ = grade(list(subs.values()), out, "-j", "2")
    return text, out


# ----------------------------------------------------------------------------- the lab itself


def test_lab_shape() -> None:
    nb = nbformat.read(str(REFERENCE), as_version=4)
    roles = [ci for _, ci in _cells.lab_cells(nb)]
    assert sum(ci.points for ci in roles if ci.graded) == 100
    tasks = _cells.tasks(nb)
    assert list(tasks) == ["t1", "t2", "t3", "t4"]
    for task in tasks:
        mine = [ci for ci in roles if ci.task == task]
        assert [ci.role for ci in mine].count("answer") == 1
        assert 2 <= [ci.role for ci in mine].count("check") <= 5
        assert 1 <= [ci.role for ci in mine].count("hidden-check") <= 2
    assert any(ci.role == "live" for ci in roles)
    for cell, ci in _cells.lab_cells(nb):
        if ci.graded:  # the stored output is what a correct answer prints
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert text and all(line.startswith("ok   ") for line in text.splitlines()), ci.id
        if ci.role == "live":
            assert cell.source.startswith("# NBVAL_IGNORE_OUTPUT")


def test_student_version_has_skeletons_and_no_hidden_checks() -> None:
    nb = nbformat.read(str(STUDENT), as_version=4)
    roles = {ci.role for _, ci in _cells.lab_cells(nb)}
    assert "hidden-check" not in roles
    for cell, ci in _cells.lab_cells(nb):
        if ci.role == "answer":
            assert _cells.BEGIN not in cell.source and "raise NotImplementedError" in cell.source
            ns: dict = {}
            exec(cell.source, ns)  # noqa: S102: our own skeleton
            args = {"rr": ([(0, 1)], 1), "fair_share": ([0], 1, 1), "pagemap_flags": (0,), "cow_probe": ()}
            for name in _cells.defined_functions(cell.source):
                with pytest.raises(NotImplementedError):
                    ns[name](*args.get(name, ([(0, 1)],)))
            assert ns[_cells.defined_functions(cell.source)[0]].__doc__


def test_strip_solutions_keeps_indentation() -> None:
    src = "def f(x):\n    '''Doc.'''\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    assert _cells.strip_solutions(src) == "def f(x):\n    '''Doc.'''\n    # YOUR CODE HERE\n    raise NotImplementedError\n"
    with pytest.raises(ValueError):
        _cells.strip_solutions("### BEGIN SOLUTION\nx = 1\n")


def test_check_failure_says_expected_and_got(capsys: pytest.CaptureFixture[str]) -> None:
    checks.check_schedule("FCFS", lambda jobs: [(1, 0, 3), (0, 3, 27)], [(0, 24), (0, 3)], [(0, 0, 24), (1, 24, 27)])
    out = capsys.readouterr().out
    assert out.startswith("FAIL FCFS") and "expected: [(0, 0, 24), (1, 24, 27)]" in out
    assert "got:      [(1, 0, 3), (0, 3, 27)]" in out and "first difference at segment 0" in out
    checks.check_schedule("merge", lambda jobs: [(0, 0, 1), (0, 1, 2), (None, 2, 2)], [(0, 2)], [(0, 0, 2)])
    assert capsys.readouterr().out.startswith("ok   merge")
    checks.check_schedule("x", lambda jobs: 42, [(0, 2)], [(0, 0, 2)])
    assert "expected a list of (job, start, end) tuples, got int" in capsys.readouterr().out


def test_reference_answers_agree_with_the_oracles_beyond_the_hidden_checks(capsys: pytest.CaptureFixture[str]) -> None:
    ns: dict = {}
    for cell, ci in _cells.lab_cells(nbformat.read(str(REFERENCE), as_version=4)):
        if ci.role == "answer":
            exec(cell.source, ns)  # noqa: S102: the reference solution
    for policy in ("fcfs", "sjf", "srtf"):
        checks.check_random_schedules(policy, ns[policy], policy, seed=1, count=300)
    checks.check_random_schedules("rr", ns["rr"], "rr", seed=1, count=300, quanta=(1, 2, 3, 5))
    checks.check_random_fair_modes("fair", ns["fair_share"], seed=1, count=50)
    checks.check_random_pagemap("pagemap", ns["pagemap_flags"], seed=1, count=500)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 6 and all(line.startswith("ok   ") for line in out), out


@pytest.mark.parametrize("nices,slice_us", [([0, 5, 10], 1000), ([0, 0, -5, 19], 4000), ([3], 700), ([-5, 15, 2, 2], 3000)])
def test_eevdf_lab_model_is_the_course_simulator_on_always_runnable_tasks(nices: list[int], slice_us: int) -> None:
    """The lab's integer EEVDF model picks what :mod:`hftos.sched` EEVDF picks when every task is runnable from 0."""
    from hftos.sched import simulate
    from hftos.sched.model import Job

    slices = 150
    _, picks = checks.eevdf_share_oracle(nices, slices * slice_us, slice_us)
    # times in "ns" so the simulator's vruntime arithmetic (slice * 1024 // weight) is the lab's, unit for unit
    sched = simulate("eevdf", [Job(arrival=0, burst=slices * slice_us, nice=n) for n in nices],
                     base_slice=slice_us, unit="ns")
    ran = [s.job for s in sched.timeline if s.kind == "run"]
    expanded = [j for s in sched.timeline if s.kind == "run" for j in [s.job] * ((s.end - s.start) // slice_us)]
    assert ran and expanded[:slices] == picks


def test_pagemap_oracle_and_cow_check(capsys: pytest.CaptureFixture[str]) -> None:
    d = checks.pagemap_oracle(0x8100000000012345)
    assert d == {"present": True, "swapped": False, "file": False, "exclusive": True, "soft_dirty": False,
                 "pfn": 0x12345, "swap": None}
    assert checks.pagemap_oracle(0x4000000000000C62)["swap"] == (2, 0x63)
    with pytest.raises(ValueError):
        checks.pagemap_oracle(-1)
    checks.check_pagemap("p", lambda e: {**checks.pagemap_oracle(e), "exclusive": False}, [0x8100000000012345])
    out = capsys.readouterr().out
    assert out.startswith("FAIL p") and "exclusive: expected True, got False" in out
    checks.check_cow_probe("cow", lambda: (0, 1, 11, "A"))
    out = capsys.readouterr().out
    assert "expected (0, 1, 1, 'A'), got (0, 1, 11, 'A')" in out and "warm the code path" in out
    checks.check_cow_probe("cow", lambda: None)
    assert "expected a tuple" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the grader on these


def test_reference_full_marks_student_zero_wrong_answer(parallel_run: tuple[str, Path]) -> None:
    rows = table(parallel_run[0])
    assert rows["reference.ipynb"]["total"] == "100" and rows["reference.ipynb"]["status"] == "graded"
    student = rows["student.ipynb"]
    assert (student["total"], student["status"]) == ("0", "graded")  # ran to the end, no crash, nothing earned
    wrong = rows["wrong_rr.ipynb"]
    assert [wrong[t] for t in ("t1", "t2", "t3", "t4")] == ["30", "8", "30", "20"]
    assert rows["text.ipynb"]["status"].startswith("invalid notebook")
    fb = (parallel_run[1].parent / "grades_feedback" / "wrong_rr.ipynb.md").read_text()
    failed = fb.split("## What did not pass")[1]
    assert "`t2-check-2`" in failed and "`t2-hidden`" in failed
    assert "`t2-check-1`" not in failed and "`t2-check-3`" not in failed
    assert "expected: [(0, 0, 2), (1, 2, 4), (0, 4, 6)" in failed  # what was expected and what came back
    student_fb = (parallel_run[1].parent / "grades_feedback" / "student.ipynb.md").read_text()
    assert "not answered yet: fcfs() raises NotImplementedError" in student_fb


def test_same_table_with_one_job_on_a_rerun_and_after_resume(subs: dict[str, Path], parallel_run: tuple[str, Path],
                                                              tmp_path: Path) -> None:
    out = tmp_path / "grades.csv"
    text, _ = grade(list(subs.values()), out, "-j", "1")
    assert text == parallel_run[0]
    # --resume grades nothing that is done: a row we altered stays as it is.
    altered = text.replace("reference.ipynb,30,", "reference.ipynb,29,")
    out.write_text(altered)
    t0 = time.monotonic()
    resumed, err = grade(list(subs.values()), out, "--resume")
    assert resumed == altered and "4 already graded, 0 to grade" in err
    assert time.monotonic() - t0 < 30
    # a really interrupted run (SIGTERM while a submission is being graded) is completed by --resume
    out.unlink()
    work = tmp_path / "work"  # the grader's temporary directories go here (TMPDIR), so we can look at only ours
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "hftos.grade", str(REFERENCE), *map(str, subs.values()), "--out",
                             str(out), *LIMITS, "-q"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, TMPDIR=str(work)))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.1)  # header + the invalid one + one graded
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err
    assert not marked_processes(str(work)) and not list(work.iterdir())
    partial = len(out.read_text().splitlines()) - 1
    assert 2 <= partial < 4
    resumed, err = grade(list(subs.values()), out, "--resume")
    assert resumed == text and f"{partial} already graded, {4 - partial} to grade" in err


def marked_processes(workroot: str) -> list[int]:
    """Processes started for a submission graded under ``workroot`` (their environment says so)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"HFTOS_GRADE_LOG={workroot}/".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def test_oracle_imports_are_flagged_for_review() -> None:
    """Lab 1 lists ``hftos.sched`` as its oracle: importing it is flagged, its ``weights`` helper is allowed."""
    import re

    from hftos.grade.autograde import oracle_patterns

    patterns = oracle_patterns(nbformat.read(str(REFERENCE), as_version=4))
    flagged = lambda src: any(re.search(p, src) for p in patterns)  # noqa: E731
    for src in ("from hftos.sched import simulate", "import hftos.sched", "from hftos import sched",
                "import hftos.sched.cfs as c"):
        assert flagged(src), src
    for src in ("from hftos.sched.weights import nice_to_weight", "import hftos.scheduling_notes", "sched = 1"):
        assert not flagged(src), src
    assert oracle_patterns(nbformat.v4.new_notebook()) == {}
