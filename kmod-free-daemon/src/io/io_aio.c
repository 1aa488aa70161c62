/* Linux AIO backend (libaio), for hosts where io_uring is unavailable or blocked.
 *
 * AIO has reads, writes (with RWF_DSYNC through aio_rw_flags) and fdatasync (IOCB_CMD_FDSYNC,
 * kernel 4.18+), but no fallocate: TRIM and WRITE_ZEROES go to one helper thread that runs
 * fallocate(2) and posts the result back through the same eventfd, so the reactor never blocks
 * and the rest of the code cannot tell the difference.
 *
 * AIO is only truly asynchronous with O_DIRECT; with --cache writeback io_submit() may block in
 * the page cache. That is the documented price of this fallback. */
#include "io/io_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

struct aio_slot {
    struct iocb cb;
    struct io_req *req;
};

struct aio_engine {
    struct io_engine base;
    io_context_t ctx;
    struct aio_slot *slots;
    struct aio_slot **free_slots;
    unsigned n_free;
    struct iocb **pending; /* prepared, not yet io_submit()ted */
    unsigned n_pending;
    unsigned submitted; /* iocbs in the kernel: each will signal the eventfd when done */
    struct io_event *events;

    /* fallocate helper thread */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* todo is a FIFO (head, tail), so TRIM/WRITE_ZEROES run in the order they were queued; done
     * is pushed newest-first and reversed when reaped, so they also complete in that order. */
    struct io_req *falloc_todo, *falloc_todo_tail, *falloc_done;
    bool stop;
};

static void *falloc_thread(void *arg)
{
    struct aio_engine *a = arg;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->falloc_todo && !a->stop)
            pthread_cond_wait(&a->cond, &a->lock);
        if (!a->falloc_todo && a->stop)
            break;
        struct io_req *req = a->falloc_todo;
        a->falloc_todo = req->next;
        if (!a->falloc_todo)
            a->falloc_todo_tail = NULL;
        pthread_mutex_unlock(&a->lock);
        int r = fallocate(req->fd, req->falloc_mode, (off_t)req->off, (off_t)req->len);
        req->done_bytes = r < 0 ? (uint64_t)(-(int64_t)errno) : 0; /* carried to reap */
        pthread_mutex_lock(&a->lock);
        req->next = a->falloc_done;
        a->falloc_done = req;
        uint64_t one = 1;
        ssize_t w = write(a->base.fd, &one, sizeof(one));
        (void)w;
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

static int aio_queue(struct io_engine *e, struct io_req *req)
{
    struct aio_engine *a = (struct aio_engine *)e;
    if (req->op == IO_FALLOCATE) {
        pthread_mutex_lock(&a->lock);
        req->next = NULL;
        if (a->falloc_todo_tail)
            a->falloc_todo_tail->next = req;
        else
            a->falloc_todo = req;
        a->falloc_todo_tail = req;
        pthread_cond_signal(&a->cond);
        pthread_mutex_unlock(&a->lock);
        return 0;
    }
    if (!a->n_free)
        return -EAGAIN;
    struct aio_slot *s = a->free_slots[--a->n_free];
    s->req = req;
    char *buf = (char *)req->buf + req->done_bytes;
    long long off = (long long)(req->off + req->done_bytes);
    size_t len = (size_t)(req->len - req->done_bytes);
    switch (req->op) {
    case IO_READ:
        io_prep_pread(&s->cb, req->fd, buf, len, off);
        break;
    case IO_WRITE:
        io_prep_pwrite(&s->cb, req->fd, buf, len, off);
        if (req->flags & IO_F_FUA)
            s->cb.aio_rw_flags = RWF_DSYNC;
        break;
    case IO_FSYNC:
        io_prep_fdsync(&s->cb, req->fd);
        break;
    case IO_FALLOCATE:
        break; /* handled above */
    }
    io_set_eventfd(&s->cb, e->fd);
    s->cb.data = s;
    a->pending[a->n_pending++] = &s->cb;
    return 0;
}

static void fail_slot(struct aio_engine *a, struct iocb *cb, int err)
{
    struct aio_slot *s = cb->data;
    a->free_slots[a->n_free++] = s;
    io_engine_complete(&a->base, s->req, -err);
}

static void aio_flush(struct io_engine *e)
{
    struct aio_engine *a = (struct aio_engine *)e;
    unsigned done = 0;
    bool stalled = false;
    while (done < a->n_pending) {
        int r = io_submit(a->ctx, (long)(a->n_pending - done), a->pending + done);
        if (r > 0) {
            done += (unsigned)r;
            a->submitted += (unsigned)r;
            continue;
        }
        if (r == -EINTR)
            continue;
        if (r == -EAGAIN) {
            stalled = true; /* out of kernel resources: keep the rest for the next flush */
            break;
        }
        /* The first iocb was refused (e.g. EINVAL for a misaligned O_DIRECT buffer): fail it
         * alone and go on with the others. */
        fail_slot(a, a->pending[done], r < 0 ? -r : EIO);
        done++;
    }
    memmove(a->pending, a->pending + done, (a->n_pending - done) * sizeof(*a->pending));
    a->n_pending -= done;
    if (stalled && !a->submitted) {
        /* The next flush runs only when the loop comes round, and with nothing in the kernel
         * no completion would ever wake it: the iocbs left here would hang. Signal the
         * completion fd ourselves so the loop retries (with iocbs in the kernel their
         * completions wake it anyway). */
        uint64_t one = 1;
        ssize_t w = write(e->fd, &one, sizeof(one));
        (void)w;
    }
}

static void aio_reap(struct io_engine *e)
{
    struct aio_engine *a = (struct aio_engine *)e;
    uint64_t v;
    ssize_t rd = read(e->fd, &v, sizeof(v));
    (void)rd;
    struct timespec zero = {0, 0};
    for (;;) {
        int n = io_getevents(a->ctx, 0, (long)e->depth, a->events, &zero);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            struct aio_slot *s = a->events[i].data;
            long res = (long)a->events[i].res;
            a->free_slots[a->n_free++] = s;
            a->submitted--;
            io_engine_complete(e, s->req, res);
        }
        if ((unsigned)n < e->depth)
            break;
    }
    pthread_mutex_lock(&a->lock);
    struct io_req *newest = a->falloc_done, *done = NULL;
    a->falloc_done = NULL;
    pthread_mutex_unlock(&a->lock);
    while (newest) { /* oldest first */
        struct io_req *req = newest;
        newest = req->next;
        req->next = done;
        done = req;
    }
    while (done) {
        struct io_req *req = done;
        done = req->next;
        int64_t res = (int64_t)req->done_bytes;
        req->done_bytes = 0;
        io_engine_complete(e, req, res);
    }
}

static void aio_destroy(struct io_engine *e)
{
    struct aio_engine *a = (struct aio_engine *)e;
    pthread_mutex_lock(&a->lock);
    a->stop = true;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    io_destroy(a->ctx);
    close(e->fd);
    free(a->slots);
    free(a->free_slots);
    free(a->pending);
    free(a->events);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a);
}

static const struct io_engine_ops aio_ops = {
    .name = "aio",
    .queue = aio_queue,
    .flush = aio_flush,
    .reap = aio_reap,
    .destroy = aio_destroy,
};

struct io_engine *io_aio_engine_open(unsigned depth, char *err, size_t errlen)
{
    struct aio_engine *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int r = io_setup((int)depth, &a->ctx);
    if (r < 0) {
        snprintf(err, errlen, "io_setup(%u): %s%s", depth, strerror(-r),
                 r == -EAGAIN ? " (raise fs.aio-max-nr)" : "");
        free(a);
        return NULL;
    }
    a->slots = calloc(depth, sizeof(*a->slots));
    a->free_slots = calloc(depth, sizeof(*a->free_slots));
    a->pending = calloc(depth, sizeof(*a->pending));
    a->events = calloc(depth, sizeof(*a->events));
    a->base.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    if (!a->slots || !a->free_slots || !a->pending || !a->events || a->base.fd < 0 ||
        pthread_create(&a->thread, NULL, falloc_thread, a) != 0) {
        snprintf(err, errlen, "aio engine setup: %s", strerror(errno ? errno : ENOMEM));
        io_destroy(a->ctx);
        if (a->base.fd >= 0)
            close(a->base.fd);
        free(a->slots);
        free(a->free_slots);
        free(a->pending);
        free(a->events);
        free(a);
        return NULL;
    }
    for (unsigned i = 0; i < depth; i++)
        a->free_slots[a->n_free++] = &a->slots[i];
    a->base.ops = &aio_ops;
    a->base.depth = depth;
    return &a->base;
}
