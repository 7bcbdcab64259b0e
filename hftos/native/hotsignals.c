/*
 * hotsignals.c - keeping signals away from a hot thread (course section 5.5).
 *
 * hotsig_run(): a "hot" thread spins on CLOCK_MONOTONIC and records every gap between two consecutive
 * readings longer than a threshold (a gap detector: whatever took the CPU away from it shows up as a
 * gap). A separate sender process sends SIGUSR1 to this process at a fixed rate. Three set-ups:
 *
 *   HS_NONE      the sender sends nothing: the machine's own noise (timer ticks, other tasks, the VM);
 *   HS_HANDLER   the hot thread leaves SIGUSR1 unblocked and has a handler; every other thread blocks
 *                it, so the kernel must deliver every signal to the hot thread (interrupt, kernel entry,
 *                signal frame, handler, sigreturn: all on the hot thread's time);
 *   HS_SIGNALFD  every thread blocks every signal it can; the housekeeping (main) thread reads them from a
 *                signalfd on its own CPU. The hot thread is never chosen to receive them.
 *
 * The hot thread runs SCHED_OTHER, for a bounded time; the sender is a forked child that ends by itself.
 *
 * sigpipe_demo() writes to a socket whose peer has closed, with and without MSG_NOSIGNAL / SIG_IGN.
 * timer_demo() measures three ways for a housekeeping thread to get periodic ticks without a signal
 * ever reaching the hot thread: a timerfd, a POSIX timer with SIGEV_THREAD_ID + sigwaitinfo, and (for
 * contrast) setitimer/SIGALRM, which is process-directed.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>

#include "common.h"

enum { HS_NONE = 0, HS_HANDLER = 1, HS_SIGNALFD = 2 };

struct hs_stats {
    int64_t iterations;      /* clock readings by the hot thread */
    int64_t gaps_total;      /* gaps above the threshold (recorded or not) */
    int64_t gaps_recorded;   /* gaps stored in the arrays (at most max_gaps) */
    int64_t spin_ns;         /* how long the hot thread spun */
    int64_t sent;            /* signals the sender sent */
    int64_t handled;         /* signals the hot thread's handler ran for */
    int64_t read_sfd;        /* signals the housekeeping thread read from its signalfd */
};

struct hot_arg {
    int cpu, mode, rc;
    int64_t duration_ns, threshold_ns;
    int64_t *gaps, *gap_at;
    long max_gaps;
    struct hs_stats *st;
    _Atomic int go, done;
};

static _Atomic long g_handled;

static void on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add_explicit(&g_handled, 1, memory_order_relaxed);   /* lock-free: async-signal-safe */
}

/* The hot thread: its signal mask first, then spin and record gaps. */
static void *hot_thread(void *p)
{
    struct hot_arg *a = p;
    sigset_t set;
    if (a->mode == HS_HANDLER) {          /* the one thread that accepts SIGUSR1 */
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    } else {                              /* a hot thread blocks everything */
        sigfillset(&set);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    a->rc = pin_to_cpu(a->cpu);
    while (!atomic_load_explicit(&a->go, memory_order_acquire))
        cpu_relax();
    int64_t start = now_ns(), prev = start, end = start + a->duration_ns, iters = 0, total = 0;
    long rec = 0;
    for (;;) {
        int64_t t = now_ns();
        int64_t d = t - prev;
        iters++;
        if (d > a->threshold_ns) {
            total++;
            if (rec < a->max_gaps) {
                a->gaps[rec] = d;
                a->gap_at[rec] = prev - start;
                rec++;
            }
        }
        prev = t;
        if (t >= end)
            break;
    }
    a->st->iterations = iters;
    a->st->gaps_total = total;
    a->st->gaps_recorded = rec;
    a->st->spin_ns = prev - start;
    atomic_store_explicit(&a->done, 1, memory_order_release);
    return NULL;
}

/* The sender: a separate process, pinned to the housekeeping CPU, sends `n` signals, one every period. */
static void sender(pid_t target, int cpu, int start_fd, int result_fd, int64_t period_ns, int64_t n)
{
    pin_to_cpu(cpu);
    char b;
    if (read(start_fd, &b, 1) != 1)
        _exit(0);
    int64_t sent = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (int64_t i = 0; i < n; i++) {
        next.tv_nsec += period_ns;
        while (next.tv_nsec >= NS_PER_SEC) {
            next.tv_nsec -= NS_PER_SEC;
            next.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
        if (kill(target, SIGUSR1) != 0)
            break;
        sent++;
    }
    write_all(result_fd, &sent, sizeof sent);
    _exit(0);
}

int hotsig_run(int mode, int cpu_hot, int cpu_hk, int64_t duration_ns, int rate_hz, int64_t threshold_ns,
               int64_t *gaps, int64_t *gap_at, long max_gaps, struct hs_stats *st)
{
    if (mode < HS_NONE || mode > HS_SIGNALFD || duration_ns <= 0 || rate_hz < 1 || rate_hz > 100000
        || threshold_ns < 1 || max_gaps < 1)
        return -EINVAL;
    memset(st, 0, sizeof *st);
    atomic_store(&g_handled, 0);

    /* 1. The handler (process-wide), and SIGUSR1 blocked in this (the housekeeping) thread. Threads
     *    created later inherit the mask; only the hot thread in HS_HANDLER mode unblocks it. */
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, &old_sa) != 0)
        return -errno;
    sigset_t usr1, old_mask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);

    int rc = 0, sfd = -1, start_pipe[2] = { -1, -1 }, result_pipe[2] = { -1, -1 };
    pid_t child = -1;
    pthread_t th;
    int started = 0;
    struct hot_arg a;
    memset(&a, 0, sizeof a);

    if (pipe2(start_pipe, O_CLOEXEC) != 0 || pipe2(result_pipe, O_CLOEXEC) != 0) {
        rc = -errno;
        goto out;
    }
    /* 2. The sender process (forked before any thread exists). */
    int64_t n = mode == HS_NONE ? 0 : duration_ns / (NS_PER_SEC / rate_hz);
    child = fork();
    if (child < 0) {
        rc = -errno;
        goto out;
    }
    if (child == 0) {
        close(start_pipe[1]);
        close(result_pipe[0]);
        sender(getppid(), cpu_hk, start_pipe[0], result_pipe[1], NS_PER_SEC / rate_hz, n);
    }
    close(start_pipe[0]);
    start_pipe[0] = -1;
    close(result_pipe[1]);
    result_pipe[1] = -1;

    if (mode == HS_SIGNALFD) {
        sfd = signalfd(-1, &usr1, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
            rc = -errno;
            goto out;
        }
    }
    rc = pin_to_cpu(cpu_hk);
    if (rc != 0)
        goto out;

    /* 3. The hot thread: it spins for duration + 2 ms, the sender's whole run fits inside. */
    a.cpu = cpu_hot;
    a.mode = mode;
    a.duration_ns = duration_ns + 2000000;
    a.threshold_ns = threshold_ns;
    a.gaps = gaps;
    a.gap_at = gap_at;
    a.max_gaps = max_gaps;
    a.st = st;
    if ((rc = -pthread_create(&th, NULL, hot_thread, &a)) != 0)
        goto out;
    started = 1;
    atomic_store_explicit(&a.go, 1, memory_order_release);
    if (write(start_pipe[1], "g", 1) != 1) {
        rc = -errno;
        goto out;
    }

    /* 4. Housekeeping: read the signalfd (HS_SIGNALFD) or just wait, until the hot thread is done. */
    while (!atomic_load_explicit(&a.done, memory_order_acquire)) {
        if (sfd >= 0) {
            struct pollfd pfd = { .fd = sfd, .events = POLLIN };
            if (poll(&pfd, 1, 5) > 0) {
                struct signalfd_siginfo si[16];
                ssize_t k = read(sfd, si, sizeof si);
                if (k > 0)
                    st->read_sfd += k / (ssize_t)sizeof si[0];
            }
        } else {
            struct timespec nap = { 0, 5000000 };
            nanosleep(&nap, NULL);
        }
    }

out:
    if (started)
        pthread_join(th, NULL);
    if (start_pipe[1] >= 0)
        close(start_pipe[1]);             /* a sender still waiting to start sees EOF and exits */
    if (child > 0) {
        int64_t sent = 0;
        if (read(result_pipe[0], &sent, sizeof sent) == (ssize_t)sizeof sent)
            st->sent = sent;
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
            ;
    }
    /* Late signals still pending on the process: take them now, before the mask is restored. */
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&usr1, NULL, &zero) > 0)
        if (sfd >= 0)
            st->read_sfd++;
    if (sfd >= 0)
        close(sfd);
    if (start_pipe[0] >= 0)
        close(start_pipe[0]);
    if (result_pipe[0] >= 0)
        close(result_pipe[0]);
    if (result_pipe[1] >= 0)
        close(result_pipe[1]);
    st->handled = atomic_load(&g_handled);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGUSR1, &old_sa, NULL);
    if (rc == 0 && a.rc != 0)
        rc = a.rc;
    return rc;
}

/* ---- SIGPIPE ---------------------------------------------------------------------------------- */

/* In a child: write to a socket whose peer is closed. how: 0 = write() with the default SIGPIPE action,
 * 1 = send(MSG_NOSIGNAL), 2 = write() with SIGPIPE ignored. *term_sig: the signal that killed the child
 * (0 if it survived); *err: the errno the call returned if it survived. */
int sigpipe_demo(int how, int *term_sig, int *err)
{
    if (how < 0 || how > 2)
        return -EINVAL;
    int sv[2], p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (pid == 0) {
        close(p[0]);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = how == 2 ? SIG_IGN : SIG_DFL;   /* Python's helper ignores SIGPIPE: reset it */
        sigaction(SIGPIPE, &sa, NULL);
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        sigprocmask(SIG_UNBLOCK, &pipe_set, NULL);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            _exit(errno);
        close(sv[1]);                                    /* the peer goes away */
        ssize_t k = how == 1 ? send(sv[0], "x", 1, MSG_NOSIGNAL) : write(sv[0], "x", 1);
        int e = k < 0 ? errno : 0;
        write_all(p[1], &e, sizeof e);                   /* reached only if we were not killed */
        _exit(0);
    }
    close(p[1]);
    int e = -1;
    ssize_t k = read(p[0], &e, sizeof e);
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    *term_sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    *err = k == (ssize_t)sizeof e ? e : -1;
    return 0;
}

/* ---- periodic ticks without signals on the hot thread ------------------------------------------ */

enum { TD_TIMERFD = 0, TD_THREAD_ID = 1, TD_SETITIMER = 2 };

struct timer_arg {
    int kind, n, rc;
    int64_t period_ns;
    int64_t *late_ns;
    int64_t lost;                        /* expirations that produced no separate wake-up */
    _Atomic pid_t tid;
    _Atomic int ready;
    _Atomic int64_t first_ns;            /* the first expiry, set by whoever arms the timer */
};

static void timespec_add(struct timespec *t, int64_t ns)
{
    t->tv_sec += ns / NS_PER_SEC;
    t->tv_nsec += ns % NS_PER_SEC;
    if (t->tv_nsec >= NS_PER_SEC) {
        t->tv_nsec -= NS_PER_SEC;
        t->tv_sec++;
    }
}

static int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * NS_PER_SEC + t->tv_nsec;
}

/* The housekeeping thread: receives n ticks and records how late each one was. All signals stay
 * blocked here too: SIGRTMIN+1 and SIGALRM are taken synchronously with sigwaitinfo(). */
static void *timer_thread(void *p)
{
    struct timer_arg *a = p;
    atomic_store(&a->tid, (pid_t)syscall(SYS_gettid));
    int64_t k = 0;                        /* expirations so far */
    if (a->kind == TD_TIMERFD) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        timespec_add(&t0, 2000000);       /* first expiry 2 ms from now */
        int64_t first = ts_ns(&t0);
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        if (fd < 0) {
            a->rc = -errno;
            return NULL;
        }
        struct itimerspec its = { .it_value = t0, .it_interval = { 0, a->period_ns } };
        if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
            a->rc = -errno;
            close(fd);
            return NULL;
        }
        for (int i = 0; i < a->n;) {
            uint64_t exp;
            if (read(fd, &exp, sizeof exp) != (ssize_t)sizeof exp) {
                if (errno == EINTR)
                    continue;
                a->rc = -errno;
                break;
            }
            (void)exp;                    /* expirations since the last read: >1 means we missed ticks */
            int64_t d = now_ns() - first;
            d = d < 0 ? 0 : d;
            a->late_ns[i++] = d % a->period_ns;
            k = d / a->period_ns + 1;
        }
        close(fd);
        a->lost = k - a->n;
        return NULL;
    }
    int sig = a->kind == TD_THREAD_ID ? SIGRTMIN + 1 : SIGALRM;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    atomic_store(&a->ready, 1);
    for (int i = 0; i < a->n;) {
        siginfo_t si;
        if (sigwaitinfo(&set, &si) < 0) {
            if (errno == EINTR)
                continue;
            a->rc = -errno;
            return NULL;
        }
        /* POSIX timers report merged expirations in si_overrun; setitimer reports nothing. We count
         * the same way for all three: the ticks that fell due minus the wake-ups we got. */
        int64_t d = now_ns() - atomic_load(&a->first_ns);
        d = d < 0 ? 0 : d;
        a->late_ns[i++] = d % a->period_ns;
        k = d / a->period_ns + 1;
    }
    a->lost = k - a->n;
    return NULL;
}

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* n ticks every period_ns delivered to a housekeeping thread. late_ns[i]: how long after the most recent
 * due time the thread woke up (modulo the period); *lost: ticks that fell due during the run but produced
 * no wake-up of their own (merged into another: a timerfd count > 1, si_overrun, or vanished SIGALRMs). */
int timer_demo(int kind, int64_t period_ns, int n, int cpu, int64_t *late_ns, int64_t *lost)
{
    if (kind < TD_TIMERFD || kind > TD_SETITIMER || period_ns < 50000 || period_ns > NS_PER_SEC || n < 1)
        return -EINVAL;
    /* Block the timer signals in this thread before creating the receiver (it inherits the mask), so
     * neither can be delivered to any thread as an asynchronous handler call. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 1);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    int rc = pin_to_cpu(cpu);
    struct timer_arg a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.n = n;
    a.period_ns = period_ns;
    a.late_ns = late_ns;
    pthread_t th;
    timer_t timer;
    int have_timer = 0;
    struct itimerval old_it;
    int have_itimer = 0;
    if (rc != 0)
        goto restore;
    if ((rc = -pthread_create(&th, NULL, timer_thread, &a)) != 0)
        goto restore;
    while (!atomic_load(&a.tid))
        cpu_relax();
    if (kind == TD_THREAD_ID) {
        while (!atomic_load(&a.ready))
            cpu_relax();
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_THREAD_ID;     /* deliver to exactly this thread (Linux-specific) */
        sev.sigev_signo = SIGRTMIN + 1;
        sev.sigev_notify_thread_id = atomic_load(&a.tid);
        if (timer_create(CLOCK_MONOTONIC, &sev, &timer) != 0) {
            rc = -errno;
        } else {
            have_timer = 1;
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            struct itimerspec its = { .it_interval = { 0, period_ns } };
            its.it_value = t0;
            timespec_add(&its.it_value, 2000000);
            atomic_store(&a.first_ns, ts_ns(&its.it_value));
            if (timer_settime(timer, TIMER_ABSTIME, &its, NULL) != 0)
                rc = -errno;
        }
    } else if (kind == TD_SETITIMER) {
        while (!atomic_load(&a.ready))
            cpu_relax();
        struct itimerval it = { .it_interval = { 0, period_ns / 1000 }, .it_value = { 0, 2000 } };
        atomic_store(&a.first_ns, now_ns() + 2000000);   /* 2000 us after the call itself */
        if (setitimer(ITIMER_REAL, &it, &old_it) != 0)
            rc = -errno;
        else
            have_itimer = 1;
    }
    if (rc != 0)
        pthread_cancel(th);               /* it is blocked in sigwaitinfo(), a cancellation point */
    pthread_join(th, NULL);
    if (rc == 0)
        rc = a.rc;
    *lost = a.lost;
restore:
    if (have_timer)
        timer_delete(timer);
    if (have_itimer)
        setitimer(ITIMER_REAL, &old_it, NULL);
    struct timespec zero = { 0, 0 };
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;                                 /* a last tick may still be pending */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
