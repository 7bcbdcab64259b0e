"""What every lab's grading tests need: the reference answers and submissions built from the student version."""

from __future__ import annotations

from pathlib import Path

import nbformat

from hftos.grade import cells as _cells

ROOT = Path(__file__).resolve().parents[1]


def lab_paths(name: str) -> tuple[Path, Path]:
    """``(reference, student)`` notebooks of lab ``name`` (e.g. ``"lab02_memory"``)."""
    return ROOT / "labs" / "source" / f"{name}.ipynb", ROOT / "labs" / f"{name}.ipynb"


def reference_answers(reference: Path) -> dict[str, str]:
    """answer-cell id -> the reference's source without the solution markers."""
    nb = nbformat.read(str(reference), as_version=4)
    return {ci.id: "\n".join(line for line in c.source.split("\n") if line.strip() not in (_cells.BEGIN, _cells.END))
            for c, ci in _cells.lab_cells(nb) if ci.role == "answer"}


def lab_submission(reference: Path, student: Path, answers: dict[str, str] | None = None, *,
                   full: bool = True) -> nbformat.NotebookNode:
    """The student notebook with its answer cells replaced: the reference answer when ``full`` (else the skeleton
    stays), overridden by ``answers`` (id -> source)."""
    nb = nbformat.read(str(student), as_version=4)
    ref = reference_answers(reference) if full else {}
    for cell in nb.cells:
        ci = _cells.info(cell)
        if ci is not None and ci.role == "answer":
            cell.source = (answers or {}).get(ci.id, ref.get(ci.id, cell.source))
    return nb
