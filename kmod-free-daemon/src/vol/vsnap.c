#include "vol/vsnap.h"

#include "util/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static void finish(struct vsnap_op *op, int error)
{
    op->error = error;
    vol_thaw(op->v);
    op->done(op);
}

static void flushed(struct io_req *io)
{
    struct vsnap_op *op = container_of(io, struct vsnap_op, io);
    if (io->result < 0) {
        int e = (int)-io->result;
        snprintf(op->err, sizeof(op->err), "flushing the volume before the snapshot: %s",
                 strerror(e));
        finish(op, e);
        return;
    }
    op->snap =
        snapset_create(op->v->snaps, op->name, op->seq, op->created, op->err, sizeof(op->err));
    if (!op->snap) {
        finish(op, errno ? errno : EIO);
        return;
    }
    log_info("snap", "volume %s: snapshot %s taken (seq %llu)", op->v->rep->sb.name, op->name,
             (unsigned long long)op->snap->seq);
    finish(op, 0);
}

/* Every write submitted before the freeze is done: this is the write boundary. */
static void create_quiesced(void *ctx)
{
    struct vsnap_op *op = ctx;
    memset(&op->io, 0, sizeof(op->io));
    op->io.op = IO_FSYNC;
    op->io.fd = op->v->rep->data_fd;
    op->io.done = flushed;
    io_engine_submit(op->v->eng, &op->io);
}

void vsnap_create(struct vsnap_op *op)
{
    op->error = 0;
    op->err[0] = 0;
    op->snap = NULL;
    if (!op->v->snaps) {
        snprintf(op->err, sizeof(op->err), "volume has no snapshot state");
        op->error = EINVAL;
        op->done(op);
        return;
    }
    vol_freeze(op->v, create_quiesced, op);
}

static void delete_unlink(struct vsnap_op *op)
{
    int rc = snapset_unlink(op->v->snaps, op->snap, op->err, sizeof(op->err));
    if (rc == 0)
        log_info("snap", "volume %s: snapshot %s deleted", op->v->rep->sb.name, op->name);
    op->snap = NULL;
    finish(op, rc < 0 ? (errno ? errno : EIO) : 0);
}

static void cbt_durable(struct bitmap_waiter *w, int err)
{
    struct vsnap_op *op = container_of(w, struct vsnap_op, cbt_wait);
    if (err) {
        snprintf(op->err, sizeof(op->err), "saving the changed-block map: %s", strerror(err));
        snapset_unpin_delete(op->v->snaps, op->snap);
        finish(op, err);
        return;
    }
    delete_unlink(op);
}

static void delete_quiesced(void *ctx)
{
    struct vsnap_op *op = ctx;
    struct snapset *s = op->v->snaps;
    int rc = snapset_copy_to_older(s, op->snap, op->err, sizeof(op->err));
    if (rc == 0)
        rc = snapset_fold_changed(s, op->snap, op->err, sizeof(op->err));
    if (rc < 0) {
        int e = errno ? errno : EIO;
        snapset_unpin_delete(s, op->snap);
        finish(op, e);
        return;
    }
    if (rc == 1) {
        /* the snapshot's changes now live in the CBT: durable before its own map goes */
        op->cbt_wait.cb = cbt_durable;
        if (!bitmap_mark(&s->cbt, 0, 0, &op->cbt_wait))
            return;
    }
    delete_unlink(op);
}

void vsnap_delete(struct vsnap_op *op)
{
    op->error = 0;
    op->err[0] = 0;
    vol_freeze(op->v, delete_quiesced, op);
}
