"""Cell roles: what each cell of a lab notebook is, read from ``metadata.hftos``.

Every cell of a reference lab (``labs/source/*.ipynb``) carries::

    metadata.hftos = {"role": ROLE, "id": "t1-check-2", "task": "t1", "points": 5}

ROLE is one of

- ``prose``: markdown (statements, conventions, questions); copied to the student version, ignored by the grader;
- ``setup``: code the lab needs before the answers (imports); run by the grader from the reference;
- ``answer``: the student's cell: one function skeleton per task with ``### BEGIN SOLUTION`` /
  ``### END SOLUTION`` around the reference code (nbgrader's markers); the only source the grader takes
  from a submission;
- ``check``: a visible check, worth ``points``; passes when nbval sees exactly the reference's stored output;
- ``hidden-check``: like ``check`` but removed from the student version (inputs the student has not seen);
- ``live``: an ungraded measurement on the student's host (``# NBVAL_IGNORE_OUTPUT``); the grader drops it.

``id`` is unique in the lab and equals the nbformat cell id; ``task`` groups cells into tasks (CSV columns).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

ROLES = ("prose", "setup", "answer", "check", "hidden-check", "live")
GRADED = ("check", "hidden-check")

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = "# YOUR CODE HERE\nraise NotImplementedError"


@dataclass(frozen=True)
class CellInfo:
    """The ``metadata.hftos`` of one cell."""

    role: str
    id: str
    task: str | None = None
    points: int = 0

    @property
    def graded(self) -> bool:
        return self.role in GRADED


def info(cell: Any) -> CellInfo | None:
    """The cell's :class:`CellInfo`, or ``None`` when it has no (valid) ``metadata.hftos``."""
    meta = cell.get("metadata", {}).get("hftos") if isinstance(cell, dict) else None
    if not isinstance(meta, dict) or meta.get("role") not in ROLES or not isinstance(meta.get("id"), str):
        return None
    points = meta.get("points", 0)
    if isinstance(points, bool) or not isinstance(points, int) or points < 0:
        points = 0
    task = meta.get("task")
    return CellInfo(role=meta["role"], id=meta["id"], task=task if isinstance(task, str) else None, points=points)


def lab_cells(nb: Any) -> Iterator[tuple[Any, CellInfo]]:
    """(cell, info) for every cell of a *reference* notebook; raises ``ValueError`` on a cell without a role."""
    seen: set[str] = set()
    for k, cell in enumerate(nb.cells):
        ci = info(cell)
        if ci is None:
            raise ValueError(f"cell {k} has no metadata.hftos role/id")
        if ci.id in seen:
            raise ValueError(f"duplicate cell id {ci.id!r}")
        seen.add(ci.id)
        yield cell, ci


def tasks(nb: Any) -> dict[str, int]:
    """task -> maximum points, in notebook order."""
    out: dict[str, int] = {}
    for _, ci in lab_cells(nb):
        if ci.graded and ci.task:
            out[ci.task] = out.get(ci.task, 0) + ci.points
    return out


def strip_solutions(source: str) -> str:
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region with the stub, keeping its indentation."""
    lines = source.split("\n")
    out: list[str] = []
    inside = False
    for line in lines:
        if line.strip() == BEGIN:
            if inside:
                raise ValueError("nested BEGIN SOLUTION")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in STUB.split("\n"))
        elif line.strip() == END:
            if not inside:
                raise ValueError("END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out)


_DEF = re.compile(r"^(?:def|class)\s+([A-Za-z_]\w*)\s*[(:]", re.M)


def defined_functions(source: str) -> list[str]:
    """Names of the top-level ``def`` and ``class`` statements in ``source`` (a regex: works on code that does not parse)."""
    return _DEF.findall(source)
