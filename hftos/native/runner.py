"""Run native experiments in a helper process, with a timeout, leaving nothing behind.

A Jupyter kernel is multithreaded. Experiments that fork, pin CPUs, busy-poll or change
scheduling must not run inside it (conventions §4): fork in a multithreaded process copies only
the calling thread, pinning would pin the kernel's main thread, and a spinning loop cannot be
interrupted. :func:`run` therefore executes one function in a fresh helper process:

- started as ``python -m hftos.native._worker`` (a fresh interpreter, never a ``fork`` of the
  caller), in its own session and process group, so the whole tree can be signalled at once;
- the call (``module:function`` plus keyword arguments) goes in on stdin, the pickled result
  (numpy arrays, dicts) or the pickled exception comes back on stdout;
- on timeout or ``KeyboardInterrupt`` (Ctrl-C / "interrupt kernel") the process group is
  killed with ``SIGKILL`` and the helper reaped;
- every run has a unique resource prefix (:func:`run_prefix` inside the helper). Shared-memory
  segments (``/dev/shm/<prefix>*``) and temporary files or FIFO directories
  (``$TMPDIR/<prefix>*``) are named with it and removed after the run, however it ended.

:func:`run_program` supervises a compiled native program (argv in, raw stdout back) the same way,
for measurements whose parent must not be a Python interpreter (``fork_cost``).
"""

from __future__ import annotations

import errno
import math
import os
import pickle
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from .checks import NativeError

#: Environment variable through which the helper learns its resource prefix.
PREFIX_ENV = "HFTOS_NATIVE_PREFIX"

#: Where POSIX shared-memory objects live on Linux.
SHM_DIR = Path("/dev/shm")


class HelperTimeout(NativeError):
    """The helper process overran its timeout and was killed (``errno`` is ``ETIMEDOUT``)."""


def run_prefix() -> str:
    """Inside a helper: the prefix to name shm segments, FIFOs and temp files with."""
    try:
        return os.environ[PREFIX_ENV]
    except KeyError:
        raise RuntimeError("run_prefix() is only available inside a helper started by runner.run()") from None


def leftovers(prefix: str) -> list[Path]:
    """Resources named with ``prefix`` that still exist (empty after every run)."""
    return sorted([*SHM_DIR.glob(f"{prefix}*"), *Path(tempfile.gettempdir()).glob(f"{prefix}*")])


def cleanup(prefix: str) -> None:
    """Remove every shm segment, temp file or directory named with ``prefix``."""
    for path in leftovers(prefix):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def run(func: Callable[..., Any], /, *, timeout: float, **kwargs: Any) -> Any:
    """Call ``func(**kwargs)`` in a helper process and return its result.

    ``func`` must be a module-level function of ``hftos.native`` (the helper imports it by
    name). Exceptions raised in the helper are re-raised here. If the helper is still running
    after ``timeout`` seconds it is killed with its whole process group and
    :class:`HelperTimeout` is raised; resources it created are removed in every case.
    """
    target = f"{func.__module__}:{func.__qualname__}"
    if not func.__module__.startswith("hftos.native."):
        raise ValueError(f"runner only runs hftos.native functions, not {target}")
    request = pickle.dumps((target, kwargs))
    returncode, out, err = _supervise([sys.executable, "-m", "hftos.native._worker"], func.__name__,
                                      timeout=timeout, request=request)
    if not out:
        how = _how(returncode)
        tail = err.decode(errors="replace").strip()[-2000:]
        raise NativeError(errno.ECHILD, f"{func.__name__}: helper process {how} without a result"
                              + (f":\n{tail}" if tail else ""))
    ok, value = pickle.loads(out)
    if not ok:
        raise value
    return value


def run_program(argv: Sequence[str], /, *, timeout: float, what: str) -> bytes:
    """Run a native program (``argv[0]``, e.g. from :func:`hftos.native.build.executable`) and return its stdout.

    Same supervision as :func:`run`: own session and process group, killed with its children and
    reaped on timeout (:class:`HelperTimeout`) or ``KeyboardInterrupt``, resources named with the
    run's prefix removed. A program reports an error by exiting non-zero with a message on stderr;
    a message ending in ``[errno N]`` becomes ``NativeError(N, ...)``, anything else (or death
    by a signal) ``NativeError(ECHILD, ...)``. ``what`` names the measurement in messages.
    """
    returncode, out, err = _supervise(list(argv), what, timeout=timeout)
    if returncode != 0:
        tail = err.decode(errors="replace").strip()[-2000:]
        found = re.findall(r"\[errno (\d+)\]", tail)
        code = int(found[-1]) if found else errno.ECHILD
        raise NativeError(code, f"{what}: program {Path(argv[0]).name} {_how(returncode)}"
                          + (f":\n{tail}" if tail else ""))
    return out


def _supervise(argv: list[str], what: str, *, timeout: float, request: bytes | None = None) -> tuple[int, bytes, bytes]:
    """Start ``argv`` in its own session with a fresh resource prefix, feed it ``request`` on stdin and wait.

    Returns ``(returncode, stdout, stderr)``. On timeout or any exception (``KeyboardInterrupt``)
    the whole process group is killed and reaped; the prefix's resources are removed in every case.
    """
    prefix = f"hftos-{os.getpid()}-{secrets.token_hex(4)}"
    env = dict(os.environ, **{PREFIX_ENV: prefix,
                              # one thread per helper: no BLAS pool threads around fork()
                              "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                              # the helper's own last-resort bound, in case this process dies first
                              "HFTOS_NATIVE_ALARM": str(math.ceil(timeout) + 5)})
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if request is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    except OSError as exc:  # e.g. a cache directory on a noexec mount
        raise NativeError(exc.errno or errno.ENOEXEC, f"{what}: cannot start {argv[0]}: {exc.strerror}") from exc
    try:
        out, err = proc.communicate(request, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise HelperTimeout(errno.ETIMEDOUT, f"{what}: helper process overran its {timeout:g} s timeout "
                                 "and was killed") from None
    except BaseException:  # KeyboardInterrupt from "interrupt kernel", or anything else
        _kill(proc)
        raise
    finally:
        cleanup(prefix)
    return proc.returncode, out, err


def _how(returncode: int) -> str:
    """How a process ended, for messages."""
    if returncode < 0:
        try:
            return f"was killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the helper's process group (helper plus any children it forked) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()
