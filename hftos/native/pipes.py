"""Pipes, FIFOs and POSIX shared memory, the source text's listings corrected (``pipes.c``, chapter 1.5).

Errata E49-E54. Every function here forks, so the C runs in a helper process
(:mod:`hftos.native.runner`); FIFO directories and shared-memory names carry the run's prefix and
are removed however the run ends. Each function returns a dict with what the source's programs
would have printed, plus the error numbers and timings that show the kernel's rules.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

from hftos.measure import scaled

from . import build, runner
from .checks import CPUPair, check, count, cpu_pair

_CDEF = """
struct pipe_report { char received[128]; long bytes; int reads; int eof; int64_t last_wait_ns; };
struct atomicity_report { long records, torn, bytes, short_writes; };
struct fifo_report {
    int errno_open_before_mkfifo, errno_mkfifo_again, errno_nonblock_writer, umask, mode_0600, mode_0666;
    int64_t open_wait_ns;
    char received[64];
};
struct shm_report {
    int errno_open_missing, errno_create_again, mode;
    long size;
    int early_counter, counter;
    char message[256];
};
long pipe_buf_constant(void);
int pipe_message(const char *msg, int close_unused, int wait_ms, struct pipe_report *out);
int pipe_atomicity(int writers, long records, long record_bytes, int timeout_ms, struct atomicity_report *out);
int pipe_stream(int cpu_a, int cpu_b, long messages, int64_t *elapsed_ns);
int fifo_demo(const char *dir, const char *msg, int reader_delay_ms, struct fifo_report *out);
int shm_demo(const char *name, int timeout_ms, struct shm_report *out);
struct sweep_report { int64_t elapsed_ns; long reads; long capacity; };
int pipe_sweep_stream(int cpu_a, int cpu_b, long msg_bytes, long messages, long pipe_size, long read_bytes,
                      struct sweep_report *out);
int pipe_rtt_sized(int cpu_a, int cpu_b, long msg_bytes, long pipe_size, int warmup, int iters,
                   int64_t *rtt_ns, long *capacity);
"""


def _lib() -> build.Compiled:
    return build.load("pipes", _CDEF)


def _errname(e: int) -> str:
    """``2`` -> ``"ENOENT"``; ``0`` -> ``"none"``."""
    return errno.errorcode.get(e, str(e)) if e else "none"


def _struct(c: build.Compiled, p, kind: str) -> dict:
    """A C report struct as a dict; char arrays become str."""
    d = {}
    for field, ftype in c.ffi.typeof(f"struct {kind}").fields:
        v = getattr(p, field)
        d[field] = c.ffi.string(v).decode(errors="replace") if ftype.type.kind == "array" else v
    return d


def _in_helper(experiment: str, **kw) -> dict:
    """Runs inside the helper process: one C call, its report as a dict."""
    c = _lib()
    if experiment == "message":
        out = c.ffi.new("struct pipe_report *")
        check(c.lib.pipe_message(kw["msg"].encode(), int(kw["close_unused"]), kw["wait_ms"], out), "pipe_message")
        return _struct(c, out, "pipe_report")
    if experiment == "atomicity":
        out = c.ffi.new("struct atomicity_report *")
        check(c.lib.pipe_atomicity(kw["writers"], kw["records"], kw["record_bytes"], kw["timeout_ms"], out),
              "pipe_atomicity")
        return _struct(c, out, "atomicity_report")
    if experiment == "stream":
        out = c.ffi.new("int64_t *")
        check(c.lib.pipe_stream(kw["cpu_a"], kw["cpu_b"], kw["messages"], out), "pipe_stream")
        return {"elapsed_ns": int(out[0])}
    if experiment == "fifo":
        out = c.ffi.new("struct fifo_report *")
        fifo_dir = tempfile.mkdtemp(prefix=runner.run_prefix())
        try:
            check(c.lib.fifo_demo(fifo_dir.encode(), kw["msg"].encode(), kw["reader_delay_ms"], out), "fifo_demo")
        finally:
            shutil.rmtree(fifo_dir, ignore_errors=True)
        return _struct(c, out, "fifo_report")
    if experiment == "shm":
        out = c.ffi.new("struct shm_report *")
        name = f"/{runner.run_prefix()}-shm".encode()
        check(c.lib.shm_demo(name, kw["timeout_ms"], out), "shm_demo")
        return _struct(c, out, "shm_report")
    if experiment == "sweep":            # chapter 4.2: one helper runs every message size
        rows = []
        out = c.ffi.new("struct sweep_report *")
        for msg_bytes, messages in kw["plan"]:
            read_bytes = kw["read_bytes"] or max(msg_bytes, 65536)
            check(c.lib.pipe_sweep_stream(kw["cpu_a"], kw["cpu_b"], msg_bytes, messages, kw["pipe_size"],
                                          read_bytes, out), f"pipe_sweep_stream({msg_bytes} B)")
            rows.append({"msg_bytes": msg_bytes, "messages": messages, "read_bytes": read_bytes,
                         **_struct(c, out, "sweep_report")})
        return {"rows": rows}
    if experiment == "rtt_sized":
        import numpy as np

        res = []
        cap = c.ffi.new("long *")
        for msg_bytes, iters in kw["plan"]:
            rtt = np.empty(iters, dtype=np.int64)
            check(c.lib.pipe_rtt_sized(kw["cpu_a"], kw["cpu_b"], msg_bytes, kw["pipe_size"], max(5, iters // 10),
                                       iters, c.ffi.cast("int64_t *", rtt.ctypes.data), cap),
                  f"pipe_rtt_sized({msg_bytes} B)")
            res.append((msg_bytes, rtt, int(cap[0])))
        return {"runs": res}
    raise ValueError(f"unknown experiment {experiment!r}")


def _run(experiment: str, timeout: float, **kw) -> dict:
    _lib()  # compile here, so the helper's time limit covers only the experiment
    return runner.run(_in_helper, timeout=timeout, experiment=experiment, **kw)


def pipe_buf() -> dict:
    """``PIPE_BUF`` three ways (C constant, ``fpathconf``) and this pipe's capacity (``F_GETPIPE_SZ``)."""
    import fcntl

    r, w = os.pipe()
    try:
        capacity = fcntl.fcntl(w, getattr(fcntl, "F_GETPIPE_SZ", 1032))
        fpath = os.fpathconf(w, "PC_PIPE_BUF")
    finally:
        os.close(r)
        os.close(w)
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            max_size: int | None = int(f.read())
    except (OSError, ValueError):
        max_size = None
    return {"PIPE_BUF": int(_lib().lib.pipe_buf_constant()), "fpathconf_PC_PIPE_BUF": fpath,
            "capacity": capacity, "pipe_max_size": max_size, "page_size": os.sysconf("SC_PAGE_SIZE")}


def pipe_message(msg: str = "Hello from parent!", *, close_unused: bool = True, wait_ms: int = 200,
                 timeout: float = 30.0) -> dict:
    """The source's ``pipe_example()``, corrected: the parent writes ``msg`` and closes; the child reads to EOF.

    Returns ``received`` (what the child read), ``bytes``, ``reads``, ``eof`` (1 if the child saw end of
    file) and ``last_wait_ns``. With ``close_unused=False`` the child keeps its copy of the write end open:
    it still gets the message, but end of file never comes (``eof`` 0 after waiting ``wait_ms``).
    """
    if len(msg.encode()) > 4096:
        raise ValueError("msg must be at most 4096 bytes")
    if isinstance(wait_ms, bool) or not isinstance(wait_ms, int) or not 1 <= wait_ms <= 10_000:
        raise ValueError(f"wait_ms must be an int from 1 to 10000, got {wait_ms!r}")
    return _run("message", timeout, msg=msg, close_unused=bool(close_unused), wait_ms=wait_ms)


def pipe_atomicity(record_bytes: int, *, writers: int = 4, records: int | None = None,
                   timeout: float = 60.0) -> dict:
    """``writers`` processes each write ``records`` records of ``record_bytes`` bytes into one pipe.

    Each record is one ``write()`` filled with its writer's letter; the reader checks every
    ``record_bytes``-byte slice of the stream. Returns ``records``, ``torn`` (slices mixing two
    writers: 0 whenever ``record_bytes <= PIPE_BUF``), ``bytes``, ``short_writes`` and the parameters.
    Default ``records``: about 2 MiB per writer (at least 4 records).
    """
    count(record_bytes, "record_bytes")
    count(writers, "writers")
    if writers > 26:
        raise ValueError("at most 26 writers")
    if record_bytes > 16 * 2**20:
        raise ValueError("record_bytes must be at most 16 MiB")
    if records is None:
        records = max(4, scaled(2 * 2**20, smoke=256 * 2**10) // record_bytes)
    count(records, "records")
    out = _run("atomicity", timeout, writers=writers, records=records, record_bytes=record_bytes,
               timeout_ms=int(timeout * 800))
    out.update(writers=writers, record_bytes=record_bytes, atomic_by_posix=record_bytes <= pipe_buf()["PIPE_BUF"])
    return out


def pipe_throughput(messages: int | None = None, *, cpus: CPUPair | None = None, timeout: float = 60.0) -> dict:
    """One-way throughput of 8-byte messages through a pipe, one ``write()`` per message.

    The writer is a forked child on ``cpus[1]``, the reader (in 64 KiB reads, checking the
    sequence) on ``cpus[0]``; default: the first two CPUs of the affinity mask (raises
    :class:`~hftos.native.NotEnoughCPUs` under one CPU). Pass ``cpus=(c, c)`` for one CPU.
    Returns ``mops``, ``ns_per_message``, ``messages``, ``elapsed_ns``, ``cpus``.
    """
    a, b = cpu_pair(cpus, cross=cpus is None)
    m = count(messages if messages is not None else scaled(300_000, smoke=20_000), "messages")
    elapsed = _run("stream", timeout, cpu_a=a, cpu_b=b, messages=m)["elapsed_ns"]
    return {"mops": m / elapsed * 1e3, "ns_per_message": elapsed / m, "messages": m, "elapsed_ns": elapsed,
            "cpus": [a, b], "clock": "CLOCK_MONOTONIC"}


def fifo_rendezvous(reader_delay_ms: int = 100, *, msg: str = "Market data tick", timeout: float = 30.0) -> dict:
    """The source's FIFO writer and reader, corrected, with the rules they hit.

    Returns ``received``; ``open_wait_ns`` (how long the writer's ``open(O_WRONLY)`` blocked: about
    ``reader_delay_ms``, because the reader opens that late); the errno names ``open_before_mkfifo``
    (``ENOENT``), ``mkfifo_again`` (``EEXIST``), ``nonblock_writer`` (``ENXIO``); the ``umask`` and the
    modes a FIFO gets with 0600 and with 0666 (octal strings).
    """
    if isinstance(reader_delay_ms, bool) or not isinstance(reader_delay_ms, int) or not 0 <= reader_delay_ms <= 5000:
        raise ValueError(f"reader_delay_ms must be an int from 0 to 5000, got {reader_delay_ms!r}")
    if len(msg.encode()) > 63:
        raise ValueError("msg must be at most 63 bytes")
    r = _run("fifo", timeout, msg=msg, reader_delay_ms=reader_delay_ms)
    return {"received": r["received"], "open_wait_ns": r["open_wait_ns"], "reader_delay_ms": reader_delay_ms,
            "open_before_mkfifo": _errname(r["errno_open_before_mkfifo"]),
            "mkfifo_again": _errname(r["errno_mkfifo_again"]),
            "nonblock_writer": _errname(r["errno_nonblock_writer"]),
            "umask": f"{r['umask']:04o}", "mode_0600": f"{r['mode_0600']:04o}", "mode_0666": f"{r['mode_0666']:04o}"}


def shm_message(*, timeout: float = 30.0) -> dict:
    """The source's shared-memory writer and reader, corrected (0600, ``O_EXCL``, process-shared semaphores).

    Returns what the reader saw: ``early_counter`` (read before waiting: 0, the value the source's
    unsynchronised reader risks), ``counter`` and ``message`` (after the semaphore: 42 and the text);
    ``mode`` (octal string) and ``size`` of the segment; errno names ``open_missing`` (``ENOENT``: the
    reader started first) and ``create_again`` (``EEXIST``: a second creator is refused).
    """
    r = _run("shm", timeout, timeout_ms=int(timeout * 800))
    return {"early_counter": r["early_counter"], "counter": r["counter"], "message": r["message"],
            "mode": f"{r['mode']:04o}", "size": r["size"], "open_missing": _errname(r["errno_open_missing"]),
            "create_again": _errname(r["errno_create_again"])}


# ---- chapter 4.2: capacity, slots, throughput and round trips by message size --------------------------

#: Largest message for the size sweeps (bytes).
MAX_SWEEP_MSG = 16 * 2**20

F_SETPIPE_SZ = 1031   # <linux/fcntl.h>: F_LINUX_SPECIFIC_BASE + 7 (Python's fcntl has it since 3.10)
F_GETPIPE_SZ = 1032   # F_LINUX_SPECIFIC_BASE + 8


def pipe_fill(write_bytes: int = 1, *, packet: bool = False, pipe_size: int | None = None) -> dict:
    """Fill a fresh non-blocking pipe with ``write_bytes``-byte writes until it refuses one (``EAGAIN``).

    Shows the pipe's structure: a ring of page-sized slots (``struct pipe_buffer``). In a normal pipe a
    small write is merged into the last slot while it has room, so 1-byte writes fill all of the
    capacity; in a packet-mode pipe (``O_DIRECT``, ``pipe(7)``) every write takes a slot of its own, so
    the pipe is full after as many writes as it has slots. ``pipe_size`` sets the capacity first
    (``F_SETPIPE_SZ``). Returns ``writes``, ``bytes``, ``capacity``, ``slots`` (capacity / page size),
    ``packet``, ``write_bytes``. Runs in-process: nothing forks.
    """
    import fcntl

    count(write_bytes, "write_bytes")
    if write_bytes > 2**20:
        raise ValueError("write_bytes must be at most 1 MiB")
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC | (os.O_DIRECT if packet else 0))
    try:
        if pipe_size is not None:
            fcntl.fcntl(w, F_SETPIPE_SZ, count(pipe_size, "pipe_size"))
        capacity = fcntl.fcntl(w, F_GETPIPE_SZ)
        chunk, writes, total = b"p" * write_bytes, 0, 0
        while total <= 64 * 2**20:                   # bound: never more than the largest pipe could hold
            try:
                n = os.write(w, chunk)
            except BlockingIOError:
                break
            writes, total = writes + 1, total + n
            if n < write_bytes:                      # a partial write: the pipe is now full
                break
    finally:
        os.close(r)
        os.close(w)
    page = os.sysconf("SC_PAGE_SIZE")
    return {"writes": writes, "bytes": total, "capacity": capacity, "slots": capacity // page, "packet": packet,
            "write_bytes": write_bytes}


def _sweep_sizes(sizes) -> list[int]:  # type: ignore[no-untyped-def]
    out = [count(int(s) if not isinstance(s, bool) else s, "message size") for s in sizes]
    if not out:
        raise ValueError("sizes must not be empty")
    if max(out) > MAX_SWEEP_MSG:
        raise ValueError(f"message sizes must be at most {MAX_SWEEP_MSG} bytes")
    return out


def _capacity_arg(pipe_size: int | None) -> int:
    if pipe_size is None:
        return 0
    count(pipe_size, "pipe_size")
    if pipe_size > 2**31:
        raise ValueError("pipe_size must be at most 2 GiB")
    return pipe_size


def pipe_stream_sweep(sizes=(8, 64, 512, 4096, 32768, 262144, 1048576), *,  # type: ignore[no-untyped-def]
                      cpus: CPUPair | None = None, pipe_size: int | None = None, total_bytes: int | None = None,
                      max_messages: int | None = None, read_bytes: int | None = None,
                      timeout: float = 120.0) -> list[dict]:
    """One-way pipe throughput for each message size: a forked writer sends one ``write()`` per message.

    ``cpus`` follows :func:`hftos.native.pipe_pingpong`: ``None`` pins reader and writer to the first CPU of
    the affinity mask; ``(a, b)`` pins the reader to ``a`` and the writer to ``b``. ``pipe_size`` sets the
    capacity (``F_SETPIPE_SZ``; default: leave it, 64 KiB). Per size, ``min(max_messages, total_bytes //
    size)`` messages (at least 64) are sent: default 128 MiB and 200,000 messages (smoke: 8 MiB, 10,000).
    The reader reads with a ``read_bytes`` buffer (default: the larger of the message and 64 KiB).

    Returns one dict per size: ``msg_bytes``, ``messages``, ``elapsed_ns`` (writer's first write to
    reader's last byte), ``reads``, ``bytes_per_read``, ``gib_per_s``, ``msgs_per_s``, ``capacity``, ``cpus``.
    """
    plan_sizes = _sweep_sizes(sizes)
    a, b = cpu_pair(cpus, cross=False)
    total = count(total_bytes if total_bytes is not None else scaled(128 * 2**20, smoke=8 * 2**20), "total_bytes")
    cap_msgs = count(max_messages if max_messages is not None else scaled(200_000, smoke=10_000), "max_messages")
    if read_bytes is not None and not 1 <= count(read_bytes, "read_bytes") <= MAX_SWEEP_MSG:
        raise ValueError(f"read_bytes must be at most {MAX_SWEEP_MSG}")
    plan = [(s, max(64, min(cap_msgs, total // s))) for s in plan_sizes]
    rows = _run("sweep", timeout, cpu_a=a, cpu_b=b, plan=plan, pipe_size=_capacity_arg(pipe_size),
                read_bytes=read_bytes or 0)["rows"]
    pinned = [None if c < 0 else c for c in (a, b)]
    for r in rows:
        secs = r["elapsed_ns"] / 1e9
        r.update(bytes=r["msg_bytes"] * r["messages"], bytes_per_read=r["msg_bytes"] * r["messages"] / r["reads"],
                 gib_per_s=r["msg_bytes"] * r["messages"] / secs / 2**30, msgs_per_s=r["messages"] / secs,
                 cpus=pinned, clock="CLOCK_MONOTONIC")
    return rows


def pipe_rtt_sweep(sizes=(8, 64, 512, 4096, 32768, 262144, 1048576), n: int | None = None, *,  # type: ignore[no-untyped-def]
                   cpus: CPUPair | None = None, pipe_size: int | None = None, timeout: float = 120.0) -> dict:
    """Round-trip time (ns) of a message of each size over two pipes, as a ``{size: Result}`` dict.

    ``n`` round trips per size up to 4 KiB (default 1000, smoke 50), proportionally fewer above (at least 20),
    so a 1 MiB sweep stays short. ``cpus`` and ``pipe_size`` as in :func:`pipe_stream_sweep` (``None``:
    both sides on the first CPU of the affinity mask). ``method`` records size, capacity and placement.
    """
    from hftos.measure import Result

    plan_sizes = _sweep_sizes(sizes)
    a, b = cpu_pair(cpus, cross=False)
    iters = count(n if n is not None else scaled(1000, smoke=50))
    plan = [(s, iters if s <= 4096 else max(20, iters * 4096 // s)) for s in plan_sizes]
    runs = _run("rtt_sized", timeout, cpu_a=a, cpu_b=b, plan=plan, pipe_size=_capacity_arg(pipe_size))["runs"]
    pinned = [None if c < 0 else c for c in (a, b)]
    same = pinned[0] is not None and pinned[0] == pinned[1]
    where = f"CPU {pinned[0]}" if same else "CPUs " + ",".join("any" if c is None else str(c) for c in pinned)
    out = {}
    for size, rtt, cap in runs:
        out[size] = Result.from_samples(f"pipe round trip, {size} B, processes on {where}", rtt, method={
            "clock": "CLOCK_MONOTONIC", "transport": "pipe", "msg_bytes": size, "capacity": cap,
            "cpus": pinned, "same_cpu": same, "iterations": len(rtt),
            "sample": "one round trip A->B->A of the whole message over two pipes"})
    return out
