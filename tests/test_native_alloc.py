"""hftos.native.alloc: malloc/free latency by size and untouched memory; hftos.memsim.kernel's read-only views.

Never asserts a speed: only that the measurements ran and that the structural facts hold (an mmap'ed block faults
once per use, untouched memory is not resident).
"""

from __future__ import annotations

import numpy as np
import pytest

from hftos.memsim import kernel
from hftos.native import alloc_sweep, alloc_untouched, source


def test_sweep_shapes_and_mmap_faults() -> None:
    sizes = [64, 4096, 256 << 10]
    r = alloc_sweep(sizes, 50, fixed_threshold=128 << 10)
    for s in sizes:
        for kind in ("malloc", "free"):
            x = r[kind][s]
            assert x.samples.shape == (50,) and np.all(np.isfinite(x.samples)) and np.all(x.samples >= 0)
        assert r["first_ns"][s] >= 0
    assert r["faults"][64] < 0.1                       # small blocks are reused from the tcache
    assert r["faults"][256 << 10] > 0.9                # above a fixed threshold every block is a fresh mmap
    assert "fixed" in r["malloc"][64].method["threshold"]


def test_dynamic_threshold_default() -> None:
    r = alloc_sweep([256 << 10], 50)
    assert r["faults"][256 << 10] < 0.5                # after the first free the threshold rose: heap, no faults


def test_untouched_is_not_resident() -> None:
    r = alloc_untouched(8)
    grow_virt = r["after_malloc"]["VmSize_kib"] - r["before"]["VmSize_kib"]
    grow_rss = r["after_malloc"]["VmRSS_kib"] - r["before"]["VmRSS_kib"]
    assert grow_virt >= 8 * 1024 - 64 and grow_rss < 1024
    assert r["after_touch"]["VmRSS_kib"] - r["after_malloc"]["VmRSS_kib"] > 6 * 1024
    assert r["minflt_touch"] >= r["pages"] // 2        # ~one fault per page (fewer if THP backs part of it)
    assert r["first_touch"].samples.size == r["pages"] == r["second_touch"].samples.size


@pytest.mark.parametrize("kw", [dict(sizes=[]), dict(sizes=[0]), dict(sizes=[1 << 30]), dict(n=0),
                                dict(fixed_threshold=-1)])
def test_bad_arguments(kw: dict) -> None:
    with pytest.raises(ValueError):
        alloc_sweep(**kw)


def test_untouched_refuses_silly_sizes() -> None:
    for mib in (0, 0.5, 1 << 30):
        with pytest.raises(ValueError):
            alloc_untouched(mib)


def test_source_is_shown() -> None:
    assert "mallopt(M_MMAP_THRESHOLD" in source("alloc")


def test_kernel_views() -> None:
    oc = kernel.overcommit()
    assert oc["overcommit_memory"] in (0, 1, 2) and oc["CommitLimit"] > 0
    o = kernel.oom()
    assert -1000 <= o["oom_score_adj"] <= 1000 and o["oom_score"] >= 0
    assert kernel.meminfo("MemTotal:  100 kB\nHugePages_Total: 0\n") == {"MemTotal": 100, "HugePages_Total": 0}
    assert kernel.vmstat("pgfault 5\nx y\n") == {"pgfault": 5}
    assert kernel.decode_lru_gen("0x0007")["on"] and len(kernel.decode_lru_gen("0x0007")["components"]) == 3
    assert kernel.decode_lru_gen("0x0000")["on"] is False
    assert kernel.decode_lru_gen(None)["on"] is None
    s = kernel.lru_settings()
    assert set(s["lists_kib"]) == {"Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)"}
