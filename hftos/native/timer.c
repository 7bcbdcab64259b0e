/*
 * timer.c - how late does a sleeping thread wake up?
 *
 * Course chapter 1.3 (real-time scheduling). The measurement cyclictest makes: a thread asks
 * to be woken at an absolute time on CLOCK_MONOTONIC (clock_nanosleep with TIMER_ABSTIME, so
 * no drift accumulates), reads the clock as soon as it runs again, and records how late it
 * is. The lateness is the sum of timer slack and hrtimer expiry, the wake-up (an IPI if the
 * timer fired on another CPU, an idle-state exit), and the wait for the CPU if something else
 * is running there. The last part is what scheduling policy changes: under SCHED_OTHER the
 * woken thread waits for its fair share; under SCHED_FIFO it preempts a SCHED_OTHER hog at
 * once.
 *
 * Timer slack: the kernel may defer a SCHED_OTHER thread's timer by its "timer slack" (50 us by
 * default, /proc/<pid>/timerslack_ns) to batch wake-ups; cyclictest and latency-critical code set
 * it to 1 ns with prctl(PR_SET_TIMERSLACK). Real-time threads have no slack.
 *
 * Optional hog: a child process pinned to the same CPU that spins until it is killed (and in
 * any case for at most `hog_limit_ns`), so the sleeper competes for its CPU.
 *
 * Policy: 0 = leave as is (SCHED_OTHER), 1 = SCHED_FIFO at `rt_priority`. The change applies
 * to this helper process only and needs CAP_SYS_NICE or RLIMIT_RTPRIO (else -EPERM). The
 * sleeper blocks between wake-ups, so it cannot monopolise the CPU; the hog stays SCHED_OTHER.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>

#include "common.h"

static void spin_until(int64_t deadline)
{
    while (now_ns() < deadline)
        cpu_relax();
}

/* Start the hog: a child pinned to `cpu` that spins until killed or until `deadline`. */
static pid_t start_hog(int cpu, int64_t deadline)
{
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive the measuring process */
        if (pin_to_cpu(cpu) != 0)
            _exit(EINVAL);
        spin_until(deadline);
        _exit(0);
    }
    return pid;   /* -1 on failure, errno set */
}

int timer_wakeup(int cpu, int policy, int rt_priority, long slack_ns, int64_t interval_ns, int warmup,
                 int iters, int hog, int64_t hog_limit_ns, int64_t *late_ns)
{
    int rc = pin_to_cpu(cpu);
    if (rc != 0)
        return rc;
    /* Timer slack lets the kernel fire a SCHED_OTHER thread's timer up to slack_ns late, to batch
     * wake-ups (default 50 us; real-time threads get none). slack_ns > 0 sets it for this thread. */
    if (slack_ns > 0 && prctl(PR_SET_TIMERSLACK, (unsigned long)slack_ns, 0, 0, 0) != 0)
        return -errno;
    /* The hog is forked *before* the policy change: a child inherits its parent's policy, and a
     * SCHED_FIFO hog on the sleeper's CPU would starve the sleeper (and everything else there). */
    pid_t hog_pid = -1;
    if (hog) {
        hog_pid = start_hog(cpu, now_ns() + hog_limit_ns);
        if (hog_pid < 0)
            return -errno;
    }
    if (policy == 1) {
        /* SCHED_RESET_ON_FORK: anything this process forks later starts as SCHED_OTHER again. */
        struct sched_param sp = { .sched_priority = rt_priority };
        if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) != 0)
            rc = -errno;
    }

    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (int i = -warmup; rc == 0 && i < iters; i++) {
        next.tv_nsec += interval_ns;
        while (next.tv_nsec >= NS_PER_SEC) {
            next.tv_nsec -= NS_PER_SEC;
            next.tv_sec++;
        }
        int err;
        while ((err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL)) == EINTR)
            ;
        if (err != 0) {
            rc = -err;
            break;
        }
        int64_t woke = now_ns();
        if (i >= 0)
            late_ns[i] = woke - ((int64_t)next.tv_sec * NS_PER_SEC + next.tv_nsec);
    }

    if (hog_pid > 0) {
        kill(hog_pid, SIGKILL);
        int hog_rc = child_status(hog_pid);
        if (rc == 0 && hog_rc != -ECHILD && hog_rc != 0)   /* -ECHILD: killed, as intended */
            rc = hog_rc;
    }
    return rc;
}
