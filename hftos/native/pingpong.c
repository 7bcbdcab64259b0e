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
 * mode 0600, unlinked as soon as both sides have them open), or an eventfd pair (a 64-bit
 * counter in the kernel: the lightest blocking hand-off the kernel offers besides futex).
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "common.h"

enum transport { T_PIPE = 0, T_EVENTFD = 1, T_FIFO = 2 };
enum token { TOKEN_PING = 1, TOKEN_STOP = 2 };

/* Everything one side needs. Each side closes its own two descriptors when it is done. */
struct side {
    int transport;
    int send_fd, recv_fd;          /* for FIFOs: opened by the side itself, by path */
    const char *send_path, *recv_path;
    int cpu;                       /* -1: not pinned */
    int warmup, iters;
    int64_t *rtt_ns;               /* side A only: one round trip per iteration */
};

/* A pipe or FIFO carries one byte per token; an eventfd takes an 8-byte counter increment.
 * Both loops retry on EINTR (a signal arrived while blocked). */
static int send_token(const struct side *s, uint64_t token)
{
    unsigned char byte = (unsigned char)token;
    const void *buf = s->transport == T_EVENTFD ? (const void *)&token : (const void *)&byte;
    size_t len = s->transport == T_EVENTFD ? sizeof token : 1;
    ssize_t n;
    do
        n = write(s->send_fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

/* Returns 0 and the token, -EPIPE at end of file (the other side closed), or -errno. */
static int recv_token(const struct side *s, uint64_t *token)
{
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
}

/* Side A: ping, wait for pong, record the round trip. Always tells B to stop at the end,
 * even after an error, so B never waits forever. */
static int side_a(struct side *s)
{
    int rc = pin_to_cpu(s->cpu);
    if (rc == 0 && s->transport == T_FIFO) {
        rc = open_fifos(s, 1);
        if (rc == 0) {          /* B has both FIFOs open too: the names can go */
            unlink(s->send_path);
            unlink(s->recv_path);
        }
    }
    for (int i = -s->warmup; rc == 0 && i < s->iters; i++) {
        uint64_t token;
        int64_t t0 = now_ns();
        rc = send_token(s, TOKEN_PING);
        if (rc == 0)
            rc = recv_token(s, &token);
        int64_t t1 = now_ns();
        if (rc == 0 && i >= 0)
            s->rtt_ns[i] = t1 - t0;
    }
    if (s->send_fd >= 0)
        send_token(s, TOKEN_STOP);
    close_side(s);
    return rc;
}

/* Side B: echo every ping until told to stop or the other side is gone. */
static int side_b(struct side *s)
{
    int rc = pin_to_cpu(s->cpu);
    if (rc == 0 && s->transport == T_FIFO)
        rc = open_fifos(s, 0);
    while (rc == 0) {
        uint64_t token;
        rc = recv_token(s, &token);
        if (rc == -EPIPE || (rc == 0 && token == TOKEN_STOP)) {
            rc = 0;
            break;
        }
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

/* Create the two channels. Side A sends on `a`'s send_fd and B answers on its own send_fd. */
static int make_channels(int transport, const char *dir, struct side *a, struct side *b,
                         char *ab_path, char *ba_path)
{
    int ab[2], ba[2];
    switch (transport) {
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
 *   transport: T_PIPE, T_EVENTFD or T_FIFO (fifo_dir: an existing private directory)
 *   threads:   0 = side B is a forked child process, 1 = a thread of this process
 *   cpu_a/b:   CPU to pin each side to, -1 to leave it unpinned
 * Run this in a helper process: it pins the calling thread and may fork.
 */
int pingpong(int transport, int threads, const char *fifo_dir, int cpu_a, int cpu_b,
             int warmup, int iters, int64_t *rtt_ns)
{
    char ab_path[PATH_MAX], ba_path[PATH_MAX];
    struct side a = { transport, -1, -1, NULL, NULL, cpu_a, warmup, iters, rtt_ns };
    struct side b = { transport, -1, -1, NULL, NULL, cpu_b, 0, 0, NULL };
    int rc = make_channels(transport, fifo_dir, &a, &b, ab_path, ba_path);
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
            rc = side_a(&a);
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
            rc = side_a(&a);
            int child_rc = child_status(pid);
            if (rc == 0)
                rc = child_rc;
        }
    }
    if (transport == T_FIFO) {          /* normally already unlinked by side A */
        unlink(ab_path);
        unlink(ba_path);
    }
    return rc;
}
