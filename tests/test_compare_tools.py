"""benchmarks/compare_tools.py runs end to end and pairs every hftos number with its tool (or says why not)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_tools.py"


def test_side_by_side_json() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--json", "--loops", "2000", "--cyclictest-seconds", "1"],
                         capture_output=True, text=True, timeout=300, check=True)
    rows = json.loads(out.stdout)["rows"]
    commands = [r["tool"] for r in rows]
    for tool in ("perf bench syscall basic", "perf bench sched pipe", "cyclictest"):
        assert any(tool in c for c in commands), f"no row compares with {tool}: {commands}"
    for r in rows:
        if r["theirs"] is None:
            assert r["note"], f"{r['what']}: no number and no reason"
        if r["ours"] is not None and r["theirs"]:
            assert r["ratio"] > 0
    if shutil.which("perf"):
        assert any(r["theirs"] for r in rows if r["tool"].startswith("perf bench syscall")), rows


def test_bad_arguments_are_refused() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--loops", "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "must be positive" in out.stderr
