/*
 * alloc.c - what malloc() and free() cost, and what an allocation costs later (course chapter 2.5).
 *
 * glibc's malloc serves a request in one of three ways:
 *   - small sizes (up to 1032 bytes on 64-bit) from the per-thread cache (tcache, glibc >= 2.26): a few
 *     instructions, no lock;
 *   - larger sizes below the mmap threshold from an arena's free lists or by carving the top of the heap
 *     (grown with brk() for the main arena, with mmap'ed heaps for the others);
 *   - sizes at or above the mmap threshold (M_MMAP_THRESHOLD, 128 KiB at start) by a fresh mmap(), and free()
 *     gives that memory straight back with munmap(). Both are system calls, and every page of the new mapping
 *     faults on first touch.
 * The threshold is *dynamic*: when free() releases an mmap'ed chunk larger than the current threshold (and at most
 * DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit), glibc raises the threshold to that chunk's size, so the next
 * allocation of that size comes from the heap. Setting M_MMAP_THRESHOLD with mallopt() switches that off.
 *
 * alloc_sweep() times malloc() and free() separately for each size, touching one byte of each block between them
 * (not timed) so the allocation cannot be optimised away and an mmap'ed block takes its first-touch fault. It also
 * counts minor faults per size (getrusage): about one per iteration means every block was a fresh mapping, and it
 * keeps the very first malloc() of each size apart (with the dynamic threshold, that one may be the only mmap).
 * It calls mallopt() when asked, so it runs in a helper process, never in the notebook kernel.
 *
 * alloc_untouched() mallocs a large block and reports virtual size and resident size (VmSize, VmRSS from
 * /proc/self/status) before, after malloc, and after touching every page, timing each page's first and second
 * write: the difference is the cost of demand paging paid at first touch, not at malloc().
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common.h"

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

struct sweep {
    const size_t *sizes;
    int nsizes, warmup, iters;
    int64_t *malloc_ns, *free_ns, *first_ns;
    double *faults;
    int rc;
};

static void *sweep_thread(void *arg)
{
    struct sweep *w = arg;
    for (int s = 0; s < w->nsizes; s++) {
        size_t size = w->sizes[s];
        long f0 = 0;
        for (int i = -1 - w->warmup; i < w->iters; i++) {
            if (i == 0)
                f0 = minflt();
            int64_t t0 = now_ns();
            char *volatile p = malloc(size);
            int64_t t1 = now_ns();
            if (p == NULL) {
                w->rc = -ENOMEM;
                return NULL;
            }
            p[0] = (char)i;                      /* not timed: the first-touch fault of a fresh mapping */
            int64_t t2 = now_ns();
            free(p);
            int64_t t3 = now_ns();
            if (i == -1 - w->warmup)
                w->first_ns[s] = t1 - t0;        /* the very first malloc() of this size */
            if (i >= 0) {
                w->malloc_ns[(size_t)s * (size_t)w->iters + (size_t)i] = t1 - t0;
                w->free_ns[(size_t)s * (size_t)w->iters + (size_t)i] = t3 - t2;
            }
        }
        w->faults[s] = (double)(minflt() - f0) / w->iters;
    }
    return NULL;
}

/* The sweep runs in a new thread: glibc gives a new thread its own arena, so the measurement starts from an empty
 * heap instead of whatever free space the calling process's heap happens to hold (free space that fits is used
 * before any mmap, whatever the threshold).
 * fixed_threshold > 0: mallopt(M_MMAP_THRESHOLD, fixed_threshold) first (turns the dynamic threshold off).
 * malloc_ns and free_ns hold nsizes * iters samples, size-major; first_ns[i] is the first malloc() of size i
 * (before warm-up); faults[i] is minor faults per iteration. */
int alloc_sweep(const size_t *sizes, int nsizes, int warmup, int iters, long fixed_threshold,
                int64_t *malloc_ns, int64_t *free_ns, int64_t *first_ns, double *faults)
{
    if (nsizes < 1 || iters < 1 || warmup < 0)
        return -EINVAL;
    for (int s = 0; s < nsizes; s++)
        if (sizes[s] == 0)
            return -EINVAL;
    if (fixed_threshold > 0 && mallopt(M_MMAP_THRESHOLD, (int)fixed_threshold) != 1)
        return -EINVAL;
    struct sweep w = {sizes, nsizes, warmup, iters, malloc_ns, free_ns, first_ns, faults, 0};
    pthread_t t;
    int rc = pthread_create(&t, NULL, sweep_thread, &w);
    if (rc != 0)
        return -rc;
    pthread_join(t, NULL);
    return w.rc;
}

struct vm_snapshot { int64_t vmsize_kb, vmrss_kb; };
struct untouched_report {
    struct vm_snapshot before, after_malloc, after_touch;
    int64_t malloc_ns, minflt_malloc, minflt_touch;
};

static int snapshot(struct vm_snapshot *s)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    if (f == NULL)
        return -errno;
    s->vmsize_kb = s->vmrss_kb = -1;
    while (fgets(line, sizeof line, f)) {
        long long v;
        if (sscanf(line, "VmSize: %lld", &v) == 1)
            s->vmsize_kb = v;
        else if (sscanf(line, "VmRSS: %lld", &v) == 1)
            s->vmrss_kb = v;
    }
    fclose(f);
    return (s->vmsize_kb < 0 || s->vmrss_kb < 0) ? -EIO : 0;
}

/* first_ns[k], second_ns[k]: time of the first and second one-byte write to page k (npages = bytes / page). */
int alloc_untouched(size_t bytes, struct untouched_report *r, int64_t *first_ns, int64_t *second_ns)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t npages = bytes / (size_t)page;
    int rc;
    if (npages == 0)
        return -EINVAL;
    memset(r, 0, sizeof *r);
    /* touch the sample arrays now, so their own first-touch faults do not land inside the measurement */
    memset(first_ns, 0, npages * sizeof *first_ns);
    memset(second_ns, 0, npages * sizeof *second_ns);
    if ((rc = snapshot(&r->before)) != 0)
        return rc;
    long f0 = minflt();
    int64_t t0 = now_ns();
    char *p = malloc(bytes);                     /* above the mmap threshold: a fresh, untouched mapping */
    r->malloc_ns = now_ns() - t0;
    if (p == NULL)
        return -ENOMEM;
    r->minflt_malloc = minflt() - f0;
    if ((rc = snapshot(&r->after_malloc)) != 0)
        goto out;
    f0 = minflt();
    for (size_t k = 0; k < npages; k++) {
        int64_t a = now_ns();
        ((volatile char *)p)[k * (size_t)page] = 1;   /* first write: page fault, zeroed page mapped */
        first_ns[k] = now_ns() - a;
    }
    r->minflt_touch = minflt() - f0;
    for (size_t k = 0; k < npages; k++) {
        int64_t a = now_ns();
        ((volatile char *)p)[k * (size_t)page] = 2;   /* second write: the page is present, no fault */
        second_ns[k] = now_ns() - a;
    }
    rc = snapshot(&r->after_touch);
out:
    free(p);
    return rc;
}
