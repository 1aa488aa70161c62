/* The backend-independent half of the disk engine: choosing a backend, the backlog past the
 * kernel queue depth, finishing short transfers, and delivering completions.
 *
 * Completions are collected first and their done() callbacks run after the backend finished
 * reaping, because a done() commonly submits the next request (read-modify-write, write after
 * an overlapping one) and must not re-enter the backend while it walks its completion ring. */
#include "io/io_engine.h"

#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int io_engine_parse_kind(const char *s, enum io_engine_kind *out)
{
    if (strcmp(s, "auto") == 0)
        *out = IO_ENGINE_AUTO;
    else if (strcmp(s, "io_uring") == 0 || strcmp(s, "uring") == 0)
        *out = IO_ENGINE_URING;
    else if (strcmp(s, "aio") == 0 || strcmp(s, "libaio") == 0)
        *out = IO_ENGINE_AIO;
    else
        return -1;
    return 0;
}

struct io_engine *io_engine_open(enum io_engine_kind kind, unsigned depth, char *err, size_t errlen)
{
    if (kind == IO_ENGINE_AIO)
        return io_aio_engine_open(depth, err, errlen);
    struct io_engine *e = io_uring_engine_open(depth, err, errlen);
    if (e || kind == IO_ENGINE_URING)
        return e;
    log_warn("io", "io_uring unavailable (%s); falling back to libaio", err);
    return io_aio_engine_open(depth, err, errlen);
}

void io_engine_close(struct io_engine *e)
{
    if (e)
        e->ops->destroy(e);
}

const char *io_engine_name(const struct io_engine *e)
{
    return e->ops->name;
}

bool io_engine_busy(const struct io_engine *e)
{
    return e->inflight || e->backlog || e->completed;
}

static void backlog_push(struct io_engine *e, struct io_req *req)
{
    req->next = NULL;
    if (e->backlog_tail)
        e->backlog_tail->next = req;
    else
        e->backlog = req;
    e->backlog_tail = req;
}

static void finish(struct io_engine *e, struct io_req *req, int64_t res)
{
    req->result = res;
    req->next = e->completed;
    e->completed = req;
    if (!e->reaping) {
        /* Failed at submission: nothing in the kernel will signal it, so signal it ourselves
         * (both backends' completion fds are eventfds, which userspace may write). */
        uint64_t one = 1;
        ssize_t w = write(e->fd, &one, sizeof(one));
        (void)w;
    }
}

/* Tries to put req in the kernel queue; keeps it in the backlog when the queue is full. */
static void try_queue(struct io_engine *e, struct io_req *req)
{
    if (e->backlog || e->inflight >= e->depth) {
        backlog_push(e, req);
        return;
    }
    int r = e->ops->queue(e, req);
    if (r == 0) {
        e->inflight++;
    } else if (r == -EAGAIN) {
        backlog_push(e, req);
    } else {
        finish(e, req, r);
    }
}

void io_engine_submit(struct io_engine *e, struct io_req *req)
{
    req->done_bytes = 0;
    req->result = 0;
    if (req->flags & IO_F_INLINE) {
        /* A buffered write is a copy into the page cache: doing it here costs less than
         * handing it to a kernel worker, which is what io_uring does with buffered writes on
         * filesystems without non-blocking buffered writes (ext4 refuses RWF_NOWAIT). The
         * completion is delivered by the next io_engine_flush(), before the loop sleeps. */
        ssize_t w = pwrite(req->fd, req->buf, req->len, (off_t)req->off);
        req->result = w < 0 ? -errno : w;
        if (w >= 0 && (uint64_t)w < req->len) {
            req->done_bytes = (uint64_t)w; /* rare short write: the kernel queue finishes it */
            req->flags &= ~IO_F_INLINE;
            try_queue(e, req);
            return;
        }
        req->next = e->completed;
        e->completed = req;
        e->inline_done = true;
        return;
    }
    try_queue(e, req);
}

static void drain_backlog(struct io_engine *e)
{
    while (e->backlog && e->inflight < e->depth) {
        struct io_req *req = e->backlog;
        /* Read the link first: a backend that takes the request may reuse req->next at once
         * (aio hands fallocates to its helper thread through it). */
        struct io_req *next = req->next;
        int r = e->ops->queue(e, req);
        if (r == -EAGAIN)
            break;
        e->backlog = next;
        if (!e->backlog)
            e->backlog_tail = NULL;
        if (r == 0)
            e->inflight++;
        else
            finish(e, req, r);
    }
}

static void deliver(struct io_engine *e);

void io_engine_flush(struct io_engine *e)
{
    for (;;) {
        drain_backlog(e);
        e->ops->flush(e);
        if (e->inline_done) {
            e->inline_done = false;
            deliver(e);
            continue;
        }
        if (!e->ops->reap_posted)
            return;
        /* Completions delivered here may queue follow-up requests (read-modify-write steps):
         * go round until a pass finds nothing, so nothing is left unsubmitted before the loop
         * sleeps. */
        e->reaping = true;
        unsigned n = e->ops->reap_posted(e);
        e->reaping = false;
        if (!n && !e->completed)
            return;
        deliver(e);
    }
}

void io_engine_complete(struct io_engine *e, struct io_req *req, int64_t res)
{
    e->inflight--;
    if (res < 0 || (req->op != IO_READ && req->op != IO_WRITE)) {
        finish(e, req, res);
        return;
    }
    req->done_bytes += (uint64_t)res;
    if (req->done_bytes >= req->len || (res == 0 && req->op == IO_READ)) {
        /* complete, or a read that reached end of file */
        finish(e, req, (int64_t)req->done_bytes);
        return;
    }
    if (res == 0) {
        /* a write that made no progress would loop forever */
        finish(e, req, -EIO);
        return;
    }
    /* Short transfer: resubmit the remainder. Backends read off/buf/len through done_bytes. */
    try_queue(e, req);
}

void io_engine_reap(struct io_engine *e)
{
    e->reaping = true;
    e->ops->reap(e);
    drain_backlog(e);
    e->reaping = false;
    deliver(e);
}

static void deliver(struct io_engine *e)
{
    /* Deliver in completion order (the list was built newest-first). */
    struct io_req *list = NULL;
    while (e->completed) {
        struct io_req *r = e->completed;
        e->completed = r->next;
        r->next = list;
        list = r;
    }
    while (list) {
        struct io_req *r = list;
        list = r->next;
        r->next = NULL;
        r->done(r);
    }
}
