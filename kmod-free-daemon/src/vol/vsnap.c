#include "vol/vsnap.h"

#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
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

struct delete_call {
    struct reactor_job *job;
    struct vsnap_op op;
};

static void delete_call_done(struct vsnap_op *op)
{
    struct delete_call *d = op->ctx;
    struct json_object *res = json_object_new_object();
    json_object_object_add(res, "errno", json_object_new_int(op->error));
    json_object_object_add(res, "error", json_object_new_string(op->err));
    reactor_call_finish(d->job, res);
    free(d);
}

static void delete_call_start(struct reactor_job *job)
{
    struct delete_call *d = calloc(1, sizeof(*d));
    struct vsnap_op *src = job->arg;
    if (!d) {
        free(src);
        struct json_object *res = json_object_new_object();
        json_object_object_add(res, "errno", json_object_new_int(ENOMEM));
        json_object_object_add(res, "error", json_object_new_string("out of memory"));
        reactor_call_finish(job, res);
        return;
    }
    d->job = job;
    d->op = *src;
    free(src);
    d->op.done = delete_call_done;
    d->op.ctx = d;
    vsnap_delete(&d->op);
}

int vsnap_delete_blocking(struct volume *v, struct reactor_queue *q, const char *name, char *err,
                          size_t errlen)
{
    struct snapset *s = v->snaps;
    struct snapshot *snap = s ? snapset_find(s, name) : NULL;
    if (!snap) {
        snprintf(err, errlen, "volume %s has no snapshot named %s", v->rep->sb.name, name);
        errno = ENOENT;
        return -1;
    }
    if (snapset_pin_for_delete(s, snap, err, errlen) < 0)
        return -1;
    /* the bulk of the copy, here, while writes go on */
    if (snapset_copy_to_older(s, snap, err, errlen) < 0) {
        int e = errno;
        snapset_unpin_delete(s, snap);
        errno = e;
        return -1;
    }
    /* the job frees it: it may start after a timeout here */
    struct vsnap_op *op = calloc(1, sizeof(*op));
    if (!op) {
        snapset_unpin_delete(s, snap);
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    op->v = v;
    op->snap = snap;
    snprintf(op->name, sizeof(op->name), "%s", name);
    struct json_object *res = reactor_call(q, delete_call_start, op, NULL, 60000);
    if (!res) {
        snprintf(err, errlen, "timed out waiting for the daemon to finish deleting %s", name);
        errno = ETIMEDOUT;
        return -1;
    }
    struct json_object *v_errno, *v_err;
    json_object_object_get_ex(res, "errno", &v_errno);
    json_object_object_get_ex(res, "error", &v_err);
    int e = json_object_get_int(v_errno);
    snprintf(err, errlen, "%s", json_object_get_string(v_err));
    json_object_put(res);
    errno = e;
    return e ? -1 : 0;
}
