"""Autograde: a submission's answer cells, run in the reference lab under nbval, in a sandbox.

For one submission (:func:`grade_one`):

1. **Read** it leniently (:func:`load_submission`): anything that is not JSON with a list of cells is
   ``invalid notebook: ...`` and scores 0 without running anything. Files over ``MAX_BYTES`` are refused.
2. **Merge** (:func:`merge`): start from the reference lab; replace each ``answer`` cell's source by the
   submission's cell with the same ``metadata.hftos.id`` (or, if that cell lost its metadata, by the submission's
   code cells that define the same function names: status ``metadata lost``). Nothing else of the submission is
   used: its check cells, outputs and extra cells are ignored (the feedback says so). ``prose`` and ``live`` cells
   are dropped; a first cell (ours) caps the output each cell may send. Answer cells carry ``nbval-ignore-output``
   (they may print); check and hidden-check cells keep the reference's stored output, so a check passes only when
   nbval sees exactly what the reference printed. Check cells reload :mod:`hftos.grade.labchecks.lab01` themselves, so an
   answer cell that redefines or patches a helper changes nothing.
3. **Run** (:func:`run_sandboxed`) ``python -m pytest merged.ipynb --nbval --nbval-current-env
   --nbval-cell-timeout=T --junitxml=...`` in a fresh temporary directory (cwd, ``HOME``, ``TMPDIR``, Jupyter and
   IPython dirs), under a per-submission *supervisor* process that
   - is in a session of its own and is a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``): whatever the
     submission starts, even in a new session (``start_new_session=True``, double fork), stays its descendant;
   - sets ``RLIMIT_AS`` (memory), ``RLIMIT_CPU``, ``RLIMIT_FSIZE`` and ``RLIMIT_NPROC`` on pytest and hence on the kernel;
   - counts its descendants every ``_POLL`` seconds and kills the whole tree when there are more than
     ``Limits.max_processes`` (status ``process limit``): the fork-bomb guard that also works as root, where
     ``RLIMIT_NPROC`` is not enforced;
   - enforces a wall-clock limit for the whole notebook, and then kills every descendant, repeatedly, until none is
     left; the grader afterwards also kills any process whose environment carries the submission's marker
     (``HFTOS_GRADE_TOKEN``), in case the supervisor itself was killed.
   Results are read from :mod:`hftos.grade.nbval_log` (one JSON line per cell, written as it happens; the JUnit XML
   is written too but is lost when pytest is killed).
4. **Score**: each ``check``/``hidden-check`` cell that passed gives its points to its task. Status:
   ``graded``, or what happened, joined with ``"; "``: ``timed out``, ``kernel died``, ``memory limit``,
   ``output capped``, ``process limit``, ``incomplete run``, ``metadata lost (answers matched by function name)``,
   ``review: ...`` (an answer touches the grading machinery), ``invalid notebook: ...``, ``grader error: ...``.

What this is not: a security sandbox. Answers run as the grading user, with that user's file access. The limits
make runaway code harmless to the other submissions and leave nothing running; a student who deliberately forges
check output (patching ``builtins.print``, the kernel's session) is flagged for review, not prevented.
"""

from __future__ import annotations

import copy
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from . import cells as _cells

#: Submissions larger than this are refused (a notebook of answers is a few hundred kB at most).
MAX_BYTES = 20 * 1024 * 1024
#: Answer cell sources longer than this are replaced by the stub.
MAX_ANSWER_CHARS = 200_000


#: Supervisors running now, and the flag :func:`abort_all` sets (an interrupted grader stops them all).
_ACTIVE: set[subprocess.Popen] = set()
_ACTIVE_LOCK = threading.Lock()
_ABORT = threading.Event()


def abort_all() -> None:
    """Stop every running submission (their supervisors' sessions are killed; each run then cleans up by token)."""
    _ABORT.set()
    with _ACTIVE_LOCK:
        running = list(_ACTIVE)
    for sup in running:
        try:
            os.killpg(sup.pid, signal.SIGKILL)
        except OSError:
            pass


class Aborted(Exception):
    """The grader was interrupted."""


@dataclass
class Limits:
    """Per-submission limits (see the module docstring)."""

    cell_timeout: float = 30.0          # seconds per cell (nbval)
    wall_timeout: float = 240.0         # seconds for the whole notebook
    memory_bytes: int = 2 * 1024 ** 3   # RLIMIT_AS of pytest and the kernel
    file_bytes: int = 64 * 1024 ** 2    # RLIMIT_FSIZE
    output_bytes: int = 256 * 1024      # what one cell may print before the rest is dropped
    extra_tasks: int = 512              # RLIMIT_NPROC = the user's current tasks + this (not enforced for root)
    max_processes: int = 256            # the supervisor kills the whole run when it has more descendants than this


@dataclass
class Grade:
    """The result for one submission."""

    name: str
    path: str
    points: dict[str, int]
    maximum: dict[str, int]
    status: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.points.values())

    @property
    def max_total(self) -> int:
        return sum(self.maximum.values())


class InvalidNotebook(Exception):
    """The submission cannot be read as a notebook."""


# --------------------------------------------------------------------------- reading and merging


def load_submission(path: Path) -> dict[str, Any]:
    """The submission as a plain dict with a ``cells`` list; :class:`InvalidNotebook` otherwise."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidNotebook(f"cannot read ({exc.strerror})") from None
    if not path.is_file():
        raise InvalidNotebook("not a file")
    if size > MAX_BYTES:
        raise InvalidNotebook(f"too large ({size} bytes)")
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidNotebook("not a notebook (not JSON text)") from None
    if isinstance(data, dict) and "worksheets" in data and "cells" not in data:
        try:
            data = json.loads(nbformat.writes(nbformat.reads(raw.decode("utf-8"), as_version=4)))
        except Exception:  # noqa: BLE001: any failure means unreadable
            raise InvalidNotebook("not an nbformat notebook (old format that cannot be converted)") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise InvalidNotebook("not an nbformat notebook (no list of cells)")
    cells = []
    for k, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise InvalidNotebook(f"not an nbformat notebook (cell {k} has no valid cell_type)")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise InvalidNotebook(f"not an nbformat notebook (cell {k} source is not text)")
        meta = cell.get("metadata")
        cells.append({"cell_type": cell["cell_type"], "source": source,
                      "metadata": meta if isinstance(meta, dict) else {}})
    data["cells"] = cells
    return data


#: Patterns in an answer that touch the grading machinery: flagged ``review: ...`` (never scored down automatically).
_REVIEW = {
    r"hftos\.grade|hftos import grade": "uses the grading helpers (hftos.grade)",
    r"\bbuiltins\b|__builtins__": "touches builtins",
    r"sys\.modules": "touches sys.modules",
    r"get_ipython|ipykernel": "touches the IPython kernel",
    r"sys\.(stdout|stderr)\s*=": "replaces sys.stdout/stderr",
}


def oracle_patterns(reference: nbformat.NotebookNode) -> dict[str, str]:
    """Review patterns for the lab's oracles: the course modules its hidden checks compare answers with.

    The reference lists them in ``metadata.hftos.oracles``, e.g. ``{"hftos.sched": "hftos.sched.weights"}``
    (module -> a submodule students may use, or ``""``); an answer that imports an oracle is flagged ``review:``.
    """
    oracles = reference.metadata.get("hftos", {}).get("oracles", {})
    patterns: dict[str, str] = {}
    for module, allowed in oracles.items():
        head, _, tail = module.rpartition(".")
        skip = f"(?!\\.{re.escape(allowed.rpartition('.')[2])})" if allowed else ""
        patterns[rf"{re.escape(module)}{skip}\b|from {re.escape(head)} import {re.escape(tail)}\b"] = \
            f"calls the course's simulators ({module})"
    return patterns


def merge(reference: nbformat.NotebookNode, submission: dict[str, Any], limits: Limits
          ) -> tuple[nbformat.NotebookNode, list[tuple[int, _cells.CellInfo]], list[str], list[str]]:
    """Build the notebook to run: returns ``(merged, plan, flags, notes)``.

    ``plan`` maps nbval's code-cell number to the reference cell's :class:`~hftos.grade.cells.CellInfo`
    (number 0 is the output cap). ``flags`` become part of the status; ``notes`` go to the feedback.
    """
    flags: list[str] = []
    notes: list[str] = []
    by_id: dict[str, dict[str, Any]] = {}
    unmatched_code: list[dict[str, Any]] = []
    for cell in submission["cells"]:
        ci = _cells.info(cell)
        if ci is not None and ci.id not in by_id:
            by_id[ci.id] = cell
        elif cell["cell_type"] == "code" and cell["source"].strip():
            unmatched_code.append(cell)

    ref_cells = list(_cells.lab_cells(reference))
    known_sources = {c.source.strip() for c, ci in ref_cells if ci.role != "answer"}
    merged = copy.deepcopy(reference)
    new_cells = [nbformat.v4.new_code_cell(_cap_source(limits.output_bytes), id="grader-output-cap",
                                           metadata={"tags": ["nbval-ignore-output"]})]
    plan: list[tuple[int, _cells.CellInfo]] = [(0, _cells.CellInfo(role="grader", id="grader-output-cap"))]
    matched_by_name = False
    review = {**_REVIEW, **oracle_patterns(reference)}
    for cell, ci in _cells.lab_cells(merged):
        if cell.cell_type != "code" or ci.role in ("prose", "live"):
            continue
        cell.metadata.pop("execution", None)
        if ci.role == "answer":
            source = None
            sub = by_id.get(ci.id)
            if sub is not None and sub["cell_type"] == "code":
                source = sub["source"]
            else:
                names = set(_cells.defined_functions(cell.source))
                found = [c["source"] for c in unmatched_code
                         if names & set(_cells.defined_functions(c["source"]))]
                if found:
                    source = "\n\n".join(found)
                    matched_by_name = True
            if source is None:
                notes.append(f"answer cell `{ci.id}` not found in the submission: the unanswered skeleton was used")
                source = _cells.strip_solutions(cell.source)
            elif len(source) > MAX_ANSWER_CHARS:
                notes.append(f"answer cell `{ci.id}` is longer than {MAX_ANSWER_CHARS} characters: "
                             "the unanswered skeleton was used")
                source = _cells.strip_solutions(cell.source)
            for needle, why in review.items():
                if re.search(needle, source):
                    flag = f"review: answer {ci.id} {why}"
                    flags.append(flag)
            cell.source = source
            cell.outputs = []
            cell.execution_count = None
            tags = [t for t in cell.metadata.get("tags", []) if t != "raises-exception"]
            cell.metadata["tags"] = tags + ["nbval-ignore-output"]
        elif ci.role in ("check", "hidden-check"):
            sub = by_id.get(ci.id)
            if sub is not None and sub["source"].strip() != cell.source.strip():
                notes.append(f"your edit to check cell `{ci.id}` was ignored: the grader runs the reference check")
        plan.append((len(new_cells), ci))
        new_cells.append(cell)
    extra = [c for c in unmatched_code if c["source"].strip() not in known_sources]
    if extra and not matched_by_name:
        notes.append(f"{len(extra)} code cell(s) that are not answer cells were ignored")
    if any(n.startswith("your edit to check cell") for n in notes):
        flags.append("check cells edited (ignored)")
    if matched_by_name:
        flags.insert(0, "metadata lost (answers matched by function name)")
    merged.cells = new_cells
    merged.metadata.setdefault("hftos", {})["version"] = "merged"
    return merged, plan, flags, notes


def _cap_source(limit: int) -> str:
    """The first cell of a merged notebook: drop a cell's output beyond ``limit`` bytes, with one notice."""
    return f'''# Grader: cap what one cell may send (stream, display, result, error) at {limit} bytes.
def _hftos_cap_output(limit={limit}):
    import json, pathlib
    kernel = get_ipython().kernel
    session = kernel.session
    send = session.send
    used = {{}}
    kinds = {{"stream", "display_data", "execute_result", "update_display_data", "error"}}

    def capped(stream, msg_or_type, content=None, parent=None, *args, **kwargs):
        if isinstance(msg_or_type, dict):  # a whole message (OutStream, display)
            kind, body = msg_or_type.get("msg_type"), msg_or_type.get("content")
            head = msg_or_type.get("parent_header") or {{}}
        else:
            kind, body = msg_or_type, content
            head = parent.get("header", parent) if isinstance(parent, dict) else {{}}
        if kind in kinds and isinstance(head, dict):
            key = head.get("msg_id")
            if kind == "stream" and isinstance(body, dict):
                size = len(body.get("text", ""))
            else:
                try:
                    size = len(json.dumps(body, default=str))
                except Exception:
                    size = limit + 1
            total = used.get(key, 0) + size
            used[key] = total
            if total > limit:
                if total - size <= limit:
                    pathlib.Path("output_capped").write_text("1")
                    notice = {{"name": "stderr", "text": "\\n[output capped by the grader at {limit} bytes]\\n"}}
                    return send(stream, "stream", notice, head, ident=kwargs.get("ident"))
                return None
        return send(stream, msg_or_type, content, parent, *args, **kwargs)

    session.send = capped

_hftos_cap_output()
del _hftos_cap_output'''


# --------------------------------------------------------------------------- the sandbox


def _user_tasks() -> int:
    """Tasks (threads) owned by this real uid: RLIMIT_NPROC counts them."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                text = Path(entry.path, "status").read_text()
            except OSError:
                continue
            m_uid = re.search(r"^Uid:\s+(\d+)", text, re.M)
            m_thr = re.search(r"^Threads:\s+(\d+)", text, re.M)
            if m_uid and int(m_uid.group(1)) == uid:
                count += int(m_thr.group(1)) if m_thr else 1
    return count


def marked_pids(token: str) -> list[int]:
    """Processes whose environment carries ``HFTOS_GRADE_TOKEN=token`` (those we may read)."""
    needle = f"HFTOS_GRADE_TOKEN={token}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in Path(entry.path, "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def kill_marked(token: str, rounds: int = 50) -> int:
    """SIGKILL every process carrying the marker until none is left; return how many were killed."""
    killed = 0
    for _ in range(rounds):
        pids = marked_pids(token)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.05)
    return killed


@dataclass
class RunResult:
    """What the sandboxed nbval run produced."""

    records: list[dict[str, Any]]
    returncode: int | None
    timed_out: bool
    output_capped: bool
    stderr_tail: str
    killed_after: int
    process_limit: int = 0   # descendants counted when the supervisor stopped the run for too many (0: it did not)


def run_sandboxed(merged: nbformat.NotebookNode, workdir: Path, limits: Limits) -> RunResult:
    """Run ``merged`` under nbval in ``workdir`` (which must exist and be empty) through the supervisor."""
    token = uuid.uuid4().hex
    run = workdir / "run"
    for sub in ("run", "home", "tmp", "jupyter", "ipython"):
        (workdir / sub).mkdir()
    nbformat.write(merged, str(run / "lab.ipynb"))
    (run / "pytest.ini").write_text("[pytest]\naddopts =\n")
    log = workdir / "cells.jsonl"
    pkg_root = str(Path(__file__).resolve().parents[2])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir / "home"), "TMPDIR": str(workdir / "tmp"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "jupyter"), "JUPYTER_DATA_DIR": str(workdir / "jupyter"),
        "JUPYTER_CONFIG_DIR": str(workdir / "jupyter"), "IPYTHONDIR": str(workdir / "ipython"),
        "MPLCONFIGDIR": str(workdir / "tmp"), "MPLBACKEND": "Agg", "HFTOS_BUDGET": "smoke",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": _pythonpath(pkg_root), "MALLOC_ARENA_MAX": "2", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "HFTOS_GRADE_TOKEN": token, "HFTOS_GRADE_LOG": str(log), "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    cmd = [sys.executable, "-m", "pytest", "lab.ipynb", "-c", "pytest.ini", "--rootdir", ".",
           "-p", "nbval.plugin", "-p", "hftos.grade.nbval_log", "-p", "no:cacheprovider",
           "--nbval", "--nbval-current-env", f"--nbval-cell-timeout={limits.cell_timeout:g}",
           "--nbval-kernel-startup-timeout=60", f"--junitxml={workdir / 'junit.xml'}", "-q", "--tb=short"]
    nproc = _user_tasks() + limits.extra_tasks
    job = {"cmd": cmd, "cwd": str(run), "env": env, "wall": limits.wall_timeout, "max_procs": limits.max_processes,
           "rlimits": {"AS": limits.memory_bytes, "CPU": int(limits.wall_timeout) + 5,
                       "FSIZE": limits.file_bytes, "NPROC": nproc},
           "stdout": str(workdir / "pytest.out"), "result": str(workdir / "result.json")}
    (workdir / "job.json").write_text(json.dumps(job))
    sup_env = dict(env)
    if _ABORT.is_set():
        raise Aborted()
    sup = subprocess.Popen([sys.executable, "-m", "hftos.grade.autograde", "--supervise", str(workdir / "job.json")],
                           cwd=str(workdir), env=sup_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=open(workdir / "supervisor.err", "wb"), start_new_session=True)
    with _ACTIVE_LOCK:
        _ACTIVE.add(sup)
    try:
        sup.wait(timeout=limits.wall_timeout + 60)
    except subprocess.TimeoutExpired:
        pass
    finally:
        try:
            os.killpg(sup.pid, signal.SIGKILL)
        except OSError:
            pass
        sup.wait()
        with _ACTIVE_LOCK:
            _ACTIVE.discard(sup)
        killed = kill_marked(token)
    if _ABORT.is_set():
        raise Aborted()
    result: dict[str, Any] = {}
    try:
        result = json.loads((workdir / "result.json").read_text())
    except (OSError, ValueError):
        result = {"returncode": None, "timed_out": True}
    records = []
    try:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    except OSError:
        pass
    try:
        tail = (workdir / "pytest.out").read_bytes()[-3000:].decode("utf-8", "replace")
    except OSError:
        tail = ""
    return RunResult(records=records, returncode=result.get("returncode"), timed_out=bool(result.get("timed_out")),
                     process_limit=int(result.get("process_limit", 0)),
                     output_capped=(run / "output_capped").exists(), stderr_tail=tail,
                     killed_after=killed + int(result.get("killed", 0)))


def _pythonpath(pkg_root: str) -> str:
    """``PYTHONPATH`` for the supervisor, pytest and the kernel: the repository, then the grader's own
    ``PYTHONPATH`` (a grader started as ``/usr/bin/python3`` with a venv's site-packages on ``PYTHONPATH``, e.g. as an
    unprivileged user who cannot read the venv's interpreter, needs it in the children too)."""
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != pkg_root]
    return os.pathsep.join([pkg_root, *inherited])


def _children(pid: int | None = None) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.scandir(f"/proc/{os.getpid() if pid is None else pid}/task"):
            try:
                kids.extend(int(x) for x in Path(task.path, "children").read_text().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _descendants() -> list[int]:
    """Every process below this one (walking ``/proc/PID/task/*/children``), parents before children."""
    found: list[int] = []
    todo = _children()
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        found.append(pid)
        todo.extend(_children(pid))
    return found


def _kill_tree() -> int:
    """SIGKILL every descendant, repeatedly, until none is left (a fork bomb's new children are caught next round;
    as a subreaper, orphans become our children)."""
    killed: set[int] = set()
    for _ in range(500):
        _reap()
        pids = _descendants()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
        time.sleep(0.01)
    return len(killed)



#: How often the supervisor counts the run's processes (seconds).
_POLL = 0.05


def supervise(job_path: str) -> int:
    """The supervisor process: subreaper, limits, wall clock, then kill everything below it."""
    job = json.loads(Path(job_path).read_text())
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass
    limits = job["rlimits"]

    def apply_limits() -> None:
        for name, value in (("AS", limits["AS"]), ("FSIZE", limits["FSIZE"]), ("NPROC", limits["NPROC"])):
            res = getattr(resource, f"RLIMIT_{name}")
            hard = resource.getrlimit(res)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            try:
                resource.setrlimit(res, (value, value))
            except (ValueError, OSError):
                pass
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        soft = limits["CPU"] if hard == resource.RLIM_INFINITY else min(limits["CPU"], hard)
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard if hard != resource.RLIM_INFINITY else soft + 5))
        except (ValueError, OSError):
            pass
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    timed_out = False
    start = time.monotonic()
    with open(job["stdout"], "wb") as out:
        proc = subprocess.Popen(job["cmd"], cwd=job["cwd"], env=job["env"], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=apply_limits)
        # Watchdog: RLIMIT_NPROC does not bind root (or CAP_SYS_RESOURCE/CAP_SYS_ADMIN), so we count our
        # descendants every POLL seconds and kill the whole run when there are more than ``max_procs``.
        max_procs, too_many, killed = int(job.get("max_procs", 256)), 0, 0
        rc: int | None = None
        while True:
            rc = proc.poll()
            if rc is not None:
                break
            if time.monotonic() - start > job["wall"]:
                timed_out = True
                proc.kill()
                rc = proc.wait()
                break
            count = len(_descendants())
            if count > max_procs:
                too_many = count
                print(f"process limit: {count} processes after {time.monotonic() - start:.2f} s", file=sys.stderr)
                killed += _kill_tree()
                rc = proc.wait()
                break
            time.sleep(_POLL)
    killed += _kill_tree()
    Path(job["result"]).write_text(json.dumps({"returncode": rc, "timed_out": timed_out, "killed": killed,
                                               "process_limit": too_many,
                                               "seconds": round(time.monotonic() - start, 3)}))
    return 0


# --------------------------------------------------------------------------- scoring


_CELL = re.compile(r"::Cell (\d+)$")


def score(plan: list[tuple[int, _cells.CellInfo]], maximum: dict[str, int], run: RunResult
          ) -> tuple[dict[str, int], list[dict[str, Any]], list[str]]:
    """Points per task, one record per graded check, and the status flags of the run."""
    by_cell: dict[int, list[dict[str, Any]]] = {}
    for rec in run.records:
        m = _CELL.search(str(rec.get("nodeid", "")))
        if m:
            by_cell.setdefault(int(m.group(1)), []).append(rec)
    text = "\n".join(str(r.get("message", "")) + "\n" + str(r.get("output", "")) for r in run.records)
    flags: list[str] = []
    if run.timed_out or "Timeout of" in text or "exceeded waiting for output" in text:
        flags.append("timed out")
    if "KernelDied" in text:
        flags.append("kernel died")
    if "MemoryError" in text:
        flags.append("memory limit")
    if run.output_capped:
        flags.append("output capped")
    if run.process_limit:
        flags.append("process limit")
    points = {task: 0 for task in maximum}
    checks: list[dict[str, Any]] = []
    missing = 0
    for num, ci in plan:
        recs = by_cell.get(num, [])
        call = [r for r in recs if r.get("when") == "call"]
        ok = bool(call) and all(r.get("outcome") == "passed" for r in recs)
        if not recs:
            missing += 1
        if ci.role == "answer" and recs and not ok:
            checks.append({"id": ci.id, "role": "answer", "passed": False, "points": 0, "max": 0,
                           "output": recs[-1].get("output", ""), "message": recs[-1].get("message", "")})
        if not ci.graded:
            continue
        if ok and ci.task in points:
            points[ci.task] += ci.points
        rec = recs[-1] if recs else {}
        checks.append({"id": ci.id, "role": ci.role, "task": ci.task, "passed": ok,
                       "points": ci.points if ok else 0, "max": ci.points,
                       "output": rec.get("output", ""), "message": rec.get("message", "not run")})
    if missing and not flags:
        flags.append("incomplete run")
    return points, checks, flags


def _crash_point(plan: list[tuple[int, _cells.CellInfo]], run: RunResult) -> _cells.CellInfo | None:
    """The cell at which the kernel was lost (died, could not be interrupted, or the run was cut short), if any."""
    by_cell: dict[int, str] = {}
    for rec in run.records:
        m = _CELL.search(str(rec.get("nodeid", "")))
        if m:
            by_cell[int(m.group(1))] = by_cell.get(int(m.group(1)), "") + str(rec.get("message", ""))
    for num, ci in plan:
        text = by_cell.get(num)
        if text is not None and ("KernelDied" in text or "Failed to interrupt" in text):
            return ci
    if run.timed_out or run.returncode not in (0, 1):
        for num, ci in plan:
            if num not in by_cell:
                return ci
    return None


def grade_one(reference_path: Path, submission: Path, name: str, limits: Limits,
              workroot: Path | None = None, max_attempts: int = 5) -> Grade:
    """Grade one submission (never raises for anything the submission does).

    When the kernel is lost (it died, or a cell could not be interrupted, or the run was cut short), the notebook is
    run again with the answer cell of the task where that happened replaced by its unanswered skeleton, so the other
    tasks still earn their points; the status keeps what happened.
    """
    reference = nbformat.read(str(reference_path), as_version=4)
    maximum = _cells.tasks(reference)
    zero = {task: 0 for task in maximum}
    try:
        data = load_submission(Path(submission))
    except InvalidNotebook as exc:
        return Grade(name, str(submission), zero, maximum, f"invalid notebook: {exc}")
    merged, plan, flags, notes = merge(reference, data, limits)
    answer_of = {ci.task: num for num, ci in plan if ci.role == "answer" and ci.task}
    stubbed: set[str] = set()
    all_flags: list[str] = []
    killed = 0
    most_procs = 0
    try:
        for _attempt in range(max_attempts):
            workdir = Path(tempfile.mkdtemp(prefix="hftos-grade-", dir=workroot))
            try:
                run = run_sandboxed(merged, workdir, limits)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            points, checks, run_flags = score(plan, maximum, run)
            all_flags += [f for f in run_flags if f not in all_flags]
            killed += run.killed_after
            most_procs = max(most_procs, run.process_limit)
            lost = _crash_point(plan, run)
            task = lost.task if lost is not None else None
            if task is None or task in stubbed or task not in answer_of:
                break
            stubbed.add(task)
            cell = merged.cells[answer_of[task]]
            ref_cell = next(c for c, ci in _cells.lab_cells(reference) if ci.role == "answer" and ci.task == task)
            cell.source = _cells.strip_solutions(ref_cell.source)
            notes.append(f"the kernel was lost in task {task} (cell `{lost.id}`): the notebook was run again with "
                         f"that task's answer left unanswered, so the other tasks could be graded")
    except Aborted:
        raise
    except Exception as exc:  # noqa: BLE001: a grader bug must not stop the other submissions
        return Grade(name, str(submission), zero, maximum, f"grader error: {type(exc).__name__}: {exc}", notes=notes)
    if stubbed:
        for check in checks:
            if check.get("task") in stubbed and not check["passed"]:
                check["output"] = f"not graded: the kernel was lost while running task {check['task']}"
    if most_procs:
        notes.append(f"the run was stopped when it had {most_procs} processes (the limit is {limits.max_processes})")
    if killed:
        notes.append(f"{killed} process(es) the submission left running were killed")
    status = "; ".join(all_flags + flags) or "graded"
    return Grade(name, str(submission), points, maximum, status, checks=checks, notes=notes)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--supervise":
        return supervise(args[1])
    print("usage: python -m hftos.grade LAB SUBMISSION... (this module's own entry is internal)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
