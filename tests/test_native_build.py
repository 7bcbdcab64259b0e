"""hftos.native.build: cached cffi compilation, compile errors, source text."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hftos.native import CompileError, build, compile_snippet, source

CDEF = "int add(int a, int b);"


def _snippet(tag: str) -> str:
    """A snippet no other test (or earlier run) has compiled: the tag is part of its hash."""
    return f"/* {tag} */\nint add(int a, int b) {{ return a + b; }}\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private on-disk cache, and no modules already loaded in this process (other tests may have loaded them)."""
    monkeypatch.setenv("HFTOS_CACHE", str(tmp_path))
    monkeypatch.setattr(build, "_loaded", {})
    return tmp_path


def test_snippet_compiles_and_runs(cache: Path) -> None:
    lib = compile_snippet(CDEF, _snippet(uuid.uuid4().hex))
    assert lib.add(2, 3) == 5
    assert len(list(cache.glob("_hftos_snippet_*.so"))) == 1
    assert not list(cache.glob(".build-*")), "temporary build directory left behind"


def test_changed_snippet_is_recompiled(cache: Path) -> None:
    tag = uuid.uuid4().hex
    a = compile_snippet(CDEF, _snippet(tag))
    b = compile_snippet(CDEF, _snippet(tag).replace("a + b", "a * b"))
    assert (a.add(2, 3), b.add(2, 3)) == (5, 6)


def test_second_process_hits_the_cache(cache: Path) -> None:
    src = _snippet(uuid.uuid4().hex)
    first = build.compile_module("snippet", CDEF, src)
    assert not first.from_cache
    code = ("import sys; from hftos.native import build; "
            f"c = build.compile_module('snippet', {CDEF!r}, {src!r}); "
            "sys.exit(0 if c.from_cache and c.lib.add(1, 1) == 2 else 1)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_concurrent_compiles_do_not_corrupt_the_cache(cache: Path) -> None:
    src = _snippet(uuid.uuid4().hex)
    code = ("from hftos.native import build; "
            f"assert build.compile_module('snippet', {CDEF!r}, {src!r}).lib.add(2, 2) == 4")
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert len(list(cache.glob("_hftos_snippet_*.so"))) == 1
    assert not list(cache.glob(".build-*"))


def test_compile_error_shows_gcc_message(cache: Path) -> None:
    with pytest.raises(CompileError) as info:
        compile_snippet(CDEF, f"/* {uuid.uuid4().hex} */ int add(int a, int b) {{ int unused; return a + b; }}")
    msg = str(info.value)
    assert "snippet.c:1:" in msg and "unused" in msg and "error" in msg


def test_topic_modules_compile_with_werror(cache: Path) -> None:
    from hftos.native import batch, cow, forkcost, ipc, pingpong, syscalls

    for module in (batch, cow, forkcost, ipc, pingpong, syscalls):
        compiled = module._lib()
        assert compiled.path.parent == cache
        assert compiled.path.exists()


def test_executable_builds_once_then_hits_the_cache(cache: Path) -> None:
    from hftos.native import forkcost

    first = forkcost.program()
    assert not first.from_cache and first.path.parent == cache and os.access(first.path, os.X_OK)
    second = forkcost.program()
    assert second.from_cache and second.path == first.path
    assert not list(cache.glob(".build-*")), "temporary build directory left behind"
    # Other source text (here: the same file with its own main() instead of the define) is another program.
    other = build.compile_executable("forkcost", source("forkcost") + "\nint main(void) { return 0; }\n")
    assert other.path != first.path and subprocess.run([str(other.path)], timeout=10).returncode == 0


def _program(tag: str) -> str:
    return f'/* {tag} */\n#include <stdio.h>\nint main(void) {{ puts("ok"); return 0; }}\n'


def test_concurrent_executable_builds_do_not_corrupt_the_cache(cache: Path) -> None:
    src = _program(uuid.uuid4().hex)
    code = ("import subprocess; from hftos.native import build; "
            f"p = build.compile_executable('prog', {src!r}).path; "
            "assert subprocess.run([str(p)], capture_output=True, text=True).stdout == 'ok\\n'")
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert len(list(cache.glob("_hftos_exe_prog_*"))) == 1
    assert not list(cache.glob(".build-*"))
    assert build.compile_executable("prog", src).from_cache


def test_executable_compile_error_shows_gcc_message(cache: Path) -> None:
    with pytest.raises(CompileError) as info:
        build.compile_executable("prog", f"/* {uuid.uuid4().hex} */\nint main(void) {{ int unused; return 0; }}\n")
    msg = str(info.value)
    assert "prog.c:2:" in msg and "unused" in msg and "error" in msg
    assert not list(cache.glob(".build-*"))
    with pytest.raises(ValueError):
        build.executable("forkcost", defines=("X; rm -rf /",))


def test_source_returns_the_c_that_runs() -> None:
    for topic in ("syscalls", "pingpong", "forkcost", "cow", "ipc", "batch", "common"):
        text = source(topic)
        assert text.startswith("/*") and len(text) > 500
    assert "syscall(SYS_getpid)" in source("syscalls")
    with pytest.raises(ValueError, match="unknown C topic"):
        source("nope")


def test_nothing_compiles_at_import(tmp_path: Path) -> None:
    env = dict(os.environ, HFTOS_CACHE=str(tmp_path))
    subprocess.run([sys.executable, "-c", "import hftos.native"], check=True, env=env, timeout=60)
    assert not any(tmp_path.iterdir())
