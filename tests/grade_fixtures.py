"""Submissions for the grader tests: built from the committed student notebook and the reference answers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat

from hftos.grade import cells as _cells

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "labs" / "source" / "lab01_scheduling.ipynb"
STUDENT = ROOT / "labs" / "lab01_scheduling.ipynb"


def reference_answers() -> dict[str, str]:
    """answer-cell id -> the reference's source without the solution markers."""
    nb = nbformat.read(str(REFERENCE), as_version=4)
    return {ci.id: "\n".join(l for l in c.source.split("\n") if l.strip() not in (_cells.BEGIN, _cells.END))
            for c, ci in _cells.lab_cells(nb) if ci.role == "answer"}


def submission(answers: dict[str, str] | None = None, *, full: bool = True) -> nbformat.NotebookNode:
    """The student notebook with answer cells replaced: the reference answer when ``full`` (else the skeleton),
    overridden by ``answers`` (id -> source)."""
    nb = nbformat.read(str(STUDENT), as_version=4)
    ref = reference_answers() if full else {}
    for cell in nb.cells:
        ci = _cells.info(cell)
        if ci is not None and ci.role == "answer":
            if answers and ci.id in answers:
                cell.source = answers[ci.id]
            elif ci.id in ref:
                cell.source = ref[ci.id]
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    nbformat.write(nb, str(path))
    return path


RR_WITHOUT_ARRIVAL_RULE = '''
def rr(jobs, quantum):
    """RR that puts the preempted job back *before* admitting the jobs that arrived meanwhile (wrong)."""
    from collections import deque
    pending = deque(sorted(range(len(jobs)), key=lambda i: (jobs[i][0], i)))
    remaining = [b for _, b in jobs]
    queue, out, now = deque(), [], 0
    while pending or queue:
        while pending and jobs[pending[0]][0] <= now:
            queue.append(pending.popleft())
        if not queue:
            out.append((None, now, jobs[pending[0]][0]))
            now = jobs[pending[0]][0]
            continue
        i = queue.popleft()
        run = min(quantum, remaining[i])
        out.append((i, now, now + run))
        now += run
        remaining[i] -= run
        if remaining[i]:
            queue.append(i)   # wrong: before the arrivals up to now
    return out
'''

#: marker argument of the background process the tampering submission starts
SLEEP_MARK = "987654"
#: argument of the fork bomb's children (seconds: they end by themselves even if the grader failed)
BOMB_MARK = "123.4567"


def bad_submissions(d: Path) -> dict[str, Path]:
    """One file per kind of bad submission, in ``d``; name -> path."""
    ans = reference_answers()
    out: dict[str, Path] = {}
    (d / "random_bytes.ipynb").write_bytes(bytes(range(256)) * 40)
    out["random_bytes"] = d / "random_bytes.ipynb"
    (d / "text.ipynb").write_text("I did the lab on paper, see attached.\n")
    out["text"] = d / "text.ipynb"
    (d / "not_nbformat.ipynb").write_text(json.dumps({"hello": "world", "cells": "none"}))
    out["not_nbformat"] = d / "not_nbformat.ipynb"

    lost = submission()
    for cell in lost.cells:
        cell.metadata = {}
    raw = json.loads(nbformat.writes(lost))
    for cell in raw["cells"]:
        cell.pop("id", None)
    raw["nbformat_minor"] = 4
    (d / "metadata_lost.ipynb").write_text(json.dumps(raw))
    out["metadata_lost"] = d / "metadata_lost.ipynb"

    out["infinite_loop"] = write(submission({"t1-answer": "while True:\n    pass\n" + ans["t1-answer"]}),
                                 d / "infinite_loop.ipynb")
    out["memory_hog"] = write(submission({"t2-answer": "hog = []\nwhile True:\n    hog.append(bytearray(10**8))\n"
                                                       + ans["t2-answer"]}), d / "memory_hog.ipynb")
    out["kernel_crash"] = write(submission({"t3-answer": "import os\nos._exit(1)\n"}), d / "kernel_crash.ipynb")
    out["kernel_kill"] = write(submission({"t3-answer": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"}),
                               d / "kernel_kill.ipynb")
    out["huge_output"] = write(submission({"t1-answer": 'print("x" * 100_000_000)\n' + ans["t1-answer"]}),
                               d / "huge_output.ipynb")

    tamper = submission({
        # a wrong FCFS, plus helpers patched so that every check would print "ok"
        "t1-answer": ans["t1-answer"].replace("order = sorted(range(len(jobs)), key=lambda i: (jobs[i][0], i))",
                                              "order = list(range(len(jobs)))") + '''

import hftos.grade.labchecks.lab01 as _hc
def check_schedule(label, *args, **kwargs):
    print(f"ok   {label}")
_hc.check_schedule = check_schedule
_hc.check_random_schedules = lambda label, *a, **k: print(f"ok   {label}")
''',
        # start background processes that try to outlive the grader (new session, empty environment, double fork)
        "t4-answer": ans["t4-answer"] + f'''

import subprocess, os
subprocess.Popen(["sleep", "{SLEEP_MARK}"], start_new_session=True)
subprocess.Popen(["sleep", "{SLEEP_MARK}"], start_new_session=True, env={{}})
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvpe("sleep", ["sleep", "{SLEEP_MARK}"], {{}})
    os._exit(0)
open("written_by_answer.txt", "w").write("x")
''',
    })
    # a fork bomb, bounded in case the grader fails: 12 rounds of fork (4095 children), each child then becomes
    # `sleep BOMB_MARK` (exits by itself after ~2 minutes); without the grader's process limit t4 would still pass
    out["fork_bomb"] = write(submission({"t4-answer": f'''import os
_root = os.getpid()
for _ in range(12):
    try:
        os.fork()
    except OSError:
        break
if os.getpid() != _root:
    try:
        os.execv("/bin/sleep", ["sleep", "{BOMB_MARK}"])
    finally:
        os._exit(0)
''' + ans["t4-answer"]}), d / "fork_bomb.ipynb")

    for cell in tamper.cells:
        ci = _cells.info(cell)
        if ci is not None and ci.id == "t2-check-2":
            cell.source = 'print("ok   RR q=2, arrivals as a quantum expires")'
    tamper.cells.append(nbformat.v4.new_code_cell(
        f'import subprocess\nsubprocess.Popen(["sleep", "{SLEEP_MARK}"], start_new_session=True)\n'
        'open("/tmp/hftos-extra-cell-ran", "w").write("x")'))
    out["tamper"] = write(tamper, d / "tamper.ipynb")
    return out


def sleepers(mark: str = SLEEP_MARK) -> list[int]:
    """Processes started by the tampering submission (or the fork bomb, ``mark=BOMB_MARK``) still alive."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmd = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if len(cmd) >= 2 and cmd[0].endswith(b"sleep") and cmd[1] == mark.encode():
                found.append(int(entry.name))
    return found
