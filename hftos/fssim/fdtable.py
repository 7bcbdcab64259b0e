"""File-description semantics: processes, fd tables, open file descriptions and inodes, step by step.

The kernel keeps three layers between a process and a file's bytes (``include/linux/fdtable.h``,
``include/linux/fs.h``):

- each process has an **fd table**: small integers (file descriptors) pointing at open file descriptions,
  plus one per-descriptor flag, ``FD_CLOEXEC``;
- an **open file description** (``struct file``) holds the file **offset** and the **status flags**
  (``O_APPEND``, ...) and a reference count; ``open()`` always makes a new one, while ``dup()``, ``dup2()`` and
  ``fork()`` make new descriptors that point at the *same* one, so they share the offset and the flags;
- the **inode** holds the contents; two descriptions of one file share the bytes, not the offset.

This module simulates that on a script and can run the same script against the real kernel
(:func:`run_kernel`) so the two can be compared.

Script format (one operation per line; ``#`` starts a comment; blank lines are ignored)::

    <proc> open <name> [flags]      flags: comma-separated subset of append,trunc,cloexec; O_RDWR|O_CREAT always
    <proc> dup <fd>
    <proc> dup2 <oldfd> <newfd>
    <proc> fork <newproc>           the new process gets a copy of <proc>'s fd table
    <proc> write <fd> <text>        <text> is one word (no spaces); writes its bytes
    <proc> read <fd> <n>            reads up to n bytes
    <proc> lseek <fd> <offset> [set|cur|end]
    <proc> setfl <fd> append|none   fcntl(F_SETFL): status flags live in the description, so they are shared
    <proc> close <fd>
    <proc> exec                     closes every descriptor marked FD_CLOEXEC
    <proc> exit                     closes every descriptor; the process is gone

The first process is ``p0`` and exists from the start. Every process starts with descriptors 0, 1 and 2 taken
(stdin, stdout, stderr, not modelled further). Rules, as in the kernel:

- a new descriptor (``open``, ``dup``) is the **lowest free number** (POSIX; ``fs/file.c: alloc_fd``);
- ``dup``/``dup2``/``fork`` copies have ``FD_CLOEXEC`` clear, except that ``fork`` copies the flag;
  ``dup2(fd, fd)`` does nothing; ``dup2`` onto an open descriptor closes it first;
- a write with ``O_APPEND`` first moves the offset to the end of the file, atomically with the write;
- a write past the end of the file leaves a hole that reads as zero bytes (shown as ``\\0``);
- ``trunc`` at open empties the file; reading at or past the end returns 0 bytes;
- a description is freed when its last descriptor closes (reference count 0).

Descriptions are numbered in order of creation (``#0``, ``#1``, ...) so a trace can be checked by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Collection, Sequence

__all__ = ["Op", "Description", "Process", "Step", "State", "parse", "simulate", "random_script", "run_kernel",
           "format_trace", "format_state", "compare", "main"]

OPS = ("open", "dup", "dup2", "fork", "write", "read", "lseek", "setfl", "close", "exec", "exit")
OPEN_FLAGS = ("append", "trunc", "cloexec")
WHENCE = {"set": 0, "cur": 1, "end": 2}
MAX_FD = 63
FIRST_PROC = "p0"


@dataclass(frozen=True)
class Op:
    """One parsed script line."""
    line: int
    proc: str
    op: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return " ".join((self.proc, self.op) + self.args)


@dataclass
class Description:
    """An open file description (``struct file``): offset, status flags, reference count."""
    id: int
    path: str
    offset: int = 0
    append: bool = False
    refs: int = 0


@dataclass
class Process:
    """A process: its fd table maps a descriptor to (description id, FD_CLOEXEC)."""
    name: str
    fds: dict[int, tuple[int, bool]] = field(default_factory=dict)


@dataclass
class Step:
    """One executed operation and what it returned (an fd, a byte count, the data read, an offset)."""
    op: Op
    result: Any
    note: str


@dataclass
class State:
    """Everything at the end of a run."""
    procs: dict[str, Process]
    descs: dict[int, Description]
    files: dict[str, bytes]
    steps: list[Step]

    def offsets(self) -> dict[str, dict[int, int]]:
        """Per live process, per descriptor >= 3: the offset of its description."""
        return {p.name: {fd: self.descs[d].offset for fd, (d, _) in sorted(p.fds.items()) if fd >= 3}
                for p in self.procs.values()}

    def flags(self) -> dict[str, dict[int, str]]:
        """Per live process, per descriptor >= 3: ``append``/``cloexec`` flags as a comma list ("" for none)."""
        out: dict[str, dict[int, str]] = {}
        for p in self.procs.values():
            out[p.name] = {fd: ",".join(x for x, on in (("append", self.descs[d].append), ("cloexec", ce)) if on)
                           for fd, (d, ce) in sorted(p.fds.items()) if fd >= 3}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"results": [s.result for s in self.steps], "offsets": self.offsets(), "flags": self.flags(),
                "files": {k: v.decode("latin-1") for k, v in sorted(self.files.items())}}


def _int(s: str, what: str, lineno: int) -> int:
    try:
        return int(s)
    except ValueError:
        raise ValueError(f"line {lineno}: {what} must be an integer, got {s!r}") from None


def parse(text: str) -> list[Op]:
    """Parse a script (see the module docstring) into :class:`Op` s; ``ValueError`` names the bad line."""
    ops: list[Op] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2:
            raise ValueError(f"line {lineno}: expected '<proc> <op> ...', got {line!r}")
        proc, op, args = parts[0], parts[1], tuple(parts[2:])
        if op not in OPS:
            raise ValueError(f"line {lineno}: unknown operation {op!r} (one of {', '.join(OPS)})")
        nargs = {"open": (1, 2), "dup": (1, 1), "dup2": (2, 2), "fork": (1, 1), "write": (2, 2), "read": (2, 2),
                 "lseek": (2, 3), "setfl": (2, 2), "close": (1, 1), "exec": (0, 0), "exit": (0, 0)}[op]
        if not nargs[0] <= len(args) <= nargs[1]:
            raise ValueError(f"line {lineno}: {op} takes {nargs[0]}" + (f"-{nargs[1]}" if nargs[1] != nargs[0] else "")
                             + f" argument(s), got {len(args)}")
        if op == "open":
            if "/" in args[0] or args[0] in (".", ".."):
                raise ValueError(f"line {lineno}: a file name must not contain '/', got {args[0]!r}")
            for f in (args[1].split(",") if len(args) > 1 else ()):
                if f not in OPEN_FLAGS:
                    raise ValueError(f"line {lineno}: unknown open flag {f!r} (one of {', '.join(OPEN_FLAGS)})")
        if op in ("dup", "dup2", "write", "read", "lseek", "setfl", "close"):
            fd = _int(args[0], "fd", lineno)
            if fd < 0:
                raise ValueError(f"line {lineno}: fd must be >= 0")
        if op == "dup2" and not 0 <= _int(args[1], "newfd", lineno) <= MAX_FD:
            raise ValueError(f"line {lineno}: newfd must be in 0..{MAX_FD}")
        if op == "read" and _int(args[1], "n", lineno) < 0:
            raise ValueError(f"line {lineno}: n must be >= 0")
        if op == "lseek":
            _int(args[1], "offset", lineno)
            if len(args) > 2 and args[2] not in WHENCE:
                raise ValueError(f"line {lineno}: whence must be set, cur or end, got {args[2]!r}")
        if op == "setfl" and args[1] not in ("append", "none"):
            raise ValueError(f"line {lineno}: setfl takes 'append' or 'none', got {args[1]!r}")
        ops.append(Op(lineno, proc, op, args))
    return ops


def _lowest_free(p: Process) -> int:
    fd = 0
    while fd in p.fds:
        fd += 1
    if fd > MAX_FD:
        raise ValueError(f"{p.name}: too many open descriptors (limit {MAX_FD + 1} in this model)")
    return fd


def simulate(script: str | list[Op]) -> State:
    """Run a script; returns the final :class:`State` with a :class:`Step` per operation.

    Raises ``ValueError`` for an unknown process, a closed descriptor (EBADF), a negative resulting offset
    (EINVAL), a process name used twice, or an operation on a process that has exited.
    """
    ops = parse(script) if isinstance(script, str) else list(script)
    procs: dict[str, Process] = {FIRST_PROC: Process(FIRST_PROC, {0: (-1, False), 1: (-1, False), 2: (-1, False)})}
    descs: dict[int, Description] = {-1: Description(-1, "<tty>", refs=3)}
    files: dict[str, bytes] = {}
    steps: list[Step] = []
    seen = {FIRST_PROC}
    next_id = 0

    def desc_of(p: Process, fd: int, op: Op) -> Description:
        if fd not in p.fds:
            raise ValueError(f"line {op.line}: {p.name} has no descriptor {fd} (EBADF)")
        d = descs[p.fds[fd][0]]
        if d.id < 0 and op.op in ("write", "read", "lseek", "setfl"):
            raise ValueError(f"line {op.line}: descriptors 0-2 are the terminal and are not modelled; use fd >= 3")
        return d

    def drop(p: Process, fd: int) -> None:
        d = descs[p.fds.pop(fd)[0]]
        d.refs -= 1
        if d.refs == 0 and d.id >= 0:
            del descs[d.id]

    for op in ops:
        if op.proc not in procs:
            why = "has exited" if op.proc in seen else "does not exist (create it with fork)"
            raise ValueError(f"line {op.line}: process {op.proc!r} {why}")
        p = procs[op.proc]
        a = op.args
        if op.op == "open":
            flags = set(a[1].split(",")) if len(a) > 1 else set()
            fd = _lowest_free(p)
            d = Description(next_id, a[0], 0, "append" in flags, 1)
            next_id += 1
            descs[d.id] = d
            files.setdefault(a[0], b"")
            if "trunc" in flags:
                files[a[0]] = b""
            p.fds[fd] = (d.id, "cloexec" in flags)
            steps.append(Step(op, fd, f"fd {fd} -> new description #{d.id} ({a[0]}, offset 0"
                                      f"{', O_APPEND' if d.append else ''}{', FD_CLOEXEC' if 'cloexec' in flags else ''})"))
        elif op.op in ("dup", "dup2"):
            old = int(a[0])
            d = desc_of(p, old, op)
            closed = ""
            if op.op == "dup":
                new = _lowest_free(p)
            else:
                new = int(a[1])
                if new == old:
                    steps.append(Step(op, new, f"dup2({old}, {old}) does nothing"))
                    continue
                if new in p.fds:
                    victim = descs[p.fds[new][0]]
                    drop(p, new)
                    closed = (f"closed fd {new} first (description #{victim.id} "
                              + (f"refs {victim.refs}); " if victim.refs else "freed); "))
            p.fds[new] = (d.id, False)
            d.refs += 1
            steps.append(Step(op, new, closed + f"fd {new} -> description #{d.id} (shared with fd {old}; "
                                               f"refs {d.refs})"))
        elif op.op == "fork":
            name = a[0]
            if name in seen:
                raise ValueError(f"line {op.line}: process name {name!r} already used")
            seen.add(name)
            child = Process(name, dict(p.fds))
            for did, _ in child.fds.values():
                descs[did].refs += 1
            procs[name] = child
            shared = sorted({did for did, _ in child.fds.values() if did >= 0})
            steps.append(Step(op, name, f"{name} copies {p.name}'s fd table; shares description(s) "
                                        f"{', '.join('#%d' % s for s in shared) or 'none'}"))
        elif op.op == "write":
            d = desc_of(p, int(a[0]), op)
            data = a[1].encode()
            content = files[d.path]
            if d.append:
                d.offset = len(content)
            if d.offset > len(content):
                content = content + b"\0" * (d.offset - len(content))
            content = content[:d.offset] + data + content[d.offset + len(data):]
            files[d.path] = content
            start = d.offset
            d.offset += len(data)
            steps.append(Step(op, len(data), f"wrote {len(data)} B at {start} via #{d.id}; offset now {d.offset}"))
        elif op.op == "read":
            d = desc_of(p, int(a[0]), op)
            n = int(a[1])
            got = files[d.path][d.offset:d.offset + n]
            d.offset += len(got)
            steps.append(Step(op, got.decode("latin-1"), f"read {len(got)} B via #{d.id}; offset now {d.offset}"))
        elif op.op == "lseek":
            d = desc_of(p, int(a[0]), op)
            whence = a[2] if len(a) > 2 else "set"
            base = {"set": 0, "cur": d.offset, "end": len(files[d.path])}[whence]
            new_off = base + int(a[1])
            if new_off < 0:
                raise ValueError(f"line {op.line}: resulting offset {new_off} is negative (EINVAL)")
            d.offset = new_off
            steps.append(Step(op, new_off, f"description #{d.id} offset = {new_off}"))
        elif op.op == "setfl":
            d = desc_of(p, int(a[0]), op)
            d.append = a[1] == "append"
            steps.append(Step(op, 0, f"description #{d.id} O_APPEND {'on' if d.append else 'off'} "
                                     f"(every descriptor sharing it sees this)"))
        elif op.op == "close":
            fd = int(a[0])
            d = desc_of(p, fd, op)
            drop(p, fd)
            steps.append(Step(op, 0, f"fd {fd} closed; description #{d.id} "
                                     + (f"refs {d.refs}" if d.refs else "freed")))
        elif op.op == "exec":
            gone = sorted(fd for fd, (_, ce) in p.fds.items() if ce)
            for fd in gone:
                drop(p, fd)
            steps.append(Step(op, 0, f"exec closed FD_CLOEXEC fds {gone}" if gone else "exec: no FD_CLOEXEC fds"))
        elif op.op == "exit":
            for fd in sorted(p.fds):
                drop(p, fd)
            del procs[p.name]
            steps.append(Step(op, 0, f"{p.name} exited; all its descriptors closed"))
    descs.pop(-1, None)
    return State(procs, descs, files, steps)


def format_trace(state: State) -> str:
    """The step-by-step trace: line, operation, result, what happened."""
    rows = [f"{'#':>3}  {'operation':<24} {'result':<8} what happened"]
    for i, s in enumerate(state.steps, 1):
        rows.append(f"{i:>3}  {str(s.op):<24} {s.result!r:<8} {s.note}")
    return "\n".join(rows)


def format_state(state: State) -> str:
    """Final fd tables, descriptions and file contents."""
    out = ["fd tables (fd -> description, offset, flags):"]
    for name, p in state.procs.items():
        items = [f"{fd}->#{d} @{state.descs[d].offset}" + (f" [{fl}]" if (fl := state.flags()[name][fd]) else "")
                 for fd, (d, _) in sorted(p.fds.items()) if fd >= 3]
        out.append(f"  {name}: " + (", ".join(items) or "(only 0-2)"))
    out.append("open file descriptions:")
    for d in sorted(state.descs.values(), key=lambda d: d.id):
        out.append(f"  #{d.id}: {d.path} offset {d.offset} refs {d.refs}{' O_APPEND' if d.append else ''}")
    if not state.descs:
        out.append("  (none)")
    out.append("files:")
    for name, content in sorted(state.files.items()):
        out.append(f"  {name}: {content.decode('latin-1')!r} ({len(content)} B)")
    return "\n".join(out)


def random_script(seed: int, n: int = 20, *, procs: int = 3, files: int = 2, ops: Collection[str] | None = None,
                  open_flags: Sequence[str] = OPEN_FLAGS) -> str:
    """A valid random script of ``n`` operations (deterministic in ``seed``) for property tests and practice.

    Uses at most ``procs`` processes and ``files`` file names; never produces an invalid operation. ``ops`` limits
    the operations used (default: all; ``open`` must be among them) and ``open_flags`` the flags ``open`` may get
    (Lab 3 uses a subset without ``read``, ``exec`` and ``cloexec``).
    """
    if n < 1 or procs < 1 or files < 1:
        raise ValueError("n, procs and files must be >= 1")
    if ops is not None and "open" not in ops:
        raise ValueError("ops must include 'open'")
    if not set(open_flags) <= set(OPEN_FLAGS):
        raise ValueError(f"open_flags must be a subset of {OPEN_FLAGS}, got {tuple(open_flags)}")
    rng = random.Random(seed)
    names = [chr(ord("a") + i) + ".txt" for i in range(files)]
    lines: list[str] = []
    tables: dict[str, set[int]] = {FIRST_PROC: set()}
    cloexec: dict[str, set[int]] = {FIRST_PROC: set()}
    made = 1
    words = ["ab", "xyz", "hello", "Q", "0123456789"]

    def lowest(t: set[int]) -> int:
        fd = 3
        while fd in t:
            fd += 1
        return fd

    while len(lines) < n:
        pname = rng.choice(sorted(tables))
        t = tables[pname]
        choices = ["open"] * 3 + (["dup", "write", "write", "read", "lseek", "close", "dup2", "setfl"] if t else [])
        if made < procs:
            choices.append("fork")
        choices += ["exec"] if t else []
        if len(tables) > 1:
            choices.append("exit")
        if ops is not None:
            choices = [c for c in choices if c in ops]
        op = rng.choice(choices)
        fd = rng.choice(sorted(t)) if t else 0
        if op == "open":
            if len(t) >= 8:
                continue
            fl = [f for f in open_flags if rng.random() < (0.3 if f != "trunc" else 0.1)]
            new = lowest(t)
            t.add(new)
            if "cloexec" in fl:
                cloexec[pname].add(new)
            lines.append(f"{pname} open {rng.choice(names)}" + (f" {','.join(fl)}" if fl else ""))
        elif op == "dup":
            if len(t) >= 8:
                continue
            new = lowest(t)
            t.add(new)
            lines.append(f"{pname} dup {fd}")
        elif op == "dup2":
            new = rng.randint(3, 10)
            if new != fd:
                t.add(new)
                cloexec[pname].discard(new)
            lines.append(f"{pname} dup2 {fd} {new}")
        elif op == "fork":
            child = f"p{made}"
            made += 1
            tables[child] = set(t)
            cloexec[child] = set(cloexec[pname])
            lines.append(f"{pname} fork {child}")
        elif op == "write":
            lines.append(f"{pname} write {fd} {rng.choice(words)}")
        elif op == "read":
            lines.append(f"{pname} read {fd} {rng.randint(0, 8)}")
        elif op == "lseek":
            whence = rng.choice(list(WHENCE))
            off = rng.randint(0, 6) if whence == "set" else rng.randint(0, 3)
            lines.append(f"{pname} lseek {fd} {off} {whence}")
        elif op == "setfl":
            lines.append(f"{pname} setfl {fd} {rng.choice(['append', 'none'])}")
        elif op == "close":
            t.discard(fd)
            cloexec[pname].discard(fd)
            lines.append(f"{pname} close {fd}")
        elif op == "exec":
            t -= cloexec[pname]
            cloexec[pname] = set()
            lines.append(f"{pname} exec")
        elif op == "exit":
            if pname == FIRST_PROC and len(tables) == 1:
                continue
            del tables[pname]
            del cloexec[pname]
            lines.append(f"{pname} exit")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the real kernel

_PIPE_BASE = 200  # command/reply pipes live at fd 200+ so descriptors from 3 up match the model


def _send(fd: int, obj: Any) -> None:
    data = json.dumps(obj).encode()
    data = struct.pack("<I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def _recv(fd: int) -> Any:
    def exact(k: int) -> bytes:
        buf = b""
        while len(buf) < k:
            chunk = os.read(fd, k - len(buf))
            if not chunk:
                raise EOFError("peer closed")
            buf += chunk
        return buf
    (n,) = struct.unpack("<I", exact(4))
    return json.loads(exact(n))


def _serve(cmd_fd: int, rep_fd: int, pipes: dict[str, list[int]], root: str) -> None:
    """A process of the script: obey commands from the coordinator until told to exit. Never returns."""
    import fcntl
    while True:
        msg = _recv(cmd_fd)
        op, a = msg["op"], msg["args"]
        try:
            if op == "open":
                flags = set(a[1].split(",")) if len(a) > 1 else set()
                fl = os.O_RDWR | os.O_CREAT | (os.O_APPEND if "append" in flags else 0) \
                    | (os.O_TRUNC if "trunc" in flags else 0)
                fd = os.open(os.path.join(root, a[0]), fl, 0o644)  # Python always adds O_CLOEXEC (PEP 446)
                os.set_inheritable(fd, "cloexec" not in flags)
                res: Any = fd
            elif op == "dup":
                res = fcntl.fcntl(int(a[0]), fcntl.F_DUPFD, 0)  # like dup(2): lowest free, FD_CLOEXEC clear
            elif op == "dup2":
                res = os.dup2(int(a[0]), int(a[1]), inheritable=True)
            elif op == "fork":
                pid = os.fork()
                if pid == 0:
                    c, r = pipes[a[0]]
                    _serve(c, r, pipes, root)
                res = a[0]
            elif op == "write":
                res = os.write(int(a[0]), a[1].encode())
            elif op == "read":
                res = os.read(int(a[0]), int(a[1])).decode("latin-1")
            elif op == "lseek":
                res = os.lseek(int(a[0]), int(a[1]), WHENCE[a[2] if len(a) > 2 else "set"])
            elif op == "setfl":
                fd = int(a[0])
                old = fcntl.fcntl(fd, fcntl.F_GETFL)
                fcntl.fcntl(fd, fcntl.F_SETFL, (old | os.O_APPEND) if a[1] == "append" else (old & ~os.O_APPEND))
                res = 0
            elif op == "close":
                os.close(int(a[0]))
                res = 0
            elif op == "exec":
                for c, r in pipes.values():
                    os.set_inheritable(c, True)
                    os.set_inheritable(r, True)
                code = ("import sys, json; from hftos.fssim.fdtable import _serve_after_exec; "
                        "_serve_after_exec(sys.argv[1])")
                arg = json.dumps({"cmd": cmd_fd, "rep": rep_fd, "pipes": pipes, "root": root})
                _send(rep_fd, {"ok": 0})
                os.execv(sys.executable, [sys.executable, "-c", code, arg])
            elif op == "exit":
                _send(rep_fd, {"ok": 0})
                os._exit(0)
            elif op == "state":
                pipe_fds = {x for pr in pipes.values() for x in pr}
                fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
                st: dict[str, Any] = {}
                for fd in fds:
                    if fd < 3 or fd in pipe_fds:
                        continue
                    try:
                        off = os.lseek(fd, 0, os.SEEK_CUR)
                    except OSError:
                        continue  # the listdir's own descriptor, already closed
                    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
                    names = [x for x, on in (("append", fl & os.O_APPEND), ("cloexec", not os.get_inheritable(fd)))
                             if on]
                    st[str(fd)] = [off, ",".join(names)]
                res = st
            else:
                raise ValueError(op)
            _send(rep_fd, {"ok": res})
        except OSError as e:
            _send(rep_fd, {"err": f"{op}: {e.strerror}"})


def _serve_after_exec(arg: str) -> None:
    d = json.loads(arg)
    for c, r in d["pipes"].values():
        os.set_inheritable(c, False)
        os.set_inheritable(r, False)
    _serve(d["cmd"], d["rep"], d["pipes"], d["root"])


def _coordinate(ops: list[dict[str, Any]], root: str) -> dict[str, Any]:
    """Inside the helper process: make the pipes, start p0, send every operation, collect the final state."""
    names = [FIRST_PROC] + [o["args"][0] for o in ops if o["op"] == "fork"]
    mine: dict[str, tuple[int, int]] = {}
    theirs: dict[str, list[int]] = {}
    nxt = _PIPE_BASE
    for name in names:
        c_r, c_w = os.pipe()
        r_r, r_w = os.pipe()
        for fd in (c_r, c_w, r_r, r_w):
            os.dup2(fd, nxt, inheritable=False)
            os.close(fd)
            nxt += 1
        theirs[name] = [nxt - 4, nxt - 1]      # the process reads commands, writes replies
        mine[name] = (nxt - 3, nxt - 2)        # the coordinator writes commands, reads replies
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel, no zombies
    pid = os.fork()
    if pid == 0:
        os.closerange(3, _PIPE_BASE)
        c, r = theirs[FIRST_PROC]
        _serve(c, r, theirs, root)
    results: list[Any] = []
    alive = {FIRST_PROC}
    for o in ops:
        w, r = mine[o["proc"]]
        _send(w, o)
        rep = _recv(r)
        if "err" in rep:
            raise OSError(f"{o['proc']} {rep['err']}")
        results.append(rep["ok"])
        if o["op"] == "fork":
            alive.add(o["args"][0])
        elif o["op"] == "exit":
            alive.discard(o["proc"])
    offsets: dict[str, dict[int, int]] = {}
    flags: dict[str, dict[int, str]] = {}
    for name in [n for n in names if n in alive]:
        w, r = mine[name]
        _send(w, {"op": "state", "args": []})
        st = _recv(r)["ok"]
        offsets[name] = {int(k): v[0] for k, v in st.items()}
        flags[name] = {int(k): v[1] for k, v in st.items()}
        _send(w, {"op": "exit", "args": []})
        _recv(r)
    files = {}
    for fn in sorted(os.listdir(root)):
        with open(os.path.join(root, fn), "rb") as f:
            files[fn] = f.read().decode("latin-1")
    return {"results": results, "offsets": offsets, "flags": flags, "files": files}


def _helper_main() -> int:
    ops = json.loads(sys.stdin.read())
    root = tempfile.mkdtemp(prefix="hftos-fdtable-")
    try:
        out = _coordinate(ops, root)
    except (OSError, EOFError) as e:
        out = {"error": str(e)}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    sys.stdout.write(json.dumps(out))
    sys.stdout.flush()
    return 0


def run_kernel(script: str | list[Op], *, timeout: float = 20.0) -> dict[str, Any]:
    """Run a script for real: each script process is a real process (``os.fork`` in a helper), each operation a
    real system call on files in a private temporary directory (removed afterwards).

    Returns the same shape as ``simulate(script).to_dict()``: ``results`` (one per operation), ``offsets`` and
    ``flags`` (per live process, per descriptor >= 3) and ``files`` (name -> contents). Runs in a separate
    session with a timeout; everything it starts is killed and reaped.
    """
    ops = parse(script) if isinstance(script, str) else list(script)
    payload = json.dumps([{"proc": o.proc, "op": o.op, "args": list(o.args)} for o in ops])
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from hftos.fssim.fdtable import _helper_main; "
                             "sys.exit(_helper_main())"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
    try:
        out, err = proc.communicate(payload.encode(), timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the script's processes are in the helper's session
        except (ProcessLookupError, PermissionError):
            pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if not out:
        raise RuntimeError(f"kernel helper failed: {err.decode(errors='replace')[-500:]}")
    res = json.loads(out)
    if "error" in res:
        raise RuntimeError(f"kernel helper: {res['error']}")
    res["offsets"] = {p: {int(k): v for k, v in d.items()} for p, d in res["offsets"].items()}
    res["flags"] = {p: {int(k): v for k, v in d.items()} for p, d in res["flags"].items()}
    return res


def compare(script: str, *, timeout: float = 20.0) -> tuple[bool, list[str]]:
    """Simulate ``script`` and run it on the kernel; ``(True, [])`` when results, offsets, flags and files agree,
    else ``(False, differences)``."""
    sim = simulate(script).to_dict()
    real = run_kernel(script, timeout=timeout)
    diffs = [f"{k}: simulator {sim[k]!r} != kernel {real[k]!r}" for k in ("results", "offsets", "flags", "files")
             if sim[k] != real[k]]
    return not diffs, diffs


EXAMPLE = """\
# Lab "file-description semantics": the script used in section 3.2
p0 open log.txt          # fd 3, description #0
p0 dup 3                 # fd 4 shares #0: same offset
p0 write 3 AAAA
p0 write 4 BB            # continues at offset 4, no overwrite
p0 open log.txt          # fd 5: a second, independent description #1, offset 0
p0 write 5 cc            # overwrites the first two bytes
p0 fork p1               # p1's fds 3, 4, 5 share #0 and #1 with p0
p1 write 3 DD            # moves the offset p0 sees through fd 3 and 4
p0 lseek 4 0 cur
p1 close 3
p0 write 4 E
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hftos.fssim.fdtable",
                                 description="Simulate open/dup/fork/write/lseek on fd tables and open file "
                                             "descriptions. Script format: see the module docstring.")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("script", nargs="?", help="script file ('-' for stdin); default: the built-in example")
    src.add_argument("--random", type=int, metavar="N", help="generate a random script of N operations")
    ap.add_argument("--seed", type=int, default=0, help="seed for --random (default 0)")
    ap.add_argument("-c", "--solve", action="store_true", help="print the trace and final state (the answers)")
    ap.add_argument("--kernel", action="store_true", help="also run the script on the real kernel and compare")
    ap.add_argument("--json", action="store_true", help="print the final state as JSON")
    args = ap.parse_args(argv)
    try:
        if args.random is not None:
            text = random_script(args.seed, args.random)
            origin = f"random script, N={args.random}, seed={args.seed}"
        elif args.script in (None,):
            text, origin = EXAMPLE, "built-in example"
        elif args.script == "-":
            text, origin = sys.stdin.read(), "stdin"
        else:
            with open(args.script) as f:
                text, origin = f.read(), args.script
        state = simulate(text)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        out = state.to_dict()
        out["params"] = {"source": origin, "seed": args.seed, "random": args.random}
        if args.kernel:
            out["kernel"] = run_kernel(text)
        print(json.dumps(out, indent=1, sort_keys=True))
        return 0
    print(f"ARG source {origin}")
    print(f"ARG seed {args.seed}  solve {args.solve}  kernel {args.kernel}")
    print()
    print("script:")
    for o in parse(text):
        print(f"  {o}")
    print()
    if args.solve:
        print(format_trace(state))
        print()
        print(format_state(state))
    else:
        print("Compute the final offsets and file contents, then run with -c to check.")
    if args.kernel:
        ok, diffs = compare(text)
        print()
        print("kernel agrees with the simulator" if ok else "kernel DISAGREES:\n  " + "\n  ".join(diffs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
