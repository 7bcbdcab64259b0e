"""Every committed student notebook under labs/ is exactly what hftos.grade.release generates from its reference."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from hftos.grade.release import student_version

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = sorted((ROOT / "labs" / "source").glob("lab[0-9]*.ipynb"))


def test_every_lab_has_a_reference_and_a_student_version() -> None:
    assert len(REFERENCES) >= 5
    assert sorted(p.name for p in (ROOT / "labs").glob("lab[0-9]*.ipynb")) == [p.name for p in REFERENCES]


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda p: p.stem)
def test_committed_student_notebook_is_generated(reference: Path) -> None:
    student = ROOT / "labs" / reference.name
    assert student.read_text() == nbformat.writes(student_version(nbformat.read(str(reference), as_version=4))) + "\n", \
        f"run: python -m hftos.grade.release labs/source/{reference.name} -o labs/"
