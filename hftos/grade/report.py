"""The grade table (CSV) and one feedback file (Markdown) per submission.

CSV columns: ``submission``, one column per task (``t1``, ``t2``, ...: points earned), ``total``, ``max``,
``status``. Rows are sorted by submission name, so the same submissions give the same file byte for byte whatever
the order or parallelism they were graded in. :func:`read_csv` reads a (possibly partial) table back for ``--resume``.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Iterable

from .autograde import Grade


def header(tasks: Iterable[str]) -> list[str]:
    return ["submission", *tasks, "total", "max", "status"]


def row(grade: Grade) -> list[str]:
    return [grade.name, *(str(grade.points.get(t, 0)) for t in grade.maximum), str(grade.total),
            str(grade.max_total), grade.status]


def format_csv(tasks: list[str], rows: Iterable[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header(tasks))
    for r in sorted(rows, key=lambda r: r[0]):
        writer.writerow(r)
    return buf.getvalue()


def write_csv(path: Path, tasks: list[str], rows: Iterable[list[str]]) -> None:
    """Write the whole table atomically (sorted by submission)."""
    tmp = Path(f"{path}.tmp")
    tmp.write_text(format_csv(tasks, rows), encoding="utf-8")
    os.replace(tmp, path)


def append_row(path: Path, tasks: list[str], r: list[str]) -> None:
    """Append one row as soon as a submission is done (so an interrupted run can be resumed)."""
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        if new:
            writer.writerow(header(tasks))
        writer.writerow(r)
        f.flush()


def read_csv(path: Path, tasks: list[str]) -> dict[str, list[str]]:
    """Rows of an existing table by submission name (rows of another lab's shape, or broken ones, are skipped)."""
    out: dict[str, list[str]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return out
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0] != header(tasks):
        return out
    for r in rows[1:]:
        if len(r) == len(rows[0]) and not r[-1].startswith("grader error"):
            out[r[0]] = r
    return out


def feedback_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".md"


def feedback(grade: Grade, title: str) -> str:
    """The Markdown a student gets: points per task, every check that failed with what it printed, notes."""
    lines = [f"# {title}: feedback for `{grade.name}`", "",
             f"**Status:** {grade.status}  ", f"**Total:** {grade.total} / {grade.max_total}", "",
             "| task | points | max |", "|---|---:|---:|"]
    lines += [f"| {t} | {grade.points.get(t, 0)} | {m} |" for t, m in grade.maximum.items()]
    lines.append("")
    if grade.status.startswith("invalid notebook"):
        lines += ["Your file could not be read as a Jupyter notebook, so nothing was run. Submit the `.ipynb` file "
                  "you worked in (File > Save, then upload that file).", ""]
    failed = [c for c in grade.checks if not c["passed"]]
    passed = [c for c in grade.checks if c["passed"]]
    if passed:
        lines.append("## Checks passed")
        lines += [f"- `{c['id']}` ({c['points']}/{c['max']})" for c in passed]
        lines.append("")
    if failed:
        lines.append("## What did not pass")
        for c in failed:
            if c["role"] == "answer":
                lines.append(f"### answer cell `{c['id']}` raised an error")
            else:
                hidden = " (hidden check: inputs you have not seen)" if c["role"] == "hidden-check" else ""
                lines.append(f"### `{c['id']}`{hidden}: 0/{c['max']}")
            shown = c.get("output") or c.get("message") or "(no output)"
            lines += ["", "```text", shown.rstrip()[-3000:], "```", ""]
    if grade.notes:
        lines.append("## Notes")
        lines += [f"- {n}" for n in grade.notes]
        lines.append("")
    return "\n".join(lines)
