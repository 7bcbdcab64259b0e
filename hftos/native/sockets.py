"""Local sockets: round trips over UNIX and loopback sockets, fd passing, peer credentials (``sockets.c``, chapter 4.3).

:func:`socket_pingpong` is the socket counterpart of :func:`hftos.native.pipe_pingpong` and follows its
conventions exactly: side A (the helper process) sends a ``msg_bytes`` message, side B (a forked child)
echoes it back, A records the round trip in ns. ``cpus=None`` pins **both sides to the first CPU of the
affinity mask** (same-CPU placement: every hand-off is a context switch); ``cpus=(a, b)`` pins each side
(``None`` leaves that side unpinned), so ``cpus=(0, 1)`` measures the cross-CPU wake-up path.

Kinds (:data:`KINDS`): ``"unix-stream"``, ``"unix-dgram"``, ``"unix-seqpacket"`` (``socketpair(AF_UNIX, ...)``),
``"tcp"`` (127.0.0.1, ephemeral port, ``TCP_NODELAY`` on both ends) and ``"udp"`` (two sockets on 127.0.0.1,
ephemeral ports, connected to each other). Nothing binds anywhere but 127.0.0.1 port 0.

:func:`fd_passing` and :func:`peer_credentials` return dicts: what ``SCM_RIGHTS`` and ``SO_PEERCRED`` do,
between two real processes talking over a socket in the abstract namespace (its name carries the run's
prefix, which contains the pid, so parallel runs never collide; an abstract name needs no unlinking).

Everything forks, so the C runs in a helper process (:mod:`hftos.native.runner`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import CPUPair, check, count, cpu_pair

_CDEF = """
struct fdpass_report {
    int listed_in_proc_net_unix, listed_after_close, sent_fd, received_fd;
    long sender_ino, receiver_ino;
    char child_read[32];
    long offset_after_child_read;
    int ctrunc, fds_after_ctrunc;
};
struct peercred_report {
    int parent_pid, child_pid, uid, gid;
    int server_sees_pid, server_sees_uid, server_sees_gid, client_sees_pid, pair_child_sees_pid;
};
int sock_pingpong(int kind, int cpu_a, int cpu_b, int msg_bytes, int warmup, int iters,
                  int64_t *rtt_ns, int *port);
int fd_pass_demo(const char *name, const char *payload, struct fdpass_report *out);
int peercred_demo(const char *name, struct peercred_report *out);
"""

#: The socket kinds :func:`socket_pingpong` accepts, with their C codes.
KINDS: dict[str, int] = {"unix-stream": 0, "unix-dgram": 1, "unix-seqpacket": 2, "tcp": 3, "udp": 4}

#: Largest message (bytes): the largest UDP payload over IPv4, used as the cap for every kind.
MAX_MSG_BYTES = 65507

_DESCRIBE = {
    "unix-stream": "socketpair(AF_UNIX, SOCK_STREAM)",
    "unix-dgram": "socketpair(AF_UNIX, SOCK_DGRAM)",
    "unix-seqpacket": "socketpair(AF_UNIX, SOCK_SEQPACKET)",
    "tcp": "TCP over 127.0.0.1 (ephemeral port), TCP_NODELAY",
    "udp": "UDP over 127.0.0.1 (ephemeral ports), connected",
}


def _lib() -> build.Compiled:
    return build.load("sockets", _CDEF)


def _in_helper(kind: str, cpu_a: int, cpu_b: int, msg_bytes: int, warmup: int, iters: int) -> tuple[np.ndarray, int]:
    """Runs inside the helper process: one C call; returns the round trips and the loopback port (0 for UNIX)."""
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    port = c.ffi.new("int *")
    rc = c.lib.sock_pingpong(KINDS[kind], cpu_a, cpu_b, msg_bytes, warmup, iters,
                             c.ffi.cast("int64_t *", out.ctypes.data), port)
    check(rc, f"{kind} ping-pong")
    return out, int(port[0])


def socket_pingpong(kind: str, n: int | None = None, *, cpus: CPUPair | None = None, msg_bytes: int = 64,
                    timeout: float = 60.0) -> Result:
    """Round-trip time (ns) of a ``msg_bytes`` message over a socket of ``kind``, between two processes.

    ``kind``: one of :data:`KINDS`. ``n``: measured round trips (default 5000, smoke 200), after ``n // 10``
    (at least 10) unmeasured warm-up round trips. ``cpus``: as :func:`hftos.native.pipe_pingpong`: ``None``
    pins both sides to the first CPU of the affinity mask; ``(a, b)`` pins side A to ``a`` and side B to
    ``b`` (``None`` = unpinned). ``msg_bytes``: 1 to 65507. ``method`` records kind, placement, message size.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if isinstance(msg_bytes, bool) or not isinstance(msg_bytes, int) or not 1 <= msg_bytes <= MAX_MSG_BYTES:
        raise ValueError(f"msg_bytes must be an int from 1 to {MAX_MSG_BYTES}, got {msg_bytes!r}")
    iters = count(n if n is not None else scaled(5000, smoke=200))
    cpu_a, cpu_b = cpu_pair(cpus, cross=False)
    warmup = max(10, iters // 10)
    _lib()  # compile here, so the helper's time limit covers only the experiment
    samples, port = runner.run(_in_helper, timeout=timeout, kind=kind, cpu_a=cpu_a, cpu_b=cpu_b,
                               msg_bytes=msg_bytes, warmup=warmup, iters=iters)
    pinned = [None if c < 0 else c for c in (cpu_a, cpu_b)]
    same = pinned[0] is not None and pinned[0] == pinned[1]
    where = (f"CPU {pinned[0]}" if same
             else "CPUs " + ",".join("any" if c is None else str(c) for c in pinned))
    placement = "same CPU" if same else ("unpinned" if pinned == [None, None] else "cross CPU")
    return Result.from_samples(f"{kind} round trip, {msg_bytes} B, processes on {where}", samples, method={
        "clock": "CLOCK_MONOTONIC", "transport": kind, "kind": kind, "socket": _DESCRIBE[kind],
        "mode": "process", "cpus": pinned, "same_cpu": same, "placement": placement,
        "msg_bytes": msg_bytes, "iterations": iters, "warmup": warmup, "loopback_port": port or None,
        "sample": "one round trip A->B->A: send + recv on each side"
                  + ("; includes two context switches" if same else "; includes cross-CPU wake-up")})


# ---- demos -------------------------------------------------------------------------------------------

def _struct(c: build.Compiled, p: Any, kind: str) -> dict[str, Any]:
    d = {}
    for field, ftype in c.ffi.typeof(f"struct {kind}").fields:
        v = getattr(p, field)
        d[field] = c.ffi.string(v).decode(errors="replace") if ftype.type.kind == "array" else v
    return d


def _demo_helper(experiment: str, payload: str = "") -> dict[str, Any]:
    """Runs inside the helper process: one demo, its report as a dict, with the abstract name used."""
    c = _lib()
    name = f"{runner.run_prefix()}-{experiment}"   # the prefix is hftos-<pid>-<random>: unique per run
    if experiment == "fdpass":
        out = c.ffi.new("struct fdpass_report *")
        check(c.lib.fd_pass_demo(name.encode(), payload.encode(), out), "fd_pass_demo")
        d = _struct(c, out, "fdpass_report")
    elif experiment == "peercred":
        out = c.ffi.new("struct peercred_report *")
        check(c.lib.peercred_demo(name.encode(), out), "peercred_demo")
        d = _struct(c, out, "peercred_report")
    else:
        raise ValueError(f"unknown experiment {experiment!r}")
    d["abstract_name"] = "@" + name
    return d


def fd_passing(payload: str = "positions: ESZ6 +3, NQZ6 -1", *, timeout: float = 30.0) -> dict[str, Any]:
    """Pass an open file (a ``memfd``) from one process to another with ``SCM_RIGHTS``.

    Returns: ``abstract_name`` (``@...``: the socket's name in the abstract namespace),
    ``listed_in_proc_net_unix`` / ``listed_after_close`` (1/0: the name exists only while bound),
    ``sent_fd`` / ``received_fd`` (descriptor numbers: different, each the receiver's lowest free one),
    ``same_inode`` (fstat agrees), ``child_read`` (the first 5 bytes, read by the receiver),
    ``offset_after_child_read`` (5: the sender sees the receiver's read, one open file description),
    ``ctrunc`` (1: a second message received without room for control data was truncated) and
    ``fds_after_ctrunc`` (0: that descriptor is lost).
    """
    if not 5 <= len(payload.encode()) <= 4096:
        raise ValueError("payload must be 5 to 4096 bytes")
    _lib()
    d = runner.run(_demo_helper, timeout=timeout, experiment="fdpass", payload=payload)
    d["same_inode"] = d["sender_ino"] == d["receiver_ino"] != 0
    return d


def peer_credentials(*, timeout: float = 30.0) -> dict[str, Any]:
    """``SO_PEERCRED`` on both ends of a connection over an abstract-namespace socket, and on a socketpair.

    Returns ``parent_pid``, ``child_pid``, ``uid``, ``gid``; ``server_sees_pid/uid/gid`` (the listener's
    accepted socket names the connecting child), ``client_sees_pid`` (the child's socket names the
    listener, the parent) and ``pair_child_sees_pid``: on a ``socketpair`` made before ``fork()`` the
    child sees the pair's **creator** (the parent's pid), because credentials are recorded at
    ``socketpair``/``connect``/``listen`` time, not looked up when asked.
    """
    _lib()
    return runner.run(_demo_helper, timeout=timeout, experiment="peercred")


def my_ids() -> dict[str, int]:
    """This process's pid, uid and gid (to compare with :func:`peer_credentials`)."""
    return {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid()}
