/*
 * rt.c - real-time policies and CPU affinity, measured (course chapter 1.3).
 *
 *   rt_thread_setup()  creates one thread two ways and lets the thread report, as its very first
 *                      action, which CPU it runs on and with which policy and priority:
 *                      mode 0 is the source text's way (pthread_create, then pin and raise the
 *                      priority from outside: the thread starts unpinned at the default policy);
 *                      mode 1 puts CPU, policy and priority in the thread attributes, so the
 *                      thread never runs any other way (erratum E40).
 *   rr_interleave()    two (or more) spinning threads pinned to ONE CPU at the same SCHED_RR
 *                      priority: each records the gaps in which it did not run, which are the
 *                      other thread's time slices (the RR quantum, 100 ms by default).
 *   spin_jitter()      a busy loop that records every gap in its own execution above a threshold
 *                      and counts CPU changes (sched_getcpu): pinned versus unpinned.
 *
 * Safety: every loop ends at a deadline computed before it starts; the spinning threads run
 * SCHED_RR only for that long (a few hundred ms), with SCHED_RESET_ON_FORK, and the Python
 * wrapper checks the RT throttling / fair-server settings before it asks for SCHED_RR. Call these
 * only in a helper process: they pin threads and change scheduling policy.
 */
#include <pthread.h>
#include <string.h>

#include "common.h"

/* ---------------------------------------------------------------- a start gate for threads */

/* Threads block here (not spin) until the creator says go or abort. A pthread barrier cannot be
 * cancelled if the second pthread_create fails; a gate can. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int state;                 /* 0 wait, 1 go, 2 abort */
};

static void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->state = 0;
}

static void gate_open(struct gate *g, int state)
{
    pthread_mutex_lock(&g->lock);
    g->state = state;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static int gate_wait(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    while (g->state == 0)
        pthread_cond_wait(&g->cond, &g->lock);
    int state = g->state;
    pthread_mutex_unlock(&g->lock);
    return state;
}

static void gate_destroy(struct gate *g)
{
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
}

/* ---------------------------------------------------------------- creating an RT thread right */

/*
 * Create a thread that starts life on `cpu` (-1: anywhere) with `policy` and `priority` already
 * set (erratum E40). Everything goes into the attributes *before* pthread_create:
 *   - pthread_attr_setaffinity_np: the thread's first instruction already runs on `cpu`;
 *   - PTHREAD_EXPLICIT_SCHED: without it the new thread inherits the creator's policy and the
 *     policy/priority attributes are silently ignored;
 *   - one place sets the priority, so nothing can race to overwrite it.
 * Returns 0 or -errno: -EPERM from pthread_create if this process may not use an RT policy
 * (needs CAP_SYS_NICE or RLIMIT_RTPRIO >= priority, erratum E39), -EINVAL for a CPU it may not use.
 */
static int start_thread(pthread_t *tid, int cpu, int policy, int priority, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    struct sched_param sp;
    memset(&sp, 0, sizeof sp);
    sp.sched_priority = priority;          /* 0 for SCHED_OTHER, 1..99 for SCHED_FIFO/SCHED_RR */
    int err = pthread_attr_init(&attr);
    if (err != 0)
        return -err;
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        err = pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    }
    if (err == 0)
        err = pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    if (err == 0)
        err = pthread_attr_setschedpolicy(&attr, policy);
    if (err == 0)
        err = pthread_attr_setschedparam(&attr, &sp);
    if (err == 0)
        err = pthread_create(tid, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return -err;
}

/* ---------------------------------------------------------------- 1. what a new thread sees */

/* What a thread observes about itself: CPU, policy, priority, and whether its affinity mask is
 * exactly {cpu}. */
struct seen {
    int64_t cpu, policy, priority, pinned;
};

struct setup_arg {
    int cpu;
    struct gate *gate;
    struct seen first, later;
};

static void observe(int cpu, struct seen *s)
{
    int policy;
    struct sched_param sp;
    cpu_set_t set;
    s->cpu = sched_getcpu();
    if (pthread_getschedparam(pthread_self(), &policy, &sp) == 0) {
        s->policy = policy;
        s->priority = sp.sched_priority;
    } else {
        s->policy = s->priority = -1;
    }
    s->pinned = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) == 1 && CPU_ISSET(cpu, &set);
}

static void *setup_thread(void *p)
{
    struct setup_arg *a = p;
    observe(a->cpu, &a->first);        /* the very first thing this thread does */
    gate_wait(a->gate);                /* until the creator has finished its setup calls */
    observe(a->cpu, &a->later);
    return NULL;
}

/* One thread, created in `mode`; its two observations go to *first and *later. */
static int setup_once(int mode, int cpu, int policy, int priority, struct seen *first, struct seen *later,
                      int *setup_err)
{
    struct gate gate;
    gate_init(&gate);
    struct setup_arg arg = { cpu, &gate, { -1, -1, -1, -1 }, { -1, -1, -1, -1 } };
    pthread_t tid;
    int rc;
    *setup_err = 0;
    if (mode == 1) {
        rc = start_thread(&tid, cpu, policy, priority, setup_thread, &arg);
    } else {                                   /* the source text's order */
        rc = -pthread_create(&tid, NULL, setup_thread, &arg);
        if (rc == 0) {
            cpu_set_t set;
            struct sched_param sp;
            memset(&sp, 0, sizeof sp);
            sp.sched_priority = priority;
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            *setup_err = pthread_setaffinity_np(tid, sizeof set, &set);
            int err = pthread_setschedparam(tid, policy, &sp);
            if (*setup_err == 0)
                *setup_err = err;
        }
    }
    if (rc == 0) {
        gate_open(&gate, 1);
        pthread_join(tid, NULL);
        *first = arg.first;
        *later = arg.later;
    }
    gate_destroy(&gate);
    return rc;
}

/*
 * Create `reps` threads one after the other, each in `mode`:
 *   mode 0: the source text's order: pthread_create with default attributes, then
 *           pthread_setaffinity_np and pthread_setschedparam from the creator;
 *   mode 1: start_thread(): CPU, policy and priority in the attributes.
 * out[0..3]  the first thread's first observation (cpu, policy, priority, pinned),
 * out[4..7]  its observation after the creator's setup,
 * out[8]     errno of the creator's setup calls (mode 0: 0 or EPERM), out[9] mode, out[10] reps,
 * out[11..13] how many threads' FIRST observation was: not pinned / not at `policy`+`priority` /
 *            on a CPU other than `cpu`; out[14..15] the same two counts AFTER the setup.
 * Returns 0 or -errno (mode 1 returns -EPERM when the RT policy is not allowed).
 */
int rt_thread_setup(int mode, int cpu, int policy, int priority, int reps, int64_t *out)
{
    if ((mode != 0 && mode != 1) || reps < 1 || reps > 100000)
        return -EINVAL;
    for (int k = 0; k < 16; k++)
        out[k] = 0;
    for (int r = 0; r < reps; r++) {
        struct seen first, later;
        int setup_err;
        int rc = setup_once(mode, cpu, policy, priority, &first, &later, &setup_err);
        if (rc != 0)
            return rc;
        if (r == 0) {
            int64_t v[8] = { first.cpu, first.policy, first.priority, first.pinned,
                             later.cpu, later.policy, later.priority, later.pinned };
            for (int k = 0; k < 8; k++)
                out[k] = v[k];
            out[8] = setup_err;
        }
        out[11] += !first.pinned;
        out[12] += first.policy != policy || first.priority != priority;
        out[13] += first.cpu != cpu;
        out[14] += !later.pinned;
        out[15] += later.policy != policy || later.priority != priority;
    }
    out[9] = mode;
    out[10] = reps;
    return 0;
}

/* ---------------------------------------------------------------- 2. SCHED_RR on one CPU */

struct spinner {
    int policy, priority;
    struct gate *gate;
    const int64_t *end_at;         /* written by the creator before the gate opens */
    int64_t threshold;
    int max_gaps;
    int64_t *gaps;                 /* max_gaps pairs (start, end) */
    int64_t first, last, ngaps, dropped, quantum_ns, loops, rc;
};

static void *rr_spinner(void *p)
{
    struct spinner *s = p;
    /* The policy came from the attributes; this re-applies it with SCHED_RESET_ON_FORK, so that a
     * child this thread might fork would start as SCHED_OTHER (nothing here forks; it is the habit). */
    if (s->policy != SCHED_OTHER) {
        struct sched_param sp;
        memset(&sp, 0, sizeof sp);
        sp.sched_priority = s->priority;
        if (sched_setscheduler(0, s->policy | SCHED_RESET_ON_FORK, &sp) != 0)
            s->rc = -errno;
    }
    struct timespec q = { 0, 0 };
    s->quantum_ns = sched_rr_get_interval(0, &q) == 0 ? (int64_t)q.tv_sec * NS_PER_SEC + q.tv_nsec : -1;
    if (gate_wait(s->gate) != 1 || s->rc != 0)
        return NULL;
    const int64_t end = *s->end_at;
    int64_t prev = now_ns();
    s->first = prev;
    while (prev < end) {
        int64_t t = now_ns();
        if (t - prev > s->threshold) {         /* we were not running from prev to t */
            if (s->ngaps < s->max_gaps) {
                s->gaps[2 * s->ngaps] = prev;
                s->gaps[2 * s->ngaps + 1] = t;
                s->ngaps++;
            } else {
                s->dropped++;
            }
        }
        prev = t;
        s->loops++;
    }
    s->last = prev;
    return NULL;
}

/*
 * nthreads (1..8) threads pinned to `cpu` at `policy`/`priority` spin until start + duration_ns.
 * Thread k stores up to max_gaps (start, end) pairs in gaps[k * 2 * max_gaps ...] and 8 numbers in
 * info[k * 8 ...]: first run, last run, gaps stored, gaps dropped, its quantum (sched_rr_get_interval,
 * ns; 0 for SCHED_FIFO), loop count, start time, 0. Times are CLOCK_MONOTONIC ns.
 * Returns 0, -EPERM if the policy is not allowed, or another -errno.
 */
int rr_interleave(int cpu, int policy, int priority, int nthreads, int64_t duration_ns, int64_t threshold_ns,
                  int max_gaps, int64_t *gaps, int64_t *info)
{
    if (nthreads < 1 || nthreads > 8 || duration_ns <= 0 || duration_ns > 5 * NS_PER_SEC || threshold_ns <= 0
        || max_gaps < 1 || cpu < 0)
        return -EINVAL;
    struct gate gate;
    gate_init(&gate);
    struct spinner s[8];
    pthread_t tid[8];
    int64_t end_at = 0;
    int started = 0, rc = 0;
    memset(s, 0, sizeof s);
    for (int k = 0; k < nthreads; k++) {
        s[k].policy = policy;
        s[k].priority = priority;
        s[k].gate = &gate;
        s[k].end_at = &end_at;
        s[k].threshold = threshold_ns;
        s[k].max_gaps = max_gaps;
        s[k].gaps = gaps + (int64_t)k * 2 * max_gaps;
    }
    for (; started < nthreads; started++) {
        rc = start_thread(&tid[started], cpu, policy, priority, rr_spinner, &s[started]);
        if (rc != 0)
            break;
    }
    int64_t start = now_ns();
    end_at = start + duration_ns;
    gate_open(&gate, rc == 0 ? 1 : 2);     /* abort releases the threads already started */
    for (int k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
    gate_destroy(&gate);
    for (int k = 0; rc == 0 && k < nthreads; k++)
        if (s[k].rc != 0)
            rc = (int)s[k].rc;
    if (rc != 0)
        return rc;
    for (int k = 0; k < nthreads; k++) {
        int64_t *o = info + 8 * k;
        o[0] = s[k].first;
        o[1] = s[k].last;
        o[2] = s[k].ngaps;
        o[3] = s[k].dropped;
        o[4] = s[k].quantum_ns;
        o[5] = s[k].loops;
        o[6] = start;
        o[7] = 0;
    }
    return 0;
}

/* ---------------------------------------------------------------- 3. jitter of a spin loop */

/*
 * Spin for duration_ns on `cpu` (-1: wherever the scheduler puts us), reading the clock and the
 * current CPU (sched_getcpu, served by the vDSO or rdpid) every iteration. Every gap longer than
 * threshold_ns is time this loop did not run: an interrupt, another task, the hypervisor, or a
 * migration. Stores up to max_gaps gaps (length gap_ns[i], start gap_at[i] relative to the start,
 * gap_moved[i] = 1 if the CPU was different after the gap).
 * info: [0] gaps seen, [1] gaps stored, [2] CPU changes, [3] loops, [4] elapsed ns,
 *       [5] first CPU, [6] last CPU, [7] bitmask of CPUs seen (CPUs 0..62).
 */
int spin_jitter(int cpu, int64_t duration_ns, int64_t threshold_ns, int max_gaps, int64_t *gap_ns, int64_t *gap_at,
                int64_t *gap_moved, int64_t *info)
{
    if (duration_ns <= 0 || duration_ns > 10 * NS_PER_SEC || threshold_ns <= 0 || max_gaps < 1)
        return -EINVAL;
    int rc = pin_to_cpu(cpu);
    if (rc != 0)
        return rc;
    int64_t seen = 0, stored = 0, moves = 0, loops = 0, mask = 0;
    int where = sched_getcpu(), first_cpu = where;
    int64_t start = now_ns(), end = start + duration_ns, prev = start;
    while (prev < end) {
        int64_t t = now_ns();
        int now_cpu = sched_getcpu();
        int moved = now_cpu != where;
        if (moved) {
            moves++;
            where = now_cpu;
        }
        if (now_cpu >= 0 && now_cpu < 63)
            mask |= (int64_t)1 << now_cpu;
        if (t - prev > threshold_ns) {
            seen++;
            if (stored < max_gaps) {
                gap_ns[stored] = t - prev;
                gap_at[stored] = prev - start;
                gap_moved[stored] = moved;
                stored++;
            }
        }
        prev = t;
        loops++;
    }
    info[0] = seen;
    info[1] = stored;
    info[2] = moves;
    info[3] = loops;
    info[4] = prev - start;
    info[5] = first_cpu;
    info[6] = where;
    info[7] = mask;
    return 0;
}
