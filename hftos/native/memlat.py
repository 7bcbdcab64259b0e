"""Memory latency by pointer chasing (``memlat.c``, chapter 2.2).

One dependent load after another through a cycle of 64-byte nodes spread over a buffer: the time
per step is the latency of a load from wherever the buffer fits (L1, L2, L3, DRAM), plus the TLB
miss when the buffer's pages are more than the TLB can map. Three orders of the cycle:

- ``"random"``: a random single cycle (Sattolo), so no prefetcher helps;
- ``"sequential"``: node after node, 64 bytes apart (the prefetchers stream it);
- ``"page"``: a 4 KiB stride, so every step lands on a different page.

The sweep allocates up to 256 MiB (``HFTOS_BUDGET=full``: 1 GiB) and pins itself to one CPU, so it
runs in a helper process (:mod:`hftos.native.runner`), never inside the Jupyter kernel.
:func:`cache_sizes` reads the CPU's cache sizes from sysfs so that plots can mark them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from hftos.measure import Result, budget, scaled

from . import build, runner
from .checks import check, count

_CDEF = """
int memlat_run(size_t bytes, int pattern, int thp, uint64_t seed, int64_t accesses, int samples,
               double *out, uint64_t *sink);
"""

#: Pattern names accepted by :func:`pointer_chase` and :func:`memlat_sweep`, with their C codes.
PATTERNS: dict[str, int] = {"random": 0, "sequential": 1, "page": 2}

_PAGE = 4096
_CACHE_ROOT = Path("/sys/devices/system/cpu/cpu0/cache")


@dataclass(frozen=True)
class Cache:
    """One cache of CPU 0 as sysfs describes it."""

    level: int
    type: str        #: ``Data``, ``Instruction`` or ``Unified``
    size: int        #: bytes
    shared_with: str  #: ``shared_cpu_list``: the CPUs that share this cache

    @property
    def label(self) -> str:
        kind = {"Data": "d", "Instruction": "i"}.get(self.type, "")
        return f"L{self.level}{kind}"


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text and text[-1] in mult:
        return int(text[:-1]) * mult[text[-1]]
    return int(text)


def cache_sizes(root: str | os.PathLike[str] = _CACHE_ROOT) -> list[Cache]:
    """CPU 0's caches from ``/sys/devices/system/cpu/cpu0/cache/index*`` (empty list if not exposed)."""
    out = []
    for d in sorted(Path(root).glob("index*")):
        try:
            level = int((d / "level").read_text())
            typ = (d / "type").read_text().strip()
            size = _parse_size((d / "size").read_text())
            shared = (d / "shared_cpu_list").read_text().strip() if (d / "shared_cpu_list").exists() else ""
        except (OSError, ValueError):
            continue
        out.append(Cache(level, typ, size, shared))
    return out


def data_caches(root: str | os.PathLike[str] = _CACHE_ROOT) -> list[Cache]:
    """The caches a data load can hit (``Data`` and ``Unified``), smallest level first."""
    return [c for c in cache_sizes(root) if c.type != "Instruction"]


def default_sizes() -> list[int]:
    """Working sets for the sweep: 4 KiB doubling to 256 MiB (full budget 1 GiB, smoke 4 MiB)."""
    top = {"smoke": 22, "default": 28, "full": 30}[budget()]
    return [1 << k for k in range(12, top + 1)]


def _lib() -> build.Compiled:
    return build.load("memlat", _CDEF)


def _check_size(size: int) -> int:
    count(size, "size", minimum=_PAGE)
    if size % _PAGE:
        raise ValueError(f"size must be a multiple of 4096 bytes, got {size}")
    return size


def _available() -> int | None:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _in_helper(runs: list[tuple[int, int]], thp: int, seed: int, accesses: int, samples: int,
               cpu: int | None) -> list[np.ndarray]:
    """Runs inside the helper: pin, then one C call per (size, pattern)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    c = _lib()
    sink = c.ffi.new("uint64_t *")
    out = []
    for size, pattern in runs:
        buf = np.empty(samples, dtype=np.float64)
        check(c.lib.memlat_run(size, pattern, thp, seed, accesses, samples,
                               c.ffi.cast("double *", buf.ctypes.data), sink), f"memlat_run({size})")
        out.append(buf)
    return out


def memlat_sweep(sizes: Sequence[int] | None = None, patterns: Sequence[str] = ("random", "sequential", "page"),
                 *, thp: bool = False, accesses: int | None = None, samples: int | None = None, seed: int = 1,
                 cpu: int | None = None, timeout: float = 300.0) -> dict[str, list[Result]]:
    """Pointer-chase latency for every size and pattern: ``{pattern: [Result per size]}``.

    Each Result holds ``samples`` values, each the mean ns per dependent load over ``accesses``
    loads; ``method["bytes"]`` is the working set. Runs in one helper process pinned to ``cpu``
    (default: the first CPU this process may use). Raises ``MemoryError`` before starting if the
    largest size is more than half of ``MemAvailable``.
    """
    sizes = [_check_size(s) for s in (sizes if sizes is not None else default_sizes())]
    if not sizes:
        raise ValueError("no sizes given")
    for p in patterns:
        if p not in PATTERNS:
            raise ValueError(f"unknown pattern {p!r}; known: {', '.join(PATTERNS)}")
    accesses = count(accesses if accesses is not None else scaled(200_000, full=1_000_000, smoke=20_000), "accesses")
    samples = count(samples if samples is not None else scaled(5, full=20, smoke=3), "samples")
    avail = _available()
    if avail is not None and max(sizes) + (2 << 20) > avail // 2:
        raise MemoryError(f"{max(sizes) >> 20} MiB is more than half of MemAvailable ({avail >> 20} MiB)")
    if cpu is None:
        cpu = sorted(os.sched_getaffinity(0))[0]
    elif cpu not in os.sched_getaffinity(0):
        raise ValueError(f"CPU {cpu} is not in this process's affinity mask")
    _lib()  # compile here, not in the helper
    runs = [(s, PATTERNS[p]) for p in patterns for s in sizes]
    arrays = runner.run(_in_helper, timeout=timeout, runs=runs, thp=int(thp), seed=seed, accesses=accesses,
                        samples=samples, cpu=cpu)
    out: dict[str, list[Result]] = {p: [] for p in patterns}
    for (size, code), arr in zip(runs, arrays):
        name = next(k for k, v in PATTERNS.items() if v == code)
        out[name].append(Result.from_samples(
            f"pointer chase {name} {_human(size)}", arr,
            method={"clock": "CLOCK_MONOTONIC", "bytes": size, "pattern": name, "node": "64 B (one cache line)",
                    "pages": "THP (MADV_HUGEPAGE)" if thp else "4 KiB (MADV_NOHUGEPAGE)",
                    "accesses_per_sample": accesses, "samples": samples, "seed": seed, "cpus": [cpu],
                    "warmup": "one full lap of the cycle",
                    "sample": f"mean ns per dependent load over {accesses} loads"}))
    return out


def pointer_chase(size: int, pattern: str = "random", *, thp: bool = False, accesses: int | None = None,
                  samples: int | None = None, seed: int = 1, cpu: int | None = None) -> Result:
    """Pointer-chase latency (ns per dependent load) over a ``size``-byte working set."""
    return memlat_sweep([size], [pattern], thp=thp, accesses=accesses, samples=samples, seed=seed, cpu=cpu)[pattern][0]


def _human(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"
