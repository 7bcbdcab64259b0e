"""hftos.bench: the headline measurements run and report sane, complete results (never their speed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from hftos import bench

KEYS = ("syscall_getpid_ns", "clock_gettime_monotonic_ns", "rdtsc_ns", "ctx_switch_same_cpu_ns",
        "pipe_rtt_cross_cpu_ns", "fork_exit_wait_us_16mib", "spsc_rtt_cross_cpu_ns", "spsc_throughput_mops",
        "timer_wakeup_us")


@pytest.fixture(scope="module")
def report() -> dict:
    """One `python -m hftos.bench --json` run, as a reader would start it (smoke budget from conftest)."""
    out = subprocess.run([sys.executable, "-m", "hftos.bench", "--json"], capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout)


def test_json_has_every_metric_with_a_value_or_a_reason(report: dict) -> None:
    for key in KEYS:
        assert key in report, key
        value = report[key]
        if value is None:
            assert report["skipped"].get(key), f"{key} is null without a reason"
        else:
            assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (key, value)


def test_json_carries_host_and_percentiles(report: dict) -> None:
    assert report["host"]["kernel"] and report["host"]["cpus"] >= 1
    for key, detail in report["detail"].items():
        stats = detail["stats"]
        assert stats["count"] > 0
        assert stats["min"] <= stats["p50"] <= stats["p99"] <= stats["p99.9"] <= stats["max"], key
        assert detail["method"], f"{key} has no method recorded"


def test_cross_cpu_metrics_are_null_on_one_cpu() -> None:
    """Under a one-CPU affinity mask the cross-CPU metrics say why they are missing instead of failing."""
    code = ("import json, os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from hftos import bench; print(json.dumps(bench.to_json(bench.collect())))")
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                                    check=True).stdout)
    for key in ("pipe_rtt_cross_cpu_ns", "spsc_rtt_cross_cpu_ns", "spsc_throughput_mops"):
        assert out[key] is None and "two CPUs" in out["skipped"][key]
    assert out["ctx_switch_same_cpu_ns"] > 0


def test_text_report_lists_every_metric() -> None:
    out = subprocess.run([sys.executable, "-m", "hftos.bench"], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    for label in ("syscall(SYS_getpid)", "context switch", "fork + exit + wait", "SPSC ring throughput", "p99.9"):
        assert label in out
