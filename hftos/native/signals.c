/*
 * signals.c - the signal delivery model, handler safety and delivery latency (course chapter 5).
 *
 * Every function here blocks signals, installs handlers or forks, so the Python wrappers run it in a
 * single-threaded helper process (hftos.native.runner), never in the Jupyter kernel. Functions that
 * change the helper's own dispositions or mask restore them before returning.
 *
 *   sig_coalesce        block a signal, queue it `sends` times with sigqueue(), unblock: how many
 *                       deliveries, with which si_value? (standard signals: 1; real-time: all of them)
 *   sig_latency         sender -> receiver delivery latency for a C handler, a signalfd read or
 *                       sigwaitinfo() in a forked receiver; sig_latency_send is the sender loop alone
 *                       (for a receiver that is not C, e.g. a Python handler)
 *   sig_eintr_read      a blocking read() interrupted by a handled signal, with and without SA_RESTART
 *   sig_flags           what SA_SIGINFO, SA_RESETHAND, SA_NODEFER and SA_ONSTACK change, observed
 *   sig_handler_lock    why a handler must not take a lock the interrupted code may hold (bounded)
 *
 * Rules a signal handler here follows (signal-safety(7)): it calls only async-signal-safe functions
 * (write, clock_gettime, raise, sigprocmask, sigaction), saves and restores errno, and communicates
 * with the rest of the program through `volatile sig_atomic_t` variables or a file descriptor.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

#include "common.h"

/* Read exactly n bytes, retrying on EINTR; 0 on success, -errno, or -EPIPE at end of file. */
static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EPIPE;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Wait up to timeout_ms for fd to become readable: 0, -ETIMEDOUT or -errno. */
static int wait_readable(int fd, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int k;
    while ((k = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (k < 0)
        return -errno;
    return k == 0 ? -ETIMEDOUT : 0;
}

/* Copy up to len-1 bytes of a small file into buf (NUL-terminated); 0 or -errno. Not for handlers. */
static int slurp(const char *path, char *buf, int len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int total = 0;
    while (total < len - 1) {
        ssize_t k = read(fd, buf + total, (size_t)(len - 1 - total));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        total += (int)k;
    }
    buf[total] = '\0';
    close(fd);
    return 0;
}

/* ------------------------------------------------------------------ coalescing and queueing */

#define REC_MAX 4096

static volatile sig_atomic_t rec_count;      /* deliveries seen by the handler */
static int rec_value[REC_MAX];               /* si_value.sival_int of each delivery */
static int rec_code[REC_MAX];                /* si_code of each delivery (SI_QUEUE, SI_TKILL, ...) */

static void record_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    int k = rec_count;
    if (k < REC_MAX) {
        rec_value[k] = si->si_value.sival_int;
        rec_code[k] = si->si_code;
    }
    rec_count = k + 1;
}

/*
 * Block `signo`, send it to ourselves `sends` times carrying si_value 1, 2, ..., then unblock it and
 * count the deliveries. `directed` = 0 sends with sigqueue(getpid()) (process-directed: the signal
 * waits in the process-wide pending set, ShdPnd); 1 with pthread_sigqueue(pthread_self()) (thread-
 * directed: the thread's own pending set, SigPnd).
 *
 * While the signals are pending, /proc/self/status is copied into `status` (status_len bytes): its
 * SigQ/SigPnd/ShdPnd/SigBlk lines show the kernel's view. Outputs: out[0] = sends accepted (a
 * real-time send fails with EAGAIN once RLIMIT_SIGPENDING queued signals exist for this user),
 * out[1] = errno of the first refused send (0 if none), out[2] = deliveries after unblocking;
 * values[]/codes[] = si_value and si_code of each delivery (up to max_record).
 */
int sig_coalesce(int signo, int sends, int directed, int *out, int *values, int *codes, int max_record,
                 char *status, int status_len)
{
    if (signo < 1 || signo > SIGRTMAX || signo == SIGKILL || signo == SIGSTOP || sends < 1)
        return -EINVAL;
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = record_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(signo, &sa, &old_sa) != 0)
        return -errno;

    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, signo);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    rec_count = 0;

    int accepted = 0, refused_errno = 0;
    for (int i = 0; i < sends; i++) {
        union sigval v = { .sival_int = i + 1 };
        int rc = directed ? pthread_sigqueue(pthread_self(), signo, v)       /* returns an errno */
                          : (sigqueue(getpid(), signo, v) == 0 ? 0 : errno);
        if (rc == 0)
            accepted++;
        else if (refused_errno == 0)
            refused_errno = rc;
    }
    int rc = status_len > 0 ? slurp("/proc/self/status", status, status_len) : 0;

    /* Unblocking makes the pending signals deliverable: the kernel delivers them on the way back
     * to user mode from this very sigprocmask() call, before it returns. */
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(signo, &old_sa, NULL);

    out[0] = accepted;
    out[1] = refused_errno;
    out[2] = rec_count;
    for (int k = 0; k < rec_count && k < max_record && k < REC_MAX; k++) {
        values[k] = rec_value[k];
        codes[k] = rec_code[k];
    }
    return rc;
}

/* ------------------------------------------------------------------ delivery latency */

#define LAT_SIGNAL SIGUSR1

static int lat_ack_fd = -1;

/* The C handler of the latency experiment: timestamp first, then hand the time to the sender over
 * a pipe. write() and clock_gettime() are async-signal-safe; errno is saved and restored because
 * the interrupted code may be about to read it. */
static void latency_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    int saved_errno = errno;
    int64_t t = now_ns();
    ssize_t k = write(lat_ack_fd, &t, sizeof t);
    (void)k;
    errno = saved_errno;
}

/* The receiver, in a forked child: kind 0 = C handler (waits in pause()), 1 = read() from a signalfd,
 * 2 = sigwaitinfo(). It reports "ready" (a zero timestamp), then one timestamp per signal, forever;
 * the sender kills it. */
static void receiver(int kind, int cpu, int ack_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);          /* never outlive the sender */
    if (pin_to_cpu(cpu) != 0)
        _exit(EINVAL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, LAT_SIGNAL);
    lat_ack_fd = ack_fd;
    int sfd = -1;
    if (kind == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = latency_handler;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(LAT_SIGNAL, &sa, NULL) != 0)
            _exit(errno);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
    } else {
        /* signalfd and sigwaitinfo take the signal synchronously: it must stay blocked, or the
         * kernel would deliver it (default action for SIGUSR1: terminate) instead of queueing it. */
        sigprocmask(SIG_BLOCK, &set, NULL);
        if (kind == 1 && (sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
            _exit(errno);
    }
    int64_t zero = 0;
    if (write_all(ack_fd, &zero, sizeof zero) != 0)
        _exit(EPIPE);
    for (;;) {
        if (kind == 0) {
            pause();                           /* returns after the handler ran */
            continue;
        }
        int64_t t;
        if (kind == 1) {
            struct signalfd_siginfo fdsi;
            if (read(sfd, &fdsi, sizeof fdsi) != (ssize_t)sizeof fdsi)
                continue;
            t = now_ns();
        } else {
            siginfo_t si;
            if (sigwaitinfo(&set, &si) < 0)
                continue;
            t = now_ns();
        }
        if (write_all(ack_fd, &t, sizeof t) != 0)
            _exit(EPIPE);
    }
}

/*
 * The sender loop alone: `pid` is a receiver that writes a zero timestamp when ready and then one
 * CLOCK_MONOTONIC timestamp (int64) to `ack_fd` per LAT_SIGNAL it takes. For each of warmup + iters
 * rounds: optionally sleep gap_us (so the receiver's CPU may go idle, as between real events), take
 * t0, kill(pid, SIGUSR1), wait for the receiver's t1; lat_ns[i] = t1 - t0. Each round must complete
 * within timeout_ms (else -ETIMEDOUT).
 */
int sig_latency_send(int pid, int ack_fd, int cpu, int warmup, int iters, int gap_us, int timeout_ms,
                     int64_t *lat_ns)
{
    int rc = pin_to_cpu(cpu);
    if (rc != 0)
        return rc;
    int64_t t1;
    if ((rc = wait_readable(ack_fd, timeout_ms)) != 0 || (rc = read_full(ack_fd, &t1, sizeof t1)) != 0)
        return rc;                              /* the receiver never became ready */
    struct timespec gap = { .tv_sec = 0, .tv_nsec = (long)gap_us * 1000 };
    for (int i = -warmup; i < iters; i++) {
        if (gap_us > 0)
            nanosleep(&gap, NULL);
        int64_t t0 = now_ns();
        if (kill(pid, LAT_SIGNAL) != 0)
            return -errno;
        if ((rc = wait_readable(ack_fd, timeout_ms)) != 0 || (rc = read_full(ack_fd, &t1, sizeof t1)) != 0)
            return rc;
        if (i >= 0)
            lat_ns[i] = t1 - t0;
    }
    return 0;
}

/* The whole experiment with a forked C receiver of the given kind (0 handler, 1 signalfd,
 * 2 sigwaitinfo), the sender on cpu_send and the receiver on cpu_recv (-1: not pinned). */
int sig_latency(int kind, int cpu_send, int cpu_recv, int warmup, int iters, int gap_us, int timeout_ms,
                int64_t *lat_ns)
{
    if (kind < 0 || kind > 2 || iters < 1 || warmup < 0 || gap_us < 0)
        return -EINVAL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return -e;
    }
    if (pid == 0) {
        close(fds[0]);
        receiver(kind, cpu_recv, fds[1]);
        _exit(0);
    }
    close(fds[1]);
    int rc = sig_latency_send(pid, fds[0], cpu_send, warmup, iters, gap_us, timeout_ms, lat_ns);
    kill(pid, SIGKILL);
    int child = child_status(pid);
    close(fds[0]);
    if (rc == -EPIPE && child < 0 && child != -ECHILD)
        rc = child;                             /* the receiver failed and said why */
    return rc;
}

/* ------------------------------------------------------------------ EINTR and SA_RESTART */

static volatile sig_atomic_t eintr_handled;   /* the only type C promises is read/written atomically */
static volatile int64_t eintr_at;             /* read only after read() returned, i.e. after the handler */

static void eintr_handler(int sig)
{
    (void)sig;
    int saved_errno = errno;
    eintr_at = now_ns();
    eintr_handled = eintr_handled + 1;
    errno = saved_errno;
}

/*
 * A read() on an empty pipe, interrupted by SIGUSR1 after signal_ms; a byte arrives data_ms later.
 * Both come from a forked child. With SA_RESTART the kernel restarts the read after the handler and
 * it returns the byte; without, read() returns -1 with errno EINTR as soon as the handler has run.
 * out[0] = read's return value, out[1] = errno after it (0 if it succeeded), out[2] = handler calls,
 * out[3] = microseconds from the read's start to the handler, out[4] = to read's return.
 */
int sig_eintr_read(int restart, int signal_ms, int data_ms, int64_t *out)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = eintr_handler;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old_sa);
    sigset_t set, old_mask;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &set, &old_mask);
    eintr_handled = 0;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct timespec a = { .tv_sec = signal_ms / 1000, .tv_nsec = (signal_ms % 1000) * 1000000L };
        struct timespec b = { .tv_sec = data_ms / 1000, .tv_nsec = (data_ms % 1000) * 1000000L };
        nanosleep(&a, NULL);
        kill(parent, SIGUSR1);
        nanosleep(&b, NULL);
        _exit(write(fds[1], "x", 1) == 1 ? 0 : EIO);
    }
    int rc = 0;
    if (pid < 0) {
        rc = -errno;
    } else {
        char c;
        int64_t t0 = now_ns();
        errno = 0;
        ssize_t k = read(fds[0], &c, 1);        /* no EINTR loop: seeing EINTR is the point */
        int e = k < 0 ? errno : 0;
        int64_t t1 = now_ns();
        int64_t th = eintr_at;
        out[0] = k;
        out[1] = e;
        out[2] = eintr_handled;
        out[3] = eintr_handled ? (th - t0) / 1000 : -1;
        out[4] = (t1 - t0) / 1000;
        kill(pid, SIGKILL);
        child_status(pid);
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGUSR1, &old_sa, NULL);
    close(fds[0]);
    close(fds[1]);
    return rc;
}

/* ------------------------------------------------------------------ sigaction flags, observed */

static volatile sig_atomic_t flag_calls, flag_depth, flag_max_depth, flag_reraise;
static volatile sig_atomic_t flag_code, flag_pid, flag_value, flag_on_altstack;
static char altstack_mem[64 * 1024];

static void flags_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved_errno = errno;
    int depth = flag_depth + 1;
    flag_depth = depth;
    if (depth > flag_max_depth)
        flag_max_depth = depth;
    flag_calls = flag_calls + 1;
    char here;                                   /* where is this handler's stack frame? */
    if (flag_calls == 1)
        flag_on_altstack = (&here >= altstack_mem && &here < altstack_mem + sizeof altstack_mem);
    if (si != NULL && flag_calls == 1) {         /* record the first delivery */
        flag_code = si->si_code;
        flag_pid = si->si_pid;
        flag_value = si->si_value.sival_int;
    }
    if (flag_reraise) {                          /* send ourselves the same signal from inside */
        flag_reraise = 0;
        raise(sig);                              /* SA_NODEFER: re-entered here; else after return */
    }
    flag_depth = depth - 1;
    errno = saved_errno;
}

/*
 * Install flags_handler for SIGUSR2 with sa_flags = `flags` (SA_SIGINFO is always added so that
 * si_code and si_value can be recorded), send one SIGUSR2 with sigqueue (value 42), and report:
 * out[0] handler calls, out[1] deepest nesting (2 = the handler interrupted itself), out[2] si_code,
 * out[3] si_pid == getpid(), out[4] si_value, out[5] 1 if the handler ran on the alternate stack,
 * out[6] 1 if the disposition was reset to SIG_DFL afterwards (SA_RESETHAND).
 * `reraise` = 1: the handler raise()s the signal once more from inside itself.
 */
int sig_flags(int flags, int reraise, int *out)
{
    /* With SA_RESETHAND a re-raised signal would meet the default action (terminate) */
    if (reraise && (flags & SA_RESETHAND))
        return -EINVAL;
    stack_t ss = { .ss_sp = altstack_mem, .ss_size = sizeof altstack_mem, .ss_flags = 0 }, old_ss;
    if (sigaltstack(&ss, &old_ss) != 0)
        return -errno;
    struct sigaction sa, old_sa, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = flags_handler;
    sa.sa_flags = flags | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR2, &sa, &old_sa) != 0)
        return -errno;
    sigset_t set, old_mask;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_UNBLOCK, &set, &old_mask);
    flag_calls = flag_depth = flag_max_depth = flag_on_altstack = 0;
    flag_code = flag_pid = flag_value = 0;
    flag_reraise = reraise;

    union sigval v = { .sival_int = 42 };
    int rc = sigqueue(getpid(), SIGUSR2, v) == 0 ? 0 : -errno;

    sigaction(SIGUSR2, NULL, &now);
    out[0] = flag_calls;
    out[1] = flag_max_depth;
    out[2] = flag_code;
    out[3] = flag_pid == getpid();
    out[4] = flag_value;
    out[5] = flag_on_altstack;
    out[6] = now.sa_handler == SIG_DFL;

    sigaction(SIGUSR2, &old_sa, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaltstack(&old_ss, NULL);
    return rc;
}

/* ------------------------------------------------------------------ a lock inside a handler */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;   /* a normal, non-recursive mutex */
static volatile sig_atomic_t log_requested;
static int lock_safe_mode;

/* What a logging library does: take a lock, format into a shared buffer, write, unlock. */
static char log_buf[256];
static void log_line(const char *msg)
{
    pthread_mutex_lock(&log_lock);
    size_t n = strlen(msg);
    if (n > sizeof log_buf - 1)
        n = sizeof log_buf - 1;
    memcpy(log_buf, msg, n);
    pthread_mutex_unlock(&log_lock);
}

static void lock_handler(int sig)
{
    (void)sig;
    if (lock_safe_mode)
        log_requested = 1;                       /* safe: set a flag, log later */
    else
        log_line("from the signal handler");     /* unsafe: the lock may be held by the code we interrupted */
}

/*
 * In a forked child: take the logging lock, and while holding it receive a signal (raise() makes the
 * timing deterministic; in real programs it is a matter of time). The handler either logs directly
 * (safe = 0: it blocks forever on the lock its own thread holds, the same way malloc or printf would
 * on their internal locks) or only sets a flag (safe = 1: the main code logs after unlocking).
 * The parent waits at most wait_ms, then copies the child's /proc/<pid>/stat, wchan and syscall
 * files into the buffers, kills and reaps it. out[0] = 1 if the child finished by itself, out[1] = its
 * exit status (or -1), out[2] = how long the parent waited (ms).
 */
int sig_handler_lock(int safe, int wait_ms, int *out, char *stat_buf, char *wchan_buf, char *syscall_buf, int len)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        lock_safe_mode = safe;
        signal(SIGUSR1, lock_handler);
        pthread_mutex_lock(&log_lock);           /* inside log_line(), say */
        raise(SIGUSR1);                          /* the signal lands in the critical section */
        pthread_mutex_unlock(&log_lock);
        if (log_requested)
            log_line("after the critical section");
        _exit(0);
    }
    int64_t start = now_ns(), deadline = start + (int64_t)wait_ms * 1000000;
    int status = 0, done = 0;
    while (now_ns() < deadline) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            done = 1;
            break;
        }
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    out[0] = done;
    out[1] = done && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    out[2] = (int)((now_ns() - start) / 1000000);
    stat_buf[0] = wchan_buf[0] = syscall_buf[0] = '\0';
    if (!done) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        slurp(path, stat_buf, len);
        snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
        slurp(path, wchan_buf, len);
        snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
        slurp(path, syscall_buf, len);
        kill(pid, SIGKILL);
        child_status(pid);
    }
    return 0;
}
