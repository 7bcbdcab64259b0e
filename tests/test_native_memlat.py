"""Pointer-chase latency (memlat.c): runs, right shape, sane numbers, clear errors. No timing claims."""

from __future__ import annotations

import math

import pytest

from hftos import native
from hftos.native import memlat


def test_sweep_shape_and_sanity() -> None:
    sizes = [4096, 64 << 10, 1 << 20]
    out = native.memlat_sweep(sizes, accesses=5000, samples=3)
    assert set(out) == {"random", "sequential", "page"}
    for pattern, results in out.items():
        assert [r.method["bytes"] for r in results] == sizes
        for r in results:
            assert r.samples.shape == (3,)
            assert all(math.isfinite(x) and 0 < x < 1e6 for x in r.samples)
            assert r.method["pattern"] == pattern and r.host


def test_pointer_chase_single_thp_flag() -> None:
    r = native.pointer_chase(2 << 20, "random", accesses=2000, samples=2, thp=True)
    assert r.samples.shape == (2,) and r.method["pages"].startswith("THP")


@pytest.mark.parametrize("kw", [dict(sizes=[1000]), dict(sizes=[4096 + 1]), dict(sizes=[4096], patterns=["zigzag"]),
                                dict(sizes=[]), dict(sizes=[4096], accesses=0)])
def test_bad_arguments(kw) -> None:
    with pytest.raises(ValueError):
        native.memlat_sweep(**kw)


def test_too_big_is_refused() -> None:
    with pytest.raises(MemoryError):
        native.memlat_sweep([1 << 50])


def test_cache_sizes_parser(tmp_path) -> None:
    for i, (level, typ, size) in enumerate([(1, "Data", "48K"), (1, "Instruction", "32K"), (2, "Unified", "1024K"),
                                           (3, "Unified", "32M")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{typ}\n")
        (d / "size").write_text(f"{size}\n")
    caches = memlat.cache_sizes(tmp_path)
    assert [(c.label, c.size) for c in caches] == [("L1d", 48 << 10), ("L1i", 32 << 10), ("L2", 1 << 20),
                                                   ("L3", 32 << 20)]
    assert [c.label for c in memlat.data_caches(tmp_path)] == ["L1d", "L2", "L3"]
    assert memlat.cache_sizes(tmp_path / "missing") == []


def test_default_sizes_follow_budget(monkeypatch) -> None:
    monkeypatch.setenv("HFTOS_BUDGET", "default")
    assert memlat.default_sizes()[0] == 4096 and memlat.default_sizes()[-1] == 256 << 20
    monkeypatch.setenv("HFTOS_BUDGET", "full")
    assert memlat.default_sizes()[-1] == 1 << 30
