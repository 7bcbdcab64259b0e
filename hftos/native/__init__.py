"""C through cffi: the course's native measurements, one C file per topic.

Every timing function returns a :class:`hftos.measure.Result` (raw per-event samples in ns plus
the method and host). Nothing is compiled at import time: the first call of a topic compiles
its C file (about half a second) into the on-disk cache (``$HFTOS_CACHE`` or
``~/.cache/hftos/native``); later calls and new processes load it from there.

Experiments that fork, pin CPUs or busy-poll run in a helper process with a timeout
(:mod:`hftos.native.runner`), never inside the Jupyter kernel; this is transparent to callers.

Errors:

- :class:`NativeError` (an ``OSError``): a C call failed; ``errno`` and the message say what.
- ``ValueError``: bad arguments, raised before any C runs.
- :class:`NotEnoughCPUs` (a ``ValueError``): a two-CPU experiment (``spsc_*``, or explicit
  different ``cpus``) under an affinity mask with one CPU. Catch it to print its message.
- :class:`HelperTimeout` (a ``NativeError``): the helper overran its timeout and was killed.
- :class:`CompileError`: gcc rejected the C; the message is gcc's.
- ``NotImplementedError``: ``rdtsc_cost``/``tsc_calibrate`` on a non-x86 machine.

Show the code that runs with ``print(source("pingpong"))``.
"""

from .alloc import alloc_sweep, alloc_untouched
from .batch import batch_write
from .build import CompileError, compile_module, compile_snippet, source
from .checks import NativeError, NotEnoughCPUs, allowed_cpus
from .cow import cow_demo
from .faults import fault_passes, file_faults, first_touch
from .fds import decode_flags, fdinfo, fork_shared_offset, two_writers
from .forkcost import fork_cost, fork_sweep
from .hotpath import hotpath_run
from .hotlog import hotlog_compare
from .iopatterns import io_copy, io_gather, io_sweep
from .ipc import spsc_layout, spsc_pingpong, spsc_throughput
from .memlat import memlat_sweep, pointer_chase
from .onepipe import onepipe_demo
from .pagecache import cold_warm_read, fs_of, residency, sync_cost, write_latency
from .pingpong import eventfd_pingpong, fifo_pingpong, futex_pingpong, pipe_pingpong
from .mqueue import mq_limits, mq_notify_demo, mq_pingpong, mq_priority_demo, mq_try_create
from .semaphores import eventfd_modes, lock_cost, sem_named_view, sem_pingpong
from .rt import rr_interleave, rt_guard, rt_thread_setup, spin_jitter, try_policy
from .hotsignals import hot_signals, sigpipe_demo, timer_ticks
from .runner import HelperTimeout
from .signals import (eintr_read, handler_lock, parked_process, python_coalescing, python_eintr_read,
                      python_signal_latency, sigaction_flags, signal_coalescing, signal_latency)
from .shmsync import (false_sharing, init_race, mpmc_layout, mpmc_queue, robust_mutex_demo, sb_litmus,
                      seqlock_is_torn, seqlock_quote, seqlock_snapshots, shm_kinds, shm_placements,
                      shm_spin_pingpong, shmsync_layout, spsc_variant, spsc_variants, spscvar_layout)
from .sigfaults import FAULT_KINDS, crash_record, fault_signal, fault_signals, si_code_name, userfaultfd_probe
from .sockets import fd_passing, peer_credentials, socket_pingpong
from .syscalls import clock_gettime_cost, clock_ids, rdtsc_cost, syscall_getpid, tsc_calibrate
from .timer import timer_wakeup

__all__ = [
    "CompileError", "HelperTimeout", "NativeError", "NotEnoughCPUs",
    "FAULT_KINDS", "crash_record", "fault_signal", "fault_signals", "si_code_name", "userfaultfd_probe",
    "hot_signals", "sigpipe_demo", "timer_ticks",
    "alloc_sweep", "alloc_untouched", "allowed_cpus", "batch_write", "clock_gettime_cost", "clock_ids", "compile_module", "compile_snippet",
    "fd_passing", "peer_credentials", "socket_pingpong",
    "cow_demo", "decode_flags", "fdinfo", "fork_shared_offset", "two_writers", "eventfd_pingpong", "fifo_pingpong", "fork_cost", "futex_pingpong", "fork_sweep", "hotpath_run", "pipe_pingpong", "rdtsc_cost", "source",
    "spsc_layout", "spsc_pingpong", "spsc_throughput", "syscall_getpid", "timer_wakeup", "tsc_calibrate",
    "fault_passes", "file_faults", "first_touch", "memlat_sweep", "pointer_chase",
    "onepipe_demo", "cold_warm_read", "fs_of", "residency", "sync_cost", "write_latency", "io_copy", "io_gather", "io_sweep", "hotlog_compare", "rr_interleave", "rt_guard", "rt_thread_setup", "spin_jitter", "try_policy",
    "mq_limits", "mq_notify_demo", "mq_pingpong", "mq_priority_demo", "mq_try_create",
    "eventfd_modes", "lock_cost", "sem_named_view", "sem_pingpong",
    "eintr_read", "handler_lock", "parked_process", "python_coalescing", "python_eintr_read", "python_signal_latency",
    "sigaction_flags", "signal_coalescing", "signal_latency",
    "false_sharing", "init_race", "mpmc_layout", "mpmc_queue", "robust_mutex_demo", "sb_litmus", "seqlock_is_torn",
    "seqlock_quote", "seqlock_snapshots", "shm_kinds", "shm_placements", "shm_spin_pingpong", "shmsync_layout",
    "spsc_variant", "spsc_variants", "spscvar_layout",
]
