/*
 * semaphores.c - POSIX semaphores, eventfd semaphore mode and a futex-based lock.
 *
 * Course chapter 4.4.
 *
 *   - A POSIX semaphore (sem_t) is a counter in user memory. sem_post adds one; sem_wait takes one,
 *     or sleeps while it is 0. glibc implements both on a futex: the fast paths are atomic
 *     instructions in user space, and the kernel is entered only to sleep (FUTEX_WAIT) or to wake a
 *     sleeper (FUTEX_WAKE). "Unnamed" semaphores live wherever you put them (sem_init; pshared=1
 *     and a MAP_SHARED mapping for processes); "named" ones (sem_open("/name")) are files in
 *     /dev/shm called sem.<name>, mapped by every process that opens them.
 *   - An eventfd is a 64-bit counter in the kernel behind a file descriptor. write(fd, &n, 8) adds n;
 *     read() returns the whole counter and resets it to 0, or, with EFD_SEMAPHORE, returns 1 and
 *     subtracts 1. Either way a read blocks while the counter is 0, and it works with epoll.
 *   - A futex lock in 30 lines (the three-state mutex of Ulrich Drepper, "Futexes Are Tricky"): the lock word is 0
 *     (free), 1 (held, nobody waiting) or 2 (held, maybe waiters). Lock and unlock without contention
 *     are one atomic instruction each and no system call; pthread_mutex_t works the same way.
 *
 * Link: with glibc >= 2.34 sem_* and pthread_* are in libc itself; before that they were in
 * libpthread, so compile with -pthread (which links the right library on any glibc), not -lrt.
 */
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common.h"

#define SEM_PATIENCE_S 5      /* a wait gives up after this long: the other side died */

/* ------------------------------------------------------------------ a minimal futex lock */

struct futex_lock {
    _Alignas(64) _Atomic uint32_t word;   /* 0 free, 1 held, 2 held and maybe waiters */
    _Atomic long waits, wakes;            /* system calls made (for the notebook only) */
    int private_flag;                     /* FUTEX_PRIVATE_FLAG between threads of one process */
};

static long sys_futex(_Atomic uint32_t *uaddr, int op, uint32_t val)
{
    return syscall(SYS_futex, (uint32_t *)uaddr, op, val, NULL, NULL, 0);
}

static void futex_lock(struct futex_lock *l)
{
    uint32_t c = 0;
    /* Fast path: 0 -> 1, one atomic compare-and-swap, no system call. */
    if (atomic_compare_exchange_strong_explicit(&l->word, &c, 1, memory_order_acquire, memory_order_relaxed))
        return;
    /* Slow path: mark the lock contended (2) and sleep while it stays held. FUTEX_WAIT returns at
     * once (EAGAIN) if the word is no longer 2, so a wake between our exchange and the wait is not lost. */
    if (c != 2)
        c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
    while (c != 0) {
        atomic_fetch_add_explicit(&l->waits, 1, memory_order_relaxed);
        sys_futex(&l->word, FUTEX_WAIT | l->private_flag, 2);
        c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
    }
}

static void futex_unlock(struct futex_lock *l)
{
    /* 1 -> 0: nobody waits, done. 2 -> 1 -> 0: somebody may sleep, wake one. */
    if (atomic_fetch_sub_explicit(&l->word, 1, memory_order_release) != 1) {
        atomic_store_explicit(&l->word, 0, memory_order_release);
        atomic_fetch_add_explicit(&l->wakes, 1, memory_order_relaxed);
        sys_futex(&l->word, FUTEX_WAKE | l->private_flag, 1);
    }
}

/* ------------------------------------------------------------------ lock cost */

enum lock_kind { LOCK_FUTEX = 0, LOCK_PTHREAD = 1, LOCK_SEM = 2 };

struct lock_bench {
    int kind;
    struct futex_lock fl;
    pthread_mutex_t mutex;
    sem_t sem;
    _Alignas(64) long counter;            /* protected by the lock */
    int iters, warmup, batch, work;
    int cpu_a, cpu_b;
    int64_t *samples;                     /* thread A's samples */
    _Atomic int go;
};

static inline void lock_any(struct lock_bench *b)
{
    if (b->kind == LOCK_FUTEX)
        futex_lock(&b->fl);
    else if (b->kind == LOCK_PTHREAD)
        pthread_mutex_lock(&b->mutex);
    else
        while (sem_wait(&b->sem) != 0)
            ;                              /* EINTR */
}

static inline void unlock_any(struct lock_bench *b)
{
    if (b->kind == LOCK_FUTEX)
        futex_unlock(&b->fl);
    else if (b->kind == LOCK_PTHREAD)
        pthread_mutex_unlock(&b->mutex);
    else
        sem_post(&b->sem);
}

/* A little work inside and outside the critical section, so that the two threads overlap. */
static inline void busy(int n)
{
    for (volatile int i = 0; i < n; i++)
        ;
}

/* Thread B of the contended run: the same loop, unrecorded. */
static void *contender(void *arg)
{
    struct lock_bench *b = arg;
    pin_to_cpu(b->cpu_b);
    atomic_store(&b->go, 1);
    for (int i = 0; i < b->warmup + b->iters; i++) {
        lock_any(b);
        b->counter++;
        busy(b->work);
        unlock_any(b);
        busy(b->work);
    }
    return NULL;
}

static void *nothing(void *arg)
{
    return arg;
}

/*
 * Cost of a lock. kind: LOCK_FUTEX (futex_lock above), LOCK_PTHREAD (pthread_mutex_t) or LOCK_SEM
 * (sem_wait/sem_post on a semaphore initialised to 1).
 *   contended = 0: one thread; samples[i] = time of `batch` lock+unlock pairs / batch (ns per pair).
 *                  spawn_first = 1 creates and joins a thread first: while a process has never had a
 *                  second thread, glibc's pthread_mutex_lock/unlock take and release a private mutex
 *                  with plain stores, no atomic instruction (SINGLE_THREAD_P, i.e. __libc_single_threaded;
 *                  lll_mutex_lock_optimized in nptl/pthread_mutex_lock.c), which makes pthread_mutex_t
 *                  look cheaper in a single-threaded program than it will be in yours.
 *   contended = 1: two threads pinned to cpu_a/cpu_b each take the lock iters(+warmup) times with
 *                  `work` spins inside and outside; samples[i] = thread A's time to acquire (ns).
 * stats_out: [0] futex waits, [1] futex wakes (LOCK_FUTEX only), [2] 1 if the counter is exactly
 * right (mutual exclusion held). Run in a helper process: it pins and starts a thread.
 */
int lock_cost(int kind, int contended, int spawn_first, int cpu_a, int cpu_b, int warmup, int iters, int batch,
              int work, int64_t *samples, long *stats_out)
{
    static struct lock_bench b;
    if (kind < 0 || kind > 2 || iters < 1 || warmup < 0 || batch < 1 || work < 0)
        return -EINVAL;
    memset(&b, 0, sizeof b);
    b.kind = kind; b.iters = iters; b.warmup = warmup; b.batch = batch; b.work = work;
    b.cpu_a = cpu_a; b.cpu_b = cpu_b; b.samples = samples;
    b.fl.private_flag = FUTEX_PRIVATE_FLAG;
    if (pthread_mutex_init(&b.mutex, NULL) != 0 || sem_init(&b.sem, 0, 1) != 0)
        return -EINVAL;
    int rc = pin_to_cpu(cpu_a);
    if (rc != 0)
        return rc;
    long expected = 0;
    if (spawn_first) {
        pthread_t t;
        int err = pthread_create(&t, NULL, nothing, NULL);
        if (err != 0)
            return -err;
        pthread_join(t, NULL);
    }
    if (!contended) {
        for (int i = -warmup; i < iters; i++) {
            int64_t t0 = now_ns();
            for (int k = 0; k < batch; k++) {
                lock_any(&b);
                b.counter++;
                unlock_any(&b);
            }
            int64_t t1 = now_ns();
            if (i >= 0)
                samples[i] = (t1 - t0) / batch;
        }
        expected = (long)(warmup + iters) * batch;
    } else {
        pthread_t tid;
        int err = pthread_create(&tid, NULL, contender, &b);
        if (err != 0)
            return -err;
        while (!atomic_load(&b.go))
            cpu_relax();
        for (int i = -warmup; i < iters; i++) {
            int64_t t0 = now_ns();
            lock_any(&b);
            int64_t t1 = now_ns();
            b.counter++;
            busy(work);
            unlock_any(&b);
            if (i >= 0)
                samples[i] = t1 - t0;
            busy(work);
        }
        pthread_join(tid, NULL);
        expected = 2L * (warmup + iters);
    }
    stats_out[0] = atomic_load(&b.fl.waits);
    stats_out[1] = atomic_load(&b.fl.wakes);
    stats_out[2] = b.counter == expected;
    pthread_mutex_destroy(&b.mutex);
    sem_destroy(&b.sem);
    return 0;
}

/* ------------------------------------------------------------------ semaphore ping-pong */

/* Two semaphores, one per direction, each on its own cache line, in a MAP_SHARED mapping. */
struct sem_pair {
    _Alignas(64) sem_t ab;
    _Alignas(64) sem_t ba;
    _Alignas(64) _Atomic int stop;
};

static int sem_wait_patiently(sem_t *s)
{
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);      /* sem_timedwait takes an absolute CLOCK_REALTIME time */
        ts.tv_sec += SEM_PATIENCE_S;
        if (sem_timedwait(s, &ts) == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

/*
 * Ping-pong between two processes over two process-shared semaphores. named = 0: unnamed
 * semaphores (sem_init(pshared=1)) in a MAP_SHARED|MAP_ANONYMOUS mapping inherited across fork;
 * named = 1: sem_open("<name>-ab"/"<name>-ba") (files /dev/shm/sem.<name>-..), unlinked right after
 * opening (the child inherits the mappings). A posts "ab" and waits on "ba"; B the other way round.
 * Run in a helper: it forks and pins.
 */
int sem_pingpong(int named, const char *name, int cpu_a, int cpu_b, int warmup, int iters, int64_t *rtt_ns)
{
    if (iters < 1 || warmup < 0)
        return -EINVAL;
    struct sem_pair *p = mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    sem_t *ab = &p->ab, *ba = &p->ba;
    char nab[256], nba[256];
    int rc = 0;
    if (named) {
        snprintf(nab, sizeof nab, "%s-ab", name);
        snprintf(nba, sizeof nba, "%s-ba", name);
        ab = sem_open(nab, O_CREAT | O_EXCL, 0600, 0);
        if (ab == SEM_FAILED)
            rc = -errno;
        else
            sem_unlink(nab);                   /* ours: unlink only what we created */
        if (rc == 0) {
            ba = sem_open(nba, O_CREAT | O_EXCL, 0600, 0);
            if (ba == SEM_FAILED)
                rc = -errno;
            else
                sem_unlink(nba);
        }
    } else if (sem_init(ab, 1, 0) != 0 || sem_init(ba, 1, 0) != 0) {
        rc = -errno;
    }
    pid_t pid = rc == 0 ? fork() : 0;
    if (rc == 0 && pid < 0)
        rc = -errno;
    if (rc == 0 && pid == 0) {                 /* B: wait, answer, until told to stop */
        int crc = pin_to_cpu(cpu_b);
        while (crc == 0) {
            crc = sem_wait_patiently(ab);
            if (crc != 0 || atomic_load_explicit(&p->stop, memory_order_acquire))
                break;
            if (sem_post(ba) != 0)
                crc = -errno;
        }
        _exit(-crc);
    }
    if (rc == 0) {                             /* A: post, wait, time the round trip */
        rc = pin_to_cpu(cpu_a);
        for (int i = -warmup; rc == 0 && i < iters; i++) {
            int64_t t0 = now_ns();
            if (sem_post(ab) != 0)
                rc = -errno;
            if (rc == 0)
                rc = sem_wait_patiently(ba);
            int64_t t1 = now_ns();
            if (rc == 0 && i >= 0)
                rtt_ns[i] = t1 - t0;
        }
        atomic_store_explicit(&p->stop, 1, memory_order_release);
        sem_post(ab);
        int crc = child_status(pid);
        if (rc == 0)
            rc = crc;
    }
    if (named) {
        if (ab != SEM_FAILED && ab != &p->ab)
            sem_close(ab);
        if (ba != SEM_FAILED && ba != &p->ba)
            sem_close(ba);
    } else {
        sem_destroy(&p->ab);
        sem_destroy(&p->ba);
    }
    munmap(p, sizeof *p);
    return rc;
}

/* ------------------------------------------------------------------ small demos */

/* What a named semaphore looks like while it exists. */
struct sem_view {
    long sizeof_sem_t;
    int file_seen, mode;
    long file_size;
    int value_initial, trywait_ok, trywait_errno, value_after;
    int exists_after_unlink;
};

/*
 * sem_open(name, O_CREAT|O_EXCL, 0600, initial); look at /dev/shm/sem.<name>; take it with
 * sem_trywait until it fails (EAGAIN at 0); close and unlink; look again. No fork.
 */
int sem_named_view(const char *name, int initial, struct sem_view *v)
{
    char path[512];
    struct stat st;
    memset(v, 0, sizeof *v);
    v->sizeof_sem_t = sizeof(sem_t);
    snprintf(path, sizeof path, "/dev/shm/sem.%s", name + 1);
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, (unsigned)initial);
    if (s == SEM_FAILED)
        return -errno;
    if (stat(path, &st) == 0) {
        v->file_seen = 1;
        v->mode = st.st_mode & 07777;
        v->file_size = st.st_size;
    }
    sem_getvalue(s, &v->value_initial);
    for (int k = 0; k < initial + 1; k++) {
        if (sem_trywait(s) == 0)
            v->trywait_ok++;
        else {
            v->trywait_errno = errno;
            break;
        }
    }
    sem_getvalue(s, &v->value_after);
    sem_close(s);
    int rc = sem_unlink(name) == 0 ? 0 : -errno;
    v->exists_after_unlink = stat(path, &st) == 0;
    return rc;
}

/*
 * eventfd counter semantics: write `posts` increments of 1 (one write each), then read until
 * EAGAIN (non-blocking). reads[] receives each value read; returns how many reads succeeded
 * (or -errno). semaphore = 1 adds EFD_SEMAPHORE. No fork.
 */
int eventfd_modes(int semaphore, int posts, uint64_t *reads, int max_reads)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC | (semaphore ? EFD_SEMAPHORE : 0));
    if (fd < 0)
        return -errno;
    int rc = 0, n = 0;
    for (int i = 0; rc == 0 && i < posts; i++) {
        uint64_t one = 1;
        if (write(fd, &one, sizeof one) != (ssize_t)sizeof one)
            rc = -errno;
    }
    while (rc == 0 && n < max_reads) {
        uint64_t v;
        if (read(fd, &v, sizeof v) != (ssize_t)sizeof v) {
            if (errno != EAGAIN)
                rc = -errno;
            break;
        }
        reads[n++] = v;
    }
    close(fd);
    return rc < 0 ? rc : n;
}
