/*
 * pingpong.c - hand a token back and forth between two processes or two threads.
 *
 * Course chapters 1.4 (context switching) and 1.5 (pipes, FIFOs). Side A sends a token and
 * waits for the answer; side B waits for a token and answers. A records the round-trip time.
 *
 *   - Both sides pinned to the SAME CPU: every hand-off is a context switch (B cannot run
 *     until A blocks). Half a round trip = one switch + one write + one read: an upper bound
 *     on the switch cost, not a "pure" switch (erratum E45).
 *   - Pinned to DIFFERENT CPUs: no switch is needed, the cost is waking the other CPU
 *     (an IPI, maybe an idle-state exit): the wake-up latency (erratum E44).
 *
 * Always TWO channels, one per direction (erratum E43): with a single pipe a side can read
 * back the byte it just wrote itself, so it measures nothing and can deadlock.
 *
 * Transports: an anonymous pipe pair, a FIFO pair (named pipes in a private directory,
 * mode 0600, unlinked as soon as both sides have them open), an eventfd pair (a 64-bit
 * counter in the kernel), or a futex pair: two 32-bit words in shared memory, one per
 * direction, on their own cache lines. A futex hand-off is a store plus FUTEX_WAKE; the waiter
 * sleeps in FUTEX_WAIT only while the word still holds the value it last saw. It is the
 * lightest blocking hand-off Linux offers (pthread mutexes and condition variables are built on
 * it), because no file descriptor, buffer or VFS layer is involved.
 *
 * Working set (lmbench `lat_ctx -s` style): with touch_bytes > 0 each side reads one word per
 * 64-byte line of its own buffer every time it gets the token, so after each switch it finds
 * its data partly evicted by the other side. Side A also times that loop on warm caches; the
 * difference is the indirect cost of a switch (cache and TLB refill), which grows with the
 * working set (erratum E47).
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common.h"

enum transport { T_PIPE = 0, T_EVENTFD = 1, T_FIFO = 2, T_FUTEX = 3 };
enum token { TOKEN_PING = 1, TOKEN_STOP = 2 };

#define FUTEX_STOP 0xffffffffu      /* a futex word holding this means "stop" */
#define FUTEX_PATIENCE_S 5          /* a futex wait gives up after this long: the other side died */

/* The futex words: one per direction, each on its own 64-byte cache line (no false sharing). */
struct futex_words {
    _Alignas(64) _Atomic uint32_t ab;
    _Alignas(64) _Atomic uint32_t ba;
};

/* Everything one side needs. Each side closes its own two descriptors when it is done. */
struct side {
    int transport;
    int send_fd, recv_fd;          /* for FIFOs: opened by the side itself, by path */
    const char *send_path, *recv_path;
    _Atomic uint32_t *send_word, *recv_word;   /* futex transport */
    uint32_t seq, last_seen;       /* futex: last value sent / seen */
    int futex_private;             /* threads: FUTEX_PRIVATE_FLAG (no shared-mapping lookup) */
    int cpu;                       /* -1: not pinned */
    int warmup, iters;
    int64_t *rtt_ns;               /* side A only: one round trip per iteration */
    size_t touch_bytes;            /* working set touched per hand-off, 0 = none */
    unsigned char *buf;
    uint64_t sink;                 /* keeps the compiler from dropping the touch loop */
};

static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
    return syscall(SYS_futex, (uint32_t *)word, op, val, timeout, NULL, 0);
}

/* Read one 8-byte word per 64-byte line of this side's buffer, as lmbench's lat_ctx sums its array. */
static void touch(struct side *s)
{
    const volatile uint64_t *p = (const volatile uint64_t *)s->buf;
    uint64_t sum = 0;
    for (size_t i = 0; i < s->touch_bytes / sizeof *p; i += 64 / sizeof *p)
        sum += p[i];
    s->sink += sum;
}

/* Each side allocates and writes its own buffer (its own pages, not shared copy-on-write ones). */
static int alloc_buffer(struct side *s)
{
    if (s->touch_bytes == 0)
        return 0;
    s->buf = malloc(s->touch_bytes);
    if (s->buf == NULL)
        return -ENOMEM;
    memset(s->buf, 1, s->touch_bytes);
    return 0;
}

/* A pipe or FIFO carries one byte per token; an eventfd takes an 8-byte counter increment; a
 * futex word takes a new sequence number (or FUTEX_STOP) and a FUTEX_WAKE for a sleeping reader.
 * The loops retry on EINTR (a signal arrived while blocked). */
static int send_token(struct side *s, uint64_t token)
{
    if (s->transport == T_FUTEX) {
        uint32_t v = token == TOKEN_STOP ? FUTEX_STOP : ++s->seq;
        if (v == FUTEX_STOP && token != TOKEN_STOP)
            v = s->seq = 1;                      /* wrap around, skipping the stop value */
        atomic_store_explicit(s->send_word, v, memory_order_release);
        if (futex(s->send_word, FUTEX_WAKE | s->futex_private, 1, NULL) < 0)
            return -errno;
        return 0;
    }
    unsigned char byte = (unsigned char)token;
    const void *buf = s->transport == T_EVENTFD ? (const void *)&token : (const void *)&byte;
    size_t len = s->transport == T_EVENTFD ? sizeof token : 1;
    ssize_t n;
    do
        n = write(s->send_fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

/* Futex: wait until the word differs from the last value seen. FUTEX_WAIT sleeps only if the word
 * still holds `v` (else EAGAIN: it changed meanwhile, look again), so no wake-up is ever lost. */
static int recv_futex(struct side *s, uint64_t *token)
{
    const struct timespec patience = { FUTEX_PATIENCE_S, 0 };
    for (;;) {
        uint32_t v = atomic_load_explicit(s->recv_word, memory_order_acquire);
        if (v != s->last_seen) {
            s->last_seen = v;
            *token = v == FUTEX_STOP ? TOKEN_STOP : TOKEN_PING;
            return 0;
        }
        if (futex(s->recv_word, FUTEX_WAIT | s->futex_private, v, &patience) < 0) {
            if (errno == ETIMEDOUT && atomic_load(s->recv_word) == v)
                return -ETIMEDOUT;               /* nothing for 5 s: the other side is gone */
            if (errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT)
                return -errno;
        }
    }
}

/* Returns 0 and the token, -EPIPE at end of file (the other side closed), or -errno. */
static int recv_token(struct side *s, uint64_t *token)
{
    if (s->transport == T_FUTEX)
        return recv_futex(s, token);
    unsigned char byte = 0;
    void *buf = s->transport == T_EVENTFD ? (void *)token : (void *)&byte;
    size_t len = s->transport == T_EVENTFD ? sizeof *token : 1;
    ssize_t n;
    do
        n = read(s->recv_fd, buf, len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EPIPE;
    if (s->transport != T_EVENTFD)
        *token = byte;
    return 0;
}

/* FIFOs: open() blocks until the other side opens the other end (the "open rendezvous").
 * A opens send-then-receive and B receive-then-send, i.e. both open the A->B FIFO first,
 * so the two opens pair up instead of deadlocking. */
static int open_fifos(struct side *s, int send_first)
{
    for (int step = 0; step < 2; step++) {
        int sending = (step == 0) == (send_first != 0);
        int fd = open(sending ? s->send_path : s->recv_path, (sending ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        *(sending ? &s->send_fd : &s->recv_fd) = fd;
    }
    return 0;
}

static void close_side(struct side *s)
{
    if (s->send_fd >= 0)
        close(s->send_fd);
    if (s->recv_fd >= 0)
        close(s->recv_fd);
    s->send_fd = s->recv_fd = -1;
    free(s->buf);
    s->buf = NULL;
}

static int can_send(const struct side *s)
{
    return s->transport == T_FUTEX ? s->send_word != NULL : s->send_fd >= 0;
}

/* Side A: the time to touch the working set with warm caches (the best of 7 runs), so that the
 * caller can subtract it: what remains is the switch plus the refill after it. */
static int64_t warm_touch_ns(struct side *s)
{
    int64_t best = 0;
    if (s->touch_bytes == 0)
        return 0;
    for (int k = 0; k < 7; k++) {
        int64_t t0 = now_ns();
        touch(s);
        int64_t dt = now_ns() - t0;
        if (k == 0 || dt < best)
            best = dt;
    }
    return best;
}

/* Side A: ping, wait for pong, record the round trip. Always tells B to stop at the end,
 * even after an error, so B never waits forever. */
static int side_a(struct side *s, int64_t *touch_ns)
{
    int rc = pin_to_cpu(s->cpu);
    if (rc == 0)
        rc = alloc_buffer(s);
    if (rc == 0 && s->transport == T_FIFO) {
        rc = open_fifos(s, 1);
        if (rc == 0) {          /* B has both FIFOs open too: the names can go */
            unlink(s->send_path);
            unlink(s->recv_path);
        }
    }
    for (int i = -s->warmup; rc == 0 && i < s->iters; i++) {
        uint64_t token;
        if (i == 0)             /* after the warm-up: B is set up and blocked, so nothing interrupts this */
            *touch_ns = warm_touch_ns(s);
        int64_t t0 = now_ns();
        if (s->touch_bytes)
            touch(s);
        rc = send_token(s, TOKEN_PING);
        if (rc == 0)
            rc = recv_token(s, &token);
        int64_t t1 = now_ns();
        if (rc == 0 && i >= 0)
            s->rtt_ns[i] = t1 - t0;
    }
    if (can_send(s))
        send_token(s, TOKEN_STOP);
    close_side(s);
    return rc;
}

/* Side B: echo every ping until told to stop or the other side is gone. */
static int side_b(struct side *s)
{
    int rc = pin_to_cpu(s->cpu);
    if (rc == 0)
        rc = alloc_buffer(s);
    if (rc == 0 && s->transport == T_FIFO)
        rc = open_fifos(s, 0);
    while (rc == 0) {
        uint64_t token;
        rc = recv_token(s, &token);
        if (rc == -EPIPE || (rc == 0 && token == TOKEN_STOP)) {
            rc = 0;
            break;
        }
        if (rc == 0 && s->touch_bytes)
            touch(s);
        if (rc == 0)
            rc = send_token(s, TOKEN_PING);
    }
    close_side(s);
    return rc;
}

static void *side_b_thread(void *arg)
{
    struct side *s = arg;
    return (void *)(intptr_t)side_b(s);
}

/* Create the two channels. Side A sends on `a`'s send_fd and B answers on its own send_fd.
 * The futex words live in a MAP_SHARED mapping (*words), so a forked child shares them. */
static int make_channels(int transport, int threads, const char *dir, struct side *a, struct side *b,
                         char *ab_path, char *ba_path, struct futex_words **words)
{
    int ab[2], ba[2];
    switch (transport) {
    case T_FUTEX: {
        void *m = mmap(NULL, sizeof **words, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return -errno;
        *words = m;                                /* zero-filled: both words start at 0 */
        a->send_word = &(*words)->ab; b->recv_word = &(*words)->ab;
        b->send_word = &(*words)->ba; a->recv_word = &(*words)->ba;
        a->futex_private = b->futex_private = threads ? FUTEX_PRIVATE_FLAG : 0;
        return 0;
    }
    case T_PIPE:                                   /* ab: A -> B, ba: B -> A */
        if (pipe2(ab, O_CLOEXEC) != 0)
            return -errno;
        if (pipe2(ba, O_CLOEXEC) != 0) {
            int err = errno;
            close(ab[0]);
            close(ab[1]);
            return -err;
        }
        a->send_fd = ab[1]; b->recv_fd = ab[0];
        b->send_fd = ba[1]; a->recv_fd = ba[0];
        return 0;
    case T_EVENTFD:                                /* each side gets its own descriptors */
        ab[0] = eventfd(0, EFD_CLOEXEC);
        ba[0] = eventfd(0, EFD_CLOEXEC);
        ab[1] = ab[0] < 0 ? -1 : dup(ab[0]);
        ba[1] = ba[0] < 0 ? -1 : dup(ba[0]);
        if (ab[0] < 0 || ba[0] < 0 || ab[1] < 0 || ba[1] < 0) {
            int err = errno;
            for (int k = 0; k < 2; k++) {
                if (ab[k] >= 0) close(ab[k]);
                if (ba[k] >= 0) close(ba[k]);
            }
            return -err;
        }
        a->send_fd = ab[0]; b->recv_fd = ab[1];
        b->send_fd = ba[0]; a->recv_fd = ba[1];
        return 0;
    case T_FIFO:                                   /* opened later by each side, by name */
        if (dir == NULL)
            return -EINVAL;
        snprintf(ab_path, PATH_MAX, "%s/a-to-b", dir);
        snprintf(ba_path, PATH_MAX, "%s/b-to-a", dir);
        if (mkfifo(ab_path, 0600) != 0)            /* 0600: no other user can inject bytes */
            return -errno;
        if (mkfifo(ba_path, 0600) != 0) {
            int err = errno;
            unlink(ab_path);
            return -err;
        }
        a->send_path = ab_path; b->recv_path = ab_path;
        b->send_path = ba_path; a->recv_path = ba_path;
        return 0;
    default:
        return -EINVAL;
    }
}

/*
 * Run `warmup` + `iters` round trips; rtt_ns[i] receives the i-th measured round trip.
 *   transport:   T_PIPE, T_EVENTFD, T_FIFO (fifo_dir: an existing private directory) or T_FUTEX
 *   threads:     0 = side B is a forked child process, 1 = a thread of this process
 *   cpu_a/b:     CPU to pin each side to, -1 to leave it unpinned
 *   touch_bytes: working set each side reads between hand-offs (0: none; at most 256 MiB);
 *                *touch_ns receives side A's time to read it with warm caches
 * Run this in a helper process: it pins the calling thread and may fork.
 */
int pingpong(int transport, int threads, const char *fifo_dir, int cpu_a, int cpu_b,
             int warmup, int iters, long touch_bytes, int64_t *rtt_ns, int64_t *touch_ns)
{
    char ab_path[PATH_MAX], ba_path[PATH_MAX];
    struct futex_words *words = NULL;
    struct side a, b;
    if (touch_bytes < 0 || touch_bytes > (256L << 20) || warmup < 0 || iters < 1)
        return -EINVAL;
    memset(&a, 0, sizeof a);
    a.transport = transport;
    a.send_fd = a.recv_fd = -1;
    b = a;
    a.cpu = cpu_a; a.warmup = warmup; a.iters = iters; a.rtt_ns = rtt_ns;
    b.cpu = cpu_b;
    a.touch_bytes = b.touch_bytes = (size_t)touch_bytes;
    *touch_ns = 0;
    int rc = make_channels(transport, threads, fifo_dir, &a, &b, ab_path, ba_path, &words);
    if (rc != 0)
        return rc;

    if (threads) {
        pthread_t tid;
        int err = pthread_create(&tid, NULL, side_b_thread, &b);
        if (err != 0) {
            close_side(&a);
            close_side(&b);
            rc = -err;
        } else {
            void *b_rc;
            rc = side_a(&a, touch_ns);
            pthread_join(tid, &b_rc);
            if (rc == 0)
                rc = (int)(intptr_t)b_rc;
        }
    } else {
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
            close_side(&a);
            close_side(&b);
        } else if (pid == 0) {          /* child = side B: drop A's descriptors, echo, _exit */
            close_side(&a);
            _exit(-side_b(&b));
        } else {
            close_side(&b);             /* so A sees EOF if B dies, and B sees EOF if A does */
            rc = side_a(&a, touch_ns);
            int child_rc = child_status(pid);
            if (rc == 0)
                rc = child_rc;
        }
    }
    if (transport == T_FIFO) {          /* normally already unlinked by side A */
        unlink(ab_path);
        unlink(ba_path);
    }
    if (words != NULL)
        munmap(words, sizeof *words);
    return rc;
}
