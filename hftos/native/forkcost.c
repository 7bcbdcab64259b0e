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
 *
 * Who the parent is matters as much as the region: fork() copies the page tables of the whole
 * process. A Python interpreter with numpy is already 35-50 MiB resident, so "16 MiB" measured
 * from Python would really fork some 60 MiB. This file is therefore compiled twice, from this one
 * text: as a cffi module (the function fork_cost() below), and with -DHFTOS_FORKCOST_MAIN as a
 * small standalone program whose main() (at the bottom) is the measuring parent that
 * hftos.native.fork_cost() runs. That program is about 1 MiB resident before it maps the region.
 * Both run the same loop, time_creations().
 */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

extern char **environ;

enum method { FORK = 0, VFORK = 1, SPAWN = 2, FORK_EXEC = 3 };

#define HUGE_PAGE (2UL << 20)

/* What the parent's memory looked like just before the measurement. */
struct memory_report {
    int64_t rss_kb;            /* VmRSS of the whole process, from /proc/self/status */
    int64_t anon_huge_kb;      /* of which backed by transparent huge pages (smaps_rollup) */
};

/* The value of the line "<key> <number> kB" in a /proc file, or -1 if there is none. */
static int64_t proc_kb(const char *path, const char *key)
{
    char line[256];
    size_t keylen = strlen(key);
    int64_t kb = -1;
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;                           /* smaps_rollup needs Linux 4.14 */
    while (fgets(line, sizeof line, f)) {
        long long v;
        if (strncmp(line, key, keylen) == 0 && sscanf(line + keylen, " %lld kB", &v) == 1) {
            kb = v;
            break;
        }
    }
    fclose(f);
    return kb;
}

static void read_memory(struct memory_report *m)
{
    m->rss_kb = proc_kb("/proc/self/status", "VmRSS:");
    m->anon_huge_kb = proc_kb("/proc/self/smaps_rollup", "AnonHugePages:");
}

/* The memory region the parent makes resident before it measures. */
struct region {
    char *raw;                  /* what mmap returned */
    size_t len;                 /* and its length */
};

/* Map and touch `bytes` (thp: 1 = MADV_HUGEPAGE, 0 = MADV_NOHUGEPAGE). */
static int map_region(struct region *r, size_t bytes, int thp)
{
    /* Over-allocate by 2 MiB so the region can start on a 2 MiB boundary: a huge page can only
     * map an aligned 2 MiB range. The unused slack is never touched, so it costs no memory. */
    r->len = bytes + HUGE_PAGE;
    r->raw = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r->raw == MAP_FAILED)
        return -errno;
    char *start = (char *)(((uintptr_t)r->raw + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
    if (madvise(start, bytes, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) {
        int err = errno;                     /* EINVAL: kernel built without THP */
        munmap(r->raw, r->len);
        return -err;
    }
    memset(start, 1, bytes);                 /* fault every page in: now it is resident */
    return 0;
}

static void unmap_region(struct region *r)
{
    munmap(r->raw, r->len);
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

/* The measurement loop: `warmup` untimed creations, then out_ns[i] = duration of the i-th of `iters`. */
static int time_creations(int method, int warmup, int iters, int64_t *out_ns)
{
    int rc = 0;
    for (int i = -warmup; rc == 0 && i < iters; i++) {
        int64_t t0 = now_ns();
        rc = create_one(method);
        int64_t t1 = now_ns();
        if (i >= 0)
            out_ns[i] = t1 - t0;
    }
    return rc;
}

/*
 * The cffi entry point: map and touch `bytes`, then time warmup + iters creations from the calling
 * process; out_ns[i] = the i-th measured one. mem reports the resident memory just before.
 */
int fork_cost(int method, size_t bytes, int thp, int warmup, int iters, int64_t *out_ns,
              struct memory_report *mem)
{
    struct region r;
    int rc = map_region(&r, bytes, thp);
    if (rc != 0)
        return rc;
    read_memory(mem);
    rc = time_creations(method, warmup, iters, out_ns);
    unmap_region(&r);
    return rc;
}

#ifdef HFTOS_FORKCOST_MAIN
/*
 * The standalone measuring parent:
 *
 *     forkcost METHOD BYTES THP WARMUP ITERS > samples.bin
 *
 * METHOD is fork, vfork, posix_spawn or fork_exec; THP is 1 (MADV_HUGEPAGE) or 0
 * (MADV_NOHUGEPAGE). It writes native-endian int64 values to stdout: VmRSS in KiB and
 * AnonHugePages in KiB (-1 if unknown), both read after the region is resident and before the
 * first creation, then the ITERS durations in ns. On an error it prints one line ending in
 * "[errno N]" to stderr and exits with status 1. If HFTOS_NATIVE_ALARM is set, SIGALRM ends
 * the program after that many seconds (a last-resort bound should its caller vanish).
 */
#include <stdlib.h>

#define CHUNK 512               /* samples timed between two writes to stdout */

static int64_t chunk[CHUNK];

static int fail(const char *what, int err)
{
    fprintf(stderr, "forkcost: %s: %s [errno %d]\n", what, strerror(err), err);
    return 1;
}

/* A decimal integer in [lo, hi], or -1 (all our arguments are non-negative). */
static long long parse(const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    return v;
}

int main(int argc, char **argv)
{
    static const char *const names[] = { "fork", "vfork", "posix_spawn", "fork_exec" };
    int method = -1;
    for (int m = 0; argc == 6 && m < 4; m++)
        if (strcmp(argv[1], names[m]) == 0)
            method = m;
    long long bytes = argc == 6 ? parse(argv[2], 1, (long long)(SIZE_MAX / 2)) : -1;
    long long thp = argc == 6 ? parse(argv[3], 0, 1) : -1;
    long long warmup = argc == 6 ? parse(argv[4], 0, 1000000) : -1;
    long long iters = argc == 6 ? parse(argv[5], 1, 1000000000) : -1;
    if (method < 0 || bytes < 0 || thp < 0 || warmup < 0 || iters < 0) {
        fprintf(stderr, "usage: %s fork|vfork|posix_spawn|fork_exec BYTES 0|1 WARMUP ITERS > samples.bin\n",
                argv[0]);
        return fail("bad arguments", EINVAL);
    }
    if (isatty(STDOUT_FILENO))
        return fail("stdout is a terminal; redirect the binary samples to a file or a pipe", ENOTTY);
    const char *alarm_s = getenv("HFTOS_NATIVE_ALARM");
    if (alarm_s != NULL && parse(alarm_s, 1, 1000000) > 0)
        alarm((unsigned)parse(alarm_s, 1, 1000000));

    struct region r;
    int rc = map_region(&r, (size_t)bytes, (int)thp);
    if (rc != 0)
        return fail(thp ? "mmap/madvise(MADV_HUGEPAGE)" : "mmap/madvise(MADV_NOHUGEPAGE)", -rc);
    memset(chunk, 0, sizeof chunk);          /* make the sample buffer resident before reading RSS */
    struct memory_report mem;
    read_memory(&mem);
    int64_t header[2] = { mem.rss_kb, mem.anon_huge_kb };
    rc = write_all(STDOUT_FILENO, header, sizeof header);
    /* Time in chunks so a large ITERS needs no large buffer (which would grow the parent as it
     * fills); the writes happen between chunks, outside the timed calls. */
    for (long long done = 0; rc == 0 && done < iters; done += CHUNK) {
        int k = iters - done < CHUNK ? (int)(iters - done) : CHUNK;
        rc = time_creations(method, done == 0 ? (int)warmup : 0, k, chunk);
        if (rc != 0)
            return fail(names[method], -rc);
        rc = write_all(STDOUT_FILENO, chunk, (size_t)k * sizeof chunk[0]);
    }
    if (rc != 0)
        return fail("write to stdout", -rc);
    unmap_region(&r);
    return 0;
}
#endif /* HFTOS_FORKCOST_MAIN */
