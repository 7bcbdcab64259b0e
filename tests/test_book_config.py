"""The book's configuration fails loudly: a notebook cell that raises fails `jupyter-book build`.

Jupyter Book 1 builds around a failing cell unless `nb_execution_raise_on_error` is set; this builds a one-page
book with the course's own `_config.yml` and a failing notebook, and expects the build to fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _jupyter_book() -> str:
    jb = Path(sys.executable).with_name("jupyter-book")
    return str(jb) if jb.exists() else "jupyter-book"


def _book(tmp_path: Path, source: str) -> Path:
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    shutil.copytree(ROOT / "book" / "ext", tmp_path / "book" / "ext")
    shutil.copytree(ROOT / "book" / "assets", tmp_path / "book" / "assets")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A page"), nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "page.ipynb")
    return tmp_path


def _build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_jupyter_book(), "build", str(book), "-W", "-n", "--keep-going"], cwd=book,
                          capture_output=True, text=True, timeout=600)


def test_a_failing_cell_fails_the_build(tmp_path: Path) -> None:
    result = _build(_book(tmp_path, "raise RuntimeError('this cell fails on purpose')"))
    assert result.returncode != 0
    assert "this cell fails on purpose" in result.stdout + result.stderr


def test_a_passing_notebook_builds_without_warnings(tmp_path: Path) -> None:
    result = _build(_book(tmp_path, "print(6 * 7)"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "42" in (tmp_path / "_build" / "html" / "page.html").read_text()
