/*
 * faults.c - demand paging made visible (course chapter 2.3).
 *
 * mmap() only reserves address space. Memory arrives page by page, at the first touch, through a
 * page fault. This file times every touch, one page at a time, and reads the fault counters of
 * getrusage() (ru_minflt: faults served without I/O, ru_majflt: faults that waited for I/O).
 *
 * fault_passes(): one anonymous private mapping of `pages` 4 KiB pages, then a list of passes over
 * it, each one of
 *
 *   OP_READ      read one byte of every page, timing each read;
 *   OP_WRITE     write one byte of every page, timing each write;
 *   OP_DONTNEED  madvise(MADV_DONTNEED): throw the pages away (the next touch faults again);
 *   OP_WILLNEED  madvise(MADV_WILLNEED): a hint (for anonymous memory it only reads back swap).
 *
 * What the kernel does on each first touch of private anonymous memory (mm/memory.c,
 * do_anonymous_page()):
 *   - first READ: map the shared, read-only zero page. A minor fault; nothing is allocated.
 *   - first WRITE: allocate a page, zero it, map it writable. A minor fault.
 *   - WRITE after a READ: the PTE points to the zero page, read-only: a second (write-protect)
 *     fault allocates the real page (do_wp_page(), a copy-on-write of the zero page).
 * `populate` = 1 maps with MAP_POPULATE: the kernel does all of that inside mmap(), so later
 * touches take no fault. `thp` = 1 asks for transparent huge pages (MADV_HUGEPAGE): one fault
 * then maps a whole 2 MiB page; 0 forces 4 KiB pages (MADV_NOHUGEPAGE).
 *
 * fault_file(): map a file (created by the caller) whose cached pages were dropped with
 * posix_fadvise(POSIX_FADV_DONTNEED), read one byte per page, timing each: when the page is no
 * longer in the page cache the read waits for the disk: a major fault.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "common.h"

#define PAGE 4096
#define HUGE_2M (2u * 1024 * 1024)

enum { OP_READ = 0, OP_WRITE = 1, OP_DONTNEED = 2, OP_WILLNEED = 3 };

static void faults_now(long *minflt, long *majflt)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *minflt = ru.ru_minflt;
    *majflt = ru.ru_majflt;
}

/* times: nops * pages entries (ns per touch; 0 for madvise passes).
 * minflt, majflt: nops entries each, the faults taken during each pass.
 * trace: (pages / every + 1) entries: cumulative minor faults of pass 0 after 0, every, 2*every ... pages. */
int fault_passes(size_t pages, int populate, int thp, const int *ops, int nops,
                 int64_t *times, long *minflt, long *majflt, long *trace, size_t every)
{
    if (pages < 1 || nops < 1 || every < 1)
        return -EINVAL;
    size_t bytes = pages * PAGE, span = bytes + HUGE_2M;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return -errno;
    char *buf = (char *)(((uintptr_t)raw + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
    int rc = 0;
    if (madvise(buf, bytes, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0 && thp) {
        rc = -errno;
        goto out;
    }
    if (populate) {
        /* MAP_POPULATE only at mmap() time: map the aligned range again, over the reservation. */
        void *p = mmap(buf, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED) {
            rc = -errno;
            goto out;
        }
        if (!thp)
            madvise(buf, bytes, MADV_NOHUGEPAGE);
    }
    volatile char *v = buf;
    for (int k = 0; k < nops; k++) {
        long mi0, ma0, mi1, ma1;
        int64_t *t = times + (size_t)k * pages;
        faults_now(&mi0, &ma0);
        if (ops[k] == OP_READ || ops[k] == OP_WRITE) {
            for (size_t i = 0; i < pages; i++) {
                if (k == 0 && i % every == 0) {
                    long a, b;
                    faults_now(&a, &b);
                    trace[i / every] = a - mi0;
                }
                int64_t t0 = now_ns();
                if (ops[k] == OP_READ)
                    (void)v[i * PAGE];
                else
                    v[i * PAGE] = 1;
                t[i] = now_ns() - t0;
            }
            if (k == 0 && pages % every == 0) {
                long a, b;
                faults_now(&a, &b);
                trace[pages / every] = a - mi0;
            }
        } else if (ops[k] == OP_DONTNEED || ops[k] == OP_WILLNEED) {
            if (madvise(buf, bytes, ops[k] == OP_DONTNEED ? MADV_DONTNEED : MADV_WILLNEED) != 0) {
                rc = -errno;
                goto out;
            }
            memset(t, 0, pages * sizeof *t);
        } else {
            rc = -EINVAL;
            goto out;
        }
        faults_now(&mi1, &ma1);
        minflt[k] = mi1 - mi0;
        majflt[k] = ma1 - ma0;
    }
out:
    munmap(raw, span);
    return rc;
}

/* Count the pages of [addr, addr + bytes) that are in the page cache / resident (mincore). */
static long resident_pages(void *addr, size_t bytes)
{
    size_t n = bytes / PAGE;
    unsigned char *vec = malloc(n);
    if (!vec)
        return -ENOMEM;
    long count = 0;
    if (mincore(addr, bytes, vec) != 0) {
        count = -errno;
    } else {
        for (size_t i = 0; i < n; i++)
            count += vec[i] & 1;
    }
    free(vec);
    return count;
}

/* path: an existing file of at least pages*4096 bytes, written by the caller.
 * drop = 1: fdatasync + posix_fadvise(DONTNEED) first. random = 1: madvise(MADV_RANDOM), so the
 * kernel reads exactly the faulting page (no readahead, no fault-around).
 * cached[0]: pages resident after the drop, before the reads; cached[1]: after the reads. */
int fault_file(const char *path, size_t pages, int drop, int random, int64_t *times,
               long *minflt, long *majflt, long *cached)
{
    if (pages < 1)
        return -EINVAL;
    size_t bytes = pages * PAGE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (drop) {
        if (fdatasync(fd) != 0 && errno != EINVAL && errno != EROFS) {   /* EINVAL: e.g. tmpfs, nothing to sync */
            rc = -errno;
            close(fd);
            return rc;
        }
        rc = posix_fadvise(fd, 0, (off_t)bytes, POSIX_FADV_DONTNEED);   /* returns the error, not -1 */
        if (rc != 0) {
            close(fd);
            return -rc;
        }
    }
    char *map = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);                                    /* the mapping keeps the file open */
    if (map == MAP_FAILED)
        return -errno;
    if (random && madvise(map, bytes, MADV_RANDOM) != 0) {
        rc = -errno;
        goto out;
    }
    cached[0] = resident_pages(map, bytes);
    long mi0, ma0, mi1, ma1;
    volatile char *v = map;
    faults_now(&mi0, &ma0);
    for (size_t i = 0; i < pages; i++) {
        int64_t t0 = now_ns();
        (void)v[i * PAGE];
        times[i] = now_ns() - t0;
    }
    faults_now(&mi1, &ma1);
    *minflt = mi1 - mi0;
    *majflt = ma1 - ma0;
    cached[1] = resident_pages(map, bytes);
out:
    munmap(map, bytes);
    return rc;
}
