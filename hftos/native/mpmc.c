/*
 * mpmc.c - Dmitry Vyukov's bounded multi-producer/multi-consumer queue, between processes.
 *
 * Course chapter 4.5. An array of cells, each with a sequence number and a value, plus two
 * counters on their own cache lines: enqueue_pos (producers claim a cell with a CAS on it) and
 * dequeue_pos (consumers likewise). Cell i starts with seq = i.
 *
 *   enqueue: pos = enqueue_pos; cell = &cells[pos & mask]; d = cell.seq (acquire) - pos
 *            d == 0: the cell is free for this lap -> CAS enqueue_pos pos -> pos + 1; on success
 *                    write the value, then cell.seq = pos + 1 (release): "full, for a consumer"
 *            d <  0: the cell still holds last lap's value: the queue is full
 *            d >  0: another producer got there first: reload pos and try again
 *   dequeue: the mirror image with dequeue_pos, expecting seq == pos + 1, and on success setting
 *            cell.seq = pos + mask + 1 (release): "free, for a producer one lap later".
 *
 * Each cell's own sequence number does the hand-off, so producers and consumers touch the two
 * shared counters only once per operation (one CAS each). It is not lock-free in the strict
 * sense: a producer preempted between its CAS and its release store holds up the consumers of
 * that one cell. With more spinning processes than CPUs that happens constantly, so a waiter
 * that fails 64 times calls sched_yield().
 *
 * The test: P producer processes push disjoint ranges of values (producer p pushes
 * p * per_producer + k); C consumer processes pop until all P * per_producer items are taken and
 * mark each value in a shared tally (one byte per item, atomic add). The parent checks that every
 * item arrived exactly once.
 */
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#include "common.h"

#define CACHE_LINE 64
#define SPIN_CHECK 1024
#define MAX_PROCS 16
#define YIELD_AFTER 64

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "atomic_ulong must be lock-free to be shared between processes");
_Static_assert(ATOMIC_CHAR_LOCK_FREE == 2, "atomic_uchar must be lock-free to be shared between processes");

struct cell {
    atomic_ulong seq;
    uint64_t value;
};

struct mpmc {
    alignas(CACHE_LINE) atomic_ulong enqueue_pos;   /* producers' line */
    alignas(CACHE_LINE) atomic_ulong dequeue_pos;   /* consumers' line */
    alignas(CACHE_LINE) atomic_long consumed;       /* items taken so far (termination) */
    atomic_int started;                             /* start barrier */
    unsigned long mask;
    alignas(CACHE_LINE) struct cell cells[];        /* mask + 1 cells */
};

_Static_assert(offsetof(struct mpmc, dequeue_pos) - offsetof(struct mpmc, enqueue_pos) >= CACHE_LINE,
               "the two positions on different lines");
_Static_assert(offsetof(struct mpmc, cells) % CACHE_LINE == 0, "cells start a cache line");

static int mpmc_try_enqueue(struct mpmc *q, uint64_t value)
{
    unsigned long pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
    for (;;) {
        struct cell *c = &q->cells[pos & q->mask];
        unsigned long seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        long d = (long)(seq - pos);
        if (d == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->enqueue_pos, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                c->value = value;
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return 1;
            }                                     /* CAS failed: pos now holds the current value */
        } else if (d < 0) {
            return 0;                             /* full */
        } else {
            pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
        }
    }
}

static int mpmc_try_dequeue(struct mpmc *q, uint64_t *value)
{
    unsigned long pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
    for (;;) {
        struct cell *c = &q->cells[pos & q->mask];
        unsigned long seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        long d = (long)(seq - (pos + 1));
        if (d == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->dequeue_pos, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *value = c->value;
                atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
                return 1;
            }
        } else if (d < 0) {
            return 0;                             /* empty */
        } else {
            pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
        }
    }
}

static inline int backoff(unsigned long fails, int64_t deadline)
{
    if (fails % YIELD_AFTER == YIELD_AFTER - 1)
        sched_yield();
    else
        cpu_relax();
    return fails % SPIN_CHECK == SPIN_CHECK - 1 && now_ns() > deadline;
}

static int producer(struct mpmc *q, int p, long per_producer, int64_t deadline)
{
    for (long k = 0; k < per_producer; k++) {
        uint64_t v = (uint64_t)p * (uint64_t)per_producer + (uint64_t)k;
        for (unsigned long fails = 0; !mpmc_try_enqueue(q, v); fails++)
            if (backoff(fails, deadline))
                return -ETIMEDOUT;
    }
    return 0;
}

static int consumer(struct mpmc *q, long total, atomic_uchar *tally, int64_t deadline)
{
    uint64_t v;
    for (unsigned long fails = 0; atomic_load_explicit(&q->consumed, memory_order_relaxed) < total;) {
        if (mpmc_try_dequeue(q, &v)) {
            if (v < (uint64_t)total)
                atomic_fetch_add_explicit(&tally[v], 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&q->consumed, 1, memory_order_relaxed);
            fails = 0;
        } else if (backoff(fails++, deadline)) {
            return -ETIMEDOUT;
        }
    }
    return 0;
}

struct mpmc_report {
    long items;              /* producers * per_producer */
    long received;           /* items whose tally is >= 1 */
    long missing;            /* tally 0 */
    long duplicated;         /* tally > 1 */
    int64_t elapsed_ns;      /* from the start barrier until every process has finished */
};

/* cpus[k] pins process k (producers first, then consumers); -1 leaves it unpinned. */
int mpmc_run(int producers, int consumers, long capacity, long per_producer, const int *cpus, int timeout_ms,
             struct mpmc_report *out)
{
    if (producers < 1 || consumers < 1 || producers + consumers > MAX_PROCS || capacity < 2
        || (capacity & (capacity - 1)) != 0 || per_producer < 1)
        return -EINVAL;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    long total = (long)producers * per_producer;
    size_t qsize = sizeof(struct mpmc) + (size_t)capacity * sizeof(struct cell);
    struct mpmc *q = mmap(NULL, qsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED)
        return -errno;
    atomic_uchar *tally = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tally == MAP_FAILED) {
        int err = errno;
        munmap(q, qsize);
        return -err;
    }
    q->mask = (unsigned long)capacity - 1;
    for (long i = 0; i < capacity; i++)
        atomic_init(&q->cells[i].seq, (unsigned long)i);
    atomic_init(&q->enqueue_pos, 0);
    atomic_init(&q->dequeue_pos, 0);
    atomic_init(&q->consumed, 0);
    atomic_init(&q->started, 0);
    int nprocs = producers + consumers, started = 0, rc = 0;
    pid_t pids[MAX_PROCS];
    for (int k = 0; k < nprocs; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
            break;
        }
        if (pid == 0) {
            int crc = pin_to_cpu(cpus[k]);
            atomic_fetch_add(&q->started, 1);
            while (crc == 0 && atomic_load(&q->started) < nprocs + 1) {   /* the parent opens the gate */
                sched_yield();
                if (now_ns() > deadline)
                    crc = -ETIMEDOUT;
            }
            if (crc == 0)
                crc = k < producers ? producer(q, k, per_producer, deadline)
                                    : consumer(q, total, tally, deadline);
            _exit(-crc);
        }
        pids[started++] = pid;
    }
    while (rc == 0 && atomic_load(&q->started) < nprocs) {
        sched_yield();
        if (now_ns() > deadline)
            rc = -ETIMEDOUT;
    }
    int64_t t0 = now_ns();
    atomic_fetch_add(&q->started, rc == 0 ? 1 : nprocs + 1);  /* open the gate */
    if (rc != 0)
        for (int k = 0; k < started; k++)
            kill(pids[k], SIGKILL);
    for (int k = 0; k < started; k++) {
        int crc = child_status(pids[k]);
        if (rc == 0)
            rc = crc;
    }
    out->elapsed_ns = now_ns() - t0;
    out->items = total;
    out->received = out->missing = out->duplicated = 0;
    for (long v = 0; v < total; v++) {
        unsigned char n = atomic_load_explicit(&tally[v], memory_order_relaxed);
        out->received += n >= 1;
        out->missing += n == 0;
        out->duplicated += n > 1;
    }
    munmap(tally, (size_t)total);
    munmap(q, qsize);
    return rc;
}

struct mpmc_layout {
    long cache_line, off_enqueue_pos, off_dequeue_pos, off_consumed, off_cells, sizeof_cell;
    int pos_lock_free, tally_lock_free;
};

void mpmc_layout(struct mpmc_layout *out)
{
    static struct mpmc probe;
    static atomic_uchar byte;
    out->cache_line = CACHE_LINE;
    out->off_enqueue_pos = offsetof(struct mpmc, enqueue_pos);
    out->off_dequeue_pos = offsetof(struct mpmc, dequeue_pos);
    out->off_consumed = offsetof(struct mpmc, consumed);
    out->off_cells = offsetof(struct mpmc, cells);
    out->sizeof_cell = sizeof(struct cell);
    out->pos_lock_free = atomic_is_lock_free(&probe.enqueue_pos);
    out->tally_lock_free = atomic_is_lock_free(&byte);
}
