/*
 * syscalls.c - what does it cost to ask the kernel (or not)?
 *
 * Course chapter 1.6. Four measurements:
 *   getpid_cost  - a real system call: syscall(SYS_getpid). Not getpid(): glibc before 2.25
 *                  cached the PID, so getpid() never entered the kernel (erratum E61).
 *   clock_cost   - clock_gettime() for one clock id, either through the vDSO (glibc's normal
 *                  path: a function in user space that reads the clocksource, no kernel entry)
 *                  or forced through the real system call for comparison.
 *   tsc_cost     - reading the time-stamp counter directly: `lfence; rdtsc` or `rdtscp; lfence`.
 *   tsc_calibrate- TSC ticks per nanosecond of CLOCK_MONOTONIC.
 *
 * Method: one operation takes tens of nanoseconds, about as long as reading the clock, so
 * we never time a single call. Each sample times a *batch* of `batch` calls with
 * CLOCK_MONOTONIC and stores the per-call average (nanoseconds) in out[i]. The first
 * `warmup` batches are run and thrown away (cold caches, page faults, frequency ramp-up).
 */
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

/* Volatile sink so the compiler cannot delete loops whose results we do not use. */
static volatile uint64_t sink;

int getpid_cost(double *out, int samples, int batch, int warmup)
{
    for (int i = -warmup; i < samples; i++) {
        int64_t t0 = now_ns();
        for (int k = 0; k < batch; k++)
            sink += (uint64_t)syscall(SYS_getpid);
        int64_t t1 = now_ns();
        if (i >= 0)
            out[i] = (double)(t1 - t0) / batch;
    }
    return 0;
}

/* via_syscall = 0: clock_gettime() as every program calls it (vDSO when the clock and the
 * clocksource allow it); 1: syscall(SYS_clock_gettime), always entering the kernel.
 * When the two costs are about equal, the "vDSO" call was really a system call. */
int clock_cost(int clock_id, int via_syscall, double *out, int samples, int batch, int warmup)
{
    struct timespec ts;
    if (clock_gettime(clock_id, &ts) != 0)   /* unsupported clock id: EINVAL */
        return -errno;
    for (int i = -warmup; i < samples; i++) {
        int64_t t0 = now_ns();
        if (via_syscall) {
            for (int k = 0; k < batch; k++) {
                syscall(SYS_clock_gettime, clock_id, &ts);
                sink += (uint64_t)ts.tv_nsec;
            }
        } else {
            for (int k = 0; k < batch; k++) {
                clock_gettime(clock_id, &ts);
                sink += (uint64_t)ts.tv_nsec;
            }
        }
        int64_t t1 = now_ns();
        if (i >= 0)
            out[i] = (double)(t1 - t0) / batch;
    }
    return 0;
}

int tsc_available(void)
{
#if defined(__x86_64__)
    return 1;
#else
    return 0;
#endif
}

#if defined(__x86_64__)
/* rdtsc alone is not ordered: the CPU may execute it before earlier instructions finish or
 * after later ones start. `lfence; rdtsc` waits for everything before it (Intel's guidance
 * for the start of a timed region). rdtscp waits for earlier instructions by itself and also
 * returns IA32_TSC_AUX (Linux stores the CPU number there); the `lfence` after it stops later
 * instructions from starting early (the end of a timed region). */
static inline uint64_t tsc_start(void)
{
    _mm_lfence();
    return __rdtsc();
}

static inline uint64_t tsc_end(void)
{
    unsigned int aux;
    uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
}
#endif

/* variant 0: lfence;rdtsc   variant 1: rdtscp;lfence.   -ENOSYS on non-x86 machines. */
int tsc_cost(int variant, double *out, int samples, int batch, int warmup)
{
#if defined(__x86_64__)
    if (variant != 0 && variant != 1)
        return -EINVAL;
    for (int i = -warmup; i < samples; i++) {
        int64_t t0 = now_ns();
        if (variant == 0) {
            for (int k = 0; k < batch; k++)
                sink += tsc_start();
        } else {
            for (int k = 0; k < batch; k++)
                sink += tsc_end();
        }
        int64_t t1 = now_ns();
        if (i >= 0)
            out[i] = (double)(t1 - t0) / batch;
    }
    return 0;
#else
    (void)variant; (void)out; (void)samples; (void)batch; (void)warmup;
    return -ENOSYS;
#endif
}

#if defined(__x86_64__)
/* One (monotonic ns, tsc) pair. The TSC read is bracketed by two clock reads; we keep the
 * tightest bracket of a few tries so an interrupt in the middle cannot skew the pair. */
static void paired_read(int64_t *ns, uint64_t *tsc)
{
    int64_t best = INT64_MAX;
    for (int k = 0; k < 16; k++) {
        int64_t a = now_ns();
        uint64_t t = tsc_start();
        int64_t b = now_ns();
        if (b - a < best) {
            best = b - a;
            *ns = a + (b - a) / 2;
            *tsc = t;
        }
    }
}
#endif

/* Calibrate: ticks_per_ns[i] = TSC ticks elapsed / CLOCK_MONOTONIC ns elapsed over one window of
 * `window_ns` (sleeping in between), for `rounds` windows. Spread between rounds shows drift
 * and noise; a hypervisor that scales or traps the TSC shows up here too. */
int tsc_calibrate(double *ticks_per_ns, int rounds, int64_t window_ns)
{
#if defined(__x86_64__)
    struct timespec nap = { .tv_sec = window_ns / NS_PER_SEC, .tv_nsec = window_ns % NS_PER_SEC };
    for (int r = 0; r < rounds; r++) {
        int64_t ns0, ns1;
        uint64_t tsc0, tsc1;
        paired_read(&ns0, &tsc0);
        while (nanosleep(&nap, NULL) != 0) {
            if (errno != EINTR)
                return -errno;
        }
        paired_read(&ns1, &tsc1);
        ticks_per_ns[r] = (double)(tsc1 - tsc0) / (double)(ns1 - ns0);
    }
    return 0;
#else
    (void)ticks_per_ns; (void)rounds; (void)window_ns;
    return -ENOSYS;
#endif
}
