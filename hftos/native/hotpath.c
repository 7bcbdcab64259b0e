/*
 * hotpath.c - keeping page faults and the allocator out of a hot loop (course chapter 2.6).
 *
 * A toy message handler, run from its first message on (as a trading system runs at the open, with no warm-up):
 * each iteration takes an "order" object (malloc() of a random size from 32 to 512 bytes, or a slot from a pool),
 * fills it, appends a 64-byte record to a journal buffer, and releases the object that is `live` messages old (so
 * `live` objects are alive at any time, as in an order book). Each iteration is timed.
 *
 * What changes between runs is only the set-up:
 *   prefault = 0: the journal is a plain anonymous mapping: its pages are faulted in one by one as the journal grows,
 *                 one minor fault every 4096 / 64 = 64 messages, inside the loop;
 *   prefault = 1: the journal is mapped with MAP_POPULATE (pages allocated and mapped before the loop), and the
 *                 thread pre-touches 256 KiB of its own stack, so a deep call later does not fault either;
 *   pool = 1:     objects come from a pre-allocated, pre-touched pool (a free list of fixed 512-byte slots): no
 *                 malloc(), no heap growth, no faults in the loop;
 *   lock = 1:     mlock() the journal and the pool, so reclaim can never take their pages away again (needs
 *                 RLIMIT_MEMLOCK or CAP_IPC_LOCK; a real trading binary calls mlockall(MCL_CURRENT | MCL_FUTURE)
 *                 once at start-up instead, which locks everything it maps from then on).
 * Transparent huge pages are switched off for the journal (MADV_NOHUGEPAGE) so that every host faults per 4 KiB page.
 *
 * The loop runs in a new thread: it gets a fresh malloc arena (an empty heap that must grow, as at start-up) and a
 * fresh, untouched stack. Minor faults are counted with getrusage(RUSAGE_THREAD) around the set-up and the loop.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "common.h"

#define MSG 64                      /* bytes appended to the journal per message */
#define SLOT 512                    /* pool slot = largest object */
#define STACK_PREFAULT (256 * 1024)

struct hot_report {
    long faults_setup, faults_stack, faults_loop;
    int64_t setup_ns;
    int locked;
};

struct hot_args {
    int prefault, pool, lock, iters, live;
    uint64_t seed;
    int64_t *lat_ns;
    struct hot_report *r;
    int rc;
};

static long thread_minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_minflt;
}

/* Touch `bytes` of stack below this frame, one write per page, so later calls that deep do not fault. */
static __attribute__((noinline)) void prefault_stack(void)
{
    volatile char pad[STACK_PREFAULT];
    for (size_t i = 0; i < sizeof pad; i += 4096)
        pad[i] = 0;
}

static inline uint64_t next_rand(uint64_t *s)      /* xorshift64: deterministic object sizes */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *hot_thread(void *arg)
{
    struct hot_args *a = arg;
    struct hot_report *r = a->r;
    size_t jlen = (size_t)a->iters * MSG;
    char *journal, *pool = NULL;
    void **ring = NULL, **freelist = NULL;
    int nfree = 0;
    uint64_t seed = a->seed | 1;

    int64_t t0 = now_ns();
    long f0 = thread_minflt();
    journal = mmap(NULL, jlen, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | (a->prefault ? MAP_POPULATE : 0), -1, 0);
    if (journal == MAP_FAILED) {
        a->rc = -errno;
        return NULL;
    }
    madvise(journal, jlen, MADV_NOHUGEPAGE);       /* per-4-KiB faults on every host (no-op if THP is off) */
    ring = calloc((size_t)a->live, sizeof *ring);
    if (ring == NULL) {
        a->rc = -ENOMEM;
        goto out;
    }
    if (a->pool) {
        size_t plen = (size_t)(a->live + 1) * SLOT;
        pool = mmap(NULL, plen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        freelist = malloc((size_t)(a->live + 1) * sizeof *freelist);
        if (pool == MAP_FAILED || freelist == NULL) {
            a->rc = -ENOMEM;
            if (pool == MAP_FAILED)
                pool = NULL;
            goto out;
        }
        for (int k = a->live; k >= 0; k--)
            freelist[nfree++] = pool + (size_t)k * SLOT;
        if (a->lock && mlock(pool, plen) != 0) {
            a->rc = -errno;
            goto out;
        }
    }
    if (a->lock) {
        if (mlock(journal, jlen) != 0) {
            a->rc = -errno;
            goto out;
        }
        r->locked = 1;
    }
    r->faults_setup = thread_minflt() - f0;
    if (a->prefault) {
        f0 = thread_minflt();
        prefault_stack();
        r->faults_stack = thread_minflt() - f0;
    }
    r->setup_ns = now_ns() - t0;

    f0 = thread_minflt();
    size_t off = 0;
    for (int i = 0; i < a->iters; i++) {
        int64_t s = now_ns();
        size_t size = 32 + next_rand(&seed) % (SLOT - 32 + 1);
        char *obj = a->pool ? freelist[--nfree] : malloc(size);
        if (obj == NULL) {
            a->rc = -ENOMEM;
            break;
        }
        memset(obj, (int)i, size);                 /* fill the order */
        memcpy(journal + off, obj, MSG);           /* append its record to the journal */
        off += MSG;
        void *old = ring[i % a->live];             /* release the order `live` messages old */
        ring[i % a->live] = obj;
        if (old != NULL) {
            if (a->pool)
                freelist[nfree++] = old;
            else
                free(old);
        }
        a->lat_ns[i] = now_ns() - s;
    }
    r->faults_loop = thread_minflt() - f0;
out:
    if (ring != NULL && !a->pool)
        for (int k = 0; k < a->live; k++)
            free(ring[k]);
    free(ring);
    free(freelist);
    if (pool != NULL)
        munmap(pool, (size_t)(a->live + 1) * SLOT);
    munmap(journal, jlen);
    return NULL;
}

int hotpath_run(int prefault, int pool, int lock, int iters, int live, uint64_t seed, int64_t *lat_ns,
                struct hot_report *r)
{
    if (iters < 1 || live < 1)
        return -EINVAL;
    memset(r, 0, sizeof *r);
    memset(lat_ns, 0, (size_t)iters * sizeof *lat_ns);   /* the caller's sample array must not fault in the loop */
    struct hot_args a = {prefault, pool, lock, iters, live, seed, lat_ns, r, 0};
    pthread_t t;
    int rc = pthread_create(&t, NULL, hot_thread, &a);
    if (rc != 0)
        return -rc;
    pthread_join(t, NULL);
    return a.rc;
}
