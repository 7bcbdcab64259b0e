/*
 * sockets.c - local sockets: round trips over five kinds, fd passing and peer credentials (chapter 4.3).
 *
 *   sock_pingpong  - side A sends a msg_bytes message, side B (a forked child) echoes it, A times
 *                    the round trip. Five kinds, all created by the parent before fork():
 *                      UNIX stream / datagram / seqpacket: socketpair(AF_UNIX, type);
 *                      TCP: a listener on 127.0.0.1 port 0 (the kernel picks a free port),
 *                           connect + accept, TCP_NODELAY on both ends (no Nagle delay);
 *                      UDP: two sockets bound to 127.0.0.1 port 0, connected to each other.
 *                    The first byte of every message is a token: PING, or STOP at the end.
 *   fd_pass_demo   - SCM_RIGHTS: the parent sends an open file (a memfd) over a socket bound in
 *                    the abstract namespace; the child receives a *new descriptor for the same
 *                    open file description* (same inode, shared offset). A second send to a
 *                    receiver with no room for control data shows MSG_CTRUNC: the fd is lost.
 *   peercred_demo  - SO_PEERCRED: who is at the other end (pid, uid, gid), as the kernel
 *                    recorded it at connect()/listen() or socketpair() time.
 *
 * Everything forks, so it runs in a helper process (hftos.native.runner). Every descriptor is
 * closed on every path; abstract names vanish with their last socket (nothing to unlink).
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common.h"

enum kind { K_UNIX_STREAM = 0, K_UNIX_DGRAM = 1, K_UNIX_SEQPACKET = 2, K_TCP = 3, K_UDP = 4 };
enum token { TOKEN_PING = 1, TOKEN_STOP = 2 };

#define MAX_MSG 65507               /* the largest UDP payload over IPv4; the cap for every kind */
#define PATIENCE_S 10               /* a side gives up after this long without a message */

static int is_stream(int kind)
{
    return kind == K_UNIX_STREAM || kind == K_TCP;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* A receive timeout, so a side whose peer died returns EAGAIN instead of waiting forever
 * (a datagram socket never sees end of file). */
static int set_patience(int fd)
{
    struct timeval tv = { PATIENCE_S, 0 };
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 ? 0 : -errno;
}

/* Send one message. Stream sockets may take it in pieces; datagram and seqpacket sockets send it
 * whole or not at all. MSG_NOSIGNAL: a dead peer gives EPIPE, not a SIGPIPE that kills us. */
static int send_msg(int fd, int kind, const char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(fd, buf + done, n - done, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (!is_stream(kind) && (size_t)k != n)
            return -EMSGSIZE;
        done += (size_t)k;
    }
    return 0;
}

/* Receive one message of n bytes: a stream has no message boundaries, so read until n bytes are
 * in; a datagram or seqpacket arrives whole (recv returns its length). -EPIPE: the peer closed. */
static int recv_msg(int fd, int kind, char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = recv(fd, buf + done, n - done, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;                 /* EAGAIN: PATIENCE_S passed without a message */
        }
        if (k == 0 && is_stream(kind))
            return -EPIPE;                 /* end of file */
        if (!is_stream(kind))
            return (size_t)k == n ? 0 : (k == 0 ? -EPIPE : -EPROTO);
        done += (size_t)k;
    }
    return 0;
}

/* TCP over loopback: listen on 127.0.0.1 port 0, connect, accept. Both ends get TCP_NODELAY:
 * without it, Nagle's algorithm may hold a small segment back while an earlier one is unacked. */
static int tcp_pair(int fds[2], int *port)
{
    int lfd = -1, rc = 0, one = 1;
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    fds[0] = fds[1] = -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;                                   /* ephemeral: the kernel picks the port */
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        return -errno;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 1) != 0
        || getsockname(lfd, (struct sockaddr *)&addr, &len) != 0)
        goto fail;
    *port = ntohs(addr.sin_port);
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&addr, sizeof addr) != 0)
        goto fail;
    fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fds[1] < 0)
        goto fail;
    if (setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0
        || setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        goto fail;
    close(lfd);                                          /* the connection outlives the listener */
    return 0;
fail:
    rc = -errno;
    close_fd(&lfd);
    close_fd(&fds[0]);
    close_fd(&fds[1]);
    return rc;
}

/* UDP over loopback: two sockets on 127.0.0.1 port 0, each connect()ed to the other, so plain
 * send/recv work and datagrams from anyone else are filtered out. */
static int udp_pair(int fds[2], int *port)
{
    struct sockaddr_in addr[2];
    int rc = 0;
    fds[0] = fds[1] = -1;
    for (int i = 0; i < 2; i++) {
        socklen_t len = sizeof addr[i];
        memset(&addr[i], 0, sizeof addr[i]);
        addr[i].sin_family = AF_INET;
        addr[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&addr[i], sizeof addr[i]) != 0
            || getsockname(fds[i], (struct sockaddr *)&addr[i], &len) != 0)
            goto fail;
    }
    if (connect(fds[0], (struct sockaddr *)&addr[1], sizeof addr[1]) != 0
        || connect(fds[1], (struct sockaddr *)&addr[0], sizeof addr[0]) != 0)
        goto fail;
    *port = ntohs(addr[0].sin_port);
    return 0;
fail:
    rc = -errno;
    close_fd(&fds[0]);
    close_fd(&fds[1]);
    return rc;
}

static int make_pair(int kind, int fds[2], int *port)
{
    static const int unix_type[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };
    *port = 0;
    if (kind == K_TCP)
        return tcp_pair(fds, port);
    if (kind == K_UDP)
        return udp_pair(fds, port);
    if (kind < 0 || kind > K_UNIX_SEQPACKET)
        return -EINVAL;
    return socketpair(AF_UNIX, unix_type[kind] | SOCK_CLOEXEC, 0, fds) == 0 ? 0 : -errno;
}

/* Side B (the child): echo every PING until STOP, end of file, or PATIENCE_S of silence. */
static int echo_side(int fd, int kind, int cpu, char *buf, size_t n)
{
    int rc = pin_to_cpu(cpu);
    if (rc == 0)
        rc = set_patience(fd);
    while (rc == 0) {
        rc = recv_msg(fd, kind, buf, n);
        if (rc == -EPIPE || (rc == 0 && buf[0] == TOKEN_STOP))
            return 0;
        if (rc == 0)
            rc = send_msg(fd, kind, buf, n);
    }
    return rc;
}

/*
 * Run `warmup` + `iters` round trips of a msg_bytes message; rtt_ns[i] gets the i-th measured one.
 *   kind:     K_UNIX_STREAM, K_UNIX_DGRAM, K_UNIX_SEQPACKET, K_TCP or K_UDP
 *   cpu_a/b:  CPU to pin side A (this process) and side B (a forked child) to; -1: not pinned
 *   *port:    the loopback port the kernel chose (TCP, UDP), else 0
 * Run this in a helper process: it pins the calling thread and forks.
 */
int sock_pingpong(int kind, int cpu_a, int cpu_b, int msg_bytes, int warmup, int iters,
                  int64_t *rtt_ns, int *port)
{
    int fds[2];
    if (msg_bytes < 1 || msg_bytes > MAX_MSG || warmup < 0 || iters < 1)
        return -EINVAL;
    char *buf = calloc(1, (size_t)msg_bytes);
    if (buf == NULL)
        return -ENOMEM;
    int rc = make_pair(kind, fds, port);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        close_fd(&fds[0]);
        close_fd(&fds[1]);
        free(buf);
        return rc;
    }
    if (pid == 0) {                        /* side B: keep only its own end */
        close(fds[0]);
        _exit(-echo_side(fds[1], kind, cpu_b, buf, (size_t)msg_bytes));
    }
    close_fd(&fds[1]);                     /* side A: if B dies, A sees EOF (stream) or times out */
    rc = pin_to_cpu(cpu_a);
    if (rc == 0)
        rc = set_patience(fds[0]);
    memset(buf, 'x', (size_t)msg_bytes);
    for (int i = -warmup; rc == 0 && i < iters; i++) {
        buf[0] = TOKEN_PING;
        int64_t t0 = now_ns();
        rc = send_msg(fds[0], kind, buf, (size_t)msg_bytes);
        if (rc == 0)
            rc = recv_msg(fds[0], kind, buf, (size_t)msg_bytes);
        int64_t t1 = now_ns();
        if (rc == 0 && i >= 0)
            rtt_ns[i] = t1 - t0;
    }
    buf[0] = TOKEN_STOP;                   /* always tell B to stop, even after an error */
    send_msg(fds[0], kind, buf, (size_t)msg_bytes);
    close_fd(&fds[0]);
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
    free(buf);
    return rc;
}

/* ---- the abstract namespace ------------------------------------------------------------------ */

/* An abstract address: sun_path[0] is '\0' and the name is the bytes after it (not NUL-terminated;
 * its length is part of the address). No file is created, so there is nothing to unlink: the name
 * disappears when the last socket bound to it is closed. Permissions do not apply to it: any
 * process in the same network namespace can connect. */
static socklen_t abstract_addr(struct sockaddr_un *a, const char *name)
{
    size_t n = strlen(name);
    if (n > sizeof a->sun_path - 1)
        n = sizeof a->sun_path - 1;
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int listen_abstract(const char *name)
{
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* SO_RCVTIMEO on a listener bounds accept() too: a child that dies before connecting makes the
     * parent's accept() fail with EAGAIN after PATIENCE_S instead of waiting forever. */
    int rc = set_patience(fd);
    if (rc != 0 || bind(fd, (struct sockaddr *)&a, len) != 0 || listen(fd, 4) != 0) {
        int err = rc != 0 ? -rc : errno;
        close(fd);
        return -err;
    }
    return fd;
}

static int connect_abstract(const char *name)
{
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, len) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* Is "@name" in /proc/net/unix (where the kernel lists abstract names with a leading '@')? */
static int listed_in_proc(const char *name)
{
    char line[512], want[128];
    int found = 0;
    snprintf(want, sizeof want, "@%s", name);
    FILE *f = fopen("/proc/net/unix", "re");
    if (f == NULL)
        return -1;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        const char *last = strrchr(line, ' ');
        found = last != NULL && strcmp(last + 1, want) == 0;
    }
    fclose(f);
    return found;
}

static void *shared_page(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* ---- SCM_RIGHTS: passing an open file to another process ------------------------------------- */

struct fdpass_report {
    int listed_in_proc_net_unix;    /* 1: "@name" appeared in /proc/net/unix while bound */
    int listed_after_close;         /* ... and after the listener closed (0: the name is gone) */
    int sent_fd;                    /* the descriptor number in the sender */
    int received_fd;                /* the number the receiver got: the lowest free one in ITS table */
    long sender_ino, receiver_ino;  /* fstat of both: the same inode */
    char child_read[32];            /* what the receiver read through its descriptor */
    long offset_after_child_read;   /* the sender's lseek(fd, 0, SEEK_CUR) afterwards: shared offset */
    int ctrunc;                     /* 1: a recvmsg without room for control data got MSG_CTRUNC */
    int fds_after_ctrunc;           /* descriptors the receiver got from that message (0: lost) */
};

/* Send one byte of data plus one descriptor as SCM_RIGHTS ancillary data (at least one data byte:
 * a zero-length send carries no ancillary data on a stream socket). */
static int send_fd(int sock, int fd)
{
    char byte = 'F';
    struct iovec iov = { &byte, 1 };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* Receive one byte and, if the control buffer has room (room = 1), one descriptor. Returns the
 * descriptor, -1 if none arrived, or -errno; *flags gets msg_flags (MSG_CTRUNC). MSG_CMSG_CLOEXEC
 * marks the new descriptor close-on-exec atomically. */
static int recv_fd(int sock, int room, int *flags)
{
    char byte;
    struct iovec iov = { &byte, 1 };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = room ? u.buf : NULL, .msg_controllen = room ? sizeof u.buf : 0 };
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EPIPE;
    *flags = m.msg_flags;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd;
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
            return fd;
        }
    }
    return -1;
}

/* The receiver: connect by abstract name, take the descriptor, read through it, report. */
static void fd_receiver(const char *name, struct fdpass_report *rep)
{
    int s = connect_abstract(name), flags = 0;
    if (s < 0)
        _exit(-s);
    /* Burn a few descriptor numbers, so the received number visibly differs from the sender's. */
    int spare[3];
    for (int i = 0; i < 3; i++)
        spare[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int fd = recv_fd(s, 1, &flags);
    if (fd < 0)
        _exit(fd == -1 ? EBADMSG : -fd);
    rep->received_fd = fd;
    struct stat st;
    if (fstat(fd, &st) == 0)
        rep->receiver_ino = (long)st.st_ino;
    ssize_t n = read(fd, rep->child_read, 5);          /* moves the SHARED file offset by 5 */
    rep->child_read[n > 0 ? n : 0] = '\0';
    close(fd);
    /* The second message: no room for control data. The kernel drops the descriptor (closes its
     * reference) and sets MSG_CTRUNC: a receiver that ignores msg_flags silently loses the file. */
    int fd2 = recv_fd(s, 0, &flags);
    rep->ctrunc = (flags & MSG_CTRUNC) != 0;
    rep->fds_after_ctrunc = fd2 >= 0;
    if (fd2 >= 0)
        close(fd2);
    for (int i = 0; i < 3; i++)
        if (spare[i] >= 0)
            close(spare[i]);
    close(s);
    _exit(0);
}

int fd_pass_demo(const char *name, const char *payload, struct fdpass_report *out)
{
    struct fdpass_report *rep = shared_page(sizeof *rep);
    if (rep == NULL)
        return -errno;
    memset(rep, 0, sizeof *rep);
    int rc = 0, conn = -1, file = -1;
    int lfd = listen_abstract(name);
    if (lfd < 0) {
        rc = lfd;
        goto unmap;
    }
    rep->listed_in_proc_net_unix = listed_in_proc(name);
    file = memfd_create("hftos-fdpass", MFD_CLOEXEC);  /* an anonymous file: nothing on disk */
    if (file < 0 || write_all(file, payload, strlen(payload)) != 0 || lseek(file, 0, SEEK_SET) != 0) {
        rc = file < 0 ? -errno : -EIO;
        goto close_all;
    }
    rep->sent_fd = file;
    struct stat st;
    if (fstat(file, &st) == 0)
        rep->sender_ino = (long)st.st_ino;
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto close_all;
    }
    if (pid == 0) {
        close(lfd);
        close(file);        /* the child must not simply inherit the file: it gets it by message */
        fd_receiver(name, rep);
    }
    conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        rc = -errno;
    if (rc == 0)
        rc = send_fd(conn, file);              /* the child now holds the file too */
    if (rc == 0)
        rc = send_fd(conn, file);              /* ... and this one it will lose (MSG_CTRUNC) */
    if (rc != 0)
        kill(pid, SIGKILL);
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
    rep->offset_after_child_read = (long)lseek(file, 0, SEEK_CUR);
    close_fd(&conn);                           /* an accepted socket carries the name too */
    close_fd(&lfd);
    rep->listed_after_close = listed_in_proc(name);
    *out = *rep;
close_all:
    close_fd(&conn);
    close_fd(&file);
    close_fd(&lfd);
unmap:
    munmap(rep, sizeof *rep);
    return rc;
}

/* ---- SO_PEERCRED: who is at the other end? --------------------------------------------------- */

struct peercred_report {
    int parent_pid, child_pid, uid, gid;
    int server_sees_pid, server_sees_uid, server_sees_gid;  /* accept()ed socket: the connecting child */
    int client_sees_pid;                                    /* the child's connected socket: the listener */
    int pair_child_sees_pid;   /* socketpair made by the parent before fork(): the CREATOR, not the peer */
};

int peercred_demo(const char *name, struct peercred_report *out)
{
    struct peercred_report *rep = shared_page(sizeof *rep);
    if (rep == NULL)
        return -errno;
    memset(rep, 0, sizeof *rep);
    rep->parent_pid = getpid();
    rep->uid = (int)getuid();
    rep->gid = (int)getgid();
    int rc = 0, conn = -1, pair[2] = { -1, -1 };
    int lfd = listen_abstract(name);
    if (lfd < 0) {
        rc = lfd;
        goto unmap;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        rc = -errno;
        goto close_all;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        goto close_all;
    }
    if (pid == 0) {
        close(lfd);
        close(pair[0]);
        struct ucred cr;
        socklen_t len = sizeof cr;
        if (getsockopt(pair[1], SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
            rep->pair_child_sees_pid = cr.pid;
        int s = connect_abstract(name);
        if (s < 0)
            _exit(-s);
        len = sizeof cr;
        if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
            rep->client_sees_pid = cr.pid;
        char byte;
        while (read(s, &byte, 1) < 0 && errno == EINTR)   /* wait until the parent has looked */
            ;
        close(s);
        close(pair[1]);
        _exit(0);
    }
    rep->child_pid = pid;
    conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
        rc = -errno;
    } else {
        struct ucred cr;
        socklen_t len = sizeof cr;
        if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) {
            rc = -errno;
        } else {
            rep->server_sees_pid = cr.pid;
            rep->server_sees_uid = (int)cr.uid;
            rep->server_sees_gid = (int)cr.gid;
        }
        close_fd(&conn);                       /* the child's read() returns 0: it may exit */
    }
    if (rc != 0)
        kill(pid, SIGKILL);
    int child_rc = child_status(pid);
    if (rc == 0)
        rc = child_rc;
    *out = *rep;
close_all:
    close_fd(&pair[0]);
    close_fd(&pair[1]);
    close_fd(&lfd);
unmap:
    munmap(rep, sizeof *rep);
    return rc;
}
