/*
 * mqueue.c - POSIX message queues: limits, priorities, mq_notify and a ping-pong round trip.
 *
 * Course chapter 4.4. A POSIX message queue is a kernel object with a name ("/something"),
 * opened with mq_open() and used through a descriptor (on Linux a real file descriptor, so it
 * works with poll/epoll and is inherited across fork; the kernel always opens it close-on-exec). Each queue holds at most mq_maxmsg
 * messages of at most mq_msgsize bytes; mq_receive() always returns the oldest message of the
 * HIGHEST priority (0 .. MQ_PRIO_MAX-1 = 32767 on Linux). The kernel side is ipc/mqueue.c:
 * one red-black tree node per priority, a FIFO list of messages in each.
 *
 * Limits (ipc/mqueue.c, mqueue_get_inode): without CAP_SYS_RESOURCE, mq_maxmsg must be at most
 * /proc/sys/fs/mqueue/msg_max (default 10) and mq_msgsize at most msgsize_max (default 8192),
 * else mq_open fails with EINVAL. Each queue's worst-case memory (maxmsg * msgsize plus
 * bookkeeping) is charged to the creating user's RLIMIT_MSGQUEUE (819200 bytes by default;
 * EMFILE when exceeded), and a namespace holds at most queues_max queues (ENOSPC, unless
 * CAP_SYS_RESOURCE).
 *
 * Names: every queue made here carries the caller's pid, and is mq_unlink'ed as soon as all the
 * processes that need it have it open (like an unlinked temporary file, it lives on until the
 * last descriptor closes), so a killed run leaves nothing in /dev/mqueue.
 *
 * Link: mq_* live in librt on glibc < 2.34 (-lrt) and in libc itself from 2.34 on.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "common.h"

#define MQ_PATIENCE_S 5        /* a blocked receive gives up after this long: the other side died */
#define MQ_MAX_BYTES 8192      /* largest ping-pong message (the default msgsize_max) */

enum mq_token { MQ_PING = 1, MQ_STOP = 2 };

/* An absolute CLOCK_REALTIME deadline `seconds` from now: mq_timedreceive/mq_timedsend take
 * absolute CLOCK_REALTIME times (POSIX), unlike most course code, which measures on CLOCK_MONOTONIC. */
static struct timespec deadline(int seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    return ts;
}

/* Create a queue with exactly these attributes (O_EXCL: never reuse a stale one), mode 0600. */
static mqd_t create_queue(const char *name, long maxmsg, long msgsize, int flags)
{
    struct mq_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.mq_maxmsg = maxmsg;
    attr.mq_msgsize = msgsize;
    return mq_open(name, O_CREAT | O_EXCL | O_CLOEXEC | flags, 0600, maxmsg > 0 ? &attr : NULL);
}

/* Drop CAP_SYS_RESOURCE from this process's effective set (used in a forked child, to see what
 * an unprivileged user gets). Lowering one's own effective set needs no privilege. */
static int drop_sys_resource(void)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) != 0)
        return -errno;
    data[CAP_SYS_RESOURCE / 32].effective &= ~(1u << (CAP_SYS_RESOURCE % 32));
    if (syscall(SYS_capset, &hdr, data) != 0)
        return -errno;
    return 0;
}

/*
 * Try to create a queue with mq_maxmsg = maxmsg and mq_msgsize = msgsize (0, 0: the defaults,
 * attr = NULL), in a forked child that first drops CAP_SYS_RESOURCE if drop_cap is set.
 * Returns 0 if mq_open succeeded (the queue is closed and unlinked again at once), else -errno
 * (-EINVAL beyond msg_max/msgsize_max, -EMFILE beyond RLIMIT_MSGQUEUE). attr_out receives
 * mq_getattr's maxmsg and msgsize on success. Run in a helper process: it forks.
 */
int mq_try_create(const char *name, long maxmsg, long msgsize, int drop_cap, long *attr_out)
{
    struct { long maxmsg, msgsize; int rc; } *shared;
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        munmap(shared, sizeof *shared);
        return -err;
    }
    if (pid == 0) {
        int rc = drop_cap ? drop_sys_resource() : 0;
        if (rc == 0) {
            mqd_t q = create_queue(name, maxmsg, msgsize, O_RDWR);
            if (q == (mqd_t)-1) {
                rc = -errno;
            } else {
                struct mq_attr got;
                mq_unlink(name);
                if (mq_getattr(q, &got) == 0) {
                    shared->maxmsg = got.mq_maxmsg;
                    shared->msgsize = got.mq_msgsize;
                }
                mq_close(q);
            }
        }
        shared->rc = rc;
        _exit(0);
    }
    int rc = child_status(pid);
    if (rc == 0) {
        rc = shared->rc;
        attr_out[0] = shared->maxmsg;
        attr_out[1] = shared->msgsize;
    }
    munmap(shared, sizeof *shared);
    return rc;
}

/*
 * Priorities: send n messages with priorities prio[0..n-1], in that order, into an empty queue,
 * then receive them all. got_prio[k] and got_index[k] receive the priority and the send position
 * of the k-th message received. Highest priority first; equal priorities in sending order.
 * No fork: safe to call in the notebook's own process. n <= 10 (the default msg_max).
 */
int mq_priority_demo(const char *name, int n, const unsigned *prio, unsigned *got_prio, int *got_index)
{
    if (n < 1 || n > 10)
        return -EINVAL;
    mqd_t q = create_queue(name, n, sizeof(int), O_RDWR | O_NONBLOCK);
    if (q == (mqd_t)-1)
        return -errno;
    mq_unlink(name);                       /* the descriptor keeps it alive; the name can go */
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        if (mq_send(q, (const char *)&i, sizeof i, prio[i]) != 0)
            rc = -errno;
    for (int k = 0; rc == 0 && k < n; k++) {
        int idx;
        unsigned p;
        ssize_t len = mq_receive(q, (char *)&idx, sizeof idx, &p);
        if (len < 0)
            rc = -errno;
        else {
            got_prio[k] = p;
            got_index[k] = idx;
        }
    }
    mq_close(q);
    return rc;
}

/* The queue's state as /dev/mqueue shows it (what `cat /dev/mqueue/<name>` prints). */
struct mq_view {
    long maxmsg, msgsize, curmsgs_before, curmsgs_after;
    char file_before[96], file_after[96], file_notify[96];   /* the file's text at three moments */
    int file_seen;                                          /* 1 if <mqdir>/<name> existed */
    int mode;                                               /* its permission bits */
    int exists_after_unlink;
};

static void read_text(const char *path, char *out, size_t len)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, len - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
}

/*
 * Create a queue, read its file in mqdir (normally /dev/mqueue) while empty, after sending
 * `nmsgs` messages of `msgsize` bytes, and after registering for notification (SIGEV_NONE: the
 * registration shows in the file, no signal is ever sent); then unlink it and check that the
 * name is gone. No fork: safe in the notebook's own process.
 */
int mq_fs_view(const char *name, const char *mqdir, int nmsgs, int msgsize, struct mq_view *v)
{
    char path[512];
    char msg[MQ_MAX_BYTES];
    struct mq_attr a;
    struct stat st;
    if (nmsgs < 0 || nmsgs > 10 || msgsize < 1 || msgsize > MQ_MAX_BYTES)
        return -EINVAL;
    memset(v, 0, sizeof *v);
    memset(msg, 'x', sizeof msg);
    snprintf(path, sizeof path, "%s/%s", mqdir, name + 1);          /* "/q" -> "<mqdir>/q" */
    mqd_t q = create_queue(name, 10, msgsize, O_RDWR | O_NONBLOCK);
    if (q == (mqd_t)-1)
        return -errno;
    int rc = 0;
    if (stat(path, &st) == 0) {
        v->file_seen = 1;
        v->mode = st.st_mode & 07777;
    }
    read_text(path, v->file_before, sizeof v->file_before);
    if (mq_getattr(q, &a) == 0) {
        v->maxmsg = a.mq_maxmsg;
        v->msgsize = a.mq_msgsize;
        v->curmsgs_before = a.mq_curmsgs;
    }
    for (int i = 0; rc == 0 && i < nmsgs; i++)
        if (mq_send(q, msg, (size_t)msgsize, 0) != 0)
            rc = -errno;
    read_text(path, v->file_after, sizeof v->file_after);
    if (mq_getattr(q, &a) == 0)
        v->curmsgs_after = a.mq_curmsgs;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    if (rc == 0 && mq_notify(q, &sev) != 0)
        rc = -errno;
    read_text(path, v->file_notify, sizeof v->file_notify);
    mq_notify(q, NULL);
    if (mq_unlink(name) != 0 && rc == 0)
        rc = -errno;
    v->exists_after_unlink = stat(path, &st) == 0;
    mq_close(q);
    return rc;
}

/* Wait (at most 2 s) until the child has set *flag and then sleeps: state 'S' in /proc/<pid>/stat.
 * The only call that can sleep after the flag is the blocking receive, so this is robust under load
 * where a fixed sleep would not be. */
static void wait_until_blocked(pid_t pid, const int *flag)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    struct timespec tick = { 0, 1000 * 1000 };
    for (int k = 0; k < 2000; k++) {
        if (__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
            read_text(path, buf, sizeof buf);
            const char *rp = strrchr(buf, ')');
            if (rp != NULL && rp[1] == ' ' && rp[2] == 'S')
                return;
        }
        nanosleep(&tick, NULL);
    }
}

/* What the mq_notify demo observed. */
struct mq_notify_report {
    int signo, si_code, si_code_is_mesgq, si_pid_is_sender, sival;
    int64_t latency_ns;        /* sender's clock before mq_send -> sigtimedwait returned */
    int second_signal;         /* a signal for a second message without re-registering? (expect 0) */
    int busy_errno;            /* errno when another process tries to register meanwhile (EBUSY) */
    int waiter_signal;         /* a signal while a receiver was blocked in mq_receive? (expect 0) */
    int received;              /* messages received in the end */
};

/*
 * mq_notify with SIGEV_SIGNAL (SIGUSR1, blocked here and collected with sigtimedwait, so no
 * handler runs). The kernel signals the registered process only when the queue goes from empty
 * to non-empty AND no one is blocked in mq_receive; afterwards the registration is gone (one
 * shot). A message handed straight to a blocked receiver leaves the registration in place. Steps: register; a child tries to register too (EBUSY); the child sends one message
 * (stamped with its send time) -> signal; the child sends a second one -> no signal, since the
 * registration was used up; drain; re-register, block a second child in mq_receive and send ->
 * the message goes straight to that receiver and no signal arrives. Run in a helper: it forks
 * and blocks a signal.
 */
int mq_notify_demo(const char *name, struct mq_notify_report *r)
{
    memset(r, 0, sizeof *r);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, &old) != 0)
        return -errno;
    mqd_t q = create_queue(name, 4, sizeof(int64_t), O_RDWR | O_NONBLOCK);
    if (q == (mqd_t)-1) {
        int err = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        return -err;
    }
    mq_unlink(name);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    sev.sigev_value.sival_int = 42;
    int rc = mq_notify(q, &sev) == 0 ? 0 : -errno;
    int *busy = mmap(NULL, 2 * sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (busy == MAP_FAILED && rc == 0)
        rc = -errno;
    pid_t pid = -1;
    if (rc == 0) {
        pid = fork();
        if (pid < 0)
            rc = -errno;
    }
    if (pid == 0) {                         /* child: try to register, then send twice */
        struct sigevent mine = sev;
        *busy = mq_notify(q, &mine) == 0 ? 0 : errno;
        struct timespec gap = { 0, 20 * 1000 * 1000 };
        nanosleep(&gap, NULL);
        int64_t stamp = now_ns();
        int ok = mq_send(q, (const char *)&stamp, sizeof stamp, 0) == 0;
        nanosleep(&gap, NULL);
        nanosleep(&gap, NULL);
        ok = ok && mq_send(q, (const char *)&stamp, sizeof stamp, 0) == 0;
        _exit(ok ? 0 : errno);
    }
    if (rc == 0) {
        siginfo_t si;
        struct timespec wait = { 2, 0 };
        int sig = sigtimedwait(&set, &si, &wait);
        int64_t t = now_ns();
        if (sig == SIGUSR1) {
            int64_t stamp = 0;
            r->signo = sig;
            r->si_code = si.si_code;
            r->si_code_is_mesgq = si.si_code == SI_MESGQ;
            r->si_pid_is_sender = si.si_pid == pid;
            r->sival = si.si_value.sival_int;
            if (mq_receive(q, (char *)&stamp, sizeof stamp, NULL) == (ssize_t)sizeof stamp) {
                r->latency_ns = t - stamp;
                r->received++;
            }
        }
        int crc = child_status(pid);             /* the child has sent its second message */
        rc = crc;
        r->busy_errno = *busy;
        struct timespec none = { 0, 50 * 1000 * 1000 };
        r->second_signal = sigtimedwait(&set, &si, &none) == SIGUSR1;
        int64_t v;
        while (mq_receive(q, (char *)&v, sizeof v, NULL) == (ssize_t)sizeof v)
            r->received++;
    }
    if (rc == 0 && mq_notify(q, &sev) != 0)      /* third act: a blocked receiver takes precedence */
        rc = -errno;
    if (rc == 0) {
        pid = fork();
        if (pid < 0)
            rc = -errno;
        else if (pid == 0) {                     /* child: blocking receive on its own descriptor */
            struct mq_attr blocking;
            memset(&blocking, 0, sizeof blocking);
            mq_setattr(q, &blocking, NULL);      /* clear O_NONBLOCK (on the description it shares) */
            int64_t v;
            struct timespec ts = deadline(MQ_PATIENCE_S);
            __atomic_store_n(&busy[1], 1, __ATOMIC_RELEASE);   /* next: the blocking receive */
            _exit(mq_timedreceive(q, (char *)&v, sizeof v, NULL, &ts) == (ssize_t)sizeof v ? 0 : errno);
        }
    }
    if (rc == 0) {
        wait_until_blocked(pid, &busy[1]);       /* the child sleeps in mq_timedreceive */
        int64_t v = 0;
        if (mq_send(q, (const char *)&v, sizeof v, 0) != 0)
            rc = -errno;
        int crc = child_status(pid);
        if (rc == 0)
            rc = crc;
        if (rc == 0)
            r->received++;
        siginfo_t si;
        struct timespec none = { 0, 50 * 1000 * 1000 };
        r->waiter_signal = sigtimedwait(&set, &si, &none) == SIGUSR1;
        mq_notify(q, NULL);
    }
    if (busy != MAP_FAILED)
        munmap(busy, 2 * sizeof(int));
    mq_close(q);
    struct timespec zero = { 0, 0 };
    siginfo_t si;
    while (sigtimedwait(&set, &si, &zero) == SIGUSR1)
        ;                                        /* nothing left pending when we unblock */
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* One side of the ping-pong: receive into a buffer of the queue's msgsize, send msg_bytes. */
struct mq_side {
    mqd_t send_q, recv_q;
    int cpu, warmup, iters, msg_bytes;
    int64_t *rtt_ns;
    char buf[MQ_MAX_BYTES];
};

static int mq_send_token(struct mq_side *s, char token)
{
    s->buf[0] = token;
    for (;;) {
        /* Timed: the queues hold one message, so if the other side died with our last message still
         * queued, an untimed mq_send would block forever (nobody else reads the queue). */
        struct timespec ts = deadline(MQ_PATIENCE_S);
        if (mq_timedsend(s->send_q, s->buf, (size_t)s->msg_bytes, 0, &ts) == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

static int mq_recv_token(struct mq_side *s, char *token)
{
    for (;;) {
        struct timespec ts = deadline(MQ_PATIENCE_S);
        ssize_t n = mq_timedreceive(s->recv_q, s->buf, sizeof s->buf, NULL, &ts);
        if (n >= 1) {
            *token = s->buf[0];
            return 0;
        }
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

/* Side A: send, wait for the answer, record the round trip; always tell B to stop. */
static int mq_side_a(struct mq_side *s)
{
    int rc = pin_to_cpu(s->cpu);
    memset(s->buf, 0, sizeof s->buf);
    for (int i = -s->warmup; rc == 0 && i < s->iters; i++) {
        char token;
        int64_t t0 = now_ns();
        rc = mq_send_token(s, MQ_PING);
        if (rc == 0)
            rc = mq_recv_token(s, &token);
        int64_t t1 = now_ns();
        if (rc == 0 && i >= 0)
            s->rtt_ns[i] = t1 - t0;
    }
    mq_send_token(s, MQ_STOP);
    return rc;
}

/* Side B: echo until told to stop. */
static int mq_side_b(struct mq_side *s)
{
    int rc = pin_to_cpu(s->cpu);
    memset(s->buf, 0, sizeof s->buf);
    while (rc == 0) {
        char token;
        rc = mq_recv_token(s, &token);
        if (rc == 0 && token == MQ_STOP)
            break;
        if (rc == 0)
            rc = mq_send_token(s, MQ_PING);
    }
    return rc;
}

/*
 * Ping-pong between two processes over two queues (one per direction), msg_bytes per message
 * (1 .. 8192), pinned to cpu_a/cpu_b (-1: not pinned). `name` is a prefix containing the pid;
 * the queues are "<name>-ab" and "<name>-ba", unlinked right after creation (the forked child
 * inherits the descriptors). rtt_ns receives iters round trips. Run in a helper: it forks and pins.
 */
int mq_pingpong(const char *name, int cpu_a, int cpu_b, int warmup, int iters, int msg_bytes, int64_t *rtt_ns)
{
    char ab[256], ba[256];
    static struct mq_side a, b;            /* 8 KiB buffers: keep them off the stack */
    if (iters < 1 || warmup < 0 || msg_bytes < 1 || msg_bytes > MQ_MAX_BYTES)
        return -EINVAL;
    snprintf(ab, sizeof ab, "%s-ab", name);
    snprintf(ba, sizeof ba, "%s-ba", name);
    mqd_t qab = create_queue(ab, 1, msg_bytes, O_RDWR);
    if (qab == (mqd_t)-1)
        return -errno;
    mq_unlink(ab);
    mqd_t qba = create_queue(ba, 1, msg_bytes, O_RDWR);
    if (qba == (mqd_t)-1) {
        int err = errno;
        mq_close(qab);
        return -err;
    }
    mq_unlink(ba);
    a.send_q = qab; a.recv_q = qba; a.cpu = cpu_a; a.warmup = warmup; a.iters = iters;
    a.msg_bytes = msg_bytes; a.rtt_ns = rtt_ns;
    b = a;
    b.send_q = qba; b.recv_q = qab; b.cpu = cpu_b; b.rtt_ns = NULL;
    int rc;
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
    } else if (pid == 0) {
        _exit(-mq_side_b(&b));
    } else {
        rc = mq_side_a(&a);
        int crc = child_status(pid);
        if (rc == 0)
            rc = crc;
    }
    mq_close(qab);
    mq_close(qba);
    return rc;
}
