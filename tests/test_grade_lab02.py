"""Lab 2 (memory management): the reference scores full marks, the student version scores zero and runs to the end,
the committed student notebook is the generated one, plausible wrong answers lose exactly the checks they should,
and every check helper says what was expected and what came back."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import lab_fixtures
import nbformat
import pytest

from grade_fixtures import ROOT, write
from hftos.grade import cells as _cells
from hftos.grade.autograde import oracle_patterns
from hftos.grade.labchecks import lab02 as checks

REFERENCE = ROOT / "labs" / "source" / "lab02_memory.ipynb"
STUDENT = ROOT / "labs" / "lab02_memory.ipynb"
TASKS = ("t1", "t2", "t3", "t4")

# ----------------------------------------------------------------------------- submissions

#: A plausible LRU bug: the recency is updated only on a miss (so it is FIFO).
LRU_RECENCY_ONLY_ON_MISS = '''
def lru(refs, frames):
    """LRU that forgets that a hit is a use too (wrong: this is FIFO)."""
    resident, out = [], []
    for page in refs:
        if page in resident:
            out.append("H")
            continue
        out.append("M")
        if len(resident) == frames:
            resident.pop(0)
        resident.append(page)
    return "".join(out)
'''

#: A plausible TLB bug: the page size is taken to be 4 KiB whatever the configuration says.
TLB_FIXED_4K = '''
def tlb(addresses, entries, ways, page_size=4096):
    """A TLB that ignores page_size (wrong for huge pages)."""
    sets = entries // ways
    lru_of = [[] for _ in range(sets)]
    out = []
    for address in addresses:
        vpn = address >> 12
        s = lru_of[vpn % sets]
        if vpn in s:
            s.remove(vpn)
            out.append("H")
        else:
            out.append("M")
            if len(s) == ways:
                s.pop(0)
        s.append(vpn)
    return "".join(out)
'''


def reference_answers() -> dict[str, str]:
    return lab_fixtures.reference_answers(REFERENCE)


def submission(answers: dict[str, str]) -> nbformat.NotebookNode:
    """The student notebook with every answer cell the reference's, overridden by ``answers`` (id -> source)."""
    return lab_fixtures.lab_submission(REFERENCE, STUDENT, answers)


def reference_namespace() -> dict[str, Any]:
    ns: dict[str, Any] = {}
    for src in reference_answers().values():
        exec(src, ns)  # noqa: S102: the reference solution
    return ns


def graded_cells() -> list[tuple[str, _cells.CellInfo]]:
    return [(c.source, ci) for c, ci in _cells.lab_cells(nbformat.read(str(REFERENCE), as_version=4)) if ci.graded]


def failing_checks(ns: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Ids of the graded cells whose output is not all ``ok`` lines, running them in ``ns`` (in process)."""
    failed = []
    for src, ci in graded_cells():
        exec(src, ns)  # noqa: S102: our own check cells
        out = capsys.readouterr().out
        if not out or not all(line.startswith("ok   ") for line in out.splitlines()):
            failed.append(ci.id)
    return failed


# ----------------------------------------------------------------------------- the lab itself


def test_lab_shape() -> None:
    nb = nbformat.read(str(REFERENCE), as_version=4)
    assert nb.metadata["hftos"]["lab"] == "lab02_memory" and nb.metadata["hftos"]["oracles"] == {"hftos.memsim": ""}
    roles = [ci for _, ci in _cells.lab_cells(nb)]
    assert sum(ci.points for ci in roles if ci.graded) == 100
    assert _cells.tasks(nb) == {"t1": 30, "t2": 20, "t3": 25, "t4": 25}
    for task in TASKS:
        mine = [ci.role for ci in roles if ci.task == task]
        assert mine.count("answer") == 1 and mine.count("hidden-check") == 1
        assert 2 <= mine.count("check") <= 3
    assert any(ci.role == "live" for ci in roles)
    for cell, ci in _cells.lab_cells(nb):
        assert cell.get("id") == ci.id
        if ci.graded:  # the stored output is what a correct answer prints
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert text and all(line.startswith("ok   ") for line in text.splitlines()), ci.id
            lines = cell.source.split("\n")
            assert lines[0].startswith("import importlib; _c = importlib.reload(") and "lab02" in lines[0]
            assert len(re.findall(r"^_c\.check_\w+\(", cell.source, re.M)) == 1, ci.id
        if ci.role == "live":
            assert cell.source.startswith("# NBVAL_IGNORE_OUTPUT")
        if ci.role == "answer":
            assert "hftos.memsim" not in cell.source  # the reference answers are not flagged for review


def test_student_version_has_skeletons_and_no_hidden_checks() -> None:
    nb = nbformat.read(str(STUDENT), as_version=4)
    assert "hidden-check" not in {ci.role for _, ci in _cells.lab_cells(nb)}
    args = {"translate": (checks.load_image(), 0x400000, "r", True), "lru": ([1], 1), "clock": ([1], 1),
            "tlb": ([0], 1, 1, 4096)}
    found = []
    for cell, ci in _cells.lab_cells(nb):
        if ci.role == "answer":
            assert _cells.BEGIN not in cell.source and "raise NotImplementedError" in cell.source
            ns: dict = {}
            exec(cell.source, ns)  # noqa: S102: our own skeleton
            for name in _cells.defined_functions(cell.source):
                found.append(name)
                assert ns[name].__doc__
                with pytest.raises(NotImplementedError):
                    ns[name](*args[name])
    assert sorted(found) == sorted(args)


def test_shipped_image() -> None:
    """The image is small, loads in the course simulator, and has the features the checks rely on."""
    from hftos.memsim.pagewalk import PageTable

    path = checks.image_path()
    assert path == ROOT / "labs" / "data" / "lab02_pagetable.json" and path.stat().st_size < 8192
    image = json.loads(path.read_text())
    pt = PageTable.from_json(image)
    assert pt.to_json() == image
    entries = [e for ents in pt.tables.values() for e in ents.values()]
    assert any(not e.present for e in entries)  # an explicit P = 0 entry
    assert len(pt.mapped_pages()) == 7  # eight mapped, one of them then marked not present
    with pytest.raises(FileNotFoundError):
        checks.image_path("no_such_file.json")


def test_visible_expectations_are_the_oracles(capsys: pytest.CaptureFixture[str]) -> None:
    """The course simulators, used as answers, pass every check: the literals in the check cells are theirs."""
    ns = {"translate": checks.walk_oracle,
          "lru": lambda refs, frames: checks.policy_oracle("lru", refs, frames),
          "clock": lambda refs, frames: checks.policy_oracle("clock", refs, frames),
          "tlb": checks.tlb_oracle}
    assert failing_checks(ns, capsys) == []


def test_reference_answers_agree_with_the_oracles_beyond_the_hidden_checks(capsys: pytest.CaptureFixture[str]) -> None:
    ns = reference_namespace()
    checks.check_random_walks("walk", ns["translate"], seed=1, images=100, per_image=10)
    checks.check_random_policy("lru", ns["lru"], "lru", seed=1, count=1000)
    checks.check_random_policy("clock", ns["clock"], "clock", seed=1, count=1000)
    checks.check_random_tlb("tlb", ns["tlb"], seed=1, count=1000)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.startswith("ok   ") for line in out), out


MUTANTS = {
    # name: (answer cell, old text, new text, the graded cells it must fail)
    "walk: permissions of the last level only": (
        "t1-answer", 'writable = writable and bool(entry["rw"])', 'writable = bool(entry["rw"])',
        ["t1-check-3", "t1-hidden"]),
    "walk: write-protect checked before user-supervisor": (
        "t1-answer", 'if user and not usr:\n        return "user-supervisor"\n    if access == "w" and not writable:\n'
        '        return "write-protect"', 'if access == "w" and not writable:\n        return "write-protect"\n'
        '    if user and not usr:\n        return "user-supervisor"', ["t1-check-3", "t1-hidden"]),
    "walk: an entry with p = 0 taken as present": (
        "t1-answer", 'if entry is None or not entry["p"]:', "if entry is None:", ["t1-check-2", "t1-hidden"]),
    "walk: levels counted from 0": (
        "t1-answer", 'f"not-present at level {level}"', 'f"not-present at level {level - 1}"',
        ["t1-check-2", "t1-hidden"]),
    "lru: recency updated only on a miss": (
        "t2-answer", 'resident.remove(page)\n            out.append("H")', 'out.append("H")\n            continue',
        ["t2-check-1", "t2-check-2", "t2-hidden"]),
    "clock: a hit does not set R": (
        "t3-answer", 'ref[slot.index(page)] = True\n            out.append("H")', 'out.append("H")',
        ["t3-check-1", "t3-check-2", "t3-hidden"]),
    "clock: the hand stays on the new page": (
        "t3-answer", "hand = (k + 1) % frames", "hand = k", ["t3-check-1", "t3-check-2", "t3-hidden"]),
    "clock: no second chance (FIFO)": (
        "t3-answer", "while ref[hand]:", "while False:", ["t3-check-1", "t3-check-2", "t3-hidden"]),
    "tlb: a hit does not refresh the recency": (
        "t4-answer", 's.remove(vpn)\n            out.append("H")', 'out.append("H")\n            continue',
        ["t4-check-1", "t4-hidden"]),
    "tlb: set index from the high bits": (
        "t4-answer", "s = lru_of[vpn % sets]", "s = lru_of[(vpn // ways) % sets]", ["t4-check-3", "t4-hidden"]),
}


@pytest.mark.parametrize("name", list(MUTANTS))
def test_plausible_wrong_answers_fail_exactly_their_checks(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    cell, old, new, expected = MUTANTS[name]
    answers = reference_answers()
    assert old in answers[cell], name
    ns: dict[str, Any] = {}
    for cid, src in answers.items():
        exec(src.replace(old, new) if cid == cell else src, ns)  # noqa: S102
    assert failing_checks(ns, capsys) == expected


# ----------------------------------------------------------------------------- feedback of the helpers


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_walk_feedback(capsys: pytest.CaptureFixture[str]) -> None:
    image = checks.load_image()
    checks.check_walks("w", lambda im, va, a, u: 0x1234000, [(0x400123, "r", True, 0x1234123)])
    out = _out(capsys)
    assert out.startswith("FAIL w: 0x400123 r user") and "expected: pa 0x1234123" in out
    assert "got:      pa 0x1234000" in out and "the walk:" in out and "PT    table 3" in out
    for bad in (None, [1], True, 1.5):
        checks.check_walks("w", lambda im, va, a, u, bad=bad: bad, [(0x400123, "r", True, 0x1234123)])
        out = _out(capsys)
        assert out.startswith("FAIL w:") and "expected an int (the physical address) or a str" in out, bad
    checks.check_walks("w", lambda im, va, a, u: "not-present at level 3",
                       [(0x402000, "r", True, "not-present at level 4")])
    out = _out(capsys)
    assert "expected: 'not-present at level 4'" in out and "got:      'not-present at level 3'" in out
    checks.check_walks("w", lambda im, va, a, u: 1 // 0, [(0x402000, "r", True, "not-present at level 4")])
    assert "raised ZeroDivisionError" in _out(capsys)

    def mutating(im: dict, va: int, a: str, u: bool) -> Any:
        im["tables"].clear()  # the helpers pass a copy: the next call and the image are unharmed
        return checks.walk_oracle(image, va, a, u)

    checks.check_walks("w", mutating, [(0x400123, "r", True, 0x1234123), (0x401000, "w", True, 0x1235000)])
    assert _out(capsys).startswith("ok   w: 2 accesses right")
    import numpy as np

    checks.check_walks("w", lambda im, va, a, u: np.int64(0x1234123), [(0x400123, "r", True, 0x1234123)])
    assert _out(capsys) == "ok   w: 1 access right (1 physical address, 0 faults)\n"
    checks.check_random_walks("h", lambda im, va, a, u: "nx", seed=3, images=2, per_image=3)
    out = _out(capsys)
    assert out.startswith("FAIL h: image 0 of 2 (layout ") and "expected:" in out and "got:      'nx'" in out


def test_policy_feedback(capsys: pytest.CaptureFixture[str]) -> None:
    fifo = lambda refs, frames: checks.policy_oracle("fifo", refs, frames)  # noqa: E731
    checks.check_policy("L", fifo, "lru", [([1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5], 3, "MMMMMMMHHMMM")])
    out = _out(capsys)
    assert out.startswith("FAIL L: refs [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5], 3 frame(s)")
    assert "expected: MMMMMMMHHMMM (10 faults)" in out and "got:      MMMMMMMHHMMH (9 faults)" in out
    assert "first difference at reference 11 (page 5): expected M, got H; the frames held [3 4 2]" in out
    for bad, why in ((None, "expected a str of 'H'/'M'"), (["M"], "expected a str"), ("MX", "only 'H' and 'M'"),
                     ("M", "expected 2 characters")):
        checks.check_policy("L", lambda refs, frames, bad=bad: bad, "lru", [([1, 2], 2, "MM")])
        out = _out(capsys)
        assert out.startswith("FAIL L:") and why in out, bad
    checks.check_policy("L", lambda refs, frames: "", "lru", [([], 3, "")])
    assert _out(capsys) == "ok   L: 3 frames 0 faults (no references)\n"
    checks.check_random_policy("h", fifo, "clock", seed=5, count=200)
    out = _out(capsys)
    assert out.startswith("FAIL h: string ") and "first difference at reference" in out


def test_tlb_feedback(capsys: pytest.CaptureFixture[str]) -> None:
    addrs = [0x0, 0x1000, 0x0010, 0x4000, 0x1008, 0x0]
    checks.check_tlb("T", lambda a, e, w, p: checks.tlb_oracle(a, 4, 4, p), addrs, 4, 1, 4096, "MMHMHM")
    out = _out(capsys)
    assert out.startswith("FAIL T: 4 entries, 1-way, 4096-byte pages") and "expected: MMHMHM (2 hits)" in out
    assert "got:      MMHMHH (3 hits)" in out
    assert "first difference at access 5 (0x0: VPN 0x0, set 0 of 4): expected M, got H; that set held VPNs [0x4]" \
        in out
    for bad in (None, 3, "HHHHHHH"):
        checks.check_tlb("T", lambda a, e, w, p, bad=bad: bad, addrs, 4, 1, 4096, "MMHMHM")
        assert _out(capsys).startswith("FAIL T:"), bad
    checks.check_tlb("T", lambda a, e, w, p: "M", [0x10], 1, 1, 4096, "M")
    assert _out(capsys) == "ok   T: 0 hits, 1 miss (M)\n"
    checks.check_random_tlb("h", lambda a, e, w, p: "M" * len(a), seed=5, count=200)
    out = _out(capsys)
    assert out.startswith("FAIL h: trace ") and "expected:" in out


def test_oracle_imports_are_flagged_for_review() -> None:
    patterns = oracle_patterns(nbformat.read(str(REFERENCE), as_version=4))
    flagged = lambda src: any(re.search(p, src) for p in patterns)  # noqa: E731
    for src in ("from hftos.memsim.replacement import simulate", "import hftos.memsim.tlb as t",
                "from hftos import memsim", "from hftos.memsim import pagewalk"):
        assert flagged(src), src
    for src in ("import json", "from hftos.grade.labchecks import common", "memsim = 1"):
        assert not flagged(src), src


# ----------------------------------------------------------------------------- the grader on these


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, str]], Path]:
    """One grader run (-j 2): the reference, the student version, and two plausible wrong answers."""
    d = tmp_path_factory.mktemp("lab02")
    subs = [write(nbformat.read(str(REFERENCE), as_version=4), d / "reference.ipynb"),
            write(nbformat.read(str(STUDENT), as_version=4), d / "student.ipynb"),
            write(submission({"t2-answer": LRU_RECENCY_ONLY_ON_MISS, "t4-answer": TLB_FIXED_4K}), d / "wrong.ipynb")]
    out = d / "grades.csv"
    proc = subprocess.run([sys.executable, "-m", "hftos.grade", str(REFERENCE), *map(str, subs), "--out", str(out),
                           "--cell-timeout", "20", "--timeout", "120", "-j", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = {r["submission"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    return rows, d / "grades_feedback"


def test_reference_full_marks_student_zero(graded: tuple[dict[str, dict[str, str]], Path]) -> None:
    rows, fb = graded
    assert (rows["reference.ipynb"]["total"], rows["reference.ipynb"]["status"]) == ("100", "graded")
    assert (rows["student.ipynb"]["total"], rows["student.ipynb"]["status"]) == ("0", "graded")
    student = (fb / "student.ipynb.md").read_text()
    for name in ("translate", "lru", "clock", "tlb"):
        assert f"not answered yet: {name}() raises NotImplementedError" in student


def test_wrong_answers_lose_exactly_their_checks(graded: tuple[dict[str, dict[str, str]], Path]) -> None:
    rows, fb = graded
    wrong = rows["wrong.ipynb"]
    assert [wrong[t] for t in TASKS] == ["30", "4", "25", "10"] and wrong["status"] == "graded"
    failed = (fb / "wrong.ipynb.md").read_text().split("## What did not pass")[1]
    assert re.findall(r"### `([\w-]+)`", failed) == ["t2-check-1", "t2-check-2", "t2-hidden", "t4-check-3",
                                                     "t4-hidden"]
    assert "expected: MMMMMMMHHMMM (10 faults)" in failed and "got:      MMMMMMMHHMMH (9 faults)" in failed
    assert "expected: MHMMMMMMHMH (3 hits)" in failed
