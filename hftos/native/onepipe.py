"""The source text's single-pipe "context switch" benchmark, reproduced safely (``onepipe.c``, erratum E43).

Each run forks a child that shares ONE pipe with the parent for both directions, as the source does,
and counts how often each side read back its own byte and whether a side's read would have blocked
forever (the source then hangs; here every read waits at most ``patience_ms``). Runs in a helper
process: it forks and pins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hftos.measure import scaled

from . import build, runner
from .checks import check, count, cpu_pair

_CDEF = """
int onepipe(int cpu_parent, int cpu_child, int iters, int patience_ms, int64_t *out);
"""


def _lib() -> build.Compiled:
    return build.load("onepipe", _CDEF)


def _in_helper(cpu_parent: int, cpu_child: int, iters: int, patience_ms: int, runs: int) -> np.ndarray:
    c = _lib()
    out = np.zeros((runs, 8), dtype=np.int64)
    for r in range(runs):
        check(c.lib.onepipe(cpu_parent, cpu_child, iters, patience_ms, c.ffi.cast("int64_t *", out[r].ctypes.data)),
              "onepipe")
    return out


def onepipe_demo(runs: int | None = None, *, iters: int | None = None, pinned: bool = True, cpu: int | None = None,
                 patience_ms: int = 200) -> dict[str, Any]:
    """Run the source's one-pipe benchmark ``runs`` times with ``iters`` iterations per side.

    ``pinned=True`` puts parent and child on one CPU (default: the first of the affinity mask);
    ``pinned=False`` leaves both unpinned. Returns ``runs`` (a list of dicts per run: ``parent_self``,
    ``parent_reads``, ``child_self``, ``child_reads``, ``parent_stuck``, ``child_stuck``, ``deadlock``
    (either side stuck: the source would have hung), ``self_read_pct`` (the parent's reads that returned
    its own byte, %), ``source_ns`` (the parent's loop time / (2 × iters), the number the source prints;
    None when the parent got stuck, since then it includes the wait)), plus ``deadlocks`` (how many runs
    would have hung), ``pinned``, ``cpus``, ``iters``, ``patience_ms``. Defaults: 5 runs of 10,000
    iterations (2 runs of 2,000 at the smoke budget).
    """
    n_runs = count(runs if runs is not None else scaled(5, smoke=2), "runs")
    n_iters = count(iters if iters is not None else scaled(10_000, smoke=2000), "iters")
    if n_runs > 100 or n_iters > 10_000_000:
        raise ValueError("at most 100 runs of 10,000,000 iterations")
    if isinstance(patience_ms, bool) or not isinstance(patience_ms, int) or not 1 <= patience_ms <= 10_000:
        raise ValueError(f"patience_ms must be an int from 1 to 10000, got {patience_ms!r}")
    if not pinned and cpu is not None:
        raise ValueError("cpu= pins both processes; pass pinned=True with it")
    a, b = cpu_pair(None if cpu is None else (cpu, cpu), cross=False) if pinned else (-1, -1)
    _lib()
    # Each run: the loop (microseconds per iteration at worst) plus at most two patience waits.
    timeout = n_runs * (2 * patience_ms / 1000 + n_iters * 100e-6) + 15
    raw = runner.run(_in_helper, timeout=timeout, cpu_parent=a, cpu_child=b, iters=n_iters, patience_ms=patience_ms,
                     runs=n_runs)
    out = []
    for row in raw:
        ps, pr, pst, cs, cr, cst, elapsed, it = (int(x) for x in row)
        out.append({"parent_self": ps, "parent_reads": pr, "child_self": cs, "child_reads": cr,
                    "parent_stuck": bool(pst), "child_stuck": bool(cst), "deadlock": bool(pst or cst),
                    "self_read_pct": 100.0 * ps / pr if pr else float("nan"),
                    "source_ns": None if pst else elapsed / (2 * it)})
    return {"runs": out, "deadlocks": sum(r["deadlock"] for r in out), "pinned": pinned,
            "cpus": [a, b] if pinned else None, "iters": n_iters, "patience_ms": patience_ms}
