"""Page replacement: which resident page to evict when a new one must come in (chapter 2.4).

``simulate(policy, refs, frames)`` runs one policy on a reference string and returns a :class:`Run`: per access the
page, hit or miss, the evicted page (if any), whether the evicted page was dirty (a write-back), and the contents of
every physical frame slot after the access -- the table a student fills in by hand.

A reference is a page number (``int``), or a string ``"7"`` (read) / ``"7w"`` (write; ``"7r"`` is a read too).
Writes set the page's dirty bit (M); every policy counts *write-backs* (evictions of dirty pages), and
``eclock`` uses the bit to prefer clean victims.

Policies and their rules (all deterministic except ``rand``, which draws from ``random.Random(seed)``):

- ``fifo``: evict the page loaded longest ago (hits change nothing).
- ``lru``: evict the page whose last use is oldest.
- ``opt`` (Belady's MIN): evict the page whose next use lies furthest in the future. Tie (several pages never used
  again): evict the one loaded most recently -- the rule of OSTEP's ``paging-policy.py``, so the two agree.
- ``clock`` (second chance): frames form a circle with a hand. A loaded or hit page gets R = 1. To evict, the hand
  sweeps: R = 1 -> clear it and move on; R = 0 -> evict that frame. The new page takes that frame and the hand moves
  one past it. While frames are still free, a miss fills the lowest free frame and the hand does not move.
- ``eclock`` (enhanced clock, classes (R, M)): from the hand, pass 1 looks for (0, 0) changing nothing; pass 2 looks
  for (0, 1) clearing R of every frame it passes; then repeat (now every R is 0, so a victim is found). Loads set R;
  writes set M; M is cleared only by eviction (a real kernel also cleans pages in the background).
- ``rand``: evict a uniformly random frame (OSTEP's RAND: index ``int(random() * frames)`` of the loaded-order list).

Frame slots: a new page goes into the lowest free slot, else into the slot of the page it evicts. So the trace is the
classic "frames down, time across" table. ``Run.faults`` counts misses, including the cold misses that fill empty
frames (textbook convention: FIFO on 1,2,3,4,1,2,5,1,2,3,4,5 gives 9 faults with 3 frames and 10 with 4).

Also here: reference-string generators (``uniform``, ``hot_cold``, ``looping``, ``phases``), the working set
``working_set(refs, delta)`` and the page-fault-frequency policy ``pff``. Command line (flags of OSTEP's
``vm-beyondphys-policy/paging-policy.py`` plus aliases)::

    python -m hftos.memsim.replacement -p lru -f 3 -r 1,2,3,4,1,2,5,1,2,3,4,5 -c
    python -m hftos.memsim.replacement -p fifo -C 3,4 -a 1,2,3,4,1,2,5,1,2,3,4,5 -c   # Belady
    python -m hftos.memsim.replacement -p opt -s 7 -n 12 -m 10 -C 3 -c --json

``-a``/``-r`` addresses (``-1``: generate ``-n`` of them, ``int(maxpage * random())`` as OSTEP does), ``--addressfile``
one per line (OSTEP's ``-f``; here ``-f`` means frames, like ``-C``), ``-p`` policy, ``-C``/``-f`` frames (a comma
list sweeps), ``-m`` max page, ``-s`` seed, ``-N`` no trace, ``-c`` compute the answers, ``--json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, NoReturn, Sequence

__all__ = [
    "POLICIES", "Access", "Run", "simulate", "parse_refs", "sweep", "uniform", "hot_cold", "looping", "phases",
    "working_set", "pff", "main",
]

POLICIES: tuple[str, ...] = ("fifo", "lru", "opt", "clock", "eclock", "rand")
_ALIASES = {"min": "opt", "belady": "opt", "second-chance": "clock", "enhanced-clock": "eclock", "random": "rand"}


@dataclass(frozen=True)
class Access:
    """One step of the trace."""

    t: int                       #: position in the reference string, from 0
    page: int
    write: bool
    hit: bool
    evicted: int | None          #: page thrown out by this access (None: hit or a free frame was used)
    writeback: bool              #: the evicted page was dirty and had to be written back
    frames: tuple[int | None, ...]   #: page in each frame slot after the access (None: empty)


@dataclass
class Run:
    """A policy's run over a reference string."""

    policy: str
    frames: int
    trace: list[Access] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return sum(not a.hit for a in self.trace)

    @property
    def hits(self) -> int:
        return sum(a.hit for a in self.trace)

    @property
    def writebacks(self) -> int:
        return sum(a.writeback for a in self.trace)

    @property
    def evictions(self) -> list[int]:
        return [a.evicted for a in self.trace if a.evicted is not None]

    @property
    def hit_rate(self) -> float:
        return self.hits / len(self.trace) if self.trace else 0.0

    def hm(self) -> str:
        """Hits and misses as one string: ``H`` or ``M`` per access."""
        return "".join("H" if a.hit else "M" for a in self.trace)

    def table(self) -> str:
        """The hand-worked table: one row per frame slot, one column per access, faults marked ``*``."""
        w = max([len(str(a.page)) for a in self.trace] + [1]) + 1
        rows = ["ref   " + "".join(f"{a.page:>{w}}" for a in self.trace)]
        for k in range(self.frames):
            rows.append(f"f{k:<4} " + "".join(
                f"{'' if a.frames[k] is None else a.frames[k]:>{w}}" for a in self.trace))
        rows.append("fault " + "".join(f"{'' if a.hit else '*':>{w}}" for a in self.trace))
        rows.append(f"{self.policy.upper()}, {self.frames} frames: {self.faults} faults, {self.hits} hits"
                    f" ({self.hit_rate:.0%}), {self.writebacks} write-backs")
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "frames": self.frames, "faults": self.faults, "hits": self.hits,
                "writebacks": self.writebacks, "hit_rate": self.hit_rate, "evictions": self.evictions,
                "trace": [asdict(a) for a in self.trace]}


def parse_refs(refs: Iterable[int | str] | str) -> list[tuple[int, bool]]:
    """``[(page, is_write), ...]`` from ints, ``"7"``/``"7r"``/``"7w"`` strings, or one comma-separated string."""
    if isinstance(refs, str):
        refs = [r for r in refs.replace(" ", "").split(",") if r != ""]
    out: list[tuple[int, bool]] = []
    for r in refs:
        if isinstance(r, bool):
            raise ValueError(f"bad reference {r!r}: expected a page number")
        if isinstance(r, int):
            page, write = r, False
        elif isinstance(r, str):
            s = r.strip().lower()
            write = s.endswith("w")
            s = s[:-1] if s[-1:] in ("r", "w") else s
            if not s.isdigit():
                raise ValueError(f"bad reference {r!r}: expected a page number, optionally followed by r or w")
            page = int(s)
        else:
            raise ValueError(f"bad reference {r!r}: expected an int or a string like '7' or '7w'")
        if page < 0:
            raise ValueError(f"bad reference {r!r}: page numbers are >= 0")
        out.append((page, write))
    return out


def _policy(name: str) -> str:
    p = _ALIASES.get(str(name).lower(), str(name).lower())
    if p not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")
    return p


def simulate(policy: str, refs: Iterable[int | str] | str, frames: int, *, seed: int = 0,
             rng: random.Random | None = None) -> Run:
    """Run ``policy`` on ``refs`` with ``frames`` physical frames; see the module docstring for the rules."""
    p = _policy(policy)
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a positive int, got {frames!r}")
    seq = parse_refs(refs)
    rng = rng or random.Random(seed)
    slot: list[int | None] = [None] * frames     # page in each frame
    where: dict[int, int] = {}                   # page -> frame
    loaded: list[int] = []                       # pages in load order (FIFO, RAND, OPT tie)
    last_use: dict[int, int] = {}
    rbit: dict[int, bool] = {}
    dirty: dict[int, bool] = {}
    hand = 0
    # next use of each position, for OPT: nxt[i] = next index > i with the same page (len if none)
    nxt = [len(seq)] * len(seq)
    seen: dict[int, int] = {}
    for i in range(len(seq) - 1, -1, -1):
        nxt[i] = seen.get(seq[i][0], len(seq))
        seen[seq[i][0]] = i
    next_use: dict[int, int] = {}
    run = Run(p, frames)

    for t, (page, write) in enumerate(seq):
        hit = page in where
        victim: int | None = None
        wb = False
        if not hit:
            if len(where) < frames:
                k = slot.index(None)
            else:
                if p == "fifo":
                    victim = loaded[0]
                elif p == "lru":
                    victim = min(where, key=lambda q: last_use[q])
                elif p == "rand":
                    victim = loaded[int(rng.random() * len(loaded))]
                elif p == "opt":
                    best = -1
                    for q in loaded:             # ">=": the most recently loaded wins a tie (OSTEP)
                        if next_use[q] >= best:
                            best, victim = next_use[q], q
                elif p == "clock":
                    while rbit[slot[hand]]:      # type: ignore[index]
                        rbit[slot[hand]] = False  # type: ignore[index]
                        hand = (hand + 1) % frames
                    victim = slot[hand]
                else:  # eclock
                    victim = None
                    while victim is None:
                        for _ in range(frames):  # pass 1: (0, 0), change nothing
                            q = slot[hand]
                            if not rbit[q] and not dirty[q]:  # type: ignore[index]
                                victim = q
                                break
                            hand = (hand + 1) % frames
                        if victim is not None:
                            break
                        for _ in range(frames):  # pass 2: (0, 1), clearing R on the way
                            q = slot[hand]
                            if not rbit[q] and dirty[q]:  # type: ignore[index]
                                victim = q
                                break
                            rbit[q] = False  # type: ignore[index]
                            hand = (hand + 1) % frames
                assert victim is not None
                k = where.pop(victim)
                loaded.remove(victim)
                wb = dirty.pop(victim, False)
                rbit.pop(victim, None)
                if p in ("clock", "eclock"):
                    hand = (k + 1) % frames
            slot[k] = page
            where[page] = k
            loaded.append(page)
            dirty[page] = False
        last_use[page] = t
        next_use[page] = nxt[t]
        rbit[page] = True
        if write:
            dirty[page] = True
        run.trace.append(Access(t, page, write, hit, victim, wb, tuple(slot)))
    return run


def sweep(policies: Sequence[str], refs: Iterable[int | str] | str, frames: Iterable[int], *,
          seed: int = 0) -> dict[str, list[int]]:
    """Fault counts: ``{policy: [faults with each frame count]}`` (``rand`` reseeded per run)."""
    seq = parse_refs(refs)
    fs = list(frames)
    return {_policy(p): [simulate(p, [f"{q}{'w' if w else ''}" for q, w in seq], f, seed=seed).faults for f in fs]
            for p in policies}


# ----------------------------------------------------------------------------------- reference strings

def _check_n(n: int, pages: int) -> None:
    for name, v in (("n", n), ("pages", pages)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")


def uniform(n: int, pages: int, *, seed: int = 0) -> list[int]:
    """``n`` references drawn uniformly from pages ``0 .. pages-1`` (no locality: every policy does about as badly)."""
    _check_n(n, pages)
    rng = random.Random(seed)
    return [int(pages * rng.random()) for _ in range(n)]


def hot_cold(n: int, pages: int, *, hot_fraction: float = 0.2, hot_share: float = 0.8, seed: int = 0) -> list[int]:
    """The "80/20" workload: ``hot_share`` of references go to the first ``hot_fraction`` of the pages."""
    _check_n(n, pages)
    if not 0 < hot_fraction < 1 or not 0 <= hot_share <= 1:
        raise ValueError("hot_fraction must be in (0, 1) and hot_share in [0, 1]")
    rng = random.Random(seed)
    hot = max(1, int(pages * hot_fraction))
    out = []
    for _ in range(n):
        if rng.random() < hot_share or hot == pages:
            out.append(int(hot * rng.random()))
        else:
            out.append(hot + int((pages - hot) * rng.random()))
    return out


def looping(n: int, pages: int) -> list[int]:
    """``0, 1, ..., pages-1, 0, 1, ...``: LRU's and FIFO's worst case when ``pages`` exceeds the frames."""
    _check_n(n, pages)
    return [i % pages for i in range(n)]


def phases(n: int, pages: int, *, phase_len: int = 200, set_size: int = 5, seed: int = 0) -> list[int]:
    """A phase-change locality model: each phase of ``phase_len`` references picks a new locality of ``set_size``
    distinct pages out of ``pages`` and references only them (uniformly). Working-set size jumps at phase changes."""
    _check_n(n, pages)
    if not 1 <= set_size <= pages or phase_len < 1:
        raise ValueError("need 1 <= set_size <= pages and phase_len >= 1")
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < n:
        local = rng.sample(range(pages), set_size)
        out.extend(local[int(set_size * rng.random())] for _ in range(min(phase_len, n - len(out))))
    return out


def working_set(refs: Iterable[int | str] | str, delta: int) -> list[int]:
    """Denning's working-set size ``|W(t, delta)|``: distinct pages among the last ``delta`` references up to and
    including ``t``, for every ``t`` (fewer than ``delta`` at the start)."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta < 1:
        raise ValueError(f"delta must be a positive int, got {delta!r}")
    seq = [p for p, _ in parse_refs(refs)]
    count: dict[int, int] = {}
    out = []
    for t, p in enumerate(seq):
        count[p] = count.get(p, 0) + 1
        if t >= delta:
            old = seq[t - delta]
            count[old] -= 1
            if count[old] == 0:
                del count[old]
        out.append(len(count))
    return out


def pff(refs: Iterable[int | str] | str, tau: int) -> tuple[int, list[int]]:
    """Page-fault-frequency replacement (Chu and Opderbeck, 1972): a variable resident set. On a fault at time ``t``,
    if more than ``tau`` references passed since the previous fault (faults are rare: the set is too big), first drop
    every resident page not referenced since that fault; then load the page. Returns ``(faults, resident sizes)``."""
    if isinstance(tau, bool) or not isinstance(tau, int) or tau < 1:
        raise ValueError(f"tau must be a positive int, got {tau!r}")
    seq = [p for p, _ in parse_refs(refs)]
    resident: set[int] = set()
    used: set[int] = set()
    last_fault = 0
    faults = 0
    sizes = []
    for t, p in enumerate(seq):
        if p not in resident:
            faults += 1
            if t - last_fault > tau:
                resident &= used
            used = set()
            resident.add(p)
            last_fault = t
        used.add(p)
        sizes.append(len(resident))
    return faults, sizes


# ----------------------------------------------------------------------------------- command line

class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _ints(text: str, what: str) -> list[int]:
    try:
        v = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"malformed {what} {text!r}") from None
    if not v:
        raise ValueError(f"empty {what}")
    return v


def main(argv: Sequence[str] | None = None) -> int:
    ap = _Parser(prog="python -m hftos.memsim.replacement",
                 description="Page-replacement simulator (flags of OSTEP's paging-policy.py).")
    ap.add_argument("-a", "-r", "--addresses", "--refs", default="-1",
                    help="comma-separated pages, '7w' for a write; -1 generates -n of them")
    ap.add_argument("--addressfile", default="", help="file with one page per line (OSTEP's -f)")
    ap.add_argument("-n", "--numaddrs", type=int, default=10, help="how many pages to generate when -a is -1")
    ap.add_argument("-p", "--policy", default="FIFO", help="FIFO, LRU, OPT, CLOCK, ECLOCK, RAND")
    ap.add_argument("-C", "-f", "--cachesize", "--frames", default="3", help="frames (a comma list sweeps)")
    ap.add_argument("-m", "--maxpage", type=int, default=10, help="generated pages are 0 .. maxpage-1")
    ap.add_argument("-s", "--seed", type=int, default=0, help="random seed")
    ap.add_argument("-N", "--notrace", action="store_true", help="no per-access trace")
    ap.add_argument("-c", "--compute", action="store_true", help="compute the answers")
    ap.add_argument("--json", action="store_true", help="print the runs as JSON")
    a = ap.parse_args(argv)
    try:
        policy = _policy(a.policy)
        frames = _ints(a.cachesize, "frame list")
        rng = random.Random(a.seed)
        if a.addressfile:
            with open(a.addressfile) as fh:
                refs: list[str] = [ln.strip() for ln in fh if ln.strip()]
        elif a.addresses.strip() == "-1":
            if a.numaddrs < 1 or a.maxpage < 1:
                raise ValueError("-n and -m must be positive")
            refs = [str(int(a.maxpage * rng.random())) for _ in range(a.numaddrs)]
        else:
            refs = [r for r in a.addresses.split(",") if r.strip()]
        parse_refs(refs)
        runs = []
        for f in frames:
            # rand continues the generator's stream, as OSTEP's single random.seed() does
            r = random.Random(a.seed)
            if a.addresses.strip() == "-1" and not a.addressfile:
                for _ in range(a.numaddrs):
                    r.random()
            runs.append(simulate(policy, refs, f, rng=r))
    except (ValueError, OSError) as e:
        ap.exit(2, f"{ap.prog}: error: {e}\n")
    if a.json:
        print(json.dumps({"args": {"addresses": ",".join(refs), "policy": policy, "frames": frames,
                                   "seed": a.seed}, "runs": [r.to_dict() for r in runs]}))
        return 0
    print(f"ARG addresses {','.join(refs)}")
    print(f"ARG policy {policy.upper()}  frames {','.join(map(str, frames))}  seed {a.seed}  maxpage {a.maxpage}")
    print()
    if not a.compute:
        print(f"Assuming {policy.upper()} with {', '.join(map(str, frames))} frames, say for each access whether it"
              " hits or misses, what it evicts, and what each frame holds afterwards.")
        for q in refs:
            print(f"Access: {q}  Hit/Miss?  Evicted?  Frames?")
        return 0
    for run in runs:
        if not a.notrace:
            for x in run.trace:
                fr = "[" + " ".join("-" if v is None else str(v) for v in x.frames) + "]"
                ev = "-" if x.evicted is None else str(x.evicted) + (" (dirty)" if x.writeback else "")
                print(f"Access: {x.page}{'w' if x.write else ' '} {'HIT ' if x.hit else 'MISS'} frames {fr:>14}"
                      f"  evicted {ev}")
            print()
        print(f"FINALSTATS {policy.upper()} frames {run.frames}: hits {run.hits}   misses {run.faults}   "
              f"hitrate {100 * run.hit_rate:.2f}   write-backs {run.writebacks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
