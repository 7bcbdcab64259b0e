"""POSIX message queues (``mqueue.c``, chapter 4.4): limits, priorities, ``mq_notify``, ping-pong.

- :func:`mq_limits` reads the system-wide limits from ``/proc/sys/fs/mqueue/``, the per-user
  ``RLIMIT_MSGQUEUE`` and where (if anywhere) the ``mqueue`` file system is mounted.
- :func:`mq_try_create` asks ``mq_open`` for a queue of a given size, as this user or with
  ``CAP_SYS_RESOURCE`` dropped (what an unprivileged user gets), and returns the errno.
- :func:`mq_priority_demo` sends messages in one order and receives them by priority.
- :func:`mq_fs_view` shows a live queue's file in ``/dev/mqueue`` (or, if the file system is not
  mounted, in a private mount of a private IPC namespace, through ``unshare``).
- :func:`mq_notify_demo` registers for a signal on "queue became non-empty" and shows its rules.
- :func:`mq_pingpong` measures the round trip between two processes over two queues.

Every queue name carries the pid (``/hftos-<pid>-...``) and is ``mq_unlink``'ed as soon as the
processes that need it have it open, so nothing is left in ``/dev/mqueue`` even after a kill.
Functions that fork or pin run in a helper process (:mod:`hftos.native.runner`).
"""

from __future__ import annotations

import errno as _errno
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hftos.measure import Result, scaled

from . import build, runner
from .checks import CPUPair, NativeError, check, count, cpu_pair

_CDEF = """
struct mq_view {
    long maxmsg, msgsize, curmsgs_before, curmsgs_after;
    char file_before[96], file_after[96], file_notify[96];
    int file_seen;
    int mode;
    int exists_after_unlink;
};
struct mq_notify_report {
    int signo, si_code, si_code_is_mesgq, si_pid_is_sender, sival;
    int64_t latency_ns;
    int second_signal;
    int busy_errno;
    int waiter_signal;
    int received;
};
int mq_try_create(const char *name, long maxmsg, long msgsize, int drop_cap, long *attr_out);
int mq_priority_demo(const char *name, int n, const unsigned *prio, unsigned *got_prio, int *got_index);
int mq_fs_view(const char *name, const char *mqdir, int nmsgs, int msgsize, struct mq_view *v);
int mq_notify_demo(const char *name, struct mq_notify_report *r);
int mq_pingpong(const char *name, int cpu_a, int cpu_b, int warmup, int iters, int msg_bytes, int64_t *rtt_ns);
"""

#: Where the limits live, and the kernel's defaults for them (ipc/mq_sysctl.c, include/linux/ipc_namespace.h).
PROC_DIR = Path("/proc/sys/fs/mqueue")
DEFAULTS = {"msg_default": 10, "msg_max": 10, "msgsize_default": 8192, "msgsize_max": 8192, "queues_max": 256}
#: Upper bounds even with CAP_SYS_RESOURCE (HARD_MSGMAX, HARD_MSGSIZEMAX).
HARD_LIMITS = {"msg_max": 65536, "msgsize_max": 16 * 1024 * 1024}
#: Largest ping-pong message (the default msgsize_max).
MAX_MSG_BYTES = 8192


def _lib() -> build.Compiled:
    return build.load("mqueue", _CDEF)


def _local_name(what: str) -> str:
    """A queue name for this process: contains the pid, unique per call."""
    return f"/hftos-{os.getpid()}-{secrets.token_hex(4)}-{what}"


def _helper_name(what: str) -> str:
    """Inside a helper: the run prefix (notebook pid) plus the helper's own pid."""
    return f"/{runner.run_prefix()}-{os.getpid()}-{what}"


def mqueue_mount() -> str | None:
    """Where the ``mqueue`` file system is mounted for this process (usually ``/dev/mqueue``), or ``None``."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "mqueue":
            return left.split()[4].replace("\\040", " ")
    return None


def _has_cap(bit: int) -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> bit & 1)
    except OSError:
        pass
    return False


def mq_limits() -> dict[str, Any]:
    """The limits that apply to this process, read live.

    Keys: the files of ``/proc/sys/fs/mqueue/`` (``msg_default``, ``msg_max``, ``msgsize_default``,
    ``msgsize_max``, ``queues_max``; ``None`` if unreadable), ``defaults`` (the kernel's built-in
    values), ``rlimit_msgqueue`` (soft, hard; bytes), ``cap_sys_resource`` (whether this process may
    exceed ``msg_max``/``msgsize_max``) and ``mount`` (:func:`mqueue_mount`).
    """
    out: dict[str, Any] = {}
    for name in DEFAULTS:
        try:
            out[name] = int((PROC_DIR / name).read_text())
        except (OSError, ValueError):
            out[name] = None
    soft, hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
    out["defaults"] = dict(DEFAULTS)
    out["rlimit_msgqueue"] = (soft, hard)
    out["cap_sys_resource"] = _has_cap(24)   # CAP_SYS_RESOURCE
    out["mount"] = mqueue_mount()
    return out


def queue_bytes(maxmsg: int, msgsize: int) -> int:
    """Bytes a queue charges to ``RLIMIT_MSGQUEUE`` on x86-64 (``mqueue_get_inode`` in ipc/mqueue.c).

    ``maxmsg * msgsize`` plus one ``struct msg_msg`` (48 bytes) per message and one rb-tree node
    (``struct posix_msg_tree_node``, 48 bytes) per possible priority in use (at most ``maxmsg``).
    An estimate: the struct sizes are those of a 64-bit kernel.
    """
    return maxmsg * msgsize + maxmsg * 48 + min(maxmsg, 32768) * 48


def _try_in_helper(maxmsg: int, msgsize: int, drop_cap: bool) -> tuple[int, list[int]]:
    c = _lib()
    attr = c.ffi.new("long[2]")
    rc = c.lib.mq_try_create(_helper_name("try").encode(), maxmsg, msgsize, int(drop_cap), attr)
    return rc, [attr[0], attr[1]]


def mq_try_create(maxmsg: int = 0, msgsize: int = 0, *, unprivileged: bool = True,
                  timeout: float = 30.0) -> dict[str, Any]:
    """Try ``mq_open(O_CREAT|O_EXCL)`` with ``mq_maxmsg=maxmsg``, ``mq_msgsize=msgsize``.

    ``maxmsg=msgsize=0`` passes no attributes (the defaults ``msg_default``/``msgsize_default``).
    With ``unprivileged=True`` the attempt runs in a child that first drops ``CAP_SYS_RESOURCE``
    (so root sees what an ordinary user sees). Returns ``ok``, ``errno`` (0 on success),
    ``error`` (its symbolic name, e.g. ``"EINVAL"``) and, on success, the ``maxmsg``/``msgsize``
    the queue got. The queue is removed at once.
    """
    for v, what in ((maxmsg, "maxmsg"), (msgsize, "msgsize")):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{what} must be an int >= 0, got {v!r}")
    if (maxmsg == 0) != (msgsize == 0):
        raise ValueError("give both maxmsg and msgsize, or neither (0, 0: the defaults)")
    _lib()
    rc, attr = runner.run(_try_in_helper, timeout=timeout, maxmsg=maxmsg, msgsize=msgsize, drop_cap=unprivileged)
    err = -rc if rc < 0 else 0
    return {"ok": rc == 0, "errno": err, "error": _errno.errorcode.get(err, str(err)) if err else "",
            "maxmsg": attr[0] if rc == 0 else None, "msgsize": attr[1] if rc == 0 else None,
            "requested": (maxmsg, msgsize), "unprivileged": unprivileged}


def mq_priority_demo(priorities: Sequence[int]) -> list[tuple[int, int]]:
    """Send one message per priority, in the given order; return ``(priority, send position)`` as received.

    The receive order is highest priority first and, within a priority, first sent first.
    Runs in this process (no fork); at most 10 messages (the default ``msg_max``).
    """
    prio = [int(p) for p in priorities]
    if not 1 <= len(prio) <= 10:
        raise ValueError(f"between 1 and 10 priorities, got {len(prio)}")
    if any(not 0 <= p < 32768 for p in prio):
        raise ValueError("priorities must be in 0..32767 (MQ_PRIO_MAX - 1 on Linux)")
    c = _lib()
    n = len(prio)
    got_p, got_i = c.ffi.new("unsigned[]", n), c.ffi.new("int[]", n)
    rc = c.lib.mq_priority_demo(_local_name("prio").encode(), n, c.ffi.new("unsigned[]", prio), got_p, got_i)
    check(rc, "mq priority demo")
    return [(got_p[k], got_i[k]) for k in range(n)]


def _view_dict(c: build.Compiled, v: Any, name: str, mqdir: str) -> dict[str, Any]:
    s = lambda field: c.ffi.string(getattr(v, field)).decode(errors="replace").strip()  # noqa: E731
    return {"name": name, "path": f"{mqdir}/{name[1:]}", "file_seen": bool(v.file_seen), "mode": oct(v.mode),
            "maxmsg": v.maxmsg, "msgsize": v.msgsize, "curmsgs_before": v.curmsgs_before,
            "curmsgs_after": v.curmsgs_after, "file_before": s("file_before"), "file_after": s("file_after"),
            "file_notify": s("file_notify"), "exists_after_unlink": bool(v.exists_after_unlink)}


def _fs_view_here(mqdir: str, nmsgs: int, msg_bytes: int) -> dict[str, Any]:
    c = _lib()
    v = c.ffi.new("struct mq_view *")
    name = _local_name("view")
    check(c.lib.mq_fs_view(name.encode(), mqdir.encode(), nmsgs, msg_bytes, v), "mq_fs_view")
    return _view_dict(c, v, name, mqdir)


def mq_fs_view(nmsgs: int = 3, msg_bytes: int = 100, *, private_namespace: bool | None = None,
               timeout: float = 30.0) -> dict[str, Any]:
    """Create a queue, read its file in the ``mqueue`` mount while it exists, then unlink it.

    The file's text (``QSIZE:... NOTIFY:... SIGNO:... NOTIFY_PID:...``) is read when empty
    (``file_before``), after ``nmsgs`` messages of ``msg_bytes`` (``file_after``) and after an
    ``mq_notify`` registration (``file_notify``). ``private_namespace=None`` uses the host's mount
    if there is one, else a private one: ``unshare --user --map-root-user --mount --ipc`` and
    ``mount -t mqueue`` on a temporary directory (the namespace, mount and queue vanish with the
    helper; nothing on the host changes). ``namespace`` in the result says which was used. Raises
    :class:`NativeError` if neither is possible (no mount and no user namespaces).
    """
    if not 0 <= nmsgs <= 10 or not 1 <= msg_bytes <= MAX_MSG_BYTES:
        raise ValueError(f"nmsgs in 0..10 and msg_bytes in 1..{MAX_MSG_BYTES}")
    mount = mqueue_mount()
    if private_namespace is None:
        private_namespace = mount is None
    if not private_namespace:
        if mount is None:
            raise NativeError(_errno.ENOENT, "the mqueue file system is not mounted (no /dev/mqueue)")
        return {**_fs_view_here(mount, nmsgs, msg_bytes), "namespace": "host"}
    _lib()   # compile outside the namespace (the cache is the same)
    if shutil.which("unshare") is None:
        raise NativeError(_errno.ENOENT, "no mqueue mount and no `unshare` (util-linux) to make a private one")
    script = ('d=$(mktemp -d) || exit 1; mount -t mqueue none "$d" && "$0" -m hftos.native.mqueue --fs-view "$d" '
              f'{nmsgs} {msg_bytes}; rc=$?; umount "$d" 2>/dev/null; rmdir "$d"; exit $rc')
    argv = ["unshare", "--user", "--map-root-user", "--mount", "--ipc", "sh", "-c", script, sys.executable]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise NativeError(_errno.ETIMEDOUT, "private mqueue namespace: timed out") from None
    if proc.returncode != 0:
        raise NativeError(_errno.EPERM, "cannot make a private mqueue mount (user namespaces disabled?): "
                          + (proc.stderr.strip().splitlines() or ["no message"])[-1])
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "namespace": "private (unshare --user --ipc)"}


def _notify_in_helper() -> dict[str, Any]:
    c = _lib()
    r = c.ffi.new("struct mq_notify_report *")
    check(c.lib.mq_notify_demo(_helper_name("notify").encode(), r), "mq_notify demo")
    return {field: getattr(r, field) for field, _ in c.ffi.typeof("struct mq_notify_report").fields}


def mq_notify_demo(timeout: float = 30.0) -> dict[str, Any]:
    """``mq_notify(SIGEV_SIGNAL)`` in a helper; what the kernel did at each step.

    Keys: ``signo``, ``si_code_is_mesgq`` (``si_code == SI_MESGQ``), ``si_pid_is_sender``,
    ``sival`` (42 was registered), ``latency_ns`` (sender's ``mq_send`` to the waiter's
    ``sigtimedwait`` return), ``busy_errno`` (a second process registering: ``EBUSY``),
    ``second_signal`` (0: the registration is one-shot), ``waiter_signal`` (0: a process blocked in
    ``mq_receive`` gets the message and no signal is sent), ``received`` (3 messages in all).
    """
    _lib()
    d = runner.run(_notify_in_helper, timeout=timeout)
    d["busy_error"] = _errno.errorcode.get(d["busy_errno"], str(d["busy_errno"])) if d["busy_errno"] else "none"
    return d


def _pingpong_in_helper(cpu_a: int, cpu_b: int, warmup: int, iters: int, msg_bytes: int) -> np.ndarray:
    c = _lib()
    out = np.empty(iters, dtype=np.int64)
    rc = c.lib.mq_pingpong(_helper_name("pp").encode(), cpu_a, cpu_b, warmup, iters, msg_bytes,
                           c.ffi.cast("int64_t *", out.ctypes.data))
    check(rc, "mq ping-pong")
    return out


def mq_pingpong(n: int | None = None, *, cpus: CPUPair | None = None, msg_bytes: int = 64,
                timeout: float = 60.0) -> Result:
    """Round-trip time (ns) of a ``msg_bytes`` message over two POSIX message queues between two processes.

    ``cpus=(a, b)`` pins each side (``None`` leaves one unpinned); default: both on the first CPU
    of the affinity mask. ``msg_bytes`` from 1 to 8192 (the default ``msgsize_max``).
    """
    if isinstance(msg_bytes, bool) or not isinstance(msg_bytes, int) or not 1 <= msg_bytes <= MAX_MSG_BYTES:
        raise ValueError(f"msg_bytes must be an int from 1 to {MAX_MSG_BYTES}, got {msg_bytes!r}")
    iters = count(n if n is not None else scaled(5000, smoke=200))
    cpu_a, cpu_b = cpu_pair(cpus, cross=False)
    warmup = max(10, iters // 10)
    _lib()
    samples = runner.run(_pingpong_in_helper, timeout=timeout, cpu_a=cpu_a, cpu_b=cpu_b, warmup=warmup,
                         iters=iters, msg_bytes=msg_bytes)
    pinned = [None if c < 0 else c for c in (cpu_a, cpu_b)]
    same = pinned[0] is not None and pinned[0] == pinned[1]
    where = f"CPU {pinned[0]}" if same else "CPUs " + ",".join("any" if c is None else str(c) for c in pinned)
    return Result.from_samples(f"POSIX MQ round trip, processes on {where}", samples, method={
        "clock": "CLOCK_MONOTONIC", "transport": "posix-mq", "mode": "process", "cpus": pinned,
        "same_cpu": same, "iterations": iters, "warmup": warmup, "msg_bytes": msg_bytes,
        "sample": "one round trip A->B->A over two queues (mq_send + blocking mq_timedreceive each way)"})


def _main(argv: list[str]) -> int:
    """``python -m hftos.native.mqueue --fs-view DIR NMSGS BYTES``: used inside the private namespace."""
    if len(argv) == 4 and argv[0] == "--fs-view":
        print(json.dumps(_fs_view_here(argv[1], int(argv[2]), int(argv[3]))))
        return 0
    print("usage: python -m hftos.native.mqueue --fs-view DIR NMSGS BYTES", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
