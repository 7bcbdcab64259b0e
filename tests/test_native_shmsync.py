"""Shared memory and synchronisation (chapter 4.5): layouts, correctness properties and sane measurements.

No timing is asserted (machines are noisy): only that experiments ran, returned finite, positive
numbers of the right shape, and the properties that hold on every host (a robust mutex reports
EOWNERDEAD, a fenced store-buffer test never shows (0, 0), every MPMC item arrives exactly once,
a seqlock never accepts a torn quote).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from hftos import native
from hftos.native import shmsync

CPUS = native.allowed_cpus()
two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs")
PAIR = (CPUS[0], CPUS[1]) if len(CPUS) >= 2 else None
ONE = (CPUS[0], CPUS[0])


# ---- layouts ---------------------------------------------------------------------------------------

def test_shmsync_layout_lines_and_lock_free() -> None:
    lay = native.shmsync_layout()
    assert lay["cache_line"] == 64
    assert lay["off_ping"] % 64 == 0 and lay["off_pong"] % 64 == 0 and lay["off_b_ready"] % 64 == 0
    assert lay["off_pong"] - lay["off_ping"] >= 64          # ping and pong on different lines
    assert lay["sizeof_pp"] % 64 == 0
    assert lay["off_ready"] == 0 and lay["off_magic"] < 64 and lay["off_attached"] < 64
    assert lay["long_lock_free"] and lay["int_lock_free"]
    assert lay["sizeof_mutex"] > 0


def test_spscvar_layout_padded_and_packed() -> None:
    padded, packed = native.spscvar_layout(True), native.spscvar_layout(False)
    assert padded["control_size"] % 64 == 0
    assert [padded[k] for k in ("off_head", "off_tail", "off_slots")] == [0, 64, 128]
    assert [packed[k] for k in ("off_head", "off_tail", "off_slots")] == [0, 8, 16]
    # packed: head, tail and the first slots share one line (what E57 warns about)
    assert packed["off_head"] // 64 == packed["off_tail"] // 64 == packed["off_slots"] // 64


def test_mpmc_layout() -> None:
    lay = native.mpmc_layout()
    assert lay["off_enqueue_pos"] % 64 == 0 and lay["off_dequeue_pos"] % 64 == 0
    assert lay["off_dequeue_pos"] - lay["off_enqueue_pos"] >= 64
    assert lay["off_cells"] % 64 == 0 and lay["sizeof_cell"] == 16
    assert lay["pos_lock_free"] and lay["tally_lock_free"]


def test_seqlock_quote_starts_a_line_and_torn_check() -> None:
    c = shmsync._lib("seqlock")
    assert c.lib.seqlock_offset_words() % 64 == 0
    q5, q6 = native.seqlock_quote(5), native.seqlock_quote(6)
    assert q5[:3] == [5, 10, 15] and q5[7] == 5 ^ 10 ^ 15 ^ 20 ^ 25 ^ 30 ^ 35
    assert not native.seqlock_is_torn(q5) and not native.seqlock_is_torn(q6)
    assert native.seqlock_is_torn(q5[:4] + q6[4:])           # half old, half new
    assert native.seqlock_is_torn(q5[:7] + [q6[7]])          # only the check word differs
    with pytest.raises(ValueError):
        native.seqlock_is_torn([1, 2, 3])


# ---- kinds of shared memory, robust mutex, initialisation -----------------------------------------

def test_shm_kinds() -> None:
    rows = {r["kind"]: r for r in native.shm_kinds()}
    assert list(rows) == ["shm_open", "memfd_create", "MAP_SHARED|MAP_ANONYMOUS", "MAP_PRIVATE|MAP_ANONYMOUS"]
    assert rows["shm_open"]["parent_sees_child_write"]
    assert rows["memfd_create"]["parent_sees_child_write"]
    assert rows["MAP_SHARED|MAP_ANONYMOUS"]["parent_sees_child_write"]
    assert not rows["MAP_PRIVATE|MAP_ANONYMOUS"]["parent_sees_child_write"]
    shm = rows["shm_open"]
    assert shm["dev_shm"].startswith("-rw------- 4096 /dev/shm/hftos-")   # mode 0600 (E54)
    assert "/dev/shm/hftos-" in shm["maps"] and " rw-s " in f" {shm['maps']} "
    assert shm["dev_shm_after_close"] is False
    assert "/memfd:hftos-" in rows["memfd_create"]["maps"] and rows["memfd_create"]["dev_shm"] is None
    assert "/dev/zero" in rows["MAP_SHARED|MAP_ANONYMOUS"]["maps"]
    assert " rw-p " in f" {rows['MAP_PRIVATE|MAP_ANONYMOUS']['maps']} "


def test_robust_mutex_owner_dies() -> None:
    d = native.robust_mutex_demo(wait_ms=50)
    assert d["first_lock"] == errno.EOWNERDEAD
    assert d["consistent"] == 0 and d["relock"] == 0
    assert d["value_seen"] == 1                               # the dead owner's half-done update
    assert d["unrecovered_lock"] == errno.ENOTRECOVERABLE
    assert d["plain_timedlock"] == errno.ETIMEDOUT and d["plain_wait_ms"] >= 40
    assert d["names"]["first_lock"] == "EOWNERDEAD"


def test_init_race_one_creator() -> None:
    d = native.init_race(6)
    assert d["creators"] == 1 and d["eexist"] == 5
    assert d["saw_magic"] == 6 and d["attached"] == 6
    assert d["mode"] == 0o600


def test_init_race_careless_loses_attachments() -> None:
    d = native.init_race(4, careful=False, stagger_ms=20)
    assert d["creators"] == 0 and d["attached"] < 4          # every "construct" reset the counter (E55)


# ---- spinning ping-pong ---------------------------------------------------------------------------

def _sane(r, n: int) -> None:
    assert r.samples.shape == (n,)
    assert np.all(np.isfinite(r.samples)) and np.all(r.samples > 0)
    assert r.method["iterations"] == n


def test_spin_pingpong_same_cpu_yields() -> None:
    r = native.shm_spin_pingpong(200, cpus=ONE)
    _sane(r, 200)
    assert r.method["same_cpu"] and r.method["yield_every"] == 1


@two_cpus
def test_spin_pingpong_two_cpus() -> None:
    r = native.shm_spin_pingpong(500, cpus=PAIR)
    _sane(r, 500)
    assert r.method["cpus"] == list(PAIR) and r.method["yield_every"] == 0
    r = native.shm_spin_pingpong(100, cpus=(None, None))
    _sane(r, 100)
    assert r.method["yield_every"] == 1024


def test_spin_pingpong_default_signature() -> None:
    r = native.shm_spin_pingpong(100, timeout=30.0)
    _sane(r, 100)


# ---- memory ordering and coherence ----------------------------------------------------------------

@two_cpus
@pytest.mark.parametrize("mode", ["fence", "seq_cst"])
def test_sb_litmus_fenced_never_both_zero(mode: str) -> None:
    d = native.sb_litmus(5000, mode=mode, cpus=PAIR)
    assert d["both_zero"] == 0
    assert sum(d["counts"].values()) == d["rounds"] and 0 < d["rounds"] <= 5000


@two_cpus
def test_sb_litmus_relaxed_counts_add_up() -> None:
    d = native.sb_litmus(5000, mode="relaxed", cpus=PAIR)
    assert sum(d["counts"].values()) == d["rounds"]
    assert d["both_zero"] == d["counts"]["r0=0,r1=0"]


def test_sb_litmus_needs_two_cpus() -> None:
    with pytest.raises(ValueError):
        native.sb_litmus(10, cpus=ONE)
    with pytest.raises(ValueError):
        native.sb_litmus(10, mode="sc")


@pytest.mark.parametrize("distance", [8, 128])
def test_false_sharing_counts(distance: int) -> None:
    cpus = PAIR or ONE
    d = native.false_sharing(100_000, distance=distance, cpus=cpus)
    assert d["same_line"] == (distance < 64)
    assert d["wall_ns"] > 0 and all(e > 0 for e in d["elapsed_ns"]) and d["mops"] > 0


def test_false_sharing_one_cpu_and_locked() -> None:
    d = native.false_sharing(50_000, distance=8, cpus=ONE, locked=True)
    assert d["locked"] and d["wall_ns"] >= max(d["elapsed_ns"])


# ---- rings and queues -----------------------------------------------------------------------------

@two_cpus
@pytest.mark.parametrize("padded,cached", [(True, True), (True, False), (False, True), (False, False)])
def test_spsc_variant_in_order(padded: bool, cached: bool) -> None:
    d = native.spsc_variant(20_000, slots=8, padded=padded, cached=cached, cpus=PAIR)
    assert d["capacity"] == 7 and d["mops"] > 0 and d["ns_per_message"] > 0


@two_cpus
def test_spsc_variants_sweep() -> None:
    rows = native.spsc_variants([{"slots": 2}, {"slots": 64, "padded": False}], 5000, repeats=2, cpus=PAIR)
    assert [r["slots"] for r in rows] == [2, 64] and all(len(r["ns_per_message"]) == 2 for r in rows)
    assert all(r["best"] <= r["median"] for r in rows)


def test_spsc_variant_needs_two_cpus() -> None:
    with pytest.raises(ValueError):
        native.spsc_variant(10, cpus=ONE)
    with pytest.raises(ValueError):
        native.spsc_variant(10, slots=3)


@pytest.mark.parametrize("use_seqlock", [True, False])
def test_seqlock_snapshots(use_seqlock: bool) -> None:
    d = native.seqlock_snapshots(50_000, use_seqlock=use_seqlock, cpus=PAIR or ONE)
    assert d["snapshots"] == 50_000 and d["writes"] >= 0
    if use_seqlock:
        assert d["torn"] == 0                                 # a seqlock never accepts a torn quote
    else:
        assert d["retries"] == 0


@pytest.mark.parametrize("producers,consumers,capacity", [(1, 1, 1024), (2, 2, 2), (3, 1, 16)])
def test_mpmc_exactly_once(producers: int, consumers: int, capacity: int) -> None:
    d = native.mpmc_queue(producers, consumers, per_producer=5000, capacity=capacity)
    assert d["items"] == producers * 5000
    assert d["received"] == d["items"] and d["missing"] == 0 and d["duplicated"] == 0
    assert d["elapsed_ns"] > 0


def test_mpmc_bad_arguments() -> None:
    for kw in ({"capacity": 3}, {"cpus": [0]}, {"producers": 10, "consumers": 10}):
        with pytest.raises(ValueError):
            native.mpmc_queue(**kw)


# ---- topology ---------------------------------------------------------------------------------------

def _fake_topology(root: Path, cpus: dict[int, tuple[int, int, str]]) -> Path:
    for cpu, (core, pkg, sib) in cpus.items():
        d = root / f"cpu{cpu}" / "topology"
        d.mkdir(parents=True)
        (d / "core_id").write_text(f"{core}\n")
        (d / "physical_package_id").write_text(f"{pkg}\n")
        (d / "thread_siblings_list").write_text(f"{sib}\n")
    return root


def test_placements_two_sockets_with_smt(tmp_path: Path) -> None:
    # CPUs 0,4 share a core; 1 is another core of package 0; 2 is in package 1
    root = _fake_topology(tmp_path, {0: (0, 0, "0,4"), 1: (1, 0, "1,5"), 2: (0, 1, "2,6"), 4: (0, 0, "0,4")})
    p = native.shm_placements([0, 1, 2, 4], root=root)
    assert p["same_cpu"] == (0, 0) and p["smt_sibling"] == (0, 4)
    assert p["other_core"] == (0, 1) and p["other_socket"] == (0, 2) and p["why"] == {}


def test_placements_small_vm(tmp_path: Path) -> None:
    root = _fake_topology(tmp_path, {0: (0, 0, "0"), 1: (1, 0, "1")})
    p = native.shm_placements([0, 1], root=root)
    assert p["other_core"] == (0, 1) and p["smt_sibling"] is None and p["other_socket"] is None
    assert set(p["why"]) == {"smt_sibling", "other_socket"}
    one = native.shm_placements([1], root=root)
    assert one["same_cpu"] == (1, 1) and one["other_core"] is None and "only run on CPU 1" in one["why"]["other_core"]


def test_placements_real_host() -> None:
    p = native.shm_placements()
    assert p["same_cpu"] == (CPUS[0], CPUS[0])
    assert all(p[k] is None or (isinstance(p[k], tuple) and len(p[k]) == 2)
               for k in ("smt_sibling", "other_core", "other_socket"))


def test_sources_show() -> None:
    for topic in ("shmsync", "litmus", "falseshare", "spscvar", "seqlock", "mpmc"):
        text = native.source(topic)
        assert "Course chapter 4.5" in text
    assert os.path.exists(Path(shmsync.__file__).with_name("shmsync.c"))
