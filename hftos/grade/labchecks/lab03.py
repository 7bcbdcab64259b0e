"""Lab 3 (file systems and I/O) check helpers, and the oracles its hidden checks compare against.

A check cell prints lines starting with ``ok   `` when the answer is right; otherwise ``FAIL <label>``, what was
expected, what came back and the first difference. nbval compares the cell's whole output with the reference's
stored output, so a check passes only if it prints exactly what a correct answer prints.

The three tasks and their oracles:

- task 1, file-description semantics: a script in the format of :mod:`hftos.fssim.fdtable` restricted to
  ``open`` (flags ``append``, ``trunc``), ``dup``, ``dup2``, ``fork``, ``write``, ``lseek``, ``setfl``, ``close`` and
  ``exit``; the answer returns ``{"offsets": {proc: {fd: offset}}, "files": {name: text}}``; oracle
  :func:`hftos.fssim.fdtable.simulate` (itself property-tested against the real kernel);
- task 2, crash recovery: a crashed disk image of :mod:`hftos.fssim.journal`, given to the student as plain dicts and
  lists (:func:`disk_dict`); the answer returns ``(files, replayed)``; oracle :func:`hftos.fssim.journal.recover`;
- task 3, batching writer: ``write_all(fd, data, write)`` and ``BatchWriter(fd, capacity, write)``, driven with a
  fake ``write(fd, data)`` (:class:`FakeWrite`) that records every call and, seeded, performs partial writes; oracle
  :class:`RefBatchWriter`, a transcription of ``hftos/native/batch.c`` (course section 1.6, erratum E66).
"""

from __future__ import annotations

import importlib
import os
import random
import tempfile
import zlib
from typing import Any, Callable, Sequence

from . import common

common = importlib.reload(common)  # a check cell reloads this module; patches to common go too

__all__ = ["FD_SCRIPTS", "JOURNAL_CASES", "FakeWrite", "RefBatchWriter", "check_batch_ops",
           "check_batch_partial_and_real", "check_batch_real_file", "check_fd_script", "check_random_batches",
           "check_random_fd_scripts", "check_random_recoveries", "check_recovery", "check_write_all",
           "check_write_all_cases", "crash_image", "disk_dict", "fd_oracle", "random_batch_ops", "random_fd_script",
           "recovery_oracle", "run_batch"]


# ============================================================================ task 1: file descriptions

#: The visible scripts of task 1 (the lab's statement prints them).
FD_SCRIPTS: dict[str, str] = {
    "example": """\
p0 open log.txt
p0 dup 3
p0 write 3 AAAA
p0 write 4 BB
p0 open log.txt
p0 write 5 cc
p0 fork p1
p1 write 3 DD
p0 lseek 4 0 cur
p1 close 3
p0 write 4 E
""",
    "append": """\
p0 open log.txt append
p0 fork p1
p1 open log.txt
p0 write 3 first
p1 write 4 XY
p1 write 3 second
p1 dup 4
p1 setfl 5 append
p1 write 4 end
p0 open log.txt trunc
p0 write 4 new
p0 lseek 3 -2 end
p0 write 3 Z
""",
    "lowest": """\
p0 open a.txt
p0 open b.txt
p0 open a.txt
p0 close 3
p0 dup 5
p0 write 3 hello
p0 dup2 4 5
p0 write 5 bb
p0 lseek 4 6 cur
p0 write 4 !
p0 fork p1
p1 close 4
p1 open b.txt
p1 write 4 q
p0 exit
""",
}

_FD_OPS = ("open", "dup", "dup2", "fork", "write", "lseek", "setfl", "close", "exit")


def fd_oracle(script: str) -> dict[str, Any]:
    """The course simulator's answer: ``{"offsets": {proc: {fd: offset}}, "files": {name: text}}``."""
    from hftos.fssim import fdtable

    state = fdtable.simulate(script).to_dict()
    return {"offsets": state["offsets"], "files": state["files"]}


def _norm_fd_result(got: Any) -> dict[str, Any]:
    """``got`` as ``{"offsets": {str: {int: int}}, "files": {str: str}}``; processes without descriptors dropped."""
    if not isinstance(got, dict) or set(got) != {"offsets", "files"}:
        raise common.Invalid("expected a dict with exactly the keys 'offsets' and 'files', got "
                             + common.short(got))
    offsets, files = got["offsets"], got["files"]
    if not isinstance(offsets, dict) or not isinstance(files, dict):
        raise common.Invalid(f"'offsets' and 'files' must be dicts, got {type(offsets).__name__} and "
                             f"{type(files).__name__}")
    out_off: dict[str, dict[int, int]] = {}
    for proc, table in offsets.items():
        if not isinstance(table, dict):
            raise common.Invalid(f"offsets[{proc!r}] must be a dict fd -> offset, got {common.short(table)}")
        try:
            row = {int(fd): int(off) for fd, off in table.items()}
        except (TypeError, ValueError):
            raise common.Invalid(f"offsets[{proc!r}] must map integer fds to integer offsets, got "
                                 f"{common.short(table)}") from None
        if row:
            out_off[str(proc)] = dict(sorted(row.items()))
    out_files: dict[str, str] = {}
    for name, text in files.items():
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("latin-1")
        if not isinstance(text, str):
            raise common.Invalid(f"files[{name!r}] must be a str, got {common.short(text)}")
        out_files[str(name)] = text
    return {"offsets": out_off, "files": dict(sorted(out_files.items()))}


def _cut(text: str) -> str:
    """``text`` cut to :data:`common.MAX_REPR` characters (feedback lines stay short)."""
    return text if len(text) <= common.MAX_REPR else text[:common.MAX_REPR] + f"... ({len(text)} characters)"


def _fd_diff(expected: dict[str, Any], got: dict[str, Any]) -> str:
    for proc in sorted(set(expected["offsets"]) | set(got["offsets"])):
        e, g = expected["offsets"].get(proc, {}), got["offsets"].get(proc, {})
        if e != g:
            fds = sorted(set(e) | set(g))
            fd = next(f for f in fds if e.get(f) != g.get(f))
            return (f"first difference: process {proc}, fd {fd}: expected "
                    + (f"offset {e[fd]}" if fd in e else "no such descriptor")
                    + ", got " + (f"offset {g[fd]}" if fd in g else "no such descriptor"))
    for name in sorted(set(expected["files"]) | set(got["files"])):
        e, g = expected["files"].get(name), got["files"].get(name)
        if e != g:
            if e is None or g is None:
                return f"first difference: file {name}: expected {e!r}, got {g!r}"
            i = next((k for k, (a, b) in enumerate(zip(e, g)) if a != b), min(len(e), len(g)))
            return f"first difference: file {name} at byte {i}: expected {e[i:i + 8]!r}..., got {g[i:i + 8]!r}..."
    return "no difference"


def _fmt_fd(res: dict[str, Any]) -> str:
    offs = "; ".join(f"{p} {t}" for p, t in res["offsets"].items()) or "no descriptors >= 3"
    files = ", ".join(f"{n}={t!r}" for n, t in res["files"].items())
    return f"offsets {offs}; files {files}"


def _fd_compare(fn: Callable[..., Any], script: str) -> tuple[str, Any, Any]:
    """('ok'|'call'|'invalid'|'diff', expected, got-or-message)."""
    expected = _norm_fd_result(fd_oracle(script))
    ok, got = common.call(fn, script)
    if not ok:
        return "call", expected, got
    try:
        got_n = _norm_fd_result(got)
    except common.Invalid as exc:
        return "invalid", expected, str(exc)
    return ("ok" if got_n == expected else "diff"), expected, got_n


def check_fd_script(label: str, fn: Callable[..., Any], name: str) -> None:
    """Run ``fn`` on the visible script ``FD_SCRIPTS[name]`` and compare with the course simulator."""
    script = FD_SCRIPTS[name]
    status, expected, got = _fd_compare(fn, script)
    if status == "ok":
        print(f"ok   {label}: {_fmt_fd(expected)}")
        return
    if status in ("call", "invalid"):
        print(f"FAIL {label}: {got}")
        return
    print(f"FAIL {label}")
    print(f"  expected: {_fmt_fd(expected)}")
    print(f"  got:      {_cut(_fmt_fd(got))}")
    print(f"  {_fd_diff(expected, got)}")
    print("  (run `python -m hftos.fssim.fdtable SCRIPT -c` on this script to see the trace, step by step)")


#: The operations of task 1 (no ``read``, ``exec`` or ``cloexec``): the subset of the course simulator's script.
FD_OPS = ("open", "dup", "dup2", "fork", "write", "lseek", "setfl", "close", "exit")


def random_fd_script(rng: random.Random, n: int | None = None) -> str:
    """A valid random script of task 1's operations (at most 3 processes, files a.txt and b.txt), drawn by the course
    simulator's generator (:func:`hftos.fssim.fdtable.random_script`) restricted to :data:`FD_OPS`."""
    from hftos.fssim import fdtable

    n = rng.randint(4, 16) if n is None else n
    return fdtable.random_script(rng.randrange(2 ** 32), n, procs=3, files=2, ops=FD_OPS,
                                 open_flags=("append", "trunc"))


def check_random_fd_scripts(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    """Compare ``fn`` with :func:`hftos.fssim.fdtable.simulate` on ``count`` random scripts."""
    rng = random.Random(seed)
    for k in range(count):
        script = random_fd_script(rng)
        status, expected, got = _fd_compare(fn, script)
        if status == "ok":
            continue
        print(f"FAIL {label}: script {k} of {count}" + (f": {got}" if status in ("call", "invalid") else " differs"))
        print("  script: " + " | ".join(script.strip().splitlines()))
        print(f"  expected: {_fmt_fd(expected)}")
        if status == "diff":
            print(f"  got:      {_cut(_fmt_fd(got))}")
            print(f"  {_fd_diff(expected, got)}")
        return
    print(f"ok   {label}: {count} random scripts match")


# ============================================================================ task 2: crash recovery

#: The visible workloads of task 2: name -> (workload, mode).
JOURNAL_CASES: dict[str, tuple[str, str]] = {
    "ordered": ("create a; append a v1; sync; append a v2", "ordered"),
    "writeback": ("create a; append a v1; sync; create t; append t v2; rename t a", "writeback"),
    "journal": ("create a; append a v1; append a v2; sync; append a v3; create b", "journal"),
}


def _img(target: str, img: Any) -> Any:
    if target == "inodes":
        return {name: list(blocks) for name, blocks in img}
    if target == "bitmap":
        return list(img)
    return img  # a data block's string


def disk_dict(disk: Any) -> dict[str, Any]:
    """A :class:`hftos.fssim.journal.Disk` as the plain structure task 2 hands to ``recover``.

    ``{"data": [str, ...], "inodes": {name: [block, ...]}, "bitmap": [0|1, ...], "journal": [record, ...]}`` where a
    record is ``("TxB", tx, [(target, image), ...])`` or ``("TxE", tx)``; a target is ``"inodes"`` (image: a dict like
    ``inodes``), ``"bitmap"`` (a list like ``bitmap``) or ``"D<n>"`` (data block n; image: its string).
    """
    journal: list[tuple[Any, ...]] = []
    for rec in disk.journal:
        if rec[0] == "TxB":
            journal.append(("TxB", rec[1], [(t, _img(t, img)) for t, img in rec[2]]))
        else:
            journal.append(("TxE", rec[1]))
    return {"data": list(disk.data), "inodes": {n: list(b) for n, b in disk.inodes}, "bitmap": list(disk.bitmap),
            "journal": journal}


def crash_image(workload: str, mode: str, k: int, blocks: int = 6) -> dict[str, Any]:
    """The disk (as :func:`disk_dict`) after a crash following the first ``k`` device writes of ``workload``."""
    from hftos.fssim import journal

    return disk_dict(journal.crash(journal.plan(workload, mode, blocks), k))


def recovery_oracle(workload: Any, mode: str, k: int, blocks: int = 6) -> tuple[dict[str, str], list[int]]:
    """The course simulator's recovery of that crash: (files, replayed transaction ids)."""
    from hftos.fssim import journal

    disk, replayed = journal.recover(journal.crash(journal.plan(workload, mode, blocks), k))
    return disk.files(), list(replayed)


def _norm_recovery(got: Any) -> tuple[dict[str, str], list[int]]:
    try:
        files, replayed = got
    except (TypeError, ValueError):
        raise common.Invalid(f"expected a (files, replayed) pair, got {common.short(got)}") from None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise common.Invalid(f"files must be a dict name -> str, got {common.short(files)}")
    try:
        rep = [int(t) for t in replayed]
    except (TypeError, ValueError):
        raise common.Invalid(f"replayed must be a list of transaction ids, got {common.short(replayed)}") from None
    return {str(n): v for n, v in sorted(files.items())}, rep


def _fmt_rec(files: dict[str, str], replayed: list[int]) -> str:
    shown = ", ".join(f"{n}={v!r}" for n, v in sorted(files.items())) or "(no files)"
    return f"replayed {replayed}, files {shown}"


def _recovery_case(fn: Callable[..., Any], workload: Any, mode: str, k: int, blocks: int = 6
                   ) -> tuple[str, Any, Any, dict[str, Any]]:
    from hftos.fssim import journal

    a = journal.plan(workload, mode, blocks)
    image = disk_dict(journal.crash(a, k))
    expected = recovery_oracle(workload, mode, k, blocks)
    ok, got = common.call(fn, disk_dict(journal.crash(a, k)))  # a fresh copy: mutating it changes nothing here
    if not ok:
        return "call", expected, got, image
    try:
        got_n = _norm_recovery(got)
    except common.Invalid as exc:
        return "invalid", expected, str(exc), image
    return ("ok" if got_n == (expected[0], expected[1]) else "diff"), expected, got_n, image


def _show_image(image: dict[str, Any]) -> list[str]:
    lines = [f"  crashed disk: data {image['data']}",
             f"                inodes {image['inodes']}, bitmap {image['bitmap']}"]
    lines += [f"                journal[{i}] = {rec!r}" for i, rec in enumerate(image["journal"])]
    if not image["journal"]:
        lines.append("                journal empty")
    return lines


def check_recovery(label: str, fn: Callable[..., Any], case: str) -> None:
    """Crash ``JOURNAL_CASES[case]`` after every device write ``k = 0 .. W``; compare ``fn``'s recovery each time."""
    from hftos.fssim import journal

    workload, mode = JOURNAL_CASES[case]
    a = journal.plan(workload, mode)
    lines = []
    for k in range(len(a.writes) + 1):
        status, expected, got, image = _recovery_case(fn, workload, mode, k)
        after = "nothing written" if k == 0 else f"w{k} {a.writes[k - 1].target} {a.writes[k - 1].what}"
        if status != "ok":
            _print_recovery_failure(f"FAIL {label}: {mode} mode, {workload!r}, crash after {after} (k={k})",
                                    status, expected, got, image)
            return
        where = "nothing written" if k == 0 else f"after w{k}, {a.writes[k - 1].target}"
        lines.append(f"ok   {label}, crash k={k:<2} ({where}): {_fmt_rec(*expected)}")
    print("\n".join(lines))


def _print_recovery_failure(head: str, status: str, expected: Any, got: Any, image: Any) -> None:
    """The feedback of a failed recovery case: what happened, the crashed disk, expected and (if any) got."""
    print(head + (f": {got}" if status in ("call", "invalid") else ""))
    for line in _show_image(image):
        print(line)
    print(f"  expected: {_fmt_rec(*expected)}")
    if status == "diff":
        print(f"  got:      {_cut(_fmt_rec(*got))}")


def check_random_recoveries(label: str, fn: Callable[..., Any], seed: int, count: int) -> None:
    """Compare ``fn`` with :func:`hftos.fssim.journal.recover` on ``count`` random (workload, mode, crash point)."""
    from hftos.fssim import journal

    rng = random.Random(seed)
    k_case = 0
    while k_case < count:
        ops = journal.random_workload(rng.randrange(10**6), rng.randint(2, 8), 6)
        mode = rng.choice(journal.MODES)
        try:
            a = journal.plan(ops, mode, 6)
        except ValueError:
            continue  # e.g. no free block in this draw: draw again (deterministic)
        k = rng.randint(0, len(a.writes))
        status, expected, got, image = _recovery_case(fn, ops, mode, k)
        k_case += 1
        if status == "ok":
            continue
        _print_recovery_failure(f"FAIL {label}: case {k_case} of {count}: {mode} mode, "
                                f"{'; '.join(map(str, ops))!r}, crash k={k}", status, expected, got, image)
        return
    print(f"ok   {label}: {count} random crash points match")


# ============================================================================ task 3: batching writer

#: The fd every fake write expects (a real descriptor number is not needed: the fake never touches the kernel).
FAKE_FD = 7
#: A fake write refuses to go on after this many calls (an answer that loops forever fails instead of hanging).
MAX_CALLS = 100_000


class TooManyCalls(RuntimeError):
    """Raised by :class:`FakeWrite` after :data:`MAX_CALLS` calls."""


class FakeWrite:
    """A stand-in for ``os.write(fd, data)`` that records every call.

    With ``seed`` it performs partial writes: with probability ``partial`` a call of ``n >= 2`` bytes writes only
    ``randint(1, n - 1)`` of them (a signal, a full pipe or disk may do that to a real ``write``). Without a seed
    every call writes everything. Returns the number of bytes written, as ``os.write`` does.
    """

    def __init__(self, seed: int | None = None, partial: float = 0.5, max_chunk: int | None = None) -> None:
        self.rng = random.Random(seed) if seed is not None else None
        self.partial = partial
        self.max_chunk = max_chunk
        self.calls: list[bytes] = []  # what each call was asked to write
        self.steps: list[Any] = []    # during which operation each call happened (set by the driver)
        self.step: Any = None
        self.out = bytearray()        # what was written, in order
        self.bad_fd: list[Any] = []

    def __call__(self, fd: Any, data: Any) -> int:
        if len(self.calls) >= MAX_CALLS:
            raise TooManyCalls(f"more than {MAX_CALLS} write calls: does your loop make progress?")
        if isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"write() needs bytes, got {type(data).__name__}")
        if fd != FAKE_FD:
            self.bad_fd.append(fd)
        data = bytes(data)
        self.calls.append(data)
        self.steps.append(self.step)
        n = len(data)
        if self.max_chunk is not None:
            n = min(n, self.max_chunk)
        if self.rng is not None and n >= 2 and self.rng.random() < self.partial:
            n = self.rng.randint(1, n - 1)
        self.out += data[:n]
        return n

    def summary(self) -> str:
        return f"{len(self.calls)} write calls, {len(self.out)} bytes, crc32 {zlib.crc32(bytes(self.out)):#010x}"


def _ref_write_all(fd: int, data: bytes, write: Callable[[int, Any], int]) -> None:
    view = memoryview(bytes(data))
    while view:
        view = view[write(fd, view):]


class RefBatchWriter:
    """The oracle: ``bw_write``/``bw_flush``/``bw_close`` of ``hftos/native/batch.c`` in Python."""

    def __init__(self, fd: int, capacity: int, write: Callable[[int, Any], int] = os.write) -> None:
        self.fd, self.capacity, self.write_fn = fd, capacity, write
        self.buf = bytearray()

    def write(self, msg: bytes) -> None:
        if len(msg) > self.capacity - len(self.buf):
            self.flush()
        if len(msg) >= self.capacity:
            _ref_write_all(self.fd, msg, self.write_fn)
        else:
            self.buf += msg

    def flush(self) -> None:
        if self.buf:
            _ref_write_all(self.fd, bytes(self.buf), self.write_fn)
        self.buf.clear()

    def close(self) -> None:
        self.flush()


def _calls_diff(expected: Sequence[bytes], got: Sequence[bytes]) -> str:
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:
            return (f"first difference at write call {i}: expected a call with {len(e)} bytes {e[:16]!r}..., "
                    f"got {len(g)} bytes {g[:16]!r}...")
    if len(expected) != len(got):
        which = "expected" if len(expected) > len(got) else "got"
        extra = (expected if which == "expected" else got)[min(len(expected), len(got))]
        return (f"expected {len(expected)} write calls, got {len(got)} (the first {which} call beyond the other: "
                f"{len(extra)} bytes {extra[:16]!r}...)")
    return "no difference in the calls"


def _sizes(calls: Sequence[bytes]) -> str:
    s = ", ".join(str(len(c)) for c in calls[:12])
    return s + (f", ... ({len(calls)} calls)" if len(calls) > 12 else "")


def check_write_all(label: str, fn: Callable[..., Any], data: bytes, seed: int | None = None,
                    max_chunk: int | None = None) -> None:
    """``fn(FAKE_FD, data, write=fake)``: every byte written, in order, with the calls a correct loop makes."""
    ref = FakeWrite(seed, max_chunk=max_chunk)
    _ref_write_all(FAKE_FD, data, ref)
    fake = FakeWrite(seed, max_chunk=max_chunk)
    ok, got = common.call(fn, FAKE_FD, data, write=fake)
    if not ok:
        print(f"FAIL {label}: {got}")
        return
    if bytes(fake.out) == bytes(ref.out) and fake.calls == ref.calls and not fake.bad_fd:
        print(f"ok   {label}: {ref.summary()} (call sizes {_sizes(ref.calls) or 'none'})")
        return
    print(f"FAIL {label}: {len(data)} bytes to write" + (f", partial writes seeded {seed}" if seed is not None else "")
          + (f", at most {max_chunk} bytes per call" if max_chunk else ""))
    print(f"  expected: {ref.summary()}; call sizes {_sizes(ref.calls) or 'none'}")
    print(f"  got:      {fake.summary()}; call sizes {_sizes(fake.calls) or 'none'}")
    if fake.bad_fd:
        print(f"  write() was called with fd {fake.bad_fd[0]!r}, not the fd {FAKE_FD} you were given")
    elif len(fake.out) != len(data):
        print(f"  {len(fake.out)} of {len(data)} bytes were written: a write() may write fewer bytes than asked "
              "(it returns how many); loop until everything is written")
    else:
        print(f"  {_calls_diff(ref.calls, fake.calls)}")


Ops = Sequence[Any]  # each op: bytes (a message) or the string "flush"


def run_batch(cls: Callable[..., Any], capacity: int, ops: Ops, seed: int | None) -> tuple[FakeWrite, str | None]:
    """Drive ``cls(FAKE_FD, capacity, write=fake)`` through ``ops`` then ``close()``; (fake, error message or None)."""
    fake = FakeWrite(seed)
    ok, w = common.call(cls, FAKE_FD, capacity, write=fake)
    if not ok:
        return fake, w
    for i, op in enumerate(list(ops) + ["close"]):
        fake.step = i
        method = getattr(w, "flush" if op == "flush" else "close" if op == "close" else "write", None)
        if method is None:
            return fake, f"your BatchWriter has no method {op if isinstance(op, str) else 'write'}()"
        ok, res = common.call(method) if isinstance(op, str) else common.call(method, op)
        if not ok:
            return fake, f"step {i} ({op if isinstance(op, str) else f'write of {len(op)} bytes'}): {res}"
    return fake, None


def _fmt_ops(ops: Ops) -> str:
    parts = [op if isinstance(op, str) else f"{len(op)}B" for op in ops]
    text = " ".join(parts)
    return text if len(text) < 300 else text[:300] + " ..."


def _batch_compare(label: str, cls: Callable[..., Any], capacity: int, ops: Ops, seed: int | None,
                   what: str) -> bool:
    ref, _ = run_batch(RefBatchWriter, capacity, ops, seed)
    fake, err = run_batch(cls, capacity, ops, seed)
    if err is None and fake.calls == ref.calls and fake.steps == ref.steps and not fake.bad_fd:
        return True
    print(f"FAIL {label}: {err}" if err else f"FAIL {label}: {what}")
    print(f"  capacity {capacity} bytes; operations (then close): {_fmt_ops(ops)}"
          + (f"; partial writes seeded {seed}" if seed is not None else "; every write() writes everything"))
    print(f"  expected: {ref.summary()}; call sizes {_sizes(ref.calls) or 'none'}")
    if err is None:
        print(f"  got:      {fake.summary()}; call sizes {_sizes(fake.calls) or 'none'}")
    if fake.bad_fd:
        print(f"  write() was called with fd {fake.bad_fd[0]!r}, not the fd {FAKE_FD} you were given")
    elif err is None and fake.calls != ref.calls:
        print(f"  {_calls_diff(ref.calls, fake.calls)}")
    elif err is None:
        i = next(j for j, (a, b) in enumerate(zip(ref.steps, fake.steps)) if a != b)
        name = lambda k: _op_name(list(ops) + ["close"], k)  # noqa: E731
        print(f"  the right calls, at the wrong time: write call {i} ({len(ref.calls[i])} bytes) should happen during "
              f"{name(ref.steps[i])}, yours happened during {name(fake.steps[i])}")
    return False


def _op_name(ops: Sequence[Any], k: int) -> str:
    op = ops[k]
    return f"operation {k} ({op}())" if isinstance(op, str) else f"operation {k} (write of {len(op)} bytes)"


def check_batch_ops(label: str, cls: Callable[..., Any], capacity: int, ops: Ops, seed: int | None = None) -> None:
    """Drive ``cls`` through ``ops`` with a fake write; compare every write call with the oracle batcher."""
    if _batch_compare(label, cls, capacity, ops, seed, "the write calls differ from the rules"):
        ref, _ = run_batch(RefBatchWriter, capacity, ops, seed)
        print(f"ok   {label}: {ref.summary()} (call sizes {_sizes(ref.calls)})")


def random_batch_ops(rng: random.Random) -> tuple[int, list[Any], int | None]:
    """(capacity, ops, fake-write seed or None): messages of 0 .. 2.5x capacity bytes (lowercase letters), some
    explicit flushes; 60% of the workloads get partial writes."""
    capacity = rng.choice([1, 5, 16, 64, 100])
    ops: list[Any] = []
    for _ in range(rng.randint(0, 30)):
        r = rng.random()
        if r < 0.1:
            ops.append("flush")
        else:
            top = capacity // 2 if r < 0.7 else int(capacity * 2.5)
            n = rng.randint(0, max(top, 1))
            ops.append(bytes(rng.randrange(97, 123) for _ in range(n)))  # letters: readable feedback
    seed = rng.randrange(10**6) if rng.random() < 0.6 else None
    return capacity, ops, seed


def check_random_batches(label: str, cls: Callable[..., Any], seed: int, count: int) -> None:
    """Compare ``cls`` with :class:`RefBatchWriter` on ``count`` random workloads (seeded partial writes)."""
    rng = random.Random(seed)
    for k in range(count):
        capacity, ops, wseed = random_batch_ops(rng)
        if not _batch_compare(label, cls, capacity, ops, wseed, f"workload {k} of {count} differs"):
            return
    print(f"ok   {label}: {count} random workloads match")


def check_batch_real_file(label: str, cls: Callable[..., Any], capacity: int, seed: int, count: int) -> None:
    """``count`` seeded messages through ``cls(fd, capacity)`` with the real ``os.write`` on a temporary file.

    Compares the file's bytes; checks that ``close()`` left ``fd`` open (the caller owns it). No timing.
    """
    rng = random.Random(seed)
    msgs = [bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, capacity - 1))) + b"\n" for _ in range(count)]
    want = b"".join(msgs)
    with tempfile.TemporaryDirectory(prefix="hftos-lab03-") as d:
        path = os.path.join(d, "log.bin")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        err = None
        try:
            ok, w = common.call(cls, fd, capacity)
            if not ok:
                err = w
            else:
                for i, m in enumerate(msgs):
                    ok, res = common.call(w.write, m)
                    if not ok:
                        err = f"message {i}: {res}"
                        break
                if err is None:
                    ok, res = common.call(w.close)
                    if not ok:
                        err = f"close: {res}"
            still_open = True
            try:
                os.fstat(fd)
            except OSError:
                still_open = False
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
        with open(path, "rb") as f:
            got = f.read()
    if err is not None:
        print(f"FAIL {label}: {err}")
        return
    summary = lambda b: f"{len(b)} bytes, crc32 {zlib.crc32(b):#010x}"  # noqa: E731
    if got == want and still_open:
        print(f"ok   {label}: {count} messages, file has {summary(want)}")
        return
    print(f"FAIL {label}: {count} messages through BatchWriter(fd, {capacity}) with the real os.write")
    print(f"  expected the file to hold {summary(want)}; it holds {summary(got)}")
    if got != want:
        i = next((j for j, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        print(f"  first difference at byte {i}: expected {want[i:i + 12]!r}, got {got[i:i + 12]!r}")
    if not still_open:
        print("  close() closed the fd: the BatchWriter does not own it (the caller opened it and closes it)")


def check_write_all_cases(label: str, fn: Callable[..., Any]) -> None:
    """Task 3's visible ``write_all`` cases: at most 3 bytes per call, nothing to write, seeded partial writes."""
    check_write_all(f"{label}, 10 bytes, at most 3 per call", fn, b"0123456789", max_chunk=3)
    check_write_all(f"{label}, empty data", fn, b"")
    check_write_all(f"{label}, 1 KiB, partial writes (seed 3)", fn, bytes(range(256)) * 4, seed=3)


def check_batch_partial_and_real(label: str, cls: Callable[..., Any]) -> None:
    """Task 3's visible partial-write case (seeded fake, short messages) and one run on a real temporary file."""
    rng = random.Random(303)
    msgs = [bytes(rng.randrange(97, 123) for _ in range(rng.randint(1, 20))) for _ in range(30)]
    check_batch_ops(f"{label}, capacity 64, 30 short messages, partial writes (seed 1)", cls, 64, msgs, seed=1)
    check_batch_real_file(f"{label}, real temporary file, capacity 256", cls, 256, seed=3, count=200)
