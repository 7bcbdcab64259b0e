"""Tests for hftos.host: parse fake /proc + /sys trees, capability reasons, reports, JSON.

Fake trees are built under tmp_path from small fixture dicts (path -> file contents), so every
scenario (a VM without cpufreq, a tuned bare-metal box, arm64, a cgroup-v2 container, an empty
tree) is tested on any machine. One group of tests also runs the probe on the real host.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from hftos import host
from hftos.host import Capability, HostInfo, ProcessFacts, Report, can, fingerprint, parse_cpulist, probe

# ------------------------------------------------------------------------------------------------
# fixtures: fake trees
# ------------------------------------------------------------------------------------------------

X86_FLAGS_VM = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr "
                "sse sse2 ht syscall nx rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid "
                "tsc_known_freq pni ssse3 fma cx16 sse4_1 sse4_2 x2apic popcnt tsc_deadline_timer aes xsave "
                "avx hypervisor lahf_lm avx2")
X86_FLAGS_METAL = X86_FLAGS_VM.replace(" hypervisor", "")


def _cpuinfo_x86(n: int, model: str, flags: str) -> str:
    blocks = []
    for i in range(n):
        blocks.append(f"processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 106\n"
                      f"model name\t: {model}\nflags\t\t: {flags}\n")
    return "\n".join(blocks) + "\n"


CPUINFO_ARM64 = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics "
    f"fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
    f"CPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n" for i in range(4))

MEMINFO = """MemTotal:       16303216 kB
MemFree:         9000000 kB
MemAvailable:   12000000 kB
HugePages_Total:     {total}
HugePages_Free:      {free}
HugePages_Rsvd:        0
HugePages_Surp:        0
Hugepagesize:       2048 kB
"""

STATUS = "Name:\tpython\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nCapInh:\t0000000000000000\nCapEff:\t{capeff}\n"


def common_vm() -> dict[str, str]:
    """A 2-CPU KVM guest without cpufreq, hybrid cgroups, Docker: like the course's build VM."""
    return {
        "proc/sys/kernel/osrelease": "6.8.0-45-generic\n",
        "proc/sys/kernel/version": "#45-Ubuntu SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024\n",
        "proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet mitigations=auto\n",
        "proc/cpuinfo": _cpuinfo_x86(2, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", X86_FLAGS_VM),
        "proc/meminfo": MEMINFO.format(total=0, free=0),
        "proc/self/status": STATUS.format(uid=1000, capeff="0000000000000000"),
        "proc/self/pagemap": "\0" * 64,
        "proc/self/cgroup": "12:memory:/user.slice\n4:cpu,cpuacct:/user.slice\n3:cpuset:/\n0::/user.slice/session-1.scope\n",
        "proc/sys/kernel/perf_event_paranoid": "4\n",
        "proc/sys/kernel/sched_rt_runtime_us": "950000\n",
        "proc/sys/kernel/sched_rt_period_us": "1000000\n",
        "proc/sys/kernel/sched_rr_timeslice_ms": "100\n",
        "proc/sys/kernel/sched_autogroup_enabled": "1\n",
        "sys/devices/system/cpu/present": "0-1\n",
        "sys/devices/system/cpu/online": "0-1\n",
        "sys/devices/system/cpu/isolated": "\n",
        "sys/devices/system/cpu/cpu0/topology/thread_siblings_list": "0\n",
        "sys/devices/system/cpu/cpu1/topology/thread_siblings_list": "1\n",
        "sys/devices/system/cpu/smt/active": "0\n",
        "sys/devices/system/cpu/smt/control": "notsupported\n",
        "sys/devices/system/cpu/cpufreq/.keep": "",
        "sys/devices/system/cpu/vulnerabilities/meltdown": "Not affected\n",
        "sys/devices/system/cpu/vulnerabilities/spectre_v2": "Mitigation: Retpolines; STIBP: disabled\n",
        "sys/devices/system/cpu/vulnerabilities/spec_store_bypass": "Vulnerable\n",
        "sys/devices/system/node/node0/cpulist": "0-1\n",
        "sys/devices/system/clocksource/clocksource0/current_clocksource": "kvm-clock\n",
        "sys/devices/system/clocksource/clocksource0/available_clocksource": "kvm-clock tsc acpi_pm \n",
        "sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never\n",
        "sys/kernel/mm/transparent_hugepage/defrag": "always defer defer+madvise [madvise] never\n",
        "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": "0\n",
        "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages": "0\n",
        "sys/class/dmi/id/sys_vendor": "QEMU\n",
        "sys/class/dmi/id/product_name": "Standard PC (Q35 + ICH9, 2009)\n",
        "sys/bus/event_source/devices/software/type": "1\n",
        "sys/fs/cgroup/memory/user.slice/memory.limit_in_bytes": "9223372036854771712\n",
        "sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_quota_us": "-1\n",
        "sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_period_us": "100000\n",
        "sys/fs/cgroup/cpuset/cpuset.effective_cpus": "0-1\n",
        ".dockerenv": "",
    }


def bare_metal() -> dict[str, str]:
    """A tuned 2-socket box: PREEMPT_RT, SMT, isolcpus + nohz_full, hugepages, cpufreq, debugfs."""
    cpus = 16
    d = {
        "proc/sys/kernel/osrelease": "6.12.0-rt5\n",
        "proc/sys/kernel/version": "#1 SMP PREEMPT_RT Tue Nov 26 10:00:00 UTC 2024\n",
        "proc/cmdline": ("BOOT_IMAGE=/vmlinuz root=/dev/sda1 isolcpus=domain,managed_irq,2-7,10-15 "
                         "nohz_full=2-7,10-15 rcu_nocbs=2-7,10-15 irqaffinity=0,8 intel_idle.max_cstate=0 "
                         "default_hugepagesz=2M hugepages=512 skew_tick=1\n"),
        "proc/cpuinfo": _cpuinfo_x86(cpus, "Intel(R) Xeon(R) Gold 6348 CPU @ 2.60GHz", X86_FLAGS_METAL),
        "proc/meminfo": MEMINFO.format(total=512, free=500),
        "proc/self/status": STATUS.format(uid=0, capeff="000001ffffffffff"),
        "proc/self/pagemap": "\0" * 64,
        "proc/self/cgroup": "0::/user.slice/user-0.slice/session-3.scope\n",
        "proc/self/mountinfo": "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
        "proc/sys/kernel/perf_event_paranoid": "2\n",
        "proc/sys/kernel/sched_rt_runtime_us": "-1\n",
        "proc/sys/kernel/sched_rt_period_us": "1000000\n",
        "proc/sys/kernel/sched_rr_timeslice_ms": "100\n",
        "proc/sys/kernel/sched_autogroup_enabled": "0\n",
        "proc/irq/default_smp_affinity": "0101\n",
        "sys/devices/system/cpu/present": f"0-{cpus - 1}\n",
        "sys/devices/system/cpu/online": f"0-{cpus - 1}\n",
        "sys/devices/system/cpu/isolated": "2-7,10-15\n",
        "sys/devices/system/cpu/nohz_full": "2-7,10-15\n",
        "sys/devices/system/cpu/smt/active": "1\n",
        "sys/devices/system/cpu/smt/control": "on\n",
        "sys/devices/system/node/node0/cpulist": "0-3,8-11\n",
        "sys/devices/system/node/node1/cpulist": "4-7,12-15\n",
        "sys/devices/system/clocksource/clocksource0/current_clocksource": "tsc\n",
        "sys/devices/system/clocksource/clocksource0/available_clocksource": "tsc hpet acpi_pm \n",
        "sys/kernel/mm/transparent_hugepage/enabled": "always madvise [never]\n",
        "sys/kernel/mm/transparent_hugepage/defrag": "always defer defer+madvise madvise [never]\n",
        "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": "512\n",
        "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages": "500\n",
        "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "2\n",
        "sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages": "2\n",
        "sys/kernel/debug/sched/preempt": "none voluntary (full)\n",
        "sys/kernel/debug/sched/fair_server/cpu0/runtime": "50000000\n",
        "sys/class/dmi/id/sys_vendor": "Supermicro\n",
        "sys/class/dmi/id/product_name": "SYS-1029U-TRT\n",
        "sys/bus/event_source/devices/cpu/type": "4\n",
        "sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids\n",
        "sys/fs/cgroup/user.slice/user-0.slice/session-3.scope/cpu.max": "max 100000\n",
        "sys/fs/cgroup/user.slice/user-0.slice/session-3.scope/memory.max": "max\n",
        "sys/fs/cgroup/user.slice/user-0.slice/session-3.scope/cpuset.cpus.effective": "0-15\n",
        "sys/devices/system/cpu/vulnerabilities/meltdown": "Not affected\n",
    }
    # SMT siblings: cpu i and i+8 share a core; the performance governor everywhere
    for c in range(cpus):
        core = c % 8
        d[f"sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list"] = f"{core},{core + 8}\n"
        d[f"sys/devices/system/cpu/cpu{c}/cpufreq/scaling_governor"] = "performance\n"
        d[f"sys/devices/system/cpu/cpu{c}/cpufreq/scaling_driver"] = "intel_pstate\n"
    return d


def arm64() -> dict[str, str]:
    """A 4-core arm64 cloud VM (Neoverse-N1): no TSC, arch_sys_counter, no hypervisor flag."""
    return {
        "proc/sys/kernel/osrelease": "6.1.0-26-arm64\n",
        "proc/sys/kernel/version": "#1 SMP Debian 6.1.112-1 (2024-09-30)\n",
        "proc/cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.1.0-26-arm64 root=UUID=abc ro\n",
        "proc/cpuinfo": CPUINFO_ARM64,
        "proc/meminfo": MEMINFO.format(total=0, free=0),
        "sys/devices/system/cpu/present": "0-3\n",
        "sys/devices/system/cpu/online": "0-3\n",
        "sys/devices/system/clocksource/clocksource0/current_clocksource": "arch_sys_counter\n",
        "sys/devices/system/clocksource/clocksource0/available_clocksource": "arch_sys_counter \n",
        "sys/class/dmi/id/sys_vendor": "Amazon EC2\n",
        "sys/class/dmi/id/product_name": "m6g.xlarge\n",
        "sys/devices/system/node/node0/cpulist": "0-3\n",
        "proc/sys/kernel/sched_rt_runtime_us": "950000\n",
        "proc/sys/kernel/sched_rt_period_us": "1000000\n",
    }


def container_v2() -> dict[str, str]:
    """A Kubernetes pod on cgroup v2 without a cgroup namespace: limits on a parent cgroup."""
    pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-pod1.slice"
    ctr = pod + "/cri-containerd-abc.scope"
    return {
        "proc/sys/kernel/osrelease": "5.15.0-1050-aws\n",
        "proc/sys/kernel/version": "#55-Ubuntu SMP Mon Oct 2 2023\n",
        "proc/cmdline": "BOOT_IMAGE=/vmlinuz ro\n",
        "proc/cpuinfo": _cpuinfo_x86(4, "AMD EPYC 7R13 Processor", X86_FLAGS_VM.replace(" nonstop_tsc", "")),
        "proc/self/status": STATUS.format(uid=0, capeff="00000000a80425fb"),
        "proc/self/cgroup": f"0::{ctr}\n",
        "proc/self/mountinfo": "700 600 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw\n",
        "proc/1/environ": "PATH=/usr/bin\0HOSTNAME=pod\0container=oci\0",
        "sys/fs/cgroup/cgroup.controllers": "cpu memory\n",
        f"sys/fs/cgroup{pod}/cpu.max": "150000 100000\n",
        f"sys/fs/cgroup{pod}/memory.max": "536870912\n",
        f"sys/fs/cgroup{ctr}/cpu.max": "max 100000\n",
        f"sys/fs/cgroup{ctr}/memory.max": "1073741824\n",
        f"sys/fs/cgroup{ctr}/cpuset.cpus.effective": "0-3\n",
        "sys/devices/system/cpu/online": "0-3\n",
        "proc/sys/kernel/perf_event_paranoid": "2\n",
    }


def build(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


UNPRIV = ProcessFacts(machine="x86_64", affinity=(0, 1), rlimit_rtprio=(0, 0), rlimit_nice=(0, 0),
                      rlimit_memlock=(8 << 20, 8 << 20), euid=1000, glibc="glibc 2.39", python="3.11.7",
                      perf_errno=errno.EACCES)


# ------------------------------------------------------------------------------------------------
# parsing
# ------------------------------------------------------------------------------------------------

def test_vm_without_cpufreq(tmp_path: Path) -> None:
    i = probe(root=build(tmp_path, common_vm()), facts=UNPRIV)
    assert i.kernel_release == "6.8.0-45-generic"
    assert i.kernel == (6, 8, 0)
    assert i.preempt == "PREEMPT_DYNAMIC"
    assert i.preempt_mode == "unknown"
    assert i.cpu_model.startswith("Intel(R) Xeon(R) Platinum 8375C")
    assert i.cpus_logical == 2 and i.cpus_online == (0, 1) and i.affinity == (0, 1)
    assert i.threads_per_core == 1 and i.smt_active is False and i.smt == "no (not supported)"
    assert i.numa_nodes == {"node0": "0-1"}
    assert i.clocksource == "kvm-clock" and i.clocksources_available == ("kvm-clock", "tsc", "acpi_pm")
    assert i.tsc_flags == {"constant_tsc": True, "nonstop_tsc": True, "tsc_known_freq": True, "rdtscp": True}
    assert i.invariant_tsc is True
    assert i.governors == {} and i.governor == "none (no cpufreq: VM?)"
    assert i.thp_enabled == "madvise" and i.thp_defrag == "madvise"
    assert i.hugepages_total == 0 and i.hugepages_free == 0 and i.hugepage_size_kib == 2048
    assert i.hugepages_by_size == {"2048kB": {"total": 0, "free": 0}}
    assert i.perf_event_paranoid == 4 and i.perf_hw == "denied (paranoid=4)"
    assert i.euid == 1000 and i.is_root is False and i.capabilities == ()
    assert i.rt_runtime_us == 950000 and i.rt_period_us == 1000000 and i.rr_timeslice_ms == 100
    assert i.fair_server is False  # 6.8 < 6.12 and no debugfs
    assert i.autogroup is True
    assert i.isolcpus is None and i.isolated == ()
    assert i.cmdline_params == {"mitigations": "auto"}
    assert i.cgroup_version == "hybrid" and i.cgroup_path == "/user.slice"
    assert i.cgroup_cpu_max == "max 100000" and i.cgroup_memory_max == "max" and i.cgroup_cpuset == "0-1"
    assert i.container == "docker"
    assert i.virt == "VM (KVM/QEMU)" and "cpu flag 'hypervisor'" in i.virt_hints and "no cpufreq" in i.virt_hints
    assert i.vulnerabilities["spec_store_bypass"] == "Vulnerable"
    assert i.vulnerability_summary.startswith("vulnerable: spec_store_bypass; 1 mitigated; 1 not affected")
    assert i.pagemap_readable is True


def test_bare_metal_isolcpus_hugepages(tmp_path: Path) -> None:
    facts = ProcessFacts(machine="x86_64", affinity=tuple(range(16)), rlimit_rtprio=(0, 0),
                         rlimit_nice=(0, 0), rlimit_memlock=(-1, -1), euid=0, perf_errno=0)
    i = probe(root=build(tmp_path, bare_metal()), facts=facts)
    assert i.preempt == "PREEMPT_RT" and i.preempt_mode == "full"
    assert i.cpus_logical == 16 and i.threads_per_core == 2 and i.cores == 8 and i.smt_active is True
    assert i.smt == "2 threads/core (active)"
    assert i.numa_nodes == {"node0": "0-3,8-11", "node1": "4-7,12-15"} and i.numa_count == 2
    assert i.isolcpus == "domain,managed_irq,2-7,10-15" and i.nohz_full == "2-7,10-15"
    assert i.isolated == (2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15) and i.nohz_full_cpus == i.isolated
    assert i.cmdline_params["rcu_nocbs"] == "2-7,10-15" and i.cmdline_params["skew_tick"] == "1"
    assert i.hugepages_total == 512 and i.hugepages_free == 500
    assert i.hugepages_by_size == {"2048kB": {"total": 512, "free": 500}, "1048576kB": {"total": 2, "free": 2}}
    assert i.thp_enabled == "never"
    assert i.governor == "performance" and i.cpufreq_driver == "intel_pstate"
    assert i.invariant_tsc is True and i.clocksource == "tsc"
    assert i.rt_runtime_us == -1 and i.fair_server is True and i.sched_debugfs is True
    assert i.autogroup is False
    assert i.perf_hw == "works" and "cpu" in i.pmus
    assert i.virt == "none detected (bare metal?)" and i.container == "none detected"
    assert i.cgroup_version == "v2" and i.cgroup_cpu_max == "max 100000" and i.cgroup_memory_max == "max"
    assert i.cgroup_cpuset == "0-15"
    assert i.capabilities is not None and "SYS_NICE" in i.capabilities and len(i.capabilities) == 41
    assert i.irq_default_affinity == "0101"
    fp = fingerprint(i)
    assert fp["preempt"] == "PREEMPT_RT (full)" and fp["isolcpus"] == "domain,managed_irq,2-7,10-15"
    assert fp["numa"] == 2 and fp["cpus"] == 16


def test_arm64(tmp_path: Path) -> None:
    i = probe(root=build(tmp_path, arm64()))  # no facts: arch inferred from cpuinfo
    assert i.arch == "aarch64"
    assert i.cpu_model == "Arm Neoverse-N1"
    assert i.cpus_logical == 4
    assert i.tsc_flags == {} and i.invariant_tsc is None
    assert i.clocksource == "arch_sys_counter"
    assert i.preempt == "NONE or VOLUNTARY (uname -v names no PREEMPT)"
    assert i.virt == "VM? (AWS EC2)"
    assert "atomics" in i.cpu_flags
    assert not can("rdtsc", i) and "CNTVCT_EL0" in can("rdtsc", i).reason
    assert not can("invariant_tsc", i)
    assert i.perf_hw == "unknown" and i.euid is None
    r = str(Report(i))
    assert "not x86" in r and "Neoverse-N1" in r


def test_container_cgroup_v2_limits_walk_up(tmp_path: Path) -> None:
    i = probe(root=build(tmp_path, container_v2()))
    assert i.cgroup_version == "v2"
    assert i.cgroup_path.endswith("cri-containerd-abc.scope")
    # the pod's limits are tighter than the container's own files
    assert i.cgroup_cpu_max == "150000 100000"
    assert i.cgroup_memory_max == "536870912"
    assert i.cgroup_cpuset == "0-3"
    assert i.container == "kubernetes"
    assert any("container=oci" in h for h in i.container_hints)
    assert i.euid == 0  # from /proc/self/status when no facts are given
    assert i.has_cap("SYS_NICE") is False and i.has_cap("CHOWN") is True
    assert i.tsc_flags["nonstop_tsc"] is False and i.invariant_tsc is False
    assert "nonstop_tsc" in can("invariant_tsc", i).reason
    text = str(Report(i))
    assert "150000 100000 = 1.50 CPUs" in text and "512 MiB" in text
    # root in a container without CAP_SYS_NICE and RLIMIT_RTPRIO unknown: no SCHED_FIFO
    assert not can("sched_fifo", i)


def test_container_v2_with_cgroup_namespace(tmp_path: Path) -> None:
    files = {
        "proc/self/cgroup": "0::/\n",
        "sys/fs/cgroup/cpu.max": "200000 100000\n",
        "sys/fs/cgroup/memory.max": "max\n",
        "sys/fs/cgroup/cpuset.cpus.effective": "1\n",
        "run/.containerenv": "",
    }
    i = probe(root=build(tmp_path, files))
    assert i.cgroup_version == "v2" and i.cgroup_cpu_max == "200000 100000" and i.cgroup_memory_max == "max"
    assert i.cgroup_cpuset == "1" and i.container == "podman"


def test_empty_tree_gives_unknowns(tmp_path: Path) -> None:
    i = probe(root=tmp_path)
    for name in ("kernel_release", "cpu_model", "cpus_logical", "cpus_online", "clocksource", "thp_enabled",
                 "hugepages_free", "perf_event_paranoid", "euid", "cap_eff", "cgroup_version", "arch",
                 "rlimit_rtprio", "fair_server", "sched_debugfs", "pagemap_readable"):
        assert getattr(i, name) is None, name
    assert i.preempt == "unknown" and i.perf_hw == "unknown" and i.governor == "unknown"
    assert i.virt == "unknown" and i.container == "unknown" and i.smt == "unknown"
    assert i.kernel is None and i.kernel_at_least(6, 12) is None and i.invariant_tsc is None
    fp = fingerprint(i)
    json.dumps(fp)
    text = str(Report(i))
    assert "unknown" in text
    for n in host.CAPABILITY_NAMES:
        c = can(n, i)
        assert c.ok is False and c.reason, n


def test_nonexistent_root_and_unreadable_files(tmp_path: Path) -> None:
    probe(root=tmp_path / "does-not-exist")
    # directories where files are expected, garbage content: still no exception
    files = {"proc/cpuinfo/x": "", "proc/meminfo": "garbage\n\n:::\n", "proc/self/cgroup": "nonsense\n",
             "sys/devices/system/cpu/online": "a-b\n", "proc/sys/kernel/perf_event_paranoid": "x\n",
             "proc/self/status": "CapEff:\tzz\n", "proc/sys/kernel/osrelease": "weird\n"}
    i = probe(root=build(tmp_path, files))
    assert i.cpu_model is None and i.cpus_online is None and i.perf_event_paranoid is None
    assert i.kernel_release == "weird" and i.kernel is None
    str(Report(i))
    i._repr_html_()


def test_probe_never_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = build(tmp_path, bare_metal())
    real_open = builtins.open

    def guarded(file, mode="r", *a, **kw):  # type: ignore[no-untyped-def]
        assert not any(ch in mode for ch in "wax+"), f"probe opened {file} with mode {mode}"
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", guarded)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    probe(root=root, facts=UNPRIV)
    probe(refresh=True)  # the real host too
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


# ------------------------------------------------------------------------------------------------
# cpulists
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("0", (0,)), ("0-3", (0, 1, 2, 3)), ("0-1,4,6-7", (0, 1, 4, 6, 7)), ("", ()), ("\n", ()),
    ("0-7:2/4", (0, 1, 4, 5)), ("3-1", None), ("x", None), (None, None),
])
def test_parse_cpulist(text: str | None, expected: tuple[int, ...] | None) -> None:
    assert parse_cpulist(text) == expected


@given(st.sets(st.integers(min_value=0, max_value=300), max_size=40))
def test_cpulist_roundtrip(cpus: set[int]) -> None:
    text = host._format_cpulist(cpus)
    assert parse_cpulist("" if text == "(none)" else text) == tuple(sorted(cpus))


# ------------------------------------------------------------------------------------------------
# capabilities
# ------------------------------------------------------------------------------------------------

def test_can_unprivileged(tmp_path: Path) -> None:
    i = probe(root=build(tmp_path, common_vm()), facts=UNPRIV)
    c = can("sched_fifo", i)
    assert isinstance(c, Capability) and not c and c.ok is False
    assert "CAP_SYS_NICE or RLIMIT_RTPRIO" in c.reason and "ulimit -r is 0" in c.reason
    assert "limits.conf" in c.reason
    assert not can("root", i) and "uid 1000" in can("root", i).reason
    assert not can("nice_lower", i)
    assert can("nice_lower", i, nice=5)  # raising niceness always works
    assert can("two_cpus", i) and not can("cpus", i, n=4)
    perf = can("perf_hw", i)
    assert not perf and "perf_event_paranoid is 4" in perf.reason
    assert not can("hugepages", i) and "nr_hugepages" in can("hugepages", i).reason
    assert can("thp", i) and "madvise" in can("thp", i).reason
    assert not can("numa2", i)
    assert can("rdtsc", i) and can("invariant_tsc", i)
    assert can("pagemap_exclusive", i)
    assert not can("sched_debugfs", i)
    assert can("mlock", i, mib=4) and not can("mlock", i, mib=64)
    assert "ulimit -l is 8192 KiB" in can("mlock", i, mib=64).reason
    assert not can("sched_deadline", i)


def test_can_with_rlimits(tmp_path: Path) -> None:
    facts = ProcessFacts(machine="x86_64", affinity=(3,), rlimit_rtprio=(50, 50), rlimit_nice=(25, 25),
                         rlimit_memlock=(-1, -1), euid=1000, perf_errno=errno.ENOENT)
    i = probe(root=build(tmp_path, common_vm()), facts=facts)
    assert can("sched_fifo", i, priority=10) and "RLIMIT_RTPRIO is 50" in can("sched_fifo", i, priority=10).reason
    assert not can("sched_fifo", i, priority=60)
    assert can("nice_lower", i, nice=-5) and not can("nice_lower", i, nice=-6)
    single = can("two_cpus", i)
    assert not single and "1 CPU (3)" in single.reason
    assert can("mlock", i, mib=4096)
    assert i.perf_hw == "not supported (no PMU: VM?)" and "no PMU" in can("perf_hw", i).reason
    with pytest.raises(ValueError):
        can("sched_fifo", i, priority=100)


def test_can_root_bare_metal(tmp_path: Path) -> None:
    facts = ProcessFacts(machine="x86_64", affinity=tuple(range(16)), rlimit_rtprio=(0, 0), euid=0,
                         perf_errno=0, rlimit_memlock=(65536, 65536))
    i = probe(root=build(tmp_path, bare_metal()), facts=facts)
    for n in ("root", "sched_fifo", "sched_deadline", "nice_lower", "two_cpus", "perf_hw", "hugepages",
              "numa2", "rdtsc", "invariant_tsc", "pagemap_exclusive", "sched_debugfs", "mlock"):
        assert can(n, i), (n, can(n, i).reason)
    assert can("hugepages", i, n=500) and not can("hugepages", i, n=501)
    assert not can("thp", i) and "never" in can("thp", i).reason
    assert str(can("root", i)).startswith("root: yes.")


def test_perf_denied_with_low_paranoid_mentions_seccomp(tmp_path: Path) -> None:
    files = common_vm() | {"proc/sys/kernel/perf_event_paranoid": "1\n"}
    i = probe(root=build(tmp_path, files), facts=UNPRIV)
    assert i.perf_hw == "denied (paranoid=1)" and "seccomp" in can("perf_hw", i).reason


def test_can_unknown_name() -> None:
    with pytest.raises(ValueError) as e:
        can("teleport")
    for n in ("sched_fifo", "two_cpus", "perf_hw", "mlock"):
        assert n in str(e.value)


# ------------------------------------------------------------------------------------------------
# report and JSON
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", [common_vm, bare_metal, arm64, container_v2, dict])
def test_report_html_text_and_json_roundtrip(tmp_path: Path, scenario) -> None:  # type: ignore[no-untyped-def]
    i = probe(root=build(tmp_path, scenario()), facts=UNPRIV)
    rep = Report(i)
    h = rep._repr_html_()
    assert h.startswith("<table") and h.endswith("</table>")
    for group in ("CPU", "Clocks", "Memory", "Scheduling limits", "Perf", "Isolation", "Environment"):
        assert f">{group}</th>" in h and f"\n{group}\n" in f"\n{rep}\n"
    assert "<script" not in h
    text = str(rep)
    assert all(line.startswith("  ") or line in {g for g, _ in rep.groups} for line in text.splitlines())
    back = HostInfo.from_dict(json.loads(i.to_json()))
    assert back == i
    assert json.loads(json.dumps(fingerprint(i))) == fingerprint(i)


def test_html_escapes_values(tmp_path: Path) -> None:
    i = probe(root=build(tmp_path, {"proc/cpuinfo": "model name\t: <b>Evil</b> & co\nflags\t: tsc\n"}))
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; co" in Report(i)._repr_html_()


def test_report_prints_in_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    i = probe(root=build(tmp_path, common_vm()), facts=UNPRIV)
    assert host.report(i) is None
    out = capsys.readouterr().out
    assert out.strip() == str(Report(i)).strip()
    assert "kvm-clock" in out and "none (no cpufreq: VM?)" in out


def test_report_displays_in_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shown = []
    monkeypatch.setattr(host, "_in_notebook", lambda: True)
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    i = probe(root=build(tmp_path, common_vm()), facts=UNPRIV)
    assert host.report(i) is None
    assert len(shown) == 1 and isinstance(shown[0], Report) and "<table" in shown[0]._repr_html_()


# ------------------------------------------------------------------------------------------------
# the real host
# ------------------------------------------------------------------------------------------------

def test_real_host_probe() -> None:
    i = probe()
    assert probe() is i
    j = probe(refresh=True)
    assert j is not i and probe() is j
    assert i.kernel_release == os.uname().release
    assert i.arch == os.uname().machine
    assert i.affinity == tuple(sorted(os.sched_getaffinity(0)))
    assert i.euid == os.geteuid()
    assert i.perf_hw.startswith(("works", "denied", "not supported", "unknown", "failed"))
    assert HostInfo.from_dict(json.loads(i.to_json())) == i
    fp = fingerprint()
    assert {"kernel", "preempt", "cpu_model", "cpus", "smt", "clocksource", "invariant_tsc", "governor",
            "thp", "virt", "container", "isolcpus"} <= set(fp)
    json.dumps(fp)
    for n in host.CAPABILITY_NAMES:
        c = can(n)
        assert isinstance(c.ok, bool) and c.reason.endswith(".")
    print()
    print(Report(i))


def test_perf_probe_is_harmless() -> None:
    err = host._perf_hw_errno(os.uname().machine)
    assert err is None or (isinstance(err, int) and err >= 0)
    assert host._perf_hw_errno("sparc64") is None


def test_command_line() -> None:
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "hftos.host"], capture_output=True, text=True, env=env,
                         timeout=60, check=True).stdout
    assert "Clocks" in out and "clocksource" in out
    js = subprocess.run([sys.executable, "-m", "hftos.host", "--json"], capture_output=True, text=True,
                        env=env, timeout=60, check=True).stdout
    d = json.loads(js)
    assert d["kernel_release"] == os.uname().release
    assert HostInfo.from_dict(d).kernel_release == d["kernel_release"]


def test_summary_is_one_line_naming_the_host() -> None:
    line = host.summary()
    fp = host.fingerprint()
    assert "\n" not in line and str(fp["cpus"]) in line and fp["kernel"] in line
