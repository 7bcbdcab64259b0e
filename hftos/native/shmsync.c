/*
 * shmsync.c - shared memory between processes: three ways to get it, a robust process-shared
 * mutex, safe single-creator initialisation, and a spinning ping-pong with chosen placement.
 *
 * Course chapter 4.5; errata E53-E56, E70.
 *
 * Three kinds of shared mapping (shm_kind_*):
 *   0 shm_open   a named file in the tmpfs at /dev/shm; any process that knows the name (and
 *                passes the permission check) can map it; the name outlives every process until
 *                shm_unlink.
 *   1 memfd      memfd_create: an anonymous tmpfs file reached only through its fd (inherit it
 *                across fork, or pass it over a UNIX socket with SCM_RIGHTS); it vanishes with
 *                the last fd and mapping. Nothing in /dev/shm to leak.
 *   2 anon       mmap(MAP_SHARED | MAP_ANONYMOUS): no name, no fd; shared with children forked
 *                after the mmap, and with nobody else.
 *   3 private    mmap(MAP_PRIVATE | MAP_ANONYMOUS) for contrast: fork gives the child a
 *                copy-on-write copy, so its stores are invisible to the parent.
 *
 * Every function returns 0 or a negative errno; forked children end with _exit().
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common.h"

#define CACHE_LINE 64
#define SPIN_CHECK 1024                     /* spins between two deadline checks */

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "atomic_long must be lock-free to be shared between processes");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free to be shared between processes");

/* ---- three kinds of shared mapping ------------------------------------------------------------ */

enum kind { SHM_OPEN = 0, MEMFD = 1, ANON_SHARED = 2, ANON_PRIVATE = 3 };

/* Create a mapping of `size` bytes of the given kind. `name` is the shm name ("/...") for
 * SHM_OPEN or the memfd's label; *fd_out is the descriptor (-1 for the anonymous kinds),
 * kept open so the caller can look at /proc/self/fd. */
int shm_kind_open(int kind, const char *name, long size, void **addr_out, int *fd_out)
{
    int fd = -1;
    int flags = MAP_SHARED;
    if (kind == SHM_OPEN) {
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);   /* 0600: E54 */
    } else if (kind == MEMFD) {
        fd = memfd_create(name, MFD_CLOEXEC);
    } else if (kind == ANON_SHARED || kind == ANON_PRIVATE) {
        flags = (kind == ANON_SHARED ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS;
    } else {
        return -EINVAL;
    }
    if ((kind == SHM_OPEN || kind == MEMFD) && fd < 0)
        return -errno;
    if (fd >= 0 && ftruncate(fd, size) != 0) {
        int err = errno;
        close(fd);
        if (kind == SHM_OPEN)
            shm_unlink(name);
        return -err;
    }
    void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        if (kind == SHM_OPEN)
            shm_unlink(name);
        return -err;
    }
    *addr_out = p;
    *fd_out = fd;
    return 0;
}

/* Fork a child that stores `value` into the first word of the mapping and exits; the parent
 * waits for it and returns what *it* then reads there in *seen. */
int shm_kind_fork_write(void *addr, long value, long *seen)
{
    volatile long *word = addr;
    *word = 0;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        *word = value;                      /* the child's store */
        _exit(0);
    }
    int rc = child_status(pid);             /* waitpid orders the child's store before our load */
    *seen = *word;
    return rc;
}

/* Undo shm_kind_open: unmap, close, and for SHM_OPEN remove the name. */
int shm_kind_close(int kind, const char *name, void *addr, long size, int fd)
{
    int rc = munmap(addr, (size_t)size) == 0 ? 0 : -errno;
    if (fd >= 0)
        close(fd);
    if (kind == SHM_OPEN && shm_unlink(name) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* ---- a robust, process-shared mutex ------------------------------------------------------------- */

struct robust_report {
    int first_lock;          /* what the next locker's pthread_mutex_lock returned: EOWNERDEAD */
    int consistent;          /* pthread_mutex_consistent: 0 */
    int relock;              /* lock after consistent + unlock: 0 */
    int value_seen;          /* the protected value the dead owner left half-updated */
    int unrecovered_lock;    /* second mutex, unlocked without consistent: ENOTRECOVERABLE */
    int plain_timedlock;     /* a non-robust mutex whose owner died: ETIMEDOUT (forever without a timeout) */
    int plain_wait_ms;       /* how long that timed lock waited */
};

struct robust_shared {
    pthread_mutex_t robust;      /* PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST */
    pthread_mutex_t robust2;     /* same, to show ENOTRECOVERABLE */
    pthread_mutex_t plain;       /* PTHREAD_PROCESS_SHARED only */
    atomic_int locked;           /* the child holds all three */
    int value;                   /* "protected" data: the child dies between two updates */
};

static int init_mutex(pthread_mutex_t *m, int robust)
{
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (rc == 0 && robust)
        rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return -rc;                               /* pthread functions return the error number */
}

/* A child takes all three mutexes, half-updates `value` and is killed with SIGKILL while holding
 * them. Then this process (the next locker) finds out what each kind of mutex does about it. */
int robust_demo(int wait_ms, struct robust_report *out)
{
    struct robust_shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return -errno;
    int rc = init_mutex(&s->robust, 1);
    if (rc == 0)
        rc = init_mutex(&s->robust2, 1);
    if (rc == 0)
        rc = init_mutex(&s->plain, 0);
    if (rc != 0)
        goto out;
    atomic_init(&s->locked, 0);
    s->value = 0;
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0) {
        pthread_mutex_lock(&s->robust);
        pthread_mutex_lock(&s->robust2);
        pthread_mutex_lock(&s->plain);
        s->value = 1;                         /* first half of an update ... */
        atomic_store_explicit(&s->locked, 1, memory_order_release);
        for (;;)
            pause();                          /* ... and the second half never comes */
    }
    int64_t deadline = now_ns() + 5 * NS_PER_SEC;
    while (!atomic_load_explicit(&s->locked, memory_order_acquire) && now_ns() < deadline)
        sched_yield();
    kill(pid, SIGKILL);                       /* the owner dies holding the locks */
    child_status(pid);
    if (!atomic_load_explicit(&s->locked, memory_order_acquire)) {
        rc = -ETIMEDOUT;
        goto out;
    }
    /* 1. robust: the kernel's robust-futex list marked the lock word OWNER_DIED at the child's exit */
    out->first_lock = pthread_mutex_lock(&s->robust);
    out->value_seen = s->value;
    if (out->first_lock == EOWNERDEAD) {
        s->value = 0;                         /* repair the protected state, then declare it consistent */
        out->consistent = pthread_mutex_consistent(&s->robust);
    }
    pthread_mutex_unlock(&s->robust);
    out->relock = pthread_mutex_lock(&s->robust);
    if (out->relock == 0)
        pthread_mutex_unlock(&s->robust);
    /* 2. robust, but unlocked without pthread_mutex_consistent: unusable for ever after */
    if (pthread_mutex_lock(&s->robust2) == EOWNERDEAD)
        pthread_mutex_unlock(&s->robust2);
    out->unrecovered_lock = pthread_mutex_lock(&s->robust2);
    if (out->unrecovered_lock == 0)
        pthread_mutex_unlock(&s->robust2);
    /* 3. plain process-shared mutex: nobody will ever unlock it; bound the wait */
    struct timespec abs;
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += (long)(wait_ms % 1000) * 1000000;
    abs.tv_sec += wait_ms / 1000 + abs.tv_nsec / NS_PER_SEC;
    abs.tv_nsec %= NS_PER_SEC;
    int64_t t0 = now_ns();
    out->plain_timedlock = pthread_mutex_timedlock(&s->plain, &abs);
    out->plain_wait_ms = (int)((now_ns() - t0) / 1000000);
    if (out->plain_timedlock == 0)
        pthread_mutex_unlock(&s->plain);
out:
    munmap(s, sizeof *s);
    return rc;
}

/* ---- safe initialisation: one creator (O_EXCL), a ready flag ------------------------------------ */

#define INIT_MAGIC 0x48465431L               /* "HFT1" */

struct init_segment {
    alignas(CACHE_LINE) atomic_int ready;    /* 0 until the creator has initialised; release/acquire */
    atomic_long magic;                       /* what initialisation writes */
    atomic_long attached;                    /* each process adds 1 after attaching */
};

struct init_report {
    int creators;            /* processes whose O_CREAT|O_EXCL succeeded (must be 1) */
    int eexist;              /* processes that got EEXIST and attached instead */
    int saw_magic;           /* processes that found the segment initialised */
    long attached;           /* final value of the shared counter (must equal `processes`) */
    int mode;                /* permission bits of the segment (0600) */
};

struct init_tally {                          /* results from the children, in an anonymous shared page */
    atomic_int creators, eexist, saw_magic, mode;
};

/* One process's start-up. careful=1: the safe protocol. careful=0: the source text's habit of
 * "create if missing, then construct" in every process (E55), staggered by `stagger_ms`. */
static int init_one(const char *name, int careful, int k, int stagger_ms, struct init_tally *t, int64_t deadline)
{
    struct init_segment *s;
    int fd;
    if (!careful) {
        struct timespec nap = { 0, (long)k * stagger_ms * 1000000L };
        nanosleep(&nap, NULL);
        fd = shm_open(name, O_CREAT | O_RDWR, 0600);
        if (fd < 0 || ftruncate(fd, sizeof *s) != 0)
            return -errno;
        s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (s == MAP_FAILED)
            return -errno;
        atomic_store(&s->magic, INIT_MAGIC);  /* "construct": every process resets the state */
        atomic_store(&s->attached, 0);
        atomic_store(&s->ready, 1);
        atomic_fetch_add(&t->saw_magic, 1);
        atomic_fetch_add(&s->attached, 1);
        munmap(s, sizeof *s);
        return 0;
    }
    fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {                            /* we are the one creator */
        struct stat st;
        if (ftruncate(fd, sizeof *s) != 0 || fstat(fd, &st) != 0)
            return -errno;
        atomic_store(&t->mode, (int)(st.st_mode & 0777));
        s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (s == MAP_FAILED)
            return -errno;
        atomic_fetch_add(&t->creators, 1);
        atomic_store_explicit(&s->magic, INIT_MAGIC, memory_order_relaxed);
        atomic_store_explicit(&s->attached, 0, memory_order_relaxed);
        atomic_store_explicit(&s->ready, 1, memory_order_release);   /* publish */
    } else if (errno == EEXIST) {             /* somebody else creates: attach */
        atomic_fetch_add(&t->eexist, 1);
        struct stat st;
        for (;;) {                            /* wait until it exists *and* is sized */
            fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
            if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof *s)
                break;
            if (fd >= 0)
                close(fd);
            if (now_ns() > deadline)
                return -ETIMEDOUT;
            sched_yield();
        }
        s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (s == MAP_FAILED)
            return -errno;
        for (unsigned long spins = 0; !atomic_load_explicit(&s->ready, memory_order_acquire); spins++) {
            sched_yield();
            if (now_ns() > deadline) {
                munmap(s, sizeof *s);
                return -ETIMEDOUT;
            }
        }
    } else {
        return -errno;
    }
    if (atomic_load_explicit(&s->magic, memory_order_relaxed) == INIT_MAGIC)
        atomic_fetch_add(&t->saw_magic, 1);
    atomic_fetch_add(&s->attached, 1);
    munmap(s, sizeof *s);
    return 0;
}

/* `processes` processes start at once and all try to set up segment `name`. */
int init_race(const char *name, int processes, int careful, int stagger_ms, int timeout_ms, struct init_report *out)
{
    if (processes < 1 || processes > 64)
        return -EINVAL;
    struct init_tally *t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return -errno;
    memset(t, 0, sizeof *t);
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    pid_t pids[64];
    int rc = 0, started = 0;
    for (int k = 0; k < processes; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
            break;
        }
        if (pid == 0)
            _exit(-init_one(name, careful, k, stagger_ms, t, deadline));
        pids[started++] = pid;
    }
    for (int k = 0; k < started; k++) {
        int crc = child_status(pids[k]);
        if (rc == 0)
            rc = crc;
    }
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd >= 0) {
        struct stat st;
        struct init_segment *s = MAP_FAILED;
        /* A child that died between shm_open and ftruncate leaves a short file: mapping it and
         * reading past its end would raise SIGBUS in the caller, so check the size first. */
        if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof *s)
            s = mmap(NULL, sizeof *s, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (s != MAP_FAILED) {
            out->attached = atomic_load(&s->attached);
            munmap(s, sizeof *s);
        }
    }
    shm_unlink(name);                         /* in every path: leave nothing in /dev/shm */
    out->creators = atomic_load(&t->creators);
    out->eexist = atomic_load(&t->eexist);
    out->saw_magic = atomic_load(&t->saw_magic);
    out->mode = atomic_load(&t->mode);
    munmap(t, sizeof *t);
    return rc;
}

/* ---- spinning ping-pong on one cache line per direction ---------------------------------------- */

struct pp_segment {
    alignas(CACHE_LINE) atomic_long ping;    /* A writes, B spins on it */
    alignas(CACHE_LINE) atomic_long pong;    /* B writes, A spins on it */
    alignas(CACHE_LINE) atomic_int b_ready;
};

_Static_assert(offsetof(struct pp_segment, pong) % CACHE_LINE == 0, "pong must start its own cache line");
_Static_assert(offsetof(struct pp_segment, pong) - offsetof(struct pp_segment, ping) >= CACHE_LINE,
               "ping and pong on different cache lines");

/* Wait until *word == want. yield_every > 0: call sched_yield() every `yield_every` spins; this
 * is what makes spinning on a CPU shared with the other side finite (E70: on one CPU a pure spin
 * waits for the scheduler tick, milliseconds, because the other side cannot run meanwhile). */
static inline int spin_until(atomic_long *word, long want, int yield_every, int64_t deadline)
{
    for (unsigned long spins = 1; atomic_load_explicit(word, memory_order_acquire) != want; spins++) {
        if (yield_every > 0 && spins % (unsigned long)yield_every == 0)
            sched_yield();
        else
            cpu_relax();
        if (spins % SPIN_CHECK == 0 && now_ns() > deadline)
            return -ETIMEDOUT;
    }
    return 0;
}

/* Round trips A -> B -> A over two shared cache lines; rtt_ns[i] for i < iters after `warmup`. */
int shm_spin_pingpong(int cpu_a, int cpu_b, int yield_every, int warmup, long iters, int64_t *rtt_ns,
                      int timeout_ms)
{
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    struct pp_segment *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return -errno;
    atomic_init(&s->ping, 0);
    atomic_init(&s->pong, 0);
    atomic_init(&s->b_ready, 0);
    long total = warmup + iters;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        munmap(s, sizeof *s);
        return -err;
    }
    if (pid == 0) {                           /* B: echo every ping */
        int rc = pin_to_cpu(cpu_b);
        atomic_store_explicit(&s->b_ready, 1, memory_order_release);
        for (long i = 1; rc == 0 && i <= total; i++) {
            rc = spin_until(&s->ping, i, yield_every, deadline);
            if (rc == 0)
                atomic_store_explicit(&s->pong, i, memory_order_release);
        }
        _exit(-rc);
    }
    int rc = pin_to_cpu(cpu_a);
    while (rc == 0 && !atomic_load_explicit(&s->b_ready, memory_order_acquire)) {
        sched_yield();
        if (now_ns() > deadline)
            rc = -ETIMEDOUT;
    }
    for (long i = 1; rc == 0 && i <= total; i++) {
        int64_t t0 = now_ns();
        atomic_store_explicit(&s->ping, i, memory_order_release);
        rc = spin_until(&s->pong, i, yield_every, deadline);
        int64_t t1 = now_ns();
        if (i > warmup)
            rtt_ns[i - warmup - 1] = t1 - t0;
    }
    if (rc != 0)
        kill(pid, SIGKILL);
    int child_rc = child_status(pid);
    munmap(s, sizeof *s);
    return rc != 0 ? rc : child_rc;
}

/* ---- layout proof ------------------------------------------------------------------------------ */

struct shmsync_layout {
    long cache_line, sizeof_pp, off_ping, off_pong, off_b_ready;
    long sizeof_init, off_ready, off_magic, off_attached;
    long sizeof_mutex;
    int long_lock_free, int_lock_free;
};

void shmsync_layout(struct shmsync_layout *out)
{
    static struct pp_segment probe;
    out->cache_line = CACHE_LINE;
    out->sizeof_pp = sizeof(struct pp_segment);
    out->off_ping = offsetof(struct pp_segment, ping);
    out->off_pong = offsetof(struct pp_segment, pong);
    out->off_b_ready = offsetof(struct pp_segment, b_ready);
    out->sizeof_init = sizeof(struct init_segment);
    out->off_ready = offsetof(struct init_segment, ready);
    out->off_magic = offsetof(struct init_segment, magic);
    out->off_attached = offsetof(struct init_segment, attached);
    out->sizeof_mutex = sizeof(pthread_mutex_t);
    out->long_lock_free = atomic_is_lock_free(&probe.ping);
    out->int_lock_free = atomic_is_lock_free(&probe.b_ready);
}
