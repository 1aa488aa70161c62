/* One NBD client connection: bytes in, requests to the volume, replies out.
 *
 * Receiving: the socket is read into a 256 KiB buffer and parsed in place (a burst of small
 * requests costs one read). A WRITE payload that is not already buffered is read straight into
 * its I/O buffer, so large writes are not copied twice.
 * Sending: finished requests are appended to the connection's reply queue and the connection is
 * put on the server's dirty list; the loop's idle hook sends every queued reply with one writev
 * per connection, READ data straight from the I/O buffer.
 * Lifetime: a connection that must close (EOF, DISC, protocol error, socket error, shutdown)
 * stops reading at once but is only freed once every request the volume still holds has come
 * back, because those requests point into the connection's memory. */
#include "nbd/nbd_server.h"

#include "nbd/nbd_handshake.h"
#include "nbd/nbd_proto.h"
#include "nbd/nbd_reply.h"
#include "nbd/nbd_request.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RX_BUF_BYTES (256 * 1024)
#define MAX_EXTENTS  500 /* 4 + 8 * 500 bytes fit one 4 KiB pool buffer */
#define IOV_BATCH    64

enum phase { PH_HANDSHAKE, PH_TX, PH_CLOSING };

struct nbd_req {
    struct nbd_conn *conn;
    struct nbd_request r;
    struct vol_io vio;
    void *buf;
    size_t buflen;
    uint32_t data_len; /* bytes of buf sent after the header */
    uint8_t hdr[NBD_REPLY_HDR_MAX];
    uint16_t hdr_len;
    struct nbd_req *next;
};

struct nbd_conn {
    struct nbd_server *srv;
    uint64_t id;
    int fd;
    struct loop_watch w;
    enum phase phase;
    char peer[80];
    struct nbd_hs hs;
    uint8_t *rx;
    size_t rx_len, rx_off;

    struct volume *vol;
    struct nbd_tx_state tx;
    struct nbd_req *cur; /* WRITE whose payload is being received */
    uint32_t cur_got;
    uint64_t discard_left; /* payload bytes of a refused WRITE still to skip */
    unsigned inflight;     /* requests held by the volume */
    /* Backpressure: requests from parse until their reply is written (or dropped), whether in
     * the volume, refused, or queued behind a client that does not read; and the I/O buffer
     * bytes they hold. Reading stops while either is at its cap (nbd_server.h). */
    unsigned held;
    size_t held_bytes;
    struct nbd_req *out_head, *out_tail;
    size_t out_sent; /* bytes of out_head already on the wire */
    struct nbd_req *free_reqs;
    bool reading_paused;
    bool no_more_input; /* EOF or DISC: finish what is queued, then close */
    bool in_dirty;
    bool freed;
    struct nbd_conn *dirty_next;
    struct nbd_conn *prev, *next;
    uint64_t accepted_ms;
    char close_reason[160];
};

static void conn_events(struct loop *l, struct loop_watch *w, uint32_t events);
static void conn_maybe_finish(struct nbd_conn *c);
static void fail_conn(struct nbd_conn *c, const char *why);

/* ---- request objects: recycled per connection, never freed on the I/O path ---- */

static struct nbd_req *req_get(struct nbd_conn *c)
{
    struct nbd_req *q = c->free_reqs;
    if (q)
        c->free_reqs = q->next;
    else if (!(q = malloc(sizeof(*q))))
        return NULL;
    memset(q, 0, offsetof(struct nbd_req, hdr));
    q->conn = c;
    q->hdr_len = 0;
    c->held++;
    return q;
}

static void req_put(struct nbd_conn *c, struct nbd_req *q)
{
    if (q->buf) {
        bufpool_put(c->srv->pool, q->buf, q->buflen);
        c->held_bytes -= q->buflen;
        q->buf = NULL;
    }
    c->held--;
    q->next = c->free_reqs;
    c->free_reqs = q;
}

static bool req_alloc_buf(struct nbd_conn *c, struct nbd_req *q, size_t len)
{
    q->buf = bufpool_get(c->srv->pool, len);
    q->buflen = len;
    if (q->buf)
        c->held_bytes += len;
    return q->buf != NULL;
}

/* ---- the socket watch ---- */

/* Registers for exactly what the connection can use now. Once it is closing and has nothing
 * more to send, the watch is removed rather than left at events 0: a socket shut down on both
 * sides reports EPOLLHUP level-triggered whatever it asked for, which would wake the reactor
 * in a loop for as long as the volume still holds requests. It comes back if a reply that must
 * be delivered (after EOF or DISC) meets a full socket. */
static void update_watch(struct nbd_conn *c)
{
    if (c->freed)
        return; /* fd closed, watch gone */
    uint32_t ev = 0;
    switch (c->phase) {
    case PH_HANDSHAKE:
        ev = EPOLLIN | (c->hs.out.len ? EPOLLOUT : 0);
        break;
    case PH_TX:
        ev = (c->reading_paused ? 0 : EPOLLIN) | (c->hs.out.len || c->out_head ? EPOLLOUT : 0);
        break;
    case PH_CLOSING:
        ev = c->no_more_input && c->out_head ? EPOLLOUT : 0;
        break;
    }
    struct loop *l = c->srv->loop;
    if (c->phase == PH_CLOSING && !ev) {
        loop_del(l, &c->w);
    } else if (!c->w.active) {
        if (loop_add(l, &c->w, c->fd, ev, conn_events, c) < 0)
            fail_conn(c, "cannot watch the socket");
    } else {
        loop_mod(l, &c->w, ev);
    }
}

/* ---- replies ---- */

static void mark_dirty(struct nbd_conn *c)
{
    if (c->in_dirty)
        return;
    c->in_dirty = true;
    c->dirty_next = c->srv->dirty;
    c->srv->dirty = c;
}

static void queue_reply(struct nbd_conn *c, struct nbd_req *q)
{
    if (c->phase == PH_CLOSING && !c->no_more_input) {
        req_put(c, q); /* the socket is gone: nobody to tell */
        return;
    }
    q->next = NULL;
    if (c->out_tail)
        c->out_tail->next = q;
    else
        c->out_head = q;
    c->out_tail = q;
    mark_dirty(c);
}

static void reply_error(struct nbd_conn *c, struct nbd_req *q, uint32_t err, const char *why)
{
    if (c->tx.structured)
        q->hdr_len = (uint16_t)nbd_reply_error_chunk(q->hdr, q->r.cookie, err, why);
    else
        q->hdr_len = (uint16_t)nbd_reply_simple(q->hdr, q->r.cookie, err);
    q->data_len = 0;
    queue_reply(c, q);
}

static void reply_ok(struct nbd_conn *c, struct nbd_req *q)
{
    if (q->r.type == NBD_CMD_READ) {
        q->hdr_len = c->tx.structured ? (uint16_t)nbd_reply_read_chunk(q->hdr, q->r.cookie,
                                                                       q->r.offset, q->r.length)
                                      : (uint16_t)nbd_reply_simple(q->hdr, q->r.cookie, 0);
        q->data_len = q->r.length;
    } else {
        q->hdr_len = (uint16_t)nbd_reply_simple(q->hdr, q->r.cookie, 0);
        q->data_len = 0;
    }
    queue_reply(c, q);
}

static void fail_conn(struct nbd_conn *c, const char *why)
{
    /* Replies can no longer be delivered: drop them now. */
    while (c->out_head) {
        struct nbd_req *q = c->out_head;
        c->out_head = q->next;
        req_put(c, q);
    }
    c->out_tail = NULL;
    c->out_sent = 0;
    c->no_more_input = false;
    nbd_conn_begin_close(c, why);
    update_watch(c); /* already closing: nothing is left to send */
}

/* Sends queued replies; returns false if the connection failed. */
static bool flush_hs(struct nbd_conn *c);
static void resume_reading(struct nbd_conn *c);

/* True while the connection holds as many requests or buffer bytes as it may: it must not
 * parse another request until replies have been written. */
static bool saturated(const struct nbd_conn *c)
{
    return c->held >= NBD_CONN_MAX_INFLIGHT || c->held_bytes >= NBD_CONN_MAX_BUF_BYTES;
}

static bool flush_out(struct nbd_conn *c)
{
    if (c->hs.out.len) {
        /* The end of the handshake must precede the first reply. */
        if (!flush_hs(c)) {
            fail_conn(c, "send failed during handshake");
            return false;
        }
        if (c->hs.out.len)
            return true;
    }
    while (c->out_head) {
        struct iovec iov[IOV_BATCH];
        int n = 0;
        size_t skip = c->out_sent;
        for (struct nbd_req *q = c->out_head; q && n < IOV_BATCH - 1; q = q->next) {
            if (skip < q->hdr_len) {
                iov[n].iov_base = q->hdr + skip;
                iov[n++].iov_len = q->hdr_len - skip;
                skip = 0;
            } else {
                skip -= q->hdr_len;
            }
            if (q->data_len) {
                iov[n].iov_base = (char *)q->buf + skip;
                iov[n++].iov_len = q->data_len - skip;
            }
            skip = 0;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            char why[96];
            snprintf(why, sizeof(why), "send failed: %s", strerror(errno));
            fail_conn(c, why);
            return false;
        }
        size_t left = (size_t)w + c->out_sent;
        while (c->out_head) {
            struct nbd_req *q = c->out_head;
            size_t total = q->hdr_len + q->data_len;
            if (left < total)
                break;
            left -= total;
            c->out_head = q->next;
            if (!c->out_head)
                c->out_tail = NULL;
            req_put(c, q);
        }
        c->out_sent = left;
    }
    if (c->reading_paused && !saturated(c))
        resume_reading(c); /* updates the watch */
    else
        update_watch(c);
    return true;
}

/* Handshake output (a bytebuf) is sent inline: it is small and the client waits for it. */
static bool flush_hs(struct nbd_conn *c)
{
    struct bytebuf *b = &c->hs.out;
    while (b->off < b->len) {
        ssize_t w = send(c->fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                update_watch(c);
                return true;
            }
            return false;
        }
        b->off += (size_t)w;
    }
    bytebuf_reset(b);
    return true;
}

void nbd_server_flush_dirty(void *server)
{
    struct nbd_server *s = server;
    while (s->dirty) {
        struct nbd_conn *c = s->dirty;
        s->dirty = c->dirty_next;
        c->in_dirty = false;
        if (flush_out(c))
            conn_maybe_finish(c);
    }
}

/* ---- requests ---- */

static void resume_reading(struct nbd_conn *c)
{
    if (c->reading_paused && !saturated(c) && c->phase == PH_TX) {
        c->reading_paused = false;
        update_watch(c);
        /* Requests may already sit in the buffer; the next readable event parses them, but a
         * client that sent everything and waits would never make the socket readable again. */
        conn_events(c->srv->loop, &c->w, 0);
        /* This runs from the idle hook that sends replies, after the io engine's hook has
         * flushed: make the loop come round once more so that requests just started reach
         * the kernel before it sleeps. */
        loop_wake(c->srv->loop);
    }
}

static void vio_done(struct vol_io *vio)
{
    struct nbd_req *q = (struct nbd_req *)((char *)vio - offsetof(struct nbd_req, vio));
    struct nbd_conn *c = q->conn;
    c->inflight--;
    if (vio->error) {
        log_warn("nbd", "client %llu: %s offset %llu length %u failed: %s",
                 (unsigned long long)c->id, nbd_cmd_name(q->r.type),
                 (unsigned long long)q->r.offset, q->r.length, strerror(vio->error));
        reply_error(c, q, nbd_errno(vio->error), strerror(vio->error));
    } else {
        reply_ok(c, q);
    }
    /* No resume_reading() here: the request still counts against the connection's caps
     * until its reply is written (flush_out resumes). */
    if (c->phase == PH_CLOSING)
        conn_maybe_finish(c);
}

static void submit(struct nbd_conn *c, struct nbd_req *q, enum vol_op op, unsigned flags)
{
    q->vio.op = op;
    q->vio.flags = flags;
    q->vio.off = q->r.offset;
    q->vio.len = q->r.length;
    q->vio.buf = q->buf;
    q->vio.done = vio_done;
    c->inflight++;
    vol_submit(c->vol, &q->vio);
}

static void do_block_status(struct nbd_conn *c, struct nbd_req *q)
{
    if (!req_alloc_buf(c, q, 4 + 8 * MAX_EXTENTS)) {
        reply_error(c, q, NBD_ENOMEM, "out of memory");
        return;
    }
    long n = nbd_extents_fill(c->vol->rep->data_fd, q->r.offset, q->r.length,
                              q->r.flags & NBD_CMD_FLAG_REQ_ONE, q->buf, MAX_EXTENTS);
    if (n < 0) {
        reply_error(c, q, nbd_errno((int)-n), strerror((int)-n));
        return;
    }
    q->hdr_len = (uint16_t)nbd_reply_block_status_chunk(q->hdr, q->r.cookie, (uint32_t)n);
    q->data_len = (uint32_t)n;
    queue_reply(c, q);
}

static void start_request(struct nbd_conn *c, struct nbd_req *q)
{
    unsigned fua = q->r.flags & NBD_CMD_FLAG_FUA ? VOL_F_FUA : 0;
    switch (q->r.type) {
    case NBD_CMD_READ:
        if (!req_alloc_buf(c, q, q->r.length)) {
            reply_error(c, q, NBD_ENOMEM, "out of memory");
            return;
        }
        submit(c, q, VOL_READ, 0);
        return;
    case NBD_CMD_WRITE:
        submit(c, q, VOL_WRITE, fua);
        return;
    case NBD_CMD_FLUSH:
        submit(c, q, VOL_FLUSH, 0);
        return;
    case NBD_CMD_TRIM:
        submit(c, q, VOL_TRIM, fua);
        return;
    case NBD_CMD_WRITE_ZEROES:
        submit(c, q, VOL_WRITE_ZEROES,
               fua | (q->r.flags & NBD_CMD_FLAG_NO_HOLE ? VOL_F_NO_HOLE : 0));
        return;
    case NBD_CMD_BLOCK_STATUS:
        do_block_status(c, q);
        return;
    default:
        reply_error(c, q, NBD_EINVAL, "unknown command");
        return;
    }
}

/* Parses one request header from the buffer. Returns false to stop parsing. */
static bool parse_request(struct nbd_conn *c)
{
    struct nbd_request r;
    if (nbd_request_parse(c->rx + c->rx_off, &r) < 0) {
        char why[80];
        snprintf(why, sizeof(why), "bad request magic 0x%08x", get_be32(c->rx + c->rx_off));
        fail_conn(c, why);
        return false;
    }
    c->rx_off += NBD_REQUEST_BYTES;
    if (r.type == NBD_CMD_DISC) {
        c->no_more_input = true;
        nbd_conn_begin_close(c, "client sent DISC");
        return false;
    }
    struct nbd_req *q = req_get(c);
    if (!q) {
        fail_conn(c, "out of memory for a request");
        return false;
    }
    q->r = r;
    const char *why = NULL;
    /* a volume grown since the handshake (volume.expand) is addressable at once: the kernel NBD
     * driver reaches past the old end after the node plugin resized its device (online CSI
     * expansion); other clients keep to the size they were given */
    if (vol_size(c->vol) > c->tx.export_size)
        c->tx.export_size = vol_size(c->vol);
    uint32_t err = nbd_request_validate(&r, &c->tx, &why);
    if (err) {
        log_warn("nbd", "client %llu: refusing %s (type %u) flags 0x%x offset %llu length %u: %s",
                 (unsigned long long)c->id, nbd_cmd_name(r.type), r.type, r.flags,
                 (unsigned long long)r.offset, r.length, why);
        if (r.type == NBD_CMD_WRITE)
            c->discard_left = r.length;
        reply_error(c, q, err, why);
        return true;
    }
    if (r.type == NBD_CMD_WRITE) {
        if (!req_alloc_buf(c, q, r.length)) {
            c->discard_left = r.length;
            reply_error(c, q, NBD_ENOMEM, "out of memory");
            return true;
        }
        c->cur = q;
        c->cur_got = 0;
        return true;
    }
    start_request(c, q);
    return true;
}

static void process_tx(struct nbd_conn *c)
{
    while (c->phase == PH_TX) {
        size_t avail = c->rx_len - c->rx_off;
        if (c->discard_left) {
            size_t n = avail < c->discard_left ? avail : (size_t)c->discard_left;
            c->rx_off += n;
            c->discard_left -= n;
            if (c->discard_left)
                break;
            continue;
        }
        if (c->cur) {
            struct nbd_req *q = c->cur;
            size_t need = q->r.length - c->cur_got;
            size_t n = avail < need ? avail : need;
            memcpy((char *)q->buf + c->cur_got, c->rx + c->rx_off, n);
            c->rx_off += n;
            c->cur_got += (uint32_t)n;
            if (c->cur_got < q->r.length)
                break;
            c->cur = NULL;
            start_request(c, q);
            continue;
        }
        if (saturated(c)) {
            if (!c->reading_paused) {
                c->reading_paused = true;
                update_watch(c);
            }
            break;
        }
        if (avail < NBD_REQUEST_BYTES)
            break;
        if (!parse_request(c))
            break;
    }
}

static void process_handshake(struct nbd_conn *c)
{
    while (c->phase == PH_HANDSHAKE) {
        size_t used;
        enum nbd_hs_result res =
            nbd_hs_feed(&c->hs, c->rx + c->rx_off, c->rx_len - c->rx_off, &used);
        c->rx_off += used;
        if (c->hs.out.oom) {
            fail_conn(c, "out of memory in handshake");
            return;
        }
        if (!flush_hs(c)) {
            /* After ABORT the client may rightly hang up before reading our ACK. */
            fail_conn(c, res == NBD_HS_CLOSE ? c->hs.reason : "send failed during handshake");
            return;
        }
        if (res == NBD_HS_CLOSE) {
            nbd_conn_begin_close(c, c->hs.reason);
            return;
        }
        if (res == NBD_HS_GO) {
            c->vol = c->hs.export;
            c->tx.export_size = c->hs.export_size;
            c->tx.structured = c->hs.structured;
            c->tx.meta_allocation = c->hs.meta_allocation;
            c->phase = PH_TX;
            log_info("nbd", "client %llu (%s): export %s, %s replies%s", (unsigned long long)c->id,
                     c->peer, c->hs.export_name, c->tx.structured ? "structured" : "simple",
                     c->tx.meta_allocation ? ", base:allocation" : "");
            return;
        }
        if (used == 0)
            return;
    }
}

static void process_rx(struct nbd_conn *c)
{
    if (c->phase == PH_HANDSHAKE)
        process_handshake(c);
    if (c->phase == PH_TX)
        process_tx(c);
    if (c->rx_off == c->rx_len) {
        c->rx_off = c->rx_len = 0;
    } else if (c->rx_off > RX_BUF_BYTES / 2 || c->rx_len == RX_BUF_BYTES) {
        memmove(c->rx, c->rx + c->rx_off, c->rx_len - c->rx_off);
        c->rx_len -= c->rx_off;
        c->rx_off = 0;
    }
}

static void on_readable(struct nbd_conn *c)
{
    ssize_t n;
    if (c->phase == PH_TX && c->cur && c->rx_off == c->rx_len) {
        /* Large payload: straight into the request's buffer. */
        struct nbd_req *q = c->cur;
        n = read(c->fd, (char *)q->buf + c->cur_got, q->r.length - c->cur_got);
        if (n > 0) {
            c->cur_got += (uint32_t)n;
            if (c->cur_got == q->r.length) {
                c->cur = NULL;
                start_request(c, q);
            }
            return;
        }
    } else {
        if (c->rx_len == RX_BUF_BYTES)
            return; /* full of requests we cannot take yet (paused) */
        n = read(c->fd, c->rx + c->rx_len, RX_BUF_BYTES - c->rx_len);
        if (n > 0) {
            c->rx_len += (size_t)n;
            process_rx(c);
            return;
        }
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n == 0) {
        if (c->phase != PH_TX || c->cur || c->discard_left || c->rx_off != c->rx_len) {
            fail_conn(c, c->phase == PH_TX ? "client vanished in the middle of a request"
                                           : "client closed during the handshake");
        } else {
            /* Orderly EOF between requests: answer what is in flight, then close. */
            c->no_more_input = true;
            nbd_conn_begin_close(c, "client closed the connection");
        }
        return;
    }
    char why[96];
    snprintf(why, sizeof(why), "receive failed: %s", strerror(errno));
    fail_conn(c, why);
}

static void conn_events(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    struct nbd_conn *c = w->ctx;
    if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
        fail_conn(c, "connection reset");
        return;
    }
    if (events & EPOLLOUT) {
        if (c->phase == PH_HANDSHAKE) {
            if (!flush_hs(c)) {
                fail_conn(c, "send failed during handshake");
                return;
            }
            if (c->hs.out.len == 0)
                update_watch(c);
        } else if (!flush_out(c)) {
            return;
        }
    }
    if (c->phase == PH_CLOSING) {
        conn_maybe_finish(c);
        return;
    }
    if (events & EPOLLIN)
        on_readable(c);
    else if (events == 0)
        process_rx(c); /* resumed after backpressure: parse what is buffered */
}

/* ---- lifetime ---- */

static void conn_free(void *arg)
{
    struct nbd_conn *c = arg;
    struct nbd_server *s = c->srv;
    if (c->cur)
        req_put(c, c->cur);
    while (c->out_head) {
        struct nbd_req *q = c->out_head;
        c->out_head = q->next;
        req_put(c, q);
    }
    while (c->free_reqs) {
        struct nbd_req *q = c->free_reqs;
        c->free_reqs = q->next;
        free(q);
    }
    if (c->hs.export)
        registry_detach(s->reg, c->hs.export);
    nbd_hs_free(&c->hs);
    free(c->rx);
    free(c);
    nbd_server_conn_gone(s);
}

static void conn_maybe_finish(struct nbd_conn *c)
{
    if (c->phase != PH_CLOSING || c->freed)
        return;
    if (c->inflight || (c->no_more_input && c->out_head))
        return; /* still waiting for the volume, or for the client to take replies */
    c->freed = true;
    log_info("nbd", "client %llu (%s) disconnected: %s", (unsigned long long)c->id, c->peer,
             c->close_reason);
    if (c->w.active)
        loop_del(c->srv->loop, &c->w);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    /* Unlink from the dirty list; then free after the current batch. */
    for (struct nbd_conn **pp = &c->srv->dirty; *pp; pp = &(*pp)->dirty_next)
        if (*pp == c) {
            *pp = c->dirty_next;
            break;
        }
    loop_defer(c->srv->loop, conn_free, c);
}

void nbd_conn_begin_close(struct nbd_conn *c, const char *why)
{
    if (c->phase != PH_CLOSING) {
        c->phase = PH_CLOSING;
        snprintf(c->close_reason, sizeof(c->close_reason), "%s", why);
        if (!c->no_more_input)
            shutdown(c->fd, SHUT_RD);
        update_watch(c);
        if (c->inflight)
            log_debug("nbd", "client %llu: closing, waiting for %u requests",
                      (unsigned long long)c->id, c->inflight);
    }
    conn_maybe_finish(c);
}

void nbd_conn_accept(struct nbd_server *s, int fd, const char *peer)
{
    struct nbd_conn *c = calloc(1, sizeof(*c));
    if (c)
        c->rx = malloc(RX_BUF_BYTES);
    if (!c || !c->rx) {
        log_error("nbd", "out of memory accepting %s", peer);
        if (c)
            free(c);
        close(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    c->id = ++s->next_id;
    c->accepted_ms = nbd_now_ms();
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    nbd_hs_init(&c->hs, &nbd_registry_exports, s->reg);
    if (loop_add(s->loop, &c->w, fd, EPOLLIN, conn_events, c) < 0) {
        log_error("nbd", "cannot watch connection from %s", peer);
        nbd_hs_free(&c->hs);
        free(c->rx);
        free(c);
        close(fd);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    log_debug("nbd", "client %llu connected from %s", (unsigned long long)c->id, peer);
    if (!flush_hs(c))
        fail_conn(c, "send failed during handshake");
}

uint64_t nbd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void nbd_conn_check_handshake(struct nbd_conn *c, uint64_t now_ms)
{
    if (c->phase == PH_HANDSHAKE && now_ms - c->accepted_ms > c->srv->handshake_timeout_ms)
        fail_conn(c, "handshake not completed in time");
}

struct nbd_conn *nbd_conn_next(struct nbd_conn *c)
{
    return c->next;
}

void nbd_conn_abandon(struct nbd_conn *c)
{
    if (c->phase != PH_CLOSING || !c->no_more_input || c->freed)
        return;
    unsigned n = 0;
    for (struct nbd_req *q = c->out_head; q; q = q->next)
        n++;
    char why[120];
    snprintf(why, sizeof(why), "%s; shutdown grace period over, %u replies not taken dropped",
             c->close_reason, n);
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", why);
    fail_conn(c, why); /* already closing: keeps the reason set above */
}

void nbd_conn_shutdown(struct nbd_conn *c)
{
    if (c->phase == PH_CLOSING)
        return;
    c->no_more_input = true;
    if (c->cur) {
        /* A write whose payload never fully arrived was never acknowledged: drop it. */
        req_put(c, c->cur);
        c->cur = NULL;
    }
    nbd_conn_begin_close(c, "server shutting down");
}
