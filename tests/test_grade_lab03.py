"""Lab 3 (file systems and I/O): the reference scores full marks, the student version scores zero and runs to the
end, the committed student notebook is the generated one, a wrong answer loses exactly the checks it should fail,
the hidden checks catch plausible bugs, and every check prints what was expected and what came back."""

from __future__ import annotations

import csv
import io
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import lab_fixtures
import nbformat
import pytest

from hftos.grade import cells as _cells
from hftos.grade.labchecks import lab03 as checks

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "labs" / "source" / "lab03_files_io.ipynb"
STUDENT = ROOT / "labs" / "lab03_files_io.ipynb"
LIMITS = ["--cell-timeout", "20", "--timeout", "120"]
TASKS = {"t1": 30, "t2": 30, "t3": 40}

# ----------------------------------------------------------------------------- submissions

#: recovery that replays only the metadata images of a committed transaction (forgets data=journal's data blocks)
RECOVER_WITHOUT_DATA_IMAGES = '''
def recover(disk):
    data = list(disk["data"])
    inodes = dict(disk["inodes"])
    committed = {rec[1] for rec in disk["journal"] if rec[0] == "TxE"}
    replayed = []
    for rec in disk["journal"]:
        if rec[0] == "TxB" and rec[1] in committed:
            for target, image in rec[2]:
                if target == "inodes":
                    inodes = dict(image)
            replayed.append(rec[1])
    return {n: "".join(data[b] for b in bl) for n, bl in inodes.items()}, replayed
'''

#: a stdio-like batcher: a message larger than the free space is split into pieces that go through the buffer
BATCHER_THAT_SPLITS = '''
import os


def write_all(fd, data, write=os.write):
    view = memoryview(data)
    while view:
        view = view[write(fd, view):]


class BatchWriter:
    def __init__(self, fd, capacity, write=os.write):
        self.fd, self.capacity, self._write = fd, capacity, write
        self.buf = bytearray()

    def write(self, msg):
        while msg:
            room = self.capacity - len(self.buf)
            if room == 0:
                self.flush()
                continue
            if len(msg) <= room:
                self.buf += msg
                return
            if len(msg) < self.capacity:
                self.flush()
                continue
            self.buf += msg[:room]
            msg = msg[room:]

    def flush(self):
        if self.buf:
            write_all(self.fd, bytes(self.buf), self._write)
            self.buf.clear()

    def close(self):
        self.flush()
'''


def reference_answers() -> dict[str, str]:
    return lab_fixtures.reference_answers(REFERENCE)


def submission(answers: dict[str, str]) -> nbformat.NotebookNode:
    """The student notebook with every answer cell the reference's, overridden by ``answers`` (id -> source)."""
    return lab_fixtures.lab_submission(REFERENCE, STUDENT, answers)


def namespace(answers: dict[str, str] | None = None) -> dict:
    """The reference answers (overridden by ``answers``) executed into one namespace."""
    ns: dict = {}
    for cid, src in {**reference_answers(), **(answers or {})}.items():
        exec(src, ns)  # noqa: S102: our own reference code and mutants of it
    return ns


def mutant(cid: str, old: str, new: str) -> dict:
    """The reference namespace with one answer's source edited (``old`` must occur)."""
    src = reference_answers()[cid]
    assert old in src, old
    return namespace({cid: src.replace(old, new)})


# ----------------------------------------------------------------------------- the lab itself


def test_lab_shape() -> None:
    nb = nbformat.read(str(REFERENCE), as_version=4)
    assert nb.metadata["hftos"]["oracles"] == {"hftos.fssim": ""}
    roles = [ci for _, ci in _cells.lab_cells(nb)]
    assert _cells.tasks(nb) == TASKS and sum(TASKS.values()) == 100
    for task in TASKS:
        mine = [ci.role for ci in roles if ci.task == task]
        assert mine.count("answer") == 1 and mine.count("check") == 3 and mine.count("hidden-check") == 1
    assert any(ci.role == "live" for ci in roles)
    for cell, ci in _cells.lab_cells(nb):
        assert cell.id == ci.id
        if ci.graded:  # the stored output is what a correct answer prints
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert text and all(line.startswith("ok   ") for line in text.splitlines()), ci.id
            first, *rest = cell.source.split("\n", 1)
            assert first.startswith("import importlib; _c = importlib.reload(") and rest[0].startswith("_c.check_")
        if ci.role == "live":
            assert cell.source.startswith("# NBVAL_IGNORE_OUTPUT")


def test_student_version_has_skeletons_and_no_hidden_checks() -> None:
    nb = nbformat.read(str(STUDENT), as_version=4)
    assert "hidden-check" not in {ci.role for _, ci in _cells.lab_cells(nb)}
    ns: dict = {}
    for cell, ci in _cells.lab_cells(nb):
        if ci.role == "answer":
            assert _cells.BEGIN not in cell.source and "raise NotImplementedError" in cell.source
            exec(cell.source, ns)  # noqa: S102: our own skeleton
    for call in (lambda: ns["run_fd_script"]("p0 open a\n"), lambda: ns["recover"]({}),
                 lambda: ns["write_all"](3, b"x"), lambda: ns["BatchWriter"](3, 16)):
        with pytest.raises(NotImplementedError):
            call()
    for name in ("run_fd_script", "recover", "write_all", "BatchWriter"):
        assert ns[name].__doc__


def test_reference_agrees_with_the_oracles_beyond_the_hidden_checks(capsys: pytest.CaptureFixture[str]) -> None:
    ns = namespace()
    checks.check_random_fd_scripts("fd", ns["run_fd_script"], seed=1, count=1500)
    checks.check_random_recoveries("rec", ns["recover"], seed=1, count=1500)
    checks.check_random_batches("batch", ns["BatchWriter"], seed=1, count=1500)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(line.startswith("ok   ") for line in out), out


def test_random_fd_scripts_are_valid_and_agree_with_the_kernel() -> None:
    """The hidden check's generator only makes valid scripts, and the oracle matches the real kernel on some."""
    from hftos.fssim import fdtable

    rng = random.Random(3)
    scripts = [checks.random_fd_script(rng) for _ in range(2000)]
    ops = set()
    for s in scripts:
        fdtable.simulate(s)  # raises ValueError on an invalid script
        ops |= {line.split()[1] for line in s.splitlines()}
    assert ops == set(checks._FD_OPS)
    for s in scripts[:4] + list(checks.FD_SCRIPTS.values()):
        ok, diffs = fdtable.compare(s)
        assert ok, (s, diffs)


def test_fd_script_reports_only_checked_operations() -> None:
    for s in checks.FD_SCRIPTS.values():
        assert {line.split()[1] for line in s.splitlines()} <= set(checks._FD_OPS)


@pytest.mark.parametrize("cid,old,new", [
    ("t1-answer", 'if d["append"]:', "if False:"),                                      # O_APPEND ignored
    ("t1-answer", "def lowest(table):\n", "def lowest(table):\n        return max(table, default=2) + 1\n"),
    ("t1-answer", 'if "trunc" in flags:', "if False:"),                                   # trunc ignored
    ("t1-answer", 'descs[table[int(args[0])]]["append"] = args[1] == "append"', "pass"),  # setfl ignored
    ("t1-answer", "del procs[proc]", "pass"),                                             # exit keeps the process
    ("t1-answer", "table[lowest(table)] = table[int(args[0])]",                           # dup copies the description
     "descs[next_id] = dict(descs[table[int(args[0])]]); table[lowest(table)] = next_id; next_id += 1"),
    ("t1-answer", "procs[args[0]] = dict(table)",                                         # fork copies descriptions
     "procs[args[0]] = {fd: len(descs) + 1000 + fd for fd in table}; "
     "descs.update({len(descs) + 1000 + fd: dict(descs[d]) for fd, d in table.items()})"),
])
def test_hidden_fd_check_catches_plausible_bugs(cid: str, old: str, new: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    checks.check_random_fd_scripts("hidden", mutant(cid, old, new)["run_fd_script"], seed=7311, count=150)
    assert capsys.readouterr().out.startswith("FAIL hidden")


@pytest.mark.parametrize("cid,old,new", [
    ("t2-answer", 'if rec[0] != "TxB" or rec[1] not in committed:', 'if rec[0] != "TxB":'),  # replays uncommitted
    ("t2-answer", 'for rec in disk["journal"]:', 'for rec in reversed(disk["journal"]):'),  # wrong order
    ("t2-answer", "data[int(target[1:])] = image", "pass"),                                # data images ignored
])
def test_hidden_recovery_check_catches_plausible_bugs(cid: str, old: str, new: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    checks.check_random_recoveries("hidden", mutant(cid, old, new)["recover"], seed=7321, count=150)
    assert capsys.readouterr().out.startswith("FAIL hidden")


@pytest.mark.parametrize("cid,old,new", [
    ("t3-answer", "view = view[write(fd, view):]", "write(fd, view); view = view[len(view):]"),  # ignores partial
    ("t3-answer", "def close(self) -> None:\n        self.flush()", "def close(self) -> None:\n        pass"),
    ("t3-answer", "if len(msg) >= self.capacity:", "if len(msg) > 2 * self.capacity:"),         # big ones buffered
    ("t3-answer", "if len(msg) > self.capacity - len(self.buf):", "if len(self.buf) >= self.capacity:"),
])
def test_hidden_batch_check_catches_plausible_bugs(cid: str, old: str, new: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    checks.check_random_batches("hidden", mutant(cid, old, new)["BatchWriter"], seed=7331, count=150)
    assert capsys.readouterr().out.startswith("FAIL hidden")


def test_check_failures_say_expected_and_got(capsys: pytest.CaptureFixture[str]) -> None:
    checks.check_fd_script("fd", lambda s: {"offsets": {"p0": {3: 9, 4: 9, 5: 3}}, "files": {"log.txt": "x"}},
                           "example")
    out = capsys.readouterr().out
    assert out.startswith("FAIL fd") and "expected: offsets p0 {3: 9, 4: 9, 5: 2}" in out
    assert "got:      offsets p0 {3: 9, 4: 9, 5: 3}" in out and "process p0, fd 5: expected offset 2" in out
    for bad in (None, "text", {"offsets": 1, "files": {}}, {"offsets": {"p0": {"x": 1}}, "files": {}}):
        checks.check_fd_script("shape", lambda s, bad=bad: bad, "example")
        assert capsys.readouterr().out.startswith("FAIL shape: ")
    checks.check_fd_script("raises", lambda s: 1 / 0, "example")
    assert "raised ZeroDivisionError" in capsys.readouterr().out

    checks.check_recovery("rec", lambda disk: ({"a": "v1"}, [1]), "ordered")
    out = capsys.readouterr().out
    assert out.startswith("FAIL rec: ordered mode") and "(k=0)" in out and "journal empty" in out
    assert "expected: replayed [], files (no files)" in out and "got:      replayed [1], files a='v1'" in out
    checks.check_recovery("shape", lambda disk: None, "ordered")
    assert "expected a (files, replayed) pair, got None" in capsys.readouterr().out

    checks.check_write_all("wa", lambda fd, data, write: write(fd, data), b"0123456789", max_chunk=3)
    out = capsys.readouterr().out
    assert out.startswith("FAIL wa") and "expected: 4 write calls, 10 bytes" in out and "got:      1 write calls" in out
    assert "3 of 10 bytes were written" in out
    checks.check_write_all("fd", lambda fd, data, write: write(1, data), b"abc")
    assert "not the fd 7 you were given" in capsys.readouterr().out
    checks.check_write_all("str", lambda fd, data, write: write(fd, data.decode()), b"abc")
    assert "raised TypeError: write() needs bytes, got str" in capsys.readouterr().out
    checks.check_write_all("loop", lambda fd, data, write: [write(fd, data[:1]) for _ in iter(int, 1)], b"ab")
    assert "more than 100000 write calls" in capsys.readouterr().out

    class NoClose:
        def __init__(self, fd, capacity, write=os.write):
            self.fd, self.w = fd, write

        def write(self, msg):
            if msg:
                self.w(self.fd, msg)

    checks.check_batch_ops("batch", NoClose, 16, [b"ab", b"cd"])
    out = capsys.readouterr().out
    assert out.startswith("FAIL batch: your BatchWriter has no method close()") and "expected: 1 write calls" in out
    NoClose.close = lambda self: None
    NoClose.flush = lambda self: None
    checks.check_batch_ops("batch", NoClose, 16, [b"ab", b"cd"])
    out = capsys.readouterr().out
    assert "expected: 1 write calls, 4 bytes" in out and "got:      2 write calls, 4 bytes" in out
    assert "first difference at write call 0: expected a call with 4 bytes" in out


def test_real_file_check_leaves_nothing_and_flags_a_closed_fd(capsys: pytest.CaptureFixture[str]) -> None:
    ns = namespace()
    before = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("hftos-lab03-")}
    checks.check_batch_real_file("real", ns["BatchWriter"], 256, seed=3, count=50)
    assert capsys.readouterr().out.startswith("ok   real: 50 messages")

    class Closer(ns["BatchWriter"]):
        def close(self):
            super().close()
            os.close(self.fd)

    checks.check_batch_real_file("real", Closer, 256, seed=3, count=50)
    assert "close() closed the fd" in capsys.readouterr().out
    assert {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("hftos-lab03-")} == before


# ----------------------------------------------------------------------------- the grader on these


def table(text: str) -> dict[str, dict[str, str]]:
    return {r["submission"]: r for r in csv.DictReader(io.StringIO(text))}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, str]], Path]:
    d = tmp_path_factory.mktemp("lab03")
    subs = {
        "reference": nbformat.read(str(REFERENCE), as_version=4),
        "student": nbformat.read(str(STUDENT), as_version=4),
        "wrong": submission({"t2-answer": RECOVER_WITHOUT_DATA_IMAGES, "t3-answer": BATCHER_THAT_SPLITS}),
    }
    paths = []
    for name, nb in subs.items():
        nbformat.write(nb, str(d / f"{name}.ipynb"))
        paths.append(str(d / f"{name}.ipynb"))
    out = d / "grades.csv"
    proc = subprocess.run([sys.executable, "-m", "hftos.grade", str(REFERENCE), *paths, "--out", str(out), *LIMITS,
                           "-j", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return table(out.read_text()), d / "grades_feedback"


def test_reference_full_marks_student_zero(graded: tuple[dict[str, dict[str, str]], Path]) -> None:
    rows, feedback = graded
    assert (rows["reference.ipynb"]["total"], rows["reference.ipynb"]["status"]) == ("100", "graded")
    assert (rows["student.ipynb"]["total"], rows["student.ipynb"]["status"]) == ("0", "graded")
    text = (feedback / "student.ipynb.md").read_text()
    for name in ("run_fd_script", "recover", "write_all", "BatchWriter"):
        assert f"not answered yet: {name}() raises NotImplementedError" in text


def test_wrong_answer_loses_exactly_its_checks(graded: tuple[dict[str, dict[str, str]], Path]) -> None:
    rows, feedback = graded
    wrong = rows["wrong.ipynb"]
    assert [wrong[t] for t in TASKS] == ["30", "12", "16"] and wrong["status"] == "graded"
    failed = (feedback / "wrong.ipynb.md").read_text().split("## What did not pass")[1]
    assert re.findall(r"### `([\w-]+)`", failed) == ["t2-check-3", "t2-hidden", "t3-check-2", "t3-hidden"]
    assert "expected: replayed [1], files a='v1v2'" in failed and "got:      replayed [1], files a='old0old1'" in failed
    assert "call sizes 16, 1, 16, 5, 40, 4" in failed and "first difference at write call 3" in failed


def test_oracle_imports_are_flagged_for_review() -> None:
    from hftos.grade.autograde import oracle_patterns

    patterns = oracle_patterns(nbformat.read(str(REFERENCE), as_version=4))
    flagged = lambda src: any(re.search(p, src) for p in patterns)  # noqa: E731
    for src in ("from hftos.fssim import fdtable", "import hftos.fssim.journal", "from hftos import fssim"):
        assert flagged(src), src
    for src in ("import os", "from hftos import measure", "fssim = 1"):
        assert not flagged(src), src
