/* NBD listener: socket set-up, accepting, the registry-backed export table, and shutdown.
 * Unix sockets are the default because the consumer is normally on the same host (the kernel's
 * nbd driver via nbd-client, qemu, nbdfuse); TCP is there for remote consumers and tests. */
#include "nbd/nbd_server.h"

#include "repl/repl.h"
#include "util/log.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

static int peek_export(void *ctx, const char *name, uint64_t *size, char *msg, size_t msglen)
{
    return registry_peek(ctx, name, size, msg, msglen);
}

static void *attach_export(void *ctx, const char *name, uint64_t *size, char *msg, size_t msglen)
{
    struct volume *v = registry_attach(ctx, name, msg, msglen);
    if (v && repl_may_serve(v, msg, msglen) < 0) {
        registry_detach(ctx, v); /* only the primary serves a replicated volume */
        return NULL;
    }
    if (v)
        *size = vol_size(v);
    return v;
}

static void each_export(void *ctx, void (*fn)(const char *name, void *fnctx), void *fnctx)
{
    registry_each_name(ctx, fn, fnctx);
}

const struct nbd_export_ops nbd_registry_exports = {
    .peek = peek_export,
    .attach = attach_export,
    .each = each_export,
};

/* Out of descriptors (or kernel memory): the pending connection stays in the backlog and the
 * level-triggered listener stays readable, so retrying at once would spin the reactor and
 * flood the log. Stop watching the listener for ACCEPT_BACKOFF_MS instead (a one-shot timer
 * brings it back) and log once until an accept succeeds again. */
#define ACCEPT_BACKOFF_MS 100
#define NBD_SNDBUF_BYTES  (4 << 20) /* several 1 MiB READ replies */

static void pause_accepting(struct nbd_server *s, int err)
{
    if (!s->accept_paused)
        log_warn("nbd", "accept: %s; pausing new connections (%u open), retrying every %d ms",
                 strerror(err), s->n_conns, ACCEPT_BACKOFF_MS);
    s->accept_paused = true;
    loop_del(s->loop, &s->listen_watch);
    struct itimerspec its = {.it_value = {0, ACCEPT_BACKOFF_MS * 1000000L}};
    timerfd_settime(s->accept_timer_fd, 0, &its, NULL);
}

static void on_accept(struct loop *l, struct loop_watch *w, uint32_t events);

static void on_accept_timer(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)events;
    struct nbd_server *s = w->ctx;
    uint64_t ticks;
    if (read(s->accept_timer_fd, &ticks, sizeof(ticks)) < 0)
        return;
    if (s->listen_fd >= 0 && !s->listen_watch.active &&
        loop_add(l, &s->listen_watch, s->listen_fd, EPOLLIN, on_accept, s) < 0)
        pause_accepting(s, errno);
}

/* A 1 MiB READ reply does not fit the default socket send buffer (about 208 KiB): the reply
 * then goes out in several writev() calls with an EAGAIN and an epoll round trip between
 * them. A send buffer that holds a few whole replies lets one writev() per loop iteration
 * carry them. SO_SNDBUFFORCE (root) may exceed net.core.wmem_max; otherwise the kernel caps
 * SO_SNDBUF there, which is still no worse than the default. */
static void set_send_buffer(int fd)
{
    int bytes = NBD_SNDBUF_BYTES;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

static void on_accept(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    struct nbd_server *s = w->ctx;
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
                pause_accepting(s, e);
            else if (e != EAGAIN && e != EINTR && e != ECONNABORTED)
                log_warn("nbd", "accept: %s", strerror(e));
            return;
        }
        if (s->accept_paused) {
            s->accept_paused = false;
            log_info("nbd", "accepting connections again (%u open)", s->n_conns);
        }
        char peer[80] = "unix";
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            char host[64], port[16];
            if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                            NI_NUMERICHOST | NI_NUMERICSERV) == 0)
                snprintf(peer, sizeof(peer), "%s:%s", host, port);
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        set_send_buffer(fd);
        nbd_conn_accept(s, fd, peer);
    }
}

static void on_timer(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    struct nbd_server *s = w->ctx;
    uint64_t ticks;
    if (read(s->timer_fd, &ticks, sizeof(ticks)) < 0)
        return;
    uint64_t now = nbd_now_ms();
    bool abandon = s->shutting_down && now >= s->shutdown_deadline_ms;
    for (struct nbd_conn *c = s->conns, *next; c; c = next) {
        next = nbd_conn_next(c);
        nbd_conn_check_handshake(c, now);
        if (abandon)
            nbd_conn_abandon(c);
    }
}

static int start_timer(struct nbd_server *s)
{
    /* Ticks at a quarter of the timeout (at most 1 s): a late client is dropped within
     * 1.25 x the timeout. */
    unsigned ms = s->handshake_timeout_ms / 4;
    if (ms == 0 || ms > 1000)
        ms = ms ? 1000 : 1;
    s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s->timer_fd < 0)
        return -1;
    struct itimerspec its = {.it_interval = {ms / 1000, (long)(ms % 1000) * 1000000},
                             .it_value = {ms / 1000, (long)(ms % 1000) * 1000000}};
    if (timerfd_settime(s->timer_fd, 0, &its, NULL) < 0)
        return -1;
    return loop_add(s->loop, &s->timer_watch, s->timer_fd, EPOLLIN, on_timer, s);
}

static int listen_unix(struct nbd_server *s, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* The caller holds the data directory's lock, so a socket file left here is stale. */
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
        listen(fd, 128) < 0) {
        snprintf(err, errlen, "NBD socket %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    s->unix_path = strdup(path);
    return fd;
}

static int listen_tcp(const char *addr, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || !colon[1]) {
        snprintf(err, errlen, "bad NBD address \"%s\": want /path or HOST:PORT", addr);
        return -1;
    }
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof(host))
        hl = sizeof(host) - 1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int g = getaddrinfo(host, colon + 1, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "NBD address %s: %s", addr, gai_strerror(g));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        snprintf(err, errlen, "NBD listen %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

int nbd_server_start(struct nbd_server *s, struct loop *l, struct registry *reg,
                     struct bufpool *pool, const char *addr, unsigned handshake_timeout_ms,
                     char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->timer_fd = -1;
    s->accept_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    s->handshake_timeout_ms = handshake_timeout_ms;
    /* No command-line flag yet (tandemd.c); the environment lets operators and tests pick. */
    s->shutdown_grace_ms = NBD_SHUTDOWN_GRACE_MS;
    const char *grace = getenv("TANDEM_NBD_SHUTDOWN_GRACE_MS");
    if (grace && *grace) {
        char *end;
        unsigned long v = strtoul(grace, &end, 10);
        if (*end || v > 24UL * 3600 * 1000)
            log_warn("nbd", "ignoring TANDEM_NBD_SHUTDOWN_GRACE_MS=%s", grace);
        else
            s->shutdown_grace_ms = (unsigned)v;
    }
    s->loop = l;
    s->reg = reg;
    s->pool = pool;
    s->listen_fd =
        strchr(addr, '/') ? listen_unix(s, addr, err, errlen) : listen_tcp(addr, err, errlen);
    if (s->listen_fd < 0)
        return -1;
    if (loop_add(l, &s->listen_watch, s->listen_fd, EPOLLIN, on_accept, s) < 0 ||
        loop_add_idle(l, nbd_server_flush_dirty, s) < 0 || start_timer(s) < 0 ||
        s->accept_timer_fd < 0 ||
        loop_add(l, &s->accept_timer_watch, s->accept_timer_fd, EPOLLIN, on_accept_timer, s) < 0) {
        snprintf(err, errlen, "cannot register the NBD listener");
        return -1;
    }
    log_info("nbd", "serving NBD on %s", addr);
    return 0;
}

static void stop_listening(struct nbd_server *s)
{
    if (s->listen_fd < 0)
        return;
    loop_del(s->loop, &s->listen_watch);
    close(s->listen_fd);
    s->listen_fd = -1;
    if (s->unix_path) {
        unlink(s->unix_path);
        free(s->unix_path);
        s->unix_path = NULL;
    }
}

void nbd_server_conn_gone(struct nbd_server *s)
{
    s->n_conns--;
    if (s->shutting_down && s->n_conns == 0 && s->drained)
        s->drained(s->drained_ctx);
}

void nbd_server_shutdown(struct nbd_server *s, void (*drained)(void *ctx), void *ctx)
{
    s->shutting_down = true;
    s->shutdown_deadline_ms = nbd_now_ms() + s->shutdown_grace_ms;
    s->drained = drained;
    s->drained_ctx = ctx;
    stop_listening(s);
    if (s->n_conns == 0) {
        drained(ctx);
        return;
    }
    for (struct nbd_conn *c = s->conns, *next; c; c = next) {
        next = nbd_conn_next(c);
        nbd_conn_shutdown(c);
    }
}

void nbd_server_close(struct nbd_server *s)
{
    stop_listening(s);
    if (s->timer_fd >= 0) {
        loop_del(s->loop, &s->timer_watch);
        close(s->timer_fd);
        s->timer_fd = -1;
    }
    if (s->accept_timer_fd >= 0) {
        loop_del(s->loop, &s->accept_timer_watch);
        close(s->accept_timer_fd);
        s->accept_timer_fd = -1;
    }
}
