/* Peer connections: listening, connecting, HELLO, frame I/O, heartbeats, reconnects.
 *
 * One TCP connection per peer pair, shared by all volumes (frames carry the volume id). The
 * node with the smaller name reconnects after a loss; either side may open the first
 * connection (a CREATE must reach a node that does not know us yet). If a second connection
 * from the same node arrives, the newer one wins: the peer evidently considers the old one
 * dead. Any CRC or framing error drops the connection: nothing from a damaged stream is
 * applied. */
#include "repl/repl_internal.h"

#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS         100
#define TLS_STAGE_BYTES (256u * 1024)
#define RX_BUF_BYTES    (64u * 1024)
#define RX_DIRECT_MIN   (16u * 1024) /* a payload remainder this big is read in place */

uint64_t repl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void repl_release_malloc(struct repl_node *n, void *payload, uint32_t len)
{
    (void)n;
    (void)len;
    free(payload);
}

void repl_release_pool(struct repl_node *n, void *payload, uint32_t len)
{
    bufpool_put(n->pool, payload, len);
}

static void peer_events(struct loop *l, struct loop_watch *w, uint32_t events);

/* Control frames carry JSON, parsed in place: their buffer has room for a terminating NUL.
 * Data frames get exactly their payload size, so that the buffer goes back to the pool class
 * it came from (a 4 KiB write must not take an 8 KiB buffer and return it as a 4 KiB one:
 * the pool would miss every time and each frame would fault in fresh pages). */
static bool frame_is_json(uint8_t type)
{
    return type == FRAME_HELLO || type == FRAME_CREATE || type == FRAME_ATTACH ||
           type == FRAME_ATTACH_REFUSE || type == FRAME_ROLE || type == FRAME_RS_DONE ||
           type == FRAME_SNAPSHOT || type == FRAME_EXPAND || type == FRAME_VOTE_REQ;
}

static size_t rx_alloc_len(const struct frame *f)
{
    return f->payload_len + (frame_is_json(f->type) ? 1 : 0);
}

struct peer *peer_get(struct repl_node *n, const char *name, const char *addr)
{
    for (struct peer *p = n->peers; p; p = p->next)
        if (strcmp(p->name, name) == 0) {
            if (addr && addr[0])
                snprintf(p->addr, sizeof(p->addr), "%s", addr);
            return p;
        }
    struct peer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->node = n;
    p->fd = -1;
    snprintf(p->name, sizeof(p->name), "%s", name);
    if (addr)
        snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->next = n->peers;
    n->peers = p;
    return p;
}

bool repl_resync_take(struct repl_node *n, uint64_t bytes)
{
    if (!n->rs_rate)
        return true;
    uint64_t now = repl_now_ms();
    n->rs_tokens += (double)n->rs_rate * (double)(now - n->rs_refill_ms) / 1000.0;
    if (n->rs_tokens > (double)n->rs_burst)
        n->rs_tokens = (double)n->rs_burst;
    n->rs_refill_ms = now;
    if (n->rs_tokens < (double)bytes)
        return false; /* the next tick, or the next resync ack, tries again */
    n->rs_tokens -= (double)bytes;
    return true;
}

static void mark_dirty(struct peer *p)
{
    if (p->in_dirty)
        return;
    p->in_dirty = true;
    p->dirty_next = p->node->dirty;
    p->node->dirty = p;
}

void peer_send(struct peer *p, struct frame *f, const void *payload, uint32_t len,
               void (*release)(struct repl_node *n, void *payload, uint32_t len))
{
    struct repl_node *n = p->node;
    if (p->state != PEER_UP && !(p->state == PEER_HELLO && f->type == FRAME_HELLO)) {
        if (release)
            release(n, (void *)payload, len);
        return;
    }
    struct tx_item *t = n->free_tx;
    if (t)
        n->free_tx = t->next;
    else if (!(t = malloc(sizeof(*t)))) {
        if (release)
            release(n, (void *)payload, len);
        peer_drop(p, "out of memory queueing a frame");
        return;
    }
    f->seq = ++p->next_seq;
    f->payload_len = len;
    f->payload_crc = len ? frame_payload_crc(payload, len) : 0;
    frame_encode_header(f, t->hdr);
    t->payload = payload;
    t->payload_len = len;
    t->release = release;
    t->next = NULL;
    if (p->tx_tail)
        p->tx_tail->next = t;
    else
        p->tx_head = t;
    p->tx_tail = t;
    mark_dirty(p);
}

void peer_send_json(struct peer *p, uint8_t type, uint64_t volume_id, struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(s);
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, s, len);
    struct frame f = {.type = type, .volume_id = volume_id};
    peer_send(p, &f, copy, (uint32_t)len, repl_release_malloc);
}

static void tx_free(struct repl_node *n, struct tx_item *t)
{
    if (t->release)
        t->release(n, (void *)t->payload, t->payload_len);
    t->next = n->free_tx;
    n->free_tx = t;
}

static ssize_t peer_read(struct peer *p, void *buf, size_t len)
{
    return p->ssl ? tls_read(p->ssl, buf, len) : read(p->fd, buf, len);
}

static bool tls_stage_pending(const struct peer *p)
{
    return p->stage_off < p->stage_len;
}

static ssize_t tls_stage_flush(struct peer *p)
{
    while (p->stage_off < p->stage_len) {
        ssize_t w = tls_write(p->ssl, p->tls_stage + p->stage_off, p->stage_len - p->stage_off);
        if (w < 0)
            return -1;
        p->stage_off += (size_t)w;
    }
    p->stage_off = p->stage_len = 0;
    return 0;
}

/* writev(2) for a TLS connection: copies what fits into the stage and sends it; returns the
 * bytes taken from iov (they are the stage's now), or -1 with errno (EAGAIN: stage still full). */
static ssize_t tls_writev(struct peer *p, const struct iovec *iov, int cnt)
{
    if (tls_stage_flush(p) < 0)
        return -1;
    if (!p->tls_stage && !(p->tls_stage = malloc(TLS_STAGE_BYTES))) {
        errno = ENOMEM;
        return -1;
    }
    size_t took = 0;
    for (int i = 0; i < cnt && took < TLS_STAGE_BYTES; i++) {
        size_t c =
            iov[i].iov_len < TLS_STAGE_BYTES - took ? iov[i].iov_len : TLS_STAGE_BYTES - took;
        memcpy(p->tls_stage + took, iov[i].iov_base, c);
        took += c;
    }
    p->stage_len = took;
    if (tls_stage_flush(p) < 0 && errno != EAGAIN)
        return -1;
    return (ssize_t)took;
}

static bool flush_peer(struct peer *p)
{
    while (p->tx_head || (p->ssl && tls_stage_pending(p))) {
        struct iovec iov[64];
        int cnt = 0;
        size_t skip = p->tx_sent;
        for (struct tx_item *t = p->tx_head; t && cnt < 62; t = t->next) {
            if (skip < FRAME_HEADER_BYTES) {
                iov[cnt].iov_base = t->hdr + skip;
                iov[cnt++].iov_len = FRAME_HEADER_BYTES - skip;
                skip = 0;
            } else {
                skip -= FRAME_HEADER_BYTES;
            }
            if (t->payload_len) {
                iov[cnt].iov_base = (char *)t->payload + skip;
                iov[cnt++].iov_len = t->payload_len - skip;
            }
            skip = 0;
        }
        ssize_t w = p->ssl ? tls_writev(p, iov, cnt) : writev(p->fd, iov, cnt);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            char why[96];
            snprintf(why, sizeof(why), "send failed: %s", strerror(errno));
            peer_drop(p, why);
            return false;
        }
        p->last_tx_ms = repl_now_ms();
        size_t left = (size_t)w + p->tx_sent;
        while (p->tx_head) {
            struct tx_item *t = p->tx_head;
            size_t total = FRAME_HEADER_BYTES + t->payload_len;
            if (left < total)
                break;
            left -= total;
            p->tx_head = t->next;
            if (!p->tx_head)
                p->tx_tail = NULL;
            tx_free(p->node, t);
        }
        p->tx_sent = left;
    }
    bool more = p->tx_head || (p->ssl && tls_stage_pending(p));
    loop_mod(p->node->loop, &p->w, EPOLLIN | (more ? EPOLLOUT : 0));
    return true;
}

static void flush_dirty(void *arg)
{
    struct repl_node *n = arg;
    while (n->dirty) {
        struct peer *p = n->dirty;
        n->dirty = p->dirty_next;
        p->in_dirty = false;
        if (p->fd >= 0 && (p->state == PEER_UP || p->state == PEER_HELLO))
            flush_peer(p);
    }
}

/* Closes the connection's socket and TLS session; the peer keeps its identity. */
static void peer_close_fd(struct peer *p)
{
    loop_del(p->node->loop, &p->w);
    tls_free(p->ssl);
    p->ssl = NULL;
    p->stage_len = p->stage_off = 0;
    close(p->fd);
    p->fd = -1;
}

static void peer_drop_as(struct peer *p, const char *why, bool refused);

void peer_drop(struct peer *p, const char *why)
{
    peer_drop_as(p, why, false);
}

/* A connection that never got as far as frames: TLS refused it, or it said nothing. */
static void peer_refuse(struct peer *p, const char *why)
{
    peer_drop_as(p, why, true);
}

static void peer_drop_as(struct peer *p, const char *why, bool refused)
{
    if (p->fd < 0)
        return;
    struct repl_node *n = p->node;
    if (refused) {
        /* Retries come every 500 ms: log the first refusal of a named peer until it connects,
         * and an inbound one unless the same reason was logged in the last 10 s. */
        uint64_t now = repl_now_ms();
        /* Its own flag, not connect_failed: a peer that was down (connects failing) and comes
         * back with a certificate we refuse must still get its one log line. */
        if (p->name[0] && !p->refusal_logged) {
            log_warn("repl", "peer %s (%s) refused before any frame was read: %s (retrying)",
                     p->name, p->addr, why);
        } else if (!p->name[0] && (now - n->inbound_refusal_ms >= 10000 ||
                                   strncmp(why, n->inbound_refusal_why,
                                           sizeof(n->inbound_refusal_why) - 1) != 0)) {
            log_warn("repl", "peer ? (%s) refused before any frame was read: %s", p->addr, why);
            if (n->inbound_refusals_quiet)
                log_warn("repl", "(%u more inbound refusals were not logged)",
                         n->inbound_refusals_quiet);
            n->inbound_refusal_ms = now;
            snprintf(n->inbound_refusal_why, sizeof(n->inbound_refusal_why), "%s", why);
            n->inbound_refusals_quiet = 0;
        } else if (!p->name[0]) {
            n->inbound_refusals_quiet++;
        }
        p->refusal_logged = true;
    } else
        log_warn("repl", "peer %s (%s) lost: %s", p->name[0] ? p->name : "?", p->addr, why);
    peer_close_fd(p);
    bool was_up = p->state == PEER_UP;
    p->state = PEER_DOWN;
    while (p->tx_head) {
        struct tx_item *t = p->tx_head;
        p->tx_head = t->next;
        tx_free(n, t);
    }
    p->tx_tail = NULL;
    p->tx_sent = 0;
    if (p->rx_payload) {
        bufpool_put(n->pool, p->rx_payload, rx_alloc_len(&p->rx));
        p->rx_payload = NULL;
    }
    p->rx_hdr_got = 0;
    p->rx_off = p->rx_len = 0;
    for (struct peer **pp = &n->dirty; *pp; pp = &(*pp)->dirty_next)
        if (*pp == p) {
            *pp = p->dirty_next;
            p->in_dirty = false;
            break;
        }
    if (was_up)
        for (struct rvol *rv = n->vols; rv; rv = rv->next)
            rvol_peer_lost(rv, p);
    peer_fail_acks(p);
    p->next_connect_ms = repl_now_ms() + 500;
}

static void rx_resume(void *arg);

static void send_hello(struct peer *p)
{
    struct repl_node *n = p->node;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "node", json_object_new_string(n->name));
    json_object_object_add(o, "zone", json_object_new_string(n->zone));
    json_object_object_add(o, "addr", json_object_new_string(n->listen_addr));
    json_object_object_add(o, "proto_min", json_object_new_int(FRAME_VERSION));
    json_object_object_add(o, "proto_max", json_object_new_int(FRAME_VERSION));
    peer_send_json(p, FRAME_HELLO, 0, o);
    json_object_put(o);
}

/* A HELLO arrived on connection `p` (for an inbound connection, a placeholder peer). */
static void on_hello(struct peer *p, struct json_object *o)
{
    struct repl_node *n = p->node;
    struct json_object *v;
    const char *name = json_object_object_get_ex(o, "node", &v) ? json_object_get_string(v) : "";
    const char *addr = json_object_object_get_ex(o, "addr", &v) ? json_object_get_string(v) : "";
    int pmin = json_object_object_get_ex(o, "proto_min", &v) ? json_object_get_int(v) : 0;
    int pmax = json_object_object_get_ex(o, "proto_max", &v) ? json_object_get_int(v) : 0;
    if (pmin > FRAME_VERSION || pmax < FRAME_VERSION) {
        char why[96];
        snprintf(why, sizeof(why), "incompatible protocol versions %d-%d (we speak %d)", pmin, pmax,
                 FRAME_VERSION);
        peer_drop(p, why);
        return;
    }
    if (!name[0] || strcmp(name, n->name) == 0) {
        peer_drop(p, "HELLO without a valid node name");
        return;
    }
    if (p->ssl && !tls_peer_is(p->ssl, name)) {
        char why[160];
        snprintf(why, sizeof(why), "its certificate is not issued for node %s, which it claims",
                 name);
        peer_refuse(p, why);
        return;
    }
    struct peer *real = p;
    if (!p->outbound) {
        /* inbound: move the connection onto the named peer; newest connection wins */
        real = peer_get(n, name, addr);
        if (!real) {
            peer_drop(p, "out of memory");
            return;
        }
        if (real != p) {
            if (real->fd >= 0)
                peer_drop(real, "replaced by a newer connection from the same node");
            real->fd = p->fd;
            real->ssl = p->ssl;
            p->ssl = NULL;
            real->outbound = false;
            loop_del(n->loop, &p->w);
            loop_add(n->loop, &real->w, real->fd, EPOLLIN, peer_events, real);
            real->state = PEER_HELLO;
            real->rx_hdr_got = 0;
            /* frames that arrived behind the HELLO are the named peer's now */
            uint8_t *buf = real->rxbuf;
            real->rxbuf = p->rxbuf;
            real->rx_off = p->rx_off;
            real->rx_len = p->rx_len;
            p->rxbuf = buf;
            p->rx_off = p->rx_len = 0;
            if (real->rx_off < real->rx_len)
                loop_defer(n->loop, rx_resume, real);
            p->fd = -1; /* the placeholder is discarded by the caller */
            p->state = PEER_DOWN;
            send_hello(real);
        }
    } else if (strcmp(name, p->name) != 0) {
        char why[160];
        snprintf(why, sizeof(why), "expected node %s at %s, found %s", p->name, p->addr, name);
        peer_drop(p, why);
        return;
    }
    struct json_object *z;
    if (json_object_object_get_ex(o, "zone", &z))
        snprintf(real->zone, sizeof(real->zone), "%s", json_object_get_string(z));
    real->state = PEER_UP;
    real->connect_failed = false;
    real->refusal_logged = false;
    real->last_rx_ms = repl_now_ms();
    char tls[96] = "";
    if (real->ssl) {
        memcpy(tls, ", ", 3);
        tls_describe(real->ssl, tls + 2, sizeof(tls) - 2);
    }
    log_info("repl", "peer %s (%s, zone %s) connected%s", real->name, real->addr, real->zone, tls);
    for (struct rvol *rv = n->vols; rv; rv = rv->next)
        rvol_peer_up(rv, real);
    create_job_peer_up(n, real);
}

static void dispatch(struct peer *p)
{
    struct repl_node *n = p->node;
    struct frame *f = &p->rx;
    void *payload = p->rx_payload;
    p->rx_payload = NULL;
    p->last_rx_ms = repl_now_ms();
    if (frame_is_json(f->type)) {
        struct json_object *o = json_tokener_parse(payload ? (char *)payload : "{}");
        if (payload) {
            bufpool_put(n->pool, payload, rx_alloc_len(f));
            payload = NULL;
        }
        if (!o) {
            peer_drop(p, "malformed JSON in a control frame");
            return;
        }
        if (f->type == FRAME_HELLO) {
            on_hello(p, o);
        } else if (p->state != PEER_UP) {
            peer_drop(p, "frame before HELLO");
        } else if (f->type == FRAME_CREATE) {
            char err[512] = "";
            int rc = frame_create_received(n, p, o, err, sizeof(err));
            if (rc < 0)
                log_error("repl", "refusing CREATE from %s: %s", p->name, err);
            struct frame ack = {.type = FRAME_ACK,
                                .volume_id = f->volume_id,
                                .offset = f->seq,
                                .length = rc == 0 ? 0 : (uint32_t)(errno ? errno : EIO)};
            peer_send(p, &ack, NULL, 0, NULL);
        } else {
            struct rvol *rv = rvol_by_id(n, f->volume_id);
            struct json_object *nm;
            /* An ATTACH whose id we do not know may be a same-named volume with another UUID:
             * let the volume of that name look at it (and refuse it, loudly). */
            if (!rv && f->type == FRAME_ATTACH && json_object_object_get_ex(o, "name", &nm))
                rv = rvol_by_name(n, json_object_get_string(nm));
            if (rv)
                rvol_frame(rv, p, f, o);
        }
        json_object_put(o);
        return;
    }
    if (p->state != PEER_UP) {
        if (payload)
            bufpool_put(n->pool, payload, f->payload_len);
        peer_drop(p, "frame before HELLO");
        return;
    }
    switch (f->type) {
    case FRAME_PING: {
        struct frame pong = {.type = FRAME_PONG};
        peer_send(p, &pong, NULL, 0, NULL);
        break;
    }
    case FRAME_PONG:
        break;
    case FRAME_ACK:
    case FRAME_RS_ACK:
    case FRAME_VERIFY_SUM:
    case FRAME_READ_DATA:
        rvol_ack(p, f, payload);
        break;
    default: {
        struct rvol *rv = rvol_by_id(n, f->volume_id);
        if (!rv) {
            struct frame nack = {
                .type = FRAME_ACK, .volume_id = f->volume_id, .offset = f->seq, .length = ENOENT};
            peer_send(p, &nack, NULL, 0, NULL);
            if (payload)
                bufpool_put(n->pool, payload, f->payload_len);
            return;
        }
        rvol_frame(rv, p, f, payload); /* takes the payload */
        return;
    }
    }
    if (payload)
        bufpool_put(n->pool, payload, f->payload_len);
}

/* A header is complete in rx_hdr: check it and get the payload buffer ready. False if the
 * peer was dropped. */
static bool rx_header_done(struct peer *p)
{
    enum frame_status st = frame_decode_header(p->rx_hdr, &p->rx);
    if (st != FRAME_OK) {
        char why[96];
        snprintf(why, sizeof(why), "refusing frame: %s", frame_status_str(st));
        peer_drop(p, why);
        return false;
    }
    p->rx_payload_got = 0;
    if (p->rx.payload_len) {
        p->rx_payload = bufpool_get(p->node->pool, rx_alloc_len(&p->rx));
        if (!p->rx_payload) {
            peer_drop(p, "out of memory for a frame payload");
            return false;
        }
        return true;
    }
    p->rx_hdr_got = 0;
    dispatch(p);
    return p->fd >= 0;
}

/* The payload is complete: check its CRC and hand the frame on. False if the peer was dropped
 * (or, an inbound placeholder, gave its connection to the named peer). */
static bool rx_payload_done(struct peer *p)
{
    if (frame_check_payload(&p->rx, p->rx_payload) != FRAME_OK) {
        char why[128];
        snprintf(why, sizeof(why), "refusing %s frame seq %llu: payload checksum mismatch",
                 frame_type_name(p->rx.type), (unsigned long long)p->rx.seq);
        peer_drop(p, why);
        return false;
    }
    if (frame_is_json(p->rx.type))
        ((char *)p->rx_payload)[p->rx.payload_len] = '\0';
    p->rx_hdr_got = 0;
    dispatch(p);
    return p->fd >= 0;
}

/* Parses the frames in the receive buffer. False if the peer is gone. */
static bool rx_process(struct peer *p)
{
    while (p->rx_off < p->rx_len) {
        size_t avail = p->rx_len - p->rx_off;
        const uint8_t *src = p->rxbuf + p->rx_off;
        if (p->rx_hdr_got < FRAME_HEADER_BYTES) {
            size_t take = FRAME_HEADER_BYTES - p->rx_hdr_got;
            take = take < avail ? take : avail;
            memcpy(p->rx_hdr + p->rx_hdr_got, src, take);
            p->rx_hdr_got += (uint32_t)take;
            p->rx_off += take;
            if (p->rx_hdr_got == FRAME_HEADER_BYTES && !rx_header_done(p))
                return false;
        } else {
            size_t take = p->rx.payload_len - p->rx_payload_got;
            take = take < avail ? take : avail;
            memcpy((char *)p->rx_payload + p->rx_payload_got, src, take);
            p->rx_payload_got += (uint32_t)take;
            p->rx_off += take;
            if (p->rx_payload_got == p->rx.payload_len && !rx_payload_done(p))
                return false;
        }
    }
    p->rx_off = p->rx_len = 0;
    return true;
}

/* Bytes a placeholder had already received when its HELLO moved the connection here. */
static void rx_resume(void *arg)
{
    struct peer *p = arg;
    if (p->fd >= 0)
        rx_process(p);
}

/* Receive: one read fills a 64 KiB buffer with as many frames as have arrived (a burst of
 * acks or small writes costs one syscall, not two per frame); the rest of a large payload is
 * read straight into its own buffer. */
static void on_readable(struct peer *p)
{
    if (!p->rxbuf && !(p->rxbuf = malloc(RX_BUF_BYTES))) {
        peer_drop(p, "out of memory for a receive buffer");
        return;
    }
    /* Past 64 reads, yield to other sockets, unless TLS holds decrypted bytes that epoll
     * cannot see (at most the rest of one record). */
    for (int rounds = 0; p->fd >= 0 && (rounds < 64 || (p->ssl && tls_has_pending(p->ssl)));
         rounds++) {
        bool direct = p->rx_hdr_got == FRAME_HEADER_BYTES &&
                      p->rx.payload_len - p->rx_payload_got >= RX_DIRECT_MIN;
        ssize_t r = direct ? peer_read(p, (char *)p->rx_payload + p->rx_payload_got,
                                       p->rx.payload_len - p->rx_payload_got)
                           : peer_read(p, p->rxbuf, RX_BUF_BYTES);
        if (r == 0) {
            peer_drop(p, "connection closed by peer");
            return;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            char why[96];
            snprintf(why, sizeof(why), "receive failed: %s", strerror(errno));
            peer_drop(p, why);
            return;
        }
        if (direct) {
            p->rx_payload_got += (uint32_t)r;
            if (p->rx_payload_got == p->rx.payload_len && !rx_payload_done(p))
                return;
            continue;
        }
        p->rx_off = 0;
        p->rx_len = (size_t)r;
        if (!rx_process(p))
            return;
    }
}

static void discard_placeholder(void *arg)
{
    struct peer *p = arg;
    for (struct peer **pp = &p->node->inbound; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    free(p->tls_stage);
    free(p->rxbuf);
    free(p);
}

static void tls_step(struct peer *p)
{
    char why[320];
    switch (tls_handshake(p->ssl, why, sizeof(why))) {
    case TLS_WANT_READ:
        loop_mod(p->node->loop, &p->w, EPOLLIN);
        return;
    case TLS_WANT_WRITE:
        loop_mod(p->node->loop, &p->w, EPOLLOUT);
        return;
    case TLS_FAILED:
        peer_refuse(p, why);
        return;
    case TLS_DONE:
        break;
    }
    p->state = PEER_HELLO;
    loop_mod(p->node->loop, &p->w, EPOLLIN);
    if (p->outbound)
        send_hello(p);
}

/* The socket is connected: with TLS configured, nothing but a handshake until it succeeds. */
static void start_tls(struct peer *p, bool server)
{
    p->ssl = tls_new(p->node->tls, p->fd, server);
    if (!p->ssl) {
        peer_refuse(p, "cannot create a TLS session");
        return;
    }
    p->state = PEER_TLS;
    p->last_rx_ms = repl_now_ms();
    tls_step(p);
}

static void peer_events(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    struct peer *p = w->ctx;
    if (p->state == PEER_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            /* Reconnect attempts repeat every 500 ms: log the first failure only. */
            if (!p->connect_failed)
                log_warn("repl", "peer %s: connect to %s: %s (retrying)", p->name, p->addr,
                         strerror(err ? err : EIO));
            p->connect_failed = true;
            peer_close_fd(p);
            p->state = PEER_DOWN;
            p->next_connect_ms = repl_now_ms() + 500;
            return;
        }
        p->connect_failed = false;
        if (p->node->tls) {
            start_tls(p, false);
            return;
        }
        p->state = PEER_HELLO;
        loop_mod(p->node->loop, &p->w, EPOLLIN);
        send_hello(p);
        return;
    }
    if (p->state == PEER_TLS) {
        tls_step(p);
        if (!p->outbound && p->name[0] == '\0' && p->fd < 0)
            loop_defer(p->node->loop, discard_placeholder, p);
        return;
    }
    if (events & EPOLLOUT)
        if (!flush_peer(p))
            return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(p);
    if (!p->outbound && p->name[0] == '\0' && p->fd < 0)
        loop_defer(p->node->loop, discard_placeholder, p);
}

static int parse_hostport(const char *addr, struct addrinfo **res)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return -1;
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2) {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    return getaddrinfo(host, colon + 1, &hints, res) == 0 ? 0 : -1;
}

void peer_kick_connect(struct peer *p)
{
    if (p->fd >= 0 || !p->addr[0])
        return;
    struct addrinfo *res;
    if (parse_hostport(p->addr, &res) < 0) {
        log_warn("repl", "peer %s: bad address %s", p->name, p->addr);
        p->next_connect_ms = repl_now_ms() + 5000;
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS)) {
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        p->next_connect_ms = repl_now_ms() + 500;
        return;
    }
    freeaddrinfo(res);
    p->fd = fd;
    p->outbound = true;
    p->state = PEER_CONNECTING;
    p->rx_hdr_got = 0;
    p->next_seq = 0;
    loop_add(p->node->loop, &p->w, fd, EPOLLOUT, peer_events, p);
}

static void on_accept(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    struct repl_node *n = w->ctx;
    for (int i = 0; i < 8; i++) {
        int fd = accept4(n->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* An unnamed placeholder until its HELLO says who it is. */
        struct peer *p = calloc(1, sizeof(*p));
        if (!p) {
            close(fd);
            continue;
        }
        p->node = n;
        p->fd = fd;
        p->state = PEER_HELLO;
        p->last_rx_ms = repl_now_ms();
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char host[64] = "?";
        int port = 0;
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET) {
                inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
                port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            } else if (ss.ss_family == AF_INET6) {
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
                port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            }
        }
        snprintf(p->addr, sizeof(p->addr), "inbound from %s:%d", host, port);
        p->next = n->inbound;
        n->inbound = p;
        loop_add(n->loop, &p->w, fd, EPOLLIN, peer_events, p);
        if (n->tls) {
            start_tls(p, true);
            if (p->fd < 0)
                loop_defer(n->loop, discard_placeholder, p);
        }
    }
}

static bool should_connect(struct repl_node *n, struct peer *p)
{
    /* the smaller name reconnects; the other waits to be called */
    return strcmp(n->name, p->name) < 0;
}

static void on_timer(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    struct repl_node *n = w->ctx;
    uint64_t t;
    if (read(n->timer_fd, &t, sizeof(t)) < 0)
        return;
    n->ticks++;
    uint64_t now = repl_now_ms();
    /* Connections that never say who they are (no TLS handshake, no HELLO) are closed. */
    for (struct peer *p = n->inbound; p; p = p->next)
        if (p->fd >= 0 && now - p->last_rx_ms > n->timeout_ms) {
            peer_refuse(p, p->state == PEER_TLS ? "no TLS handshake within the peer timeout"
                                                : "no HELLO within the peer timeout");
            loop_defer(n->loop, discard_placeholder, p);
        }
    for (struct peer *p = n->peers; p; p = p->next) {
        if (p->state == PEER_UP || p->state == PEER_HELLO || p->state == PEER_TLS) {
            if (now - p->last_rx_ms > n->timeout_ms && p->last_rx_ms) {
                char why[64];
                snprintf(why, sizeof(why), "no frame for %u ms", n->timeout_ms);
                peer_drop(p, why);
                continue;
            }
            if (p->state == PEER_UP && now - p->last_tx_ms > n->timeout_ms / 4) {
                struct frame ping = {.type = FRAME_PING};
                peer_send(p, &ping, NULL, 0, NULL);
            }
        } else if (p->state == PEER_DOWN && should_connect(n, p) && now >= p->next_connect_ms) {
            bool wanted = false;
            for (struct rvol *rv = n->vols; rv && !wanted; rv = rv->next)
                for (unsigned i = 0; i < rv->meta.n_members; i++)
                    wanted |= rv->links[i].peer == p;
            if (wanted)
                peer_kick_connect(p);
        }
    }
    for (struct rvol *rv = n->vols; rv; rv = rv->next)
        rvol_tick(rv);
    create_jobs_tick(n);
}

struct repl_node *repl_node_create(struct loop *l, struct registry *reg, struct io_engine *eng,
                                   struct bufpool *pool, struct reactor_queue *q,
                                   const struct repl_config *cfg, char *err, size_t errlen)
{
    struct repl_node *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->loop = l;
    n->reg = reg;
    n->eng = eng;
    n->pool = pool;
    n->q = q;
    n->listen_fd = n->timer_fd = -1;
    n->timeout_ms = cfg->peer_timeout_ms ? cfg->peer_timeout_ms : 4000;
    n->resync_inflight = cfg->resync_inflight ? cfg->resync_inflight : 4;
    n->rs_rate = (uint64_t)cfg->resync_rate_mbps * 1000000;
    /* a fifth of a second of bandwidth, and at least one region, may go at once */
    n->rs_burst = n->rs_rate / 5 > REGION_BYTES ? n->rs_rate / 5 : REGION_BYTES;
    n->rs_tokens = (double)n->rs_burst;
    n->rs_refill_ms = repl_now_ms();
    snprintf(n->name, sizeof(n->name), "%s", cfg->node);
    if (cfg->tls_cert) {
        n->tls = tls_ctx_create(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, err, errlen);
        if (!n->tls) {
            free(n);
            return NULL;
        }
        log_info("repl", "peers use mutual TLS 1.3: certificate %s, peers must chain to %s",
                 cfg->tls_cert, cfg->tls_ca);
    }
    snprintf(n->zone, sizeof(n->zone), "%s", cfg->zone ? cfg->zone : "default");
    if (cfg->listen) {
        snprintf(n->listen_addr, sizeof(n->listen_addr), "%s", cfg->listen);
        struct addrinfo *res;
        if (parse_hostport(cfg->listen, &res) < 0) {
            snprintf(err, errlen, "--listen %s: want HOST:PORT", cfg->listen);
            free(n);
            return NULL;
        }
        int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0) {
            snprintf(err, errlen, "--listen %s: %s", cfg->listen, strerror(errno));
            if (fd >= 0)
                close(fd);
            freeaddrinfo(res);
            free(n);
            return NULL;
        }
        freeaddrinfo(res);
        n->listen_fd = fd;
        loop_add(l, &n->listen_watch, fd, EPOLLIN, on_accept, n);
        log_info("repl", "peer listener on %s", cfg->listen);
    }
    n->saver = meta_saver_create(l, rvol_meta_saved, err, errlen);
    if (!n->saver) {
        if (n->listen_fd >= 0) {
            loop_del(l, &n->listen_watch);
            close(n->listen_fd);
        }
        tls_ctx_free(n->tls);
        free(n);
        return NULL;
    }
    n->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {.it_interval = {0, TICK_MS * 1000000L},
                             .it_value = {0, TICK_MS * 1000000L}};
    timerfd_settime(n->timer_fd, 0, &its, NULL);
    loop_add(l, &n->timer_watch, n->timer_fd, EPOLLIN, on_timer, n);
    loop_add_idle(l, flush_dirty, n);
    /* volumes with replication metadata */
    for (unsigned i = 0; i < reg->n; i++) {
        struct vol_entry *e = reg->entries[i];
        if (e->broken)
            continue;
        char why[512];
        struct rvol *rv = rvol_open(n, e, why, sizeof(why));
        if (!rv && errno != ENOENT)
            log_error("repl", "volume %s: %s", e->name, why);
    }
    return n;
}

void repl_node_destroy(struct repl_node *n)
{
    if (!n)
        return;
    for (struct peer *p = n->peers; p; p = p->next)
        if (p->fd >= 0) {
            p->state = PEER_DOWN; /* no loss handling at shutdown */
            peer_close_fd(p);
        }
    while (n->inbound) {
        struct peer *p = n->inbound;
        n->inbound = p->next;
        if (p->fd >= 0)
            peer_close_fd(p);
        free(p->tls_stage);
        free(p->rxbuf);
        free(p);
    }
    /* Writes a peer sent us, and resync reads, still on the disk: let them land (their acks
     * go nowhere now) so their memory is released and the data is on disk before we exit. */
    for (int i = 0; n->local_ops && i < 3000; i++) {
        io_engine_flush(n->eng);
        struct pollfd pfd = {.fd = io_engine_fd(n->eng), .events = POLLIN};
        poll(&pfd, 1, 10);
        io_engine_reap(n->eng);
    }
    meta_saver_destroy(n->saver); /* every queued metadata save lands first */
    n->saver = NULL;
    while (n->dirty) { /* queued frames are dropped with the connections */
        n->dirty->in_dirty = false;
        n->dirty = n->dirty->dirty_next;
    }
    while (n->vols) {
        struct rvol *rv = n->vols;
        n->vols = rv->next;
        rvol_close(rv);
    }
    while (n->peers) {
        struct peer *p = n->peers;
        n->peers = p->next;
        while (p->tx_head) {
            struct tx_item *t = p->tx_head;
            p->tx_head = t->next;
            tx_free(n, t);
        }
        free(p->tls_stage);
        free(p->rxbuf);
        free(p);
    }
    while (n->free_tx) {
        struct tx_item *t = n->free_tx;
        n->free_tx = t->next;
        free(t);
    }
    rvol_free_reads(n);
    rvol_free_sios(n);
    while (n->free_rio) {
        struct rio *r = n->free_rio;
        n->free_rio = r->next;
        free(r);
    }
    if (n->listen_fd >= 0) {
        loop_del(n->loop, &n->listen_watch);
        close(n->listen_fd);
    }
    if (n->timer_fd >= 0) {
        loop_del(n->loop, &n->timer_watch);
        close(n->timer_fd);
    }
    tls_ctx_free(n->tls);
    free(n);
}
