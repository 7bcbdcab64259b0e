"""A check that no test leaves anything behind (the budget and backend are set in the root conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

def _our_shm() -> set[str]:
    """Shared-memory segments named by helpers that this process started (``hftos-<our pid>-...``).

    Segments of other processes (the other xdist worker, a notebook running meanwhile) are not ours to judge.
    """
    shm = Path("/dev/shm")
    mine = f"hftos-{os.getpid()}-"
    return {p.name for p in shm.iterdir() if p.name.startswith(mine)} if shm.is_dir() else set()


def _children() -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            kids.update(int(x) for x in (task / "children").read_text().split())
        except OSError:
            pass
    return kids


@pytest.fixture(autouse=True)
def leaves_nothing_behind(request: pytest.FixtureRequest):
    """Fail a test that leaves a child process or one of our shared-memory segments behind.

    Tests that use the session-scoped browser legitimately keep its driver and Chromium running between tests, so
    for them only shared memory is checked.
    """
    check_kids = "browser" not in request.fixturenames
    shm_before, kids_before = _our_shm(), _children()
    yield
    leaked_shm = _our_shm() - shm_before
    leaked_kids = _children() - kids_before if check_kids else set()
    assert not leaked_shm, f"shared-memory segments left behind: {sorted(leaked_shm)}"
    assert not leaked_kids, f"child processes left behind: {sorted(leaked_kids)}"
