"""Errors raised by :mod:`hftos.native` and the argument checks every wrapper runs before any C.

- C functions return 0 or ``-errno``; :func:`check` turns a negative value into
  :class:`NativeError` (an ``OSError`` carrying ``errno`` and what failed).
- Bad arguments raise ``ValueError`` before anything is compiled, forked or pinned:
  :func:`count`, :func:`cpu_pair`, :func:`memory_bytes`.
- Asking for two different CPUs when this process may use only one raises
  :class:`NotEnoughCPUs` (a ``ValueError``) with a sentence a reader can act on, so a notebook
  can catch it and print the reason instead of a traceback.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Optional, Tuple

#: A CPU pair as passed to the wrappers: an int pins that end, ``None`` leaves it unpinned.
CPUPair = Tuple[Optional[int], Optional[int]]


class NativeError(OSError):
    """A C function (or the helper process running it) failed; ``errno`` says how."""


class NotEnoughCPUs(ValueError):
    """A cross-CPU experiment was requested but this process may run on fewer than two CPUs."""


def check(rc: int, what: str) -> None:
    """Raise :class:`NativeError` if a C function returned a negative errno."""
    if rc < 0:
        raise NativeError(-rc, f"{what}: {os.strerror(-rc)}")


def count(value: int, what: str = "n", *, minimum: int = 1) -> int:
    """Validate an iteration or message count."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return value


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask), sorted."""
    return sorted(os.sched_getaffinity(0))


def cpu_pair(cpus: CPUPair | None, *, cross: bool) -> tuple[int, int]:
    """Validate a ``(cpu_a, cpu_b)`` pair and return it with ``-1`` for "not pinned".

    ``cpus=None`` picks a default from the affinity mask: the first allowed CPU for both ends
    (``cross=False``) or the first two allowed CPUs (``cross=True``). Each given CPU must be in
    this process's affinity mask. Two different CPUs under a one-CPU mask raise
    :class:`NotEnoughCPUs`.
    """
    mask = allowed_cpus()
    if cpus is None:
        if not cross:
            return mask[0], mask[0]
        if len(mask) < 2:
            raise NotEnoughCPUs(f"this experiment needs two CPUs, but this process may only run on "
                                f"CPU {mask[0]} (see `taskset -p {os.getpid()}`)")
        return mask[0], mask[1]
    if not (isinstance(cpus, (tuple, list)) and len(cpus) == 2):
        raise ValueError(f"cpus must be a pair (cpu_a, cpu_b), got {cpus!r}")
    for cpu in cpus:
        if cpu is None:
            continue
        if isinstance(cpu, bool) or not isinstance(cpu, int) or cpu < 0:
            raise ValueError(f"a CPU must be a non-negative int or None, got {cpu!r}")
        if cpu not in mask:
            if len(mask) < 2 and cpus[0] != cpus[1]:
                raise NotEnoughCPUs(f"CPUs {cpus[0]} and {cpus[1]} requested, but this process may "
                                    f"only run on CPU {mask[0]}; this experiment needs two CPUs")
            raise ValueError(f"CPU {cpu} is not in this process's affinity mask {mask}")
    return tuple(-1 if c is None else c for c in cpus)  # type: ignore[return-value]


def mem_available() -> int:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise NativeError(_errno.ENOENT, "MemAvailable not found in /proc/meminfo")


def memory_bytes(mib: float, *, fraction: float = 0.5) -> int:
    """Validate a memory size in MiB: positive and at most ``fraction`` of MemAvailable."""
    if isinstance(mib, bool) or not isinstance(mib, (int, float)) or not mib > 0:
        raise ValueError(f"memory size must be a positive number of MiB, got {mib!r}")
    size = int(mib * 2**20)
    limit = int(mem_available() * fraction)
    if size > limit:
        raise ValueError(f"{mib} MiB is more than {fraction:.0%} of MemAvailable "
                         f"({limit / 2**20:.0f} MiB allowed on this host)")
    return size
