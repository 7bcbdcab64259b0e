"""Every chapter notebook has the shape conventions.md §2 and §7 promise a reader.

- landing page (``NN_name``): chapter title, "You will learn", the full host report;
- section notebook (``NN_M_name``): ``# N.M`` title, "You will learn", a host line, key takeaways, exercises with
  solutions folded on the website (``hide-input``), further reading;
- every notebook: every code cell executed, no error output, under 1.5 MB.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SECTION = re.compile(r"^(\d\d)_(\d)[a-z]?_")


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _markdown(nb: dict) -> str:
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def _code(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_without_errors_and_small(path: Path) -> None:
    nb = _load(path)
    for cell in _code(nb):
        assert cell.get("execution_count") is not None, f"unexecuted cell: {''.join(cell['source'])[:60]!r}"
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors or "raises-exception" in cell.get("metadata", {}).get("tags", []), errors[:1]
    assert path.stat().st_size < 1.5e6, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.name.startswith("00_")], ids=lambda p: p.name)
def test_chapter_shape(path: Path) -> None:
    nb = _load(path)
    text = _markdown(nb)
    code = "\n".join("".join(c["source"]) for c in _code(nb))
    m = SECTION.match(path.name)
    if m is None:  # a chapter's landing page
        chapter = int(path.name[:2])
        assert text.startswith(f"# Chapter {chapter}: "), "a landing page starts with '# Chapter N: title'"
        assert "You will learn" in text and "host.report()" in code
        return
    chapter, section = int(m.group(1)), int(m.group(2))
    assert re.match(rf"# {chapter}\.{section} ", text), f"title should start '# {chapter}.{section} '"
    if "summary_and_exercises" in path.name:
        assert "## Key takeaways" in text and "## Exercises" in text
    else:
        assert "You will learn" in text, "no 'You will learn' list"
        assert "host.summary()" in code or "host.report()" in code, "no host cell"
        for heading in ("## Key takeaways", "## Exercises", "## Further reading"):
            assert heading in text, f"missing {heading!r}"
    folded = [c for c in _code(nb) if "hide-input" in c.get("metadata", {}).get("tags", [])]
    assert folded, "exercise solutions should be code cells tagged hide-input (folded on the website)"
