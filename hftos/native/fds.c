/*
 * fds.c - file descriptors, open file descriptions and fork (course chapter 3.2).
 *
 * fork() copies the parent's fd table, not the open file descriptions it points to: parent and
 * child share one offset per inherited descriptor. Two separate open() calls make two
 * descriptions with two offsets. O_APPEND makes every write go to the current end of file,
 * atomically with the write (generic_write_checks_count() in fs/read_write.c sets the position to
 * i_size while the file system holds the inode lock for the whole write), so two
 * writers never overwrite each other; without it, two descriptions each keep their own offset
 * and the second writer overwrites what the first wrote.
 *
 * Both functions fork, so they run in a helper process (hftos.native.runner), never in the
 * Jupyter kernel. Children end with _exit() and report failure through their exit status.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

struct fork_offsets {
    int64_t parent_before;      /* parent's offset after writing "parent:" (7 bytes) */
    int64_t child_start;        /* the child's offset on the inherited fd, right after fork */
    int64_t child_after;        /* the child's offset after writing "child;" (6 bytes) */
    int64_t parent_after;       /* the parent's offset after the child exited */
    char parent_fdinfo[256];    /* /proc/self/fdinfo/<fd> of the parent, after */
};

static int read_text(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, cap - 1);
    int err = n < 0 ? -errno : 0;
    close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return err;
}

/* Parent writes, forks; the child writes through the inherited descriptor and reports its offsets
 * through a pipe; the parent then sees the offset the child moved. */
int fork_shared_offset(const char *path, struct fork_offsets *out)
{
    int p[2], rc = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    if ((rc = write_all(fd, "parent:", 7)) != 0)
        goto out_fd;
    out->parent_before = lseek(fd, 0, SEEK_CUR);
    if (pipe2(p, O_CLOEXEC) != 0) {
        rc = -errno;
        goto out_fd;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        close(p[0]);
        close(p[1]);
        goto out_fd;
    }
    if (pid == 0) {                           /* child: same descriptor number, same description */
        int64_t off[2];
        close(p[0]);
        off[0] = lseek(fd, 0, SEEK_CUR);
        if (write_all(fd, "child;", 6) != 0)
            _exit(EIO);
        off[1] = lseek(fd, 0, SEEK_CUR);
        if (write(p[1], off, sizeof off) != (ssize_t)sizeof off)
            _exit(EIO);
        _exit(0);
    }
    close(p[1]);
    int64_t off[2] = {-1, -1};
    ssize_t n;
    do {
        n = read(p[0], off, sizeof off);
    } while (n < 0 && errno == EINTR);
    close(p[0]);
    rc = child_status(pid);
    if (rc == 0 && n != (ssize_t)sizeof off)
        rc = -EIO;
    if (rc != 0)
        goto out_fd;
    out->child_start = off[0];
    out->child_after = off[1];
    out->parent_after = lseek(fd, 0, SEEK_CUR);
    char info[64];
    snprintf(info, sizeof info, "/proc/self/fdinfo/%d", fd);
    rc = read_text(info, out->parent_fdinfo, sizeof out->parent_fdinfo);
out_fd:
    close(fd);
    return rc;
}

/* Two children each open() the file themselves (two descriptions, two offsets) and write
 * `records` records of `reclen` bytes ('A...A\n' or 'B...B\n'), started together.
 * append != 0: with O_APPEND. The caller inspects the file afterwards. */
int two_writers(const char *path, int append, int records, int reclen)
{
    if (records < 1 || reclen < 2 || reclen > 4096)
        return -EINVAL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0)
        return -errno;
    pid_t pids[2] = {-1, -1};
    int rc = 0;
    for (int w = 0; w < 2; w++) {
        pids[w] = fork();
        if (pids[w] < 0) {
            rc = -errno;
            break;
        }
        if (pids[w] == 0) {
            char rec[4096], c;
            close(go[1]);
            memset(rec, w == 0 ? 'A' : 'B', (size_t)reclen - 1);
            rec[reclen - 1] = '\n';
            int f = open(path, O_WRONLY | O_CLOEXEC | (append ? O_APPEND : 0));
            if (f < 0)
                _exit(errno);
            while (read(go[0], &c, 1) < 0 && errno == EINTR)   /* wait for the start signal (EOF) */
                ;
            for (int i = 0; i < records; i++)
                if (write_all(f, rec, (size_t)reclen) != 0)
                    _exit(EIO);
            close(f);
            _exit(0);
        }
    }
    close(go[0]);
    close(go[1]);                             /* EOF on the pipe: both children start writing */
    for (int w = 0; w < 2; w++) {
        if (pids[w] > 0) {
            int r = child_status(pids[w]);
            if (rc == 0)
                rc = r;
        }
    }
    return rc;
}
