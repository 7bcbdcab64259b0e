/*
 * forkexec.c - fork(), exec(), wait(): the corrected listing of the source text (chapter 1.2,
 * errata E12, E13, E71).
 *
 * A standalone C program (not a cffi module: its output *is* the demonstration). The course runs it
 * with stdout connected to a pipe, as in a Jupyter kernel, a CI log or `prog | less`:
 *
 *     forkexec                   the corrected version: fflush() before fork() and before exec
 *     forkexec --no-flush        the source text's version: no fflush(); the child's line is lost
 *     forkexec --fail-exec       exec a program that does not exist; the child ends with _exit(127)
 *     forkexec --no-flush --fail-exec
 *                                the source text's failure path: `return 1` from main() flushes a
 *                                copy of the parent's buffer, so the parent's line appears twice
 *
 * Why: when stdout is a terminal, stdio flushes at every newline; when it is a pipe or a file it is
 * fully buffered (4 KiB or more) and flushes only when the buffer fills, on fflush() or on exit().
 * fork() copies the buffer into the child along with the rest of memory; execvp() replaces the whole
 * image, buffer included, without flushing it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int flush = 1, fail_exec = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-flush") == 0)
            flush = 0;
        else if (strcmp(argv[i], "--fail-exec") == 0)
            fail_exec = 1;
        else {
            fprintf(stderr, "usage: %s [--no-flush] [--fail-exec]\n", argv[0]);
            return 2;
        }
    }

    printf("parent: pid=%d, about to fork\n", (int)getpid());
    if (flush)
        fflush(stdout);            /* else the child inherits a copy of this unflushed line */

    pid_t pid = fork();            /* glibc: the clone system call with SIGCHLD */
    if (pid < 0) {                 /* -1: no child was created; errno says why */
        perror("fork");
        return 1;
    }
    if (pid == 0) {                /* 0: we are the child */
        char *args[] = { fail_exec ? "no-such-program-hftos" : "echo",
                         "echo: a new program in the child's process", NULL };
        printf("child: pid=%d, ppid=%d, about to exec %s\n", (int)getpid(), (int)getppid(), args[0]);
        if (flush)
            fflush(stdout);        /* E12: execvp() discards unflushed stdio buffers */
        execvp(args[0], args);     /* returns only on failure */
        perror("execvp");          /* stderr is unbuffered: this line is never lost */
        if (flush)
            _exit(127);            /* no atexit handlers, no flush of buffers copied from the parent */
        return 1;                  /* the source text: exit() flushes the parent's copied buffer */
    }

    /* > 0: we are the parent and pid is the child's. Until waitpid() the exited child is a zombie. */
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        perror("waitpid");
        return 1;
    }
    if (WIFEXITED(status))
        printf("parent: child=%d exited with status %d\n", (int)pid, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("parent: child=%d killed by signal %d\n", (int)pid, WTERMSIG(status));
    return 0;
}
