/* tcp_fault_proxy: a userspace TCP proxy that injects network faults for the fault tests (this
 * kernel has no netem qdisc, so latency and link faults come from here).
 *
 *   tcp_fault_proxy --listen HOST:PORT --target HOST:PORT --control PATH [--delay-us N] [--seed N]
 *   tcp_fault_proxy ctl PATH CMD...      send control commands, print the answers
 *
 * Design. One thread, one epoll loop, every socket nonblocking and level-triggered. Each accepted
 * client gets its own upstream connection; a connection has two flows (up: client->target, down:
 * target->client). Bytes read from a flow's source become a chunk stamped with the time it may be
 * written (now + delay), appended to the flow's queue; the queue is written to the destination in
 * order once its head is due. So a delay shifts every byte by the same amount without serializing
 * anything: throughput is bounded by QUEUE_MAX / delay, not by the delay. A flow stops reading
 * its source while its queue holds QUEUE_MAX bytes (backpressure). One timerfd, armed at the
 * earliest due chunk, wakes the loop. A side with nothing to read or write is removed from epoll
 * so a hung-up socket cannot spin the loop.
 *
 * Faults are decided where bytes enter a queue (corrupt, blackhole, fault-rate) or leave it
 * (stall), or act on whole connections (drop, refuse). The control socket is a Unix stream
 * socket taking one text command per line; see docs/fault-proxy.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_MAX      (64u << 10) /* one read */
#define QUEUE_MAX      (4u << 20)  /* per flow, before the source is no longer read */
#define READS_PER_WAKE 8           /* fairness between connections */
#define CTL_LINE_MAX   512
#define FAULT_STALL_NS (200ull * 1000 * 1000)
#define MAX_DELAY_US   (60ull * 1000 * 1000)

/* Directions double as the index of the side they read from: UP reads the client (side 0) and
 * writes the target (side 1); DOWN reads the target and writes the client. */
enum { UP = 0, DOWN = 1 };
enum { CLI = 0, SRV = 1 };
static const char *const dir_name[2] = {"up", "down"};
static const char *const side_name[2] = {"client", "target"};

enum ep_kind { EP_LISTEN, EP_CTL_LISTEN, EP_CTL, EP_SIGNAL, EP_TIMER, EP_SIDE };

struct ep { /* what an epoll event points at */
    enum ep_kind kind;
    void *owner;
    int side;
};

struct chunk {
    struct chunk *next;
    uint64_t due_ns;
    uint32_t len, off;
    unsigned char data[];
};

struct flow {
    struct chunk *head, *tail;
    size_t queued;         /* bytes queued, not yet written */
    uint64_t fwd;          /* bytes accepted for forwarding: the stream offset */
    uint64_t written;      /* bytes written to the destination */
    uint64_t corrupt_base; /* fwd when the last corrupt command was given */
    bool src_eof;          /* the source sent FIN */
    bool dst_shut;         /* FIN passed on to the destination */
    bool blocked;          /* the destination said EAGAIN; waiting for EPOLLOUT */
};

struct conn {
    struct conn *prev, *next;
    unsigned long long id;
    int fd[2];
    struct ep ep[2];
    uint32_t mask[2];   /* epoll interest now */
    bool registered[2]; /* in the epoll set */
    bool connecting;    /* upstream connect() in progress */
    bool dead;
    uint64_t stall_until; /* fault-rate stall of this connection */
    struct flow flow[2];
    char peer[80];
};

struct ctl_client {
    struct ctl_client *prev, *next;
    int fd;
    struct ep ep;
    bool dead;
    size_t len;
    char buf[CTL_LINE_MAX];
};

struct proxy {
    int epfd, lfd, cfd, sigfd, tfd;
    struct ep ep_listen, ep_ctl, ep_sig, ep_timer;
    struct sockaddr_storage target;
    socklen_t target_len;
    char listen_str[80], target_str[80];
    const char *ctl_path;
    struct conn *conns, *dead_conns;
    struct ctl_client *ctls, *dead_ctls;
    uint64_t delay_ns, timer_at;
    bool stall, refuse, blackhole, quit;
    struct {
        bool armed;
        uint64_t at;
    } corrupt[2];
    double fault_rate;
    uint64_t rng;
    unsigned long long next_id;
    struct {
        unsigned long long conns, active, refused, resets, corrupted;
        uint64_t bytes[2];
    } st;
    unsigned char rbuf[CHUNK_MAX];
};

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%02d:%02d:%02d.%03ld tcp_fault_proxy: %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, msg);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, seedable, good enough to pick faults reproducibly. */
static uint64_t rng_next(struct proxy *p)
{
    uint64_t z = (p->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unit(struct proxy *p)
{
    return (double)(rng_next(p) >> 11) * 0x1.0p-53;
}

static void addr_str(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
    char host[64], serv[16];
    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, outlen, "?");
        return;
    }
    snprintf(out, outlen, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, serv);
}

/* Resolves "HOST:PORT" ("[v6]:PORT", ":PORT" = any address) into *ss. */
static int resolve(const char *spec, bool passive, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof(host) || !colon[1])
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    char *h = host;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h[hl - 1] = 0;
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai);
    if (rc != 0) {
        say("cannot resolve %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Closes with SO_LINGER 0, so the peer gets RST instead of FIN. */
static void close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static int sock_error(int fd)
{
    int err = 0;
    socklen_t l = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
        return errno;
    return err;
}

static void epoll_watch(struct proxy *p, int fd, uint32_t events, struct ep *ep)
{
    struct epoll_event ev = {.events = events, .data.ptr = ep};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        say("epoll_ctl: %s", strerror(errno));
        exit(1);
    }
}

/* ---- connections ---- */

static void flow_free(struct flow *f)
{
    while (f->head) {
        struct chunk *ch = f->head;
        f->head = ch->next;
        free(ch);
    }
    f->tail = NULL;
    f->queued = 0;
}

/* Unlinks c and closes its sockets (RST if abort); freed after the current batch of events. */
static void conn_end(struct proxy *p, struct conn *c, bool abort, const char *why)
{
    if (c->dead)
        return;
    c->dead = true;
    say("conn %llu: %s (%s); up %" PRIu64 " bytes, down %" PRIu64 " bytes", c->id,
        abort ? "reset" : "closed", why, c->flow[UP].written, c->flow[DOWN].written);
    for (int s = 0; s < 2; s++) {
        if (c->fd[s] < 0)
            continue;
        if (abort)
            close_reset(c->fd[s]);
        else
            close(c->fd[s]);
        c->fd[s] = -1;
    }
    if (abort)
        p->st.resets++;
    p->st.active--;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    flow_free(&c->flow[UP]);
    flow_free(&c->flow[DOWN]);
    c->next = p->dead_conns;
    p->dead_conns = c;
}

__attribute__((format(printf, 3, 4))) static void conn_abort(struct proxy *p, struct conn *c,
                                                             const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    conn_end(p, c, true, why);
}

static bool may_forward(const struct proxy *p, const struct conn *c, uint64_t now)
{
    return !p->stall && now >= c->stall_until;
}

/* Writes what is due of flow d, and passes on a FIN once the queue is empty. */
static void flow_pump(struct proxy *p, struct conn *c, int d, uint64_t now)
{
    struct flow *f = &c->flow[d];
    int dst = c->fd[!d];
    if ((d == UP && c->connecting) || f->blocked || !may_forward(p, c, now))
        return;
    while (f->head && f->head->due_ns <= now) {
        struct chunk *ch = f->head;
        ssize_t n = send(dst, ch->data + ch->off, ch->len - ch->off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                f->blocked = true;
                return;
            }
            conn_abort(p, c, "write to %s failed: %s", side_name[!d], strerror(errno));
            return;
        }
        ch->off += (uint32_t)n;
        f->queued -= (size_t)n;
        f->written += (uint64_t)n;
        p->st.bytes[d] += (uint64_t)n;
        if (ch->off == ch->len) {
            f->head = ch->next;
            if (!f->head)
                f->tail = NULL;
            free(ch);
        }
    }
    if (!f->head && f->src_eof && !f->dst_shut && !p->blackhole) {
        shutdown(dst, SHUT_WR);
        f->dst_shut = true;
    }
}

static void side_set_mask(struct proxy *p, struct conn *c, int s, uint32_t m)
{
    if (c->registered[s] ? m == c->mask[s] : m == 0)
        return;
    struct epoll_event ev = {.events = m, .data.ptr = &c->ep[s]};
    int rc;
    if (m == 0) {
        rc = epoll_ctl(p->epfd, EPOLL_CTL_DEL, c->fd[s], NULL);
        c->registered[s] = false;
    } else {
        rc = epoll_ctl(p->epfd, c->registered[s] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd[s], &ev);
        c->registered[s] = true;
    }
    if (rc < 0)
        say("conn %llu: epoll_ctl: %s", c->id, strerror(errno));
    c->mask[s] = m;
}

/* Moves c forward after anything happened to it: writes what is due, closes it when both
 * flows are finished, and sets what the loop should wait for on each side. */
static void conn_update(struct proxy *p, struct conn *c, uint64_t now)
{
    for (int d = 0; d < 2 && !c->dead; d++)
        flow_pump(p, c, d, now);
    if (c->dead)
        return;
    if (c->flow[UP].dst_shut && c->flow[DOWN].dst_shut) {
        conn_end(p, c, false, "both ends finished");
        return;
    }
    for (int s = 0; s < 2; s++) {
        uint32_t m = 0;
        if (s == SRV && c->connecting) {
            m = EPOLLOUT;
        } else {
            if (!c->flow[s].src_eof && c->flow[s].queued < QUEUE_MAX)
                m |= EPOLLIN;
            if (c->flow[!s].blocked)
                m |= EPOLLOUT;
        }
        side_set_mask(p, c, s, m);
    }
}

/* Bytes just read from the source of flow d: faults, then the queue. */
static void flow_take(struct proxy *p, struct conn *c, int d, unsigned char *b, size_t n,
                      uint64_t now)
{
    struct flow *f = &c->flow[d];
    if (p->blackhole)
        return;
    if (p->fault_rate > 0 && rng_unit(p) < p->fault_rate) {
        if (rng_next(p) & 1) {
            conn_abort(p, c, "fault-rate: reset on a %zu-byte %s chunk", n, dir_name[d]);
            return;
        }
        c->stall_until = now + FAULT_STALL_NS;
        say("conn %llu: fault-rate: stall 200 ms on a %zu-byte %s chunk", c->id, n, dir_name[d]);
    }
    if (p->corrupt[d].armed) {
        uint64_t start = f->fwd - f->corrupt_base, at = p->corrupt[d].at;
        if (at >= start && at < start + n) {
            unsigned char *byte = b + (at - start);
            say("conn %llu: corrupt: flipped bit 0 of %s byte %" PRIu64
                " from now (0x%02x -> 0x%02x)",
                c->id, dir_name[d], at, *byte, *byte ^ 1u);
            *byte ^= 1u;
            p->corrupt[d].armed = false;
            p->st.corrupted++;
        }
    }
    f->fwd += n;
    struct chunk *ch = malloc(sizeof(*ch) + n);
    if (!ch) {
        conn_abort(p, c, "out of memory");
        return;
    }
    ch->next = NULL;
    ch->due_ns = now + p->delay_ns;
    ch->len = (uint32_t)n;
    ch->off = 0;
    memcpy(ch->data, b, n);
    if (f->tail)
        f->tail->next = ch;
    else
        f->head = ch;
    f->tail = ch;
    f->queued += n;
}

static void side_read(struct proxy *p, struct conn *c, int s, uint64_t now)
{
    struct flow *f = &c->flow[s];
    for (int i = 0; i < READS_PER_WAKE && !c->dead && !f->src_eof && f->queued < QUEUE_MAX; i++) {
        ssize_t n = recv(c->fd[s], p->rbuf, sizeof(p->rbuf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_abort(p, c, "read from %s failed: %s", side_name[s], strerror(errno));
            return;
        }
        if (n == 0) {
            f->src_eof = true;
            return;
        }
        flow_take(p, c, s, p->rbuf, (size_t)n, now);
    }
}

static void side_event(struct proxy *p, struct conn *c, int s, uint32_t events)
{
    uint64_t now = now_ns();
    if (c->dead)
        return;
    if (s == SRV && c->connecting) {
        int err = sock_error(c->fd[SRV]);
        if (err) {
            conn_abort(p, c, "connect to %s failed: %s", p->target_str, strerror(err));
            return;
        }
        c->connecting = false;
    } else {
        if (events & EPOLLERR) {
            int err = sock_error(c->fd[s]);
            if (err) {
                conn_abort(p, c, "%s: %s", side_name[s], strerror(err));
                return;
            }
        }
        if (events & (EPOLLIN | EPOLLHUP))
            side_read(p, c, s, now);
        if (c->dead)
            return;
        if (events & (EPOLLOUT | EPOLLHUP))
            c->flow[!s].blocked = false;
    }
    conn_update(p, c, now);
}

static void conn_open(struct proxy *p, int cfd, const struct sockaddr *sa, socklen_t salen)
{
    char peer[80];
    addr_str(sa, salen, peer, sizeof(peer));
    if (p->refuse) {
        close_reset(cfd);
        p->st.refused++;
        p->st.resets++;
        say("refused connection from %s (refuse on)", peer);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    int ufd = socket(p->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!c || ufd < 0) {
        say("connection from %s: %s", peer, c ? strerror(errno) : "out of memory");
        free(c);
        if (ufd >= 0)
            close(ufd);
        close_reset(cfd);
        p->st.resets++;
        return;
    }
    c->id = ++p->next_id;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->fd[CLI] = cfd;
    c->fd[SRV] = ufd;
    for (int s = 0; s < 2; s++) {
        c->ep[s] = (struct ep){EP_SIDE, c, s};
        set_nodelay(c->fd[s]);
    }
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    p->st.conns++;
    p->st.active++;
    say("conn %llu: %s -> %s", c->id, peer, p->target_str);
    if (connect(ufd, (struct sockaddr *)&p->target, p->target_len) < 0) {
        if (errno != EINPROGRESS) {
            conn_abort(p, c, "connect to %s failed: %s", p->target_str, strerror(errno));
            return;
        }
        c->connecting = true;
    }
    conn_update(p, c, now_ns());
}

static void on_accept(struct proxy *p)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(p->lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                say("accept: %s", strerror(errno));
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        conn_open(p, fd, (struct sockaddr *)&ss, len);
    }
}

static void update_all(struct proxy *p)
{
    uint64_t now = now_ns();
    for (struct conn *c = p->conns, *n; c; c = n) {
        n = c->next;
        conn_update(p, c, now);
    }
}

/* Arms the timer at the earliest moment a queued chunk (or a held FIN) becomes due. Every flow
 * counted here makes progress when pumped (it writes, blocks on EAGAIN or fails), so a timer that
 * fires at once cannot spin. */
static void arm_timer(struct proxy *p)
{
    uint64_t now = now_ns(), next = UINT64_MAX;
    if (!p->stall) {
        for (struct conn *c = p->conns; c; c = c->next) {
            for (int d = 0; d < 2; d++) {
                const struct flow *f = &c->flow[d];
                if (f->blocked || (d == UP && c->connecting))
                    continue;
                if (!f->head && !(f->src_eof && !f->dst_shut && !p->blackhole))
                    continue;
                uint64_t t = f->head ? f->head->due_ns : 0;
                if (c->stall_until > t)
                    t = c->stall_until;
                if (t < now)
                    t = now; /* came due while other events were handled: fire at once */
                if (t < next)
                    next = t;
            }
        }
    }
    if (next == UINT64_MAX)
        next = 0;
    if (next == p->timer_at)
        return;
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(next / 1000000000ull),
                                          .tv_nsec = (long)(next % 1000000000ull)}};
    timerfd_settime(p->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    p->timer_at = next;
}

/* ---- control socket ---- */

static void ctl_end(struct proxy *p, struct ctl_client *cc)
{
    if (cc->dead)
        return;
    cc->dead = true;
    close(cc->fd);
    if (cc->prev)
        cc->prev->next = cc->next;
    else
        p->ctls = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    cc->next = p->dead_ctls;
    p->dead_ctls = cc;
}

__attribute__((format(printf, 3, 4))) static void ctl_reply(struct proxy *p, struct ctl_client *cc,
                                                            const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* Answers are short; a client that does not read them is dropped, never waited for. */
    if (send(cc->fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        say("control client not reading its answers; closing it");
        ctl_end(p, cc);
    }
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_onoff(const char *s, bool *out)
{
    if (s && !strcmp(s, "on"))
        *out = true;
    else if (s && !strcmp(s, "off"))
        *out = false;
    else
        return -1;
    return 0;
}

static size_t queued(const struct proxy *p, int d)
{
    size_t q = 0;
    for (const struct conn *c = p->conns; c; c = c->next)
        q += c->flow[d].queued;
    return q;
}

static void ctl_command(struct proxy *p, struct ctl_client *cc, char *line)
{
    char *save = NULL, *cmd = strtok_r(line, " \t\r", &save);
    char *a1 = strtok_r(NULL, " \t\r", &save), *a2 = strtok_r(NULL, " \t\r", &save);
    char *extra = strtok_r(NULL, " \t\r", &save);
    uint64_t v;
    bool on;
    if (!cmd) {
        ctl_reply(p, cc, "err empty command");
    } else if (extra) {
        ctl_reply(p, cc, "err too many arguments");
    } else if (!strcmp(cmd, "delay")) {
        if (a2 || parse_u64(a1, MAX_DELAY_US, &v) < 0) {
            ctl_reply(p, cc, "err usage: delay US (0..%llu)", (unsigned long long)MAX_DELAY_US);
            return;
        }
        p->delay_ns = v * 1000;
        say("delay %" PRIu64 " us each way", v);
        ctl_reply(p, cc, "ok delay=%" PRIu64, v);
    } else if (!strcmp(cmd, "stall") || !strcmp(cmd, "refuse") || !strcmp(cmd, "blackhole")) {
        if (a2 || parse_onoff(a1, &on) < 0) {
            ctl_reply(p, cc, "err usage: %s on|off", cmd);
            return;
        }
        bool *flag = cmd[0] == 's' ? &p->stall : cmd[0] == 'r' ? &p->refuse : &p->blackhole;
        *flag = on;
        say("%s %s", cmd, a1);
        ctl_reply(p, cc, "ok %s=%s", cmd, a1);
    } else if (!strcmp(cmd, "drop")) {
        unsigned long long n = 0;
        while (p->conns) {
            conn_abort(p, p->conns, "drop command");
            n++;
        }
        ctl_reply(p, cc, "ok dropped=%llu", n);
    } else if (!strcmp(cmd, "corrupt")) {
        int d = a1 && !strcmp(a1, "up") ? UP : a1 && !strcmp(a1, "down") ? DOWN : -1;
        if (d < 0 || parse_u64(a2, UINT64_MAX, &v) < 0) {
            ctl_reply(p, cc, "err usage: corrupt up|down OFFSET");
            return;
        }
        p->corrupt[d].armed = true;
        p->corrupt[d].at = v;
        for (struct conn *c = p->conns; c; c = c->next)
            c->flow[d].corrupt_base = c->flow[d].fwd;
        say("corrupt: will flip a bit of %s byte %" PRIu64 " from now", dir_name[d], v);
        ctl_reply(p, cc, "ok corrupt %s %" PRIu64, dir_name[d], v);
    } else if (!strcmp(cmd, "fault-rate")) {
        char *end = NULL;
        double r = a1 ? strtod(a1, &end) : -1;
        if (a2 || !a1 || *end || !(r >= 0 && r <= 1)) {
            ctl_reply(p, cc, "err usage: fault-rate P (0..1)");
            return;
        }
        p->fault_rate = r;
        say("fault-rate %g", r);
        ctl_reply(p, cc, "ok fault-rate=%g", r);
    } else if (!strcmp(cmd, "stats") && !a1) {
        ctl_reply(p, cc,
                  "ok conns=%llu up_bytes=%" PRIu64 " down_bytes=%" PRIu64
                  " resets=%llu corrupted=%llu active=%llu refused=%llu queued_up=%zu"
                  " queued_down=%zu",
                  p->st.conns, p->st.bytes[UP], p->st.bytes[DOWN], p->st.resets, p->st.corrupted,
                  p->st.active, p->st.refused, queued(p, UP), queued(p, DOWN));
    } else if (!strcmp(cmd, "addr") && !a1) {
        ctl_reply(p, cc, "ok %s", p->listen_str);
    } else if (!strcmp(cmd, "quit") && !a1) {
        say("quit command");
        ctl_reply(p, cc, "ok bye");
        p->quit = true;
    } else {
        ctl_reply(p, cc, "err unknown command '%s'", cmd);
    }
}

static void ctl_readable(struct proxy *p, struct ctl_client *cc)
{
    ssize_t n = recv(cc->fd, cc->buf + cc->len, sizeof(cc->buf) - cc->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        ctl_end(p, cc);
        return;
    }
    cc->len += (size_t)n;
    char *nl;
    while (!cc->dead && (nl = memchr(cc->buf, '\n', cc->len))) {
        *nl = 0;
        ctl_command(p, cc, cc->buf);
        update_all(p); /* "stall off", "blackhole off"... act before the next command */
        size_t used = (size_t)(nl + 1 - cc->buf);
        memmove(cc->buf, nl + 1, cc->len - used);
        cc->len -= used;
    }
    if (!cc->dead && cc->len == sizeof(cc->buf)) {
        ctl_reply(p, cc, "err line too long");
        ctl_end(p, cc);
    }
}

static void on_ctl_accept(struct proxy *p)
{
    int fd;
    while ((fd = accept4(p->cfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct ctl_client *cc = calloc(1, sizeof(*cc));
        if (!cc) {
            close(fd);
            continue;
        }
        cc->fd = fd;
        cc->ep = (struct ep){EP_CTL, cc, 0};
        cc->next = p->ctls;
        if (p->ctls)
            p->ctls->prev = cc;
        p->ctls = cc;
        epoll_watch(p, fd, EPOLLIN, &cc->ep);
    }
}

/* ---- setup, loop, teardown ---- */

static int open_listener(struct proxy *p, const char *spec)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (resolve(spec, true, &ss, &len) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
        say("cannot listen on %s: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    addr_str((struct sockaddr *)&ss, len, p->listen_str, sizeof(p->listen_str));
    p->lfd = fd;
    return 0;
}

static int open_control(struct proxy *p, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        say("control path too long: %s", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 16) < 0) {
        say("cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    p->cfd = fd;
    p->ctl_path = path;
    return 0;
}

static void teardown(struct proxy *p)
{
    while (p->conns)
        conn_end(p, p->conns, false, "proxy shutting down");
    while (p->ctls)
        ctl_end(p, p->ctls);
    while (p->dead_conns) {
        struct conn *c = p->dead_conns;
        p->dead_conns = c->next;
        free(c);
    }
    while (p->dead_ctls) {
        struct ctl_client *cc = p->dead_ctls;
        p->dead_ctls = cc->next;
        free(cc);
    }
    close(p->lfd);
    close(p->cfd);
    unlink(p->ctl_path);
    close(p->sigfd);
    close(p->tfd);
    close(p->epfd);
}

static void run(struct proxy *p)
{
    struct epoll_event evs[64];
    while (!p->quit) {
        arm_timer(p);
        int n = epoll_wait(p->epfd, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            say("epoll_wait: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n && !p->quit; i++) {
            struct ep *ep = evs[i].data.ptr;
            switch (ep->kind) {
            case EP_LISTEN:
                on_accept(p);
                break;
            case EP_CTL_LISTEN:
                on_ctl_accept(p);
                break;
            case EP_CTL:
                if (!((struct ctl_client *)ep->owner)->dead)
                    ctl_readable(p, ep->owner);
                break;
            case EP_SIGNAL: {
                struct signalfd_siginfo si;
                if (read(p->sigfd, &si, sizeof(si)) == sizeof(si)) {
                    say("%s: shutting down", strsignal((int)si.ssi_signo));
                    p->quit = true;
                }
                break;
            }
            case EP_TIMER: {
                uint64_t ticks;
                if (read(p->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
                    say("timerfd: %s", strerror(errno));
                p->timer_at = 0;
                update_all(p);
                break;
            }
            case EP_SIDE:
                side_event(p, ep->owner, ep->side, evs[i].events);
                break;
            }
        }
        while (p->dead_conns) {
            struct conn *c = p->dead_conns;
            p->dead_conns = c->next;
            free(c);
        }
        while (p->dead_ctls) {
            struct ctl_client *cc = p->dead_ctls;
            p->dead_ctls = cc->next;
            free(cc);
        }
    }
}

/* tcp_fault_proxy ctl PATH CMD...: one answer line per command on stdout; exit 0 if every
 * answer is "ok ...", 1 if one is "err ...", 3 if the proxy cannot be reached or hangs up. */
static int ctl_main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: tcp_fault_proxy ctl PATH CMD...\n");
        return 2;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[2]);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 10};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        fprintf(stderr, "tcp_fault_proxy ctl: %s: %s\n", argv[2], strerror(errno));
        if (fd >= 0)
            close(fd);
        return 3;
    }
    int rc = 0;
    for (int i = 3; i < argc && rc != 3; i++) {
        char line[CTL_LINE_MAX];
        int len = snprintf(line, sizeof(line), "%s\n", argv[i]);
        if (len < 0 || (size_t)len >= sizeof(line) ||
            send(fd, line, (size_t)len, MSG_NOSIGNAL) != len) {
            fprintf(stderr, "tcp_fault_proxy ctl: cannot send '%s'\n", argv[i]);
            rc = 3;
            break;
        }
        size_t got = 0;
        while (got < sizeof(line) - 1) {
            ssize_t n = recv(fd, line + got, 1, 0);
            if (n <= 0 || line[got] == '\n')
                break;
            got += (size_t)n;
        }
        line[got] = 0;
        if (got == 0) {
            fprintf(stderr, "tcp_fault_proxy ctl: no answer to '%s'\n", argv[i]);
            rc = 3;
            break;
        }
        printf("%s\n", line);
        if (strncmp(line, "ok", 2) != 0)
            rc = 1;
    }
    close(fd);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: tcp_fault_proxy --listen HOST:PORT --target HOST:PORT --control PATH"
                    " [--delay-us N] [--seed N]\n"
                    "       tcp_fault_proxy ctl PATH CMD...\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "ctl"))
        return ctl_main(argc, argv);
    const char *listen_spec = NULL, *target_spec = NULL, *ctl_path = NULL;
    uint64_t delay_us = 0, seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        if (!strcmp(a, "--listen"))
            listen_spec = v;
        else if (!strcmp(a, "--target"))
            target_spec = v;
        else if (!strcmp(a, "--control"))
            ctl_path = v;
        else if (!strcmp(a, "--delay-us") && parse_u64(v, MAX_DELAY_US, &delay_us) == 0)
            ;
        else if (!strcmp(a, "--seed") && parse_u64(v, UINT64_MAX, &seed) == 0)
            ;
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (!listen_spec || !target_spec || !ctl_path) {
        usage();
        return 2;
    }
    struct proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return 1;
    p->delay_ns = delay_us * 1000;
    p->rng = seed;
    snprintf(p->target_str, sizeof(p->target_str), "%s", target_spec);
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->epfd < 0 || p->sigfd < 0 || p->tfd < 0 ||
        resolve(target_spec, false, &p->target, &p->target_len) < 0 ||
        open_listener(p, listen_spec) < 0 || open_control(p, ctl_path) < 0) {
        say("cannot start");
        free(p);
        return 1;
    }
    p->ep_listen = (struct ep){EP_LISTEN, NULL, 0};
    p->ep_ctl = (struct ep){EP_CTL_LISTEN, NULL, 0};
    p->ep_sig = (struct ep){EP_SIGNAL, NULL, 0};
    p->ep_timer = (struct ep){EP_TIMER, NULL, 0};
    epoll_watch(p, p->lfd, EPOLLIN, &p->ep_listen);
    epoll_watch(p, p->cfd, EPOLLIN, &p->ep_ctl);
    epoll_watch(p, p->sigfd, EPOLLIN, &p->ep_sig);
    epoll_watch(p, p->tfd, EPOLLIN, &p->ep_timer);
    say("listening on %s, forwarding to %s, control %s, delay %" PRIu64 " us, seed %" PRIu64,
        p->listen_str, p->target_str, ctl_path, delay_us, seed);
    run(p);
    teardown(p);
    say("stats: conns=%llu up_bytes=%" PRIu64 " down_bytes=%" PRIu64 " resets=%llu corrupted=%llu",
        p->st.conns, p->st.bytes[UP], p->st.bytes[DOWN], p->st.resets, p->st.corrupted);
    free(p);
    return 0;
}
