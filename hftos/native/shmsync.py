"""Shared memory and synchronisation between processes (chapter 4.5).

One wrapper module over six C files, one topic each:

- ``shmsync.c``: three kinds of shared mapping (:func:`shm_kinds`), a robust process-shared mutex
  (:func:`robust_mutex_demo`), single-creator initialisation (:func:`init_race`) and a spinning
  ping-pong with chosen placement (:func:`shm_spin_pingpong`, used by the IPC latency ladder);
- ``litmus.c``: the store-buffer litmus test (:func:`sb_litmus`);
- ``falseshare.c``: two counters in one cache line or apart (:func:`false_sharing`);
- ``spscvar.c``: the SPSC ring of 1.5 with size, padding and cached indices as knobs
  (:func:`spsc_variant`);
- ``seqlock.c``: a seqlock'd top-of-book quote, with and without the sequence counter
  (:func:`seqlock_snapshots`);
- ``mpmc.c``: Vyukov's bounded MPMC queue with an exactly-once check (:func:`mpmc_queue`).

Everything that forks, pins or spins runs in a helper process (:mod:`hftos.native.runner`), bounded
by ``timeout`` seconds (the C loops give up at 80 % of it); shared-memory names carry the run's
prefix (``hftos-<pid>-...``) and are removed however the run ends. :func:`shm_placements` reads the
CPU topology from sysfs to choose pairs of CPUs (same CPU, SMT sibling, other core, other socket).
"""

from __future__ import annotations

import errno as _errno
import os
import stat
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import CPUPair, NotEnoughCPUs, allowed_cpus, check, count, cpu_pair

# ---- cdefs -----------------------------------------------------------------------------------------

_SHMSYNC_CDEF = """
int shm_kind_open(int kind, const char *name, long size, void **addr_out, int *fd_out);
int shm_kind_fork_write(void *addr, long value, long *seen);
int shm_kind_close(int kind, const char *name, void *addr, long size, int fd);
struct robust_report {
    int first_lock, consistent, relock, value_seen, unrecovered_lock, plain_timedlock, plain_wait_ms;
};
int robust_demo(int wait_ms, struct robust_report *out);
struct init_report { int creators, eexist, saw_magic; long attached; int mode; };
int init_race(const char *name, int processes, int careful, int stagger_ms, int timeout_ms, struct init_report *out);
int shm_spin_pingpong(int cpu_a, int cpu_b, int yield_every, int warmup, long iters, int64_t *rtt_ns,
                      int timeout_ms);
struct shmsync_layout {
    long cache_line, sizeof_pp, off_ping, off_pong, off_b_ready;
    long sizeof_init, off_ready, off_magic, off_attached;
    long sizeof_mutex;
    int long_lock_free, int_lock_free;
};
void shmsync_layout(struct shmsync_layout *out);
"""

_LITMUS_CDEF = """
int sb_litmus(int mode, int cpu_0, int cpu_1, long iters, int64_t *counts, long *rounds_done, int timeout_ms);
"""

_FALSESHARE_CDEF = """
int false_sharing(int cpu_0, int cpu_1, long distance, long iters, int locked, int64_t *times_ns,
                  int64_t *final, int timeout_ms);
"""

_SPSCVAR_CDEF = """
void spscvar_offsets(int padded, long *off_head, long *off_tail, long *off_slots);
int spscvar_throughput(int cpu_a, int cpu_b, long slots, int padded, int cached, long messages,
                       int64_t *elapsed_ns, int timeout_ms);
long spscvar_control_size(void);
"""

_SEQLOCK_CDEF = """
struct seqlock_report { long snapshots, torn, retries, writes; int64_t elapsed_ns; };
int seqlock_run(int mode, int cpu_w, int cpu_r, long snapshots, int gap_pauses, int timeout_ms,
                struct seqlock_report *out);
int seqlock_is_torn(const uint64_t *words);
long seqlock_offset_words(void);
"""

_MPMC_CDEF = """
struct mpmc_report { long items, received, missing, duplicated; int64_t elapsed_ns; };
int mpmc_run(int producers, int consumers, long capacity, long per_producer, const int *cpus, int timeout_ms,
             struct mpmc_report *out);
struct mpmc_layout {
    long cache_line, off_enqueue_pos, off_dequeue_pos, off_consumed, off_cells, sizeof_cell;
    int pos_lock_free, tally_lock_free;
};
void mpmc_layout(struct mpmc_layout *out);
"""

_CDEFS = {"shmsync": _SHMSYNC_CDEF, "litmus": _LITMUS_CDEF, "falseshare": _FALSESHARE_CDEF,
          "spscvar": _SPSCVAR_CDEF, "seqlock": _SEQLOCK_CDEF, "mpmc": _MPMC_CDEF}


def _lib(topic: str = "shmsync") -> build.Compiled:
    return build.load(topic, _CDEFS[topic])


def _c_timeout_ms(timeout: float) -> int:
    """The C loops give up a little before the runner would kill the helper."""
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return max(100, int(timeout * 1000 * 0.8))


def _struct(c: build.Compiled, ptr: Any, name: str) -> dict[str, Any]:
    return {f: getattr(ptr, f) for f, _ in c.ffi.typeof(name).fields}


def _two_cpus(cpus: CPUPair | None, what: str) -> tuple[int, int]:
    """Two different pinned CPUs, for experiments whose two sides spin on each other."""
    a, b = cpu_pair(cpus, cross=True)
    if a < 0 or b < 0 or a == b:
        raise ValueError(f"{what}: both sides spin and must be pinned to two different CPUs, got cpus={cpus!r}")
    return a, b


def _errname(code: int) -> str:
    return _errno.errorcode.get(code, str(code)) if code else "0"


# ---- topology ------------------------------------------------------------------------------------

_TOPO = Path("/sys/devices/system/cpu")


def _topology(cpu: int, root: Path = _TOPO) -> dict[str, Any]:
    """core id, package id and SMT siblings of one CPU from sysfs (``None`` where unreadable)."""
    from hftos.host import parse_cpulist

    d = root / f"cpu{cpu}" / "topology"

    def read(name: str) -> str | None:
        try:
            return (d / name).read_text().strip()
        except OSError:
            return None

    core, pkg = read("core_id"), read("physical_package_id")
    sib = parse_cpulist(read("thread_siblings_list") or read("core_cpus_list"))
    return {"cpu": cpu, "core": int(core) if core is not None else None,
            "package": int(pkg) if pkg is not None else None, "siblings": tuple(sib or (cpu,))}


def shm_placements(cpus: Sequence[int] | None = None, *, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Pairs of CPUs for a placement experiment, chosen from the affinity mask and sysfs topology.

    Returns ``{"same_cpu": (a, a), "smt_sibling": (a, b) | None, "other_core": (a, b) | None,
    "other_socket": (a, b) | None, "why": {placement: reason it is None}, "topology": [...]}``.
    ``other_core`` is a CPU on a different physical core of the same package; ``other_socket`` one
    in another package. ``cpus`` defaults to this process's affinity mask; ``root`` to
    ``/sys/devices/system/cpu`` (tests pass a fake tree).
    """
    mask = sorted(cpus) if cpus is not None else allowed_cpus()
    if not mask:
        raise ValueError("no CPUs given")
    base = Path(root) if root is not None else _TOPO
    topo = [_topology(c, base) for c in mask]
    first = topo[0]
    a = first["cpu"]
    out: dict[str, Any] = {"same_cpu": (a, a), "smt_sibling": None, "other_core": None, "other_socket": None,
                           "why": {}, "topology": topo}
    for t in topo[1:]:
        same_pkg = t["package"] == first["package"]
        if t["cpu"] in first["siblings"]:
            out["smt_sibling"] = out["smt_sibling"] or (a, t["cpu"])
        elif same_pkg:
            out["other_core"] = out["other_core"] or (a, t["cpu"])
        else:
            out["other_socket"] = out["other_socket"] or (a, t["cpu"])
    if len(mask) < 2:
        for k in ("smt_sibling", "other_core", "other_socket"):
            out["why"][k] = f"this process may only run on CPU {a}"
    else:
        if out["smt_sibling"] is None:
            out["why"]["smt_sibling"] = (f"CPU {a} has no SMT sibling in the affinity mask "
                                         f"(thread_siblings_list: {','.join(map(str, first['siblings']))})")
        if out["other_core"] is None:
            out["why"]["other_core"] = f"no other physical core of package {first['package']} in the affinity mask"
        if out["other_socket"] is None:
            out["why"]["other_socket"] = "one package (socket) only"
    return out


# ---- three kinds of shared mapping ---------------------------------------------------------------

_KINDS = {"shm_open": 0, "memfd_create": 1, "MAP_SHARED|MAP_ANONYMOUS": 2, "MAP_PRIVATE|MAP_ANONYMOUS": 3}


def _maps_line(addr: int) -> str:
    want = f"{addr:x}-"
    with open("/proc/self/maps") as f:
        for line in f:
            if line.startswith(want) or line.startswith(f"{addr:012x}-"):
                return " ".join(line.split())
    return "(not found)"


def _kinds_in_helper(size: int) -> list[dict[str, Any]]:
    c = _lib()
    prefix = runner.run_prefix()
    rows = []
    for kind, code in _KINDS.items():
        name = (f"/{prefix}-shm" if code == 0 else f"{prefix}-memfd").encode()
        addr, fd = c.ffi.new("void **"), c.ffi.new("int *")
        check(c.lib.shm_kind_open(code, name, size, addr, fd), f"{kind}: create")
        try:
            a = int(c.ffi.cast("uintptr_t", addr[0]))
            row: dict[str, Any] = {"kind": kind, "maps": _maps_line(a), "fd": None, "dev_shm": None}
            if fd[0] >= 0:
                row["fd"] = os.readlink(f"/proc/self/fd/{fd[0]}")
            if code == 0:
                p = Path("/dev/shm") / name.decode().lstrip("/")
                st = p.stat()
                row["dev_shm"] = f"{stat.filemode(st.st_mode)} {st.st_size} /dev/shm/{p.name}"
            seen = c.ffi.new("long *")
            check(c.lib.shm_kind_fork_write(addr[0], 42, seen), f"{kind}: fork")
            row["parent_sees_child_write"] = int(seen[0]) == 42
        finally:
            check(c.lib.shm_kind_close(code, name, addr[0], size, fd[0]), f"{kind}: close")
        row["dev_shm_after_close"] = (Path("/dev/shm") / name.decode().lstrip("/")).exists() if code == 0 else None
        rows.append(row)
    return rows


def shm_kinds(size: int = 4096, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Create one mapping of each kind, fork a child that writes 42 into it, and report.

    One dict per kind (``shm_open``, ``memfd_create``, ``MAP_SHARED|MAP_ANONYMOUS`` and, for
    contrast, ``MAP_PRIVATE|MAP_ANONYMOUS``): ``maps`` (the mapping's ``/proc/self/maps`` line, with
    the helper's addresses), ``fd`` (where ``/proc/self/fd/N`` points, or ``None``), ``dev_shm`` (the
    ``/dev/shm`` entry as ``ls -l`` would show mode, size and name, ``shm_open`` only),
    ``parent_sees_child_write`` and ``dev_shm_after_close`` (``False`` once unlinked).
    """
    size = count(size, "size")
    if size > 1 << 20:
        raise ValueError(f"size must be at most 1 MiB, got {size}")
    _lib()
    return runner.run(_kinds_in_helper, timeout=timeout, size=size)


# ---- robust mutex --------------------------------------------------------------------------------

def _robust_in_helper(wait_ms: int) -> dict[str, Any]:
    c = _lib()
    out = c.ffi.new("struct robust_report *")
    check(c.lib.robust_demo(wait_ms, out), "robust mutex demo")
    return _struct(c, out, "struct robust_report")


def robust_mutex_demo(wait_ms: int = 100, *, timeout: float = 30.0) -> dict[str, Any]:
    """A child takes three process-shared mutexes and is SIGKILLed holding them; what the next locker sees.

    Returns the raw return codes (``first_lock`` = ``EOWNERDEAD``, ``consistent`` = 0, ``relock`` = 0,
    ``unrecovered_lock`` = ``ENOTRECOVERABLE`` for a robust mutex unlocked without
    ``pthread_mutex_consistent``, ``plain_timedlock`` = ``ETIMEDOUT`` for a non-robust one after
    ``wait_ms``), ``value_seen`` (the half-updated value the dead owner left), ``plain_wait_ms``, and
    the same codes as names under ``names``.
    """
    if isinstance(wait_ms, bool) or not isinstance(wait_ms, int) or not 1 <= wait_ms <= 5000:
        raise ValueError(f"wait_ms must be an int from 1 to 5000, got {wait_ms!r}")
    _lib()
    d = runner.run(_robust_in_helper, timeout=timeout, wait_ms=wait_ms)
    d["names"] = {k: _errname(d[k]) for k in ("first_lock", "consistent", "relock", "unrecovered_lock",
                                               "plain_timedlock")}
    return d


# ---- safe initialisation -------------------------------------------------------------------------

def _init_in_helper(processes: int, careful: int, stagger_ms: int, timeout_ms: int) -> dict[str, Any]:
    c = _lib()
    out = c.ffi.new("struct init_report *")
    name = f"/{runner.run_prefix()}-init".encode()
    check(c.lib.init_race(name, processes, careful, stagger_ms, timeout_ms, out), "init race")
    return _struct(c, out, "struct init_report")


def init_race(processes: int = 4, *, careful: bool = True, stagger_ms: int = 5, timeout: float = 30.0) -> dict[str, Any]:
    """``processes`` processes start at once and all set up one shared segment.

    ``careful=True``: each tries ``shm_open(O_CREAT | O_EXCL, 0600)``; the one that succeeds
    initialises and publishes ``ready`` (release); the others get ``EEXIST``, wait until the segment
    is sized and ``ready`` (acquire), and never initialise. ``careful=False``: every process opens
    with ``O_CREAT`` and "constructs" (resets) the segment, process k after ``k * stagger_ms`` ms
    (erratum E55). Each process then adds 1 to a shared ``attached`` counter. Returns ``creators``,
    ``eexist``, ``saw_magic``, ``attached`` (equals ``processes`` only when careful) and ``mode``
    (``0o600``; 0 when careless, not recorded).
    """
    processes = count(processes, "processes")
    if processes > 64:
        raise ValueError(f"processes must be at most 64, got {processes}")
    if isinstance(stagger_ms, bool) or not isinstance(stagger_ms, int) or not 0 <= stagger_ms <= 100:
        raise ValueError(f"stagger_ms must be an int from 0 to 100, got {stagger_ms!r}")
    _lib()
    d = runner.run(_init_in_helper, timeout=timeout, processes=processes, careful=int(bool(careful)),
                   stagger_ms=stagger_ms, timeout_ms=_c_timeout_ms(timeout))
    d["processes"] = processes
    d["careful"] = bool(careful)
    return d


# ---- spinning ping-pong --------------------------------------------------------------------------

def _pp_in_helper(cpu_a: int, cpu_b: int, yield_every: int, warmup: int, iters: int, timeout_ms: int) -> np.ndarray:
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    check(c.lib.shm_spin_pingpong(cpu_a, cpu_b, yield_every, warmup, iters, c.ffi.cast("int64_t *", out.ctypes.data),
                                  timeout_ms), "shared-memory spin ping-pong")
    return out


def shm_spin_pingpong(n: int | None = None, *, cpus: CPUPair | None = None, timeout: float = 60.0) -> Result:
    """Round-trip time (ns) of a counter bounced between two processes through two shared cache lines.

    Side A stores ``i`` into ``ping`` and spins until ``pong == i``; side B spins on ``ping`` and
    echoes into ``pong`` (acquire loads, release stores, ``pause`` in the spin). No system call, no
    sleep: one round trip is two cache-line transfers.

    ``cpus=(a, b)`` as in :mod:`hftos.native.pingpong`: an int pins that side, ``None`` leaves it
    unpinned; default: the first two CPUs of the affinity mask, or both sides on the only CPU.
    Placement matters: on one CPU (``a == b``) a pure spin would wait for the scheduler tick, so
    there every spin iteration calls ``sched_yield()`` (the round trip is then two context
    switches, ``method["yield_every"] == 1``); with an unpinned side, every 1024th spin yields.
    """
    iters = count(n if n is not None else scaled(20000, smoke=1000))
    if cpus is None:
        mask = allowed_cpus()
        cpus = (mask[0], mask[1]) if len(mask) >= 2 else (mask[0], mask[0])
    a, b = cpu_pair(cpus, cross=False)
    same = a >= 0 and a == b
    yield_every = 1 if same else (1024 if a < 0 or b < 0 else 0)
    warmup = max(100, iters // 10)
    timeout_ms = _c_timeout_ms(timeout)
    _lib()
    samples = runner.run(_pp_in_helper, timeout=timeout, cpu_a=a, cpu_b=b, yield_every=yield_every, warmup=warmup,
                         iters=iters, timeout_ms=timeout_ms)
    pinned = [None if x < 0 else x for x in (a, b)]
    where = (f"CPU {a} (yielding)" if same else "CPUs " + ",".join("any" if x is None else str(x) for x in pinned))
    return Result.from_samples(f"shm spin round trip, {where}", samples, method={
        "clock": "CLOCK_MONOTONIC", "cpus": pinned, "same_cpu": same, "iterations": iters, "warmup": warmup,
        "yield_every": yield_every, "transport": "shm-spin",
        "sample": "one round trip A->B->A: two 64-byte lines in MAP_SHARED memory, acquire/release, pause"
                  + ("; sched_yield() every spin (one CPU)" if same else "")})


def shmsync_layout() -> dict[str, Any]:
    """Layout of ``shmsync.c``'s shared structures as compiled (offsets in bytes, lock-freedom)."""
    c = _lib()
    out = c.ffi.new("struct shmsync_layout *")
    c.lib.shmsync_layout(out)
    d = _struct(c, out, "struct shmsync_layout")
    d["long_lock_free"], d["int_lock_free"] = bool(d["long_lock_free"]), bool(d["int_lock_free"])
    return d


# ---- store-buffer litmus test --------------------------------------------------------------------

LITMUS_MODES = {"relaxed": 0, "acq_rel": 1, "fence": 2, "seq_cst": 3}


def _litmus_in_helper(mode: int, cpu_0: int, cpu_1: int, iters: int, timeout_ms: int) -> tuple[list[int], int]:
    c = _lib("litmus")
    counts = c.ffi.new("int64_t[4]")
    done = c.ffi.new("long *")
    check(c.lib.sb_litmus(mode, cpu_0, cpu_1, iters, counts, done, timeout_ms), "store-buffer litmus test")
    return [int(x) for x in counts], int(done[0])


def sb_litmus(iters: int | None = None, *, mode: str = "relaxed", cpus: CPUPair | None = None,
              timeout: float = 60.0) -> dict[str, Any]:
    """Run the store-buffer litmus test ``iters`` times between two processes on two CPUs.

    ``mode``: ``relaxed``, ``acq_rel``, ``fence`` (a seq_cst fence between store and load: ``mfence``
    on x86) or ``seq_cst`` (seq_cst store and load). Returns ``counts`` keyed ``"r0=0,r1=0"`` ...,
    ``both_zero`` (the outcome sequential consistency forbids), ``rounds`` (may fall short of
    ``iters`` if the C deadline hits first), ``mode``, ``cpus`` and ``machine``.
    """
    if mode not in LITMUS_MODES:
        raise ValueError(f"mode must be one of {', '.join(LITMUS_MODES)}, got {mode!r}")
    a, b = _two_cpus(cpus, "store-buffer litmus test")
    iters = count(iters if iters is not None else scaled(200_000, smoke=20_000), "iters")
    _lib("litmus")
    counts, rounds = runner.run(_litmus_in_helper, timeout=timeout, mode=LITMUS_MODES[mode], cpu_0=a, cpu_1=b,
                                iters=iters, timeout_ms=_c_timeout_ms(timeout))
    keyed = {f"r0={k >> 1},r1={k & 1}": counts[k] for k in range(4)}
    return {"mode": mode, "counts": keyed, "both_zero": counts[0], "rounds": rounds, "cpus": [a, b],
            "machine": os.uname().machine}


# ---- false sharing -------------------------------------------------------------------------------

def _fs_in_helper(cpu_0: int, cpu_1: int, distance: int, iters: int, locked: int, timeout_ms: int) -> tuple[list[int], list[int]]:
    c = _lib("falseshare")
    el, fin = c.ffi.new("int64_t[4]"), c.ffi.new("int64_t[2]")
    check(c.lib.false_sharing(cpu_0, cpu_1, distance, iters, locked, el, fin, timeout_ms), "false sharing")
    return [int(x) for x in el], [int(x) for x in fin]


def false_sharing(iters: int | None = None, *, distance: int = 8, cpus: CPUPair | None = None, locked: bool = False,
                  timeout: float = 60.0) -> dict[str, Any]:
    """Two processes each add ``iters`` to their own counter, ``distance`` bytes apart in shared memory.

    ``distance``: 8 (same 64-byte line) ... up to 4088, a multiple of 8. ``cpus=(a, b)`` pins the two
    processes (default: the first two CPUs of the affinity mask, or both on the only one; a pair
    with the same CPU is allowed and shows why false sharing needs two CPUs). ``locked``: use an
    atomic fetch_add (``lock add``) instead of a load and a store. Returns ``elapsed_ns`` (each
    process's loop time), ``wall_ns`` (from the first loop's start to the last one's end: on one CPU the loops take
    turns, so this is their sum), ``mops`` (both processes' increments per wall-clock second, in
    millions), ``ns_per_increment`` (wall time per increment of one process, ``wall_ns / iters``),
    ``same_line`` and the arguments.
    """
    if isinstance(distance, bool) or not isinstance(distance, int) or distance < 8 or distance % 8 or distance > 4088:
        raise ValueError(f"distance must be a multiple of 8 from 8 to 4088, got {distance!r}")
    iters = count(iters if iters is not None else scaled(10_000_000, smoke=1_000_000), "iters")
    if iters > 500_000_000:
        raise ValueError(f"iters must be at most 500000000, got {iters}")
    if cpus is None:
        mask = allowed_cpus()
        cpus = (mask[0], mask[1]) if len(mask) >= 2 else (mask[0], mask[0])
    a, b = cpu_pair(cpus, cross=False)
    _lib("falseshare")
    el, fin = runner.run(_fs_in_helper, timeout=timeout, cpu_0=a, cpu_1=b, distance=distance, iters=iters,
                         locked=int(bool(locked)), timeout_ms=_c_timeout_ms(timeout))
    if fin != [iters, iters]:
        raise RuntimeError(f"false_sharing: counters ended at {fin}, expected {iters} each")
    wall = max(el[1], el[3]) - min(el[0], el[2])
    return {"distance": distance, "same_line": distance < 64, "iters": iters, "locked": bool(locked),
            "cpus": [None if x < 0 else x for x in (a, b)], "elapsed_ns": [el[1] - el[0], el[3] - el[2]],
            "wall_ns": wall, "mops": 2 * iters / wall * 1e3, "ns_per_increment": wall / iters}


# ---- SPSC ring variants --------------------------------------------------------------------------

def _spscvar_in_helper(cpu_a: int, cpu_b: int, slots: int, padded: int, cached: int, messages: int,
                       timeout_ms: int) -> int:
    c = _lib("spscvar")
    el = c.ffi.new("int64_t *")
    check(c.lib.spscvar_throughput(cpu_a, cpu_b, slots, padded, cached, messages, el, timeout_ms), "SPSC variant")
    return int(el[0])


def spsc_variant(messages: int | None = None, *, slots: int = 1024, padded: bool = True, cached: bool = True,
                 cpus: CPUPair | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """One-way throughput of an SPSC ring with ``slots`` slots (power of two, 2-65536) between two processes.

    ``padded``: head, tail and slots on separate cache lines (else packed at offsets 0, 8, 16).
    ``cached``: keep a private copy of the other side's index. The consumer checks the sequence
    (a mismatch raises ``NativeError`` with ``EPROTO``). Returns ``mops``, ``ns_per_message``,
    ``elapsed_ns`` and the arguments.
    """
    if isinstance(slots, bool) or not isinstance(slots, int) or not 2 <= slots <= 65536 or slots & (slots - 1):
        raise ValueError(f"slots must be a power of two from 2 to 65536, got {slots!r}")
    a, b = _two_cpus(cpus, "SPSC ring")
    m = count(messages if messages is not None else scaled(2_000_000, smoke=100_000), "messages")
    _lib("spscvar")
    el = runner.run(_spscvar_in_helper, timeout=timeout, cpu_a=a, cpu_b=b, slots=slots, padded=int(bool(padded)),
                    cached=int(bool(cached)), messages=m, timeout_ms=_c_timeout_ms(timeout))
    return {"slots": slots, "capacity": slots - 1, "padded": bool(padded), "cached": bool(cached), "messages": m,
            "elapsed_ns": el, "mops": m / el * 1e3, "ns_per_message": el / m, "cpus": [a, b]}


def _sweep_messages(slots: int, messages: int) -> int:
    """Rings under 256 slots are hand-off bound (~a cache-line round trip per message): stream fewer messages."""
    return messages if slots >= 256 else max(1000, messages * slots // 256)


def _spscvars_in_helper(cpu_a: int, cpu_b: int, configs: list[tuple[int, int, int]], messages: int, repeats: int,
                        timeout_ms: int) -> list[list[int]]:
    import time

    c = _lib("spscvar")
    el = c.ffi.new("int64_t *")
    out: list[list[int]] = [[] for _ in configs]
    deadline = time.monotonic() + timeout_ms / 1000
    for _ in range(repeats):                       # interleaved: drift and noise hit every config alike
        for k, (slots, padded, cached) in enumerate(configs):
            left = max(100, int((deadline - time.monotonic()) * 1000))
            check(c.lib.spscvar_throughput(cpu_a, cpu_b, slots, padded, cached, _sweep_messages(slots, messages), el,
                                           left), f"SPSC variant slots={slots} padded={padded} cached={cached}")
            out[k].append(int(el[0]))
    return out


def spsc_variants(configs: Sequence[dict[str, Any]], messages: int | None = None, *, repeats: int = 3,
                  cpus: CPUPair | None = None, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Several :func:`spsc_variant` configurations in one helper, ``repeats`` rounds, interleaved.

    Each config is a dict with optional ``slots``, ``padded``, ``cached`` (defaults 1024, True,
    True). Rings under 256 slots stream ``messages * slots / 256`` messages (at least 1000): they
    are hand-off bound, and a million hand-offs would take seconds. Returns one dict per config
    with ``messages``, ``ns_per_message`` (one value per repeat), its ``median`` and ``best``, and
    ``mops`` at the median.
    """
    repeats = count(repeats, "repeats")
    if not configs:
        raise ValueError("configs must not be empty")
    norm = []
    for cfg in configs:
        unknown = set(cfg) - {"slots", "padded", "cached"}
        if unknown:
            raise ValueError(f"unknown config keys {sorted(unknown)}")
        slots = cfg.get("slots", 1024)
        if isinstance(slots, bool) or not isinstance(slots, int) or not 2 <= slots <= 65536 or slots & (slots - 1):
            raise ValueError(f"slots must be a power of two from 2 to 65536, got {slots!r}")
        norm.append((slots, int(bool(cfg.get("padded", True))), int(bool(cfg.get("cached", True)))))
    a, b = _two_cpus(cpus, "SPSC ring")
    m = count(messages if messages is not None else scaled(1_000_000, smoke=50_000), "messages")
    _lib("spscvar")
    runs = runner.run(_spscvars_in_helper, timeout=timeout, cpu_a=a, cpu_b=b, configs=norm, messages=m,
                      repeats=repeats, timeout_ms=_c_timeout_ms(timeout))
    rows = []
    for (slots, padded, cached), els in zip(norm, runs):
        mk = _sweep_messages(slots, m)
        per = [e / mk for e in els]
        med = float(np.median(per))
        rows.append({"slots": slots, "capacity": slots - 1, "padded": bool(padded), "cached": bool(cached),
                     "messages": mk, "ns_per_message": per, "median": med, "best": min(per), "mops": 1e3 / med,
                     "cpus": [a, b]})
    return rows


def spscvar_layout(padded: bool = True) -> dict[str, int]:
    """Offsets of head, tail and slots in ``spscvar.c``'s ring area, and the control block's size."""
    c = _lib("spscvar")
    h, t, s = c.ffi.new("long *"), c.ffi.new("long *"), c.ffi.new("long *")
    c.lib.spscvar_offsets(int(bool(padded)), h, t, s)
    return {"off_head": int(h[0]), "off_tail": int(t[0]), "off_slots": int(s[0]),
            "control_size": int(c.lib.spscvar_control_size()), "cache_line": 64}


# ---- seqlock -------------------------------------------------------------------------------------

def _seqlock_in_helper(mode: int, cpu_w: int, cpu_r: int, snapshots: int, gap_pauses: int, timeout_ms: int) -> dict[str, int]:
    c = _lib("seqlock")
    out = c.ffi.new("struct seqlock_report *")
    check(c.lib.seqlock_run(mode, cpu_w, cpu_r, snapshots, gap_pauses, timeout_ms, out), "seqlock")
    return _struct(c, out, "struct seqlock_report")


def seqlock_snapshots(snapshots: int | None = None, *, use_seqlock: bool = True, cpus: CPUPair | None = None,
                      gap_pauses: int = 32, timeout: float = 60.0) -> dict[str, Any]:
    """A writer process keeps publishing a one-line quote; a reader process takes ``snapshots`` copies.

    ``use_seqlock=False``: the reader just copies the eight words (and the writer does not touch
    the sequence counter): ``torn`` counts inconsistent snapshots. ``use_seqlock=True``: ``retries``
    counts attempts the reader threw away and ``torn`` must be 0. ``cpus=(writer, reader)``;
    default the first two CPUs of the affinity mask, or both on the only one. ``gap_pauses``:
    ``pause`` instructions between two versions. Returns the counts plus ``writes`` (versions
    published meanwhile) and ``ns_per_snapshot``.
    """
    if isinstance(gap_pauses, bool) or not isinstance(gap_pauses, int) or not 0 <= gap_pauses <= 100_000:
        raise ValueError(f"gap_pauses must be an int from 0 to 100000, got {gap_pauses!r}")
    n = count(snapshots if snapshots is not None else scaled(1_000_000, smoke=100_000), "snapshots")
    if cpus is None:
        mask = allowed_cpus()
        cpus = (mask[0], mask[1]) if len(mask) >= 2 else (mask[0], mask[0])
    w, r = cpu_pair(cpus, cross=False)
    _lib("seqlock")
    d = runner.run(_seqlock_in_helper, timeout=timeout, mode=int(bool(use_seqlock)), cpu_w=w, cpu_r=r, snapshots=n,
                   gap_pauses=gap_pauses, timeout_ms=_c_timeout_ms(timeout))
    d.update(use_seqlock=bool(use_seqlock), cpus=[None if x < 0 else x for x in (w, r)], gap_pauses=gap_pauses,
             ns_per_snapshot=d["elapsed_ns"] / max(1, d["snapshots"]))
    return d


def seqlock_is_torn(words: Sequence[int]) -> bool:
    """The reader's consistency check on eight words (word k = v * (k + 1), word 7 = xor of 0-6)."""
    if len(words) != 8:
        raise ValueError(f"a quote has 8 words, got {len(words)}")
    c = _lib("seqlock")
    arr = c.ffi.new("uint64_t[8]", [int(w) & (2**64 - 1) for w in words])
    return bool(c.lib.seqlock_is_torn(arr))


def seqlock_quote(version: int) -> list[int]:
    """The eight words the writer publishes for ``version`` (to build test cases)."""
    words = [(version * (k + 1)) & (2**64 - 1) for k in range(7)]
    x = 0
    for w in words:
        x ^= w
    return words + [x]


# ---- Vyukov MPMC ---------------------------------------------------------------------------------

def _mpmc_in_helper(producers: int, consumers: int, capacity: int, per_producer: int, cpus: list[int],
                    timeout_ms: int) -> dict[str, int]:
    c = _lib("mpmc")
    out = c.ffi.new("struct mpmc_report *")
    check(c.lib.mpmc_run(producers, consumers, capacity, per_producer, c.ffi.new("int[]", cpus), timeout_ms, out),
          "MPMC queue")
    return _struct(c, out, "struct mpmc_report")


def mpmc_queue(producers: int = 2, consumers: int = 2, *, per_producer: int | None = None, capacity: int = 1024,
               cpus: Sequence[int | None] | None = None, timeout: float = 60.0) -> dict[str, Any]:
    """``producers`` processes push disjoint ranges into one Vyukov MPMC queue; ``consumers`` pop them all.

    ``cpus``: one CPU (or ``None``) per process, producers first; default: round-robin over the
    affinity mask. Returns ``items``, ``received``, ``missing`` and ``duplicated`` (both must be 0),
    ``elapsed_ns``, ``mops`` and the arguments. At most 16 processes; ``capacity`` a power of two.
    """
    producers, consumers = count(producers, "producers"), count(consumers, "consumers")
    if producers + consumers > 16:
        raise ValueError(f"at most 16 processes, got {producers} + {consumers}")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 2 <= capacity <= 1 << 20 or capacity & (capacity - 1):
        raise ValueError(f"capacity must be a power of two from 2 to 2**20, got {capacity!r}")
    per = count(per_producer if per_producer is not None else scaled(200_000, smoke=20_000), "per_producer")
    if producers * per > 16 << 20:
        raise ValueError("at most 16 Mi items in total (the exactly-once tally uses one byte per item)")
    mask = allowed_cpus()
    nprocs = producers + consumers
    if cpus is None:
        pinned = [mask[k % len(mask)] for k in range(nprocs)]
    else:
        if len(cpus) != nprocs:
            raise ValueError(f"cpus needs one entry per process ({nprocs}), got {len(cpus)}")
        pinned = []
        for cpu in cpus:
            if cpu is None:
                pinned.append(-1)
            elif isinstance(cpu, bool) or not isinstance(cpu, int) or cpu not in mask:
                raise ValueError(f"CPU {cpu!r} is not in this process's affinity mask {mask}")
            else:
                pinned.append(cpu)
    _lib("mpmc")
    d = runner.run(_mpmc_in_helper, timeout=timeout, producers=producers, consumers=consumers, capacity=capacity,
                   per_producer=per, cpus=pinned, timeout_ms=_c_timeout_ms(timeout))
    d.update(producers=producers, consumers=consumers, capacity=capacity, per_producer=per,
             cpus=[None if x < 0 else x for x in pinned], mops=d["items"] / max(1, d["elapsed_ns"]) * 1e3)
    return d


def mpmc_layout() -> dict[str, Any]:
    """Layout of ``mpmc.c``'s queue header as compiled (offsets in bytes, lock-freedom)."""
    c = _lib("mpmc")
    out = c.ffi.new("struct mpmc_layout *")
    c.lib.mpmc_layout(out)
    d = _struct(c, out, "struct mpmc_layout")
    d["pos_lock_free"], d["tally_lock_free"] = bool(d["pos_lock_free"]), bool(d["tally_lock_free"])
    return d


__all__ = ["LITMUS_MODES", "NotEnoughCPUs", "false_sharing", "init_race", "mpmc_layout", "mpmc_queue",
           "robust_mutex_demo", "sb_litmus", "seqlock_is_torn", "seqlock_quote", "seqlock_snapshots",
           "shm_kinds", "shm_placements", "shm_spin_pingpong", "shmsync_layout", "spsc_variant", "spsc_variants",
           "spscvar_layout"]
