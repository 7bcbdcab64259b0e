"""A set-associative TLB with LRU replacement within each set (chapter 2.4 and the TLB lab).

A TLB caches translations: virtual page number (VPN) -> frame. ``simulate(addresses, entries, ways, page_size)``
splits each virtual address into ``vpn = addr // page_size`` and offset, picks the set ``vpn % sets`` (``sets =
entries // ways``; the low VPN bits index the set, as in hardware), and looks the VPN up among that set's ``ways``
entries. A hit refreshes the entry's recency; a miss (the hardware would now walk the page table) inserts the VPN,
evicting the least recently used entry of that set when the set is full. Empty ways are filled first.
``ways == entries`` is fully associative (one set: exactly an LRU cache of ``entries`` pages); ``ways == 1`` is
direct-mapped.

*Reach* is ``entries * page_size``: the memory a full TLB covers without a miss. 64 entries of 4 KiB reach
256 KiB; the same 64 entries of 2 MiB pages reach 128 MiB -- the case for huge pages (Chapter 13).

Command line::

    python -m hftos.memsim.tlb -e 4 -w 2 -P 4096 -a 0x0,0x1000,0x2000,0x0,0x4000 -c
    python -m hftos.memsim.tlb -e 16 -w 4 --pattern random -n 20 --span 128K -s 3 -c --json

``-a`` addresses (decimal or 0x hex; ``-1`` generates ``-n`` of them with ``--pattern`` sequential/stride/random over
``--span`` bytes), ``-e`` entries, ``-w`` ways, ``-P`` page size, ``-s`` seed, ``-c`` compute, ``--json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, NoReturn, Sequence

__all__ = ["TLBAccess", "TLBRun", "simulate", "generate", "parse_size", "main"]


@dataclass(frozen=True)
class TLBAccess:
    address: int
    vpn: int
    offset: int
    set: int
    hit: bool
    evicted: int | None          #: VPN thrown out of the set (None: hit or a free way)
    contents: tuple[int | None, ...]   #: VPNs in this set's ways after the access, way 0 first


@dataclass
class TLBRun:
    entries: int
    ways: int
    page_size: int
    trace: list[TLBAccess] = field(default_factory=list)

    @property
    def sets(self) -> int:
        return self.entries // self.ways

    @property
    def hits(self) -> int:
        return sum(a.hit for a in self.trace)

    @property
    def misses(self) -> int:
        return sum(not a.hit for a in self.trace)

    @property
    def hit_rate(self) -> float:
        return self.hits / len(self.trace) if self.trace else 0.0

    @property
    def reach(self) -> int:
        """Bytes of memory the TLB covers when full: ``entries * page_size``."""
        return self.entries * self.page_size

    def hm(self) -> str:
        return "".join("H" if a.hit else "M" for a in self.trace)

    def to_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "ways": self.ways, "sets": self.sets, "page_size": self.page_size,
                "reach": self.reach, "hits": self.hits, "misses": self.misses, "hit_rate": self.hit_rate,
                "trace": [asdict(a) for a in self.trace]}


def _pos_int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return v


def parse_size(text: str | int) -> int:
    """``4096``, ``4K``, ``2M``, ``1G`` -> bytes."""
    if isinstance(text, int) and not isinstance(text, bool):
        return _pos_int(text, "size")
    s = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:], 1)
    s = s[:-1] if s[-1:] in "KMG" else s
    try:
        return _pos_int(int(s, 0) * mult, "size")
    except ValueError:
        raise ValueError(f"bad size {text!r}: use bytes or a K/M/G suffix") from None


def _addresses(addresses: Iterable[int | str] | str) -> list[int]:
    items = addresses.split(",") if isinstance(addresses, str) else list(addresses)
    out = []
    for a in items:
        if isinstance(a, bool):
            raise ValueError(f"bad address {a!r}")
        try:
            v = a if isinstance(a, int) else int(str(a).strip(), 0)
        except ValueError:
            raise ValueError(f"bad address {a!r}: use decimal or 0x hex") from None
        if v < 0:
            raise ValueError(f"bad address {a!r}: addresses are >= 0")
        out.append(v)
    return out


def simulate(addresses: Iterable[int | str] | str, entries: int = 64, ways: int = 4,
             page_size: int | str = 4096) -> TLBRun:
    """Run the access trace through the TLB; see the module docstring for the rules."""
    _pos_int(entries, "entries")
    _pos_int(ways, "ways")
    ps = parse_size(page_size)
    if entries % ways:
        raise ValueError(f"entries ({entries}) must be a multiple of ways ({ways})")
    if ps & (ps - 1):
        raise ValueError(f"page size must be a power of two, got {ps}")
    run = TLBRun(entries, ways, ps)
    sets: list[list[int | None]] = [[None] * ways for _ in range(run.sets)]
    stamp: list[list[int]] = [[-1] * ways for _ in range(run.sets)]
    for t, addr in enumerate(_addresses(addresses)):
        vpn, off = divmod(addr, ps)
        s = vpn % run.sets
        ways_s = sets[s]
        evicted = None
        if vpn in ways_s:
            k, hit = ways_s.index(vpn), True
        else:
            hit = False
            if None in ways_s:
                k = ways_s.index(None)
            else:
                k = min(range(ways), key=lambda w: stamp[s][w])
                evicted = ways_s[k]
            ways_s[k] = vpn
        stamp[s][k] = t
        run.trace.append(TLBAccess(addr, vpn, off, s, hit, evicted, tuple(ways_s)))
    return run


def generate(n: int, *, pattern: str = "random", span: int | str = "1M", stride: int | str = 4096,
             seed: int = 0) -> list[int]:
    """``n`` byte addresses in ``[0, span)``: ``sequential`` (8-byte steps), ``stride`` (``stride`` bytes apart,
    wrapping) or ``random`` (uniform, 8-byte aligned, from ``random.Random(seed)``)."""
    _pos_int(n, "n")
    sp, st = parse_size(span), parse_size(stride)
    if pattern == "sequential":
        return [(8 * i) % sp for i in range(n)]
    if pattern == "stride":
        return [(st * i) % sp for i in range(n)]
    if pattern == "random":
        rng = random.Random(seed)
        return [8 * int((sp // 8) * rng.random()) for _ in range(n)]
    raise ValueError(f"unknown pattern {pattern!r}; choose sequential, stride or random")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = _Parser(prog="python -m hftos.memsim.tlb", description="Set-associative TLB simulator (LRU within a set).")
    ap.add_argument("-a", "--addresses", default="-1", help="comma-separated addresses (0x hex ok); -1 generates")
    ap.add_argument("-n", "--numaddrs", type=int, default=10)
    ap.add_argument("--pattern", default="random", help="sequential, stride or random (when generating)")
    ap.add_argument("--span", default="64K", help="generated addresses lie in [0, span)")
    ap.add_argument("--stride", default="4K")
    ap.add_argument("-e", "--entries", type=int, default=8)
    ap.add_argument("-w", "--ways", type=int, default=2)
    ap.add_argument("-P", "--pagesize", default="4K")
    ap.add_argument("-s", "--seed", type=int, default=0)
    ap.add_argument("-c", "--compute", action="store_true", help="compute the answers")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        addrs = (generate(a.numaddrs, pattern=a.pattern, span=a.span, stride=a.stride, seed=a.seed)
                 if a.addresses.strip() == "-1" else _addresses(a.addresses))
        run = simulate(addrs, a.entries, a.ways, a.pagesize)
    except ValueError as e:
        ap.exit(2, f"{ap.prog}: error: {e}\n")
    if a.json:
        print(json.dumps(run.to_dict()))
        return 0
    print(f"ARG entries {run.entries}  ways {run.ways}  sets {run.sets}  page size {run.page_size}  seed {a.seed}")
    print(f"ARG addresses {','.join(hex(x) for x in addrs)}")
    print()
    if not a.compute:
        for x in addrs:
            print(f"Access: {x:#x}  VPN? set? Hit/Miss?")
        return 0
    for x in run.trace:
        ways = "[" + " ".join("-" if v is None else f"{v:#x}" for v in x.contents) + "]"
        ev = "-" if x.evicted is None else f"{x.evicted:#x}"
        print(f"Access: {x.address:#10x}  vpn {x.vpn:#7x}  set {x.set:2d}  {'HIT ' if x.hit else 'MISS'} "
              f"set now {ways}  evicted {ev}")
    print()
    print(f"FINALSTATS hits {run.hits}   misses {run.misses}   hitrate {100 * run.hit_rate:.2f}   "
          f"reach {run.reach // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
