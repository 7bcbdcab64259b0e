"""One ``write`` per message versus a batching writer (``batch.c``, chapter 1.6, erratum E66).

Runs in the caller's process: it only writes to ``/dev/null`` or to a private temporary file
(removed afterwards), it does not fork, pin or spin.
"""

from __future__ import annotations

import errno
import os
import tempfile

import numpy as np

from hftos.measure import Result, scaled

from . import build
from .checks import NativeError, check, count

_CDEF = """
int batch_run(int fd, int batched, size_t msg_len, size_t capacity, long count, int64_t *lat_ns,
              int64_t *total_ns);
"""

_TARGETS = ("devnull", "file")


def _lib() -> build.Compiled:
    return build.load("batch", _CDEF)


def _one_mode(fd: int, batched: bool, msg_bytes: int, buffer_bytes: int, messages: int, path: str | None
              ) -> tuple[np.ndarray, int]:
    """Timed pass (per-message samples) and untimed pass (throughput); the file is checked after each."""
    c = _lib()
    lat = np.empty(messages, dtype=np.int64)
    total = c.ffi.new("int64_t *")
    elapsed = 0
    for timed in (True, False):
        if path:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
        ptr = c.ffi.cast("int64_t *", lat.ctypes.data) if timed else c.ffi.NULL
        check(c.lib.batch_run(fd, int(batched), msg_bytes, buffer_bytes, messages, ptr, total), "batch_run")
        elapsed = total[0]
        if path and os.fstat(fd).st_size != messages * msg_bytes:
            raise NativeError(errno.EIO, f"batch_run wrote {os.fstat(fd).st_size} bytes, "
                                         f"expected {messages * msg_bytes}")
    return lat, elapsed


def batch_write(messages: int | None = None, *, msg_bytes: int = 64, buffer_bytes: int = 8192,
                target: str = "devnull") -> dict:
    """Compare one ``write()`` per message with a batching writer.

    Writes ``messages`` messages of ``msg_bytes`` bytes to ``/dev/null`` (``target="devnull"``:
    pure system-call cost) or to a temporary file (``target="file"``; its size is checked, which
    proves nothing was lost, including messages larger than the buffer and the final flush).
    Returns ``direct`` and ``batched`` (:class:`~hftos.measure.Result`, per-message call time in
    ns: mostly a memcpy for the batched writer, with a spike at every flush), ``direct_mps``
    and ``batched_mps`` (million messages per second from a second, untimed pass), and the
    parameters.
    """
    m = count(messages if messages is not None else scaled(100_000, smoke=5_000), "messages")
    count(msg_bytes, "msg_bytes")
    count(buffer_bytes, "buffer_bytes")
    if target not in _TARGETS:
        raise ValueError(f"target must be one of {', '.join(_TARGETS)}, got {target!r}")
    if target == "file" and m * msg_bytes > 256 * 2**20:
        raise ValueError("at most 256 MiB may be written to the temporary file")
    if target == "devnull":
        path, fd = None, os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    else:
        fd, path = tempfile.mkstemp(prefix="hftos-batch-")
    out: dict = {"messages": m, "msg_bytes": msg_bytes, "buffer_bytes": buffer_bytes, "target": target}
    try:
        for mode in ("direct", "batched"):
            lat, elapsed = _one_mode(fd, mode == "batched", msg_bytes, buffer_bytes, m, path)
            out[mode] = Result.from_samples(f"{mode} write, {msg_bytes} B messages", lat, method={
                "clock": "CLOCK_MONOTONIC", "target": target, "iterations": m, "warmup": 0,
                "msg_bytes": msg_bytes, "buffer_bytes": buffer_bytes if mode == "batched" else None,
                "sample": "time of one call (write() or writer.write())", "cpus": "not pinned"})
            out[f"{mode}_mps"] = m / elapsed * 1e3
    finally:
        os.close(fd)
        if path:
            os.unlink(path)
    return out
