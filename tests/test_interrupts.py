"""hftos.interrupts: /proc/interrupts and /proc/softirqs parsed with their quirks, rates between snapshots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hftos import interrupts

#: Captured on the course's build VM (2 vCPUs, KVM, Linux 6.18, x86-64).
KVM_INTERRUPTS = """           CPU0       CPU1       
 24:          1          0  IO-APIC   5-edge      ACPI:Ged
 25:          0          1  IO-APIC   6-edge      ACPI:Ged
 26:          0         12  IO-APIC   4-edge      ttyS0
 28:          0          0 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config
 29:          0          0 PCI-MSIX-0000:00:01.0   1-edge      virtio0-inflate
 30:          0          0 PCI-MSIX-0000:00:01.0   2-edge      virtio0-deflate
 31:          0       2531 PCI-MSIX-0000:00:01.0   3-edge      virtio0-stats
 32:       1246          0 PCI-MSIX-0000:00:01.0   4-edge      virtio0-reporting_vq
 33:          0          0 PCI-MSIX-0000:00:05.0   0-edge      virtio4-config
 34:        218          0 PCI-MSIX-0000:00:05.0   1-edge      virtio4-input
 35:          0          1 PCI-MSIX-0000:00:02.0   0-edge      virtio1-config
 36:          0     676930 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0
 37:          0          0 PCI-MSIX-0000:00:03.0   0-edge      virtio2-config
 38:          0      39120 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
 39:      27545          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0
 40:          0          0 PCI-MSIX-0000:00:04.0   0-edge      virtio3-config
 41:       9587          0 PCI-MSIX-0000:00:04.0   1-edge      virtio3-rx
 42:          0      62521 PCI-MSIX-0000:00:04.0   2-edge      virtio3-tx
 43:          1          0 PCI-MSIX-0000:00:04.0   3-edge      virtio3-event
NMI:          0          0   Non-maskable interrupts
LOC:    1871311    1666010   Local timer interrupts
SPU:          0          0   Spurious interrupts
PMI:          0          0   Performance monitoring interrupts
IWI:          0          1   IRQ work interrupts
RTR:          0          0   APIC ICR read retries
RES:     962936     920357   Rescheduling interrupts
CAL:    2694349    2554441   Function call interrupts
TLB:     152099     138093   TLB shootdowns
TRM:          0          0   Thermal event interrupts
HYP:         84         32   Hypervisor callback interrupts
ERR:          0
MIS:          0
PIN:          0          0   Posted-interrupt notification event
NPI:          0          0   Nested posted-interrupt event
PIW:          0          0   Posted-interrupt wakeup event
"""

KVM_SOFTIRQS = """                    CPU0       CPU1       
          HI:          0          0
       TIMER:     304331     369499
      NET_TX:          3          0
      NET_RX:     394234     278698
       BLOCK:          0     676921
    IRQ_POLL:          0          0
     TASKLET:          4          0
       SCHED:     412045     393923
     HRTIMER:       5636       4874
         RCU:     780865     892507
"""

#: Written by hand: four CPUs with CPU 1 offline (the header skips it), a chip name and device names with
#: spaces, two devices sharing an IRQ, a short row, ERR/MIS with one number, an arm64-style IPI row.
HAND_BEFORE = """
            CPU0       CPU2       CPU3
   0:         40          0          0   IO-APIC   2-edge      timer
  16:        100        200        300   IO-APIC  16-fasteoi   ehci_hcd:usb1, i801_smbus
 120:         10         20         30   IR-PCI-MSI 524288-edge      nvme0q0
 121:          5          0   PCI-MSI my chip 3-edge  eth0-TxRx-0
NMI:          1          2          3   Non-maskable interrupts
LOC:       1000       2000       3000   Local timer interrupts
IPI0:        7          8          9   Rescheduling interrupts
ERR:          4
MIS:          0
"""

HAND_AFTER = """
            CPU0       CPU2       CPU3
   0:         40          0          0   IO-APIC   2-edge      timer
  16:        110        200        360   IO-APIC  16-fasteoi   ehci_hcd:usb1, i801_smbus
 120:         10         20         30   IR-PCI-MSI 524288-edge      nvme0q0
 121:         25          0   PCI-MSI my chip 3-edge  eth0-TxRx-0
 122:          1          1          1   PCI-MSI  4-edge  registered-later
NMI:          1          2          3   Non-maskable interrupts
LOC:       1500       2000       4000   Local timer interrupts
IPI0:        7          8          9   Rescheduling interrupts
ERR:          6
MIS:          0
"""


def test_kvm_capture() -> None:
    s = interrupts.parse(KVM_INTERRUPTS)
    assert s.cpus == (0, 1)
    loc = s.rows["LOC"]
    assert loc.per_cpu and loc.description == "Local timer interrupts" and loc.label == "LOC Local timer"
    assert loc.total == loc.counts[0] + loc.counts[1] > 0
    assert not s.rows["ERR"].per_cpu and not s.rows["MIS"].per_cpu
    assert s.rows["24"].description == "IO-APIC 5-edge ACPI:Ged" and s.rows["24"].label == "24 ACPI:Ged"
    assert s.rows["36"].label == "36 virtio1-req.0"
    assert list(s.rows)[:3] == ["24", "25", "26"], "file order is kept"


def test_softirqs_capture() -> None:
    s = interrupts.parse(KVM_SOFTIRQS)
    assert s.cpus == (0, 1)
    assert list(s.rows) == ["HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER",
                            "RCU"]
    assert all(r.per_cpu and r.description == "" and r.label == r.name for r in s.rows.values())


def test_hand_written_offline_cpu_and_quirks() -> None:
    s = interrupts.parse(HAND_BEFORE)
    assert s.cpus == (0, 2, 3), "columns are named by the header, CPU 1 is offline"
    assert s.rows["16"].counts == {0: 100, 2: 200, 3: 300}
    assert s.rows["16"].label == "16 ehci_hcd:usb1, i801_smbus"
    assert s.rows["120"].label == "120 nvme0q0"
    short = s.rows["121"]
    assert short.counts == {0: 5, 2: 0, 3: 0}, "a short row is padded with zeros"
    assert short.description == "PCI-MSI my chip 3-edge eth0-TxRx-0" and short.label == "121 eth0-TxRx-0"
    assert s.rows["ERR"].total == 4 and not s.rows["ERR"].per_cpu
    assert s.rows["IPI0"].label == "IPI0 Rescheduling"


def test_rates_between_hand_written_snapshots() -> None:
    r = interrupts.rates(interrupts.parse(HAND_BEFORE), interrupts.parse(HAND_AFTER), seconds=2.0)
    assert r.cpus == [0, 2, 3]
    assert "122" not in r.names, "a source without a baseline is left out"
    m = dict(zip(r.names, r.matrix.tolist()))
    assert m["16"] == [5.0, 0.0, 30.0]
    assert m["121"] == [10.0, 0.0, 0.0]
    assert m["LOC"] == [250.0, 0.0, 500.0]
    assert r.totals == {"ERR": 1.0, "MIS": 0.0}
    assert r.per_cpu_total() == {0: 265.0, 2: 0.0, 3: 530.0}
    top = r.top(2)
    assert top.names == ["LOC", "16"] and top.matrix.shape == (2, 3)
    assert r.active().names == ["16", "121", "LOC"]
    json.dumps(r.to_dict())


def test_cpu_offline_between_snapshots_and_counter_reset() -> None:
    before = interrupts.parse("CPU0 CPU1 CPU2\nLOC: 10 10 10 Local timer interrupts\nRES: 50 0 0 Rescheduling interrupts\n")
    after = interrupts.parse("CPU0 CPU2\nLOC: 20 30 Local timer interrupts\nRES: 40 0 Rescheduling interrupts\n")
    r = interrupts.rates(before, after, seconds=1.0)
    assert r.cpus == [0, 2]
    assert r.matrix.tolist() == [[10.0, 20.0], [0.0, 0.0]], "counts that went down give 0, not a negative rate"


def test_one_cpu_machine_err_is_global() -> None:
    s = interrupts.parse("           CPU0\n  0:  5  IO-APIC 2-edge timer\nLOC:  9  Local timer interrupts\nERR:  0\n")
    assert s.rows["LOC"].counts == {0: 9} and not s.rows["ERR"].per_cpu


@pytest.mark.parametrize("text", ["", "CPU0 CPU1\nnot a row\n", "CPUx\nLOC: 1\n", "CPU0 CPU0\nLOC: 1 1\n"])
def test_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        interrupts.parse(text)


def test_bad_interval() -> None:
    a = interrupts.parse(HAND_BEFORE)
    with pytest.raises(ValueError, match="timestamp"):
        interrupts.rates(a, a)
    with pytest.raises(ValueError, match="positive"):
        interrupts.rates(a, a, seconds=0)
    with pytest.raises(ValueError):
        interrupts.sample(0)


def test_live_sample() -> None:
    r = interrupts.sample(0.2)
    assert r.matrix.shape == (len(r.names), len(r.cpus)) and np.all(r.matrix >= 0)
    assert r.seconds >= 0.2 and "LOC" in r.names or r.names
    soft = interrupts.sample(0.2, interrupts.SOFTIRQS)
    assert soft.kind == "softirqs" and "TIMER" in soft.names


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert interrupts.main(["--seconds", "0.1", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "per second" in out and len(out.splitlines()) == 3 + 3
    assert interrupts.main(["--seconds", "0.1", "--json", "--softirqs"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "softirqs"
    assert interrupts.main(["--seconds", "-1"]) == 2
