/*
 * pagecache.c - the page cache, measured (course chapter 3.3).
 *
 *   pc_residency   how many pages of a file are in the page cache right now: mmap the file
 *                  (this does not read it) and ask mincore(2), one byte per page, bit 0 = resident.
 *                  Unprivileged; works on any file you can open for reading.
 *   pc_read_timed  read a file sequentially in chunks, timing every read() (cold vs warm cache).
 *   pc_write_timed write n chunks, timing every write(); every `sync_every` writes call fdatasync()
 *                  (timed separately); every `sample_every` writes sample Dirty and Writeback from
 *                  /proc/meminfo (outside the timed region), so latency can be plotted against the
 *                  amount of dirty memory.
 *   pc_sync_cost   dirty `bytes` of a file with write(), then time one flush: fsync, fdatasync,
 *                  sync_file_range(WRITE) (start writeback, do not wait) or
 *                  sync_file_range(WAIT_BEFORE|WRITE|WAIT_AFTER) (write and wait, no metadata,
 *                  no device cache flush).
 *
 * None of these fork, pin or spin: they run in the caller's process, on files the caller created
 * in a private temporary directory. Every function returns 0 or -errno.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

long pc_residency(int fd, size_t len)
{
    if (len == 0)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = (len + (size_t)page - 1) / (size_t)page;
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return -errno;
    unsigned char *vec = malloc(pages);
    if (!vec) {
        munmap(map, len);
        return -ENOMEM;
    }
    long resident = 0;
    if (mincore(map, len, vec) != 0) {
        resident = -errno;
    } else {
        for (size_t i = 0; i < pages; i++)
            resident += vec[i] & 1;
    }
    free(vec);
    munmap(map, len);
    return resident;
}

int pc_read_timed(int fd, size_t chunk, long n, int64_t *lat_ns, int64_t *bytes_read)
{
    char *buf = malloc(chunk);
    if (!buf)
        return -ENOMEM;
    int64_t total = 0;
    int rc = 0;
    for (long i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        ssize_t k = pread(fd, buf, chunk, (off_t)i * (off_t)chunk);
        int64_t t1 = now_ns();
        if (k < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            rc = -errno;
            break;
        }
        lat_ns[i] = t1 - t0;
        total += k;
    }
    free(buf);
    *bytes_read = total;
    return rc;
}

/* Dirty and Writeback from /proc/meminfo, in KiB (-1 if not found). */
static int meminfo_dirty(long *dirty_kb, long *writeback_kb)
{
    char text[8192];
    int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, text, sizeof text - 1);
    int err = n < 0 ? -errno : 0;
    close(fd);
    if (err)
        return err;
    text[n] = '\0';
    *dirty_kb = *writeback_kb = -1;
    char *p = strstr(text, "\nDirty:");
    if (p)
        *dirty_kb = strtol(p + 7, NULL, 10);
    p = strstr(text, "\nWriteback:");
    if (p)
        *writeback_kb = strtol(p + 11, NULL, 10);
    return 0;
}

int pc_write_timed(int fd, size_t chunk, long n, long sync_every, long sample_every,
                   int64_t *t_ns, int64_t *lat_ns, int64_t *sync_ns, long *n_syncs,
                   int64_t *sample_t_ns, long *dirty_kb, long *writeback_kb, long *n_samples)
{
    char *buf = malloc(chunk);
    if (!buf)
        return -ENOMEM;
    memset(buf, 'w', chunk);
    int rc = 0;
    long syncs = 0, samples = 0;
    int64_t start = now_ns();
    for (long i = 0; i < n; i++) {
        if (sample_every > 0 && i % sample_every == 0) {
            sample_t_ns[samples] = now_ns() - start;
            if ((rc = meminfo_dirty(&dirty_kb[samples], &writeback_kb[samples])) != 0)
                break;
            samples++;
        }
        size_t done = 0;
        int64_t t0 = now_ns();
        while (done < chunk) {                 /* a write to a regular file is rarely partial, but loop */
            ssize_t k = write(fd, buf + done, chunk - done);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                rc = -errno;
                break;
            }
            done += (size_t)k;
        }
        int64_t t1 = now_ns();
        if (rc)
            break;
        t_ns[i] = t0 - start;
        lat_ns[i] = t1 - t0;
        if (sync_every > 0 && (i + 1) % sync_every == 0) {
            int64_t s0 = now_ns();
            if (fdatasync(fd) != 0) {
                rc = -errno;
                break;
            }
            sync_ns[syncs++] = now_ns() - s0;
        }
    }
    free(buf);
    *n_syncs = syncs;
    *n_samples = samples;
    return rc;
}

int pc_sync_cost(int fd, size_t bytes, int mode, int64_t *ns)
{
    char *buf = malloc(65536);
    if (!buf)
        return -ENOMEM;
    memset(buf, 's', 65536);
    int rc = 0;
    for (size_t done = 0; done < bytes && rc == 0;) {
        size_t len = bytes - done < 65536 ? bytes - done : 65536;
        ssize_t k = pwrite(fd, buf, len, (off_t)done);
        if (k < 0 && errno != EINTR)
            rc = -errno;
        else if (k > 0)
            done += (size_t)k;
    }
    free(buf);
    if (rc)
        return rc;
    int64_t t0 = now_ns();
    switch (mode) {
    case 0:
        rc = fsync(fd);
        break;
    case 1:
        rc = fdatasync(fd);
        break;
    case 2:
        rc = sync_file_range(fd, 0, (off_t)bytes, SYNC_FILE_RANGE_WRITE);
        break;
    case 3:
        rc = sync_file_range(fd, 0, (off_t)bytes,
                             SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
        break;
    default:
        return -EINVAL;
    }
    *ns = now_ns() - t0;
    return rc != 0 ? -errno : 0;
}
