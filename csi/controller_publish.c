/* ControllerPublishVolume / ControllerUnpublishVolume.
 *
 * Publishing a Tandem volume to a node means making that node's replica the primary, because
 * only the primary serves the NBD export the node plugin attaches to. The volume's own state
 * is the record: a volume is published to node N exactly when N's replica is primary. So:
 *   publish(N):   N already primary -> OK (idempotent). Another primary P with clients attached
 *                 -> FAILED_PRECONDITION (still in use there). Else demote P, promote N.
 *   unpublish(N): N primary with no clients -> demote it; N not primary -> OK.
 * A node without a replica is refused, unless the StorageClass allowed remote access, in which
 * case the node attaches to the primary's export over the network (publish_context names it).
 * The witness's node counts as one without a replica: a witness has no data, is never
 * promoted and never serves the export. */
#include "controller.h"

#include "ctl_client.h"
#include "state_record.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ROLE_RETRIES 100 /* x 100 ms */

static ProtobufCMessage *publish_response(struct rpc_call *c, const char *primary, const char *nbd)
{
    Csi__V1__ControllerPublishVolumeResponse *r =
        arena_new(&c->arena, Csi__V1__ControllerPublishVolumeResponse);
    csi__v1__controller_publish_volume_response__init(r);
    const char *kv[] = {CTX_PRIMARY, primary, CTX_NBD, nbd};
    r->publish_context =
        (Csi__V1__ControllerPublishVolumeResponse__PublishContextEntry **)pb_map_build(
            &c->arena,
            &csi__v1__controller_publish_volume_response__publish_context_entry__descriptor, kv, 2,
            &r->n_publish_context);
    return &r->base;
}

static struct vol_replica *replica_on(struct vol_info *v, const char *node)
{
    for (unsigned i = 0; i < v->n_rep; i++)
        if (strcmp(v->rep[i].node, node) == 0)
            return &v->rep[i];
    return NULL;
}

/* Whether a refused promote may pass on its own soon. Right after the old primary's demote
 * (or its loss) the target, or the voters it asks (repl/vote.c), may not have noticed yet:
 * "... demote it first", "X refuses: it is connected to the primary P", "X refuses: it
 * promised its vote to Y" (an earlier candidate's promise lasts two peer timeouts). A vote
 * that also carries a lasting refusal (the target is behind, not a member) is final. */
static bool promote_refusal_transient(const char *msg)
{
    if (strstr(msg, "demote it first"))
        return true;
    if (!strstr(msg, "votes; a majority needs") || strstr(msg, " is behind (") ||
        strstr(msg, "is not a member of"))
        return false;
    return strstr(msg, "refuses: it is connected to the primary") ||
           strstr(msg, "refuses: it promised its vote to");
}

/* Runs volume.promote / volume.demote on the replica's node; false with the call's status set
 * on failure. Transient refusals of a promote (promote_refusal_transient) are retried for a
 * bounded time. */
static bool role_op_ex(struct rpc_call *c, struct vol_replica *r, const char *op, const char *name,
                       bool force)
{
    for (int attempt = 0;; attempt++) {
        char err[512];
        struct json_object *x = json_object_new_object();
        if (force)
            json_object_object_add(x, "force", json_object_new_boolean(true));
        struct json_object *res = vol_op(r->view->node, op, name, x, err, sizeof(err));
        json_object_put(x);
        if (ctl_ok(res)) {
            json_object_put(res);
            return true;
        }
        const char *msg = ctl_str(res, "error");
        bool transient = res && strcmp(ctl_code(res), "failed_precondition") == 0 && msg &&
                         promote_refusal_transient(msg) && attempt < ROLE_RETRIES;
        if (!transient) {
            char what[256];
            snprintf(what, sizeof(what), "%s of %s on %s", op, name, r->node);
            ctl_status(c, res, err, what);
            json_object_put(res);
            return false;
        }
        json_object_put(res);
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
}

static bool role_op(struct rpc_call *c, struct vol_replica *r, const char *op, const char *name)
{
    return role_op_ex(c, r, op, name, false);
}

/* The node the daemon's refusal "... the primary NODE is unreachable ..." names, or "". */
static void unreachable_primary(const char *msg, char *node, size_t len)
{
    const char *p = strstr(msg, "the primary ");
    const char *e = p ? strstr(p, " is unreachable") : NULL;
    node[0] = '\0';
    if (p && e && e > p + 12)
        snprintf(node, len, "%.*s", (int)(e - p - 12), p + 12);
}

/* Promotes mine. When the old primary is dead - unreachable from the target's replication
 * links and from this controller alike, as after the loss of its zone - the daemon asks for
 * --force: given, because the daemon still requires a majority of the replicas connected to
 * the target, and the old primary, cut off from that majority, can no longer write. An old
 * primary that either of them still reaches is never forced out. */
static bool promote(struct rpc_call *c, struct vol_info *v, struct vol_replica *mine)
{
    if (role_op(c, mine, "volume.promote", v->name))
        return true;
    char old[NODE_ID_MAX];
    unreachable_primary(c->message, old, sizeof(old));
    if (!old[0])
        return false;
    for (unsigned i = 0; i < v->n_rep; i++)
        if (strcmp(v->rep[i].node, old) == 0 && v->rep[i].present)
            return false; /* we reach it: not dead, only cut off from the target */
    rpc_note(c, "old primary %s unreachable from %s and from the controller: forced", old,
             mine->node);
    c->code = GRPC_STATUS_OK;
    c->message[0] = '\0';
    return role_op_ex(c, mine, "volume.promote", v->name, true);
}

/* Demotes r unless NBD clients are attached there (then FAILED_PRECONDITION, with what to do
 * first). false with the call's status set. */
static bool demote_idle(struct rpc_call *c, const char *vol, struct vol_replica *r,
                        const char *first)
{
    if (r->clients > 0) {
        rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION,
                  "volume %s is published on node %s (%lld clients attached); %s", vol, r->node,
                  r->clients, first);
        return false;
    }
    if (!role_op(c, r, "volume.demote", vol))
        return false;
    rpc_note(c, "demoted %s", r->node);
    return true;
}

struct vol_replica *acquire_primary(struct rpc_call *c, struct vol_info *v, const char *why,
                                    bool *promoted)
{
    *promoted = false;
    struct vol_replica *any = NULL;
    for (unsigned i = 0; i < v->n_rep; i++) {
        if (!v->rep[i].present)
            continue;
        if (!v->replicated || strcmp(v->rep[i].role, "primary") == 0)
            return &v->rep[i];
        if (!any)
            any = &v->rep[i];
    }
    if (!any) {
        rpc_error(c, GRPC_STATUS_UNAVAILABLE, "no replica of %s answers", v->name);
        return NULL;
    }
    if (!role_op(c, any, "volume.promote", v->name))
        return NULL;
    *promoted = true;
    rpc_note(c, "promoted %s for the %s", any->node, why);
    return any;
}

void release_primary(struct rpc_call *c, struct vol_replica *r, const char *name, bool promoted)
{
    if (!promoted)
        return;
    struct rpc_call scratch = {0};
    if (!role_op(&scratch, r, "volume.demote", name))
        rpc_note(c, "demote of %s after the op failed: %s", r->node, scratch.message);
}

static ProtobufCMessage *publish_locked(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__ControllerPublishVolumeRequest *req =
        (const Csi__V1__ControllerPublishVolumeRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    char why[512];
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "ControllerPublishVolume: volume_id is required");
    if (!req->node_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "ControllerPublishVolume: node_id is required");
    if (!req->volume_capability)
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "ControllerPublishVolume: volume_capability is required");
    Csi__V1__VolumeCapability *const caps[] = {req->volume_capability};
    int rc = pb_check_capabilities(caps, 1, why, sizeof(why));
    if (rc != 0)
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "ControllerPublishVolume: %s", why);
    const struct cluster_node *target = cluster_find(&pl->cluster, req->node_id);
    struct node_view *views = cluster_probe(&pl->cluster, &c->arena);
    struct vol_info v;
    vol_find(&pl->cluster, views, req->volume_id, &v);
    if (!v.found)
        return rpc_error(c, GRPC_STATUS_NOT_FOUND, "no volume %s", req->volume_id);
    if (!target)
        return rpc_error(c, GRPC_STATUS_NOT_FOUND, "no node %s in the nodes file", req->node_id);
    struct vol_replica *mine = replica_on(&v, req->node_id);
    const char *remote = pb_map_get(req->volume_context, req->n_volume_context, CTX_REMOTE);
    if (!mine) {
        bool witness = v.has_witness && strcmp(v.witness.node, req->node_id) == 0;
        if ((!remote || strcmp(remote, "true") != 0) && witness)
            return rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION,
                             "volume %s has no data replica on node %s: it holds the volume's "
                             "witness, which votes but has no data and never serves the export; "
                             "set allowRemoteVolumeAccess=true in the StorageClass to attach it "
                             "over the network",
                             v.name, req->node_id);
        if (!remote || strcmp(remote, "true") != 0)
            return rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION,
                             "volume %s has no replica on node %s (its replicas: %s%s%s%s%s); "
                             "set allowRemoteVolumeAccess=true in the StorageClass to attach it "
                             "over the network",
                             v.name, req->node_id, v.rep[0].node, v.n_rep > 1 ? "," : "",
                             v.n_rep > 1 ? v.rep[1].node : "", v.n_rep > 2 ? "," : "",
                             v.n_rep > 2 ? v.rep[2].node : "");
        /* remote: attach to whichever replica is primary */
        for (unsigned i = 0; i < v.n_rep; i++)
            if (v.rep[i].present && (!v.replicated || strcmp(v.rep[i].role, "primary") == 0))
                return publish_response(c, v.rep[i].node, v.rep[i].view->nbd);
        return rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION,
                         "volume %s has no reachable primary to attach to remotely", v.name);
    }
    if (!mine->present)
        return rpc_error(c, GRPC_STATUS_UNAVAILABLE, "node %s (replica of %s) is unreachable: %s",
                         req->node_id, v.name, mine->view ? mine->view->error : "not listed");
    if (!v.replicated)
        return publish_response(c, mine->node, mine->view->nbd);
    if (strcmp(mine->role, "primary") == 0) {
        rpc_note(c, "%s already primary on %s", v.name, mine->node);
        return publish_response(c, mine->node, mine->view->nbd);
    }
    for (unsigned i = 0; i < v.n_rep; i++) {
        struct vol_replica *r = &v.rep[i];
        if (r == mine || !r->present || strcmp(r->role, "primary") != 0)
            continue;
        if (!demote_idle(c, v.name, r, "unpublish it there first"))
            return NULL;
    }
    if (!promote(c, &v, mine))
        return NULL;
    rpc_note(c, "promoted %s", mine->node);
    return publish_response(c, mine->node, mine->view->nbd);
}

static ProtobufCMessage *unpublish_locked(struct rpc_call *c, const ProtobufCMessage *msg,
                                          void *ctx)
{
    const Csi__V1__ControllerUnpublishVolumeRequest *req =
        (const Csi__V1__ControllerUnpublishVolumeRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "ControllerUnpublishVolume: volume_id is required");
    if (!req->node_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "ControllerUnpublishVolume: node_id is required");
    Csi__V1__ControllerUnpublishVolumeResponse *resp =
        arena_new(&c->arena, Csi__V1__ControllerUnpublishVolumeResponse);
    csi__v1__controller_unpublish_volume_response__init(resp);
    struct node_view *views = cluster_probe(&pl->cluster, &c->arena);
    struct vol_info v;
    vol_find(&pl->cluster, views, req->volume_id, &v);
    /* the spec: a volume or node that is gone counts as unpublished */
    struct vol_replica *mine = v.found ? replica_on(&v, req->node_id) : NULL;
    if (!mine || !v.replicated || !mine->present || strcmp(mine->role, "primary") != 0)
        return &resp->base;
    if (!demote_idle(c, v.name, mine, "NodeUnstageVolume there first"))
        return NULL;
    return &resp->base;
}

/* What a publish was asked for, kept in STATE_DIR/published-VOLUME@NODE: the spec wants a
 * second publish of a volume to the same node with another capability or readonly flag to be
 * ALREADY_EXISTS, and neither the roles nor the daemons remember those. A cache for that check
 * only, not the truth: lost (a new controller pod), the next publish is simply accepted.
 * Kept with state_record.h. */
static bool publish_record_name(const struct csi_plugin *pl, const char *vol, const char *node,
                                char *out, size_t len)
{
    return state_record_name(pl, out, len, "published", vol, node);
}

static void publish_attrs(const Csi__V1__ControllerPublishVolumeRequest *req, char *out, size_t len)
{
    const Csi__V1__VolumeCapability *cap = req->volume_capability;
    snprintf(out, len, "readonly=%d mode=%d block=%d", req->readonly ? 1 : 0,
             cap && cap->access_mode ? (int)cap->access_mode->mode : -1,
             cap && cap->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK);
}

void publish_records_drop(const struct csi_plugin *pl, const char *vol)
{
    char prefix[STATE_RECORD_NAME_MAX];
    if (state_record_name(pl, prefix, sizeof(prefix) - 1, "published", vol, NULL)) /* room for @ */
        state_record_drop_prefix(pl, strcat(prefix, "@"));
}

ProtobufCMessage *controller_publish(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__ControllerPublishVolumeRequest *req =
        (const Csi__V1__ControllerPublishVolumeRequest *)msg;
    const struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    const char *vol = req->volume_id;
    char name[STATE_RECORD_NAME_MAX], want[96], had[96] = "";
    bool rec = publish_record_name(pl, vol, req->node_id, name, sizeof(name));
    publish_attrs(req, want, sizeof(want));
    vol_lock(vol);
    if (rec && !state_record_read(pl, name, had, sizeof(had)))
        had[0] = '\0';
    ProtobufCMessage *r;
    if (had[0] && strcmp(had, want) != 0) {
        r = rpc_error(c, GRPC_STATUS_ALREADY_EXISTS,
                      "volume %s is published to node %s with %s, not %s; unpublish it first", vol,
                      req->node_id, had, want);
    } else {
        r = publish_locked(c, msg, ctx);
        if (r && rec && !had[0] && state_record_write(pl, name, want) < 0)
            log_warn("csi",
                     "cannot record the publish of %s to %s in %s: %s (a conflicting "
                     "re-publish will not be caught)",
                     vol, req->node_id, pl->state_dir, strerror(errno));
    }
    vol_unlock(vol);
    return r;
}

ProtobufCMessage *controller_unpublish(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__ControllerUnpublishVolumeRequest *req =
        (const Csi__V1__ControllerUnpublishVolumeRequest *)msg;
    const char *vol = req->volume_id;
    const struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    char name[STATE_RECORD_NAME_MAX];
    vol_lock(vol);
    ProtobufCMessage *r = unpublish_locked(c, msg, ctx);
    if (r && publish_record_name(pl, vol, req->node_id, name, sizeof(name)))
        state_record_drop(pl, name);
    vol_unlock(vol);
    return r;
}
