/*
 * cow.c - copy-on-write made visible (course chapter 1.2, erratum E11).
 *
 * Printing the same virtual address in parent and child proves nothing: after fork() the
 * addresses are identical whether or not anything was copied. What changes is which physical
 * page backs them, and an unprivileged process can see that without reading frame numbers
 * (they read as 0 without CAP_SYS_ADMIN since Linux 4.0):
 *
 *   bit 56 of a page's /proc/self/pagemap entry = "page exclusively mapped" (Linux 4.2+).
 *
 * The parent fills a few pages with 'A' and forks. In the child every page is shared with the
 * parent, so the bit is 0. The child writes one byte to one page: the write faults (one minor
 * fault, counted in ru_minflt), the kernel copies that page, and now the child maps its own
 * copy exclusively: bit 56 becomes 1 for that page only; its neighbour stays shared (0).
 * The parent, after waitpid(), still reads 'A': it never saw the child's write.
 *
 * Expected on every host: excl_before 0, excl_after 1, minflt_delta 1, parent_byte 'A'.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "common.h"

#define PAGEMAP_PRESENT   (1ULL << 63)
#define PAGEMAP_EXCLUSIVE (1ULL << 56)
#define PAGES 4                      /* 16 KiB: far below 2 MiB, so never a huge page */

struct cow_report {
    int excl_before, excl_after;     /* bit 56 of the written page, before and after the write */
    int neighbour_before, neighbour_after;   /* bit 56 of the next page, never written */
    long minflt_delta;               /* minor faults taken by the one-byte write */
    char parent_byte;                /* what the parent reads after the child has exited */
};

/* Bit 56 of the pagemap entry for `addr`: 1 exclusive, 0 shared, -errno on failure. */
static int exclusive_bit(int pagemap_fd, const void *addr, long page)
{
    uint64_t entry;                  /* one 64-bit entry per virtual page */
    off_t offset = (off_t)((uintptr_t)addr / (uintptr_t)page) * (off_t)sizeof entry;
    ssize_t n = pread(pagemap_fd, &entry, sizeof entry, offset);
    if (n != (ssize_t)sizeof entry)
        return n < 0 ? -errno : -EIO;
    if (!(entry & PAGEMAP_PRESENT))
        return -EFAULT;              /* the page should be resident: we filled it */
    return (entry & PAGEMAP_EXCLUSIVE) != 0;
}

/* The child's part. Only async-signal-safe calls (open, pread, getrusage, _exit) because the
 * parent may be multithreaded. Results go into `r`, which lives in MAP_SHARED memory. */
static int child(char *region, long page, struct cow_report *r)
{
    char *target = region + page, *neighbour = region + 2 * page;
    struct rusage before, after;
    memset(&before, 0, sizeof before);   /* touch both on the stack now: the child's stack is */
    memset(&after, 0, sizeof after);     /* copy-on-write too and must not fault mid-experiment */
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = r->excl_before = exclusive_bit(fd, target, page);
    if (rc >= 0)
        rc = r->neighbour_before = exclusive_bit(fd, neighbour, page);
    if (rc >= 0) {
        getrusage(RUSAGE_SELF, &before);
        *(volatile char *)target = 'B';          /* the one write: fault, copy, remap */
        getrusage(RUSAGE_SELF, &after);
        r->minflt_delta = after.ru_minflt - before.ru_minflt;
        rc = r->excl_after = exclusive_bit(fd, target, page);
    }
    if (rc >= 0)
        rc = r->neighbour_after = exclusive_bit(fd, neighbour, page);
    close(fd);
    return rc < 0 ? rc : 0;
}

int cow_demo(struct cow_report *out)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)PAGES * (size_t)page;
    /* The report is shared (not COW) so the child's answers reach the parent. */
    struct cow_report *shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return -errno;
    char *region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int rc = 0;
    if (region == MAP_FAILED) {
        rc = -errno;
    } else {
        madvise(region, len, MADV_NOHUGEPAGE);   /* belt and braces: 16 KiB cannot be a THP */
        memset(region, 'A', len);                /* every page resident, owned by the parent */
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
        } else if (pid == 0) {
            _exit(-child(region, page, shared));
        } else {
            rc = child_status(pid);
            shared->parent_byte = region[page];  /* the parent's view, after the child is gone */
            *out = *shared;
        }
        munmap(region, len);
    }
    munmap(shared, sizeof *shared);
    return rc;
}
