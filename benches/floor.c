/*
 * The floor for scripts/bench: the least work that opens N TCP connections, so that
 * tcpgoon's cost can be stated as a ratio to what this machine can do at all.
 *
 *   floor connect <ipv4> <port> <n> [interval_us]
 *                                     non-blocking connect of n sockets, then epoll until
 *                                     every one has completed; no per-connection state, no
 *                                     report. Prints one line:
 *                                     `established <k> failed <f> in <seconds>`
 *                                     (from just before the first socket to the last
 *                                     completion) and exits 0 only if all n were established.
 *                                     With an interval, attempt i starts at start + i ×
 *                                     interval, slept for with clock_nanosleep(TIMER_ABSTIME),
 *                                     and a second line gives how late the starts were:
 *                                     `paced span <s> lag p50 <s> p99 <s> max <s>`.
 *   floor accept [seconds]            listens on 127.0.0.1 with the largest backlog the
 *                                     kernel allows, prints `listening on 127.0.0.1:<port>`,
 *                                     accepts and holds every connection (never reads or
 *                                     closes), and on SIGTERM or after `seconds` (default 300)
 *                                     prints `accepted <k> first <t> last <t>` with
 *                                     CLOCK_MONOTONIC seconds, the clock the benchmark's own
 *                                     timestamps use.
 *
 * The acceptor serves both sides of every comparison, so its cost is the same for both.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void count(int fd, long *established, long *failed, uint32_t events) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0 && !(events & (EPOLLERR | EPOLLHUP)))
        (*established)++;
    else
        (*failed)++;
}

static int do_connect(const char *ip, int port, long n, long interval_us) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
        fprintf(stderr, "floor: not an IPv4 address: %s\n", ip);
        return 64;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    long established = 0, failed = 0;
    struct epoll_event events[1024];
    double *lag = interval_us > 0 ? calloc((size_t)n, sizeof *lag) : NULL;
    if (interval_us > 0 && !lag) die("calloc");
    /* The kernel defers timers by up to the thread's slack (50 µs by default); tcpgoon sets
     * it to 1 ns for the same reason. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    struct timespec start_ts;
    clock_gettime(CLOCK_MONOTONIC, &start_ts);
    double start = now(), last_start = start;
    for (long i = 0; i < n; i++) {
        if (lag) {
            long long due_ns = (long long)start_ts.tv_nsec + (long long)i * interval_us * 1000;
            struct timespec due = {.tv_sec = start_ts.tv_sec + (time_t)(due_ns / 1000000000),
                                   .tv_nsec = (long)(due_ns % 1000000000)};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR) {
            }
            last_start = now();
            lag[i] = last_start - ((double)due.tv_sec + (double)due.tv_nsec / 1e9);
            /* Completions so far, without waiting: the epoll queue stays short. */
            int k = epoll_wait(ep, events, 1024, 0);
            for (int j = 0; j < k; j++)
                count(events[j].data.fd, &established, &failed, events[j].events);
        }
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) {
            failed++;
            close(fd);
            continue;
        }
        /* Edge-triggered and never re-armed: each socket reports its completion once. */
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
    }
    while (established + failed < n) {
        int k = epoll_wait(ep, events, 1024, 10000);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) die("epoll_wait");
        if (k == 0) break; /* nothing for 10 s: give up, the count below says so */
        for (int j = 0; j < k; j++)
            count(events[j].data.fd, &established, &failed, events[j].events);
    }
    double elapsed = now() - start;
    printf("established %ld failed %ld in %.6f\n", established, failed, elapsed);
    if (lag) {
        qsort(lag, (size_t)n, sizeof *lag, cmp_double);
        /* Nearest-rank percentiles, as an HdrHistogram reports them. */
        long p50 = (long)((double)n * 0.50 + 0.999999) - 1;
        long p99 = (long)((double)n * 0.99 + 0.999999) - 1;
        printf("paced span %.6f lag p50 %.6f p99 %.6f max %.6f\n", last_start - start,
               lag[p50 < 0 ? 0 : p50], lag[p99 < 0 ? 0 : p99], lag[n - 1]);
    }
    fflush(stdout);
    /* The sockets close at exit, as tcpgoon's do. */
    return established == n ? 0 : 1;
}

static int do_accept(int seconds) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");
    /* The kernel caps this at net.core.somaxconn, which the benchmark raises. */
    if (listen(lfd, 65535) != 0) die("listen");
    socklen_t alen = sizeof addr;
    if (getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) die("getsockname");

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) die("signalfd");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) die("epoll_ctl");
    ev.data.fd = sfd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) != 0) die("epoll_ctl");

    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    long accepted = 0;
    int refused = 0;
    double first = 0, last = 0, stop_at = now() + seconds;
    for (;;) {
        int wait_ms = (int)((stop_at - now()) * 1000);
        if (wait_ms <= 0) break;
        struct epoll_event events[2];
        int k = epoll_wait(ep, events, 2, wait_ms);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) die("epoll_wait");
        int stop = 0;
        for (int j = 0; j < k; j++) {
            if (events[j].data.fd == sfd) {
                stop = 1;
                continue;
            }
            for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno == EINTR || errno == ECONNABORTED) continue;
                    /* Out of descriptors: stop accepting, keep holding what we have. */
                    if ((errno == EMFILE || errno == ENFILE) && !refused) {
                        refused = 1;
                        epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
                    }
                    break;
                }
                last = now();
                if (accepted++ == 0) first = last;
            }
        }
        if (stop) break;
    }
    printf("accepted %ld first %.6f last %.6f%s\n", accepted, first, last,
           refused ? " (out of descriptors)" : "");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    raise_nofile();
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "connect") == 0)
        return do_connect(argv[2], atoi(argv[3]), atol(argv[4]), argc == 6 ? atol(argv[5]) : 0);
    if ((argc == 2 || argc == 3) && strcmp(argv[1], "accept") == 0)
        return do_accept(argc == 3 ? atoi(argv[2]) : 300);
    fprintf(stderr, "usage: floor connect <ipv4> <port> <n> [interval_us]\n"
                    "       floor accept [seconds]\n");
    return 64;
}
