/* io_uring backend (liburing). One ring per engine, completions signalled through an eventfd
 * registered with the ring so the reactor sees io_uring like any other fd.
 *
 * Probing: io_uring can be missing (old kernel: ENOSYS), disabled by the
 * kernel.io_uring_disabled sysctl (EPERM) or blocked by a container's seccomp profile (EPERM or
 * ENOSYS). Opening the ring is the probe; then the opcodes we use are checked, because a ring
 * that opens but refuses IORING_OP_FALLOCATE would fail requests at run time instead. */
#include "io/io_engine.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

struct uring_engine {
    struct io_engine base;
    struct io_uring ring;
    unsigned unsubmitted;
};

/* Hands the unsubmitted SQEs to the kernel. io_uring_submit() may take fewer than queued, or
 * fail (-EAGAIN, -EBUSY while the completion queue overflows, -EINTR): what it did not take
 * stays in the SQ ring and is counted on, and if nothing in the kernel will post a completion
 * the completion fd is signalled by hand, so the loop comes round and flushes again instead of
 * sleeping on SQEs nobody submits. */
static void uring_submit(struct uring_engine *u)
{
    while (u->unsubmitted) {
        int r = io_uring_submit(&u->ring);
        if (r > 0) {
            u->unsubmitted = (unsigned)r >= u->unsubmitted ? 0 : u->unsubmitted - (unsigned)r;
            continue;
        }
        if (r == -EINTR)
            continue;
        if (r == 0)
            u->unsubmitted = 0; /* the ring holds nothing unsubmitted after all */
        break;
    }
    if (u->unsubmitted && u->base.inflight <= u->unsubmitted) {
        uint64_t one = 1;
        ssize_t w = write(u->base.fd, &one, sizeof(one));
        (void)w;
    }
}

static int uring_queue(struct io_engine *e, struct io_req *req)
{
    struct uring_engine *u = (struct uring_engine *)e;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) {
        /* SQ ring full of unsubmitted entries: push them and try once more. */
        uring_submit(u);
        sqe = io_uring_get_sqe(&u->ring);
        if (!sqe)
            return -EAGAIN;
    }
    char *buf = (char *)req->buf + req->done_bytes;
    uint64_t off = req->off + req->done_bytes;
    unsigned len = (unsigned)(req->len - req->done_bytes);
    switch (req->op) {
    case IO_READ:
        io_uring_prep_read(sqe, req->fd, buf, len, off);
        break;
    case IO_WRITE:
        io_uring_prep_write(sqe, req->fd, buf, len, off);
        if (req->flags & IO_F_FUA)
            sqe->rw_flags = RWF_DSYNC;
        break;
    case IO_FSYNC:
        io_uring_prep_fsync(sqe, req->fd, IORING_FSYNC_DATASYNC);
        break;
    case IO_FALLOCATE:
        io_uring_prep_fallocate(sqe, req->fd, req->falloc_mode, (off_t)req->off, (off_t)req->len);
        break;
    }
    io_uring_sqe_set_data(sqe, req);
    u->unsubmitted++;
    return 0;
}

static void uring_flush(struct io_engine *e)
{
    uring_submit((struct uring_engine *)e);
}

static unsigned uring_reap_posted(struct io_engine *e)
{
    struct uring_engine *u = (struct uring_engine *)e;
    struct io_uring_cqe *cqe;
    unsigned n = 0;
    while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        struct io_req *req = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        io_engine_complete(e, req, res);
        n++;
    }
    return n;
}

static void uring_reap(struct io_engine *e)
{
    uint64_t v;
    ssize_t r = read(e->fd, &v, sizeof(v)); /* clear the eventfd before looking at the ring */
    (void)r;
    uring_reap_posted(e);
}

static void uring_destroy(struct io_engine *e)
{
    struct uring_engine *u = (struct uring_engine *)e;
    io_uring_queue_exit(&u->ring);
    close(e->fd);
    free(u);
}

static const struct io_engine_ops uring_ops = {
    .name = "io_uring",
    .queue = uring_queue,
    .flush = uring_flush,
    .reap = uring_reap,
    .reap_posted = uring_reap_posted,
    .destroy = uring_destroy,
};

struct io_engine *io_uring_engine_open(unsigned depth, char *err, size_t errlen)
{
    struct uring_engine *u = calloc(1, sizeof(*u));
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* The ring is only ever used from its reactor thread: tell the kernel, which lets it skip
     * cross-thread wakeups. Older kernels refuse these flags, so retry without them. */
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN};
    int r = io_uring_queue_init_params(depth, &u->ring, &p);
    if (r == -EINVAL) {
        memset(&p, 0, sizeof(p));
        r = io_uring_queue_init_params(depth, &u->ring, &p);
    }
    if (r < 0) {
        snprintf(err, errlen, "io_uring_setup: %s%s", strerror(-r),
                 r == -EPERM ? " (disabled by sysctl kernel.io_uring_disabled or seccomp)" : "");
        free(u);
        return NULL;
    }
    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    if (!probe || !io_uring_opcode_supported(probe, IORING_OP_READ) ||
        !io_uring_opcode_supported(probe, IORING_OP_WRITE) ||
        !io_uring_opcode_supported(probe, IORING_OP_FSYNC) ||
        !io_uring_opcode_supported(probe, IORING_OP_FALLOCATE)) {
        snprintf(err, errlen, "io_uring lacks READ/WRITE/FSYNC/FALLOCATE (kernel too old)");
        if (probe)
            io_uring_free_probe(probe);
        io_uring_queue_exit(&u->ring);
        free(u);
        return NULL;
    }
    io_uring_free_probe(probe);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    /* Not io_uring_register_eventfd_async(): that signals only completions posted by io-wq
     * workers, so O_DIRECT completions (posted from task work) would never wake the loop
     * (tests/unit/test_io_engines.c catches that). Inline completions are harvested right
     * after submitting (reap_posted); they cost one later wakeup that finds the ring empty. */
    if (efd < 0 || io_uring_register_eventfd(&u->ring, efd) < 0) {
        snprintf(err, errlen, "io_uring eventfd: %s", strerror(errno));
        if (efd >= 0)
            close(efd);
        io_uring_queue_exit(&u->ring);
        free(u);
        return NULL;
    }
    u->base.ops = &uring_ops;
    u->base.fd = efd;
    u->base.depth = p.cq_entries ? p.cq_entries : depth;
    return &u->base;
}
