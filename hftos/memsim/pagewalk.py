"""A multi-level page walk over a synthetic page table, the way an x86-64 MMU does it.

A :class:`Layout` says how a virtual address is cut up: ``levels`` table indices of
``bits_per_level`` bits each, then ``offset_bits`` of page offset. The default is x86-64 4-level
paging (4 x 9 + 12 = 48-bit addresses, 512 entries per table, 4 KiB pages); ``Layout.la57()`` is
5-level paging (57 bits); ``Layout.tiny()`` is a teaching layout (2 x 4 + 8 = 16-bit addresses,
16 entries per table, 256-byte pages) small enough to walk by hand.

A :class:`PageTable` holds numbered tables (table 0 is the root, the one CR3 points to). Each
table maps an index to an :class:`Entry`; an index with no entry is a not-present entry (an
all-zero PTE). A present entry in a non-last level points to the next table (``frame`` is that
table's number); in the last level ``frame`` is the physical frame number, and the physical
address is ``frame << offset_bits | offset``.

:func:`translate` walks the table for one access (``"r"``, ``"w"`` or ``"x"``; user or kernel
mode) and returns a :class:`Translation`: the physical address or the fault, and the trace of
every level visited (index and entry), which a student can check by hand.

Rules (those of x86-64 with CR0.WP = 1 and EFER.NXE = 1, the way Linux runs it; SMEP/SMAP are
not modelled, so kernel accesses to user pages are allowed):

1. an address whose unused top bits are not a sign extension of the top used bit is
   ``non-canonical`` (on x86 a general-protection fault, not a page fault) for layouts with
   ``canonical=True`` (the x86 ones); with ``canonical=False`` an address at or above
   ``2**va_bits`` (or below 0) is reported as ``non-canonical`` too;
2. the walk stops at the first not-present entry: fault ``not-present`` at that level
   (levels are numbered from 1, the root);
3. otherwise the permissions are combined over all levels: writable only if every level has
   RW, user-accessible only if every level has U/S, executable only if no level has NX;
4. the checks are made in this order and the first that fails is reported: a user-mode access
   to a page some level marks supervisor-only (``user-supervisor``); a write to a page that is
   not writable (``write-protect``; kernel writes too, because CR0.WP = 1); an instruction fetch
   from a page with NX (``nx``).

With ``update=True`` a successful walk sets the accessed bit in every entry it used and, for a
write, the dirty bit in the last one, as the hardware does.

Command line: ``python -m hftos.memsim.pagewalk --help``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

FORMAT = "hftos.pagetable/1"

#: The names x86-64 gives the levels of 4-level and 5-level paging, root first.
X86_NAMES = {4: ("PML4", "PDPT", "PD", "PT"), 5: ("PML5", "PML4", "PDPT", "PD", "PT")}

ACCESSES = ("r", "w", "x")
FAULTS = ("non-canonical", "not-present", "user-supervisor", "write-protect", "nx")


@dataclass(frozen=True)
class Layout:
    """How a virtual address is split: ``levels`` indices of ``bits_per_level`` bits, then the page offset."""

    levels: int = 4
    bits_per_level: int = 9
    offset_bits: int = 12
    canonical: bool = True   #: addresses are sign-extended to 64 bits (x86-64); False: must fit in va_bits

    def __post_init__(self) -> None:
        for name in ("levels", "bits_per_level", "offset_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.va_bits > 64:
            raise ValueError(f"{self.levels} x {self.bits_per_level} + {self.offset_bits} = {self.va_bits} bits: "
                             "more than 64")

    @classmethod
    def x86_64(cls) -> "Layout":
        """x86-64 4-level paging: 48-bit virtual addresses, 4 KiB pages, 512 entries per table."""
        return cls(4, 9, 12, True)

    @classmethod
    def la57(cls) -> "Layout":
        """x86-64 5-level paging (CR4.LA57): 57-bit virtual addresses."""
        return cls(5, 9, 12, True)

    @classmethod
    def tiny(cls) -> "Layout":
        """A teaching layout: 16-bit addresses = 4-bit index + 4-bit index + 8-bit offset (256-byte pages)."""
        return cls(2, 4, 8, False)

    @property
    def va_bits(self) -> int:
        return self.levels * self.bits_per_level + self.offset_bits

    @property
    def entries(self) -> int:
        """Entries per table."""
        return 1 << self.bits_per_level

    @property
    def page_size(self) -> int:
        return 1 << self.offset_bits

    def level_name(self, level: int) -> str:
        """``PML4``... for x86 layouts, ``L1``... (root first) otherwise."""
        if self.canonical and self.bits_per_level == 9 and self.offset_bits == 12 and self.levels in X86_NAMES:
            return X86_NAMES[self.levels][level - 1]
        return f"L{level}"

    def describe(self) -> str:
        return (f"{self.levels} levels x {self.bits_per_level} bits + {self.offset_bits}-bit offset = "
                f"{self.va_bits}-bit addresses, {self.entries} entries per table, {self.page_size}-byte pages")


def is_canonical(va: int, layout: Layout) -> bool:
    """True if ``va`` is a valid address for ``layout`` (sign-extended for x86, in range otherwise)."""
    if va < 0 or va >= 1 << 64:
        return False
    n = layout.va_bits
    if not layout.canonical:
        return va < 1 << n
    top = va >> (n - 1)
    return top == 0 or top == (1 << (64 - n + 1)) - 1


def decode(va: int, layout: Layout = Layout()) -> tuple[tuple[int, ...], int]:
    """Split ``va`` into ``(indices root first, offset)``. ``ValueError`` if it is not canonical."""
    if isinstance(va, bool) or not isinstance(va, int):
        raise ValueError(f"address must be an int, got {va!r}")
    if not is_canonical(va, layout):
        raise ValueError(f"{va:#x} is not a canonical {layout.va_bits}-bit address")
    offset = va & (layout.page_size - 1)
    mask = layout.entries - 1
    idx = tuple((va >> (layout.offset_bits + layout.bits_per_level * (layout.levels - 1 - k))) & mask
                for k in range(layout.levels))
    return idx, offset


def encode(indices: Iterable[int], offset: int, layout: Layout = Layout()) -> int:
    """Inverse of :func:`decode`: build the (canonical, sign-extended) address."""
    indices = tuple(indices)
    if len(indices) != layout.levels:
        raise ValueError(f"need {layout.levels} indices, got {len(indices)}")
    if not 0 <= offset < layout.page_size:
        raise ValueError(f"offset must be in [0, {layout.page_size}), got {offset}")
    va = 0
    for i in indices:
        if not 0 <= i < layout.entries:
            raise ValueError(f"index must be in [0, {layout.entries}), got {i}")
        va = (va << layout.bits_per_level) | i
    va = (va << layout.offset_bits) | offset
    if layout.canonical and va >> (layout.va_bits - 1):
        va |= ((1 << 64) - 1) ^ ((1 << layout.va_bits) - 1)
    return va


#: x86-64 page-table-entry bits, as ``arch/x86/include/asm/pgtable_types.h`` numbers them (``_PAGE_BIT_*``).
PTE_BITS: dict[int, tuple[str, str]] = {
    0: ("P", "present: the entry is valid (clear: any access faults)"),
    1: ("RW", "writable (clear: writes fault)"),
    2: ("US", "user: accessible from user mode (clear: kernel only)"),
    3: ("PWT", "page write-through (caching mode, with PCD and PAT)"),
    4: ("PCD", "page cache disable (device memory)"),
    5: ("A", "accessed: set by the CPU on any access"),
    6: ("D", "dirty: set by the CPU on a write (last level)"),
    7: ("PSE/PAT", "in a PD or PDPT entry: a 2 MiB or 1 GiB page; in a PTE: the PAT bit"),
    8: ("G", "global: kept in the TLB across CR3 switches (kernel mappings)"),
    63: ("NX", "no-execute: instruction fetches fault"),
}
PFN_MASK = ((1 << 52) - 1) & ~((1 << 12) - 1)   #: bits 12-51: the physical frame number


def pte_fields(value: int) -> dict[str, object]:
    """Decode a 64-bit x86-64 PTE: the flags set (``PTE_BITS`` names) and the frame number (bits 12-51)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise ValueError(f"a PTE is a 64-bit unsigned int, got {value!r}")
    return {"flags": [name for bit, (name, _) in PTE_BITS.items() if value >> bit & 1],
            "pfn": (value & PFN_MASK) >> 12, "software_9_11": (value >> 9) & 7}


@dataclass(frozen=True)
class Entry:
    """One page-table entry: the bits that matter here and the frame (next table, or physical frame)."""

    frame: int
    present: bool = True
    writable: bool = True     #: R/W, bit 1
    user: bool = True         #: U/S, bit 2
    nx: bool = False          #: XD/NX, bit 63
    accessed: bool = False    #: A, bit 5
    dirty: bool = False       #: D, bit 6 (meaningful in the last level)

    def flags(self) -> str:
        """``P W U X A D`` letters, ``-`` where clear (``X`` means executable, i.e. NX clear)."""
        return "".join(c if on else "-" for c, on in (("P", self.present), ("W", self.writable), ("U", self.user),
                                                      ("X", not self.nx), ("A", self.accessed), ("D", self.dirty)))

    def to_json(self) -> dict[str, int]:
        return {"frame": self.frame, "p": int(self.present), "rw": int(self.writable), "us": int(self.user),
                "nx": int(self.nx), "a": int(self.accessed), "d": int(self.dirty)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Entry":
        try:
            frame = int(d["frame"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"entry without an integer 'frame': {d!r}") from None
        if frame < 0:
            raise ValueError(f"frame must be >= 0, got {frame}")
        return cls(frame, bool(d.get("p", 1)), bool(d.get("rw", 1)), bool(d.get("us", 1)), bool(d.get("nx", 0)),
                   bool(d.get("a", 0)), bool(d.get("d", 0)))


@dataclass
class PageTable:
    """Numbered tables, each ``{index: Entry}``; table ``root`` (0) is where every walk starts."""

    layout: Layout = field(default_factory=Layout)
    tables: dict[int, dict[int, Entry]] = field(default_factory=lambda: {0: {}})
    root: int = 0

    def new_table(self) -> int:
        n = max(self.tables) + 1 if self.tables else 0
        self.tables[n] = {}
        return n

    def set(self, table: int, index: int, entry: Entry | None) -> None:
        """Write (or, with ``None``, clear) one entry."""
        if table not in self.tables:
            raise ValueError(f"no table {table}")
        if not 0 <= index < self.layout.entries:
            raise ValueError(f"index must be in [0, {self.layout.entries}), got {index}")
        if entry is None:
            self.tables[table].pop(index, None)
        else:
            self.tables[table][index] = entry

    def map(self, va: int, frame: int, *, writable: bool = True, user: bool = True, nx: bool = False) -> None:
        """Map the page holding ``va`` to physical ``frame`` with the given permissions.

        Missing intermediate tables are created with permissive entries (present, RW, U/S, executable),
        as Linux does: the last level decides the permissions.
        """
        idx, _ = decode(va, self.layout)
        t = self.root
        for level, i in enumerate(idx[:-1], start=1):
            e = self.tables[t].get(i)
            if e is None or not e.present:
                nt = self.new_table()
                self.tables[t][i] = Entry(nt)
                t = nt
            else:
                if e.frame not in self.tables:
                    raise ValueError(f"level {level} entry {i} of table {t} points to missing table {e.frame}")
                t = e.frame
        self.tables[t][idx[-1]] = Entry(frame, True, writable, user, nx)

    def mapped_pages(self) -> list[tuple[int, Entry]]:
        """Every (page-aligned virtual address, last-level entry) reachable through present entries."""
        out: list[tuple[int, Entry]] = []

        def walk(t: int, level: int, prefix: tuple[int, ...], seen: frozenset[int]) -> None:
            for i, e in sorted(self.tables.get(t, {}).items()):
                if not e.present:
                    continue
                if level == self.layout.levels:
                    out.append((encode(prefix + (i,), 0, self.layout), e))
                elif e.frame in self.tables and e.frame not in seen:
                    walk(e.frame, level + 1, prefix + (i,), seen | {e.frame})

        walk(self.root, 1, (), frozenset({self.root}))
        return out

    # JSON -----------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        lay = self.layout
        return {"format": FORMAT, "levels": lay.levels, "bits_per_level": lay.bits_per_level,
                "offset_bits": lay.offset_bits, "canonical": lay.canonical, "root": self.root,
                "tables": {str(t): {str(i): e.to_json() for i, e in sorted(ents.items())}
                           for t, ents in sorted(self.tables.items())}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "PageTable":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not a page-table image (expected format {FORMAT!r})")
        try:
            lay = Layout(int(d["levels"]), int(d["bits_per_level"]), int(d["offset_bits"]), bool(d["canonical"]))
            tables = {int(t): {int(i): Entry.from_json(e) for i, e in ents.items()} for t, ents in d["tables"].items()}
            root = int(d.get("root", 0))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed page-table image: {exc}") from None
        if root not in tables:
            raise ValueError(f"root table {root} is missing")
        for t, ents in tables.items():
            for i in ents:
                if not 0 <= i < lay.entries:
                    raise ValueError(f"table {t}: index {i} out of range [0, {lay.entries})")
        return cls(lay, tables, root)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return p

    @classmethod
    def load(cls, path: str | Path) -> "PageTable":
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON ({exc})") from None


@dataclass(frozen=True)
class Step:
    """One level of a walk: which table, which index, what entry (``None``: not present)."""

    level: int
    name: str
    table: int
    index: int
    entry: Entry | None


@dataclass(frozen=True)
class Translation:
    """The outcome of :func:`translate`."""

    va: int
    access: str
    user: bool
    steps: tuple[Step, ...]
    pa: int | None = None
    fault: str | None = None
    fault_level: int | None = None   #: for ``not-present``: the level (1 = root) whose entry was absent
    offset: int = 0

    @property
    def ok(self) -> bool:
        return self.fault is None

    def outcome(self) -> str:
        """One line: ``pa 0x...`` or the fault."""
        if self.ok:
            return f"pa {self.pa:#x}"
        where = f" at level {self.fault_level}" if self.fault_level else ""
        return f"fault: {self.fault}{where}"

    def describe(self, layout: Layout) -> str:
        """The walk as text, one line per level, then the outcome."""
        mode = "user" if self.user else "kernel"
        lines = [f"{self.va:#x} ({ {'r': 'read', 'w': 'write', 'x': 'execute'}[self.access]}, {mode} mode)"]
        for s in self.steps:
            e = "not present" if s.entry is None else f"frame {s.entry.frame:#x} {s.entry.flags()}"
            lines.append(f"  {s.name:<5} table {s.table:<3} index {s.index:>3} -> {e}")
        if self.ok:
            lines.append(f"  offset {self.offset:#x} -> {self.outcome()}")
        else:
            lines.append(f"  {self.outcome()}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"va": hex(self.va), "access": self.access, "user": self.user,
                "pa": None if self.pa is None else hex(self.pa), "fault": self.fault, "fault_level": self.fault_level,
                "steps": [{"level": s.level, "name": s.name, "table": s.table, "index": s.index,
                           "entry": None if s.entry is None else s.entry.to_json()} for s in self.steps]}


def translate(table: PageTable, va: int, access: str = "r", *, user: bool = True,
              update: bool = False) -> Translation:
    """Walk ``table`` for one access to ``va``; see the module docstring for the rules and their order."""
    if access not in ACCESSES:
        raise ValueError(f"access must be one of r, w, x; got {access!r}")
    lay = table.layout
    if isinstance(va, bool) or not isinstance(va, int) or not 0 <= va < 1 << 64:
        raise ValueError(f"address must be an int in [0, 2**64), got {va!r}")
    if not is_canonical(va, lay):
        return Translation(va, access, user, (), fault="non-canonical")
    idx, offset = decode(va, lay)
    steps: list[Step] = []
    t = table.root
    writable = usr = executable = True
    used: list[tuple[int, int]] = []
    for level, i in enumerate(idx, start=1):
        if t not in table.tables:
            raise ValueError(f"level {level - 1} points to missing table {t}")
        e = table.tables[t].get(i)
        present = e is not None and e.present
        steps.append(Step(level, lay.level_name(level), t, i, e if present else None))
        if not present:
            return Translation(va, access, user, tuple(steps), fault="not-present", fault_level=level, offset=offset)
        assert e is not None
        used.append((t, i))
        writable &= e.writable
        usr &= e.user
        executable &= not e.nx
        t = e.frame
    fault = None
    if user and not usr:
        fault = "user-supervisor"
    elif access == "w" and not writable:
        fault = "write-protect"
    elif access == "x" and not executable:
        fault = "nx"
    if fault:
        return Translation(va, access, user, tuple(steps), fault=fault, offset=offset)
    if update:
        for k, (tt, ii) in enumerate(used):
            e = table.tables[tt][ii]
            last = k == len(used) - 1
            table.tables[tt][ii] = replace(e, accessed=True, dirty=e.dirty or (last and access == "w"))
    return Translation(va, access, user, tuple(steps), pa=(t << lay.offset_bits) | offset, offset=offset)


def random_table(layout: Layout = Layout(), seed: int = 0, *, fanout: int = 2, leaves: int = 4,
                 p_absent: float = 0.0, p_readonly: float = 0.3, p_supervisor: float = 0.2, p_nx: float = 0.3,
                 frames: int = 1 << 20) -> PageTable:
    """A seeded random table: ``fanout`` present entries per non-last table, ``leaves`` per last-level table.

    Indices are drawn without replacement; last-level entries get random frames below ``frames`` and each of
    read-only / supervisor / NX with the given probability; upper levels are permissive. With ``p_absent`` an
    extra entry per table is written as explicitly not present (present bit clear).
    """
    if fanout < 1 or leaves < 1:
        raise ValueError("fanout and leaves must be >= 1")
    if max(fanout, leaves) > layout.entries:
        raise ValueError(f"at most {layout.entries} entries per table")
    for name, p in (("p_absent", p_absent), ("p_readonly", p_readonly), ("p_supervisor", p_supervisor),
                    ("p_nx", p_nx)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    if frames < 1:
        raise ValueError("frames must be >= 1")
    rng = random.Random(seed)
    pt = PageTable(layout)

    def fill(t: int, level: int) -> None:
        n = leaves if level == layout.levels else fanout
        chosen = rng.sample(range(layout.entries), min(layout.entries, n + 1))
        for i in sorted(chosen[:n]):
            if level == layout.levels:
                pt.tables[t][i] = Entry(rng.randrange(frames), True, rng.random() >= p_readonly,
                                        rng.random() >= p_supervisor, rng.random() < p_nx)
            else:
                nt = pt.new_table()
                pt.tables[t][i] = Entry(nt)
                fill(nt, level + 1)
        if len(chosen) > n and rng.random() < p_absent:
            pt.tables[t][chosen[n]] = Entry(0, present=False)

    fill(pt.root, 1)
    return pt


def random_addresses(table: PageTable, n: int, seed: int = 0, *, p_mapped: float = 0.7) -> list[int]:
    """``n`` seeded addresses: with probability ``p_mapped`` inside a mapped page, else anywhere (canonical)."""
    rng = random.Random(seed)
    lay = table.layout
    pages = [va for va, _ in table.mapped_pages()]
    out = []
    for _ in range(n):
        if pages and rng.random() < p_mapped:
            out.append(rng.choice(pages) | rng.randrange(lay.page_size))
        else:
            out.append(encode([rng.randrange(lay.entries) for _ in range(lay.levels)], rng.randrange(lay.page_size),
                              lay))
    return out


# command line ---------------------------------------------------------------------------------------

def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m hftos.memsim.pagewalk",
                description="Translate virtual addresses through a (synthetic or loaded) multi-level page table. "
                            "Without -c the questions are printed; -c prints the walks and the answers.")
    p.add_argument("--layout", choices=("x86_64", "la57", "tiny"), default="x86_64",
                   help="preset address layout (default x86_64: 4 levels x 9 bits + 12)")
    p.add_argument("--levels", type=int, help="override: number of levels")
    p.add_argument("--bits", type=int, help="override: index bits per level")
    p.add_argument("--offset-bits", type=int, help="override: page-offset bits")
    p.add_argument("-t", "--table", help="load a page-table image (JSON) instead of generating one")
    p.add_argument("-s", "--seed", type=int, default=0, help="seed of the random table and addresses")
    p.add_argument("--fanout", type=int, default=2, help="present entries per upper-level table (random table)")
    p.add_argument("--leaves", type=int, default=4, help="present entries per last-level table (random table)")
    p.add_argument("-a", "--addresses", help="comma-separated virtual addresses (default: random ones)")
    p.add_argument("-n", "--num", type=int, default=5, help="number of random addresses (default 5)")
    p.add_argument("--access", choices=ACCESSES, default="r", help="access type: r(ead), w(rite), x (execute)")
    p.add_argument("--kernel", action="store_true", help="access in kernel (supervisor) mode")
    p.add_argument("--decode", action="store_true", help="only split the addresses into indices and offset")
    p.add_argument("--save", help="write the page table as JSON to this file")
    p.add_argument("--dump", action="store_true", help="print the page table's entries")
    p.add_argument("-c", "--solve", action="store_true", help="print the walks and answers")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def _dump(pt: PageTable) -> list[str]:
    lines = []
    for t, ents in sorted(pt.tables.items()):
        for i, e in sorted(ents.items()):
            lines.append(f"  table {t:<3} [{i:>3}] frame {e.frame:#x} {e.flags()}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        base = {"x86_64": Layout.x86_64(), "la57": Layout.la57(), "tiny": Layout.tiny()}[args.layout]
        if args.levels or args.bits or args.offset_bits:
            base = Layout(args.levels or base.levels, args.bits or base.bits_per_level,
                          args.offset_bits or base.offset_bits, base.canonical)
        if args.table:
            pt = PageTable.load(args.table)
        else:
            pt = random_table(base, args.seed, fanout=args.fanout, leaves=args.leaves,
                              frames=min(1 << 20, 1 << max(1, 16 - base.offset_bits + 4)))
        lay = pt.layout
        if args.num < 0:
            raise ValueError("--num must be >= 0")
        if args.addresses:
            addrs = [_int(a.strip()) for a in args.addresses.split(",") if a.strip()]
        else:
            addrs = random_addresses(pt, args.num, args.seed)
        if args.decode:
            decoded = [decode(a, lay) for a in addrs]
        else:
            walks = [translate(pt, a, args.access, user=not args.kernel) for a in addrs]
        if args.save:
            pt.save(args.save)
    except (ValueError, OSError, argparse.ArgumentTypeError) as exc:
        print(f"pagewalk: error: {exc}", file=sys.stderr)
        return 2
    params = {"layout": asdict(lay), "table": args.table or f"random (seed {args.seed}, fanout {args.fanout}, "
              f"leaves {args.leaves})", "access": args.access, "mode": "kernel" if args.kernel else "user",
              "seed": args.seed}
    if args.json:
        out: dict[str, Any] = {"params": params}
        if args.decode:
            out["decoded"] = [{"va": hex(a), "indices": list(i), "offset": o} for a, (i, o) in zip(addrs, decoded)]
        else:
            out["translations"] = [w.to_json() if args.solve else {"va": hex(w.va)} for w in walks]
        if args.dump:
            out["table"] = pt.to_json()
        print(json.dumps(out, indent=1))
        return 0
    print(f"ARG layout {lay.describe()}")
    for k, v in params.items():
        if k != "layout":
            print(f"ARG {k} {v}")
    if args.dump:
        print("page table (P present, W writable, U user, X executable, A accessed, D dirty):")
        print("\n".join(_dump(pt)))
    print()
    if args.decode:
        for a, (idx, off) in zip(addrs, decoded):
            names = " ".join(f"{lay.level_name(k + 1)}={i}" for k, i in enumerate(idx))
            print(f"{a:#x}: {names} offset={off:#x}")
        return 0
    for w in walks:
        if args.solve:
            print(w.describe(lay))
        else:
            print(f"{w.va:#x} ({args.access}, {'kernel' if args.kernel else 'user'}): physical address or fault?")
    if not args.solve:
        print("\nUse -c to compute the answers.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
