/*
 * iopatterns.c - I/O system-call patterns (course section 3.5).
 *
 * io_sweep:  read or write `total` bytes of a file in `bufsize` pieces, with read()/write() or
 *            pread()/pwrite(), or read it through mmap(): elapsed time and system calls made.
 * io_gather: `pieces` small buffers per record, written with one write() each or one writev().
 * io_copy:   copy a file with a read()/write() loop (two copies through user space) or
 *            sendfile() (the kernel moves page-cache pages, no user-space buffer).
 *
 * Every call is checked: a short read or write (legal for any fd, erratum E04) is continued, not
 * ignored, and EINTR is retried. Results go back in caller-provided variables; nothing printed.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>

#include "common.h"

enum { IO_READ = 0, IO_PREAD = 1, IO_WRITE = 2, IO_PWRITE = 3, IO_MMAP = 4 };

/* One request of up to n bytes at offset off; counts the system call. >0 bytes, 0 at EOF, -errno. */
static ssize_t one_call(int fd, int mode, char *buf, size_t n, off_t off, long *calls)
{
    for (;;) {
        ssize_t k;
        (*calls)++;
        switch (mode) {
        case IO_READ:   k = read(fd, buf, n); break;
        case IO_PREAD:  k = pread(fd, buf, n, off); break;
        case IO_WRITE:  k = write(fd, buf, n); break;
        default:        k = pwrite(fd, buf, n, off); break;
        }
        if (k >= 0)
            return k;
        if (errno != EINTR)
            return -errno;
    }
}

/* Sum of the file's 8-byte words read through a fresh mapping: every page is faulted in. */
static int mmap_pass(int fd, size_t total, uint64_t *sum, long *calls)
{
    const uint64_t *p = mmap(NULL, total, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    uint64_t s = 0;
    for (size_t i = 0; i < total / sizeof *p; i++)
        s += p[i];
    *sum += s;
    *calls += 2;                                    /* mmap + munmap (page faults are not calls) */
    return munmap((void *)p, total) == 0 ? 0 : -errno;
}

/*
 * Move `total` bytes between the file at fd and a buffer of `bufsize` bytes, starting at offset 0.
 * mode: IO_READ, IO_PREAD, IO_WRITE, IO_PWRITE, or IO_MMAP (bufsize ignored).
 * *elapsed_ns: wall time of the whole pass; *calls: system calls issued; *sum: a checksum of the
 * bytes read through mmap (so the compiler cannot drop the loop).
 */
int io_sweep(int fd, int mode, size_t bufsize, size_t total, int64_t *elapsed_ns, long *calls, uint64_t *sum)
{
    if (bufsize == 0 || total == 0 || mode < IO_READ || mode > IO_MMAP)
        return -EINVAL;
    *calls = 0;
    *sum = 0;
    if (mode == IO_MMAP) {
        int64_t t0 = now_ns();
        int rc = mmap_pass(fd, total, sum, calls);
        *elapsed_ns = now_ns() - t0;
        return rc;
    }
    char *buf = malloc(bufsize);
    if (buf == NULL)
        return -ENOMEM;
    memset(buf, 'w', bufsize);
    if (lseek(fd, 0, SEEK_SET) < 0) {
        free(buf);
        return -errno;
    }
    int rc = 0;
    size_t done = 0;
    int64_t t0 = now_ns();
    while (done < total) {
        size_t want = total - done < bufsize ? total - done : bufsize;
        ssize_t k = one_call(fd, mode, buf, want, (off_t)done, calls);
        if (k < 0) {
            rc = (int)k;
            break;
        }
        if (k == 0) {                               /* EOF before `total`: the file is too short */
            rc = -ENODATA;
            break;
        }
        done += (size_t)k;
    }
    *elapsed_ns = now_ns() - t0;
    free(buf);
    return rc;
}

/*
 * `records` records of `pieces` pieces of `piece_len` bytes each (header, fields, trailer ...):
 * use_writev=0: one write() per piece; 1: one writev() per record. At most IOV_MAX (1024) pieces.
 */
int io_gather(int fd, int use_writev, int pieces, size_t piece_len, long records, int64_t *elapsed_ns)
{
    if (pieces < 1 || pieces > 1024 || piece_len == 0 || records < 1)
        return -EINVAL;
    char *mem = malloc((size_t)pieces * piece_len);
    struct iovec *iov = calloc((size_t)pieces, sizeof *iov);
    if (mem == NULL || iov == NULL) {
        free(mem);
        free(iov);
        return -ENOMEM;
    }
    memset(mem, 'g', (size_t)pieces * piece_len);
    for (int i = 0; i < pieces; i++) {
        iov[i].iov_base = mem + (size_t)i * piece_len;
        iov[i].iov_len = piece_len;
    }
    size_t record = (size_t)pieces * piece_len;
    int rc = 0;
    int64_t t0 = now_ns();
    for (long r = 0; rc == 0 && r < records; r++) {
        if (use_writev) {
            ssize_t k = writev(fd, iov, pieces);
            if (k < 0)
                rc = -errno;
            else if ((size_t)k < record)            /* short writev: finish the rest plainly */
                rc = write_all(fd, mem + k, record - (size_t)k);
        } else {
            for (int i = 0; rc == 0 && i < pieces; i++)
                rc = write_all(fd, iov[i].iov_base, piece_len);
        }
    }
    *elapsed_ns = now_ns() - t0;
    free(mem);
    free(iov);
    return rc;
}

/*
 * Copy `total` bytes from in_fd (offset 0) to out_fd (offset 0).
 * use_sendfile=0: read()/write() through a `bufsize` buffer; 1: sendfile() in `bufsize` chunks.
 */
int io_copy(int in_fd, int out_fd, int use_sendfile, size_t bufsize, size_t total, int64_t *elapsed_ns,
            long *calls)
{
    if (bufsize == 0 || total == 0)
        return -EINVAL;
    if (lseek(in_fd, 0, SEEK_SET) < 0 || lseek(out_fd, 0, SEEK_SET) < 0)
        return -errno;
    char *buf = use_sendfile ? NULL : malloc(bufsize);
    if (!use_sendfile && buf == NULL)
        return -ENOMEM;
    int rc = 0;
    size_t done = 0;
    *calls = 0;
    int64_t t0 = now_ns();
    while (rc == 0 && done < total) {
        size_t want = total - done < bufsize ? total - done : bufsize;
        ssize_t k;
        (*calls)++;
        if (use_sendfile) {
            k = sendfile(out_fd, in_fd, NULL, want);
        } else {
            k = read(in_fd, buf, want);
            if (k > 0) {
                (*calls)++;
                rc = write_all(out_fd, buf, (size_t)k);
            }
        }
        if (k < 0 && errno != EINTR)
            rc = -errno;
        else if (k == 0)
            rc = -ENODATA;
        else if (k > 0)
            done += (size_t)k;
    }
    *elapsed_ns = now_ns() - t0;
    free(buf);
    return rc;
}
