"""Lab 2 (memory management) check helpers, and the oracles its hidden checks compare against.

A check cell prints one line starting with ``ok`` when the answer is right; on anything else it prints what was
expected, what came back and the first difference, so a student can learn from it. The grader never reads these
strings: nbval compares a check cell's whole output with the reference notebook's stored output.

Check cells import this module afresh (``importlib.reload``) right before they use it, so an answer cell that
redefines or monkeypatches a helper does not change what the check does.

The lab's contracts (stated in its tasks too):

- task 1, ``translate(image, va, access, user) -> int | str``: walk a page-table image (the JSON of
  :meth:`hftos.memsim.pagewalk.PageTable.to_json`, already parsed) and return the physical address, or the fault:
  ``"non-canonical"``, ``"not-present at level K"`` (K = 1 for the root), ``"user-supervisor"``,
  ``"write-protect"``, ``"nx"``; the rules are those of :func:`hftos.memsim.pagewalk.translate`;
- tasks 2 and 3, ``lru(refs, frames) -> str`` and ``clock(refs, frames) -> str``: one ``"H"`` or ``"M"`` per
  reference, as :meth:`hftos.memsim.replacement.Run.hm`;
- task 4, ``tlb(addresses, entries, ways, page_size) -> str``: one ``"H"`` or ``"M"`` per access, as
  :meth:`hftos.memsim.tlb.TLBRun.hm`.
"""

from __future__ import annotations

import copy
import importlib
import json
import numbers
import random
from pathlib import Path
from typing import Any, Callable, Sequence

from . import common

common = importlib.reload(common)  # a check cell reloads this module; patches to common go too

__all__ = ["IMAGE_FILE", "check_policy", "check_random_policy", "check_random_tlb", "check_random_walks",
           "check_tlb", "check_walks", "dump_image", "image_path", "load_image", "policy_oracle",
           "random_image", "tlb_oracle", "walk_oracle"]

#: The page-table image of task 1, under ``labs/data/``.
IMAGE_FILE = "lab02_pagetable.json"

Outcome = Any  # int (physical address) or str (fault)


def _n(k: int, word: str, plural: str = "") -> str:
    """``1 fault``, ``2 faults``, ``0 misses``."""
    return f"{k} {word if k == 1 else plural or word + 's'}"


# ----------------------------------------------------------------------------- task 1: page walk


def image_path(name: str = IMAGE_FILE) -> Path:
    """Where a shipped data file of the lab is: ``labs/data/<name>`` of the repository this package lives in
    (the course is installed with ``pip install -e .``), else ``data/<name>`` or ``labs/data/<name>`` under the
    current directory (a notebook opened in ``labs/``)."""
    repo = Path(__file__).resolve().parents[3] / "labs" / "data" / name
    for path in (repo, Path.cwd() / "data" / name, Path.cwd() / "labs" / "data" / name):
        if path.is_file():
            return path
    raise FileNotFoundError(f"{repo} is missing: Lab 2 needs the repository's labs/data/ directory "
                            "(install the course with `pip install -e .` from its checkout)")


def load_image(name: str = IMAGE_FILE) -> dict[str, Any]:
    """The shipped page-table image as a fresh dict (``json.load`` of the file)."""
    return json.loads(image_path(name).read_text())


def dump_image(image: dict[str, Any]) -> str:
    """The image as text: its layout, then one line per entry (table, index, frame, flags ``P W U X``)."""
    from hftos.memsim.pagewalk import PageTable

    pt = PageTable.from_json(image)
    lines = [f"layout: {pt.layout.describe()}, canonical={pt.layout.canonical}, root table {pt.root}",
             "flags: P present, W writable, U user, X executable (NX clear); '-' where clear"]
    for t, ents in sorted(pt.tables.items()):
        for i, e in sorted(ents.items()):
            lines.append(f"  table {t:<3} index {i:>3} -> frame {e.frame:#x} {e.flags()[:4]}")
    return "\n".join(lines)


def walk_oracle(image: dict[str, Any], va: int, access: str = "r", user: bool = True) -> Outcome:
    """The course simulator's answer (:func:`hftos.memsim.pagewalk.translate`) in the lab's return format."""
    from hftos.memsim.pagewalk import PageTable, translate

    r = translate(PageTable.from_json(image), va, access, user=user)
    if r.ok:
        return r.pa
    return f"not-present at level {r.fault_level}" if r.fault == "not-present" else r.fault


def _walk_text(image: dict[str, Any], va: int, access: str, user: bool) -> str:
    from hftos.memsim.pagewalk import PageTable, translate

    pt = PageTable.from_json(image)
    return translate(pt, va, access, user=user).describe(pt.layout)


def _fmt(x: Outcome) -> str:
    if isinstance(x, int) and not isinstance(x, bool):
        return f"pa {x:#x}"
    return common.short(x)


def _valid_outcome(x: Any) -> bool:
    return (isinstance(x, int) and not isinstance(x, bool)) or isinstance(x, str)


def _case(va: int, access: str, user: bool) -> str:
    return f"{va:#x} {access} {'user' if user else 'kernel'}"


def _walk_one(label: str, fn: Callable[..., Any], image: dict[str, Any], va: int, access: str, user: bool,
              expected: Outcome, where: str) -> bool:
    """Call ``fn`` on one case; print FAIL and return False if it is wrong."""
    ok, got = common.call(fn, copy.deepcopy(image), va, access, user)
    if not ok:
        print(f"FAIL {label}: {got}")
        return False
    if isinstance(got, numbers.Integral) and not isinstance(got, bool):
        got = int(got)  # a numpy integer is an int here
    if not _valid_outcome(got):
        print(f"FAIL {label}: {where}{_case(va, access, user)}: expected an int (the physical address) or a str "
              f"(the fault), got {type(got).__name__}: {common.short(got)}")
        return False
    if got == expected and type(got) is type(expected):
        return True
    print(f"FAIL {label}: {where}{_case(va, access, user)}")
    print(f"  expected: {_fmt(expected)}")
    print(f"  got:      {_fmt(got)}")
    print("  the walk:\n" + "\n".join("    " + line for line in _walk_text(image, va, access, user).splitlines()))
    return False


def check_walks(label: str, fn: Callable[..., Any], cases: Sequence[tuple[int, str, bool, Outcome]],
                image: dict[str, Any] | None = None) -> None:
    """Call ``fn(image, va, access, user)`` for each ``(va, access, user, expected)`` case (default image: the
    shipped one); print ``ok ...`` or the first case that differs, with the walk that explains it."""
    image = load_image() if image is None else image
    for va, access, user, want in cases:
        if not _walk_one(label, fn, image, va, access, user, want, ""):
            return
    pas = sum(isinstance(c[3], int) for c in cases)
    print(f"ok   {label}: {_n(len(cases), 'access', 'accesses')} right "
          f"({_n(pas, 'physical address', 'physical addresses')}, {_n(len(cases) - pas, 'fault')})")


#: Layouts of the hidden checks: x86-64 4- and 5-level, the tiny teaching layout, a RISC-V Sv39-like one
#: (3 x 9 + 12, canonical) and a 3 x 5 + 10 one that is not sign-extended.
_LAYOUTS = ((4, 9, 12, True), (5, 9, 12, True), (2, 4, 8, False), (3, 9, 12, True), (3, 5, 10, False))


def random_image(rng: random.Random) -> dict[str, Any]:
    """A random page-table image: :func:`hftos.memsim.pagewalk.random_table`, then some upper-level entries made
    read-only, supervisor-only or NX (so permissions must be combined over the levels)."""
    from dataclasses import replace

    from hftos.memsim.pagewalk import Layout, random_table

    lay = Layout(*rng.choice(_LAYOUTS))
    pt = random_table(lay, rng.randrange(1 << 30), fanout=rng.randint(1, 3), leaves=rng.randint(1, 6),
                      p_absent=0.5, frames=1 << rng.choice((8, 12, 20)))
    # the level of every table (root = 1), found by walking the present entries from the root
    level = {pt.root: 1}
    stack = [pt.root]
    while stack:
        t = stack.pop()
        for e in pt.tables[t].values():
            if e.present and level[t] < lay.levels and e.frame in pt.tables and e.frame not in level:
                level[e.frame] = level[t] + 1
                stack.append(e.frame)
    upper = [(t, i) for t in sorted(level) if level[t] < lay.levels for i in sorted(pt.tables[t])]
    for t, i in upper:
        e = pt.tables[t][i]
        if e.present:
            pt.tables[t][i] = replace(e, writable=e.writable and rng.random() >= 0.15,
                                      user=e.user and rng.random() >= 0.1, nx=e.nx or rng.random() < 0.1)
    return pt.to_json()


def _random_walk_cases(rng: random.Random, image: dict[str, Any], n: int) -> list[tuple[int, str, bool]]:
    """``n`` accesses: mostly inside mapped pages, some one index away from one (a fault at a deeper level), some
    anywhere, a few non-canonical (or out of range)."""
    from hftos.memsim.pagewalk import PageTable, decode, encode

    pt = PageTable.from_json(image)
    lay = pt.layout
    pages = [va for va, _ in pt.mapped_pages()]
    out = []
    for _ in range(n):
        x = rng.random()
        off = rng.randrange(lay.page_size)
        if pages and x < 0.85:
            idx = list(decode(rng.choice(pages), lay)[0])
            if x >= 0.6:  # change the index at one level: usually a hole at that level
                idx[rng.randrange(lay.levels)] = rng.randrange(lay.entries)
            va = encode(idx, off, lay)
        elif x < 0.94:
            va = encode([rng.randrange(lay.entries) for _ in range(lay.levels)], off, lay)
        else:
            va = rng.randrange(1 << 64) if lay.canonical else rng.randrange(1 << (lay.va_bits + 2))
        out.append((va, rng.choice("rrwwx"), rng.random() < 0.75))
    return out


def check_random_walks(label: str, fn: Callable[..., Any], seed: int, images: int, per_image: int) -> None:
    """Compare ``fn`` with the course simulator on ``images`` random images x ``per_image`` random accesses."""
    rng = random.Random(seed)
    for k in range(images):
        image = random_image(rng)
        for va, access, user in _random_walk_cases(rng, image, per_image):
            want = walk_oracle(image, va, access, user)
            lay = f"{image['levels']} x {image['bits_per_level']} + {image['offset_bits']}"
            if not _walk_one(label, fn, image, va, access, user, want, f"image {k} of {images} (layout {lay}), "):
                return
    print(f"ok   {label}: {images * per_image} random accesses on {images} random images match")


# ----------------------------------------------------------------------------- tasks 2 and 3: replacement


def policy_oracle(policy: str, refs: Sequence[int], frames: int) -> str:
    """The course simulator's hit/miss string (:func:`hftos.memsim.replacement.simulate`)."""
    from hftos.memsim.replacement import simulate

    return simulate(policy, [int(r) for r in refs], frames).hm()


def _hm_shape(got: Any, n: int) -> str | None:
    """Why ``got`` is not a hit/miss string of length ``n`` (None when it is one)."""
    if not isinstance(got, str):
        return f"expected a str of 'H'/'M', one per reference, got {type(got).__name__}: {common.short(got)}"
    if set(got) - {"H", "M"}:
        return f"expected only 'H' and 'M' characters, got {common.short(got)}"
    if len(got) != n:
        return f"expected {n} characters (one per reference), got {len(got)}: {common.short(got)}"
    return None


def _first_diff(a: str, b: str) -> int:
    return next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _policy_one(label: str, fn: Callable[..., Any], policy: str, refs: list[int], frames: int, expected: str,
                where: str) -> bool:
    ok, got = common.call(fn, list(refs), frames)
    if not ok:
        print(f"FAIL {label}: {got}")
        return False
    bad = _hm_shape(got, len(refs))
    if bad is None and got == expected:
        return True
    print(f"FAIL {label}: {where}refs {common.short(refs)}, {frames} frame(s)")
    if bad is not None:
        print(f"  {bad}")
        return False
    print(f"  expected: {expected} ({expected.count('M')} faults)")
    print(f"  got:      {got} ({got.count('M')} faults)")
    k = _first_diff(expected, got)
    from hftos.memsim.replacement import simulate

    trace = simulate(policy, refs, frames).trace
    before = "empty" if k == 0 else "[" + " ".join("-" if p is None else str(p) for p in trace[k - 1].frames) + "]"
    print(f"  first difference at reference {k} (page {refs[k]}): expected {expected[k]}, got {got[k]}; "
          f"the frames held {before} before it (frame 0 first)")
    return False


def check_policy(label: str, fn: Callable[..., Any], policy: str,
                 cases: Sequence[tuple[Sequence[int], int, str]]) -> None:
    """Call ``fn(refs, frames)`` for each ``(refs, frames, expected hit/miss string)``; ``policy`` names the course
    simulator's policy whose trace explains a difference."""
    for refs, frames, want in cases:
        if not _policy_one(label, fn, policy, list(refs), frames, want, ""):
            return
    print(f"ok   {label}: " + "; ".join(f"{f} frame{'s' if f > 1 else ''} {_n(w.count('M'), 'fault')}" +
                                        (f" {w}" if w else " (no references)") for _, f, w in cases))


def _random_refs(rng: random.Random) -> tuple[list[int], int]:
    n = rng.choice((0, 1, 2) + (rng.randint(3, 30),) * 8)
    pages = rng.randint(1, 8)
    if rng.random() < 0.3:  # a loop with noise: where the policies differ most
        loop = rng.randint(2, pages + 1)
        refs = [i % loop if rng.random() < 0.8 else rng.randrange(pages) for i in range(n)]
    else:
        refs = [rng.randrange(pages) for _ in range(n)]
    return refs, rng.randint(1, 5)


def check_random_policy(label: str, fn: Callable[..., Any], policy: str, seed: int, count: int) -> None:
    """Compare ``fn`` with the course simulator's ``policy`` on ``count`` random reference strings and frame counts."""
    rng = random.Random(seed)
    for k in range(count):
        refs, frames = _random_refs(rng)
        if not _policy_one(label, fn, policy, refs, frames, policy_oracle(policy, refs, frames),
                           f"string {k} of {count}: "):
            return
    print(f"ok   {label}: {count} random reference strings match")


# ----------------------------------------------------------------------------- task 4: TLB


def tlb_oracle(addresses: Sequence[int], entries: int, ways: int, page_size: int) -> str:
    """The course simulator's hit/miss string (:func:`hftos.memsim.tlb.simulate`)."""
    from hftos.memsim.tlb import simulate

    return simulate([int(a) for a in addresses], entries, ways, page_size).hm()


def _tlb_one(label: str, fn: Callable[..., Any], addresses: list[int], entries: int, ways: int, page_size: int,
             expected: str, where: str) -> bool:
    ok, got = common.call(fn, list(addresses), entries, ways, page_size)
    if not ok:
        print(f"FAIL {label}: {got}")
        return False
    bad = _hm_shape(got, len(addresses))
    if bad is None and got == expected:
        return True
    print(f"FAIL {label}: {where}{entries} entries, {ways}-way, {page_size}-byte pages")
    print(f"  addresses: {common.short([hex(a) for a in addresses])}")
    if bad is not None:
        print(f"  {bad.replace('reference', 'access')}")
        return False
    print(f"  expected: {expected} ({expected.count('H')} hits)")
    print(f"  got:      {got} ({got.count('H')} hits)")
    k = _first_diff(expected, got)
    from hftos.memsim.tlb import simulate

    run = simulate(addresses, entries, ways, page_size)
    a = run.trace[k]
    prev = next((b for b in reversed(run.trace[:k]) if b.set == a.set), None)
    held = "[" + " ".join("-" if v is None else f"{v:#x}" for v in (prev.contents if prev else (None,) * ways)) + "]"
    print(f"  first difference at access {k} ({a.address:#x}: VPN {a.vpn:#x}, set {a.set} of {run.sets}): "
          f"expected {expected[k]}, got {got[k]}; that set held VPNs {held} before it (way 0 first)")
    return False


def check_tlb(label: str, fn: Callable[..., Any], addresses: Sequence[int], entries: int, ways: int,
              page_size: int, expected: str) -> None:
    """Call ``fn(addresses, entries, ways, page_size)``; compare its hit/miss string with ``expected``."""
    if _tlb_one(label, fn, list(addresses), entries, ways, page_size, expected, ""):
        print(f"ok   {label}: {_n(expected.count('H'), 'hit')}, {_n(expected.count('M'), 'miss', 'misses')} "
              f"({expected})")


def _random_tlb_case(rng: random.Random) -> tuple[list[int], int, int, int]:
    entries = rng.choice((1, 2, 4, 4, 8, 8, 16))
    ways = rng.choice([w for w in (1, 2, 4, 8, 16) if entries % w == 0])
    page_size = rng.choice((256, 4096, 4096, 1 << 21))
    pages = rng.randint(1, 3 * entries + 2)
    base = rng.randrange(1 << 20)
    n = rng.choice((0, 1) + (rng.randint(2, 40),) * 8)
    addrs = [(base + rng.randrange(pages)) * page_size + rng.randrange(page_size) for _ in range(n)]
    return addrs, entries, ways, page_size


def check_random_tlb(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    """Compare ``fn`` with the course simulator on ``count`` random traces and TLB configurations."""
    rng = random.Random(seed)
    for k in range(count):
        addrs, entries, ways, page_size = _random_tlb_case(rng)
        if not _tlb_one(label, fn, addrs, entries, ways, page_size, tlb_oracle(addrs, entries, ways, page_size),
                        f"trace {k} of {count}: "):
            return
    print(f"ok   {label}: {count} random traces and TLB configurations match")
