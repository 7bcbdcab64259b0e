/*
 * sigfaults.c - CPU exceptions turned into signals, one deterministic fault at a time (course section 5.4).
 *
 * sigfault_run(kind) forks a child that installs an SA_SIGINFO handler for SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL and SIGTRAP (on an alternate signal stack), tells the parent which address the fault should
 * report, and then does exactly one forbidden thing:
 *
 *   SF_UNMAPPED          read a page that was mapped and then munmap()ed     -> SIGSEGV / SEGV_MAPERR
 *   SF_READONLY_WRITE    write to a PROT_READ anonymous mapping             -> SIGSEGV / SEGV_ACCERR
 *   SF_PROT_NONE_READ    read a PROT_NONE page                              -> SIGSEGV / SEGV_ACCERR
 *   SF_FILE_PAST_EOF     read page 2 of a mapping of a one-page file        -> SIGBUS  / BUS_ADRERR
 *   SF_STACK_OVERFLOW    unbounded recursion past RLIMIT_STACK (lowered to 1 MiB); the handler runs
 *                        on the alternate stack, because the normal one is full -> SIGSEGV / SEGV_MAPERR
 *   SF_STACK_NO_ALTSTACK the same without an alternate stack: the kernel cannot build the handler's
 *                        frame, so it kills the process with SIGSEGV (no handler runs, no record)
 *   x86-64 only:
 *   SF_DIV_ZERO          divl by zero                                       -> SIGFPE  / FPE_INTDIV
 *   SF_UD2               ud2, the architecturally undefined instruction     -> SIGILL  / ILL_ILLOPN
 *   SF_INT3              int3, the breakpoint instruction                   -> SIGTRAP / SI_KERNEL
 *   SF_PRIVILEGED        hlt in user mode: general protection fault         -> SIGSEGV / SI_KERNEL
 *   SF_NONCANONICAL      read of a non-canonical address: also #GP          -> SIGSEGV / SI_KERNEL
 *
 * The handler only copies siginfo fields into a struct, write()s it to a pipe and _exit()s:
 * write() and _exit() are async-signal-safe (signal-safety(7)); printf, malloc and exit are not.
 * The child first switches off core dumps for itself (RLIMIT_CORE = 0 and PR_SET_DUMPABLE = 0), so
 * whatever happens nothing is written to disk, whatever /proc/sys/kernel/core_pattern says.
 *
 * crash_run(kind) is the crash handler of course section 5.5: the same faults, but the handler
 * formats one line of text with integer-to-text code of its own (no printf), write()s it to a
 * file descriptor opened before the crash, restores the default action and re-raises the signal,
 * so the process still dies by it (exit status, core-dump policy and parent all see the truth).
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "common.h"

enum {
    SF_UNMAPPED, SF_READONLY_WRITE, SF_PROT_NONE_READ, SF_FILE_PAST_EOF, SF_STACK_OVERFLOW,
    SF_STACK_NO_ALTSTACK, SF_DIV_ZERO, SF_UD2, SF_INT3, SF_PRIVILEGED, SF_NONCANONICAL, SF_NKINDS
};
enum { SF_HANDLED = 0, SF_NO_SIGNAL = 1, SF_KILLED = 2, SF_TIMEOUT = 3, SF_FAILED = 4 };

struct sf_result {
    int32_t outcome;    /* SF_HANDLED, SF_NO_SIGNAL, SF_KILLED, SF_TIMEOUT or SF_FAILED */
    int32_t signo;      /* the signal caught (or the one that killed the child) */
    int32_t code;       /* si_code */
    int32_t err;        /* SF_FAILED: errno of the setup step that failed */
    uint64_t addr;      /* si_addr */
    uint64_t expect;    /* the data address the fault should report (0: unknown) */
    uint64_t ip;        /* program counter saved in the handler's ucontext */
    uint64_t insn;      /* address of the faulting instruction (0: unknown) */
    uint64_t deepest;   /* stack kinds: lowest stack address the recursion had reached */
};

/* Set by the child before it faults, read by the handler. */
static int g_out_fd = -1;
static volatile uint64_t g_expect, g_deepest;
static uint64_t g_insn;                  /* written by the inline asm below, straight to memory */
static volatile long g_limit = LONG_MAX; /* the recursion never reaches it: it stops by faulting */

static uint64_t context_ip(void *ctx)
{
    ucontext_t *uc = ctx;
#if defined(__x86_64__)
    return (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uint64_t)uc->uc_mcontext.pc;
#else
    (void)uc;
    return 0;
#endif
}

/* The handler: copy, write(), _exit(). Nothing else is safe here. */
static void on_fault(int sig, siginfo_t *si, void *ctx)
{
    struct sf_result r;
    memset(&r, 0, sizeof r);              /* memset is async-signal-safe since POSIX.1-2016 */
    r.outcome = SF_HANDLED;
    r.signo = sig;
    r.code = si->si_code;
    r.addr = (uint64_t)(uintptr_t)si->si_addr;
    r.expect = g_expect;
    r.insn = g_insn;
    r.deepest = g_deepest;
    r.ip = context_ip(ctx);
    write_all(g_out_fd, &r, sizeof r);
    _exit(0);
}

/* ---- the crash handler of section 5.5: text without printf ---------------------------------- */

static size_t put_str(char *p, const char *s)
{
    size_t n = 0;
    while (s[n]) {
        p[n] = s[n];
        n++;
    }
    return n;
}

static size_t put_dec(char *p, int64_t v)
{
    char tmp[24];
    size_t n = 0, k = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (v < 0)
        p[k++] = '-';
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        p[k++] = tmp[--n];
    return k;
}

static size_t put_hex(char *p, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0, k = 0;
    p[k++] = '0';
    p[k++] = 'x';
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        p[k++] = tmp[--n];
    return k;
}

static void on_crash(int sig, siginfo_t *si, void *ctx)
{
    int saved = errno;
    char line[256];
    size_t n = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);   /* async-signal-safe (signal-safety(7)) */
    n += put_str(line + n, "CRASH t=");
    n += put_dec(line + n, (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec);
    n += put_str(line + n, " pid=");
    n += put_dec(line + n, getpid());
    n += put_str(line + n, " tid=");
    n += put_dec(line + n, (int64_t)syscall(SYS_gettid));
    n += put_str(line + n, " sig=");
    n += put_dec(line + n, sig);
    n += put_str(line + n, " code=");
    n += put_dec(line + n, si->si_code);
    n += put_str(line + n, " addr=");
    n += put_hex(line + n, (uint64_t)(uintptr_t)si->si_addr);
    n += put_str(line + n, " ip=");
    n += put_hex(line + n, context_ip(ctx));
    line[n++] = '\n';
    write_all(g_out_fd, line, n);         /* the fd was opened before anything went wrong */
    /* Die by the same signal: default action back, re-raise (it stays pending while this handler
     * runs, because sa_mask blocks it), return. The parent, the shell and the core-dump policy see
     * "killed by SIGSEGV", not a clean exit that hides the crash. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    raise(sig);
    errno = saved;
}

/* ---- the faults ------------------------------------------------------------------------------ */

__attribute__((noinline)) static long recurse(long depth)
{
    volatile char frame[1024];            /* 1 KiB per call: the stack fills in a few hundred calls */
    frame[0] = (char)depth;
    g_deepest = (uint64_t)(uintptr_t)&frame[0];
    if (depth < g_limit)
        return recurse(depth + 1) + frame[0];
    return frame[0];
}

static void trigger(int kind, int file_fd)
{
    long pg = sysconf(_SC_PAGESIZE);
    volatile char *p;
    switch (kind) {
    case SF_UNMAPPED:
        p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            _exit(errno);
        munmap((void *)p, pg);            /* the address is now unmapped: no VMA covers it */
        g_expect = (uint64_t)(uintptr_t)p;
        (void)p[0];
        break;
    case SF_READONLY_WRITE:
        p = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            _exit(errno);
        g_expect = (uint64_t)(uintptr_t)p;
        p[0] = 1;                         /* a VMA exists, but it does not allow writing */
        break;
    case SF_PROT_NONE_READ:
        p = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            _exit(errno);
        g_expect = (uint64_t)(uintptr_t)p;
        (void)p[0];                       /* a VMA exists, but it allows nothing */
        break;
    case SF_FILE_PAST_EOF:
        /* The file is one page long; map two pages of it. Page 1 is the file, page 2 lies past EOF. */
        p = mmap(NULL, 2 * pg, PROT_READ, MAP_SHARED, file_fd, 0);
        if (p == MAP_FAILED)
            _exit(errno);
        (void)p[0];                       /* inside the file: fine */
        g_expect = (uint64_t)(uintptr_t)(p + pg);
        (void)p[pg];                      /* past EOF: the page cache has nothing to map */
        break;
    case SF_STACK_OVERFLOW:
    case SF_STACK_NO_ALTSTACK: {
        struct rlimit rl;
        if (getrlimit(RLIMIT_STACK, &rl) != 0)
            _exit(errno);
        rl.rlim_cur = 1 << 20;            /* grow to at most 1 MiB: a quick, bounded overflow */
        if (setrlimit(RLIMIT_STACK, &rl) != 0)
            _exit(errno);
        recurse(0);
        break;
    }
#if defined(__x86_64__)
    case SF_DIV_ZERO: {
        volatile uint32_t vzero = 0;
        uint32_t lo = 1, zero = vzero;
        /* Record the address of the div instruction (label 1), then divide edx:eax by zero. */
        __asm__ volatile("leaq 1f(%%rip), %%rcx\n\t"
                         "movq %%rcx, %[insn]\n\t"
                         "xorl %%edx, %%edx\n"
                         "1:\tdivl %[d]"
                         : "+a"(lo), [insn] "=m"(g_insn)
                         : [d] "r"(zero)
                         : "rcx", "rdx", "cc", "memory");
        break;
    }
    case SF_UD2:
        __asm__ volatile("leaq 1f(%%rip), %%rcx\n\t"
                         "movq %%rcx, %[insn]\n"
                         "1:\tud2"
                         : [insn] "=m"(g_insn) : : "rcx", "memory");
        break;
    case SF_INT3:
        __asm__ volatile("leaq 1f(%%rip), %%rcx\n\t"
                         "movq %%rcx, %[insn]\n"
                         "1:\tint3"
                         : [insn] "=m"(g_insn) : : "rcx", "memory");
        break;
    case SF_PRIVILEGED:
        __asm__ volatile("leaq 1f(%%rip), %%rcx\n\t"
                         "movq %%rcx, %[insn]\n"
                         "1:\thlt"
                         : [insn] "=m"(g_insn) : : "rcx", "memory");
        break;
    case SF_NONCANONICAL:
        /* Bit 63 set, bits 62..47 clear: not canonical with 4- or 5-level paging. */
        g_expect = 0x8000000000000000ull;
        p = (volatile char *)(uintptr_t)g_expect;
        (void)p[0];
        break;
#endif
    default:
        _exit(EINVAL);
    }
}

static void child(int kind, int file_fd, int crash_handler)
{
    /* No core dump from this child, whatever happens and whatever core_pattern says. */
    struct rlimit zero = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &zero) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        _exit(errno);
    /* An alternate stack, so a handler can run even when the overflowing stack is full. */
    static char altstack[64 * 1024];
    int alt = kind != SF_STACK_NO_ALTSTACK;
    if (alt) {
        stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
        if (sigaltstack(&ss, NULL) != 0)
            _exit(errno);
    }
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = crash_handler ? on_crash : on_fault;
    sa.sa_flags = SA_SIGINFO | (alt ? SA_ONSTACK : 0);
    sigfillset(&sa.sa_mask);              /* nothing interrupts the handler */
    sigset_t unblock;
    sigemptyset(&unblock);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        if (sigaction(sigs[i], &sa, NULL) != 0)
            _exit(errno);
        sigaddset(&unblock, sigs[i]);
    }
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    trigger(kind, file_fd);
    /* Still alive: the operation did not trap. Say so. */
    struct sf_result r;
    memset(&r, 0, sizeof r);
    r.outcome = SF_NO_SIGNAL;
    r.expect = g_expect;
    r.insn = g_insn;
    if (!crash_handler)
        write_all(g_out_fd, &r, sizeof r);
    _exit(0);
}

static int kind_supported(int kind)
{
    if (kind < 0 || kind >= SF_NKINDS)
        return -EINVAL;
#if !defined(__x86_64__)
    if (kind >= SF_DIV_ZERO)
        return -ENOSYS;
#endif
    return 0;
}

/* Fork, let the child fault, wait for it (at most timeout_ms, then SIGKILL). The child writes to
 * out_fd. With rd_fd >= 0 (a pipe: out_fd is its write end, closed here in the parent) the parent
 * reads up to `want` bytes into buf until EOF; otherwise it just waits. *status: waitpid() status. */
static int run_child(int kind, int file_fd, int crash_handler, int out_fd, int rd_fd, int timeout_ms,
                     void *buf, size_t want, size_t *got, int *timed_out, int *status)
{
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        if (rd_fd >= 0)
            close(out_fd);
        return -e;
    }
    if (pid == 0) {
        if (rd_fd >= 0)
            close(rd_fd);
        g_out_fd = out_fd;
        child(kind, file_fd, crash_handler);
        _exit(0);
    }
    if (rd_fd >= 0)
        close(out_fd);                    /* only the child writes: its death then reads as EOF */
    *got = 0;
    *timed_out = 0;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    if (rd_fd >= 0) {
        /* Read the record until EOF (the child exited) or the deadline. */
        for (;;) {
            int64_t left_ms = (deadline - now_ns()) / 1000000;
            if (left_ms <= 0) {
                *timed_out = 1;
                break;
            }
            struct pollfd pfd = { .fd = rd_fd, .events = POLLIN };
            int n = poll(&pfd, 1, (int)left_ms);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                *timed_out = n == 0;
                break;
            }
            ssize_t k = *got < want ? read(rd_fd, (char *)buf + *got, want - *got) : 0;
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            *got += (size_t)k;
        }
    } else {
        /* No pipe: poll waitpid until the child ends or the deadline passes. */
        for (;;) {
            pid_t w = waitpid(pid, status, WNOHANG);
            if (w == pid)
                return 0;
            if (now_ns() > deadline) {
                *timed_out = 1;
                break;
            }
            struct timespec nap = { 0, 1000000 };
            nanosleep(&nap, NULL);
        }
    }
    if (*timed_out)
        kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

/* One fault in a forked child; the result in *out. Returns 0, or -errno if the experiment could not
 * start (-ENOSYS: an x86-only kind on another architecture). */
int sigfault_run(int kind, int file_fd, int timeout_ms, struct sf_result *out)
{
    int rc = kind_supported(kind);
    if (rc != 0)
        return rc;
    if (timeout_ms < 1)
        return -EINVAL;
    if (kind == SF_FILE_PAST_EOF) {
        if (file_fd < 0)
            return -EBADF;
        if (ftruncate(file_fd, sysconf(_SC_PAGESIZE)) != 0)   /* exactly one page long */
            return -errno;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -errno;
    struct sf_result r;
    memset(&r, 0, sizeof r);
    size_t got;
    int timed_out, status = 0;
    rc = run_child(kind, file_fd, 0, p[1], p[0], timeout_ms, &r, sizeof r, &got, &timed_out, &status);
    close(p[0]);
    if (rc != 0)
        return rc;
    if (got == sizeof r) {
        *out = r;
        return 0;
    }
    memset(out, 0, sizeof *out);
    if (timed_out) {
        out->outcome = SF_TIMEOUT;
    } else if (WIFSIGNALED(status)) {
        out->outcome = SF_KILLED;
        out->signo = WTERMSIG(status);
    } else {
        out->outcome = SF_FAILED;
        out->err = WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD;
    }
    return 0;
}

/* The crash-handler demo: the child's handler writes one text line to log_fd and re-raises.
 * *term_sig: the signal that ended the child (0 if it exited), *exit_code: its exit status. */
int crash_run(int kind, int log_fd, int file_fd, int timeout_ms, int *term_sig, int *exit_code)
{
    int rc = kind_supported(kind);
    if (rc != 0)
        return rc;
    if (log_fd < 0 || timeout_ms < 1)
        return -EINVAL;
    if (kind == SF_FILE_PAST_EOF) {
        if (file_fd < 0)
            return -EBADF;
        if (ftruncate(file_fd, sysconf(_SC_PAGESIZE)) != 0)
            return -errno;
    }
    size_t got;
    int timed_out, status = 0;
    rc = run_child(kind, file_fd, 1, log_fd, -1, timeout_ms, NULL, 0, &got, &timed_out, &status);
    if (rc != 0)
        return rc;
    if (timed_out)
        return -ETIMEDOUT;
    *term_sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return 0;
}

/* userfaultfd(2) with the given flags: 0 if the kernel gave us a descriptor (closed at once),
 * or -errno (-EPERM: not allowed for this user with these flags). Harmless: nothing is registered. */
int uffd_probe(int flags)
{
#ifdef SYS_userfaultfd
    long fd = syscall(SYS_userfaultfd, flags | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    close((int)fd);
    return 0;
#else
    (void)flags;
    return -ENOSYS;
#endif
}
