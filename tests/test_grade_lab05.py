"""Lab 5 (signals and exceptions): the reference scores full marks, the student version zero, the committed student
notebook is the generated one, a plausible wrong answer loses exactly the checks it should, and the oracles agree
with the running kernel."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
from pathlib import Path

import lab_fixtures
import nbformat
import pytest

from hftos.grade import cells as _cells
from hftos.grade.labchecks import lab05

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "labs" / "source" / "lab05_signals.ipynb"
STUDENT = ROOT / "labs" / "lab05_signals.ipynb"

#: A classic slip: a page past EOF raises SIGBUS even when the mapping forbids the access (permission not first).
EOF_BEFORE_PERMISSION = '''
def classify_fault(scenario):
    if scenario["region"] == "none" or scenario["page"] >= scenario["pages"]:
        return "SIGSEGV/SEGV_MAPERR"
    if scenario["region"] == "file" and scenario["page"] >= (scenario["file_bytes"] + 4095) // 4096:
        return "SIGBUS/BUS_ADRERR"
    if scenario["prot"] == "none" or (scenario["prot"] == "r" and scenario["access"] == "write"):
        return "SIGSEGV/SEGV_ACCERR"
    return "none"
'''


def _submission(path: Path, overrides: dict[str, str] | None = None, *, full: bool = True) -> Path:
    nbformat.write(lab_fixtures.lab_submission(REFERENCE, STUDENT, overrides, full=full), str(path))
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, str]], Path]:
    d = tmp_path_factory.mktemp("lab05")
    subs = [_submission(d / "reference.ipynb"), _submission(d / "student.ipynb", full=False),
            _submission(d / "wrong_fault.ipynb", {"t2-answer": EOF_BEFORE_PERMISSION})]
    out = d / "grades.csv"
    proc = subprocess.run([sys.executable, "-m", "hftos.grade", str(REFERENCE), *map(str, subs), "--out", str(out),
                           "-j", "2", "--cell-timeout", "30", "--timeout", "180", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return {r["submission"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}, d


def test_lab_shape() -> None:
    nb = nbformat.read(str(REFERENCE), as_version=4)
    infos = [ci for _, ci in _cells.lab_cells(nb)]
    assert sum(ci.points for ci in infos if ci.graded) == 100
    assert list(_cells.tasks(nb)) == ["t1", "t2", "t3"]
    for task in _cells.tasks(nb):
        roles = [ci.role for ci in infos if ci.task == task]
        assert roles.count("answer") == 1 and 1 <= roles.count("hidden-check") <= 2 and 2 <= roles.count("check") <= 4
    for cell, ci in _cells.lab_cells(nb):
        if ci.graded:
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert text and all(line.startswith("ok   ") for line in text.splitlines()), ci.id
        if ci.role == "live":
            assert cell.source.startswith("# NBVAL_IGNORE_OUTPUT")
    assert "hidden-check" not in {ci.role for _, ci in _cells.lab_cells(nbformat.read(str(STUDENT), as_version=4))}


def test_grades(graded: tuple[dict[str, dict[str, str]], Path]) -> None:
    rows, d = graded
    assert (rows["reference.ipynb"]["total"], rows["reference.ipynb"]["status"]) == ("100", "graded")
    assert (rows["student.ipynb"]["total"], rows["student.ipynb"]["status"]) == ("0", "graded")
    wrong = rows["wrong_fault.ipynb"]
    # permission-before-EOF matters in check 2 (PROT_NONE and a write to a read-only page past EOF) and in the
    # hidden random scenarios; the four basic faults and the kernel comparison still pass
    assert [wrong[t] for t in ("t1", "t2", "t3")] == ["30", "15", "35"], wrong
    failed = (d / "grades_feedback" / "wrong_fault.ipynb.md").read_text().split("## What did not pass")[1]
    assert "`t2-check-2`" in failed and "`t2-hidden`" in failed
    assert "`t2-check-1`" not in failed and "`t2-check-3`" not in failed
    assert "expected 'SIGSEGV/SEGV_ACCERR', got 'SIGBUS/BUS_ADRERR'" in failed
    student_fb = (d / "grades_feedback" / "student.ipynb.md").read_text()
    assert "not answered yet: count_deliveries() raises NotImplementedError" in student_fb


def test_dequeue_oracle_by_hand_and_on_the_kernel() -> None:
    script = [("send", 10, "a"), ("send", 10, "b"), ("send", 40, "c"), ("send", 40, "d"), ("send", 2, "e"),
              ("take",), ("take",), ("take",), ("take",), ("take",)]
    assert lab05.dequeue_oracle(script) == [(2, "e"), (10, "a"), (40, "c"), (40, "d"), None]
    assert lab05.dequeue_oracle([("send", 12, 0), ("send", 11, 1), ("take",), ("take", [12]), ("take", [1])]) == \
        [(11, 1), (12, 0), None]
    for bad in ([("send", 9, 0)], [("poke",)], [("send", 65, 0)], [("send", 10)]):
        with pytest.raises(ValueError):
            lab05.dequeue_oracle(bad)
    rng = __import__("random").Random(5)
    for _ in range(30):  # the model is the kernel: random scripts (glibc's 32 and 33 left out) on the real thing
        events = [e for e in lab05.random_script(rng) if not (e[0] == "send" and e[1] in (32, 33))]
        events = [e if len(e) != 2 else ("take", [s for s in e[1] if s not in (32, 33)] or [34]) for e in events]
        assert [None if t is None else t[0] for t in lab05.dequeue_oracle(events)] == \
            lab05.kernel_dequeue_order(events), events


def test_fault_oracle_matches_the_kernel_on_the_four_faults() -> None:
    from hftos.native import fault_signals

    seen = {d["kind"]: d["label"] for d in fault_signals(list(lab05.KERNEL_SCENARIOS))}
    assert seen == {k: lab05.fault_oracle(s) for k, s in lab05.KERNEL_SCENARIOS.items()}
    with pytest.raises(ValueError):
        lab05.fault_oracle({"region": "file", "prot": "r", "access": "read", "pages": 1, "page": 0})


def test_failure_messages(capsys: pytest.CaptureFixture[str]) -> None:
    lab05.check_deliveries("d", lambda s, n: n, [(signal.SIGUSR1, 5)])
    assert "returned 5, expected 1 (standard signals coalesce" in capsys.readouterr().out
    lab05.check_interrupted_read("r", lambda *a: (1, "OK"), [(False, "libc", signal.SIGUSR1)])
    assert "expected (-1, 'EINTR'): without SA_RESTART" in capsys.readouterr().out
    lab05.check_dequeue("q", lambda ev: None, [("take",)])
    assert "expected a list with one entry per take" in capsys.readouterr().out
    lab05.check_faults("f", lambda s: "SIGSEGV", [{"region": "none", "access": "read"}])
    out = capsys.readouterr().out
    assert "expected 'SIGSEGV/SEGV_MAPERR', got 'SIGSEGV'" in out and "must be one of" in out
