/*
 * pipes.c - pipes, FIFOs and POSIX shared memory, done correctly (course chapter 1.5).
 *
 * The source text's listings, corrected (errata E49-E54) and made into functions that return
 * what the source's programs would have printed:
 *
 *   pipe_message    - the anonymous-pipe example (E50, E51): parent writes, child reads until
 *                     end of file. With close_unused = 0 the child "forgets" to close its copy
 *                     of the write end and never sees end of file.
 *   pipe_atomicity  - several writers, one pipe: writes of at most PIPE_BUF bytes arrive whole;
 *                     larger writes can be split and interleaved with other writers' data.
 *   pipe_stream     - one-way throughput: one write() per small message.
 *   fifo_demo       - the named-pipe example (E52): ENOENT before the FIFO exists, EEXIST on
 *                     re-creation, ENXIO for a non-blocking writer without a reader, the mode
 *                     after the umask, and how long open(O_WRONLY) waits for the reader.
 *   shm_demo        - the shared-memory example (E49, E53, E54): mode 0600, created once with
 *                     O_EXCL, and a process-shared semaphore that orders the writer's stores
 *                     before the reader's loads.
 *
 * Chapter 4.2 adds the measurements by message size:
 *
 *   pipe_sweep_stream - one-way throughput, msg_bytes per write(), with a chosen capacity
 *                       (F_SETPIPE_SZ) and reader buffer; counts the reads.
 *   pipe_rtt_sized    - round trips of a msg_bytes message over two pipes.
 *
 * Each function forks, so it runs in a helper process (hftos.native.runner). A forked child
 * hands its findings back through a small MAP_SHARED | MAP_ANONYMOUS page (`struct ... *rep`):
 * the source printed them in the child, but a notebook never sees a child's printf.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common.h"

/* A page both processes see after fork(): how a child returns results to the notebook. */
static void *shared_page(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

long pipe_buf_constant(void)
{
    return PIPE_BUF;                      /* <limits.h>: 4096 on Linux */
}

/* ---- 1. anonymous pipe: the source's pipe_example(), corrected ----------------------------- */

struct pipe_report {
    char received[128];     /* what the child read, NUL-terminated */
    long bytes;             /* bytes the child read in total */
    int reads;              /* read() calls that returned data */
    int eof;                /* 1: read() returned 0 (end of file); 0: still waiting after wait_ms */
    int64_t last_wait_ns;   /* how long the child waited for that end of file (or gave up) */
};

/* The child's side: read until end of file, as the source meant to. poll() is only here so the
 * broken variant (close_unused = 0) ends: there, a plain read() would block forever. */
static void pipe_reader(int rfd, int wait_ms, struct pipe_report *rep)
{
    char buffer[100];
    size_t used = 0;
    for (;;) {
        struct pollfd p = { rfd, POLLIN, 0 };
        int64_t t0 = now_ns();
        int ready = poll(&p, 1, wait_ms);
        rep->last_wait_ns = now_ns() - t0;
        if (ready == 0)                    /* nothing and no EOF: a write end is still open */
            break;
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            _exit(errno);
        }
        /* E50: leave room for the terminating NUL and check n before using it. */
        ssize_t n = read(rfd, buffer, sizeof buffer - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            _exit(errno);
        }
        if (n == 0) {                      /* every write end is closed: end of file */
            rep->eof = 1;
            break;
        }
        buffer[n] = '\0';                  /* n <= sizeof buffer - 1: in bounds */
        rep->reads++;
        rep->bytes += n;
        size_t room = sizeof rep->received - 1 - used;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(rep->received + used, buffer, k);
        used += k;
        rep->received[used] = '\0';
    }
}

int pipe_message(const char *msg, int close_unused, int wait_ms, struct pipe_report *out)
{
    struct pipe_report *rep = shared_page(sizeof *rep);
    if (rep == NULL)
        return -errno;
    memset(rep, 0, sizeof *rep);
    int rc = 0;
    int pipefd[2];                         /* pipefd[0]: read end, pipefd[1]: write end */
    if (pipe(pipefd) != 0) {
        rc = -errno;
        goto unmap;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        close(pipefd[0]);
        close(pipefd[1]);
        goto unmap;
    }
    if (pid == 0) {                        /* child: the reader */
        if (close_unused)
            close(pipefd[1]);              /* close the unused write end, or EOF never comes */
        pipe_reader(pipefd[0], wait_ms, rep);
        close(pipefd[0]);
        _exit(0);                          /* not exit(): no atexit handlers, no stdio flush */
    }
    close(pipefd[0]);                      /* parent: the writer; close the unused read end */
    rc = write_all(pipefd[1], msg, strlen(msg));
    close(pipefd[1]);                      /* the reader's EOF */
    int child_rc = child_status(pid);      /* waitpid(): no zombie left behind */
    if (rc == 0)
        rc = child_rc;
    *out = *rep;
unmap:
    munmap(rep, sizeof *rep);
    return rc;
}

/* ---- 2. PIPE_BUF: atomic writes among several writers --------------------------------------- */

struct atomicity_report {
    long records;           /* records the reader received */
    long torn;              /* records that mixed bytes of two writers */
    long bytes;             /* bytes received */
    long short_writes;      /* write() calls that returned fewer bytes than asked */
};

/* Writer `id` writes `records` records of `size` bytes, each filled with its own letter,
 * one write() per record. A record split by the kernel can be interleaved with others. */
static void atomicity_writer(int wfd, int id, long records, size_t size, long *short_writes)
{
    char *rec = malloc(size);
    if (rec == NULL)
        _exit(ENOMEM);
    memset(rec, 'a' + id, size);
    for (long i = 0; i < records; i++) {
        ssize_t k = write(wfd, rec, size);
        if (k < 0)
            _exit(errno);
        if ((size_t)k != size) {           /* only after a signal: count, then finish the record */
            __atomic_add_fetch(short_writes, 1, __ATOMIC_RELAXED);
            int rc = write_all(wfd, rec + k, size - (size_t)k);
            if (rc != 0)
                _exit(-rc);
        }
    }
    free(rec);
    _exit(0);
}

int pipe_atomicity(int writers, long records, long record_bytes, int timeout_ms,
                   struct atomicity_report *out)
{
    if (writers < 1 || writers > 26 || records < 1 || record_bytes < 1)
        return -EINVAL;
    long *short_writes = shared_page(sizeof(long));
    if (short_writes == NULL)
        return -errno;
    *short_writes = 0;
    int p[2];
    if (pipe(p) != 0) {
        int err = errno;
        munmap(short_writes, sizeof(long));
        return -err;
    }
    pid_t pids[26];
    int started = 0, rc = 0;
    for (; started < writers; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = -errno;
            break;
        }
        if (pid == 0) {
            close(p[0]);
            atomicity_writer(p[1], started, records, (size_t)record_bytes, short_writes);
        }
        pids[started] = pid;
    }
    close(p[1]);                           /* the parent only reads: EOF when all writers exit */

    /* Read in 4 KiB pieces (so writers keep finding the pipe full) and check each record. */
    char buf[4096];
    long pos = 0;                          /* position inside the current record */
    char first = 0;
    int torn = 0;
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    memset(out, 0, sizeof *out);
    while (rc == 0) {
        struct pollfd pf = { p[0], POLLIN, 0 };
        int left = (int)((deadline - now_ns()) / 1000000);
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        int ready = poll(&pf, 1, left);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            rc = ready == 0 ? -ETIMEDOUT : -errno;
            break;
        }
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (n == 0)
            break;                         /* all writers are done */
        out->bytes += n;
        for (ssize_t i = 0; i < n; i++) {
            if (pos == 0) {
                first = buf[i];
                torn = 0;
            } else if (buf[i] != first) {
                torn = 1;
            }
            if (++pos == record_bytes) {
                out->records++;
                out->torn += torn;
                pos = 0;
            }
        }
    }
    close(p[0]);
    for (int k = 0; k < started; k++) {
        if (rc != 0)
            kill(pids[k], SIGKILL);
        int child_rc = child_status(pids[k]);
        if (rc == 0)
            rc = child_rc;
    }
    out->short_writes = *short_writes;
    munmap(short_writes, sizeof(long));
    if (rc == 0 && out->bytes != (long)writers * records * record_bytes)
        rc = -EIO;
    return rc;
}

/* ---- 3. one-way pipe throughput ---------------------------------------------------------------- */

/* The child (pinned to cpu_b) writes `messages` 8-byte sequence numbers, one write() each; the
 * parent (cpu_a) reads in 64 KiB chunks and checks the sequence. -EPROTO if it is broken. */
int pipe_stream(int cpu_a, int cpu_b, long messages, int64_t *elapsed_ns)
{
    int p[2];
    if (pipe(p) != 0)
        return -errno;
    int64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(p[0]);
        close(p[1]);
        return -err;
    }
    if (pid == 0) {
        close(p[0]);
        int rc = pin_to_cpu(cpu_b);
        for (long i = 0; rc == 0 && i < messages; i++) {
            uint64_t v = (uint64_t)i;
            rc = write_all(p[1], &v, sizeof v);
        }
        _exit(-rc);
    }
    close(p[1]);
    int rc = pin_to_cpu(cpu_a);
    static uint64_t buf[8192];
    size_t carry = 0;                      /* bytes of a partial message at the start of buf */
    uint64_t expect = 0;
    while (rc == 0) {
        ssize_t n = read(p[0], (char *)buf + carry, sizeof buf - carry);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        size_t have = carry + (size_t)n, whole = have / sizeof(uint64_t);
        for (size_t i = 0; i < whole; i++)
            if (buf[i] != expect++)
                rc = -EPROTO;
        carry = have % sizeof(uint64_t);
        memmove(buf, (char *)buf + whole * sizeof(uint64_t), carry);
    }
    *elapsed_ns = now_ns() - t0;
    close(p[0]);
    if (rc != 0)
        kill(pid, SIGKILL);
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
    if (rc == 0 && (expect != (uint64_t)messages || carry != 0))
        rc = -EPROTO;
    return rc;
}

/* ---- 4. named pipe (FIFO): the source's fifo_writer()/fifo_reader(), corrected ---------------- */

struct fifo_report {
    int errno_open_before_mkfifo;   /* reader started first: ENOENT */
    int errno_mkfifo_again;         /* second mkfifo on the same path: EEXIST */
    int errno_nonblock_writer;      /* open(O_WRONLY | O_NONBLOCK) without a reader: ENXIO */
    int umask;                      /* this process's umask */
    int mode_0600;                  /* permission bits of a FIFO made with 0600 */
    int mode_0666;                  /* ... and with 0666 (the source's choice), after the umask */
    int64_t open_wait_ns;           /* how long the writer's open(O_WRONLY) blocked */
    char received[64];              /* what the reader read */
};

/* Create the FIFO in one place; a rerun finds it already there (EEXIST), which is fine as
 * long as what is there really is a FIFO. */
static int make_fifo(const char *path, mode_t mode)
{
    if (mkfifo(path, mode) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    return S_ISFIFO(st.st_mode) ? 0 : -EEXIST;
}

static void fifo_reader(const char *path, int delay_ms, struct fifo_report *rep)
{
    sleep_ms(delay_ms);                    /* the writer is blocked in open() meanwhile */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        _exit(errno);
    char buffer[100];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof buffer - 1);   /* E50: room for the NUL */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            _exit(errno);
        if (n == 0)
            break;                         /* the writer closed: end of file */
        buffer[n] = '\0';
        size_t k = (size_t)n < sizeof rep->received - 1 - used ? (size_t)n : sizeof rep->received - 1 - used;
        memcpy(rep->received + used, buffer, k);
        used += k;
    }
    rep->received[used] = '\0';
    close(fd);
    _exit(0);
}

int fifo_demo(const char *dir, const char *msg, int reader_delay_ms, struct fifo_report *out)
{
    char path[PATH_MAX], path2[PATH_MAX];
    snprintf(path, sizeof path, "%s/ticks", dir);
    snprintf(path2, sizeof path2, "%s/ticks-0666", dir);
    struct fifo_report *rep = shared_page(sizeof *rep);
    if (rep == NULL)
        return -errno;
    memset(rep, 0, sizeof *rep);
    int rc = 0;

    /* The reader starts before anyone created the FIFO: open() fails, it does not wait. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    rep->errno_open_before_mkfifo = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);

    mode_t old = umask(0);                 /* read the umask (and put it back at once) */
    umask(old);
    rep->umask = (int)old;

    if ((rc = make_fifo(path, 0600)) != 0) /* 0600: only this user may read or inject data */
        goto unmap;
    rep->errno_mkfifo_again = mkfifo(path, 0600) == 0 ? 0 : errno;
    if ((rc = make_fifo(path, 0600)) != 0) /* the correct way to tolerate a rerun */
        goto unlink;
    struct stat st;
    if (stat(path, &st) == 0)
        rep->mode_0600 = st.st_mode & 0777;
    if (mkfifo(path2, 0666) == 0 && stat(path2, &st) == 0)
        rep->mode_0666 = st.st_mode & 0777;  /* 0666 & ~umask */
    unlink(path2);

    /* No reader yet: a non-blocking writer is refused instead of waiting. */
    fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    rep->errno_nonblock_writer = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);

    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto unlink;
    }
    if (pid == 0)
        fifo_reader(path, reader_delay_ms, rep);

    /* The writer: open() blocks until the reader opens the other end (the rendezvous). */
    int64_t t0 = now_ns();
    fd = open(path, O_WRONLY | O_CLOEXEC);
    rep->open_wait_ns = now_ns() - t0;
    if (fd < 0) {
        rc = -errno;
        kill(pid, SIGKILL);
    } else {
        unlink(path);                      /* both ends are open: the name is no longer needed */
        rc = write_all(fd, msg, strlen(msg));
        close(fd);                         /* the reader's EOF */
    }
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
    *out = *rep;
unlink:
    unlink(path);
unmap:
    munmap(rep, sizeof *rep);
    return rc;
}

/* ---- 5. POSIX shared memory: the source's shm_writer()/shm_reader(), corrected ----------------- */

struct shared_data {
    sem_t attached;         /* reader -> writer: "I have mapped the segment" */
    sem_t ready;            /* writer -> reader: "the message is complete" */
    int counter;
    char message[256];
    /* what the reader saw, for the notebook (the source printed it) */
    int seen_early;         /* counter read *without* waiting: what the source's reader risks */
    int seen_counter;
    char seen_message[256];
};

struct shm_report {
    int errno_open_missing; /* shm_open of a name nobody created yet: ENOENT */
    int errno_create_again; /* O_CREAT | O_EXCL on an existing name: EEXIST */
    int mode;               /* permission bits of the segment (/dev/shm/<name>) */
    long size;              /* its size after ftruncate */
    int early_counter;
    int counter;
    char message[256];
};

/* sem_timedwait takes an absolute CLOCK_REALTIME deadline (glibc >= 2.30 also has
 * sem_clockwait, which accepts CLOCK_MONOTONIC). A timeout is only a safety net here. */
static int sem_wait_ms(sem_t *s, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= NS_PER_SEC) {
        until.tv_sec++;
        until.tv_nsec -= NS_PER_SEC;
    }
    while (sem_timedwait(s, &until) != 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

static void shm_reader(const char *name, int timeout_ms)
{
    int fd = shm_open(name, O_RDWR, 0);    /* attach: no O_CREAT, the writer created it */
    if (fd < 0)
        _exit(errno);
    struct shared_data *d = mmap(NULL, sizeof *d, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (d == MAP_FAILED)                   /* E04: mmap fails with MAP_FAILED, not NULL */
        _exit(errno);
    d->seen_early = d->counter;            /* no waiting: 0, the message is not written yet */
    sem_post(&d->attached);
    int rc = sem_wait_ms(&d->ready, timeout_ms);   /* acquire: the writer's stores are visible */
    if (rc != 0)
        _exit(-rc);
    d->seen_counter = d->counter;
    memcpy(d->seen_message, d->message, sizeof d->seen_message);
    munmap(d, sizeof *d);
    _exit(0);
}

int shm_demo(const char *name, int timeout_ms, struct shm_report *out)
{
    memset(out, 0, sizeof *out);
    int fd = shm_open(name, O_RDONLY, 0);  /* the source's reader, started first */
    out->errno_open_missing = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);

    /* E54: 0600, not 0666. O_EXCL: fail rather than reuse (and re-initialise) a live segment. */
    fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int again = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    out->errno_create_again = again < 0 ? errno : 0;
    if (again >= 0)
        close(again);
    int rc = 0;
    struct stat st;
    if (ftruncate(fd, sizeof(struct shared_data)) != 0 || fstat(fd, &st) != 0) {
        rc = -errno;
        close(fd);
        shm_unlink(name);
        return rc;
    }
    out->mode = st.st_mode & 0777;
    out->size = (long)st.st_size;
    struct shared_data *d = mmap(NULL, sizeof *d, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);                             /* the mapping keeps the segment alive */
    if (d == MAP_FAILED) {
        rc = -errno;
        shm_unlink(name);
        return rc;
    }
    /* pshared = 1: the semaphores live in shared memory and work between processes. They are
     * initialised before the reader exists (it is forked below); two unrelated programs would
     * need a published "initialised" flag instead (see ipc.c). */
    if (sem_init(&d->attached, 1, 0) != 0 || sem_init(&d->ready, 1, 0) != 0) {
        rc = -errno;
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0)
        shm_reader(name, timeout_ms);

    rc = sem_wait_ms(&d->attached, timeout_ms);
    shm_unlink(name);                      /* both have it mapped: the name can go */
    if (rc == 0) {
        d->counter = 42;
        snprintf(d->message, sizeof d->message, "Shared data example");
        sem_post(&d->ready);               /* release: publishes the two stores above */
    } else {
        kill(pid, SIGKILL);
    }
    int child_rc = child_status(pid);      /* waitpid also makes the child's stores visible */
    if (rc == 0)
        rc = child_rc;
    out->early_counter = d->seen_early;
    out->counter = d->seen_counter;
    memcpy(out->message, d->seen_message, sizeof out->message);
    out->message[sizeof out->message - 1] = '\0';
    sem_destroy(&d->attached);
    sem_destroy(&d->ready);
out:
    munmap(d, sizeof *d);
    shm_unlink(name);                      /* no-op (ENOENT) if already gone */
    return rc;
}

/* ---- 6. chapter 4.2: capacity, throughput and round trips by message size -------------------- */

/* Set a pipe's capacity with F_SETPIPE_SZ (pipe_size > 0) and report what it is now (F_GETPIPE_SZ).
 * The kernel rounds the request up to a power-of-two number of pages; an unprivileged process may
 * not go above /proc/sys/fs/pipe-max-size (EPERM). Returns the capacity in bytes or -errno. */
static long set_capacity(int fd, long pipe_size)
{
    if (pipe_size > 0 && fcntl(fd, F_SETPIPE_SZ, (int)pipe_size) < 0)
        return -errno;
    long got = fcntl(fd, F_GETPIPE_SZ);
    return got < 0 ? -errno : got;
}

/* read() exactly n bytes (a pipe hands back whatever is there, up to the count asked). */
static int read_exact(int fd, char *buf, size_t n)
{
    while (n > 0) {
        ssize_t k = read(fd, buf, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -EPIPE;                 /* end of file before the message was complete */
        buf += k;
        n -= (size_t)k;
    }
    return 0;
}

struct sweep_report {
    int64_t elapsed_ns;     /* first write (in the writer) to last byte read (in the reader) */
    long reads;             /* read() calls that returned data */
    long capacity;          /* the pipe's capacity during the run (F_GETPIPE_SZ) */
};

/*
 * One-way stream: a forked writer on cpu_b sends `messages` messages of msg_bytes, one write()
 * each; the reader (this process, on cpu_a) reads with a read_bytes buffer until all bytes are in.
 * The writer stamps its start time into a shared page just before its first write, so the fork
 * is not part of the time. Run in a helper process: it pins and forks.
 */
int pipe_sweep_stream(int cpu_a, int cpu_b, long msg_bytes, long messages, long pipe_size, long read_bytes,
                      struct sweep_report *out)
{
    if (msg_bytes < 1 || msg_bytes > (16L << 20) || messages < 1 || read_bytes < 1 || read_bytes > (16L << 20))
        return -EINVAL;
    int64_t *start = shared_page(sizeof *start);
    char *wbuf = malloc((size_t)msg_bytes), *rbuf = malloc((size_t)read_bytes);
    int p[2] = { -1, -1 }, rc = 0;
    if (start == NULL || wbuf == NULL || rbuf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    memset(wbuf, 'w', (size_t)msg_bytes);
    if (pipe2(p, O_CLOEXEC) != 0) {
        rc = -errno;
        goto out;
    }
    long cap = set_capacity(p[1], pipe_size);
    if (cap < 0) {
        rc = (int)cap;
        goto out;
    }
    out->capacity = cap;
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0) {                        /* the writer */
        close(p[0]);
        int wrc = pin_to_cpu(cpu_b);
        *start = now_ns();
        for (long i = 0; wrc == 0 && i < messages; i++)
            wrc = write_all(p[1], wbuf, (size_t)msg_bytes);
        _exit(-wrc);
    }
    close(p[1]);
    p[1] = -1;
    rc = pin_to_cpu(cpu_a);
    long long want = (long long)msg_bytes * messages, got = 0;
    out->reads = 0;
    while (rc == 0 && got < want) {
        ssize_t k = read(p[0], rbuf, (size_t)read_bytes);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            rc = -errno;
        else if (k == 0)
            rc = -EPIPE;                   /* the writer died early */
        else {
            got += k;
            out->reads++;
        }
    }
    out->elapsed_ns = now_ns() - *start;
    close(p[0]);
    p[0] = -1;                             /* a writer still blocked gets EPIPE and exits */
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
out:
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    free(wbuf);
    free(rbuf);
    if (start != NULL)
        munmap(start, sizeof *start);
    return rc;
}

/*
 * Round trips of a msg_bytes message over two pipes (one per direction, erratum E43): side A (this
 * process, cpu_a) writes it, side B (a forked child, cpu_b) reads all of it and writes it back.
 * A message larger than the pipe's capacity goes through in several pieces, each a wake-up.
 * rtt_ns[i] gets the i-th measured round trip; *capacity the pipes' capacity. Run in a helper.
 */
int pipe_rtt_sized(int cpu_a, int cpu_b, long msg_bytes, long pipe_size, int warmup, int iters,
                   int64_t *rtt_ns, long *capacity)
{
    if (msg_bytes < 1 || msg_bytes > (16L << 20) || warmup < 0 || iters < 1)
        return -EINVAL;
    int ab[2] = { -1, -1 }, ba[2] = { -1, -1 }, rc = 0;
    char *buf = malloc((size_t)msg_bytes);
    if (buf == NULL)
        return -ENOMEM;
    memset(buf, 'm', (size_t)msg_bytes);
    if (pipe2(ab, O_CLOEXEC) != 0 || pipe2(ba, O_CLOEXEC) != 0) {
        rc = -errno;
        goto out;
    }
    long cap = set_capacity(ab[1], pipe_size);
    if (cap >= 0 && pipe_size > 0)
        cap = set_capacity(ba[1], pipe_size);
    if (cap < 0) {
        rc = (int)cap;
        goto out;
    }
    *capacity = cap;
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto out;
    }
    if (pid == 0) {                        /* side B: echo until A closes its write end */
        close(ab[1]);
        close(ba[0]);
        int brc = pin_to_cpu(cpu_b);
        while (brc == 0) {
            brc = read_exact(ab[0], buf, (size_t)msg_bytes);
            if (brc == -EPIPE) {
                brc = 0;
                break;
            }
            if (brc == 0)
                brc = write_all(ba[1], buf, (size_t)msg_bytes);
        }
        _exit(-brc);
    }
    close(ab[0]);
    close(ba[1]);
    ab[0] = ba[1] = -1;
    rc = pin_to_cpu(cpu_a);
    for (int i = -warmup; rc == 0 && i < iters; i++) {
        int64_t t0 = now_ns();
        rc = write_all(ab[1], buf, (size_t)msg_bytes);
        if (rc == 0)
            rc = read_exact(ba[0], buf, (size_t)msg_bytes);
        if (rc == 0 && i >= 0)
            rtt_ns[i] = now_ns() - t0;
    }
    close(ab[1]);                          /* B sees end of file and exits */
    ab[1] = -1;
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
out:
    for (int k = 0; k < 2; k++) {
        if (ab[k] >= 0)
            close(ab[k]);
        if (ba[k] >= 0)
            close(ba[k]);
    }
    free(buf);
    return rc;
}
