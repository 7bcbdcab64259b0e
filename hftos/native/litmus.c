/*
 * litmus.c - the store-buffer (SB) litmus test, run live between two processes on two CPUs.
 *
 * Course chapter 4.5. Two variables x and y start at 0 in shared memory.
 *
 *      process 0            process 1
 *      x = 1                y = 1
 *      r0 = y               r1 = x
 *
 * Under sequential consistency at least one store comes first, so (r0, r1) = (0, 0) is
 * impossible. On x86 (TSO) it happens: each CPU puts its store into its private store buffer and
 * its load runs ahead and reads the other variable from the cache before either store has
 * drained. TSO allows exactly this one reordering (a store followed by a load from another
 * address); arm64's weaker model allows it too, and more (load-load, store-store reorders).
 *
 * Modes, i.e. how the four accesses are written in C11:
 *   0 relaxed      atomic_store/load_explicit(..., memory_order_relaxed)          -> plain mov
 *   1 acq_rel      store with memory_order_release, load with memory_order_acquire -> plain mov
 *                  on x86: release/acquire does NOT order a store before a later load
 *   2 fence        relaxed accesses with atomic_thread_fence(memory_order_seq_cst) between
 *                  them -> mfence on x86 (dmb ish on arm64): drains the store buffer
 *   3 seq_cst      memory_order_seq_cst store and load -> xchg for the store on x86
 * Modes 2 and 3 forbid (0, 0); modes 0 and 1 allow it.
 *
 * Each round: process 0 resets x and y and opens the round by bumping `round`; both spin until
 * they see it, wait a small random number of `pause`s (so the two sides' accesses overlap in
 * different ways), run their two accesses and report. The test is bounded by `iters` and a
 * deadline.
 */
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#include "common.h"

#define CACHE_LINE 64
#define SPIN_CHECK 4096

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "atomic_long must be lock-free to be shared between processes");

struct sb_shared {
    alignas(CACHE_LINE) atomic_long x;       /* each variable on its own line, as in a real program */
    alignas(CACHE_LINE) atomic_long y;
    alignas(CACHE_LINE) atomic_long round;   /* process 0 opens round i by storing i */
    alignas(CACHE_LINE) atomic_long done1;   /* process 1 finished round i */
    atomic_long r1;                          /* process 1's result of the last round */
};

static inline unsigned xorshift(unsigned *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static inline void jitter(unsigned *seed)
{
    for (unsigned k = xorshift(seed) % 8; k > 0; k--)
        cpu_relax();
}

/* One side's two accesses in the given mode; returns what the load read. */
static inline long access_pair(atomic_long *mine, atomic_long *other, int mode)
{
    switch (mode) {
    case 1:
        atomic_store_explicit(mine, 1, memory_order_release);
        return atomic_load_explicit(other, memory_order_acquire);
    case 2:
        atomic_store_explicit(mine, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        return atomic_load_explicit(other, memory_order_relaxed);
    case 3:
        atomic_store_explicit(mine, 1, memory_order_seq_cst);
        return atomic_load_explicit(other, memory_order_seq_cst);
    default:
        atomic_store_explicit(mine, 1, memory_order_relaxed);
        return atomic_load_explicit(other, memory_order_relaxed);
    }
}

static int wait_for(atomic_long *word, long want, int64_t deadline)
{
    for (unsigned long spins = 1; atomic_load_explicit(word, memory_order_acquire) != want; spins++) {
        cpu_relax();
        if (spins % SPIN_CHECK == 0 && now_ns() > deadline)
            return -ETIMEDOUT;
    }
    return 0;
}

/* Run `iters` rounds in `mode`; counts[2*r0 + r1] += 1 per round. *rounds_done says how many
 * rounds ran (fewer than iters only if the deadline hit first; rc is then still 0). */
int sb_litmus(int mode, int cpu_0, int cpu_1, long iters, int64_t *counts, long *rounds_done, int timeout_ms)
{
    if (mode < 0 || mode > 3 || iters < 1)
        return -EINVAL;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    struct sb_shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return -errno;
    atomic_init(&s->x, 0);
    atomic_init(&s->y, 0);
    atomic_init(&s->round, 0);
    atomic_init(&s->done1, 0);
    for (int k = 0; k < 4; k++)
        counts[k] = 0;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        munmap(s, sizeof *s);
        return -err;
    }
    if (pid == 0) {                           /* process 1 */
        unsigned seed = 0x9e3779b9u;
        int rc = pin_to_cpu(cpu_1);
        for (long i = 1; rc == 0 && i <= iters; i++) {
            rc = wait_for(&s->round, i, deadline);
            if (rc != 0)
                break;
            jitter(&seed);
            long r1 = access_pair(&s->y, &s->x, mode);
            atomic_store_explicit(&s->r1, r1, memory_order_relaxed);
            atomic_store_explicit(&s->done1, i, memory_order_release);
        }
        _exit(rc == -ETIMEDOUT ? 0 : -rc);    /* running out of time is not an error */
    }
    unsigned seed = 0x2545f491u;
    int rc = pin_to_cpu(cpu_0);
    long i;
    for (i = 1; rc == 0 && i <= iters; i++) {
        atomic_store_explicit(&s->x, 0, memory_order_relaxed);
        atomic_store_explicit(&s->y, 0, memory_order_relaxed);
        atomic_store_explicit(&s->round, i, memory_order_release);   /* open round i */
        jitter(&seed);
        long r0 = access_pair(&s->x, &s->y, mode);
        rc = wait_for(&s->done1, i, deadline);
        if (rc != 0)
            break;
        long r1 = atomic_load_explicit(&s->r1, memory_order_relaxed);
        counts[2 * (r0 != 0) + (r1 != 0)] += 1;
    }
    *rounds_done = i - 1;
    if (rc == -ETIMEDOUT)
        rc = 0;
    kill(pid, SIGKILL);                       /* it may still wait for a round that never comes */
    child_status(pid);
    munmap(s, sizeof *s);
    return rc;
}
