/*
 * hotlog.c - logging from a hot loop: what each way of logging costs the loop (course section 3.6).
 *
 * A "trading" loop does a fixed amount of work per iteration and logs one event. We time every
 * iteration (work + logging) on the hot thread, for five ways of logging:
 *
 *   HL_NONE      no logging: the baseline;
 *   HL_WRITE     a 32-byte binary record written with write() at once (a system call per event);
 *   HL_FORMAT    the event formatted as text with snprintf(), then write() (the usual printf logger);
 *   HL_FSYNC     HL_WRITE plus fdatasync() every 1024 events (never do this on a trading thread);
 *   HL_RING      the binary record copied into a single-producer/single-consumer ring in memory; a
 *                logger thread on another CPU (the housekeeping core) drains it and write()s large
 *                batches to the file. The hot thread makes no system call at all.
 *
 * The ring follows rigtorp/SPSCQueue and 1.5 (errata E57, E58): head and tail on their own cache
 * lines, each side caching the other's index, release/acquire ordering. When the ring is full the
 * hot thread drops the record and counts it: a trading thread must never wait for its logger.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

enum { HL_NONE = 0, HL_WRITE = 1, HL_FORMAT = 2, HL_FSYNC = 3, HL_RING = 4 };

#define CACHE_LINE 64
#define RING_SLOTS 65536u                 /* power of two: index & (RING_SLOTS - 1) */
#define BATCH_BYTES (64 * 1024)           /* the logger's write() size */

struct record {                            /* 32 bytes, binary: decode offline, not on the hot path */
    int64_t ts_ns;
    uint64_t seq;
    int64_t price;                         /* fixed point, 1e-4 */
    int32_t qty;
    int32_t kind;
};
_Static_assert(sizeof(struct record) == 32, "a record is 32 bytes");

struct ring {
    alignas(CACHE_LINE) _Atomic uint64_t head;   /* written by the producer (hot thread) */
    uint64_t cached_tail;                        /* producer's copy of tail */
    alignas(CACHE_LINE) _Atomic uint64_t tail;   /* written by the consumer (logger) */
    uint64_t cached_head;                        /* consumer's copy of head */
    alignas(CACHE_LINE) _Atomic int stop;
    int fd, cpu, rc;
    long batches;
    alignas(CACHE_LINE) struct record slots[RING_SLOTS];
};
_Static_assert(offsetof(struct ring, tail) - offsetof(struct ring, head) >= CACHE_LINE, "indices share a line");

/* Producer: 1 if pushed, 0 if the ring is full (the caller drops and counts). */
static inline int ring_push(struct ring *r, const struct record *rec)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h - r->cached_tail == RING_SLOTS) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h - r->cached_tail == RING_SLOTS)
            return 0;
    }
    r->slots[h & (RING_SLOTS - 1)] = *rec;
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return 1;
}

/* Consumer: the logger thread on the housekeeping CPU. Copies records into a 64 KiB batch and
 * write()s it when it is full or the ring runs dry; sleeps 50 µs when there is nothing to do
 * (a housekeeping core need not spin). */
static void *logger(void *arg)
{
    struct ring *r = arg;
    static _Thread_local char batch[BATCH_BYTES];
    size_t used = 0;
    r->rc = pin_to_cpu(r->cpu);
    for (;;) {
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        if (t == r->cached_head)
            r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
        if (t == r->cached_head) {               /* empty */
            if (used > 0) {
                int rc = write_all(r->fd, batch, used);
                if (rc != 0 && r->rc == 0)
                    r->rc = rc;
                used = 0;
                r->batches++;
                continue;
            }
            if (atomic_load_explicit(&r->stop, memory_order_acquire)
                && t == atomic_load_explicit(&r->head, memory_order_acquire))
                break;
            struct timespec nap = { 0, 50 * 1000 };
            nanosleep(&nap, NULL);
            continue;
        }
        while (t != r->cached_head && used + sizeof(struct record) <= BATCH_BYTES) {
            memcpy(batch + used, &r->slots[t & (RING_SLOTS - 1)], sizeof(struct record));
            used += sizeof(struct record);
            t++;
        }
        atomic_store_explicit(&r->tail, t, memory_order_release);
        if (used + sizeof(struct record) > BATCH_BYTES) {
            int rc = write_all(r->fd, batch, used);
            if (rc != 0 && r->rc == 0)
                r->rc = rc;
            used = 0;
            r->batches++;
        }
    }
    return NULL;
}

/* The stand-in for trading work: ~100-300 ns of dependent integer arithmetic. */
static inline uint64_t work(uint64_t x, int steps)
{
    for (int i = 0; i < steps; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

static volatile uint64_t sink;

/*
 * Run `warmup + iters` iterations of the hot loop in mode `mode`, logging to `fd` (a preallocated
 * file). The hot thread (the caller) is pinned to cpu_hot, the logger thread (HL_RING) to
 * cpu_logger (-1: leave alone). lat_ns[i]: time of timed iteration i (work + logging).
 * *drops: records dropped because the ring was full; *batches: the logger's write() calls.
 */
int hotlog_run(int mode, int fd, long warmup, long iters, int work_steps, int cpu_hot, int cpu_logger,
               int64_t *lat_ns, long *drops, long *batches)
{
    if (mode < HL_NONE || mode > HL_RING || iters < 1 || warmup < 0 || work_steps < 0)
        return -EINVAL;
    int rc = pin_to_cpu(cpu_hot);
    if (rc != 0)
        return rc;
    struct ring *r = NULL;
    pthread_t th;
    *drops = 0;
    *batches = 0;
    if (mode == HL_RING) {
        r = aligned_alloc(CACHE_LINE, sizeof *r);
        if (r == NULL)
            return -ENOMEM;
        memset(r, 0, sizeof *r);               /* also faults the ring in before timing */
        r->fd = fd;
        r->cpu = cpu_logger;
        rc = pthread_create(&th, NULL, logger, r);
        if (rc != 0) {
            free(r);
            return -rc;
        }
    }
    uint64_t x = 88172645463325252ull;
    char text[128];
    for (long i = -warmup; rc == 0 && i < iters; i++) {
        int64_t t0 = now_ns();
        x = work(x, work_steps);
        struct record rec = { t0, (uint64_t)(i + warmup), (int64_t)(x % 2000000) + 100000, (int32_t)(x % 500) + 1,
                              (int32_t)(x & 1) };
        switch (mode) {
        case HL_NONE:
            sink = rec.seq;
            break;
        case HL_WRITE:
            rc = write_all(fd, &rec, sizeof rec);
            break;
        case HL_FSYNC:
            rc = write_all(fd, &rec, sizeof rec);
            if (rc == 0 && (rec.seq & 1023) == 1023 && fdatasync(fd) != 0)
                rc = -errno;
            break;
        case HL_FORMAT: {
            int n = snprintf(text, sizeof text, "%lld seq=%llu %s px=%lld.%04lld qty=%d\n", (long long)rec.ts_ns,
                             (unsigned long long)rec.seq, rec.kind ? "BUY" : "SELL", (long long)(rec.price / 10000),
                             (long long)(rec.price % 10000), rec.qty);
            rc = write_all(fd, text, (size_t)n);
            break;
        }
        default:
            if (!ring_push(r, &rec))
                (*drops)++;
            break;
        }
        if (i >= 0)
            lat_ns[i] = now_ns() - t0;
    }
    sink = x;
    if (r != NULL) {
        atomic_store_explicit(&r->stop, 1, memory_order_release);
        pthread_join(th, NULL);
        if (rc == 0)
            rc = r->rc;
        *batches = r->batches;
        free(r);
    }
    return rc;
}
