"""The page-walk simulator: hand-worked walks, JSON round trip, properties, command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftos.memsim import pagewalk as pw
from hftos.memsim.pagewalk import Entry, Layout, PageTable, decode, encode, translate


def tiny_table() -> PageTable:
    """Hand-built 16-bit table: 0x12xx -> frame 0x3A (rw, user), 0x13xx -> frame 0x3B (read-only, NX),
    0x20xx -> frame 0x40 (supervisor); root entry 3 explicitly not present."""
    pt = PageTable(Layout.tiny())
    t1 = pt.new_table()
    t2 = pt.new_table()
    pt.set(0, 1, Entry(t1))
    pt.set(0, 2, Entry(t2))
    pt.set(0, 3, Entry(0, present=False))
    pt.set(t1, 2, Entry(0x3A))
    pt.set(t1, 3, Entry(0x3B, writable=False, nx=True))
    pt.set(t2, 0, Entry(0x40, user=False))
    return pt


def test_tiny_layout_numbers() -> None:
    lay = Layout.tiny()
    assert (lay.va_bits, lay.entries, lay.page_size) == (16, 16, 256)
    assert decode(0x12AB, lay) == ((1, 2), 0xAB)


def test_x86_decode_by_hand() -> None:
    # 0x7f12_3456_7abc: indices 0x7f1234567abc >> 39 = 254, then 72, 418, 359; offset 0xabc
    va = 0x7F1234567ABC
    idx, off = decode(va)
    assert off == 0xABC
    assert idx == ((va >> 39) & 511, (va >> 30) & 511, (va >> 21) & 511, (va >> 12) & 511)
    assert idx == (254, 72, 418, 359)
    assert encode(idx, off) == va
    assert Layout.x86_64().va_bits == 48 and Layout.la57().va_bits == 57


def test_canonical_addresses() -> None:
    lay = Layout.x86_64()
    assert pw.is_canonical(0x00007FFFFFFFFFFF, lay)
    assert pw.is_canonical(0xFFFF800000000000, lay)
    assert not pw.is_canonical(0x0000800000000000, lay)
    assert encode((256, 0, 0, 0), 0) == 0xFFFF800000000000
    with pytest.raises(ValueError):
        decode(0x0000800000000000)
    t = translate(PageTable(), 0x0000800000000000)
    assert t.fault == "non-canonical" and t.steps == ()


def test_hand_worked_walks() -> None:
    pt = tiny_table()
    ok = translate(pt, 0x12AB, "w")
    assert ok.ok and ok.pa == 0x3AAB
    assert [(s.table, s.index) for s in ok.steps] == [(0, 1), (1, 2)]
    assert translate(pt, 0x1310, "r").pa == 0x3B10
    assert translate(pt, 0x1310, "w").fault == "write-protect"
    assert translate(pt, 0x1310, "x").fault == "nx"
    assert translate(pt, 0x1310, "w", user=False).fault == "write-protect"  # CR0.WP = 1
    assert translate(pt, 0x2001, "r").fault == "user-supervisor"
    assert translate(pt, 0x2001, "r", user=False).pa == 0x4001
    np1 = translate(pt, 0x3000)
    assert (np1.fault, np1.fault_level, len(np1.steps)) == ("not-present", 1, 1)
    np2 = translate(pt, 0x1400)
    assert (np2.fault, np2.fault_level, len(np2.steps)) == ("not-present", 2, 2)
    assert "pa 0x3aab" in ok.describe(pt.layout)


def test_fault_order_user_before_write() -> None:
    pt = PageTable(Layout.tiny())
    pt.map(0x0500, 7, writable=False, user=False, nx=True)
    assert translate(pt, 0x0500, "w").fault == "user-supervisor"
    assert translate(pt, 0x0500, "w", user=False).fault == "write-protect"
    assert translate(pt, 0x0500, "x", user=False).fault == "nx"


def test_upper_level_permissions_combine() -> None:
    pt = tiny_table()
    pt.set(0, 1, Entry(1, writable=False))         # the level-1 entry is read-only: the whole 0x1xxx range is
    assert translate(pt, 0x12AB, "w").fault == "write-protect"
    assert translate(pt, 0x12AB, "r").ok


def test_update_sets_accessed_and_dirty() -> None:
    pt = tiny_table()
    translate(pt, 0x12AB, "r", update=True)
    assert pt.tables[0][1].accessed and pt.tables[1][2].accessed and not pt.tables[1][2].dirty
    translate(pt, 0x12AB, "w", update=True)
    assert pt.tables[1][2].dirty and not pt.tables[0][1].dirty


def test_json_round_trip(tmp_path) -> None:
    pt = pw.random_table(Layout.x86_64(), seed=5)
    path = pt.save(tmp_path / "pt.json")
    back = PageTable.load(path)
    assert back.to_json() == pt.to_json()
    for va, _ in pt.mapped_pages():
        assert translate(back, va | 0x123).pa == translate(pt, va | 0x123).pa


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        Layout(0, 9, 12)
    with pytest.raises(ValueError):
        Layout(8, 9, 12)
    with pytest.raises(ValueError):
        translate(PageTable(), 0x1000, "q")
    with pytest.raises(ValueError):
        PageTable.from_json({"format": "other"})
    with pytest.raises(ValueError):
        PageTable.from_json({"format": pw.FORMAT, "levels": 2, "bits_per_level": 4, "offset_bits": 8,
                             "canonical": False, "tables": {"0": {"99": {"frame": 1}}}})
    with pytest.raises(ValueError):
        pw.random_table(seed=1, p_nx=2.0)


def test_seeded_generator_is_deterministic() -> None:
    a = pw.random_table(Layout.tiny(), seed=11).to_json()
    assert a == pw.random_table(Layout.tiny(), seed=11).to_json()
    assert a != pw.random_table(Layout.tiny(), seed=12).to_json()


layouts = st.sampled_from([Layout.tiny(), Layout.x86_64(), Layout.la57(), Layout(3, 2, 4, False)])


@settings(max_examples=60, deadline=None)
@given(lay=layouts, seed=st.integers(0, 10_000), data=st.data())
def test_mapped_page_round_trips(lay: Layout, seed: int, data) -> None:
    pt = pw.random_table(lay, seed, fanout=min(2, lay.entries), leaves=min(3, lay.entries))
    pages = pt.mapped_pages()
    assert pages
    va, entry = data.draw(st.sampled_from(pages))
    off = data.draw(st.integers(0, lay.page_size - 1))
    t = translate(pt, va | off, "r", user=False)
    assert t.ok and t.pa == (entry.frame << lay.offset_bits) | off
    assert t.pa & (lay.page_size - 1) == off
    assert len(t.steps) == lay.levels


@settings(max_examples=100, deadline=None)
@given(lay=layouts, seed=st.integers(0, 10_000), data=st.data(),
       access=st.sampled_from(pw.ACCESSES), user=st.booleans())
def test_faults_only_on_stated_conditions(lay: Layout, seed: int, data, access: str, user: bool) -> None:
    pt = pw.random_table(lay, seed, fanout=min(2, lay.entries), leaves=min(3, lay.entries), p_absent=0.5)
    idx = data.draw(st.tuples(*[st.integers(0, lay.entries - 1)] * lay.levels))
    va = encode(idx, data.draw(st.integers(0, lay.page_size - 1)), lay)
    leaf = dict(pt.mapped_pages()).get(va & ~(lay.page_size - 1))
    t = translate(pt, va, access, user=user)
    if leaf is None:
        assert t.fault == "not-present"
        return
    expected = None
    if user and not leaf.user:
        expected = "user-supervisor"
    elif access == "w" and not leaf.writable:
        expected = "write-protect"
    elif access == "x" and leaf.nx:
        expected = "nx"
    assert t.fault == expected
    if expected is None:
        assert t.pa >> lay.offset_bits == leaf.frame


@settings(max_examples=60, deadline=None)
@given(lay=layouts, data=st.data())
def test_decode_encode_inverse(lay: Layout, data) -> None:
    idx = data.draw(st.tuples(*[st.integers(0, lay.entries - 1)] * lay.levels))
    off = data.draw(st.integers(0, lay.page_size - 1))
    assert decode(encode(idx, off, lay), lay) == (idx, off)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hftos.memsim.pagewalk", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_questions_and_answers(tmp_path) -> None:
    q = run_cli("--layout", "tiny", "-s", "3")
    assert q.returncode == 0 and "ARG seed 3" in q.stdout and "Use -c" in q.stdout
    a = run_cli("--layout", "tiny", "-s", "3", "-c", "--save", str(tmp_path / "t.json"))
    assert a.returncode == 0 and ("pa 0x" in a.stdout or "fault" in a.stdout)
    j = run_cli("-t", str(tmp_path / "t.json"), "-a", "0x77bd", "-c", "--json")
    out = json.loads(j.stdout)
    assert out["translations"][0]["va"] == "0x77bd"


@pytest.mark.parametrize("args", [["-a", "zz"], ["--fanout", "0"], ["-t", "/nonexistent.json"],
                                  ["--access", "q"], ["-a", "0x800000000000", "--decode"], ["--levels", "9"]])
def test_cli_bad_input_exits_2(args: list[str]) -> None:
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0


def test_pte_fields_by_hand() -> None:
    # present, RW, user, accessed, dirty; frame 0x123456; NX
    v = (1 << 63) | (0x123456 << 12) | 0x67
    f = pw.pte_fields(v)
    assert f["flags"] == ["P", "RW", "US", "A", "D", "NX"] and f["pfn"] == 0x123456
    assert pw.pte_fields(0)["flags"] == []
    with pytest.raises(ValueError):
        pw.pte_fields(-1)
