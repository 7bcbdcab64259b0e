"""hftos.tools: bounded, non-raising runs of external tools."""

from __future__ import annotations

import sys
import time

import pytest

from hftos import tools


def test_run_captures_output_and_status() -> None:
    r = tools.run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"])
    assert r.returncode == 3 and not r.ok
    assert r.stdout.strip() == "out" and r.stderr.strip() == "err"
    assert "exit status 3" in str(r)
    assert r.command.startswith("python -c "), "this interpreter is shown as 'python', whatever its path"


def test_missing_tool_gives_install_hint_not_exception() -> None:
    r = tools.run(["perf-does-not-exist-xyz", "bench"])
    assert r.returncode is None and not r.ok
    assert "not installed" in r.note and "apt-get install" in str(r)
    assert tools.install_hint("cyclictest").endswith("apt-get install rt-tests")


def test_timeout_kills_the_whole_process_group() -> None:
    start = time.monotonic()
    # The child spawns a grandchild that would outlive a plain kill of the child.
    r = tools.run(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.5)
    assert time.monotonic() - start < 10
    assert "killed after 0.5 s" in r.note


def test_empty_command_is_an_error() -> None:
    with pytest.raises(ValueError):
        tools.run([])


def test_input_is_passed() -> None:
    assert tools.run(["cat"], input_text="hello").stdout == "hello"
