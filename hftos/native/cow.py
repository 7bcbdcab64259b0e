"""Copy-on-write made visible through ``/proc/self/pagemap`` (``cow.c``, chapter 1.2, erratum E11).

Runs in a helper process because it forks.
"""

from __future__ import annotations

from . import build, runner
from .checks import check

_CDEF = """
struct cow_report {
    int excl_before, excl_after;
    int neighbour_before, neighbour_after;
    long minflt_delta;
    char parent_byte;
};
int cow_demo(struct cow_report *out);
"""


def _lib() -> build.Compiled:
    return build.load("cow", _CDEF)


def _in_helper() -> dict:
    """Runs inside the helper process."""
    c = _lib()
    r = c.ffi.new("struct cow_report *")
    check(c.lib.cow_demo(r), "cow_demo")
    return {
        "excl_before": r.excl_before,
        "excl_after": r.excl_after,
        "neighbour_before": r.neighbour_before,
        "neighbour_after": r.neighbour_after,
        "minflt_delta": r.minflt_delta,
        "parent_byte": r.parent_byte.decode(),
    }


def cow_demo(timeout: float = 30.0) -> dict:
    """Fork, write one byte in the child, and report what changed.

    Returns ``excl_before``/``excl_after`` (bit 56 "exclusively mapped" of the written page in
    the child's ``/proc/self/pagemap``, before and after the write), ``neighbour_before``/
    ``neighbour_after`` (the same for an untouched page), ``minflt_delta`` (minor faults taken by
    the write) and ``parent_byte`` (what the parent reads afterwards). Expected on every host with
    Linux >= 4.2: ``0 1 1 'A'`` and the neighbour ``0 0``. Also includes ``line``, that result as
    one line of text.
    """
    _lib()
    r = runner.run(_in_helper, timeout=timeout)
    r["line"] = f"{r['excl_before']} {r['excl_after']} {r['minflt_delta']} {r['parent_byte']}"
    return r
