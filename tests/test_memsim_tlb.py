"""TLB simulator: hand-worked traces, fully associative = LRU page cache, reach, bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftos.memsim import replacement, tlb


def test_hand_worked_two_way():
    run = tlb.simulate("0x0,0x1000,0x2000,0x0,0x4000,0x10,0x3000", entries=4, ways=2, page_size=4096)
    assert run.hm() == "MMMHMHM"
    assert [a.set for a in run.trace] == [0, 1, 0, 0, 0, 0, 1]
    assert run.trace[4].evicted == 2            # set 0 held {0, 2}; 0 was just used, so 2 goes
    assert run.reach == 16384 and run.sets == 2


def test_direct_mapped_conflict():
    run = tlb.simulate([0, 8192, 0, 8192], entries=2, ways=1, page_size=4096)
    assert run.hm() == "MMMM"                   # VPN 0 and 2 both map to set 0
    assert tlb.simulate([0, 8192, 0, 8192], entries=2, ways=2).hm() == "MMHH"


def test_page_size_changes_hits():
    addrs = tlb.generate(200, pattern="stride", span="1M", stride="4K")
    assert tlb.simulate(addrs, 16, 4, "4K").hit_rate == 0.0
    big = tlb.simulate(addrs, 16, 4, "2M")
    assert big.misses == 1 and big.reach == 32 << 20


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=1, max_size=60), st.integers(1, 6))
def test_fully_associative_equals_lru(vpns, entries):
    run = tlb.simulate([v * 4096 + 5 for v in vpns], entries=entries, ways=entries, page_size=4096)
    lru = replacement.simulate("lru", vpns, entries)
    assert run.hm() == lru.hm()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 1 << 20), min_size=1, max_size=50), st.sampled_from([(8, 1), (8, 2), (8, 8), (16, 4)]))
def test_invariants(addrs, geom):
    run = tlb.simulate(addrs, *geom)
    assert run.hits + run.misses == len(addrs)
    for a in run.trace:
        assert a.vpn in a.contents and len(a.contents) == geom[1]
        assert a.vpn * 4096 + a.offset == a.address


def test_generate_deterministic():
    assert tlb.generate(10, seed=4) == tlb.generate(10, seed=4)
    assert tlb.generate(3, pattern="sequential") == [0, 8, 16]


@pytest.mark.parametrize("kw", [dict(entries=0), dict(entries=6, ways=4), dict(page_size=3000),
                                dict(page_size="4Q"), dict(ways=True)])
def test_bad_input(kw):
    with pytest.raises(ValueError):
        tlb.simulate([0, 1], **kw)
    with pytest.raises(ValueError):
        tlb.simulate("0x10,zz")


def test_cli():
    ok = subprocess.run([sys.executable, "-m", "hftos.memsim.tlb", "-e", "4", "-w", "2", "-a", "0,4096,0", "-c"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "FINALSTATS hits 1" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "hftos.memsim.tlb", "-e", "3", "-w", "2", "-c"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
