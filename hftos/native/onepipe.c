/*
 * onepipe.c - the source text's context-switch benchmark, reproduced to show what is wrong (E43).
 *
 * The source creates ONE pipe and lets both processes use both of its ends:
 *
 *     parent: for N times { write(pipefd[1]); read(pipefd[0]); }
 *     child:  for N times { read(pipefd[0]);  write(pipefd[1]); }
 *
 * A pipe does not know who wrote a byte, so each side can read back the byte it just wrote
 * itself: then no hand-off and no context switch happened at all. And when one side finishes its
 * N reads early that way, the other still waits for bytes that will never come; the waiting side
 * never sees end-of-file either, because it holds a write end itself. The source then hangs.
 *
 * This version keeps that design and adds only what is needed to observe it safely:
 *   - the parent writes 'P' and the child 'C', so each read tells whose byte it was;
 *   - every read waits (non-blocking read + poll) for at most `patience_ms`: a side whose read
 *     would have blocked that long is counted as stuck (the source would have hung there forever)
 *     and stops;
 *   - the counts go back to the parent through a small shared mapping, not through the pipe.
 * The correct benchmark (two pipes, one per direction) is pingpong.c.
 * Run this in a helper process: it forks and pins.
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>

#include "common.h"

struct counts {
    int64_t self_reads, reads, stuck;
};

/* Read one byte, waiting at most patience_ms. Returns 1 and the byte, 0 if nothing could be read
 * for patience_ms (the source's read would have hung), or -errno. The read end is non-blocking:
 * poll() saying "readable" does not mean the byte is still there when we read, because the other
 * process reads from the same pipe and may take it first. */
static int read_patiently(int fd, char *byte, int patience_ms)
{
    int64_t deadline = now_ns() + (int64_t)patience_ms * 1000000;
    for (;;) {
        ssize_t r = read(fd, byte, 1);
        if (r == 1)
            return 1;
        if (r == 0)
            return -EPIPE;     /* end of file: cannot happen while we hold a write end */
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        int64_t left = deadline - now_ns();
        if (left <= 0)
            return 0;
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, (int)((left + 999999) / 1000000)) < 0 && errno != EINTR)
            return -errno;
    }
}

static int write_byte(int fd, char byte)
{
    ssize_t r;
    do
        r = write(fd, &byte, 1);
    while (r < 0 && errno == EINTR);
    return r == 1 ? 0 : -errno;
}

/* One side of the source's loop. `write_first`: the parent writes then reads, the child reads
 * then writes. */
static int run_side(int fd[2], char mine, int write_first, int iters, int patience_ms, struct counts *c)
{
    for (int i = 0; i < iters; i++) {
        char byte = 0;
        int rc;
        if (write_first && (rc = write_byte(fd[1], mine)) != 0)
            return rc;
        rc = read_patiently(fd[0], &byte, patience_ms);
        if (rc < 0)
            return rc;
        if (rc == 0) {         /* the source would block here forever */
            c->stuck = 1;
            return 0;
        }
        c->reads++;
        c->self_reads += byte == mine;
        if (!write_first && (rc = write_byte(fd[1], mine)) != 0)
            return rc;
    }
    return 0;
}

/*
 * One run of the source's benchmark with `iters` iterations per side.
 * out[0..2] parent: reads of its own byte, reads, stuck (0/1);
 * out[3..5] child:  the same;
 * out[6] the parent's loop time in ns (what the source divides by 2 * iters), out[7] iters.
 */
int onepipe(int cpu_parent, int cpu_child, int iters, int patience_ms, int64_t *out)
{
    if (iters < 1 || patience_ms < 1 || patience_ms > 10000)
        return -EINVAL;
    struct counts *child = mmap(NULL, sizeof *child, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (child == MAP_FAILED)
        return -errno;
    struct counts parent = { 0, 0, 0 };
    int fd[2];
    int rc = 0;
    /* ONE pipe for both directions: the source's design. O_NONBLOCK on the read end only (see
     * read_patiently); writes of one byte never block here (a pipe holds 64 KiB). */
    if (pipe(fd) != 0) {
        rc = -errno;
        munmap(child, sizeof *child);
        return rc;
    }
    if (fcntl(fd[0], F_SETFL, O_NONBLOCK) != 0) {
        rc = -errno;
        close(fd[0]);
        close(fd[1]);
        munmap(child, sizeof *child);
        return rc;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
    } else if (pid == 0) {      /* child: keeps both ends, as in the source */
        int err = pin_to_cpu(cpu_child);
        if (err == 0)
            err = run_side(fd, 'C', 0, iters, patience_ms, child);
        _exit(err < 0 ? -err : 0);
    } else {
        rc = pin_to_cpu(cpu_parent);
        int64_t t0 = now_ns();
        if (rc == 0)
            rc = run_side(fd, 'P', 1, iters, patience_ms, &parent);
        out[6] = now_ns() - t0;
    }
    close(fd[0]);
    close(fd[1]);
    if (pid > 0) {
        int child_rc = child_status(pid);  /* bounded: the child gives up after patience_ms */
        if (rc == 0)
            rc = child_rc;
    }
    if (rc == 0) {
        out[0] = parent.self_reads;
        out[1] = parent.reads;
        out[2] = parent.stuck;
        out[3] = child->self_reads;
        out[4] = child->reads;
        out[5] = child->stuck;
        out[7] = iters;
    }
    munmap(child, sizeof *child);
    return rc;
}
