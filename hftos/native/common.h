/*
 * common.h - small helpers shared by the course's C files.
 *
 * Conventions for every function the notebooks call:
 *   - return 0 on success or a negative errno value (-EINVAL, -ETIMEDOUT, ...), never print;
 *   - write results into arrays the caller (Python) allocated;
 *   - a forked child ends with _exit(), never exit() or return: it must not run the parent's
 *     atexit handlers or flush stdio buffers it inherited;
 *   - a child reports failure through its exit status (the errno value), which the parent
 *     turns back into a negative errno with child_status().
 */
#ifndef HFTOS_COMMON_H
#define HFTOS_COMMON_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_SEC 1000000000LL

/* Nanoseconds on CLOCK_MONOTONIC: never jumps with NTP or settimeofday, so it is the clock
 * for intervals (CLOCK_REALTIME is for wall-clock stamps only). Served by the vDSO, ~20 ns. */
static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* Tell the CPU we are in a spin-wait loop. On x86 `pause` saves power, frees resources for
 * an SMT sibling and avoids a memory-order mis-speculation penalty when the loop exits. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Pin the calling thread to one CPU (cpu < 0: leave the affinity alone).
 * sched_setaffinity(0, ...) applies to the calling *thread*, so this works for the main
 * thread of a process and for a pthread alike. */
static inline int pin_to_cpu(int cpu)
{
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        return -errno;
    return 0;
}

/* write() may write fewer bytes than asked (pipes, sockets, a signal, a full disk) or fail with EINTR:
 * loop until every byte is out. 0, or -errno on failure (-EAGAIN: a non-blocking fd is full). */
static inline int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Wait for a child and translate how it ended: 0 if it exited with status 0, -errno if it
 * exited with an errno value (our children do that on failure), -ECHILD if it was killed. */
static inline int child_status(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    if (WIFEXITED(status))
        return -WEXITSTATUS(status);
    return -ECHILD;
}

#endif /* HFTOS_COMMON_H */
