"""What this machine is and what this process may do: a strictly read-only probe.

Every live number in the course is read against the host it was measured on (conventions §2, §4).
This module reads ``/proc`` and ``/sys`` (and a few process facts from system calls) and never
writes anything, changes any setting or starts a subprocess. The one active check, whether
hardware performance counters work, opens a disabled instruction counter on this process with
``perf_event_open`` and closes it again at once.

Public API:

- :func:`probe` -> :class:`HostInfo`, a frozen dataclass; cached, ``probe(refresh=True)`` re-reads.
  ``probe(root=...)`` reads a fake ``/proc`` + ``/sys`` tree (tests); ``facts=`` supplies the
  process facts that do not come from files (uname, affinity, rlimits, euid, perf counters).
- :func:`fingerprint` -> a short JSON-ready dict attached to every :class:`hftos.measure.Result`.
- :func:`report` shows the probe as a grouped table (HTML in a notebook, aligned text in a terminal).
- :func:`can` -> :class:`Capability`: may this process do X? ``ok`` plus one sentence a reader can act on.

Unknown values are ``None`` (shown as "unknown"), except a few descriptive string fields
(``preempt``, ``preempt_mode``, ``governor``, ``perf_hw``, ``virt``, ``container``) that always
hold a sentence-like string. Nothing here raises for a missing or unreadable file.

``python -m hftos.host`` prints the text report; ``--json`` prints the full probe as JSON.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno as _errno
import html
import json
import os
import platform
import re
import resource
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

__all__ = [
    "HostInfo",
    "ProcessFacts",
    "Capability",
    "Report",
    "probe",
    "fingerprint",
    "report",
    "can",
    "CAPABILITY_NAMES",
    "parse_cpulist",
    "main",
]

#: Linux capability numbers (``include/uapi/linux/capability.h``), index = bit in CapEff.
CAP_NAMES: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
#: Capabilities the course cares about, shown first in the report.
KEY_CAPS = ("SYS_NICE", "SYS_ADMIN", "IPC_LOCK", "SYS_RESOURCE", "PERFMON", "SYS_PTRACE")

#: ``perf_event_open`` system call numbers by machine (``uname -m``).
_PERF_SYSCALL = {"x86_64": 298, "aarch64": 241, "arm64": 241, "riscv64": 241}

#: Kernel command-line parameters that matter for latency work, shown in the report.
_CMDLINE_KEYS = (
    "isolcpus", "nohz_full", "rcu_nocbs", "irqaffinity", "nohz", "mitigations", "preempt",
    "transparent_hugepage", "hugepages", "hugepagesz", "default_hugepagesz", "intel_idle.max_cstate",
    "processor.max_cstate", "idle", "skew_tick", "tsc", "clocksource", "nosoftlockup", "threadirqs",
    "intel_pstate", "amd_pstate", "numa_balancing", "nosmt",
)

_NO_CPUFREQ = "none (no cpufreq: VM?)"
_UNKNOWN = "unknown"


# ----------------------------------------------------------------------------------------------
# small readers: never raise
# ----------------------------------------------------------------------------------------------

class _Tree:
    """Read-only access to files under ``root`` (``/`` on a real host, a fake tree in tests)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel.lstrip("/"))

    def read(self, rel: str, limit: int = 1 << 20) -> str | None:
        """File contents with surrounding whitespace stripped, or ``None`` if unreadable."""
        try:
            with open(self.path(rel), "rb") as f:
                return f.read(limit).decode("utf-8", errors="replace").strip()
        except (OSError, ValueError):
            return None

    def read_int(self, rel: str) -> int | None:
        text = self.read(rel)
        try:
            return int(text.split()[0]) if text else None
        except (ValueError, IndexError):
            return None

    def listdir(self, rel: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(rel)))
        except OSError:
            return []

    def exists(self, rel: str) -> bool:
        try:
            return os.path.lexists(self.path(rel))
        except (OSError, ValueError):
            return False

    def isdir(self, rel: str) -> bool:
        return os.path.isdir(self.path(rel))

    def readable(self, rel: str, nbytes: int = 0) -> bool:
        """True if the file opens for reading (and yields ``nbytes`` bytes, when asked)."""
        try:
            with open(self.path(rel), "rb") as f:
                return len(f.read(nbytes)) == nbytes if nbytes else True
        except (OSError, ValueError):
            return False


def parse_cpulist(text: str | None) -> tuple[int, ...] | None:
    """Parse a kernel CPU list such as ``"0-3,8-11"`` or ``"0-15:2/4"`` into sorted CPU numbers.

    Returns ``()`` for an empty list and ``None`` if the text cannot be parsed.
    """
    if text is None:
        return None
    text = text.strip()
    if not text:
        return ()
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            stride_used, stride_group = None, None
            if ":" in part:
                part, stride = part.split(":", 1)
                used, group = stride.split("/", 1)
                stride_used, stride_group = int(used), int(group)
            if "-" in part:
                lo_s, hi_s = part.split("-", 1)
                lo, hi = int(lo_s), int(hi_s)
            else:
                lo = hi = int(part)
            if lo < 0 or hi < lo:
                return None
            for c in range(lo, hi + 1):
                if stride_group is None or (c - lo) % stride_group < (stride_used or 0):
                    cpus.add(c)
    except ValueError:
        return None
    return tuple(sorted(cpus))


def _format_cpulist(cpus: Iterable[int] | None) -> str:
    """``(0, 1, 2, 5)`` -> ``"0-2,5"``."""
    if cpus is None:
        return _UNKNOWN
    cs = sorted(set(cpus))
    if not cs:
        return "(none)"
    out: list[str] = []
    start = prev = cs[0]
    tail: list[int | None] = [*cs[1:], None]
    for c in tail:
        if c is not None and c == prev + 1:
            prev = c
            continue
        out.append(f"{start}-{prev}" if prev > start else str(start))
        if c is not None:
            start = prev = c
    return ",".join(out)


def _bracketed(text: str | None) -> str | None:
    """``"always [madvise] never"`` -> ``"madvise"`` (also ``(full)`` as in sched/preempt)."""
    if not text:
        return None
    m = re.search(r"\[([^\]]+)\]", text) or re.search(r"\(([^)]+)\)", text)
    return m.group(1) if m else text.split()[0] if len(text.split()) == 1 else None


def _kernel_tuple(release: str | None) -> tuple[int, int, int] | None:
    if not release:
        return None
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


# ----------------------------------------------------------------------------------------------
# process facts that come from system calls, not files
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProcessFacts:
    """Facts about this process that are read with system calls rather than from files.

    ``probe()`` gathers them for the real host (:meth:`gather`); tests pass their own so a fake
    ``/proc`` + ``/sys`` tree can describe any machine. ``None`` means unknown. Resource limits are
    ``(soft, hard)`` with ``-1`` meaning unlimited (Python's ``resource.RLIM_INFINITY``).
    ``perf_errno`` is ``0`` when a hardware counter opened, else the errno of ``perf_event_open``.
    """

    kernel_release: str | None = None
    kernel_version: str | None = None
    machine: str | None = None
    affinity: tuple[int, ...] | None = None
    rlimit_rtprio: tuple[int, int] | None = None
    rlimit_nice: tuple[int, int] | None = None
    rlimit_memlock: tuple[int, int] | None = None
    euid: int | None = None
    glibc: str | None = None
    python: str | None = None
    perf_errno: int | None = None

    @classmethod
    def gather(cls) -> "ProcessFacts":
        """Read the facts of the running process (read-only; never raises)."""
        u = os.uname()
        try:
            affinity: tuple[int, ...] | None = tuple(sorted(os.sched_getaffinity(0)))
        except (AttributeError, OSError):
            affinity = None

        def lim(name: str) -> tuple[int, int] | None:
            try:
                soft, hard = resource.getrlimit(getattr(resource, name))
                return int(soft), int(hard)
            except (AttributeError, OSError, ValueError):
                return None

        try:
            glibc: str | None = os.confstr("CS_GNU_LIBC_VERSION")
        except (ValueError, OSError, AttributeError):
            glibc = None
        return cls(
            kernel_release=u.release,
            kernel_version=u.version,
            machine=u.machine,
            affinity=affinity,
            rlimit_rtprio=lim("RLIMIT_RTPRIO"),
            rlimit_nice=lim("RLIMIT_NICE"),
            rlimit_memlock=lim("RLIMIT_MEMLOCK"),
            euid=os.geteuid(),
            glibc=glibc,
            python=platform.python_version(),
            perf_errno=_perf_hw_errno(u.machine),
        )


def _perf_hw_errno(machine: str) -> int | None:
    """Open (disabled) and close a PERF_COUNT_HW_INSTRUCTIONS counter on this process.

    Returns 0 if it worked, the errno otherwise, ``None`` if the syscall number is unknown here.
    Read-only and harmless: the counter is never enabled and is closed at once.
    """
    nr = _PERF_SYSCALL.get(machine)
    if nr is None:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    # struct perf_event_attr, PERF_ATTR_SIZE_VER0 = 64 bytes (little-endian bitfields).
    attr = (ctypes.c_uint8 * 64)()
    import struct

    flags = (1 << 0) | (1 << 5) | (1 << 6)  # disabled, exclude_kernel, exclude_hv
    struct.pack_into("<IIQQQQQ", attr, 0, 0, 64, 1, 0, 0, 0, flags)  # PERF_TYPE_HARDWARE, HW_INSTRUCTIONS
    syscall.restype = ctypes.c_long
    ctypes.set_errno(0)
    fd = syscall(ctypes.c_long(nr), ctypes.byref(attr), ctypes.c_int(0), ctypes.c_int(-1),
                 ctypes.c_int(-1), ctypes.c_ulong(8))  # pid 0 (self), any CPU, no group, FD_CLOEXEC
    if fd >= 0:
        os.close(fd)
        return 0
    return ctypes.get_errno() or _errno.EINVAL


# ----------------------------------------------------------------------------------------------
# HostInfo
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HostInfo:
    """Everything :func:`probe` found. ``None`` = could not be read. CPU lists are tuples of ints.

    Dicts use string keys (``"cpu0"``, ``"node0"``, ``"2048kB"``) so the probe round-trips
    through JSON (:meth:`to_dict` / :meth:`from_dict`).
    """

    root: str = "/"
    # kernel and environment
    kernel_release: str | None = None
    kernel_version: str | None = None
    preempt: str = _UNKNOWN            # PREEMPT_RT / PREEMPT_DYNAMIC / PREEMPT / "NONE or VOLUNTARY ..."
    preempt_mode: str = _UNKNOWN       # current mode of a dynamic kernel: none/voluntary/full/lazy
    arch: str | None = None
    python: str | None = None
    glibc: str | None = None
    # CPU
    cpu_model: str | None = None
    cpus_logical: int | None = None
    cpus_online: tuple[int, ...] | None = None
    affinity: tuple[int, ...] | None = None
    threads_per_core: int | None = None
    cores: int | None = None
    smt_active: bool | None = None
    smt_control: str | None = None
    numa_nodes: dict[str, str] = field(default_factory=dict)   # "node0" -> cpulist
    cpu_flags: tuple[str, ...] = ()                             # flags the course uses, if present
    vulnerabilities: dict[str, str] = field(default_factory=dict)
    # clocks
    clocksource: str | None = None
    clocksources_available: tuple[str, ...] = ()
    tsc_flags: dict[str, bool] = field(default_factory=dict)    # empty on non-x86
    governors: dict[str, str] = field(default_factory=dict)     # "cpu0" -> governor
    cpufreq_driver: str | None = None
    # memory
    mem_total_kib: int | None = None
    mem_available_kib: int | None = None
    thp_enabled: str | None = None
    thp_defrag: str | None = None
    hugepages_total: int | None = None
    hugepages_free: int | None = None
    hugepage_size_kib: int | None = None
    hugepages_by_size: dict[str, dict[str, int | None]] = field(default_factory=dict)
    pagemap_readable: bool | None = None
    # scheduling limits and privileges
    euid: int | None = None
    cap_eff: int | None = None
    rlimit_rtprio: tuple[int, int] | None = None
    rlimit_nice: tuple[int, int] | None = None
    rlimit_memlock: tuple[int, int] | None = None
    rt_runtime_us: int | None = None
    rt_period_us: int | None = None
    rr_timeslice_ms: int | None = None
    fair_server: bool | None = None
    sched_debugfs: bool | None = None
    autogroup: bool | None = None
    # perf
    perf_event_paranoid: int | None = None
    perf_hw: str = _UNKNOWN
    pmus: tuple[str, ...] = ()
    # isolation
    cmdline: str | None = None
    cmdline_params: dict[str, str] = field(default_factory=dict)
    isolcpus: str | None = None                 # the isolcpus= value on the command line
    nohz_full: str | None = None                # the nohz_full= value on the command line
    isolated: tuple[int, ...] | None = None     # /sys/devices/system/cpu/isolated
    nohz_full_cpus: tuple[int, ...] | None = None  # /sys/devices/system/cpu/nohz_full
    irq_default_affinity: str | None = None
    # cgroups, containers, VMs
    cgroup_version: str | None = None           # "v2", "v1", "hybrid"
    cgroup_path: str | None = None
    cgroup_cpu_max: str | None = None           # v2 syntax "max 100000" / "150000 100000"
    cgroup_memory_max: str | None = None        # "max" or bytes
    cgroup_cpuset: str | None = None
    container: str = _UNKNOWN
    container_hints: tuple[str, ...] = ()
    virt: str = _UNKNOWN
    virt_hints: tuple[str, ...] = ()
    dmi_vendor: str | None = None
    dmi_product: str | None = None

    # -- derived values ---------------------------------------------------------------------------
    @property
    def kernel(self) -> tuple[int, int, int] | None:
        """Kernel version as ``(major, minor, patch)``."""
        return _kernel_tuple(self.kernel_release)

    def kernel_at_least(self, major: int, minor: int = 0) -> bool | None:
        """``True``/``False``, or ``None`` if the release is unknown."""
        k = self.kernel
        return None if k is None else k[:2] >= (major, minor)

    @property
    def is_root(self) -> bool | None:
        return None if self.euid is None else self.euid == 0

    @property
    def capabilities(self) -> tuple[str, ...] | None:
        """Names of the effective capabilities (``SYS_NICE``, ...), or ``None`` if unknown."""
        if self.cap_eff is None:
            return None
        names = [n for i, n in enumerate(CAP_NAMES) if self.cap_eff >> i & 1]
        names += [f"CAP_{i}" for i in range(len(CAP_NAMES), 64) if self.cap_eff >> i & 1]
        return tuple(names)

    def has_cap(self, name: str) -> bool | None:
        caps = self.capabilities
        return None if caps is None else name.upper().removeprefix("CAP_") in caps

    @property
    def invariant_tsc(self) -> bool | None:
        """``constant_tsc`` and ``nonstop_tsc`` both set; ``None`` off x86 or when unknown."""
        if not self.tsc_flags:
            return None
        return bool(self.tsc_flags.get("constant_tsc") and self.tsc_flags.get("nonstop_tsc"))

    @property
    def governor(self) -> str:
        """One governor if all CPUs agree, ``"cpu0=..., cpu1=..."`` otherwise, or why none."""
        if not self.governors:
            return _NO_CPUFREQ if self.root_was_readable else _UNKNOWN
        values = sorted(set(self.governors.values()))
        if len(values) == 1:
            return values[0]
        return ", ".join(f"{k}={v}" for k, v in sorted(self.governors.items(), key=lambda kv: _natkey(kv[0])))

    @property
    def root_was_readable(self) -> bool:
        """Whether the CPU sysfs tree was there at all (distinguishes "no cpufreq" from "no /sys")."""
        return self.cpus_online is not None or self.cpus_logical is not None

    @property
    def numa_count(self) -> int | None:
        return len(self.numa_nodes) or None

    @property
    def smt(self) -> str:
        """Short SMT description, e.g. ``"2 threads/core (active)"`` or ``"off"``."""
        if self.threads_per_core is None and self.smt_active is None:
            return _UNKNOWN
        tpc = self.threads_per_core
        if tpc is not None and tpc > 1:
            return f"{tpc} threads/core" + (" (active)" if self.smt_active else "")
        if self.smt_control in ("notsupported", "notimplemented"):
            return "no (not supported)"
        return "off" if tpc == 1 or self.smt_active is False else _UNKNOWN

    @property
    def vulnerability_summary(self) -> str:
        if not self.vulnerabilities:
            return _UNKNOWN
        vuln = sorted(k for k, v in self.vulnerabilities.items() if v.lower().startswith("vulnerable"))
        mitig = [k for k, v in self.vulnerabilities.items() if v.lower().startswith("mitigation")]
        unaff = [k for k, v in self.vulnerabilities.items() if v.lower().startswith("not affected")]
        other = len(self.vulnerabilities) - len(vuln) - len(mitig) - len(unaff)
        parts = [f"{len(mitig)} mitigated", f"{len(unaff)} not affected"]
        if vuln:
            parts.insert(0, "vulnerable: " + ", ".join(vuln))
        if other:
            parts.append(f"{other} other")
        return "; ".join(parts)

    # -- serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (tuples become lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "HostInfo":
        """Inverse of :meth:`to_dict`; unknown keys are ignored, missing ones take defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: _untuple(v) for k, v in d.items() if k in names}
        return cls(**kw)

    def _repr_html_(self) -> str:
        return Report(self)._repr_html_()


def _natkey(s: str) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s))


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v


def _untuple(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_untuple(x) for x in v)
    if isinstance(v, dict):
        return {k: _untuple(x) if not isinstance(x, list) else tuple(x) for k, x in v.items()}
    return v


# ----------------------------------------------------------------------------------------------
# the probe
# ----------------------------------------------------------------------------------------------

_CACHE: dict[str, HostInfo] = {}


def probe(refresh: bool = False, *, root: str | os.PathLike[str] = "/",
          facts: ProcessFacts | None = None) -> HostInfo:
    """Probe the host (read-only) and return a :class:`HostInfo`.

    The real host (``root="/"``, no ``facts``) is probed once per process and cached;
    ``refresh=True`` probes again. With another ``root`` (a fake tree in tests) the files come from
    there and the process facts from ``facts`` (all unknown when not given); such probes are not cached.
    """
    root_s = os.fspath(root)
    live = facts is None and os.path.realpath(root_s) == "/"
    if live and not refresh and root_s in _CACHE:
        return _CACHE[root_s]
    if facts is None:
        facts = ProcessFacts.gather() if live else ProcessFacts()
    info = _probe(_Tree(root_s), facts)
    if live:
        _CACHE[root_s] = info
    return info


def _probe(t: _Tree, facts: ProcessFacts) -> HostInfo:
    f: dict[str, Any] = {"root": t.root}
    # kernel --------------------------------------------------------------------------------------
    release = t.read("proc/sys/kernel/osrelease") or facts.kernel_release
    version = t.read("proc/sys/kernel/version") or facts.kernel_version
    f.update(kernel_release=release, kernel_version=version)
    cmdline = t.read("proc/cmdline")
    params = _cmdline_params(cmdline)
    f.update(cmdline=cmdline, cmdline_params={k: params[k] for k in _CMDLINE_KEYS if k in params})
    f["preempt"] = _preempt_model(version)
    mode = _bracketed(t.read("sys/kernel/debug/sched/preempt"))
    if mode:
        f["preempt_mode"] = mode
    elif "preempt" in params and f["preempt"] == "PREEMPT_DYNAMIC":
        f["preempt_mode"] = f"{params['preempt']} (preempt= on the command line)"
    f.update(python=facts.python, glibc=facts.glibc)

    # CPU -----------------------------------------------------------------------------------------
    cpuinfo = t.read("proc/cpuinfo", limit=1 << 22)
    first = _cpuinfo_first_block(cpuinfo)
    f["arch"] = facts.machine or _guess_arch(first)
    f["cpu_model"] = _cpu_model(first, cpuinfo)
    present = parse_cpulist(t.read("sys/devices/system/cpu/present"))
    nproc = len(re.findall(r"^processor\s*:", cpuinfo or "", re.M)) or None
    f["cpus_logical"] = len(present) if present else nproc
    f["cpus_online"] = parse_cpulist(t.read("sys/devices/system/cpu/online"))
    f["affinity"] = facts.affinity
    sib_sets: set[tuple[int, ...]] = set()
    for name in t.listdir("sys/devices/system/cpu"):
        if re.fullmatch(r"cpu\d+", name):
            s = parse_cpulist(t.read(f"sys/devices/system/cpu/{name}/topology/thread_siblings_list")
                              or t.read(f"sys/devices/system/cpu/{name}/topology/core_cpus_list"))
            if s:
                sib_sets.add(s)
    if sib_sets:
        f["threads_per_core"] = max(len(s) for s in sib_sets)
        f["cores"] = len(sib_sets)
    smt_active = t.read("sys/devices/system/cpu/smt/active")
    f["smt_active"] = None if smt_active is None else smt_active == "1"
    f["smt_control"] = t.read("sys/devices/system/cpu/smt/control")
    nodes = {}
    for name in t.listdir("sys/devices/system/node"):
        if re.fullmatch(r"node\d+", name):
            nodes[name] = t.read(f"sys/devices/system/node/{name}/cpulist") or ""
    f["numa_nodes"] = dict(sorted(nodes.items(), key=lambda kv: _natkey(kv[0])))
    flags = set(_cpuinfo_field(first, "flags", "Features").split())
    interesting = ("tsc", "rdtscp", "constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_reliable",
                   "invariant_tsc", "hypervisor", "ht", "pti", "avx2", "avx512f", "rdpid", "waitpkg",
                   "evtstrm", "atomics", "lse")
    f["cpu_flags"] = tuple(x for x in interesting if x in flags)
    vul = {}
    for name in t.listdir("sys/devices/system/cpu/vulnerabilities"):
        text = t.read(f"sys/devices/system/cpu/vulnerabilities/{name}")
        if text is not None:
            vul[name] = text
    f["vulnerabilities"] = vul

    # clocks --------------------------------------------------------------------------------------
    cs = "sys/devices/system/clocksource/clocksource0"
    f["clocksource"] = t.read(f"{cs}/current_clocksource")
    f["clocksources_available"] = tuple((t.read(f"{cs}/available_clocksource") or "").split())
    if "tsc" in flags or "constant_tsc" in flags:  # x86
        f["tsc_flags"] = {k: k in flags for k in ("constant_tsc", "nonstop_tsc", "tsc_known_freq", "rdtscp")}
    gov = {}
    for c in f["cpus_online"] or ():
        g = t.read(f"sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor")
        if g:
            gov[f"cpu{c}"] = g
    f["governors"] = gov
    f["cpufreq_driver"] = next(
        (d for c in (f["cpus_online"] or ())
         if (d := t.read(f"sys/devices/system/cpu/cpu{c}/cpufreq/scaling_driver"))), None)

    # memory --------------------------------------------------------------------------------------
    mem = _meminfo(t.read("proc/meminfo"))
    f.update(mem_total_kib=mem.get("MemTotal"), mem_available_kib=mem.get("MemAvailable"),
             hugepages_total=mem.get("HugePages_Total"), hugepages_free=mem.get("HugePages_Free"),
             hugepage_size_kib=mem.get("Hugepagesize"))
    f["thp_enabled"] = _bracketed(t.read("sys/kernel/mm/transparent_hugepage/enabled"))
    f["thp_defrag"] = _bracketed(t.read("sys/kernel/mm/transparent_hugepage/defrag"))
    hp = {}
    for name in t.listdir("sys/kernel/mm/hugepages"):
        m = re.fullmatch(r"hugepages-(\d+)kB", name)
        if m:
            d = f"sys/kernel/mm/hugepages/{name}"
            hp[f"{m.group(1)}kB"] = {"total": t.read_int(f"{d}/nr_hugepages"),
                                     "free": t.read_int(f"{d}/free_hugepages")}
    f["hugepages_by_size"] = dict(sorted(hp.items(), key=lambda kv: _natkey(kv[0])))
    f["pagemap_readable"] = (t.readable("proc/self/pagemap", 8) if t.exists("proc/self/pagemap")
                             else (False if t.isdir("proc/self") else None))

    # privileges and scheduling limits ---------------------------------------------------------
    status = t.read("proc/self/status") or ""
    m = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", status, re.M)
    f["cap_eff"] = int(m.group(1), 16) if m else None
    euid = facts.euid
    if euid is None:
        m = re.search(r"^Uid:\s*\d+\s+(\d+)", status, re.M)
        euid = int(m.group(1)) if m else None
    f["euid"] = euid
    f["rlimit_rtprio"] = facts.rlimit_rtprio or _proc_limit(t, "Max realtime priority")
    f["rlimit_nice"] = facts.rlimit_nice or _proc_limit(t, "Max nice priority")
    f["rlimit_memlock"] = facts.rlimit_memlock or _proc_limit(t, "Max locked memory")
    f["rt_runtime_us"] = t.read_int("proc/sys/kernel/sched_rt_runtime_us")
    f["rt_period_us"] = t.read_int("proc/sys/kernel/sched_rt_period_us")
    f["rr_timeslice_ms"] = t.read_int("proc/sys/kernel/sched_rr_timeslice_ms")
    ag = t.read_int("proc/sys/kernel/sched_autogroup_enabled")
    f["autogroup"] = None if ag is None else ag != 0
    debugfs = bool(t.listdir("sys/kernel/debug/sched"))
    f["sched_debugfs"] = True if debugfs else (False if t.isdir("sys/kernel") else None)
    kat = _kernel_tuple(release)
    if t.isdir("sys/kernel/debug/sched/fair_server"):
        f["fair_server"] = True
    elif kat is not None:
        f["fair_server"] = kat[:2] >= (6, 12)

    # perf ----------------------------------------------------------------------------------------
    paranoid = t.read_int("proc/sys/kernel/perf_event_paranoid")
    f["perf_event_paranoid"] = paranoid
    f["pmus"] = tuple(t.listdir("sys/bus/event_source/devices"))
    f["perf_hw"] = _perf_hw_text(facts.perf_errno, paranoid)

    # isolation -----------------------------------------------------------------------------------
    f["isolcpus"] = params.get("isolcpus")
    f["nohz_full"] = params.get("nohz_full")
    f["isolated"] = parse_cpulist(t.read("sys/devices/system/cpu/isolated"))
    f["nohz_full_cpus"] = parse_cpulist(t.read("sys/devices/system/cpu/nohz_full"))
    f["irq_default_affinity"] = t.read("proc/irq/default_smp_affinity")

    # cgroups, containers, VMs --------------------------------------------------------------------
    f.update(_cgroup(t))
    f.update(_container(t, f.get("cgroup_path")))
    f.update(_virt(t, flags, f["clocksources_available"], f["governors"], f["cpus_online"] is not None))
    return HostInfo(**f)


def _cmdline_params(cmdline: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for tok in (cmdline or "").split():
        if tok == "--":  # the rest belongs to init
            break
        k, _, v = tok.partition("=")
        out[k] = v
    return out


def _preempt_model(version: str | None) -> str:
    if not version:
        return _UNKNOWN
    toks = set(re.split(r"[\s]+", version))
    if "PREEMPT_RT" in toks or ("PREEMPT" in toks and "RT" in toks):
        return "PREEMPT_RT"
    for name in ("PREEMPT_DYNAMIC", "PREEMPT_LAZY", "PREEMPT"):
        if name in toks:
            return name
    return "NONE or VOLUNTARY (uname -v names no PREEMPT)"


def _cpuinfo_first_block(cpuinfo: str | None) -> str:
    if not cpuinfo:
        return ""
    blocks = re.split(r"\n\s*\n", cpuinfo)
    for b in blocks:  # the first per-processor block with flags/Features, else the first block
        if re.search(r"^(flags|Features)\s*:", b, re.M):
            return b
    return blocks[0]


def _cpuinfo_field(block: str, *names: str) -> str:
    for name in names:
        m = re.search(rf"^{re.escape(name)}\s*:\s*(.*)$", block, re.M)
        if m:
            return m.group(1).strip()
    return ""


_ARM_IMPLEMENTERS = {"0x41": "Arm", "0x42": "Broadcom", "0x43": "Cavium", "0x46": "Fujitsu",
                     "0x48": "HiSilicon", "0x4e": "NVIDIA", "0x51": "Qualcomm", "0x61": "Apple",
                     "0xc0": "Ampere"}
_ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
              "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
              "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
              "0xd49": "Neoverse-N2", "0xd4f": "Neoverse-V2", "0xd8e": "Neoverse-N3", "0xd84": "Neoverse-V3"}


def _cpu_model(first: str, cpuinfo: str | None) -> str | None:
    name = _cpuinfo_field(first, "model name", "cpu model", "uarch")
    if name:
        return re.sub(r"\s+", " ", name)
    impl = _cpuinfo_field(first, "CPU implementer").lower()
    part = _cpuinfo_field(first, "CPU part").lower()
    if impl:
        vendor = _ARM_IMPLEMENTERS.get(impl, f"implementer {impl}")
        core = _ARM_PARTS.get(part, f"part {part}") if impl == "0x41" else f"part {part}"
        return f"{vendor} {core}"
    model = _cpuinfo_field(cpuinfo or "", "Model", "Hardware", "machine")
    return model or None


def _guess_arch(first: str) -> str | None:
    if re.search(r"^(vendor_id|flags)\s*:", first, re.M):
        return "x86_64"
    if re.search(r"^CPU implementer\s*:", first, re.M):
        return "aarch64"
    return None


def _meminfo(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        m = re.match(r"(\w+):\s*(\d+)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def _proc_limit(t: _Tree, label: str) -> tuple[int, int] | None:
    """Fallback for a fake tree: parse a row of ``/proc/self/limits``."""
    text = t.read("proc/self/limits") or ""
    m = re.search(rf"^{re.escape(label)}\s+(\S+)\s+(\S+)", text, re.M)
    if not m:
        return None
    conv = [-1 if v == "unlimited" else int(v) if v.isdigit() else None for v in m.groups()]
    return None if None in conv else (conv[0], conv[1])  # type: ignore[return-value]


def _perf_hw_text(err: int | None, paranoid: int | None) -> str:
    if err is None:
        return _UNKNOWN
    if err == 0:
        return "works"
    p = "?" if paranoid is None else str(paranoid)
    if err in (_errno.EACCES, _errno.EPERM):
        return f"denied (paranoid={p})"
    if err in (_errno.ENOENT, _errno.EOPNOTSUPP, _errno.ENODEV, _errno.EINVAL):
        return "not supported (no PMU: VM?)"
    if err == _errno.ENOSYS:
        return "not supported (no perf_event_open in this kernel)"
    return f"failed ({_errno.errorcode.get(err, err)})"


def _mountinfo_cgroups(t: _Tree) -> tuple[dict[str, tuple[str, str]], tuple[str, str] | None]:
    """v1 controller -> (mount root, mount point); and the v2 (mount root, mount point)."""
    v1: dict[str, tuple[str, str]] = {}
    v2: tuple[str, str] | None = None
    for line in (t.read("proc/self/mountinfo") or "").splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        a, b = pre.split(), post.split()
        if len(a) < 5 or len(b) < 3:
            continue
        mroot, mpoint, fstype = a[3], a[4], b[0]
        if fstype == "cgroup2" and v2 is None:
            v2 = (mroot, mpoint)
        elif fstype == "cgroup":
            for opt in b[2].split(","):
                if opt not in ("rw", "ro") and not opt.startswith(("relatime", "nosuid", "nodev", "noexec")):
                    v1.setdefault(opt, (mroot, mpoint))
    return v1, v2


def _cg_dir(t: _Tree, mount: tuple[str, str], path: str) -> tuple[str, str]:
    """The directory (relative to the tree root) of cgroup ``path`` and the mount point."""
    mroot, mpoint = mount
    rel = path
    if mroot != "/" and (path == mroot or path.startswith(mroot + "/")):
        rel = path[len(mroot):] or "/"
    d = os.path.join(mpoint, rel.lstrip("/")).rstrip("/") or mpoint
    if not t.isdir(d):  # cgroup namespace without matching mount: the mount root is ours
        d = mpoint
    return d, mpoint


def _walk_up(d: str, top: str) -> list[str]:
    out = [d]
    while d != top and len(d) > len(top):
        d = os.path.dirname(d)
        out.append(d)
    return out


def _cgroup(t: _Tree) -> dict[str, Any]:
    text = t.read("proc/self/cgroup")
    if not text:
        return {}
    v1_paths: dict[str, str] = {}
    v2_path: str | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, ctrls, path = parts
        if hid == "0" and ctrls == "":
            v2_path = path
        else:
            for c in ctrls.split(","):
                v1_paths[c] = path
    real_v1 = {c for c in v1_paths if not c.startswith("name=")}
    version = "hybrid" if (v2_path is not None and real_v1) else "v2" if v2_path is not None else "v1"
    out: dict[str, Any] = {"cgroup_version": version}
    v1m, v2m = _mountinfo_cgroups(t)
    if version == "v2":
        out["cgroup_path"] = v2_path
        mount = v2m or ("/", "/sys/fs/cgroup")
        d, top = _cg_dir(t, mount, v2_path or "/")
        cpu = mem = None
        for lvl in _walk_up(d, top):
            cm = t.read(f"{lvl}/cpu.max")
            if cm and cm.split()[0] != "max" and (cpu is None or _cpu_ratio(cm) < _cpu_ratio(cpu)):
                cpu = cm
            elif cm and cpu is None and lvl == d:
                cpu = cm
            m = t.read(f"{lvl}/memory.max")
            if m and m != "max" and (mem is None or mem == "max" or int(m) < int(mem)):
                mem = m
            elif m and mem is None and lvl == d:
                mem = m
        out["cgroup_cpu_max"] = cpu
        out["cgroup_memory_max"] = mem
        out["cgroup_cpuset"] = t.read(f"{d}/cpuset.cpus.effective")
        return out
    # v1 (or hybrid: resource controllers are v1)
    out["cgroup_path"] = v1_paths.get("memory") or v1_paths.get("cpu") or v2_path

    def v1dir(ctrl: str) -> str | None:
        if ctrl not in v1_paths:
            return None
        mount = v1m.get(ctrl)
        if mount is None:
            base = next((f"/sys/fs/cgroup/{n}" for n in (ctrl, "cpu,cpuacct", "cpuacct,cpu")
                         if t.isdir(f"/sys/fs/cgroup/{n}")), f"/sys/fs/cgroup/{ctrl}")
            mount = ("/", base)
        return _cg_dir(t, mount, v1_paths[ctrl])[0]

    vd = v1dir("cpu")
    if vd:
        quota = t.read_int(f"{vd}/cpu.cfs_quota_us")
        period = t.read_int(f"{vd}/cpu.cfs_period_us")
        if period is not None:
            out["cgroup_cpu_max"] = f"{'max' if quota is None or quota < 0 else quota} {period}"
    vd = v1dir("memory")
    if vd:
        lim = t.read_int(f"{vd}/memory.limit_in_bytes")
        if lim is not None:
            out["cgroup_memory_max"] = "max" if lim >= (1 << 62) else str(lim)
    vd = v1dir("cpuset")
    if vd:
        out["cgroup_cpuset"] = t.read(f"{vd}/cpuset.effective_cpus") or t.read(f"{vd}/cpuset.cpus")
    return out


def _cpu_ratio(cpu_max: str) -> float:
    try:
        q, p = cpu_max.split()[:2]
        return float("inf") if q == "max" else int(q) / int(p)
    except ValueError:
        return float("inf")


def _container(t: _Tree, cgroup_path: str | None) -> dict[str, Any]:
    hints: list[str] = []
    kind: str | None = None
    if t.exists(".dockerenv"):
        hints.append("/.dockerenv exists")
        kind = "docker"
    if t.exists("run/.containerenv"):
        hints.append("/run/.containerenv exists")
        kind = kind or "podman"
    nspawn = t.read("run/systemd/container")
    if nspawn:
        hints.append(f"/run/systemd/container = {nspawn}")
        kind = kind or nspawn
    env1 = t.read("proc/1/environ")
    if env1:
        for item in env1.split("\0"):
            if item.startswith("container="):
                hints.append(f"pid 1 has {item}")
                kind = kind or item.split("=", 1)[1]
    cg = t.read("proc/self/cgroup") or ""
    for word in ("docker", "kubepods", "containerd", "libpod", "lxc", "crio"):
        if word in cg:
            hints.append(f"cgroup path mentions {word}")
            kind = "kubernetes" if word == "kubepods" else kind or word  # a pod is the most useful name
    if kind:
        container = kind
    elif env1 is None and not cg:
        container = _UNKNOWN
    else:
        container = "none detected"
    return {"container": container, "container_hints": tuple(hints)}


_VENDORS = (("qemu", "KVM/QEMU"), ("kvm", "KVM"), ("vmware", "VMware"), ("virtualbox", "VirtualBox"),
            ("innotek", "VirtualBox"), ("xen", "Xen"), ("parallels", "Parallels"), ("bochs", "Bochs"),
            ("microsoft corporation", "Hyper-V"), ("google", "Google Compute Engine"),
            ("amazon ec2", "AWS EC2"), ("firecracker", "Firecracker"), ("cloud hypervisor", "Cloud Hypervisor"))


def _virt(t: _Tree, flags: set[str], clocksources: tuple[str, ...], governors: dict[str, str],
          have_cpu_sysfs: bool) -> dict[str, Any]:
    hints: list[str] = []
    kind: str | None = None
    vendor = t.read("sys/class/dmi/id/sys_vendor")
    product = t.read("sys/class/dmi/id/product_name")
    hyp = t.read("sys/hypervisor/type")
    if "hypervisor" in flags:
        hints.append("cpu flag 'hypervisor'")
    if hyp:
        hints.append(f"/sys/hypervisor/type = {hyp}")
        kind = hyp
    dmi = f"{vendor or ''} {product or ''}".strip()
    if dmi:
        low = dmi.lower()
        for key, label in _VENDORS:
            if key in low and not (label == "AWS EC2" and "metal" in low):
                kind = kind or label
                hints.append(f"DMI: {dmi}")
                break
    for c in ("kvm-clock", "hyperv_clocksource_tsc_page", "xen", "vmware"):
        if c in clocksources:
            hints.append(f"clocksource {c} available")
            kind = kind or {"kvm-clock": "KVM", "xen": "Xen", "vmware": "VMware"}.get(c, "Hyper-V")
    if have_cpu_sysfs and not governors:
        hints.append("no cpufreq")
    if "hypervisor" in flags or hyp:
        virt = f"VM ({kind})" if kind else "VM"
    elif kind:
        virt = f"VM? ({kind})"
    elif not flags and not dmi:
        virt = _UNKNOWN
    else:
        virt = "none detected (bare metal?)"
    return {"virt": virt, "virt_hints": tuple(hints), "dmi_vendor": vendor, "dmi_product": product}


# ----------------------------------------------------------------------------------------------
# fingerprint
# ----------------------------------------------------------------------------------------------

def fingerprint(info: HostInfo | None = None) -> dict[str, Any]:
    """A short JSON-ready description of the host, attached to every measurement.

    No hostnames, no command line. Keys: kernel, preempt, arch, cpu_model, cpus, affinity, smt,
    numa, clocksource, invariant_tsc, governor, thp, virt, container, isolcpus, nohz_full.
    """
    i = info or probe()
    affinity = i.affinity
    if info is None:  # the cached probe may predate a later taskset/sched_setaffinity: read it now
        try:
            affinity = tuple(sorted(os.sched_getaffinity(0)))
        except (AttributeError, OSError):
            pass
    preempt = i.preempt if i.preempt_mode == _UNKNOWN else f"{i.preempt} ({i.preempt_mode})"
    return {
        "kernel": i.kernel_release,
        "preempt": preempt,
        "arch": i.arch,
        "cpu_model": i.cpu_model,
        "cpus": len(i.cpus_online) if i.cpus_online else i.cpus_logical,
        "affinity": _format_cpulist(affinity) if affinity is not None else None,
        "smt": i.smt,
        "numa": i.numa_count,
        "clocksource": i.clocksource,
        "invariant_tsc": i.invariant_tsc,
        "governor": i.governor,
        "thp": i.thp_enabled,
        "virt": i.virt,
        "container": i.container,
        "isolcpus": i.isolcpus or (_format_cpulist(i.isolated) if i.isolated else None),
        "nohz_full": i.nohz_full,
    }


def label(fp: Mapping[str, Any] | None) -> str:
    """One line naming the host of a :func:`fingerprint` (as stored in ``Result.host``): CPU model, kernel, VM.

    Used in figure titles and table captions; ``''`` for an empty fingerprint.
    """
    if not fp:
        return ""
    parts = []
    if fp.get("cpu_model"):
        parts.append(" ".join(str(fp["cpu_model"]).split()))
    if fp.get("kernel"):
        parts.append(f"Linux {fp['kernel']}")
    virt = str(fp.get("virt") or _UNKNOWN)
    if virt != _UNKNOWN:
        parts.append("bare metal" if virt == "none" else virt)
    return ", ".join(parts)


def summary(info: HostInfo | None = None) -> str:
    """One line naming the host, for a section notebook's opening and for figure captions.

    The full table is :func:`report`; this line is what every measurement should be read against.
    """
    f = fingerprint(info)
    virt = f["virt"] if f["virt"] not in (None, "", "none", _UNKNOWN) else "bare metal (no VM detected)"
    return (f"{f['cpu_model'] or 'unknown CPU'}, {f['cpus']} CPUs, SMT: {f['smt']}, Linux {f['kernel']} {f['preempt']}, "
            f"{virt}, clocksource {f['clocksource']}, THP {f['thp']}")


# ----------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------

def _u(v: Any) -> str:
    if v is None:
        return _UNKNOWN
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def _kib(v: int | None) -> str:
    if v is None:
        return _UNKNOWN
    if v >= 1 << 20:
        return f"{v / (1 << 20):.1f} GiB"
    if v >= 1 << 10:
        return f"{v / (1 << 10):.0f} MiB"
    return f"{v} KiB"


def _bytes(v: str | int | None) -> str:
    if v is None:
        return _UNKNOWN
    if v == "max":
        return "max (no limit)"
    try:
        return _kib(int(v) // 1024)
    except ValueError:
        return str(v)


def _limit(lim: tuple[int, int] | None, unit: str = "", *, kib: bool = False) -> str:
    if lim is None:
        return _UNKNOWN

    def one(x: int) -> str:
        if x < 0:
            return "unlimited"
        return _kib(x // 1024) if kib else f"{x}{unit}"

    soft, hard = lim
    return one(soft) if soft == hard else f"{one(soft)} (hard {one(hard)})"


def _caps_text(info: HostInfo) -> str:
    caps = info.capabilities
    if caps is None:
        return _UNKNOWN
    if not caps:
        return "none"
    missing = [n for n in CAP_NAMES if n not in caps]
    if len(missing) <= 4:
        return "all" + (" except " + ", ".join(missing) if missing else "")
    key = [n for n in KEY_CAPS if n in caps]
    rest = len(caps) - len(key)
    return ", ".join(key) + (f" (+{rest} more)" if rest else "") if key else f"{len(caps)} (none of {', '.join(KEY_CAPS)})"


def _cpu_max_text(v: str | None) -> str:
    if v is None:
        return _UNKNOWN
    r = _cpu_ratio(v)
    return "max (no limit)" if r == float("inf") else f"{v} = {r:.2f} CPUs"


def _rows(i: HostInfo) -> list[tuple[str, list[tuple[str, str]]]]:
    online = _format_cpulist(i.cpus_online) if i.cpus_online is not None else _UNKNOWN
    tsc = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in i.tsc_flags.items()) if i.tsc_flags else (
        "not x86" if i.arch and i.arch not in ("x86_64", "i686", "i386") else _UNKNOWN)
    hp_sizes = ", ".join(f"{k}: {_u(v.get('free'))}/{_u(v.get('total'))} free" for k, v in i.hugepages_by_size.items())
    if i.hugepages_total is not None:
        hp = f"{i.hugepages_free}/{i.hugepages_total} free of {_kib(i.hugepage_size_kib)} (default size)"
    else:
        hp = _UNKNOWN
    rt = _UNKNOWN
    if i.rt_runtime_us is not None and i.rt_period_us:
        rt = ("off (sched_rt_runtime_us = -1)" if i.rt_runtime_us < 0 else
              f"{i.rt_runtime_us} of {i.rt_period_us} µs ({100 * i.rt_runtime_us / i.rt_period_us:.0f}%)")
    if i.fair_server is None:
        fs = _UNKNOWN
    elif i.fair_server:
        fs = "yes (debugfs)" if i.sched_debugfs and i.kernel_at_least(6, 12) is not False else "yes (kernel ≥ 6.12)"
    else:
        fs = "no (kernel < 6.12: RT throttling only)"
    preempt = i.preempt + ("" if i.preempt_mode == _UNKNOWN else f", mode {i.preempt_mode}")
    numa = (", ".join(f"{k}: {v}" for k, v in i.numa_nodes.items()) if i.numa_nodes else _UNKNOWN)
    smt = i.smt + (f", {i.cores} cores" if i.cores else "")
    euid = _UNKNOWN if i.euid is None else f"{i.euid}" + (" (root)" if i.euid == 0 else "")
    cgroup = _u(i.cgroup_version) + (f" {i.cgroup_path}" if i.cgroup_path else "")
    tuning = ", ".join(f"{k}={v}" if v else k for k, v in i.cmdline_params.items()
                       if k not in ("isolcpus", "nohz_full")) or "(none)"
    if i.cmdline is None:
        tuning = _UNKNOWN
    return [
        ("CPU", [
            ("arch", _u(i.arch)),
            ("model", _u(i.cpu_model)),
            ("logical CPUs", f"{_u(i.cpus_logical)} (online {online})"),
            ("our affinity", _format_cpulist(i.affinity)),
            ("SMT", smt),
            ("NUMA nodes", numa),
            ("vulnerabilities", i.vulnerability_summary),
        ]),
        ("Clocks", [
            ("clocksource", _u(i.clocksource) + (f" (available: {' '.join(i.clocksources_available)})"
                                                 if i.clocksources_available else "")),
            ("TSC flags", tsc),
            ("invariant TSC", _u(i.invariant_tsc) if i.tsc_flags else "n/a"),
            ("cpufreq governor", i.governor + (f" ({i.cpufreq_driver})" if i.cpufreq_driver else "")),
        ]),
        ("Memory", [
            ("total / available", f"{_kib(i.mem_total_kib)} / {_kib(i.mem_available_kib)}"),
            ("THP enabled / defrag", f"{_u(i.thp_enabled)} / {_u(i.thp_defrag)}"),
            ("hugepages", hp),
            ("hugepage pools", hp_sizes or _UNKNOWN),
            ("RLIMIT_MEMLOCK", _limit(i.rlimit_memlock, kib=True)),
            ("/proc/self/pagemap", "readable" if i.pagemap_readable else _u(i.pagemap_readable)),
        ]),
        ("Scheduling limits", [
            ("preemption", preempt),
            ("euid", euid),
            ("capabilities", _caps_text(i)),
            ("RLIMIT_RTPRIO", _limit(i.rlimit_rtprio)),
            ("RLIMIT_NICE", _limit(i.rlimit_nice)),
            ("RT throttling", rt),
            ("fair server", fs),
            ("SCHED_RR timeslice", _UNKNOWN if i.rr_timeslice_ms is None else f"{i.rr_timeslice_ms} ms"),
            ("autogroup", _u(i.autogroup)),
            ("sched debugfs", _UNKNOWN if i.sched_debugfs is None else
             "readable" if i.sched_debugfs else "not readable (needs root and debugfs)"),
        ]),
        ("Perf", [
            ("perf_event_paranoid", _u(i.perf_event_paranoid)),
            ("hardware counters", i.perf_hw),
            ("PMUs", " ".join(i.pmus) or _UNKNOWN),
        ]),
        ("Isolation", [
            ("isolcpus", i.isolcpus or "(none)" if i.cmdline is not None else _UNKNOWN),
            ("nohz_full", i.nohz_full or "(none)" if i.cmdline is not None else _UNKNOWN),
            ("isolated (sysfs)", _format_cpulist(i.isolated)),
            ("tuning on cmdline", tuning),
        ]),
        ("Environment", [
            ("kernel", _u(i.kernel_release) + (f"  {i.kernel_version}" if i.kernel_version else "")),
            ("virtualisation", i.virt + (f" [{'; '.join(i.virt_hints)}]" if i.virt_hints else "")),
            ("container", i.container + (f" [{'; '.join(i.container_hints)}]" if i.container_hints else "")),
            ("cgroup", cgroup),
            ("cgroup cpu.max", _cpu_max_text(i.cgroup_cpu_max)),
            ("cgroup memory.max", _bytes(i.cgroup_memory_max)),
            ("cgroup cpuset", _u(i.cgroup_cpuset)),
            ("glibc / python", f"{_u(i.glibc)} / {_u(i.python)}"),
        ]),
    ]


class Report:
    """A grouped two-column view of a :class:`HostInfo`: ``_repr_html_`` and aligned ``__str__``."""

    def __init__(self, info: HostInfo) -> None:
        self.info = info
        self.groups = _rows(info)

    def __str__(self) -> str:
        width = max(len(k) for _, rows in self.groups for k, _ in rows)
        lines = []
        for title, rows in self.groups:
            lines.append(title)
            lines.extend(f"  {k:<{width}}  {v}" for k, v in rows)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        out = ['<table class="hftos-host" style="border-collapse:collapse;font-size:0.85em;'
               'text-align:left">']
        for title, rows in self.groups:
            out.append(f'<tr><th colspan="2" style="text-align:left;padding:6px 4px 2px;'
                       f'border-bottom:1px solid #999">{html.escape(title)}</th></tr>')
            for k, v in rows:
                out.append(f'<tr><td style="padding:1px 12px 1px 4px;white-space:nowrap;color:#555">'
                           f'{html.escape(k)}</td><td style="padding:1px 4px;text-align:left">'
                           f'{html.escape(v)}</td></tr>')
        out.append("</table>")
        return "".join(out)


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython already imported and running with a kernel)."""
    ip_mod = sys.modules.get("IPython")
    if ip_mod is None:  # a kernel has always imported IPython; a script need not pay for the import
        return False
    try:
        ip = ip_mod.get_ipython()
    except Exception:
        return False
    return ip is not None and getattr(ip, "kernel", None) is not None


def report(info: HostInfo | None = None) -> None:
    """Show the probe: an HTML table in a notebook (``IPython.display``), aligned text in a terminal.

    Returns ``None`` so that a host cell ending in ``hftos.host.report()`` shows the table once.
    For the object itself use ``Report(probe())`` (``str()`` gives the text, ``_repr_html_()`` the HTML).
    """
    rep = Report(info or probe())
    if _in_notebook():
        from IPython.display import display

        display(rep)
    else:
        print(str(rep))


# ----------------------------------------------------------------------------------------------
# capabilities
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Capability:
    """Whether this process may do something, and one sentence a reader can act on."""

    name: str
    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return f"{self.name}: {'yes' if self.ok else 'no'}. {self.reason}"


def _rtprio_soft(i: HostInfo) -> int | None:
    if i.rlimit_rtprio is None:
        return None
    s = i.rlimit_rtprio[0]
    return 99 if s < 0 else s


def _can_root(i: HostInfo) -> tuple[bool, str]:
    if i.euid is None:
        return False, "Could not read the effective user id, so assume not root."
    if i.euid == 0:
        extra = "" if i.has_cap("SYS_ADMIN") is not False else " (but CAP_SYS_ADMIN is missing: a restricted container?)"
        return True, f"Running as root (euid 0){extra}."
    return False, f"Running as uid {i.euid}, not root; demos tagged [root] show their recorded fallback."


def _can_sched_fifo(i: HostInfo, priority: int = 1) -> tuple[bool, str]:
    if not 1 <= priority <= 99:
        raise ValueError("SCHED_FIFO priority must be 1..99")
    cap = i.has_cap("SYS_NICE")
    rt = _rtprio_soft(i)
    if cap:
        return True, f"This process has CAP_SYS_NICE, so SCHED_FIFO/SCHED_RR priority {priority} is allowed."
    if rt is not None and rt >= priority:
        return True, f"RLIMIT_RTPRIO is {rt} (ulimit -r), so SCHED_FIFO priority up to {rt} is allowed."
    rtxt = "unknown" if rt is None else str(rt)
    return False, (f"SCHED_FIFO needs CAP_SYS_NICE or RLIMIT_RTPRIO ≥ {priority}; this process has neither "
                   f"(ulimit -r is {rtxt}). Run as root, or set 'rtprio' in /etc/security/limits.conf "
                   f"(LimitRTPRIO= for systemd units, --cap-add SYS_NICE for containers) and log in again.")


def _can_sched_deadline(i: HostInfo) -> tuple[bool, str]:
    if i.has_cap("SYS_NICE"):
        return True, "This process has CAP_SYS_NICE, which SCHED_DEADLINE requires."
    return False, ("SCHED_DEADLINE needs CAP_SYS_NICE (RLIMIT_RTPRIO is not enough); run as root or grant "
                   "the capability (--cap-add SYS_NICE in a container).")


def _can_nice_lower(i: HostInfo, nice: int = -1) -> tuple[bool, str]:
    if not -20 <= nice <= 19:
        raise ValueError("nice must be -20..19")
    if i.has_cap("SYS_NICE"):
        return True, f"This process has CAP_SYS_NICE, so it may set nice {nice}."
    lim = i.rlimit_nice[0] if i.rlimit_nice else None
    floor = None if lim is None else (-20 if lim < 0 else 20 - lim)
    if floor is not None and nice >= floor:
        return True, f"RLIMIT_NICE allows nice values down to {floor} (ulimit -e is {lim})."
    if nice >= 0:
        return True, "Raising the nice value (being nicer) is always allowed."
    return False, (f"Setting nice {nice} needs CAP_SYS_NICE or RLIMIT_NICE ≥ {20 - nice} (ulimit -e is "
                   f"{'unknown' if lim is None else lim}); run as root or set 'nice' in "
                   f"/etc/security/limits.conf. Raising niceness (positive values) always works.")


def _can_cpus(i: HostInfo, n: int = 2) -> tuple[bool, str]:
    if i.affinity is None:
        return False, "Could not read this process's CPU affinity (os.sched_getaffinity)."
    k = len(i.affinity)
    cpus = _format_cpulist(i.affinity)
    if k >= n:
        return True, f"This process may run on {k} CPUs ({cpus})."
    return False, (f"This process may run on {k} CPU{'s' if k != 1 else ''} ({cpus}); the demo needs {n}. "
                   f"Give the VM or container more CPUs (docker --cpuset-cpus / taskset) to see the two-CPU effect.")


def _can_perf_hw(i: HostInfo) -> tuple[bool, str]:
    if i.perf_hw == "works":
        return True, "A hardware instruction counter opened on this process (perf_event_open works)."
    p = i.perf_event_paranoid
    if i.perf_hw.startswith("denied"):
        how = ("" if p is None or p <= 2 else
               f" kernel.perf_event_paranoid is {p}; 'sudo sysctl kernel.perf_event_paranoid=2' would allow "
               f"user-space counting.")
        seccomp = (" paranoid ≤ 2 already, so a container's seccomp profile or a missing CAP_PERFMON is "
                   "blocking perf_event_open." if p is not None and p <= 2 else "")
        return False, f"Hardware counters are denied.{how}{seccomp} The demos fall back to timing only."
    if i.perf_hw.startswith("not supported"):
        return False, ("No hardware performance counters (no PMU exposed, typical in VMs); counter demos show "
                       "a recorded result from bare metal instead.")
    return False, f"Hardware counters: {i.perf_hw}; counter demos show a recorded result instead."


def _can_hugepages(i: HostInfo, n: int = 1) -> tuple[bool, str]:
    free = i.hugepages_free
    size = _kib(i.hugepage_size_kib)
    if free is None:
        return False, "Could not read HugePages_Free from /proc/meminfo."
    if free >= n:
        return True, f"{free} free hugepages of {size} are reserved (HugePages_Free)."
    return False, (f"The hugetlb pool has {free} free page{'s' if free != 1 else ''} of {size}, the demo needs "
                   f"{n}; a root user can reserve some with 'echo 64 | sudo tee /proc/sys/vm/nr_hugepages' "
                   f"(not done for you). Transparent huge pages (THP) need no reservation.")


def _can_thp(i: HostInfo) -> tuple[bool, str]:
    if i.thp_enabled is None:
        return False, "Transparent huge pages are not available (no /sys/kernel/mm/transparent_hugepage)."
    if i.thp_enabled == "never":
        return False, ("Transparent huge pages are disabled ('never'); root can enable them with "
                       "'echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled'.")
    how = " (only for regions marked with madvise(MADV_HUGEPAGE))" if i.thp_enabled == "madvise" else ""
    return True, f"Transparent huge pages are '{i.thp_enabled}'{how}."


def _can_numa2(i: HostInfo) -> tuple[bool, str]:
    n = i.numa_count
    if n is None:
        return False, "No NUMA information under /sys/devices/system/node; assume one node."
    if n >= 2:
        return True, f"This machine has {n} NUMA nodes."
    return False, "This machine has one NUMA node, so local-versus-remote memory cannot be measured here; the demo shows a recorded two-socket result."


def _is_x86(i: HostInfo) -> bool:
    return i.arch in ("x86_64", "i686", "i386", "amd64")


def _can_rdtsc(i: HostInfo) -> tuple[bool, str]:
    if _is_x86(i):
        return True, "x86: the rdtsc/rdtscp instructions are available in user space."
    return False, (f"rdtsc is x86-only and this machine is {i.arch or 'unknown'}; on arm64 read the generic timer "
                   f"CNTVCT_EL0 instead (clock_gettime uses it through the vDSO).")


def _can_invariant_tsc(i: HostInfo) -> tuple[bool, str]:
    if not _is_x86(i):
        return False, f"No TSC on {i.arch or 'this architecture'}; use CLOCK_MONOTONIC."
    if i.invariant_tsc:
        return True, "constant_tsc and nonstop_tsc are set: the TSC ticks at a fixed rate, also in idle states."
    missing = [k for k in ("constant_tsc", "nonstop_tsc") if not i.tsc_flags.get(k)]
    return False, (f"The TSC is not invariant here (missing {', '.join(missing) or 'flags'} in /proc/cpuinfo); "
                   f"convert cycles to time only against CLOCK_MONOTONIC.")


def _can_pagemap_exclusive(i: HostInfo) -> tuple[bool, str]:
    if i.kernel_at_least(4, 2) is False:
        return False, f"The pagemap 'exclusively mapped' bit needs Linux ≥ 4.2; this is {i.kernel_release}."
    if i.pagemap_readable:
        return True, "/proc/self/pagemap is readable; bit 56 shows whether a page is exclusively mapped."
    return False, "/proc/self/pagemap is not readable here (restricted /proc in a container?)."


def _can_sched_debugfs(i: HostInfo) -> tuple[bool, str]:
    if i.sched_debugfs:
        return True, "/sys/kernel/debug/sched is readable."
    return False, ("/sys/kernel/debug/sched is not readable: it needs root and debugfs mounted "
                   "('sudo mount -t debugfs none /sys/kernel/debug'); the demo shows what it would contain.")


def _can_mlock(i: HostInfo, mib: float = 64) -> tuple[bool, str]:
    if i.has_cap("IPC_LOCK"):
        return True, f"This process has CAP_IPC_LOCK, so it may lock {mib:g} MiB (memory permitting)."
    lim = i.rlimit_memlock[0] if i.rlimit_memlock else None
    if lim is None:
        return False, "Could not read RLIMIT_MEMLOCK."
    if lim < 0 or lim >= mib * (1 << 20):
        return True, f"RLIMIT_MEMLOCK ({_limit(i.rlimit_memlock, kib=True)}) allows locking {mib:g} MiB."
    return False, (f"Locking {mib:g} MiB needs CAP_IPC_LOCK or RLIMIT_MEMLOCK ≥ {mib:g} MiB; ulimit -l is "
                   f"{lim // 1024} KiB. Set 'memlock' in /etc/security/limits.conf (LimitMEMLOCK= for systemd, "
                   f"--ulimit memlock=-1 for docker) or use a smaller buffer.")


_CHECKS: dict[str, Callable[..., tuple[bool, str]]] = {
    "root": _can_root,
    "sched_fifo": _can_sched_fifo,
    "sched_deadline": _can_sched_deadline,
    "nice_lower": _can_nice_lower,
    "two_cpus": lambda i: _can_cpus(i, 2),
    "cpus": _can_cpus,
    "perf_hw": _can_perf_hw,
    "hugepages": _can_hugepages,
    "thp": _can_thp,
    "numa2": _can_numa2,
    "rdtsc": _can_rdtsc,
    "invariant_tsc": _can_invariant_tsc,
    "pagemap_exclusive": _can_pagemap_exclusive,
    "sched_debugfs": _can_sched_debugfs,
    "mlock": _can_mlock,
}

#: Names accepted by :func:`can`.
CAPABILITY_NAMES: tuple[str, ...] = tuple(_CHECKS)


def can(name: str, info: HostInfo | None = None, **kwargs: Any) -> Capability:
    """May this process do ``name``? Returns a truthy/falsy :class:`Capability` with a reason.

    Names: ``root``, ``sched_fifo`` (``priority=1``), ``sched_deadline``, ``nice_lower`` (``nice=-1``),
    ``two_cpus``, ``cpus`` (``n=2``), ``perf_hw``, ``hugepages`` (``n=1``), ``thp``, ``numa2``, ``rdtsc``,
    ``invariant_tsc``, ``pagemap_exclusive``, ``sched_debugfs``, ``mlock`` (``mib=64``).
    An unknown name raises ``ValueError`` listing the valid ones.
    """
    check = _CHECKS.get(name)
    if check is None:
        raise ValueError(f"unknown capability {name!r}; valid names: {', '.join(CAPABILITY_NAMES)}")
    ok, reason = check(info or probe(), **kwargs)
    return Capability(name, bool(ok), reason)


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``python -m hftos.host [--json] [--root DIR]``: print the host report (or the full probe as JSON)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hftos.host", description=main.__doc__)
    ap.add_argument("--json", action="store_true", help="print the full probe as JSON")
    ap.add_argument("--root", default="/", help="read /proc and /sys under this directory (default /)")
    ap.add_argument("--can", action="store_true", help="also list every capability check")
    args = ap.parse_args(argv)
    info = probe(root=args.root)
    if args.json:
        print(info.to_json(indent=2, sort_keys=False))
        return 0
    print(str(Report(info)))
    if args.can:
        print("Capabilities")
        for n in CAPABILITY_NAMES:
            print(f"  {can(n, info)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
