/* CreateVolume with a volume content source: cloning (csi/README.md, "Cloning").
 *
 * A clone is the source's image at one write boundary, as a crash would have left it:
 *  1. a temporary snapshot (clone_snap_name(): "clone-NAME", a name no CO snapshot can get and
 *     ListSnapshots hides) is cut on the source's primary (tandemd's snapshot.create: every
 *     replica of the source cuts at the same write; writes go on, copy-before-write keeps the
 *     image);
 *  2. the clone is placed and created like any new volume (topology, zones, free space);
 *  3. the source's primary copies the snapshot's image straight into the clone's primary over
 *     NBD (tandemd's snapshot.copy job, ctl/snap_copy.c), zero blocks skipped, and the clone's
 *     primary replicates it to the clone's other replicas as ordinary writes;
 *  4. the temporary snapshot is deleted, whatever happened.
 * The data never passes through the controller. The source is held (vol_lock) for the whole
 * clone, so a publish cannot move its primary (and the snapshot's job) away mid-copy. */
#include "controller.h"

#include "ctl_client.h"
#include "volumes.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COPY_TIMEOUT_S 3600

struct clone_ctx {
    struct vol_info src;
    char snap[VOL_NAME_MAX + 1]; /* the temporary snapshot */
};

/* The copy job of snapshot snap as the node reports it; "" while it has none. */
static const char *job_state(struct json_object *list, const char *snap, const char **error)
{
    struct json_object *arr, *job;
    *error = NULL;
    if (!json_object_object_get_ex(list, "snapshots", &arr))
        return "";
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *s = json_object_array_get_idx(arr, i);
        const char *nm = ctl_str(s, "name");
        if (!nm || strcmp(nm, snap) != 0 || !json_object_object_get_ex(s, "job", &job))
            continue;
        *error = ctl_str(job, "error");
        return ctl_str(job, "state") ? ctl_str(job, "state") : "";
    }
    return "";
}

/* Starts snapshot.copy on the node `from` and waits for it (bounded). -1 with the status set. */
static int run_copy(struct rpc_call *c, const struct vol_replica *from, const char *src,
                    const char *snap, const char *uri)
{
    char err[512];
    struct json_object *extra = json_object_new_object();
    json_object_object_add(extra, "to", json_object_new_string(uri));
    struct json_object *r =
        snap_op(from->view->node, "snapshot.copy", src, snap, extra, err, sizeof(err));
    json_object_put(extra);
    if (!ctl_ok(r)) {
        ctl_status(c, r, err, "snapshot.copy");
        json_object_put(r);
        return -1;
    }
    json_object_put(r);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (useconds_t pause = 20000;; pause = pause < 500000 ? pause * 2 : pause) {
        r = snap_op(from->view->node, "snapshot.list", src, NULL, NULL, err, sizeof(err));
        if (!ctl_ok(r)) {
            ctl_status(c, r, err, "snapshot.list while cloning");
            json_object_put(r);
            return -1;
        }
        const char *why, *state = job_state(r, snap, &why);
        if (strcmp(state, "done") == 0) {
            json_object_put(r);
            return 0;
        }
        if (strcmp(state, "running") != 0) {
            rpc_error(c, GRPC_STATUS_INTERNAL, "copying %s@%s into the clone on %s: %s %s", src,
                      snap, uri, state[0] ? state : "no job", why ? why : "");
            json_object_put(r);
            return -1;
        }
        json_object_put(r);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > COPY_TIMEOUT_S) {
            rpc_error(c, GRPC_STATUS_DEADLINE_EXCEEDED,
                      "copying %s@%s into the clone took over %d s", src, snap, COPY_TIMEOUT_S);
            return -1;
        }
        usleep(pause);
    }
}

int copy_snapshot_into(struct rpc_call *c, const struct vol_replica *from, const char *vol,
                       const char *snap, const struct vol_info *dst)
{
    const struct vol_replica *to = dst->n_rep ? &dst->rep[0] : NULL;
    if (!to || !to->view || !to->view->nbd[0]) {
        rpc_error(c, GRPC_STATUS_UNAVAILABLE, "no reachable primary for the new volume %s",
                  dst->name);
        return -1;
    }
    char uri[PATH_MAX + 128];
    nbd_uri_of(to->view->nbd, dst->name, uri, sizeof(uri));
    if (run_copy(c, from, vol, snap, uri) < 0)
        return -1;
    rpc_note(c, "copied %s@%s from %s into %s on %s", vol, snap, from->node, dst->name, to->node);
    return 0;
}

/* A fill_fn: snapshot, copy, delete the snapshot. */
static int clone_fill(struct rpc_call *c, struct csi_plugin *pl,
                      const Csi__V1__CreateVolumeRequest *req, struct vol_info *dst, void *ctx)
{
    (void)pl;
    (void)req;
    struct clone_ctx *x = ctx;
    char err[512];
    vol_lock(x->src.name);
    bool promoted;
    struct vol_replica *from = acquire_primary(c, &x->src, "clone", &promoted);
    if (!from) {
        vol_unlock(x->src.name);
        return -1;
    }
    /* a snapshot of this name is left by an attempt that died: its image is older than now */
    json_object_put(
        snap_op(from->view->node, "snapshot.delete", x->src.name, x->snap, NULL, err, sizeof(err)));
    struct json_object *r =
        snap_op(from->view->node, "snapshot.create", x->src.name, x->snap, NULL, err, sizeof(err));
    int rc = ctl_ok(r) ? 0 : -1;
    if (rc < 0)
        ctl_status(c, r, err, "snapshot.create for the clone");
    json_object_put(r);
    if (rc == 0) {
        rpc_note(c, "cut %s@%s on %s", x->src.name, x->snap, from->node);
        rc = copy_snapshot_into(c, from, x->src.name, x->snap, dst);
        r = snap_op(from->view->node, "snapshot.delete", x->src.name, x->snap, NULL, err,
                    sizeof(err));
        if (!ctl_ok(r))
            rpc_note(c, "deleting the clone's snapshot %s@%s failed: %s", x->src.name, x->snap,
                     r ? ctl_str(r, "error") : err);
        json_object_put(r);
    }
    release_primary(c, from, x->src.name, promoted);
    vol_unlock(x->src.name);
    return rc;
}

int create_from_volume(struct rpc_call *c, struct csi_plugin *pl, struct node_view *views,
                       const Csi__V1__CreateVolumeRequest *req, const char *name, long long size,
                       const struct create_params *p, struct vol_info *out)
{
    const char *sid = req->volume_content_source->volume->volume_id;
    if (!sid[0]) {
        rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                  "CreateVolume: volume_content_source.volume.volume_id is required");
        return -1;
    }
    struct clone_ctx x;
    vol_find(&pl->cluster, views, sid, &x.src);
    if (!x.src.found || restore_unfinished(pl, sid)) {
        rpc_error(c, GRPC_STATUS_NOT_FOUND, "no volume %s to clone", sid);
        return -1;
    }
    /* the spec: a clone is at least as large as its source */
    long long req_b = req->capacity_range ? req->capacity_range->required_bytes : 0;
    long long lim_b = req->capacity_range ? req->capacity_range->limit_bytes : 0;
    if ((req_b && req_b < x.src.size) || (lim_b && lim_b < x.src.size)) {
        rpc_error(c, GRPC_STATUS_OUT_OF_RANGE,
                  "CreateVolume: volume %s holds %lld bytes; a clone cannot be smaller "
                  "(capacity_range %lld..%lld)",
                  sid, x.src.size, req_b, lim_b);
        return -1;
    }
    if (!req_b)
        size = x.src.size; /* no size asked for: the source's */
    clone_snap_name(name, x.snap);
    return create_filled(c, pl, views, req, name, size, p, out, sid, clone_fill, &x);
}
