/*
 * measure <command> [args...]: runs the command and, once it has exited, appends one line to
 * stdout (which the command shares):
 *
 *   measure: status <s> wall <seconds> user <seconds> sys <seconds> maxrss_kb <k> started <t> exited <t>
 *
 * `started` and `exited` are CLOCK_MONOTONIC seconds just before fork and just after wait4
 * returned; `status` is the exit code, or 128 + signal.
 *
 * Why not measure from Python: the peak RSS the kernel reports for a child is the larger of
 * its own and that of the memory image it replaced at exec, which for a child of Python is
 * Python's (about 14 MB). This launcher's image is far smaller than anything it measures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double secs(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: measure <command> [args...]\n");
        return 64;
    }
    fflush(stdout);
    double started = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror("measure: exec");
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        /* Only EINTR can happen here: the child is ours. */
    }
    double exited = now();
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("measure: status %d wall %.6f user %.6f sys %.6f maxrss_kb %ld started %.6f exited %.6f\n",
           code, exited - started, secs(ru.ru_utime), secs(ru.ru_stime), ru.ru_maxrss, started,
           exited);
    return 0;
}
