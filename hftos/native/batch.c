/*
 * batch.c - one write() per message versus a batching writer (course chapter 1.6, erratum E66).
 *
 * Every write() is a system call (~100+ ns even to /dev/null, microseconds to a file or
 * socket). A batching writer copies messages into a user-space buffer and issues one write()
 * per buffer-full: far fewer system calls, much higher throughput. The price is latency: a
 * message sits in the buffer until the buffer fills or someone flushes. Right for logs and
 * market-data capture; wrong for the order path.
 *
 * The writer below fixes the source text's BatchWriter: it is given its fd at construction,
 * the buffer is bounded, a message larger than the buffer is written directly (never
 * overflowing it), partial writes and EINTR are retried, and closing flushes what is left.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"

struct batch_writer {
    int fd;
    char *buf;
    size_t used, capacity;
};

static int bw_open(struct batch_writer *w, int fd, size_t capacity)
{
    w->fd = fd;
    w->used = 0;
    w->capacity = capacity;
    w->buf = malloc(capacity);
    return w->buf ? 0 : -ENOMEM;
}

static int bw_flush(struct batch_writer *w)
{
    int rc = write_all(w->fd, w->buf, w->used);
    w->used = 0;
    return rc;
}

static int bw_write(struct batch_writer *w, const char *msg, size_t len)
{
    if (len > w->capacity - w->used) {       /* does not fit: empty the buffer first */
        int rc = bw_flush(w);
        if (rc != 0)
            return rc;
    }
    if (len >= w->capacity)                  /* bigger than the whole buffer: write it directly */
        return write_all(w->fd, msg, len);
    memcpy(w->buf + w->used, msg, len);
    w->used += len;
    return 0;
}

/* Flush what is left and free the buffer (the source text lost it: no destructor). */
static int bw_close(struct batch_writer *w)
{
    int rc = bw_flush(w);
    free(w->buf);
    w->buf = NULL;
    return rc;
}

/*
 * Write `count` messages of `msg_len` bytes to `fd`: batched (through a writer with a
 * `capacity`-byte buffer, closed at the end) or directly (one write per message).
 * lat_ns (may be NULL): time of each call, i.e. what the caller waits per message.
 * *total_ns: the whole run including the final flush. Time each call only when you need the
 * distribution: the two clock reads per message cost about as much as a buffered copy.
 */
int batch_run(int fd, int batched, size_t msg_len, size_t capacity, long count, int64_t *lat_ns,
              int64_t *total_ns)
{
    char *msg = malloc(msg_len);
    if (msg == NULL)
        return -ENOMEM;
    memset(msg, 'x', msg_len);
    msg[msg_len - 1] = '\n';

    struct batch_writer w = { -1, NULL, 0, 0 };
    int rc = batched ? bw_open(&w, fd, capacity) : 0;
    int64_t start = now_ns();
    for (long i = 0; rc == 0 && i < count; i++) {
        int64_t t0 = lat_ns ? now_ns() : 0;
        rc = batched ? bw_write(&w, msg, msg_len) : write_all(fd, msg, msg_len);
        if (lat_ns)
            lat_ns[i] = now_ns() - t0;
    }
    if (batched && w.buf) {
        int close_rc = bw_close(&w);
        if (rc == 0)
            rc = close_rc;
    }
    *total_ns = now_ns() - start;
    free(msg);
    return rc;
}
