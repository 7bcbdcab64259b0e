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
"""

from __future__ import annotations

import errno
import math
import os
import pickle
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

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
    prefix = f"hftos-{os.getpid()}-{secrets.token_hex(4)}"
    env = dict(os.environ, **{PREFIX_ENV: prefix,
                              # one thread per helper: no BLAS pool threads around fork()
                              "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                              # the helper's own last-resort bound, in case this process dies first
                              "HFTOS_NATIVE_ALARM": str(math.ceil(timeout) + 5)})
    request = pickle.dumps((target, kwargs))
    proc = subprocess.Popen([sys.executable, "-m", "hftos.native._worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(request, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise HelperTimeout(errno.ETIMEDOUT, f"{func.__name__}: helper process overran its {timeout:g} s timeout "
                                 "and was killed") from None
    except BaseException:  # KeyboardInterrupt from "interrupt kernel", or anything else
        _kill(proc)
        raise
    finally:
        cleanup(prefix)
    if not out:
        how = (f"was killed by signal {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
               else f"exited with status {proc.returncode}")
        tail = err.decode(errors="replace").strip()[-2000:]
        raise NativeError(errno.ECHILD, f"{func.__name__}: helper process {how} without a result"
                              + (f":\n{tail}" if tail else ""))
    ok, value = pickle.loads(out)
    if not ok:
        raise value
    return value


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the helper's process group (helper plus any children it forked) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()
