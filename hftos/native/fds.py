"""File descriptors, open file descriptions and fork (``fds.c``, chapter 3.2), and ``/proc/<pid>/fdinfo``.

:func:`fork_shared_offset` and :func:`two_writers` fork, so they run in a helper process
(:mod:`hftos.native.runner`); their files live in a private temporary directory that is removed
afterwards. :func:`fdinfo` and :func:`decode_flags` only read ``/proc``.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile

from . import build, runner
from .checks import check, count

_CDEF = """
struct fork_offsets {
    int64_t parent_before, child_start, child_after, parent_after;
    char parent_fdinfo[256];
};
int fork_shared_offset(const char *path, struct fork_offsets *out);
int two_writers(const char *path, int append, int records, int reclen);
"""


def _lib() -> build.Compiled:
    return build.load("fds", _CDEF)


def _flag_table() -> list[tuple[str, int]]:
    """(name, bit) for the open flags of this architecture, from Python's ``os`` constants.

    ``O_LARGEFILE`` is 0 in user space on 64-bit machines, yet the kernel sets it on every file it
    opens (``force_o_largefile()``), so fdinfo shows it: its kernel value is taken from the
    architecture's ``fcntl.h`` (0o100000 generic/x86, 0o400000 on arm64).
    """
    names = ["O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND", "O_NONBLOCK", "O_DSYNC", "O_ASYNC",
             "O_DIRECT", "O_DIRECTORY", "O_NOFOLLOW", "O_NOATIME", "O_CLOEXEC", "O_PATH", "O_TMPFILE"]
    table = [(n, getattr(os, n)) for n in names if getattr(os, n, 0)]
    if getattr(os, "O_SYNC", 0):
        table.append(("O_SYNC", os.O_SYNC & ~getattr(os, "O_DSYNC", 0)))  # __O_SYNC: the bit beyond O_DSYNC
    if getattr(os, "O_TMPFILE", 0):  # O_TMPFILE includes O_DIRECTORY; keep only its own bit
        table = [(n, v & ~os.O_DIRECTORY) if n == "O_TMPFILE" else (n, v) for n, v in table]
    table.append(("O_LARGEFILE", 0o400000 if platform.machine() in ("aarch64", "arm64") else 0o100000))
    return table


def decode_flags(flags: int) -> list[str]:
    """Names of the bits in an open-flags word (as in ``/proc/<pid>/fdinfo/<fd>``, printed in octal there).

    The access mode is the low two bits (``O_RDONLY`` 0, ``O_WRONLY`` 1, ``O_RDWR`` 2); unknown bits are
    returned as an octal number.
    """
    out = [("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE=3")[flags & 3]]
    rest = flags & ~3
    for name, bit in _flag_table():
        if bit and rest & bit == bit:
            out.append(name)
            rest &= ~bit
    if rest:
        out.append(oct(rest))
    return out


def fdinfo(fd: int, pid: int | str = "self") -> dict:
    """Parse ``/proc/<pid>/fdinfo/<fd>``: ``pos`` (offset), ``flags`` (int; the file is octal), ``flag_names``,
    ``mnt_id``, ``ino`` (Linux >= 5.14) and the raw ``text``."""
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        text = f.read()
    return _parse_fdinfo(text)


def _parse_fdinfo(text: str) -> dict:
    d: dict = {"text": text}
    for line in text.splitlines():
        key, _, val = line.partition(":")
        val = val.strip()
        if key == "flags":
            d["flags"] = int(val, 8)
            d["flag_names"] = decode_flags(d["flags"])
        elif key in ("pos", "mnt_id", "ino"):
            d[key] = int(val)
    return d


def _fork_in_helper() -> dict:
    c = _lib()
    tmp = tempfile.mkdtemp(prefix=runner.run_prefix())
    try:
        path = os.path.join(tmp, "shared.txt")
        r = c.ffi.new("struct fork_offsets *")
        check(c.lib.fork_shared_offset(path.encode(), r), "fork_shared_offset")
        with open(path, "rb") as f:
            content = f.read().decode()
        info = c.ffi.string(r.parent_fdinfo).decode()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"parent_before": r.parent_before, "child_start": r.child_start, "child_after": r.child_after,
            "parent_after": r.parent_after, "content": content, "parent_fdinfo": _parse_fdinfo(info)}


def fork_shared_offset(timeout: float = 30.0) -> dict:
    """Write ``parent:`` (7 bytes), fork, let the child write ``child;`` through the inherited descriptor.

    Returns ``parent_before`` (7), ``child_start`` (the child's offset at birth: 7, because it shares the
    description), ``child_after`` (13), ``parent_after`` (13: the parent sees the offset the child moved),
    ``content`` (``"parent:child;"``) and ``parent_fdinfo`` (parsed ``/proc/self/fdinfo`` of the parent's
    descriptor afterwards).
    """
    _lib()
    return runner.run(_fork_in_helper, timeout=timeout)


def _writers_in_helper(append: bool, records: int, reclen: int) -> dict:
    c = _lib()
    tmp = tempfile.mkdtemp(prefix=runner.run_prefix())
    try:
        path = os.path.join(tmp, "two.log")
        check(c.lib.two_writers(path.encode(), int(append), records, reclen), "two_writers")
        with open(path, "rb") as f:
            data = f.read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    recs = [data[i:i + reclen] for i in range(0, len(data), reclen)]
    whole = {ch: sum(1 for r in recs if r == bytes([ch]) * (reclen - 1) + b"\n") for ch in b"AB"}
    switches = sum(1 for a, b in zip(recs, recs[1:]) if a[:1] != b[:1])
    return {"append": append, "records": records, "reclen": reclen, "expected_bytes": 2 * records * reclen,
            "bytes": len(data), "intact_A": whole[ord("A")], "intact_B": whole[ord("B")],
            "lost_records": 2 * records - whole[ord("A")] - whole[ord("B")], "switches": switches,
            "head": data[: 4 * reclen].decode(errors="replace")}


def two_writers(append: bool, records: int = 2000, reclen: int = 32, timeout: float = 30.0) -> dict:
    """Two processes each ``open()`` one file and write ``records`` records of ``reclen`` bytes at the same time.

    With ``append=True`` (``O_APPEND``) no record is lost: ``bytes == expected_bytes`` and every record is
    intact. Without it each process has its own offset starting at 0, so they overwrite each other:
    ``bytes`` is about half of ``expected_bytes``. Returns the counts (``intact_A``, ``intact_B``,
    ``lost_records``, ``switches`` between A and B runs in the file) and the first records (``head``).
    """
    count(records, "records")
    if not 2 <= reclen <= 4096:
        raise ValueError(f"reclen must be in 2..4096, got {reclen}")
    if 2 * records * reclen > 64 * 2**20:
        raise ValueError("at most 64 MiB in total")
    _lib()
    return runner.run(_writers_in_helper, timeout=timeout, append=bool(append), records=records, reclen=reclen)
