"""Reading one process's (or thread's) state from ``/proc``: the fields the chapters show.

``/proc/<pid>/stat`` is one line of space-separated fields (``proc(5)``); field 2, the command name, is in
parentheses and may itself contain spaces and parentheses, so it is split at the *last* ``)``. ``/proc/<pid>/status``
is ``Key:\tvalue`` lines. Both vanish when the process is reaped: the readers then raise
:class:`ProcessLookupError`, which callers sampling a changing set of processes catch.

Linux state letters (field 3 of ``stat``; ``ps -o stat``):

=====  ==================================  ==========================================
letter  Linux state                         textbook five-state model
=====  ==================================  ==========================================
R      running or runnable (TASK_RUNNING)  ready *and* running: Linux does not split them
S      interruptible sleep                 waiting (a signal wakes it)
D      uninterruptible sleep               waiting (usually on I/O; signals wait)
T      stopped (SIGSTOP, SIGTSTP)          (no textbook state)
t      stopped by a tracer (ptrace)        (no textbook state)
Z      zombie: exited, not yet reaped      terminated
X      dead (being removed; rarely seen)   terminated
I      idle kernel thread                  (kernel threads only)
=====  ==================================  ==========================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

#: What each state letter means, for tables and legends.
STATE_NAMES: dict[str, str] = {
    "R": "running or runnable",
    "S": "interruptible sleep",
    "D": "uninterruptible sleep",
    "T": "stopped",
    "t": "stopped by tracer",
    "Z": "zombie",
    "X": "dead",
    "I": "idle kernel thread",
}

#: Clock ticks per second, the unit of utime/stime in ``stat`` (``sysconf(_SC_CLK_TCK)``, 100 on Linux).
CLK_TCK: int = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the course uses (``proc(5)`` numbers them from 1)."""

    pid: int          #: field 1
    comm: str         #: field 2, without the parentheses
    state: str        #: field 3: one of :data:`STATE_NAMES`
    ppid: int         #: field 4
    minflt: int       #: field 10: minor faults (no I/O needed)
    majflt: int       #: field 12: major faults (I/O needed)
    utime_s: float    #: field 14, converted from clock ticks to seconds
    stime_s: float    #: field 15, likewise
    priority: int     #: field 18: for SCHED_OTHER 20 + nice; for real-time policies -1 - rt_priority
    nice: int         #: field 19
    num_threads: int  #: field 20
    processor: int    #: field 39: the CPU it last ran on
    rt_priority: int  #: field 40
    policy: int       #: field 41: SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6

    @property
    def cpu_s(self) -> float:
        """User plus system CPU time, in seconds."""
        return self.utime_s + self.stime_s


def _path(pid: int | str, tid: int | None, name: str) -> Path:
    base = Path("/proc") / str(pid)
    return (base / "task" / str(tid) / name) if tid is not None else (base / name)


def parse_stat(line: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line."""
    head, sep, tail = line.rpartition(")")
    if not sep or " (" not in head:
        raise ValueError(f"not a /proc/<pid>/stat line: {line[:80]!r}")
    pid_text, comm = head.split(" (", 1)
    f = tail.split()
    # f[0] is field 3 (state); field k is f[k - 3].
    if len(f) < 39:
        raise ValueError(f"/proc/<pid>/stat line has {len(f) + 2} fields, expected at least 41")
    return ProcStat(
        pid=int(pid_text), comm=comm, state=f[0], ppid=int(f[1]), minflt=int(f[7]), majflt=int(f[9]),
        utime_s=int(f[11]) / CLK_TCK, stime_s=int(f[12]) / CLK_TCK, priority=int(f[15]), nice=int(f[16]),
        num_threads=int(f[17]), processor=int(f[36]), rt_priority=int(f[37]), policy=int(f[38]),
    )


def stat(pid: int | str = "self", tid: int | None = None) -> ProcStat:
    """``/proc/<pid>/stat`` (or ``/proc/<pid>/task/<tid>/stat``), parsed.

    Raises :class:`ProcessLookupError` if the process or thread no longer exists.
    """
    try:
        return parse_stat(_path(pid, tid, "stat").read_text())
    except FileNotFoundError:
        raise ProcessLookupError(f"no process {pid}" + (f" thread {tid}" if tid is not None else "")) from None


def status(pid: int | str = "self", tid: int | None = None) -> dict[str, str]:
    """``/proc/<pid>/status`` as a dict of strings (``VmRSS``, ``voluntary_ctxt_switches``, ...)."""
    try:
        text = _path(pid, tid, "status").read_text()
    except FileNotFoundError:
        raise ProcessLookupError(f"no process {pid}") from None
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def context_switches(pid: int | str = "self", tid: int | None = None) -> tuple[int, int]:
    """(voluntary, nonvoluntary) context switches so far, from ``/proc/<pid>/status``.

    Voluntary: the task blocked (read, sleep, futex wait). Nonvoluntary: it was preempted while runnable.
    """
    s = status(pid, tid)
    return int(s["voluntary_ctxt_switches"]), int(s["nonvoluntary_ctxt_switches"])


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size in KiB (``VmRSS``)."""
    return int(status(pid)["VmRSS"].split()[0])


# --------------------------------------------------------------------------- /proc/<pid>/maps

#: The kinds :func:`maps` assigns to address-space regions, in the order a summary lists them.
MAP_KINDS: tuple[str, ...] = (
    "program",       # file-backed mapping of the executable itself (text, read-only data, data)
    "bss",           # anonymous read-write pages right after a program's or library's data: zero-initialised data
    "heap",          # [heap]: the brk() area that malloc grows for small allocations
    "library",       # file-backed mapping of a shared library (*.so): its text, read-only data and data
    "anonymous",     # other anonymous memory: malloc arenas and large blocks, numpy arrays, reserved ranges
    "file",          # other mapped files (locale archive, fonts, /dev/shm segments, memfds)
    "thread stack",  # an anonymous read-write region holding a thread's stack pointer (glibc-allocated stack)
    "guard page",    # the PROT_NONE page(s) just below a thread stack: an overflow faults instead of corrupting
    "main stack",    # [stack]: the main thread's stack, grown on demand up to RLIMIT_STACK
    "vdso",          # [vdso]/[vvar]/[vsyscall]: kernel-provided code and data mapped into every process
    "other",         # anything else the kernel names in brackets ([uprobes], ...)
)

_VDSO_NAMES = ("[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]")


@dataclass(frozen=True)
class MapEntry:
    """One line of ``/proc/<pid>/maps``: a virtual memory area (VMA), with the kind :func:`maps` gave it."""

    start: int         #: first address
    end: int           #: one past the last address
    perms: str         #: ``rwxp``/``rwxs`` letters, ``-`` for absent; ``p`` private (copy-on-write), ``s`` shared
    offset: int        #: offset into the mapped file
    dev: str           #: device of the file, ``major:minor``
    inode: int         #: inode of the file (0 for anonymous memory)
    path: str          #: file path, ``[heap]``/``[stack]``/``[vdso]``..., or ``""`` for anonymous memory
    kind: str = "other"          #: one of :data:`MAP_KINDS`
    rss_kib: int | None = None   #: resident KiB (from ``smaps``), if requested

    @property
    def size(self) -> int:
        """Virtual size in bytes."""
        return self.end - self.start

    @property
    def anonymous(self) -> bool:
        """True for memory backed by no file (anonymous mmap, heap, stacks)."""
        return self.inode == 0 and not self.path.startswith("/")

    @property
    def segment(self) -> str:
        """For program and library mappings: ``text`` (executable), ``data`` (writable), ``read-only data``, or
        ``no access`` (alignment gaps); ``""`` for other kinds."""
        if self.kind not in ("program", "library"):
            return ""
        if "x" in self.perms:
            return "text"
        if "w" in self.perms:
            return "data"
        if "r" in self.perms:
            return "read-only data"
        return "no access"


def parse_maps_line(line: str) -> MapEntry:
    """Parse one ``/proc/<pid>/maps`` line (kind left as ``"other"``; :func:`parse_maps` classifies)."""
    parts = line.split(maxsplit=5)
    if len(parts) < 5 or "-" not in parts[0]:
        raise ValueError(f"not a /proc/<pid>/maps line: {line[:80]!r}")
    lo, hi = parts[0].split("-", 1)
    path = parts[5].strip() if len(parts) == 6 else ""
    try:
        return MapEntry(int(lo, 16), int(hi, 16), parts[1], int(parts[2], 16), parts[3], int(parts[4]), path)
    except ValueError:
        raise ValueError(f"not a /proc/<pid>/maps line: {line[:80]!r}") from None


def _is_library(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith(".so") or ".so." in name


def parse_maps(text: str, *, exe: str | None = None, stack_pointers: Iterable[int] = ()) -> list[MapEntry]:
    """Parse and classify the text of ``/proc/<pid>/maps`` (one :class:`MapEntry` per line).

    Rules, in order: a bracketed kernel name (``[heap]``, ``[stack]``, ``[vdso]``...) gives its kind; a mapping
    of ``exe`` (the path of ``/proc/<pid>/exe``) is ``program``; a ``*.so`` file is ``library``; another file is
    ``file``. Anonymous memory is ``thread stack`` if it contains one of ``stack_pointers``; ``guard page`` if it
    has no access rights and sits right below a thread stack; ``bss`` if it is writable and starts exactly where
    a program's or library's writable file mapping ends; otherwise ``anonymous``.
    """
    raw = [parse_maps_line(ln) for ln in text.splitlines() if ln.strip()]
    sps = sorted(set(stack_pointers))
    kinds: list[str] = []
    for e in raw:
        p = e.path
        if p.startswith("[anon:") or p.startswith("[anon_shmem:"):
            kind = "anonymous"
        elif p == "[heap]":
            kind = "heap"
        elif p == "[stack]" or p.startswith("[stack:"):
            kind = "main stack"
        elif p in _VDSO_NAMES:
            kind = "vdso"
        elif p.startswith("["):
            kind = "other"
        elif p and not e.anonymous:
            if exe is not None and p.removesuffix(" (deleted)") == exe:
                kind = "program"
            elif _is_library(p):
                kind = "library"
            else:
                kind = "file"
        elif p:  # a path without an inode, e.g. a deleted memfd
            kind = "file"
        elif any(e.start <= sp < e.end for sp in sps):
            kind = "thread stack"
        else:
            kind = "anonymous"
        kinds.append(kind)
    out: list[MapEntry] = []
    for i, (e, kind) in enumerate(zip(raw, kinds)):
        if kind == "anonymous" and not e.path:
            nxt = raw[i + 1] if i + 1 < len(raw) else None
            prev = raw[i - 1] if i > 0 else None
            if (e.perms.startswith("---") and nxt is not None and kinds[i + 1] == "thread stack"
                    and nxt.start == e.end):
                kind = "guard page"
            elif ("w" in e.perms and prev is not None and kinds[i - 1] in ("program", "library")
                  and "w" in prev.perms and prev.end == e.start):
                kind = "bss"
        out.append(MapEntry(e.start, e.end, e.perms, e.offset, e.dev, e.inode, e.path, kind))
    return out


def thread_stack_pointers(pid: int | str = "self") -> list[int]:
    """Stack pointers of the process's threads that are blocked in a system call (``/proc/<pid>/task/*/syscall``).

    A thread that is running, or whose ``syscall`` file may not be read (another user's process, ptrace
    restrictions), contributes nothing.
    """
    sps: list[int] = []
    base = Path("/proc") / str(pid) / "task"
    try:
        tids = list(base.iterdir())
    except OSError:
        return sps
    for t in tids:
        try:
            fields = (t / "syscall").read_text().split()
        except OSError:
            continue
        if len(fields) >= 3 and fields[0].lstrip("-").isdigit():
            try:
                sps.append(int(fields[-2], 16))
            except ValueError:
                pass
    return sps


def _smaps(pid: int | str) -> tuple[str, dict[int, int]]:
    """One read of ``/proc/<pid>/smaps``: its region lines (the text of ``maps``) and start address -> ``Rss`` KiB.

    Taking both from one read keeps them consistent while the process maps and unmaps memory (another thread of
    a busy process can change the address space between a read of ``maps`` and a read of ``smaps``).
    """
    regions: list[str] = []
    rss: dict[int, int] = {}
    start = None
    for line in _path(pid, None, "smaps").read_text().splitlines():
        head = line.split(maxsplit=1)[0] if line.strip() else ""
        if "-" in head and not head.endswith(":"):
            regions.append(line)
            start = int(head.split("-", 1)[0], 16)
        elif head == "Rss:" and start is not None:
            rss[start] = int(line.split()[1])
    return "\n".join(regions), rss


def maps(pid: int | str = "self", *, rss: bool = False) -> list[MapEntry]:
    """The address space of a process, one classified :class:`MapEntry` per region (see :func:`parse_maps`).

    ``rss=True`` also fills ``rss_kib`` of each region from ``/proc/<pid>/smaps`` (slower: the kernel walks
    the page tables). Raises :class:`ProcessLookupError` if the process does not exist.
    """
    try:
        text, table = _smaps(pid) if rss else (_path(pid, None, "maps").read_text(), {})
        try:
            exe: str | None = os.readlink(_path(pid, None, "exe"))
        except OSError:
            exe = None
        entries = parse_maps(text, exe=exe.removesuffix(" (deleted)") if exe else None,
                             stack_pointers=thread_stack_pointers(pid))
        if rss:
            entries = [MapEntry(e.start, e.end, e.perms, e.offset, e.dev, e.inode, e.path, e.kind,
                                table.get(e.start)) for e in entries]
    except FileNotFoundError:
        raise ProcessLookupError(f"no process {pid}") from None
    return entries


@dataclass(frozen=True)
class MapSummary:
    """Regions of one kind: how many, their virtual size and (if known) resident size, in KiB."""

    kind: str
    regions: int
    size_kib: int
    rss_kib: int | None


def summarize_maps(entries: Iterable[MapEntry]) -> list[MapSummary]:
    """One :class:`MapSummary` per kind present, in :data:`MAP_KINDS` order."""
    acc: dict[str, list[int]] = {}
    rss_known: dict[str, bool] = {}
    for e in entries:
        a = acc.setdefault(e.kind, [0, 0, 0])
        a[0] += 1
        a[1] += e.size // 1024
        if e.rss_kib is not None:
            a[2] += e.rss_kib
            rss_known[e.kind] = True
    order = [k for k in MAP_KINDS if k in acc] + sorted(k for k in acc if k not in MAP_KINDS)
    return [MapSummary(k, acc[k][0], acc[k][1], acc[k][2] if rss_known.get(k) else None) for k in order]


# --------------------------------------------------------------------------- signal masks (chapter 5)

#: The ``/proc/<pid>/status`` lines that describe a task's signals (``fs/proc/array.c``, ``task_sig()``).
SIGNAL_FIELDS: tuple[str, ...] = ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")


@dataclass(frozen=True)
class SignalMasks:
    """The signal state of one task as ``/proc/<pid>/status`` shows it, decoded into signal numbers.

    Each set is a sorted tuple of signal numbers (1..64). ``queued``/``queue_limit`` is the ``SigQ`` line: signals
    queued for this task's *real user* across all of that user's processes, against ``RLIMIT_SIGPENDING``.
    """

    queued: int                        #: SigQ, first number
    queue_limit: int                   #: SigQ, second number: RLIMIT_SIGPENDING (``ulimit -i``)
    pending: tuple[int, ...]           #: SigPnd: pending for this thread only (thread-directed: tgkill, pthread_kill)
    shared_pending: tuple[int, ...]    #: ShdPnd: pending for the whole process (kill, sigqueue to the pid)
    blocked: tuple[int, ...]           #: SigBlk: this thread's blocked mask
    ignored: tuple[int, ...]           #: SigIgn: disposition SIG_IGN (per process)
    caught: tuple[int, ...]            #: SigCgt: a handler is installed (per process)


def decode_sigset(hex_mask: str) -> tuple[int, ...]:
    """Signal numbers in a ``/proc`` signal mask: bit ``n - 1`` set means signal ``n`` is in the set.

    >>> decode_sigset("0000000000000201")
    (1, 10)
    """
    try:
        value = int(hex_mask, 16)
    except ValueError:
        raise ValueError(f"not a hexadecimal signal mask: {hex_mask!r}") from None
    return tuple(bit + 1 for bit in range(value.bit_length()) if value >> bit & 1)


def parse_signal_masks(text: str) -> SignalMasks:
    """Decode the ``SigQ`` and ``Sig*``/``ShdPnd`` lines of the text of ``/proc/<pid>/status``."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    missing = [k for k in ("SigQ", *SIGNAL_FIELDS) if k not in fields]
    if missing:
        raise ValueError(f"not the text of /proc/<pid>/status: no {', '.join(missing)} line")
    queued, _, limit = fields["SigQ"].partition("/")
    sets = [decode_sigset(fields[k]) for k in SIGNAL_FIELDS]
    return SignalMasks(int(queued), int(limit), *sets)


def signal_masks(pid: int | str = "self", tid: int | None = None) -> SignalMasks:
    """The decoded signal state of a process (its main thread) or of one thread; see :class:`SignalMasks`.

    ``SigPnd`` and ``SigBlk`` belong to one thread: ``/proc/<pid>/status`` shows the main thread's, and
    ``tid`` selects another (``/proc/<pid>/task/<tid>/status``). Raises :class:`ProcessLookupError` if the
    process is gone.
    """
    try:
        return parse_signal_masks(_path(pid, tid, "status").read_text())
    except FileNotFoundError:
        raise ProcessLookupError(f"no process {pid}") from None


def signal_name(signo: int) -> str:
    """A name for a signal number as glibc programs see it: ``SIGUSR1``, ``SIGRTMIN+1``, ``SIG32``.

    Numbers 32 and 33 are the kernel's first real-time signals, which glibc keeps for itself (thread
    cancellation and ``setxid``); glibc's ``SIGRTMIN`` is therefore 34 (Python's ``signal.SIGRTMIN``).
    """
    import signal as _signal

    if isinstance(signo, bool) or not isinstance(signo, int) or not 1 <= signo <= 64:
        raise ValueError(f"a Linux signal number is 1..64, got {signo!r}")
    rtmin, rtmax = int(_signal.SIGRTMIN), int(_signal.SIGRTMAX)
    if rtmin <= signo <= rtmax:
        return "SIGRTMIN" if signo == rtmin else ("SIGRTMAX" if signo == rtmax else f"SIGRTMIN+{signo - rtmin}")
    try:
        return _signal.Signals(signo).name
    except ValueError:
        return f"SIG{signo}"
