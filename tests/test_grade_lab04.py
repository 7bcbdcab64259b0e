"""Lab 4 (IPC) and the grader: the reference scores full marks, the student version scores zero and runs to the end,
the committed student notebook is the generated one, wrong answers lose exactly the checks they should fail, and the
lab has the shape of every lab (one grader run of four submissions, ``-j 2``)."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import lab_fixtures
import nbformat
import pytest

from grade_fixtures import ROOT, write
from hftos.grade import cells as _cells

REFERENCE = ROOT / "labs" / "source" / "lab04_ipc.ipynb"
STUDENT = ROOT / "labs" / "lab04_ipc.ipynb"
LIMITS = ["--cell-timeout", "30", "--timeout", "180"]
TASKS = ("t1", "t2", "t3")

#: A ring that leaves one slot empty, as with masked indices: "full" one push too early (loses t1-check-2, t1-hidden).
RING_WASTES_A_SLOT = '''
def push(ring, value):
    head, tail = ring.load_head(), ring.load_tail()
    if head - tail == ring.capacity - 1:      # wrong: the counters run free, all capacity slots are usable
        return False
    ring.store_slot(head & ring.mask, value)
    ring.store_head(head + 1)
    return True


def pop(ring):
    tail, head = ring.load_tail(), ring.load_head()
    if head == tail:
        return None
    value = ring.load_slot(tail & ring.mask)
    ring.store_tail(tail + 1)
    return value
'''

#: MSI habit: a read miss always loads S, never E (loses t3-check-1, t3-check-3, t3-hidden).
MESI_WITHOUT_E = '''
def mesi_step(states, core, op):
    new = list(states)
    mine = states[core]
    others = [c for c in range(len(states)) if c != core and states[c] != "I"]
    if op == "R":
        if mine != "I":
            return tuple(states), None
        for c in others:
            if states[c] in ("M", "E"):
                new[c] = "S"
        new[core] = "S"                        # wrong: E when nobody else has the line
        return tuple(new), "BusRd"
    if mine == "M":
        return tuple(states), None
    if mine == "E":
        new[core] = "M"
        return tuple(new), None
    for c in others:
        new[c] = "I"
    new[core] = "M"
    return tuple(new), "BusUpgr" if mine == "S" else "BusRdX"
'''

#: The classic seqlock bug: accept when seq1 == seq2 without checking that it is even (loses t2-check-2, t2-hidden).
SEQLOCK_WITHOUT_ODD_CHECK = '''
def seqlock_reads(schedule, words, check=True):
    seq, record, wsteps, rstep, seq1, copy, out = 0, [0] * words, 0, 0, 0, [], []
    for actor in schedule:
        if actor == "w":
            k, j = divmod(wsteps, words + 2)
            if j in (0, words + 1):
                seq += 1
            else:
                record[j - 1] = k + 1
            wsteps += 1
        else:
            if rstep == 0:
                seq1, copy = seq, []
            elif rstep <= words:
                copy.append(record[rstep - 1])
            else:
                out.append((seq1, tuple(copy), seq, (seq1 == seq) if check else True))   # wrong: odd seq1
            rstep = (rstep + 1) % (words + 2)
    return out
'''


def reference_answers() -> dict[str, str]:
    return lab_fixtures.reference_answers(REFERENCE)


def submission(answers: dict[str, str]) -> nbformat.NotebookNode:
    """The student notebook with every answer cell the reference's, overridden by ``answers`` (id -> source)."""
    return lab_fixtures.lab_submission(REFERENCE, STUDENT, answers)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, str]], Path]:
    d = tmp_path_factory.mktemp("lab04")
    subs = [
        write(nbformat.read(str(REFERENCE), as_version=4), d / "reference.ipynb"),
        write(nbformat.read(str(STUDENT), as_version=4), d / "student.ipynb"),
        write(submission({"t1-answer": RING_WASTES_A_SLOT, "t3-answer": MESI_WITHOUT_E}), d / "wrong_ring_mesi.ipynb"),
        write(submission({"t2-answer": SEQLOCK_WITHOUT_ODD_CHECK}), d / "wrong_seqlock.ipynb"),
    ]
    out = d / "grades.csv"
    proc = subprocess.run([sys.executable, "-m", "hftos.grade", str(REFERENCE), *map(str, subs), "--out", str(out),
                           *LIMITS, "-j", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = {r["submission"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    return rows, out.parent / "grades_feedback"


def failed_checks(feedback: Path, name: str) -> set[str]:
    text = (feedback / f"{name}.md").read_text()
    if "## What did not pass" not in text:
        return set()
    return set(re.findall(r"^### `([\w-]+)`", text.split("## What did not pass")[1], flags=re.M))


# ----------------------------------------------------------------------------- the lab itself


def test_lab_shape() -> None:
    nb = nbformat.read(str(REFERENCE), as_version=4)
    assert nb.metadata["hftos"]["oracles"] == {"hftos.coherence": ""}
    roles = [ci for _, ci in _cells.lab_cells(nb)]
    assert sum(ci.points for ci in roles if ci.graded) == 100
    tasks = _cells.tasks(nb)
    assert tuple(tasks) == TASKS and list(tasks.values()) == [35, 30, 35]
    for task in tasks:
        mine = [ci for ci in roles if ci.task == task]
        assert [ci.role for ci in mine].count("answer") == 1
        assert 3 <= [ci.role for ci in mine].count("check") <= 4
        assert [ci.role for ci in mine].count("hidden-check") == 1
    assert any(ci.role == "live" for ci in roles)
    for cell, ci in _cells.lab_cells(nb):
        assert cell.get("id") == ci.id
        if ci.graded:  # the stored output is what a correct answer prints
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert text and all(line.startswith("ok   ") for line in text.splitlines()), ci.id
            first, *calls = cell.source.splitlines()
            assert first == ('import importlib; _c = importlib.reload(importlib.import_module('
                             '"hftos.grade.labchecks.lab04"))'), ci.id
            assert calls and calls[0].startswith("_c.check_"), ci.id
        if ci.role == "live":
            assert cell.source.startswith("# NBVAL_IGNORE_OUTPUT")
        if ci.role == "prose" and ci.task:
            assert f"({tasks[ci.task]} points)" in cell.source


def test_student_version_has_skeletons_and_no_hidden_checks() -> None:
    nb = nbformat.read(str(STUDENT), as_version=4)
    assert "hidden-check" not in {ci.role for _, ci in _cells.lab_cells(nb)}
    from hftos.grade.labchecks.lab04 import Ring

    args = {"push": (Ring(4), 1), "pop": (Ring(4),), "seqlock_reads": ("wr", 1), "mesi_step": (("I", "I"), 0, "R")}
    for cell, ci in _cells.lab_cells(nb):
        if ci.role == "answer":
            assert _cells.BEGIN not in cell.source and "raise NotImplementedError" in cell.source
            ns: dict = {"Ring": Ring}
            exec(cell.source, ns)  # noqa: S102: our own skeleton
            for name in _cells.defined_functions(cell.source):
                assert ns[name].__doc__
                with pytest.raises(NotImplementedError):
                    ns[name](*args[name])


# ----------------------------------------------------------------------------- the grader on these


def test_reference_full_marks_student_zero(graded: tuple[dict[str, dict[str, str]], Path]) -> None:
    rows, feedback = graded
    ref = rows["reference.ipynb"]
    assert (ref["total"], ref["status"]) == ("100", "graded")
    student = rows["student.ipynb"]
    assert (student["total"], student["status"]) == ("0", "graded")  # ran to the end, no crash, nothing earned
    text = (feedback / "student.ipynb.md").read_text()
    for name in ("push", "seqlock_reads", "mesi_step"):
        assert f"not answered yet: {name}() raises NotImplementedError" in text


def test_wrong_answers_lose_exactly_their_checks(graded: tuple[dict[str, dict[str, str]], Path]) -> None:
    rows, feedback = graded
    wrong = rows["wrong_ring_mesi.ipynb"]
    assert [wrong[t] for t in TASKS] == ["18", "30", "13"] and wrong["status"] == "graded"
    assert failed_checks(feedback, "wrong_ring_mesi.ipynb") == {"t1-check-2", "t1-hidden", "t3-check-1",
                                                                 "t3-check-3", "t3-hidden"}
    text = (feedback / "wrong_ring_mesi.ipynb.md").read_text()
    assert "push(3): expected True, got False" in text                       # what was expected, what came back
    assert "expected P0=E P1=I P2=I, bus BusRd" in text and "got      P0=S P1=I P2=I, bus BusRd" in text
    seq = rows["wrong_seqlock.ipynb"]
    assert [seq[t] for t in TASKS] == ["35", "13", "35"]
    assert failed_checks(feedback, "wrong_seqlock.ipynb") == {"t2-check-2", "t2-hidden"}
    text = (feedback / "wrong_seqlock.ipynb.md").read_text()
    assert "expected (seq1 1, copy (1, 0), seq2 1, accepted=False), got (seq1 1, copy (1, 0), seq2 1, accepted=True)" in text
