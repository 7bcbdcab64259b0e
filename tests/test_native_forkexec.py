"""forkexec.c (the corrected fork/exec/wait listing) and fork_cost_from_python (errata E08/E09/E12)."""

from __future__ import annotations

import math

import pytest

from hftos import native
from hftos.native import build, forkcost, forkexec


def test_forkexec_compiles_with_the_course_flags() -> None:
    exe = forkexec.program()
    assert exe.path.exists() and "-Werror" in build.CFLAGS
    assert "fflush(stdout)" in native.source("forkexec")


def test_corrected_version_prints_every_line_in_order() -> None:
    r = forkexec.run()
    assert r.lines == [
        "parent: pid=<parent>, about to fork",
        "child: pid=<child>, ppid=<parent>, about to exec echo",
        "echo: a new program in the child's process",
        "parent: child=<child> exited with status 0",
    ]
    assert r.parent_pid and r.child_pid and r.parent_pid != r.child_pid
    assert str(r.child_pid) in r.raw and "<child>" not in r.raw


def test_without_fflush_the_childs_line_is_lost() -> None:
    r = forkexec.run(flush=False)
    assert r.command == "forkexec --no-flush"
    assert not any(line.startswith("child:") for line in r.lines)
    assert "echo: a new program in the child's process" in r.lines
    assert r.lines.count("parent: pid=<parent>, about to fork") == 1


def test_failed_exec_with_exit_duplicates_the_parents_buffer() -> None:
    bad = forkexec.run(flush=False, fail_exec=True)
    assert bad.lines.count("parent: pid=<parent>, about to fork") == 2
    assert bad.lines[-1] == "parent: child=<child> exited with status 1"
    good = forkexec.run(fail_exec=True)
    assert good.lines.count("parent: pid=<parent>, about to fork") == 1
    assert good.lines[-1] == "parent: child=<child> exited with status 127"


def test_symbolic_leaves_unknown_pids_marked() -> None:
    text, p, c = forkexec.symbolic("parent: pid=10, about to fork\nchild: pid=11, ppid=99, x\n")
    assert (p, c) == (10, 11)
    assert text == "parent: pid=<parent>, about to fork\nchild: pid=<child>, ppid=<other>, x\n"


@pytest.mark.parametrize("thp", [False, True])
def test_fork_cost_from_python(thp: bool) -> None:
    r = forkcost.fork_cost_from_python(4, thp=thp, n=5)
    assert r.samples.shape == (5,) and all(math.isfinite(x) and x > 0 for x in r.samples)
    assert r.method["parent"].startswith("Python helper")
    assert r.method["rss_mib"] == 4 and r.method["thp"] is thp
    # the interpreter (with numpy) comes on top of the 4 MiB region; the C parent is about 1 MiB plus the region
    c = native.fork_cost(4, thp=thp, n=3)
    assert r.method["rss_kib"] > c.method["rss_kib"] + 10 * 1024


@pytest.mark.parametrize("kwargs", [{"method": "spawn"}, {"thp": "yes"}, {"n": 0}, {"timeout": -1}])
def test_fork_cost_from_python_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        forkcost.fork_cost_from_python(4, **kwargs)
