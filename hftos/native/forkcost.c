/*
 * forkcost.c - how long does it take to create a process, and why does it depend on memory?
 *
 * Course chapter 1.2. The parent first maps `bytes` of anonymous memory and touches every page,
 * so it is resident. Then it times `iters` process creations, each one from start to reaped:
 *
 *   FORK       fork(); child _exit(0); parent waitpid()
 *   VFORK      vfork(); child _exit(0); parent waitpid()
 *   SPAWN      posix_spawn("/bin/true"); waitpid()
 *   FORK_EXEC  fork(); child execve("/bin/true"); parent waitpid()
 *
 * Copy-on-write means fork() does not copy the *data*, but it still copies the page tables:
 * one entry per resident 4 KiB page (erratum E08). So fork() time grows linearly with the
 * parent's resident memory. With transparent huge pages (MADV_HUGEPAGE) one PMD entry maps
 * 2 MiB and there is 512 times less to copy. vfork() and posix_spawn() (glibc: clone with
 * CLONE_VM|CLONE_VFORK) share the parent's memory instead, so they do not depend on it.
 */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

extern char **environ;

enum method { FORK = 0, VFORK = 1, SPAWN = 2, FORK_EXEC = 3 };

#define HUGE_PAGE (2UL << 20)

/* What the parent's memory looked like during the measurement, from /proc/self/smaps_rollup. */
struct memory_report {
    int64_t rss_kb;            /* resident memory of the whole process */
    int64_t anon_huge_kb;      /* of which backed by transparent huge pages */
};

static void read_rollup(struct memory_report *m)
{
    char line[256];
    FILE *f = fopen("/proc/self/smaps_rollup", "re");
    m->rss_kb = m->anon_huge_kb = -1;        /* -1: not available (kernel < 4.14) */
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f)) {
        long long kb;
        if (sscanf(line, "Rss: %lld kB", &kb) == 1)
            m->rss_kb = kb;
        else if (sscanf(line, "AnonHugePages: %lld kB", &kb) == 1)
            m->anon_huge_kb = kb;
    }
    fclose(f);
}

/* One process creation, from the call until the child has been reaped. */
static int create_one(int method)
{
    char *const argv[] = { "true", NULL };
    pid_t pid;
    switch (method) {
    case FORK:
        pid = fork();
        if (pid == 0)
            _exit(0);
        break;
    case VFORK:
        /* The child borrows the parent's memory and the parent is suspended until the child
         * calls _exit or execve; anything else in the child is undefined behaviour. */
        pid = vfork();
        if (pid == 0)
            _exit(0);
        break;
    case SPAWN: {
        int err = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
        if (err != 0)
            return -err;                     /* posix_spawn returns the error, not -1 */
        break;
    }
    case FORK_EXEC:
        pid = fork();
        if (pid == 0) {
            execve("/bin/true", argv, environ);
            _exit(errno);                    /* only reached if execve failed */
        }
        break;
    default:
        return -EINVAL;
    }
    if (pid < 0)
        return -errno;
    return child_status(pid);
}

/*
 * Map and touch `bytes` (thp: 1 = MADV_HUGEPAGE, 0 = MADV_NOHUGEPAGE), then time warmup + iters
 * creations; out_ns[i] = the i-th measured one. mem reports the resident memory seen meanwhile.
 */
int fork_cost(int method, size_t bytes, int thp, int warmup, int iters, int64_t *out_ns,
              struct memory_report *mem)
{
    /* Over-allocate by 2 MiB so the region can start on a 2 MiB boundary: a huge page can only
     * map an aligned 2 MiB range. The unused slack is never touched, so it costs no memory. */
    size_t len = bytes + HUGE_PAGE;
    char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return -errno;
    char *region = (char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
    int rc = 0;
    if (madvise(region, bytes, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0)
        rc = -errno;                          /* EINVAL: kernel built without THP */
    if (rc == 0) {
        memset(region, 1, bytes);             /* fault every page in: now it is resident */
        read_rollup(mem);
        for (int i = -warmup; rc == 0 && i < iters; i++) {
            int64_t t0 = now_ns();
            rc = create_one(method);
            int64_t t1 = now_ns();
            if (i >= 0)
                out_ns[i] = t1 - t0;
        }
    }
    munmap(raw, len);
    return rc;
}
