/*
 * spscvar.c - the SPSC ring of chapter 1.5 (ipc.c) taken apart: what each design choice is worth.
 *
 * Course chapter 4.5; errata E57, E58. Same algorithm as ipc.c (relaxed load of one's own index,
 * acquire load of the other's, release store to publish), but three things are run-time knobs so
 * one program can measure each:
 *   - `slots`: ring size, a power of two from 2 to 65536 (capacity slots - 1);
 *   - `padded`: 1 puts head, tail and the slots each on their own 64-byte line (as ipc.c and
 *     rigtorp/SPSCQueue do); 0 packs head at offset 0, tail at 8 and the slots from 16, the
 *     layout of the source text's queue after E57: every push and pop writes the line the other
 *     side is polling;
 *   - `cached`: 1 keeps a private copy of the other side's index and re-reads the shared one only
 *     when the ring looks full (producer) or empty (consumer); 0 reads it on every operation, so
 *     every push pulls the consumer's line over and every pop the producer's.
 * The producer streams 0, 1, 2, ...; the consumer checks the sequence (a mismatch is -EPROTO).
 */
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#include "common.h"

#define CACHE_LINE 64
#define SPIN_CHECK 1024
#define MAX_SLOTS 65536

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "atomic_ulong must be lock-free to be shared between processes");

/* The segment: a control line, then the ring laid out according to `padded`. */
struct control {
    alignas(CACHE_LINE) atomic_int b_ready;
    atomic_int done;
    atomic_long errors;
};

struct ring {                    /* process-local view: where head, tail and the slots are */
    atomic_ulong *head, *tail;
    uint64_t *slots;
    unsigned long mask;
    int cached;
    unsigned long other_cache;   /* producer: last tail seen; consumer: last head seen */
};

/* Offsets of head, tail and slots from the start of the ring area. */
void spscvar_offsets(int padded, long *off_head, long *off_tail, long *off_slots)
{
    *off_head = 0;
    *off_tail = padded ? CACHE_LINE : 8;
    *off_slots = padded ? 2 * CACHE_LINE : 16;
}

static inline int try_push(struct ring *r, uint64_t value)
{
    unsigned long head = atomic_load_explicit(r->head, memory_order_relaxed);
    unsigned long next = (head + 1) & r->mask;
    if (!r->cached || next == r->other_cache) {
        r->other_cache = atomic_load_explicit(r->tail, memory_order_acquire);
        if (next == r->other_cache)
            return 0;
    }
    r->slots[head] = value;
    atomic_store_explicit(r->head, next, memory_order_release);
    return 1;
}

static inline int try_pop(struct ring *r, uint64_t *value)
{
    unsigned long tail = atomic_load_explicit(r->tail, memory_order_relaxed);
    if (!r->cached || tail == r->other_cache) {
        r->other_cache = atomic_load_explicit(r->head, memory_order_acquire);
        if (tail == r->other_cache)
            return 0;
    }
    *value = r->slots[tail];
    atomic_store_explicit(r->tail, (tail + 1) & r->mask, memory_order_release);
    return 1;
}

static inline int spun_out(unsigned long spins, int64_t deadline)
{
    cpu_relax();
    return spins % SPIN_CHECK == SPIN_CHECK - 1 && now_ns() > deadline;
}

/* Stream `messages` values from a producer on cpu_a to a consumer (forked) on cpu_b.
 * *elapsed_ns: from the first push until the consumer has checked the last value. */
int spscvar_throughput(int cpu_a, int cpu_b, long slots, int padded, int cached, long messages,
                       int64_t *elapsed_ns, int timeout_ms)
{
    if (slots < 2 || slots > MAX_SLOTS || (slots & (slots - 1)) != 0 || messages < 1)
        return -EINVAL;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    long off_head, off_tail, off_slots;
    spscvar_offsets(padded, &off_head, &off_tail, &off_slots);
    size_t size = sizeof(struct control) + (size_t)off_slots + (size_t)slots * sizeof(uint64_t);
    char *seg = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (seg == MAP_FAILED)
        return -errno;
    struct control *ctl = (struct control *)seg;
    char *area = seg + sizeof(struct control);   /* starts a cache line */
    struct ring r = { (atomic_ulong *)(area + off_head), (atomic_ulong *)(area + off_tail),
                      (uint64_t *)(area + off_slots), (unsigned long)slots - 1, cached, 0 };
    atomic_init(r.head, 0);
    atomic_init(r.tail, 0);
    atomic_init(&ctl->b_ready, 0);
    atomic_init(&ctl->done, 0);
    atomic_init(&ctl->errors, 0);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        munmap(seg, size);
        return -err;
    }
    if (pid == 0) {                                 /* consumer */
        int rc = pin_to_cpu(cpu_b);
        long errors = 0;
        uint64_t v;
        atomic_store_explicit(&ctl->b_ready, 1, memory_order_release);
        for (long i = 0; rc == 0 && i < messages; i++) {
            for (unsigned long spins = 0; !try_pop(&r, &v); spins++)
                if (spun_out(spins, deadline)) {
                    rc = -ETIMEDOUT;
                    break;
                }
            errors += rc == 0 && v != (uint64_t)i;
        }
        atomic_store_explicit(&ctl->errors, errors, memory_order_relaxed);
        atomic_store_explicit(&ctl->done, 1, memory_order_release);
        _exit(-rc);
    }
    int rc = pin_to_cpu(cpu_a);
    for (unsigned long spins = 0; rc == 0 && !atomic_load_explicit(&ctl->b_ready, memory_order_acquire); spins++)
        if (spun_out(spins, deadline))
            rc = -ETIMEDOUT;
    int64_t t0 = now_ns();
    for (long i = 0; rc == 0 && i < messages; i++)
        for (unsigned long spins = 0; !try_push(&r, (uint64_t)i); spins++)
            if (spun_out(spins, deadline)) {
                rc = -ETIMEDOUT;
                break;
            }
    for (unsigned long spins = 0; rc == 0 && !atomic_load_explicit(&ctl->done, memory_order_acquire); spins++)
        if (spun_out(spins, deadline))
            rc = -ETIMEDOUT;
    *elapsed_ns = now_ns() - t0;
    if (rc != 0)
        kill(pid, SIGKILL);
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
    if (rc == 0 && atomic_load_explicit(&ctl->errors, memory_order_relaxed) != 0)
        rc = -EPROTO;
    munmap(seg, size);
    return rc;
}

/* Layout facts for the tests: the control block's size (the ring area starts after it). */
long spscvar_control_size(void)
{
    return (long)sizeof(struct control);
}
