"""The repository keeps its promises: CI runs the README's test command, the toc lists files that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick)


def test_readme_quick_start_is_two_commands() -> None:
    cmds = _readme_commands()
    assert len(cmds) == 2, cmds
    assert cmds[0] == "pip install -r requirements.txt && jupyter-book build ."


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_cmd = _readme_commands()[1]
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ci_lines[-1] == test_cmd, f".ci/run ends with {ci_lines[-1]!r}, README says {test_cmd!r}"
    assert "pip install -q -r requirements.txt" in ci_lines


def test_toc_lists_only_files_that_exist() -> None:
    toc = (ROOT / "_toc.yml").read_text()
    files = re.findall(r"(?:root|file):\s*(\S+)", toc)
    assert files, "no entries found in _toc.yml"
    for f in files:
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f"_toc.yml lists missing {f}"


def test_jupyter_book_is_pinned_below_2() -> None:
    req = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^jupyter-book>=1\.0\.4,<2$", req, re.M), "Jupyter Book 2 cannot build offline"
