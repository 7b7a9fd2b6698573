/*
 * The floor for heartbeats in scripts/bench: the least work that keeps N connections beating,
 * so that the cost of tcpgoon's `--heartbeat` can be stated against what this machine can do.
 *
 *   beat_floor beat <ipv4> <port> <n> <period_us> <seconds>
 *       connects n sockets (non-blocking connect, epoll until all are up), then for `seconds`
 *       writes `ping\n` on each on an absolute schedule spread over the period (connection k's
 *       beat j is due at start + k/n × period + j × period, as tcpgoon's are) and reads the
 *       echo. One beat is out at a time on a connection; a beat that comes due while the one
 *       before is out is written once that one is answered. A beat's latency runs from its due
 *       time to the end of its echo, into a fixed log-bucket histogram (1/64 relative
 *       precision); nothing else is kept. Once the schedule is over it waits up to 2 s for the
 *       beats out, then prints:
 *         `beats due <d> answered <a> span <s> p50 <s> p99 <s> max <s>`
 *         `cpu user <s> sys <s>` (getrusage of itself)
 *       and exits 0 only if every beat due was answered.
 *   beat_floor echo [seconds]
 *       listens on 127.0.0.1, prints `listening on 127.0.0.1:<port>`, accepts everything and
 *       writes back what it reads, in one epoll loop, until SIGTERM or `seconds` (default
 *       300); then prints `accepted <k> first <t> last <t>` as floor.c does.
 *
 * Per connection the beat side keeps its descriptor, the due time of the beat out, the beats owed
 * and the bytes of the echo read so far: what any program needs to know which beat an answer
 * belongs to.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BEAT "ping\n"
#define BEAT_LEN 5

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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

/* Latency histogram: values below 128 ns exactly, above in 64 sub-buckets per power of two. */
#define SUB 64
#define BUCKETS (2 * SUB + 57 * SUB)
static uint64_t hist[BUCKETS];
static uint64_t recorded, max_ns;

static int bucket(uint64_t v) {
    if (v < 2 * SUB) return (int)v;
    int e = 63 - __builtin_clzll(v); /* >= 7 */
    int shift = e - 6;
    return (int)((uint64_t)(e - 6) * SUB + (v >> shift));
}

static uint64_t bucket_top(int i) {
    if (i < 2 * SUB) return (uint64_t)i;
    int shift = i / SUB - 1;
    uint64_t mantissa = (uint64_t)(i % SUB + SUB);
    return ((mantissa + 1) << shift) - 1;
}

static void record(int64_t ns) {
    uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
    hist[bucket(v)]++;
    recorded++;
    if (v > max_ns) max_ns = v;
}

/* Nearest rank, the bucket's highest value (capped at the max), as HdrHistogram reports. */
static double percentile(double q) {
    if (!recorded) return 0;
    uint64_t rank = (uint64_t)((double)recorded * q + 0.999999);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < BUCKETS; i++) {
        seen += hist[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return (double)(top < max_ns ? top : max_ns) / 1e9;
        }
    }
    return (double)max_ns / 1e9;
}

struct conn {
    int fd;
    uint32_t owed; /* beats due and not yet written, behind the one out */
    uint8_t read;  /* bytes of the echo of the beat out read so far */
    int64_t due;   /* the due time of the beat out; 0: none */
};

static void arm(int tfd, int64_t at) {
    struct itimerspec it = {.it_value = {.tv_sec = at / 1000000000, .tv_nsec = at % 1000000000}};
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &it, NULL) != 0) die("timerfd_settime");
}

static void send_beat(struct conn *c, int64_t due) {
    c->due = due;
    c->read = 0;
    /* Five bytes into an empty send buffer: written whole or the connection is broken. */
    if (write(c->fd, BEAT, BEAT_LEN) != BEAT_LEN) die("write");
}

static int do_beat(const char *ip, int port, long n, long period_us, double seconds) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1 || n < 1 || period_us < 1) {
        fprintf(stderr, "beat_floor: bad arguments\n");
        return 64;
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct conn *conns = calloc((size_t)n, sizeof *conns);
    if (!conns) die("calloc");
    struct epoll_event events[1024];
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS)
            die("connect");
        conns[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
    }
    for (long up = 0; up < n;) {
        int k = epoll_wait(ep, events, 1024, 10000);
        if (k <= 0) die("connect: epoll_wait");
        for (int j = 0; j < k; j++) {
            if (events[j].events & (EPOLLERR | EPOLLHUP)) die("connect");
            up++;
        }
    }
    /* From now on each socket is read, level-triggered. */
    for (long i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, &ev) != 0) die("epoll_ctl");
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0) die("timerfd_create");
    struct epoll_event tev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) != 0) die("epoll_ctl");

    const int64_t period = (int64_t)period_us * 1000;
    const int64_t start = now_ns();
    const int64_t end = start + (int64_t)(seconds * 1e9);
    /* Beat b (all connections' beats in due order) is connection b mod n's, due then. */
    uint64_t next = 0, due_count = 0, answered = 0;
#define DUE(b) (start + (int64_t)((b) / (uint64_t)n) * period + \
                (int64_t)((b) % (uint64_t)n) * period / n)
    arm(tfd, DUE(next));
    int64_t last_answer = start, give_up = 0;
    char buf[4096];
    for (;;) {
        int64_t t = now_ns();
        while (DUE(next) <= t && DUE(next) < end) {
            struct conn *c = &conns[next % (uint64_t)n];
            if (c->due) c->owed++;
            else send_beat(c, DUE(next));
            next++;
            due_count++;
        }
        if (DUE(next) < end) arm(tfd, DUE(next));
        else if (answered == due_count) break;
        else if (!give_up) give_up = t + 2000000000LL;
        else if (t >= give_up) break;
        int timeout = give_up ? 10 : -1;
        int k = epoll_wait(ep, events, 1024, timeout);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) die("epoll_wait");
        for (int j = 0; j < k; j++) {
            if (events[j].data.u64 == UINT64_MAX) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
                    die("read timerfd");
                continue;
            }
            struct conn *c = &conns[events[j].data.u64];
            ssize_t got = read(c->fd, buf, sizeof buf);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                die("read: the echo server closed or failed");
            }
            int64_t at = now_ns();
            for (ssize_t left = got; left > 0;) {
                ssize_t take = BEAT_LEN - c->read < left ? BEAT_LEN - c->read : left;
                c->read = (uint8_t)(c->read + take);
                left -= take;
                if (c->read < BEAT_LEN) break;
                record(at - c->due);
                answered++;
                last_answer = at;
                int64_t due = c->due;
                c->due = 0;
                if (c->owed) {
                    c->owed--;
                    send_beat(c, due + period);
                }
            }
        }
    }
    printf("beats due %llu answered %llu span %.6f p50 %.9f p99 %.9f max %.9f\n",
           (unsigned long long)due_count, (unsigned long long)answered,
           (double)(last_answer - start) / 1e9, percentile(0.50), percentile(0.99),
           (double)max_ns / 1e9);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("cpu user %.6f sys %.6f\n", (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    fflush(stdout);
    return answered == due_count ? 0 : 1;
}

static int do_echo(int seconds) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) die("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");
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
    int64_t first = 0, last = 0, stop_at = now_ns() + (int64_t)seconds * 1000000000;
    char buf[4096];
    struct epoll_event events[1024];
    for (int stop = 0; !stop;) {
        int wait_ms = (int)((stop_at - now_ns()) / 1000000);
        if (wait_ms <= 0) break;
        int k = epoll_wait(ep, events, 1024, wait_ms);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) die("epoll_wait");
        for (int j = 0; j < k; j++) {
            int fd = events[j].data.fd;
            if (fd == sfd) {
                stop = 1;
            } else if (fd == lfd) {
                for (;;) {
                    int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) break;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) != 0) die("epoll_ctl");
                    last = now_ns();
                    if (accepted++ == 0) first = last;
                }
            } else {
                ssize_t got = read(fd, buf, sizeof buf);
                if (got > 0) {
                    /* A beat's echo fits an empty send buffer: small writes never block. */
                    if (write(fd, buf, (size_t)got) < 0 && errno != EAGAIN) close(fd);
                } else if (got == 0 || errno != EAGAIN) {
                    close(fd);
                }
            }
        }
    }
    printf("accepted %ld first %.6f last %.6f\n", accepted, (double)first / 1e9,
           (double)last / 1e9);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    raise_nofile();
    if (argc == 7 && strcmp(argv[1], "beat") == 0)
        return do_beat(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]), atof(argv[6]));
    if ((argc == 2 || argc == 3) && strcmp(argv[1], "echo") == 0)
        return do_echo(argc == 3 ? atoi(argv[2]) : 300);
    fprintf(stderr, "usage: beat_floor beat <ipv4> <port> <n> <period_us> <seconds>\n"
                    "       beat_floor echo [seconds]\n");
    return 64;
}
