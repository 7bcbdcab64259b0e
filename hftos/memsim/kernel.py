"""Read-only views of the reader's kernel memory-management settings (chapters 2.4 and 2.5).

Nothing here writes anything: each function reads ``/proc`` or ``/sys`` and returns plain values (``None`` where a
file is missing or unreadable), so a notebook can show the reader's own settings next to the textbook's.

- :func:`lru_settings`: MGLRU's ``/sys/kernel/mm/lru_gen/enabled`` decoded, ``min_ttl_ms``, ``vm.swappiness``, and the
  sizes of the classic active/inactive lists from ``/proc/meminfo``;
- :func:`overcommit`: ``vm.overcommit_memory``, ``overcommit_ratio``/``overcommit_kbytes``, ``CommitLimit``,
  ``Committed_AS``, swap;
- :func:`oom`: ``/proc/<pid>/oom_score`` and ``oom_score_adj``;
- :func:`meminfo`, :func:`vmstat`: the raw tables;
- :func:`libc_version`: which C library (and so which ``malloc``) this process runs on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["read", "meminfo", "vmstat", "lru_settings", "decode_lru_gen", "overcommit", "oom", "libc_version"]

LRU_GEN_BITS = {
    0x1: "multi-gen LRU on (main switch)",
    0x2: "batched clearing of accessed bits in leaf PTEs",
    0x4: "clearing accessed bits in non-leaf page-table entries",
}


def read(path: str) -> str | None:
    """The stripped contents of a file, or ``None`` if it is missing or unreadable."""
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _int(path: str) -> int | None:
    v = read(path)
    try:
        return int(v, 0) if v is not None else None
    except ValueError:
        return None


def meminfo(text: str | None = None) -> dict[str, int]:
    """``/proc/meminfo`` as ``{name: kibibytes}`` (the ``HugePages_*`` counts are pages, as the kernel prints them)."""
    text = read("/proc/meminfo") if text is None else text
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[name.strip()] = int(parts[0])
    return out


def vmstat(text: str | None = None) -> dict[str, int]:
    """``/proc/vmstat`` as ``{counter: value}``."""
    text = read("/proc/vmstat") if text is None else text
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def decode_lru_gen(value: str | None) -> dict[str, Any]:
    """Decode the contents of ``/sys/kernel/mm/lru_gen/enabled`` (e.g. ``0x0007``)."""
    if value is None:
        return {"raw": None, "on": None, "components": [],
                "text": "MGLRU is not available (no /sys/kernel/mm/lru_gen: kernel built without CONFIG_LRU_GEN, or "
                        "older than 6.1); reclaim uses the classic active/inactive lists"}
    try:
        mask = int(value, 16)
    except ValueError:
        return {"raw": value, "on": None, "components": [], "text": f"unrecognised value {value!r}"}
    comps = [text for bit, text in LRU_GEN_BITS.items() if mask & bit]
    on = bool(mask & 1)
    return {"raw": value, "on": on, "components": comps,
            "text": (f"MGLRU {'on' if on else 'off'} ({value}"
                     f"{': ' + '; '.join(comps) if comps else ''})")}


def lru_settings() -> dict[str, Any]:
    """MGLRU state, swappiness and the active/inactive list sizes (KiB) of this host."""
    mi = meminfo()
    lru = decode_lru_gen(read("/sys/kernel/mm/lru_gen/enabled"))
    return {
        "lru_gen": lru,
        "min_ttl_ms": _int("/sys/kernel/mm/lru_gen/min_ttl_ms"),
        "swappiness": _int("/proc/sys/vm/swappiness"),
        "lists_kib": {k: mi.get(k) for k in ("Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)")},
        "swap_total_kib": mi.get("SwapTotal"),
    }


def overcommit() -> dict[str, Any]:
    """The overcommit policy and the commit accounting of ``/proc/meminfo`` (KiB)."""
    mi = meminfo()
    mode = _int("/proc/sys/vm/overcommit_memory")
    names = {0: "heuristic (default)", 1: "always overcommit", 2: "strict: never beyond CommitLimit"}
    return {
        "overcommit_memory": mode,
        "mode": names.get(mode, "unknown") if mode is not None else None,
        "overcommit_ratio": _int("/proc/sys/vm/overcommit_ratio"),
        "overcommit_kbytes": _int("/proc/sys/vm/overcommit_kbytes"),
        "CommitLimit": mi.get("CommitLimit"),
        "Committed_AS": mi.get("Committed_AS"),
        "MemTotal": mi.get("MemTotal"),
        "MemAvailable": mi.get("MemAvailable"),
        "SwapTotal": mi.get("SwapTotal"),
        "SwapFree": mi.get("SwapFree"),
    }


def oom(pid: int | str = "self") -> dict[str, int | None]:
    """``oom_score`` (the kernel's current badness: RSS, swap and page tables as a share of memory, shifted by the
    adjustment, rescaled as ``(1000 + badness * 1000 / total) * 2 / 3``; higher is killed first) and ``oom_score_adj``
    (-1000..1000) of a process."""
    return {"oom_score": _int(f"/proc/{pid}/oom_score"), "oom_score_adj": _int(f"/proc/{pid}/oom_score_adj")}


def libc_version() -> dict[str, Any]:
    """glibc's version (``gnu_get_libc_version``), or ``None`` on another C library."""
    import ctypes
    try:
        libc = ctypes.CDLL(None)
        f = libc.gnu_get_libc_version
        f.restype = ctypes.c_char_p
        return {"libc": "glibc", "version": f().decode()}
    except (OSError, AttributeError):
        return {"libc": None, "version": None}
