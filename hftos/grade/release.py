"""Release: the student version of a lab, generated from its reference notebook.

``python -m hftos.grade.release labs/source/lab01_scheduling.ipynb -o labs/`` writes ``labs/lab01_scheduling.ipynb``:

- ``answer`` cells: every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region becomes
  ``# YOUR CODE HERE`` / ``raise NotImplementedError`` (nbgrader's stub), outputs cleared;
- ``check`` cells: kept with the reference's stored output, which is what a correct answer prints
  (conventions §8); their execution count is cleared;
- ``hidden-check`` cells: removed (the statement says they exist and what they are worth);
- ``live`` cells: kept, outputs cleared (they are measured on the student's host);
- ``prose`` and ``setup``: kept as they are; the notebook's ``widgets`` metadata (state of the live cell's progress
  bars) is dropped and consecutive stream outputs are merged. Cell ids and ``metadata.hftos`` are kept: the grader matches answers by them.

The output is a pure function of the reference notebook (no execution, no timestamps), so
``tests/test_grade_lab01.py`` can check that the committed student notebook is the generated one.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import nbformat

from . import cells as _cells


def _coalesce(outputs: list) -> list:
    """Merge consecutive stream outputs of the same stream (how a run split its writes is noise)."""
    merged: list = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1]["text"] = merged[-1]["text"] + out["text"]
        else:
            merged.append(out)
    return merged


def student_version(reference: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student notebook for ``reference`` (not modified)."""
    nb = copy.deepcopy(reference)
    kept = []
    for cell, ci in _cells.lab_cells(nb):
        if ci.role == "hidden-check":
            continue
        if cell.cell_type == "code":
            cell.execution_count = None
            if ci.role == "answer":
                cell.source = _cells.strip_solutions(cell.source)
                cell.outputs = []
            elif ci.role == "live":
                cell.outputs = []
            elif ci.role == "check":
                cell.outputs = _coalesce(cell.outputs)
                for out in cell.outputs:
                    if "execution_count" in out:
                        out["execution_count"] = None
        cell.metadata.pop("execution", None)
        kept.append(cell)
    nb.cells = kept
    nb.metadata.pop("widgets", None)  # widget state of the live measurement's progress bars
    nb.metadata.setdefault("hftos", {})["version"] = "student"
    nbformat.validate(nb)
    return nb


def release(source: Path, outdir: Path) -> Path:
    """Write the student version of ``source`` into ``outdir`` under the same file name; return its path."""
    reference = nbformat.read(str(source), as_version=4)
    out = Path(outdir) / Path(source).name
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student_version(reference), str(out))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hftos.grade.release", description=__doc__.split("\n\n")[0])
    ap.add_argument("source", nargs="+", type=Path, help="reference notebook(s), e.g. labs/source/lab01_scheduling.ipynb")
    ap.add_argument("-o", "--outdir", type=Path, default=Path("labs"), help="where to write the student version(s)")
    args = ap.parse_args(argv)
    for src in args.source:
        print(release(src, args.outdir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
