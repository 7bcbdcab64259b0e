/*
 * ipc.c - a lock-free single-producer/single-consumer ring in POSIX shared memory.
 *
 * Course chapters 1.5 and 4; errata E53-E58. Two processes exchange 64-bit messages through
 * rings in a shared-memory segment, spinning instead of blocking: no system call and no
 * context switch on the hot path, so a hand-off costs about one cache-line transfer between
 * CPUs. Compare with pingpong.c, where every hand-off goes through the kernel.
 *
 * How the ring is made correct and fast:
 *   - one creator: shm_open(O_CREAT | O_EXCL, 0600) with a unique name. Only the creator
 *     initialises the rings, then publishes `ready` with a release store. The other process
 *     attaches with shm_open(O_RDWR) (no O_CREAT), waits for `ready` with an acquire load,
 *     and never initialises anything (E55). The name is unlinked as soon as both are attached.
 *   - C11 atomics that are lock-free (checked at compile time below): a lock-based atomic
 *     would use a lock private to each process and synchronise nothing between them (E56).
 *   - the producer's index, the consumer's index and the slots each start their own 64-byte
 *     cache line, so the two CPUs do not fight over one line (false sharing, E57).
 *   - each side keeps a cached copy of the *other* side's index and re-reads the real one
 *     only when the ring looks full (producer) or empty (consumer): most operations touch no
 *     line the other CPU is writing.
 *   - SLOTS is a power of two, so `index & (SLOTS - 1)` wraps without a division; one slot
 *     stays empty to tell "full" from "empty", so the capacity is SLOTS - 1 (E58).
 *   - memory order: a side loads its own index relaxed (nobody else writes it), loads the
 *     other side's index with acquire and publishes its own with release. The release store
 *     of `head` makes the slot written before it visible to the consumer's acquire load.
 *   - every spin loop executes `pause` and checks a deadline every SPIN_CHECK iterations:
 *     if the other process died we return -ETIMEDOUT instead of spinning forever.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common.h"

#define CACHE_LINE 64
#define SLOTS 1024                          /* must be a power of two */
#define MASK (SLOTS - 1)
#define SPIN_CHECK 1024                     /* spins between two deadline checks */
#define STOP UINT64_MAX                     /* message that ends a ping-pong */

_Static_assert((SLOTS & (SLOTS - 1)) == 0, "SLOTS must be a power of two");
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "atomic_ulong must be lock-free to be shared between processes");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free to be shared between processes");

struct ring {
    alignas(CACHE_LINE) atomic_ulong head;  /* producer's line: next slot to fill */
    unsigned long tail_cache;               /*   producer's last view of `tail` */
    alignas(CACHE_LINE) atomic_ulong tail;  /* consumer's line: next slot to read */
    unsigned long head_cache;               /*   consumer's last view of `head` */
    alignas(CACHE_LINE) uint64_t slots[SLOTS];
};

struct segment {
    alignas(CACHE_LINE) atomic_int ready;   /* 1 once the creator has initialised the rings */
    atomic_int attached;                    /* 1 once the other process has mapped the segment */
    atomic_int done;                        /* throughput run: consumer finished */
    atomic_long errors;                     /* throughput run: messages out of order */
    struct ring a_to_b;
    struct ring b_to_a;
};

_Static_assert(offsetof(struct ring, tail) % CACHE_LINE == 0, "tail must start a cache line");
_Static_assert(offsetof(struct ring, slots) % CACHE_LINE == 0, "slots must start a cache line");
_Static_assert(offsetof(struct segment, a_to_b) % CACHE_LINE == 0, "rings must start a cache line");

/* ---- the ring ------------------------------------------------------------------------------ */

static inline int ring_try_push(struct ring *r, uint64_t value)
{
    unsigned long head = atomic_load_explicit(&r->head, memory_order_relaxed);
    unsigned long next = (head + 1) & MASK;
    if (next == r->tail_cache) {            /* looks full: refresh our view of the consumer */
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (next == r->tail_cache)
            return 0;
    }
    r->slots[head] = value;
    atomic_store_explicit(&r->head, next, memory_order_release);   /* publish the slot */
    return 1;
}

static inline int ring_try_pop(struct ring *r, uint64_t *value)
{
    unsigned long tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (tail == r->head_cache) {            /* looks empty: refresh our view of the producer */
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail == r->head_cache)
            return 0;
    }
    *value = r->slots[tail];
    atomic_store_explicit(&r->tail, (tail + 1) & MASK, memory_order_release);  /* free the slot */
    return 1;
}

/* Spin with `pause`; every SPIN_CHECK rounds look at the clock. */
static inline int past_deadline(unsigned long spins, int64_t deadline)
{
    cpu_relax();
    return spins % SPIN_CHECK == SPIN_CHECK - 1 && now_ns() > deadline;
}

static int push(struct ring *r, uint64_t value, int64_t deadline)
{
    for (unsigned long spins = 0; !ring_try_push(r, value); spins++)
        if (past_deadline(spins, deadline))
            return -ETIMEDOUT;
    return 0;
}

static int pop(struct ring *r, uint64_t *value, int64_t deadline)
{
    for (unsigned long spins = 0; !ring_try_pop(r, value); spins++)
        if (past_deadline(spins, deadline))
            return -ETIMEDOUT;
    return 0;
}

static int wait_flag(atomic_int *flag, int64_t deadline)
{
    for (unsigned long spins = 0; !atomic_load_explicit(flag, memory_order_acquire); spins++)
        if (past_deadline(spins, deadline))
            return -ETIMEDOUT;
    return 0;
}

/* ---- the shared-memory segment --------------------------------------------------------------- */

/* The creator: a new, private (0600) segment; fails with -EEXIST rather than reuse a stale one. */
static int create_segment(const char *name, struct segment **out)
{
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, sizeof(struct segment)) != 0) {
        int err = errno;
        close(fd);
        shm_unlink(name);
        return -err;
    }
    struct segment *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);                               /* the mapping keeps the segment alive */
    if (s == MAP_FAILED) {
        shm_unlink(name);
        return -err;
    }
    struct ring *rings[2] = { &s->a_to_b, &s->b_to_a };
    for (int k = 0; k < 2; k++) {
        atomic_init(&rings[k]->head, 0);
        atomic_init(&rings[k]->tail, 0);
        rings[k]->head_cache = rings[k]->tail_cache = 0;
    }
    atomic_init(&s->attached, 0);
    atomic_init(&s->done, 0);
    atomic_init(&s->errors, 0);
    /* Publish: everything above happens-before any acquire load that reads ready == 1. */
    atomic_store_explicit(&s->ready, 1, memory_order_release);
    *out = s;
    return 0;
}

/* The other process: open by name (the creator may not have created or sized it yet), map it,
 * wait until it is initialised. `ready` reads 0 until then because ftruncate zero-fills. */
static int attach_segment(const char *name, struct segment **out, int64_t deadline)
{
    struct timespec nap = { 0, 100000 };     /* 0.1 ms between attempts */
    int fd;
    struct stat st;
    for (;;) {
        fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(struct segment))
            break;                           /* exists and is sized: mapping it is safe */
        int err = errno;
        if (fd >= 0) {
            close(fd);
        } else if (err != ENOENT) {
            return -err;
        }
        if (now_ns() > deadline)
            return -ETIMEDOUT;
        nanosleep(&nap, NULL);
    }
    struct segment *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (s == MAP_FAILED)
        return -err;
    int rc = wait_flag(&s->ready, deadline);
    if (rc != 0) {
        munmap(s, sizeof *s);
        return rc;
    }
    atomic_store_explicit(&s->attached, 1, memory_order_release);
    *out = s;
    return 0;
}

/* ---- the two experiments ----------------------------------------------------------------------- */

enum experiment { PINGPONG = 0, THROUGHPUT = 1 };

struct params {
    int experiment;
    int warmup;
    long iters;                 /* round trips, or messages for THROUGHPUT */
    int64_t *out;               /* PINGPONG: iters round trips (ns); THROUGHPUT: [elapsed ns] */
    int64_t deadline;
};

/* Process B (the forked child): echo, or consume and check the sequence. */
static int side_b(struct segment *s, const struct params *p)
{
    uint64_t v;
    int rc = 0;
    if (p->experiment == PINGPONG) {
        while ((rc = pop(&s->a_to_b, &v, p->deadline)) == 0 && v != STOP)
            if ((rc = push(&s->b_to_a, v, p->deadline)) != 0)
                break;
    } else {
        long errors = 0;
        for (long i = 0; rc == 0 && i < p->iters; i++) {
            rc = pop(&s->a_to_b, &v, p->deadline);
            errors += rc == 0 && v != (uint64_t)i;
        }
        atomic_store_explicit(&s->errors, errors, memory_order_relaxed);
        atomic_store_explicit(&s->done, 1, memory_order_release);
    }
    return rc;
}

/* Process A (the creator): time round trips, or the whole stream until B is done. */
static int side_a(struct segment *s, const struct params *p)
{
    uint64_t v;
    int rc = 0;
    if (p->experiment == PINGPONG) {
        for (long i = -p->warmup; rc == 0 && i < p->iters; i++) {
            int64_t t0 = now_ns();
            rc = push(&s->a_to_b, (uint64_t)(i + p->warmup), p->deadline);   /* never STOP */
            if (rc == 0)
                rc = pop(&s->b_to_a, &v, p->deadline);
            int64_t t1 = now_ns();
            if (rc == 0 && i >= 0)
                p->out[i] = t1 - t0;
        }
        if (rc == 0)
            rc = push(&s->a_to_b, STOP, p->deadline);
    } else {
        int64_t t0 = now_ns();
        for (long i = 0; rc == 0 && i < p->iters; i++)
            rc = push(&s->a_to_b, (uint64_t)i, p->deadline);
        if (rc == 0)
            rc = wait_flag(&s->done, p->deadline);
        p->out[0] = now_ns() - t0;
        if (rc == 0 && atomic_load_explicit(&s->errors, memory_order_relaxed) != 0)
            rc = -EPROTO;                    /* messages lost, duplicated or reordered */
    }
    return rc;
}

/* Fork; the child attaches as B, the parent creates the segment and runs A. */
static int run(const char *name, int cpu_a, int cpu_b, int timeout_ms, struct params *p)
{
    p->deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        struct segment *s = NULL;
        int rc = pin_to_cpu(cpu_b);
        if (rc == 0)
            rc = attach_segment(name, &s, p->deadline);
        if (rc == 0)
            rc = side_b(s, p);
        _exit(-rc);
    }
    struct segment *s = NULL;
    int rc = pin_to_cpu(cpu_a);
    if (rc == 0)
        rc = create_segment(name, &s);
    if (rc == 0) {
        rc = wait_flag(&s->attached, p->deadline);
        shm_unlink(name);                    /* both have it mapped: the name can go */
    }
    if (rc == 0)
        rc = side_a(s, p);
    if (s == NULL) {                         /* B would wait for a segment that never comes */
        kill(pid, SIGKILL);
        child_status(pid);
        return rc;
    }
    munmap(s, sizeof *s);
    int child_rc = child_status(pid);
    return child_rc != 0 ? child_rc : rc;    /* B's error explains A's timeout */
}

/* Round trips A -> B -> A: rtt_ns[i] for i < iters, after `warmup` untimed ones.
 * `name` is a shm name ("/something") that must not exist yet. */
int spsc_pingpong(const char *name, int cpu_a, int cpu_b, int warmup, long iters, int64_t *rtt_ns,
                  int timeout_ms)
{
    struct params p = { PINGPONG, warmup, iters, rtt_ns, 0 };
    return run(name, cpu_a, cpu_b, timeout_ms, &p);
}

/* Stream `messages` values 0, 1, 2, ... from A to B; *elapsed_ns from the first push until B
 * has popped and checked the last one. -EPROTO if B saw a value out of sequence. */
int spsc_throughput(const char *name, int cpu_a, int cpu_b, long messages, int64_t *elapsed_ns,
                    int timeout_ms)
{
    struct params p = { THROUGHPUT, 0, messages, elapsed_ns, 0 };
    return run(name, cpu_a, cpu_b, timeout_ms, &p);
}

/* ---- layout proof -------------------------------------------------------------------------- */

struct spsc_layout {
    long cache_line, slots, capacity, sizeof_segment, sizeof_ring;
    long off_a_to_b, off_b_to_a, off_head, off_tail_cache, off_tail, off_head_cache, off_slots;
    int index_lock_free, flag_lock_free;     /* atomic_is_lock_free at run time */
};

void spsc_layout(struct spsc_layout *out)
{
    static struct segment probe;
    out->cache_line = CACHE_LINE;
    out->slots = SLOTS;
    out->capacity = SLOTS - 1;
    out->sizeof_segment = sizeof(struct segment);
    out->sizeof_ring = sizeof(struct ring);
    out->off_a_to_b = offsetof(struct segment, a_to_b);
    out->off_b_to_a = offsetof(struct segment, b_to_a);
    out->off_head = offsetof(struct ring, head);
    out->off_tail_cache = offsetof(struct ring, tail_cache);
    out->off_tail = offsetof(struct ring, tail);
    out->off_head_cache = offsetof(struct ring, head_cache);
    out->off_slots = offsetof(struct ring, slots);
    out->index_lock_free = atomic_is_lock_free(&probe.a_to_b.head);
    out->flag_lock_free = atomic_is_lock_free(&probe.ready);
}
