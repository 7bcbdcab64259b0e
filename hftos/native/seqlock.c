/*
 * seqlock.c - a sequence lock for top-of-book snapshots between processes.
 *
 * Course chapter 4.5; erratum E53. One writer process keeps updating a quote (eight 64-bit
 * words: bid/ask price and size, a version, a timestamp, ...); a reader process takes snapshots.
 * The writer never waits for readers and readers never write shared memory, so a slow reader
 * cannot delay the feed (a lock would let it).
 *
 *   writer:  seq = seq + 1 (odd: "writing")    reader:  s1 = seq (acquire); odd? retry
 *            release fence                              copy the words (relaxed loads)
 *            store the words (relaxed)                  acquire fence
 *            seq = seq + 1 (even), release              s2 = seq; s1 != s2? retry
 *
 * The fences are what make this correct in C11 (Boehm, "Can seqlocks get along with programming
 * language memory models?", 2012): the release fence keeps the data stores after the odd
 * sequence store, the acquire fence keeps the data loads before the second sequence load. The
 * data words are relaxed atomics, so the racy copy is not undefined behaviour.
 *
 * Every quote the writer publishes is self-consistent: word k = version * (k + 1) for k < 7 and
 * word 7 = xor of words 0-6. A snapshot that breaks this rule mixes two versions: a torn read.
 * With `mode` = 0 the reader ignores the sequence counter (what the source text's reader does)
 * and we count torn snapshots; with `mode` = 1 it uses the seqlock and we count retries (and
 * check that no accepted snapshot is torn).
 */
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>

#include "common.h"

#define CACHE_LINE 64
#define WORDS 8
#define SPIN_CHECK 1024

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "atomic_ulong must be lock-free to be shared between processes");

struct quote {
    alignas(CACHE_LINE) atomic_ulong seq;        /* odd while the writer is writing */
    alignas(CACHE_LINE) atomic_ulong word[WORDS]; /* the snapshot: one full cache line */
    alignas(CACHE_LINE) atomic_int stop;          /* reader done: writer may stop */
    atomic_int writer_ready;
    atomic_ulong writes;                          /* versions published */
};

_Static_assert(offsetof(struct quote, word) % CACHE_LINE == 0, "the quote starts a cache line");
_Static_assert(sizeof(((struct quote *)0)->word) == CACHE_LINE, "the quote fills exactly one line");

static void write_quote(struct quote *q, unsigned long version, int mode)
{
    unsigned long s = atomic_load_explicit(&q->seq, memory_order_relaxed);
    if (mode) {
        atomic_store_explicit(&q->seq, s + 1, memory_order_relaxed);   /* odd */
        atomic_thread_fence(memory_order_release);
    }
    unsigned long x = 0;
    for (int k = 0; k < WORDS - 1; k++) {
        unsigned long w = version * (unsigned long)(k + 1);
        x ^= w;
        atomic_store_explicit(&q->word[k], w, memory_order_relaxed);
    }
    atomic_store_explicit(&q->word[WORDS - 1], x, memory_order_relaxed);
    if (mode)
        atomic_store_explicit(&q->seq, s + 2, memory_order_release);   /* even */
}

static int torn(const unsigned long *w)
{
    unsigned long x = 0;
    for (int k = 0; k < WORDS - 1; k++) {
        if (w[k] != w[0] * (unsigned long)(k + 1))
            return 1;
        x ^= w[k];
    }
    return x != w[WORDS - 1];
}

/* One snapshot. mode 0: just copy. mode 1: seqlock read; *retries counts failed attempts. */
static void read_quote(struct quote *q, unsigned long *w, int mode, long *retries)
{
    for (unsigned long attempt = 0;; attempt++) {
        unsigned long s1 = 0;
        if (mode) {
            s1 = atomic_load_explicit(&q->seq, memory_order_acquire);
            if (s1 & 1) {                       /* writer in the middle of an update */
                (*retries)++;
                if (attempt % 256 == 255)
                    sched_yield();              /* the writer may be preempted on our CPU */
                else
                    cpu_relax();
                continue;
            }
        }
        for (int k = 0; k < WORDS; k++)
            w[k] = atomic_load_explicit(&q->word[k], memory_order_relaxed);
        if (!mode)
            return;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&q->seq, memory_order_relaxed) == s1)
            return;
        (*retries)++;                           /* the writer changed the quote under us */
    }
}

struct seqlock_report {
    long snapshots;          /* snapshots the reader took */
    long torn;               /* of those, inconsistent */
    long retries;            /* mode 1: attempts thrown away */
    long writes;             /* versions the writer published meanwhile */
    int64_t elapsed_ns;      /* reader's time for all snapshots */
};

/* Writer forked onto cpu_w, reader (this process) on cpu_r; the reader takes `snapshots`. The
 * writer waits `gap_pauses` pause instructions between two versions: a writer that never pauses
 * would starve a seqlock reader (every attempt overlaps a write), the known weakness of seqlocks. */
int seqlock_run(int mode, int cpu_w, int cpu_r, long snapshots, int gap_pauses, int timeout_ms,
                struct seqlock_report *out)
{
    if ((mode != 0 && mode != 1) || snapshots < 1 || gap_pauses < 0)
        return -EINVAL;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    struct quote *q = mmap(NULL, sizeof *q, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED)
        return -errno;
    atomic_init(&q->seq, 0);
    atomic_init(&q->stop, 0);
    atomic_init(&q->writer_ready, 0);
    atomic_init(&q->writes, 0);
    write_quote(q, 1, 1);                       /* version 1, consistent */
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        munmap(q, sizeof *q);
        return -err;
    }
    if (pid == 0) {                             /* writer: publish new versions until told to stop */
        int rc = pin_to_cpu(cpu_w);
        unsigned long v = 2;
        atomic_store_explicit(&q->writer_ready, 1, memory_order_release);
        while (rc == 0 && !atomic_load_explicit(&q->stop, memory_order_relaxed)) {
            write_quote(q, v++, mode);
            for (int k = 0; k < gap_pauses; k++)  /* quotes arrive at a finite rate */
                cpu_relax();
            if (v % SPIN_CHECK == 0 && now_ns() > deadline)
                break;
        }
        atomic_store_explicit(&q->writes, v - 2, memory_order_relaxed);
        _exit(-rc);
    }
    int rc = pin_to_cpu(cpu_r);
    while (rc == 0 && !atomic_load_explicit(&q->writer_ready, memory_order_acquire)) {
        sched_yield();
        if (now_ns() > deadline)
            rc = -ETIMEDOUT;
    }
    unsigned long w[WORDS];
    long n = 0, bad = 0, retries = 0;
    int64_t t0 = now_ns();
    while (rc == 0 && n < snapshots) {
        read_quote(q, w, mode, &retries);
        bad += torn(w);
        if (++n % SPIN_CHECK == 0 && now_ns() > deadline)
            break;
    }
    out->elapsed_ns = now_ns() - t0;
    atomic_store_explicit(&q->stop, 1, memory_order_relaxed);
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
    out->snapshots = n;
    out->torn = bad;
    out->retries = retries;
    out->writes = (long)atomic_load_explicit(&q->writes, memory_order_relaxed);
    munmap(q, sizeof *q);
    return rc;
}

/* The check the reader applies, exposed for the tests: 1 if the eight words are torn. */
int seqlock_is_torn(const uint64_t *words)
{
    unsigned long w[WORDS];
    for (int k = 0; k < WORDS; k++)
        w[k] = words[k];
    return torn(w);
}

long seqlock_offset_words(void)
{
    return (long)offsetof(struct quote, word);
}
