/*
 * falseshare.c - false sharing, measured: two processes each increment their OWN counter.
 *
 * Course chapter 4.5; erratum E57. The counters live in one shared-memory page, `distance`
 * bytes apart: 8 puts them in the same 64-byte cache line, 64 in adjacent lines, 128 two lines
 * apart. Nothing is logically shared (each process writes only its own counter), yet when both
 * counters sit in one line, every increment on one CPU needs the line in Modified state, which
 * invalidates the other CPU's copy (MESI): the line ping-pongs between the two caches and each
 * increment costs a cache-to-cache transfer instead of a few cycles.
 *
 * Each increment is a relaxed atomic load plus a relaxed atomic store of the process's own
 * counter (one writer, so no read-modify-write instruction is needed; with `locked` = 1 it is an
 * atomic fetch_add, a `lock add` on x86, as a shared statistics counter would be written).
 * Both processes start together (a barrier) and each records when its loop started and ended.
 */
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#include "common.h"

#define CACHE_LINE 64
#define PAGE 4096

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "atomic_long must be lock-free to be shared between processes");

struct fs_control {
    alignas(CACHE_LINE) atomic_int arrived;  /* start barrier */
    alignas(CACHE_LINE) int64_t start[2];    /* each process's loop start and end, CLOCK_MONOTONIC ns */
    int64_t end[2];
};

static void count_up(atomic_long *c, long iters, int locked)
{
    if (locked) {
        for (long i = 0; i < iters; i++)
            atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    } else {
        for (long i = 0; i < iters; i++)
            atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
    }
}

/* Two processes on cpu_0 / cpu_1 each add `iters` to their own counter, `distance` bytes apart.
 * times_ns = {start_0, end_0, start_1, end_1} (CLOCK_MONOTONIC is one clock for all CPUs, so the
 * window from the first start to the last end is the wall time both needed; on one CPU the two
 * loops take turns and that window is the sum); final[k] the counter left (must be iters). */
int false_sharing(int cpu_0, int cpu_1, long distance, long iters, int locked, int64_t *times_ns,
                  int64_t *final, int timeout_ms)
{
    if (distance < 8 || distance % 8 != 0 || distance > PAGE - 8 || iters < 1)
        return -EINVAL;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    struct fs_control *ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ctl == MAP_FAILED)
        return -errno;
    /* one page, line-aligned by mmap: counter 0 at offset 0, counter 1 at `distance` */
    char *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        int err = errno;
        munmap(ctl, sizeof *ctl);
        return -err;
    }
    atomic_long *counter[2] = { (atomic_long *)page, (atomic_long *)(page + distance) };
    atomic_init(counter[0], 0);
    atomic_init(counter[1], 0);
    atomic_init(&ctl->arrived, 0);
    int rc = 0;
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    int me = pid == 0;                        /* the child is process 1 */
    rc = pin_to_cpu(me ? cpu_1 : cpu_0);
    atomic_fetch_add(&ctl->arrived, 1);
    while (atomic_load(&ctl->arrived) < 2) {  /* start together (yield: they may share a CPU) */
        sched_yield();
        if (now_ns() > deadline) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    if (rc == 0) {
        ctl->start[me] = now_ns();
        count_up(counter[me], iters, locked);
        ctl->end[me] = now_ns();
    }
    if (me)
        _exit(-rc);
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
    for (int k = 0; k < 2; k++) {
        times_ns[2 * k] = ctl->start[k];
        times_ns[2 * k + 1] = ctl->end[k];
    }
    final[0] = atomic_load(counter[0]);
    final[1] = atomic_load(counter[1]);
out:
    munmap(page, PAGE);
    munmap(ctl, sizeof *ctl);
    return rc;
}
