"""Every erratum of the source text is taught once, in an Erratum box, and linked from the book's errata page."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABEL = re.compile(r"^\((erratum-e(\d\d))\)=\s*\n:::\{admonition\} Erratum E(\d\d)\b", re.M)


def _labels() -> list[tuple[str, str, str]]:
    """(label, number in the label, number in the admonition title, notebook) for every erratum box."""
    found = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                found += [(m.group(1), m.group(2), m.group(3), nb.stem) for m in LABEL.finditer(text)]
    return found


def _errata_page_numbers() -> list[str]:
    return re.findall(r"^\| E(\d\d) \|", (ROOT / "book" / "errata.md").read_text(), re.M)


def test_each_erratum_box_is_labelled_with_its_own_number() -> None:
    for label, in_label, in_title, nb in _labels():
        assert in_label == in_title, f"{nb}: label {label} on a box titled E{in_title}"


def test_each_erratum_is_taught_in_one_place_only() -> None:
    counts = Counter(label for label, *_ in _labels())
    assert not [k for k, n in counts.items() if n > 1], f"taught twice: {sorted(k for k, n in counts.items() if n > 1)}"


def test_errata_page_lists_all_72_and_links_each_box() -> None:
    numbers = _errata_page_numbers()
    assert numbers == [f"{i:02d}" for i in range(1, 73)]
    page = (ROOT / "book" / "errata.md").read_text()
    for label, *_ in _labels():
        assert f"<{label}>`" in page, f"book/errata.md does not link {label}"


def test_chapter_1_teaches_every_erratum() -> None:
    taught = {in_label for _, in_label, _, _ in _labels()}
    missing = sorted(set(_errata_page_numbers()) - taught)
    assert not missing, f"errata with no Erratum box in the chapter: {', '.join('E' + m for m in missing)}"
