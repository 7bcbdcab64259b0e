"""The grader against bad submissions: each gets the points it earned and a status saying what happened, never
disturbs the others, and leaves nothing running; all of them in bounded time."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grade_fixtures import BOMB_MARK, REFERENCE, ROOT, bad_submissions, sleepers, submission, write

FULL = {"t1": "30", "t2": "20", "t3": "30", "t4": "20"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, str]], Path, float]:
    d = tmp_path_factory.mktemp("bad")
    subs = bad_submissions(d)
    subs["good"] = write(submission(), d / "good.ipynb")
    out = d / "grades.csv"
    marker = Path("/tmp/hftos-extra-cell-ran")
    marker.unlink(missing_ok=True)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hftos.grade", str(REFERENCE), str(d), "--out", str(out), "-j", "2",
                           "--cell-timeout", "15", "--timeout", "120", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "a cell that is not an answer cell was executed"
    rows = {r["submission"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    return rows, d, elapsed


def points(row: dict[str, str]) -> dict[str, str]:
    return {t: row[t] for t in FULL}


def test_every_submission_has_a_row_and_bounded_time(graded) -> None:  # type: ignore[no-untyped-def]
    rows, _, elapsed = graded
    assert set(rows) == {f"{n}.ipynb" for n in ("random_bytes", "text", "not_nbformat", "metadata_lost",
                                                 "infinite_loop", "memory_hog", "kernel_crash", "kernel_kill",
                                                 "huge_output", "tamper", "fork_bomb", "good")}
    assert all(r["max"] == "100" for r in rows.values())
    assert elapsed < 300, f"grading the bad submissions took {elapsed:.0f} s"
    assert rows["good.ipynb"]["total"] == "100" and rows["good.ipynb"]["status"] == "graded"


@pytest.mark.parametrize("name,why", [("random_bytes", "not JSON"), ("text", "not JSON"),
                                      ("not_nbformat", "not an nbformat notebook")])
def test_not_a_notebook(graded, name: str, why: str) -> None:  # type: ignore[no-untyped-def]
    row = graded[0][f"{name}.ipynb"]
    assert row["total"] == "0" and row["status"].startswith("invalid notebook") and why in row["status"]


def test_lost_metadata_is_matched_by_function_name(graded) -> None:  # type: ignore[no-untyped-def]
    row = graded[0]["metadata_lost.ipynb"]
    assert row["total"] == "100" and row["status"].startswith("metadata lost")


@pytest.mark.parametrize("name,task,status", [
    ("infinite_loop", "t1", "timed out"),
    ("memory_hog", "t2", "memory limit"),
    ("kernel_crash", "t3", "kernel died"),
    ("kernel_kill", "t3", "kernel died"),
])
def test_runaway_answer_loses_only_its_task(graded, name: str, task: str, status: str) -> None:  # type: ignore[no-untyped-def]
    row = graded[0][f"{name}.ipynb"]
    assert points(row) == dict(FULL, **{task: "0"}), row
    assert row["status"] == status


def test_huge_output_is_capped(graded) -> None:  # type: ignore[no-untyped-def]
    row = graded[0]["huge_output.ipynb"]
    assert row["total"] == "100" and row["status"] == "output capped"


def test_tampering_does_not_help_and_leaves_nothing_running(graded) -> None:  # type: ignore[no-untyped-def]
    rows, d, _ = graded
    row = rows["tamper.ipynb"]
    # the wrong FCFS fails check 2 and the hidden check although the answer patched the helpers;
    # the edited check cell of task 2 was ignored (the reference check ran and passed on the real answer)
    assert points(row) == dict(FULL, t1="21"), row
    assert "review: answer t1-answer uses the grading helpers" in row["status"]
    assert "check cells edited (ignored)" in row["status"]
    fb = (d / "grades_feedback" / "tamper.ipynb.md").read_text()
    assert "were killed" in fb and "was ignored" in fb
    assert sleepers() == [], "background processes started by a submission survived the grader"
    assert not list(Path("/tmp").glob("hftos-grade-*/run/written_by_answer.txt"))


def test_fork_bomb_is_stopped_and_harms_no_one(graded) -> None:  # type: ignore[no-untyped-def]
    """As root too (RLIMIT_NPROC does not bind root): the supervisor counts the run's processes and kills the run;
    the rerun without task 4 earns the rest; the other submissions' rows (above) are unchanged."""
    rows, d, _ = graded
    row = rows["fork_bomb.ipynb"]
    assert points(row) == dict(FULL, t4="0"), row
    assert row["status"] == "process limit"
    fb = (d / "grades_feedback" / "fork_bomb.ipynb.md").read_text()
    assert "the run was stopped when it had" in fb
    assert sleepers(BOMB_MARK) == [], "processes of the fork bomb survived the grader"
