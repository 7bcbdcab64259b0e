"""A small journaling file system, its device writes, every crash point, and recovery (course section 3.4).

The disk has four regions, each small enough to follow by hand:

- ``data``: ``blocks`` data blocks ``D0 .. D{n-1}``. Each holds one short string. A fresh disk's blocks hold
  ``old0``, ``old1``, ... : stale bytes of files deleted long ago, which no file should ever show;
- ``inodes``: **one** metadata block holding every file (the directory and the inodes together): name -> the list
  of data blocks, in order. A file's content is its blocks' strings concatenated;
- ``bitmap``: **one** metadata block, one bit per data block (``1`` = in use);
- ``journal``: an append-only log of transactions. A transaction is written as two device writes: the descriptor
  with the logged block images (``TxB`` + blocks), then the commit record (``TxE``). It counts only once the commit
  record is on disk. The journal is large enough for the whole workload (it never wraps).

A workload is a list of operations (``create NAME``, ``append NAME TEXT``, ``rename OLD NEW``, ``sync``). The
operations between two ``sync`` s form one transaction, as jbd2 gathers everything of its commit interval into one
compound transaction; ``sync`` ends one (an ``fsync`` or the 5 s commit timer in ext4). Allocation takes the
lowest-numbered free block (the tie rule), except that a block freed in the running transaction is not reused before
that transaction commits (as ext4's allocator does: otherwise new data could overwrite a block that the last
*committed* state still points at). ``rename`` onto an existing name replaces it and frees its blocks: that is the
atomic replace pattern's last step.

Each transaction issues its device writes in the order its mode prescribes (one write = one block, or one journal
record; a write is atomic, writes happen in list order, as with a FUA/flush barrier between each):

- ``ordered`` (ext4's default ``data=ordered``): new data blocks in place -> journal descriptor with the inode and
  bitmap blocks -> commit record -> checkpoint inode block -> checkpoint bitmap block;
- ``writeback`` (``data=writeback``): journal descriptor -> commit -> checkpoints; the data blocks are written
  whenever writeback reaches them, modelled as the worst legal moment: last;
- ``journal`` (``data=journal``): journal descriptor with data *and* metadata -> commit -> checkpoint data ->
  checkpoint metadata (everything is written twice);
- ``none`` (no journal, ext2-style): data -> inode block -> bitmap block, in place.

A crash after the first ``k`` device writes (``k = 0 .. W``: every point between two writes, and before the first
and after the last) leaves a disk image. Recovery replays, in order, every transaction in the journal whose commit
record is on disk (copies its logged block images home), and ignores the rest. Replaying full block images is
idempotent: recovering twice gives the same disk as recovering once.

Each recovered image is classified against the transaction in progress at the crash (the one the next write
belonged to; after the last write, the last transaction):

- ``new``: the files are exactly as after that transaction: the update is durable;
- ``old``: the files are exactly as before it: consistent, but the update is lost;
- ``garbage``: metadata is consistent but a file shows bytes it was never given (stale data of a deleted file,
  ``oldN``, or another file's old content): the hazard of ``data=writeback``;
- ``inconsistent``: the bitmap disagrees with the inodes (a leaked block, or a used block marked free, which a
  later allocation would hand out twice): only without a journal; ``fsck`` must repair it.

Command line: ``python -m hftos.fssim.journal -m ordered -w "create a; append a v1; sync; ..." [-c]``;
``--seed`` generates a random workload; ``-c`` prints the answers (recovered files and outcome per crash point).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

MODES = ("ordered", "writeback", "journal", "none")
OUTCOMES = ("new", "old", "garbage", "inconsistent")
KINDS = ("create", "append", "rename", "sync")
MAX_BLOCKS = 64

Files = tuple[tuple[str, tuple[int, ...]], ...]  # sorted (name, blocks) pairs: the inode block


@dataclass(frozen=True)
class Op:
    """One operation of a workload: ``kind`` is ``create``, ``append``, ``rename`` or ``sync``."""

    kind: str
    name: str = ""
    arg: str = ""

    def __str__(self) -> str:
        return " ".join(x for x in (self.kind, self.name, self.arg) if x)


@dataclass(frozen=True)
class Disk:
    """A disk image: data blocks, the inode block, the bitmap block, and the journal's records."""

    data: tuple[str, ...]
    inodes: Files
    bitmap: tuple[int, ...]
    journal: tuple[tuple[Any, ...], ...] = ()

    def files(self) -> dict[str, str]:
        """What a reader of each file sees: its blocks' contents concatenated."""
        return {name: "".join(self.data[b] for b in blocks) for name, blocks in self.inodes}


@dataclass(frozen=True)
class Write:
    """One device write: ``target`` is ``D<n>``, ``inodes``, ``bitmap`` or ``journal``."""

    index: int
    tx: int
    target: str
    what: str
    payload: Any

    def __str__(self) -> str:
        return f"w{self.index:<3} tx{self.tx}  {self.target:<8} {self.what}"


@dataclass(frozen=True)
class CrashPoint:
    """The outcome of a crash after ``k`` device writes, recovered."""

    k: int
    after: str
    tx: int
    replayed: tuple[int, ...]
    outcome: str
    files: dict[str, str]
    detail: str = ""


@dataclass
class Analysis:
    """A workload run through one mode: the writes, the logical states, every crash point."""

    mode: str
    blocks: int
    workload: list[Op]
    transactions: list[list[Op]]
    writes: list[Write]
    views: list[dict[str, str]]
    points: list[CrashPoint] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many crash points ended in each outcome."""
        return {o: sum(p.outcome == o for p in self.points) for o in OUTCOMES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "blocks": self.blocks, "workload": [str(o) for o in self.workload],
            "writes": [{"index": w.index, "tx": w.tx, "target": w.target, "what": w.what} for w in self.writes],
            "points": [{"k": p.k, "after": p.after, "tx": p.tx, "replayed": list(p.replayed), "outcome": p.outcome,
                        "files": p.files, "detail": p.detail} for p in self.points],
            "counts": self.counts(),
        }


# --------------------------------------------------------------------------- workloads

def parse_workload(text: str | Sequence[str]) -> list[Op]:
    """Parse ``"create a; append a hello; sync; rename a b"`` (or a list of such lines) into operations."""
    parts = [p.strip() for p in (text.replace("\n", ";").split(";") if isinstance(text, str) else text)]
    ops = []
    for p in parts:
        if not p:
            continue
        w = p.split()
        kind = w[0].lower()
        want = {"create": 2, "append": 3, "rename": 3, "sync": 1}.get(kind)
        if want is None:
            raise ValueError(f"unknown operation {w[0]!r} (use {', '.join(KINDS)})")
        if len(w) != want:
            raise ValueError(f"{p!r}: {kind} takes {want - 1} argument(s)")
        ops.append(Op(kind, *w[1:]))
    if not any(o.kind != "sync" for o in ops):
        raise ValueError("the workload has no operation")
    return ops


def random_workload(seed: int, n_ops: int = 5, blocks: int = 6) -> list[Op]:
    """A random valid workload of ``n_ops`` operations (creates, appends, renames, syncs), seeded."""
    if n_ops < 1 or n_ops > 100:
        raise ValueError(f"n_ops must be 1..100, got {n_ops}")
    rng = random.Random(seed)
    names: list[str] = []
    used = 0
    ops: list[Op] = []
    while len(ops) < n_ops:
        choice = rng.choice(["create", "append", "append", "rename", "sync"])
        if choice == "create" or not names:
            free = [n for n in "abcdef" if n not in names]
            if not free:
                continue
            ops.append(Op("create", free[0]))
            names.append(free[0])
        elif choice == "append" and used < blocks:
            ops.append(Op("append", rng.choice(names), f"v{len(ops)}"))
            used += 1
        elif choice == "rename" and len(names) >= 1:
            old = rng.choice(names)
            new = rng.choice([n for n in "abcdef" if n != old])
            ops.append(Op("rename", old, new))
            if new in names:
                names.remove(new)  # replaced: its blocks are freed, but we count blocks conservatively
            names[names.index(old)] = new
        elif choice == "sync" and ops and ops[-1].kind != "sync":
            ops.append(Op("sync"))
    return ops


# --------------------------------------------------------------------------- the file system (logical)

def fresh_disk(blocks: int) -> Disk:
    """An empty file system whose data blocks still hold stale bytes ``old0``, ``old1``, ..."""
    if not isinstance(blocks, int) or blocks < 1 or blocks > MAX_BLOCKS:
        raise ValueError(f"blocks must be an integer 1..{MAX_BLOCKS}, got {blocks!r}")
    return Disk(tuple(f"old{i}" for i in range(blocks)), (), (0,) * blocks)


def _apply(files: dict[str, list[int]], bitmap: list[int], data: dict[int, str], op: Op, freed: set[int]) -> None:
    """Apply one operation to in-memory metadata; new data block contents go into ``data``.

    ``freed`` collects the blocks freed in the running transaction; they are not reallocated until it commits.
    """
    if op.kind == "create":
        if op.name in files:
            raise ValueError(f"{op}: {op.name!r} exists")
        files[op.name] = []
    elif op.kind == "append":
        if op.name not in files:
            raise ValueError(f"{op}: no file {op.name!r}")
        free = [b for b, used in enumerate(bitmap) if not used and b not in freed]
        if not free:
            raise ValueError(f"{op}: no free data block (the disk has {len(bitmap)}"
                             f"{', some freed in this uncommitted transaction' if freed else ''})")
        b = free[0]
        bitmap[b] = 1
        files[op.name].append(b)
        data[b] = op.arg
    elif op.kind == "rename":
        if op.name not in files:
            raise ValueError(f"{op}: no file {op.name!r}")
        if op.name == op.arg:
            return
        for b in files.pop(op.arg, []):
            bitmap[b] = 0
            freed.add(b)
        files[op.arg] = files.pop(op.name)


def _split(workload: Sequence[Op]) -> list[list[Op]]:
    txs: list[list[Op]] = [[]]
    for op in workload:
        if not isinstance(op, Op) or op.kind not in KINDS:
            raise ValueError(f"not an operation: {op!r}")
        if op.kind == "sync":
            if txs[-1]:
                txs.append([])
        else:
            txs[-1].append(op)
    return [t for t in txs if t]


def _freeze(files: dict[str, list[int]]) -> Files:
    return tuple(sorted((n, tuple(b)) for n, b in files.items()))


def plan(workload: Sequence[Op] | str, mode: str = "ordered", blocks: int = 6) -> Analysis:
    """The device writes of ``workload`` in ``mode`` and the logical file view after each transaction."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    ops = parse_workload(workload) if isinstance(workload, str) else list(workload)
    disk = fresh_disk(blocks)
    txs = _split(ops)
    if not txs:
        raise ValueError("the workload has no operation")
    files: dict[str, list[int]] = {}
    bitmap = [0] * blocks
    contents = list(disk.data)
    views = [disk.files()]
    writes: list[Write] = []

    def w(tx: int, target: str, what: str, payload: Any) -> None:
        writes.append(Write(len(writes) + 1, tx, target, what, payload))

    for t, tx in enumerate(txs, start=1):
        new: dict[int, str] = {}
        freed: set[int] = set()
        for op in tx:
            _apply(files, bitmap, new, op, freed)
        for b, s in new.items():
            contents[b] = s
        inode_img, bitmap_img = _freeze(files), tuple(bitmap)
        views.append({n: "".join(contents[b] for b in bl) for n, bl in inode_img})
        datas = [(f"D{b}", f"data {s!r}", (b, s)) for b, s in sorted(new.items())]
        meta_desc = f"inodes {_show_inodes(inode_img)}, bitmap {_show_bitmap(bitmap_img)}"
        logged = (("inodes", inode_img), ("bitmap", bitmap_img))
        ckpt = [("inodes", f"checkpoint {_show_inodes(inode_img)}", inode_img),
                ("bitmap", f"checkpoint {_show_bitmap(bitmap_img)}", bitmap_img)]
        if mode == "none":
            for d in datas:
                w(t, *d)
            for c in ckpt:
                w(t, c[0], c[1].replace("checkpoint ", "in place "), c[2])
            continue
        if mode == "journal":
            logged = tuple((f"D{b}", s) for b, s in sorted(new.items())) + logged
            desc = "TxB " + ", ".join([*(f"D{b}={s!r}" for b, s in sorted(new.items())), meta_desc])
        else:
            desc = f"TxB {meta_desc}"
        if mode == "ordered":
            for d in datas:
                w(t, *d)
        w(t, "journal", desc, ("TxB", t, logged))
        w(t, "journal", f"TxE (commit tx{t})", ("TxE", t))
        if mode == "journal":
            for target, what, (b, s) in datas:
                w(t, target, f"checkpoint {what}", (b, s))
        for c in ckpt:
            w(t, *c)
        if mode == "writeback":
            for d in datas:
                w(t, *d)
    return Analysis(mode, blocks, ops, txs, writes, views)


def _show_inodes(files: Files) -> str:
    return "{" + ", ".join(f"{n}:[{','.join(f'D{b}' for b in bl)}]" for n, bl in files) + "}"


def _show_bitmap(bitmap: Sequence[int]) -> str:
    return "".join(str(b) for b in bitmap)


# --------------------------------------------------------------------------- crashes and recovery

def crash(analysis: Analysis, k: int) -> Disk:
    """The disk image after the first ``k`` device writes (``0 <= k <= len(writes)``), before recovery."""
    if not isinstance(k, int) or k < 0 or k > len(analysis.writes):
        raise ValueError(f"crash point must be 0..{len(analysis.writes)}, got {k!r}")
    disk = fresh_disk(analysis.blocks)
    for wr in analysis.writes[:k]:
        disk = _write(disk, wr.target, wr.payload)
    return disk


def _write(disk: Disk, target: str, payload: Any) -> Disk:
    if target == "journal":
        return Disk(disk.data, disk.inodes, disk.bitmap, disk.journal + (payload,))
    if target == "inodes":
        return Disk(disk.data, payload, disk.bitmap, disk.journal)
    if target == "bitmap":
        return Disk(disk.data, disk.inodes, payload, disk.journal)
    b, s = payload
    data = list(disk.data)
    data[b] = s
    return Disk(tuple(data), disk.inodes, disk.bitmap, disk.journal)


def recover(disk: Disk) -> tuple[Disk, tuple[int, ...]]:
    """Replay every committed transaction in the journal, in order; return the disk and the replayed tx ids.

    A transaction is committed when its ``TxE`` record follows its ``TxB``; an uncommitted one is ignored. The
    journal is left as it is, so recovering again replays the same images again: the result is the same.
    """
    committed = {rec[1] for rec in disk.journal if rec[0] == "TxE"}
    replayed = []
    for rec in disk.journal:
        if rec[0] == "TxB" and rec[1] in committed:
            for target, img in rec[2]:
                payload = (int(target[1:]), img) if target.startswith("D") else img
                disk = _write(disk, target, payload)
            replayed.append(rec[1])
    return disk, tuple(replayed)


def check_metadata(disk: Disk) -> str:
    """'' if the bitmap matches the inodes exactly, else what ``fsck`` would report."""
    refs: dict[int, str] = {}
    problems = []
    for name, blocks in disk.inodes:
        for b in blocks:
            if b in refs:
                problems.append(f"D{b} in both {refs[b]} and {name}")
            refs[b] = name
    for b, used in enumerate(disk.bitmap):
        if used and b not in refs:
            problems.append(f"D{b} marked used but in no file (leak)")
        if not used and b in refs:
            problems.append(f"D{b} in {refs[b]} but marked free (would be allocated twice)")
    return "; ".join(problems)


def classify(analysis: Analysis, k: int, disk: Disk) -> tuple[str, int, str]:
    """Outcome, transaction in progress, and detail of a recovered disk after a crash at ``k``."""
    tx = analysis.writes[k].tx if k < len(analysis.writes) else len(analysis.transactions)
    problem = check_metadata(disk)
    if problem:
        return "inconsistent", tx, problem
    view = disk.files()
    if view == analysis.views[tx]:
        return "new", tx, ""
    if view == analysis.views[tx - 1]:
        return "old", tx, ""
    bad = [f"{n} = {v!r}" for n, v in view.items()
           if v != analysis.views[tx].get(n) and v != analysis.views[tx - 1].get(n)]
    return "garbage", tx, "; ".join(bad) or "mixed old and new files"


def simulate(workload: Sequence[Op] | str, mode: str = "ordered", blocks: int = 6) -> Analysis:
    """Plan the writes, crash at every point ``k = 0 .. W``, recover, and classify each outcome."""
    a = plan(workload, mode, blocks)
    for k in range(len(a.writes) + 1):
        disk, replayed = recover(crash(a, k))
        outcome, tx, detail = classify(a, k, disk)
        after = "nothing written" if k == 0 else str(a.writes[k - 1]).split(None, 2)[2]
        a.points.append(CrashPoint(k, after, tx, replayed, outcome, disk.files(), detail))
    return a


# --------------------------------------------------------------------------- text output

def format_trace(a: Analysis) -> str:
    """The device writes, one per line, with the transaction each belongs to."""
    lines = [f"mode={a.mode} blocks={a.blocks} workload: {'; '.join(str(o) for o in a.workload)}",
             *(f"  tx{t}: {'; '.join(str(o) for o in tx)}" for t, tx in enumerate(a.transactions, 1)),
             "device writes:"]
    lines += [f"  {w}" for w in a.writes]
    return "\n".join(lines)


def format_points(a: Analysis, solve: bool = True) -> str:
    """One line per crash point: after which write, what recovery replays, the files seen, the outcome."""
    w = max(10, *(len(",".join(f"tx{t}" for t in p.replayed)) + 2 for p in a.points))
    lines = [f"{'crash':<6}{'tx':<4}{'replayed':<{w}}{'files after recovery':<34}outcome"]
    for p in a.points:
        if solve:
            files = " ".join(f"{n}={v!r}" for n, v in sorted(p.files.items())) or "(none)"
            rep = ",".join(f"tx{t}" for t in p.replayed) or "-"
            out = p.outcome + (f"  [{p.detail}]" if p.detail else "")
        else:
            files, rep, out = "?", "?", "?"
        lines.append(f"k={p.k:<4}{p.tx:<4}{rep:<{w}}{files:<34}{out}")
    if solve:
        lines.append("counts: " + ", ".join(f"{o} {n}" for o, n in a.counts().items()))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hftos.fssim.journal", description=__doc__.split("\n")[0])
    p.add_argument("-m", "--mode", default="ordered", help=f"one of {', '.join(MODES)}, or 'all'")
    p.add_argument("-w", "--workload", default=None, help='operations separated by ";", e.g. "create a; append a x"')
    p.add_argument("-s", "--seed", type=int, default=0, help="seed for a random workload (when -w is not given)")
    p.add_argument("-n", "--ops", type=int, default=5, help="operations in a random workload")
    p.add_argument("-b", "--blocks", type=int, default=6, help="data blocks on the disk")
    p.add_argument("-c", "--solve", action="store_true", help="print the recovered files and outcome of every crash")
    p.add_argument("--json", action="store_true", help="print the full analysis as JSON")
    args = p.parse_args(argv)
    try:
        modes = MODES if args.mode == "all" else (args.mode,)
        ops = (parse_workload(args.workload) if args.workload is not None
               else random_workload(args.seed, args.ops, args.blocks))
        analyses = [simulate(ops, m, args.blocks) for m in modes]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([a.to_dict() for a in analyses], indent=1))
        return 0
    src = f"-w {args.workload!r}" if args.workload is not None else f"--seed {args.seed} -n {args.ops}"
    print(f"ARG mode {args.mode}  blocks {args.blocks}  {src}  solve {args.solve}")
    for a in analyses:
        print(format_trace(a))
        print(format_points(a, args.solve))
        print()
    if not args.solve:
        print("For each crash point: which transactions does recovery replay, what do the files contain, and is the "
              "update durable (new), lost (old), garbage, or inconsistent? Run with -c for the answers.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
