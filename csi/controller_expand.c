/* ControllerExpandVolume: grows a volume on every replica with tandemd's volume.expand, which
 * runs on the primary and carries the new size to the secondaries in the replication stream.
 *
 * Expansion is offline (PluginCapability OFFLINE): the CO grows a volume while it is not
 * published. An unpublished Tandem volume has no primary (unpublish demotes), so one present
 * replica is promoted for the expand and demoted again; a published one grows on its primary.
 * Growing to the current size or less answers the current size (retries are idempotent);
 * node_expansion_required is set for filesystems, whose growth NodeExpandVolume does after the
 * next stage. */
#include "controller.h"

#include "ctl_client.h"

#include <stdio.h>
#include <string.h>

#define MIB (1LL << 20)

static ProtobufCMessage *expanded(struct rpc_call *c, long long size, bool block)
{
    Csi__V1__ControllerExpandVolumeResponse *r =
        arena_new(&c->arena, Csi__V1__ControllerExpandVolumeResponse);
    csi__v1__controller_expand_volume_response__init(r);
    r->capacity_bytes = size;
    r->node_expansion_required = !block;
    return &r->base;
}

/* Runs a volume op on r's node; false with the call's status set. */
static bool op_on(struct rpc_call *c, struct vol_replica *r, const char *op, const char *name,
                  struct json_object *extra)
{
    char err[512];
    struct json_object *res = vol_op(r->view->node, op, name, extra, err, sizeof(err));
    bool ok = ctl_ok(res);
    if (!ok) {
        const char *m = ctl_str(res, "error");
        if (res && m && strstr(m, "unknown op"))
            rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION, "tandemd on %s has no %s", r->node, op);
        else {
            char what[256];
            snprintf(what, sizeof(what), "%s of %s on %s", op, name, r->node);
            ctl_status(c, res, err, what);
        }
    }
    json_object_put(res);
    return ok;
}

static ProtobufCMessage *expand_locked(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__ControllerExpandVolumeRequest *req =
        (const Csi__V1__ControllerExpandVolumeRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "ControllerExpandVolume: volume_id is required");
    if (!req->capacity_range)
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "ControllerExpandVolume: capacity_range is required");
    long long want = req->capacity_range->required_bytes, lim = req->capacity_range->limit_bytes;
    if (want < 0 || lim < 0 || (lim && want > lim))
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "ControllerExpandVolume: bad capacity_range (%lld..%lld)", want, lim);
    bool block = req->volume_capability && req->volume_capability->access_type_case ==
                                               CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK;
    struct node_view *views = cluster_probe(&pl->cluster, &c->arena);
    struct vol_info v;
    vol_find(&pl->cluster, views, req->volume_id, &v);
    if (!v.found)
        return rpc_error(c, GRPC_STATUS_NOT_FOUND, "no volume %s", req->volume_id);
    if (v.size >= want) {
        rpc_note(c, "already %lld bytes", v.size);
        return expanded(c, v.size, block);
    }
    long long size = (want + MIB - 1) / MIB * MIB;
    if (lim && size > lim)
        size = (want + 4095) / 4096 * 4096;
    if (lim && size > lim)
        return rpc_error(c, GRPC_STATUS_OUT_OF_RANGE,
                         "no multiple of 4096 bytes lies between %lld and %lld", want, lim);
    /* every replica must have the room: they are full copies */
    for (unsigned i = 0; i < v.n_rep; i++)
        if (v.rep[i].present && v.rep[i].view->free_bytes < size - v.size)
            return rpc_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                             "node %s has %lld bytes free; growing %s by %lld needs more",
                             v.rep[i].node, v.rep[i].view->free_bytes, v.name, size - v.size);
    bool promoted;
    struct vol_replica *on = acquire_primary(c, &v, "expand", &promoted);
    if (!on)
        return NULL;
    struct json_object *x = json_object_new_object();
    json_object_object_add(x, "size", json_object_new_int64(size));
    bool ok = op_on(c, on, "volume.expand", v.name, x);
    json_object_put(x);
    release_primary(c, on, v.name, promoted);
    if (!ok)
        return NULL;
    rpc_note(c, "grown %lld -> %lld on %s", v.size, size, on->node);
    return expanded(c, size, block);
}

ProtobufCMessage *controller_expand(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const char *vol = ((const Csi__V1__ControllerExpandVolumeRequest *)msg)->volume_id;
    vol_lock(vol);
    ProtobufCMessage *r = expand_locked(c, msg, ctx);
    vol_unlock(vol);
    return r;
}
