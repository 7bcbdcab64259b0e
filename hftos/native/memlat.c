/*
 * memlat.c - memory latency by pointer chasing (course chapter 2.2).
 *
 * A buffer of `bytes` is cut into 64-byte nodes (one cache line each). Every node holds the
 * address of the next node to visit, and the nodes form ONE cycle through the whole buffer.
 * The timed loop is just
 *
 *     p = *p;            (repeated `accesses` times)
 *
 * Each load needs the result of the previous one, so the CPU cannot overlap them: the time per
 * step is the latency of one load from wherever the node lives (L1, L2, L3, DRAM), plus a TLB
 * miss and page walk when the node's page is not in the TLB. The order of the cycle decides
 * what the hardware can guess:
 *
 *   pattern 0 "random":     a random single cycle (Sattolo's algorithm): no prefetcher can
 *                           predict it; beyond the TLB's reach nearly every step is a TLB miss;
 *   pattern 1 "sequential": node i -> node i+1: the prefetchers stream the lines in ahead;
 *   pattern 2 "page":       a 4 KiB stride: line 0 of page 0, line 0 of page 1, ..., then line 1
 *                           of every page, ...: every step touches a different page, so beyond
 *                           the TLB's reach every step misses the TLB, and (page-crossing)
 *                           prefetch helps little.
 *
 * The buffer is anonymous memory, touched completely (one full lap of the cycle) before timing,
 * so no page fault is timed. `thp` = 0 asks for 4 KiB pages (madvise MADV_NOHUGEPAGE), 1 for
 * transparent huge pages (MADV_HUGEPAGE, effective when THP is "madvise" or "always").
 *
 * Output: out[r] = mean ns per step over `accesses` steps, for r = 0 .. samples-1.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

#define LINE 64
#define PAGE_4K 4096
#define HUGE_2M (2u * 1024 * 1024)

struct node {
    struct node *next;
    char pad[LINE - sizeof(struct node *)];
};

/* Small deterministic generator (xorshift64*): same seed, same cycle, on every host. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Link the n nodes into one cycle in the order the pattern asks for. */
static void build_cycle(struct node *nodes, size_t n, int pattern, uint64_t seed)
{
    if (pattern == 0) {
        /* Sattolo's algorithm on the successor array: a uniformly random permutation with a
         * single cycle. The successor index is kept in the node's pointer field first. */
        for (size_t i = 0; i < n; i++)
            nodes[i].next = (struct node *)(uintptr_t)i;
        uint64_t s = seed ? seed : 0x9E3779B97F4A7C15ULL;
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(rng_next(&s) % i);          /* j < i: Sattolo, not Fisher-Yates */
            struct node *t = nodes[i].next;
            nodes[i].next = nodes[j].next;
            nodes[j].next = t;
        }
        for (size_t i = 0; i < n; i++)
            nodes[i].next = &nodes[(uintptr_t)nodes[i].next];
    } else if (pattern == 1) {
        for (size_t i = 0; i < n; i++)
            nodes[i].next = &nodes[(i + 1) % n];
    } else {
        size_t per_page = PAGE_4K / LINE;                     /* 64 lines in a 4 KiB page */
        size_t pages = n / per_page;
        if (pages < 1)
            pages = 1, per_page = n;
        /* Visit order: (line 0 of pages 0..P-1), (line 1 of pages 0..P-1), ... */
        for (size_t line = 0; line < per_page; line++)
            for (size_t pg = 0; pg < pages; pg++) {
                size_t here = pg * per_page + line;
                size_t nl = line, np = pg + 1;
                if (np == pages)
                    np = 0, nl = (line + 1) % per_page;
                nodes[here].next = &nodes[np * per_page + nl];
            }
    }
}

static struct node *chase(struct node *p, int64_t steps)
{
    while (steps >= 8) {                                      /* unrolled: less loop overhead */
        p = p->next; p = p->next; p = p->next; p = p->next;
        p = p->next; p = p->next; p = p->next; p = p->next;
        steps -= 8;
    }
    while (steps-- > 0)
        p = p->next;
    return p;
}

/* The C the notebook calls. bytes: a multiple of 4096, at least 4096. Returns 0 or -errno. */
int memlat_run(size_t bytes, int pattern, int thp, uint64_t seed, int64_t accesses, int samples,
               double *out, uint64_t *sink)
{
    if (bytes < PAGE_4K || bytes % PAGE_4K || pattern < 0 || pattern > 2 || accesses < 1 || samples < 1)
        return -EINVAL;
    /* Reserve 2 MiB extra so the buffer can start on a 2 MiB boundary (needed for a THP). */
    size_t span = bytes + HUGE_2M;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return -errno;
    char *buf = (char *)(((uintptr_t)raw + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
    if (madvise(buf, bytes, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0 && thp) {
        int e = errno;                                        /* THP not compiled in: say so */
        munmap(raw, span);
        return -e;
    }
    struct node *nodes = (struct node *)buf;
    size_t n = bytes / LINE;
    build_cycle(nodes, n, pattern, seed);

    struct node *p = chase(&nodes[0], (int64_t)n);            /* warm-up: one full lap */
    for (int r = 0; r < samples; r++) {
        int64_t t0 = now_ns();
        p = chase(p, accesses);
        int64_t t1 = now_ns();
        out[r] = (double)(t1 - t0) / (double)accesses;
    }
    *sink = (uint64_t)(uintptr_t)p;                           /* keep the chase observable */
    munmap(raw, span);
    return 0;
}
