"""The kernel's nice-to-weight tables, copied from ``kernel/sched/core.c``.

``sched_prio_to_weight[nice + 20]`` is the load weight of a task at that nice level: nice 0 is
1024 (``NICE_0_LOAD``) and each level is about 1.25x the next, so two CPU-bound tasks one nice
level apart get about 55 % / 45 % of a CPU (errata E29). ``sched_prio_to_wmult`` holds
2**32 / weight, which the kernel multiplies by instead of dividing (``__calc_delta()``).
"""

from __future__ import annotations

from .model import NICE_MAX, NICE_MIN, SchedError

#: ``NICE_0_LOAD``: the weight of a nice-0 task.
NICE_0_LOAD = 1024

#: ``sched_prio_to_weight[40]``, index ``nice + 20``.
SCHED_PRIO_TO_WEIGHT: tuple[int, ...] = (
    88761, 71755, 56483, 46273, 36291,  # -20
    29154, 23254, 18705, 14949, 11916,  # -15
    9548, 7620, 6100, 4904, 3906,       # -10
    3121, 2501, 1991, 1586, 1277,       # -5
    1024, 820, 655, 526, 423,           # 0
    335, 272, 215, 172, 137,            # 5
    110, 87, 70, 56, 45,                # 10
    36, 29, 23, 18, 15,                 # 15
)

#: ``sched_prio_to_wmult[40]`` (2**32 / weight), index ``nice + 20``.
SCHED_PRIO_TO_WMULT: tuple[int, ...] = (
    48388, 59856, 76040, 92818, 118348,              # -20
    147320, 184698, 229616, 287308, 360437,          # -15
    449829, 563644, 704093, 875809, 1099582,         # -10
    1376151, 1717300, 2157191, 2708050, 3363326,     # -5
    4194304, 5237765, 6557202, 8165337, 10153587,    # 0
    12820798, 15790321, 19976592, 24970740, 31350126,  # 5
    39045157, 49367440, 61356676, 76695844, 95443717,  # 10
    119304647, 148102320, 186737708, 238609294, 286331153,  # 15
)


def nice_to_weight(nice: int) -> int:
    """The CFS/EEVDF load weight of a task at ``nice`` (-20..19)."""
    if not NICE_MIN <= nice <= NICE_MAX:
        raise SchedError(f"nice must be in {NICE_MIN}..{NICE_MAX}, got {nice}")
    return SCHED_PRIO_TO_WEIGHT[nice - NICE_MIN]


def cpu_shares(nices: list[int]) -> list[float]:
    """Predicted CPU shares w_i / sum(w) of CPU-bound tasks at these nice levels on one CPU."""
    weights = [nice_to_weight(n) for n in nices]
    total = sum(weights)
    return [w / total for w in weights]
