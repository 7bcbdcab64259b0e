"""The built website in a real browser (headless Chromium driven by Playwright).

The session fixture builds the book exactly as the README's first command does (``jupyter-book build .``, with
``-W -n --keep-going`` so any Sphinx warning fails), then serves ``_build/html`` on 127.0.0.1 and loads every page.
Each page must load with no broken image, no error output or traceback, no JavaScript error and no request to any
host but the local server; the toolkit page must render a live widget from its saved state.

Without ``/usr/bin/chromium`` the tests are skipped with a message, except under ``CI=true`` where a missing
browser is a failure (``.ci/run`` installs it).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socketserver
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
]


def _pages() -> list[str]:
    """Every page of the toc, as paths relative to the site root."""
    skip = {"search.html", "genindex.html"}
    return sorted(
        p.relative_to(HTML).as_posix()
        for p in HTML.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(HTML).parts) and p.name not in skip
    )


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """Build the book (warnings are errors) and serve it on a loopback port; yields the base URL."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run must install it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium): the browser test is skipped")
    jb = Path(sys.executable).with_name("jupyter-book")
    build = subprocess.run(
        [str(jb) if jb.exists() else "jupyter-book", "build", str(ROOT), "-W", "-n", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    assert build.returncode == 0, f"jupyter-book build failed:\n{build.stdout[-6000:]}\n{build.stderr[-6000:]}"
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture(scope="session")
def browser(site: str):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _visit(browser, url: str, *, wait_for: str | None = None) -> dict:
    """Load ``url``; return what the page requested, logged and showed."""
    page = browser.new_page()
    outside: list[str] = []
    failed: list[str] = []
    js_errors: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if urlparse(r.url).hostname not in ("127.0.0.1", None) and not r.url.startswith("data:") else None)
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda e: js_errors.append(str(e)))
    page.goto(url, wait_until="networkidle")
    if wait_for:
        page.wait_for_selector(wait_for, timeout=20_000)
    info = {
        "outside": outside,
        "failed": failed,
        "js_errors": js_errors,
        "broken_images": page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"),
        "error_outputs": page.eval_on_selector_all(
            ".cell_output .traceback, .cell_output .output.stderr, .output.error, .system-message",
            "els => els.map(e => e.innerText.slice(0, 300))"),
        "text": page.inner_text("body"),
        "images": page.eval_on_selector_all("img", "imgs => imgs.length"),
    }
    page.close()
    return info


def test_every_page_loads_cleanly(site: str, browser) -> None:
    pages = _pages()
    assert "book/intro.html" in pages and len(pages) >= 5, pages
    problems = []
    for rel in pages:
        info = _visit(browser, site + rel)
        for key in ("outside", "failed", "js_errors", "broken_images", "error_outputs"):
            if info[key]:
                problems.append(f"{rel}: {key}: {info[key][:5]}")
        if "Traceback (most recent call last)" in info["text"]:
            problems.append(f"{rel}: a traceback is shown")
    assert not problems, "\n".join(problems)


def test_intro_shows_the_whole_plan(site: str, browser) -> None:
    text = _visit(browser, site + "book/intro.html")["text"]
    for title in ("Process management & scheduling", "Signals & exception handling", "Real-time Linux",
                  "Kernel bypass techniques", "System performance analysis"):
        assert title in text, f"intro page lacks chapter {title!r}"


def test_toolkit_page_renders_a_widget_and_figures(site: str, browser) -> None:
    info = _visit(browser, site + "notebooks/00_course_toolkit.html", wait_for=".widget-dropdown select")
    assert not info["outside"], info["outside"]
    assert info["images"] >= 3, "the toolkit page should show its figures"
