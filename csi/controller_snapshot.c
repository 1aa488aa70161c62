/* Snapshots: CreateSnapshot / DeleteSnapshot / ListSnapshots, and CreateVolume from a snapshot.
 *
 * Daemon side (proto/control-api.md): snapshot.create {volume, name} cuts a snapshot on every
 * replica at the same write; snapshot.ship {volume, name, to, endpoint, region, access_key,
 * secret_key, session_token} ships it to a backup store in the background; snapshot.list
 * {volume} reports each snapshot with its ship job / last ship; snapshot.delete removes it.
 *
 * Snapshot ids carry what a restore needs, so none of it is stored elsewhere:
 *     VOLUME@SNAPSHOT            a snapshot kept by the replicas only
 *     VOLUME@SNAPSHOT@URL        ... and shipped to URL (s3://BUCKET/PREFIX or file:///DIR)
 * An operator in the DR region writes such an id into a pre-provisioned VolumeSnapshotContent.
 *
 * ready_to_use: a local snapshot is ready when cut; a shipped one when its ship has finished
 * (the external-snapshotter calls CreateSnapshot again until it is). A ship that failed is
 * restarted by the next CreateSnapshot call.
 *
 * Cuts and deletes run on the primary; an unpublished volume (no primary: unpublish demotes)
 * gets one promoted for the op and demoted again, under the volume's controller lock.
 *
 * CreateVolume from a snapshot creates a fresh volume as CreateVolume does, then restores the
 * shipped image into it: tandem-restore writes the image into a scratch file (holes stay
 * holes), nbdcopy copies it into the new primary's export. A marker file in the state dir
 * marks a restore in progress, so a retry after a crash starts over instead of returning a
 * half-filled volume. Only shipped snapshots can be restored (the design: restores
 * come from the bucket). */
#include "controller.h"

#include "ctl_client.h"
#include "proc.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SNAP_ID_MAX 1024

struct snap_id {
    char volume[VOL_NAME_MAX + 1];
    char snap[VOL_NAME_MAX + 1];
    char url[SNAP_ID_MAX];
};

static int snap_id_parse(const char *id, struct snap_id *out)
{
    memset(out, 0, sizeof(*out));
    const char *at = strchr(id, '@');
    if (!at || (size_t)(at - id) > VOL_NAME_MAX)
        return -1;
    snprintf(out->volume, sizeof(out->volume), "%.*s", (int)(at - id), id);
    const char *at2 = strchr(at + 1, '@');
    size_t sl = at2 ? (size_t)(at2 - at - 1) : strlen(at + 1);
    if (sl > VOL_NAME_MAX)
        return -1;
    snprintf(out->snap, sizeof(out->snap), "%.*s", (int)sl, at + 1);
    if (at2)
        snprintf(out->url, sizeof(out->url), "%s", at2 + 1);
    return vol_name_valid(out->volume) && vol_name_valid(out->snap) ? 0 : -1;
}

static char *snap_id_format(struct arena *a, const char *vol, const char *snap, const char *url)
{
    return url && url[0] ? arena_printf(a, "%s@%s@%s", vol, snap, url)
                         : arena_printf(a, "%s@%s", vol, snap);
}

/* Snapshot class parameters. */
struct snap_params {
    const char *target, *endpoint, *region;
    bool full;
};

static int parse_snap_params(struct rpc_call *c, const Csi__V1__CreateSnapshotRequest *req,
                             struct snap_params *p)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < req->n_parameters; i++) {
        const char *k = req->parameters[i]->key, *v = req->parameters[i]->value;
        if (strcmp(k, "target") == 0) {
            if (v[0] && strncmp(v, "s3://", 5) != 0 && strncmp(v, "file:///", 8) != 0) {
                rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                          "parameter target=%s: want s3://BUCKET/PREFIX or file:///DIR", v);
                return -1;
            }
            p->target = v[0] ? v : NULL;
        } else if (strcmp(k, "endpoint") == 0) {
            p->endpoint = v;
        } else if (strcmp(k, "region") == 0) {
            p->region = v;
        } else if (strcmp(k, "full") == 0) {
            p->full = strcmp(v, "true") == 0;
        } else if (strncmp(k, "csi.storage.k8s.io/", 19) != 0) {
            rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                      "unknown snapshot parameter %s (known: target, endpoint, region, full)", k);
            return -1;
        }
    }
    return 0;
}

/* Finds snapshot `name` in a snapshot.list reply's array; NULL if absent. */
static struct json_object *find_snap(struct json_object *list_reply, const char *name)
{
    struct json_object *arr;
    if (!ctl_ok(list_reply) || !json_object_object_get_ex(list_reply, "snapshots", &arr))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *s = json_object_array_get_idx(arr, i);
        const char *n = ctl_str(s, "name");
        if (n && strcmp(n, name) == 0)
            return s;
    }
    return NULL;
}

/* Ship state of a snapshot toward url: "done", "running", "failed" or "" (never shipped). */
static const char *ship_state(struct json_object *snap, const char *url, char *why, size_t len)
{
    struct json_object *j;
    why[0] = '\0';
    if (json_object_object_get_ex(snap, "job", &j) && ctl_str(j, "to") &&
        strcmp(ctl_str(j, "to"), url) == 0 && ctl_str(j, "state")) {
        if (ctl_str(j, "error"))
            snprintf(why, len, "%s", ctl_str(j, "error"));
        return ctl_str(j, "state");
    }
    if (json_object_object_get_ex(snap, "last_ship", &j) && ctl_str(j, "to") &&
        strcmp(ctl_str(j, "to"), url) == 0 && ctl_str(j, "state")) {
        if (ctl_str(j, "error"))
            snprintf(why, len, "%s", ctl_str(j, "error"));
        return ctl_str(j, "state");
    }
    return "";
}

struct json_object *snap_op(const struct cluster_node *n, const char *op, const char *vol,
                            const char *snap, struct json_object *extra, char *err, size_t errlen)
{
    struct json_object *req = extra ? json_object_get(extra) : json_object_new_object();
    json_object_object_add(req, "op", json_object_new_string(op));
    json_object_object_add(req, "volume", json_object_new_string(vol));
    if (snap)
        json_object_object_add(req, "name", json_object_new_string(snap));
    struct json_object *r = ctl_call(n->control, req, CTL_CALL_TIMEOUT_MS, err, errlen);
    json_object_put(req);
    return r;
}

/* The ship state of vol@snap as all its replicas see it: a ship job and its record live on the
 * node that ran it, which need not be today's primary (a publish moves it). Returns true when
 * a replica reports a finished ship to url (url NULL: to any target); *target (may be NULL) gets
 * the target a replica shipped or is shipping it to, in the arena. */
static bool shipped_anywhere(struct arena *a, const struct cluster *cl, struct node_view *views,
                             const char *vol, const char *snap, const char *url,
                             const char **target)
{
    bool done = false;
    if (target)
        *target = NULL;
    for (size_t i = 0; i < cl->n && !done; i++) {
        if (!views[i].up)
            continue;
        char err[256];
        struct json_object *sl =
            snap_op(views[i].node, "snapshot.list", vol, NULL, NULL, err, sizeof(err));
        struct json_object *so = find_snap(sl, snap);
        static const char *const keys[] = {"job", "last_ship"};
        for (int k = 0; so && k < 2 && !done; k++) {
            struct json_object *j;
            if (!json_object_object_get_ex(so, keys[k], &j) || !ctl_str(j, "to"))
                continue;
            const char *to = ctl_str(j, "to");
            if (url && strcmp(to, url) != 0)
                continue;
            if (target && !*target)
                *target = arena_strdup(a, to);
            if (ctl_str(j, "state") && strcmp(ctl_str(j, "state"), "done") == 0) {
                done = true;
                if (target)
                    *target = arena_strdup(a, to);
            }
        }
        json_object_put(sl);
    }
    return done;
}

static Csi__V1__Snapshot *snapshot_message(struct arena *a, const char *vol, struct json_object *s,
                                           const char *url, bool ready)
{
    Csi__V1__Snapshot *m = arena_new(a, Csi__V1__Snapshot);
    csi__v1__snapshot__init(m);
    m->snapshot_id = snap_id_format(a, vol, ctl_str(s, "name"), url);
    m->source_volume_id = arena_strdup(a, vol);
    m->size_bytes = ctl_int(s, "size");
    m->creation_time = arena_new(a, Google__Protobuf__Timestamp);
    google__protobuf__timestamp__init(m->creation_time);
    long long created = ctl_int(s, "created");
    /* seconds or nanoseconds since the epoch, whichever the daemon reports */
    if (created > 100000000000LL) {
        m->creation_time->seconds = created / 1000000000LL;
        m->creation_time->nanos = (int32_t)(created % 1000000000LL);
    } else {
        m->creation_time->seconds = created;
    }
    m->ready_to_use = ready;
    return m;
}

/* The replica to run snapshot ops on: the primary if one answers, else any present one. */
static struct vol_replica *snap_node(struct vol_info *v)
{
    struct vol_replica *any = NULL;
    for (unsigned i = 0; i < v->n_rep; i++) {
        if (!v->rep[i].present)
            continue;
        if (!v->replicated || strcmp(v->rep[i].role, "primary") == 0)
            return &v->rep[i];
        if (!any)
            any = &v->rep[i];
    }
    return any;
}

static bool daemon_lacks_snapshots(struct json_object *r)
{
    const char *e = ctl_str(r, "error");
    return r && strcmp(ctl_code(r), "invalid") == 0 && e && strstr(e, "unknown op");
}

/* Starts (or finds running) the ship of vol@snap; false with the call's status set. */
static bool start_ship(struct rpc_call *c, struct vol_replica *r, const char *vol, const char *snap,
                       const struct snap_params *p, const Csi__V1__CreateSnapshotRequest *req)
{
    struct json_object *x = json_object_new_object();
    json_object_object_add(x, "to", json_object_new_string(p->target));
    if (p->endpoint && p->endpoint[0])
        json_object_object_add(x, "endpoint", json_object_new_string(p->endpoint));
    if (p->region && p->region[0])
        json_object_object_add(x, "region", json_object_new_string(p->region));
    if (p->full)
        json_object_object_add(x, "full", json_object_new_boolean(true));
    /* the snapshotter secret: same key names as the LINSTOR S3 secret users know */
    static const char *const keys[][2] = {{"access-key", "access_key"},
                                          {"secret-key", "secret_key"},
                                          {"session-token", "session_token"}};
    for (size_t i = 0; i < 3; i++) {
        const char *v = pb_map_get(req->secrets, req->n_secrets, keys[i][0]);
        if (v && v[0])
            json_object_object_add(x, keys[i][1], json_object_new_string(v));
    }
    char err[512];
    struct json_object *res =
        snap_op(r->view->node, "snapshot.ship", vol, snap, x, err, sizeof(err));
    json_object_put(x);
    bool ok = ctl_ok(res) || (res && strcmp(ctl_code(res), "busy") == 0);
    if (!ok)
        ctl_status(c, res, err, "snapshot.ship");
    json_object_put(res);
    return ok;
}

ProtobufCMessage *create_snapshot(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__CreateSnapshotRequest *req = (const Csi__V1__CreateSnapshotRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    if (!req->source_volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "CreateSnapshot: source_volume_id is required");
    if (!req->name[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "CreateSnapshot: name is required");
    struct snap_params p;
    if (parse_snap_params(c, req, &p) < 0)
        return NULL;
    char snap[VOL_NAME_MAX + 1];
    snap_name_for(req->name, snap); /* never a clone's temporary name */
    struct node_view *views = cluster_probe(&pl->cluster, &c->arena);
    struct vol_info v;
    vol_find(&pl->cluster, views, req->source_volume_id, &v);
    if (!v.found)
        return rpc_error(c, GRPC_STATUS_NOT_FOUND, "no volume %s", req->source_volume_id);
    struct vol_replica *r = snap_node(&v);
    if (!r)
        return rpc_error(c, GRPC_STATUS_UNAVAILABLE, "no replica of %s answers", v.name);

    /* names are unique across volumes: the same name on another volume is a conflict */
    char err[512];
    struct json_object *lr = NULL;
    for (size_t i = 0; i < pl->cluster.n; i++) {
        if (!views[i].up)
            continue;
        struct json_object *vl = vol_op(views[i].node, "volume.list", NULL, NULL, err, sizeof(err));
        struct json_object *arr;
        if (ctl_ok(vl) && json_object_object_get_ex(vl, "volumes", &arr))
            for (size_t k = 0; k < json_object_array_length(arr); k++) {
                const char *other = ctl_str(json_object_array_get_idx(arr, k), "name");
                if (!other || strcmp(other, v.name) == 0)
                    continue;
                struct json_object *sl =
                    snap_op(views[i].node, "snapshot.list", other, NULL, NULL, err, sizeof(err));
                bool clash = find_snap(sl, snap) != NULL;
                json_object_put(sl);
                if (clash) {
                    /* `other` lives in vl: format the error before letting go of it */
                    ProtobufCMessage *rc =
                        rpc_error(c, GRPC_STATUS_ALREADY_EXISTS,
                                  "snapshot name %s is taken by volume %s", snap, other);
                    json_object_put(vl);
                    return rc;
                }
            }
        json_object_put(vl);
    }
    lr = snap_op(r->view->node, "snapshot.list", v.name, NULL, NULL, err, sizeof(err));
    if (daemon_lacks_snapshots(lr)) {
        json_object_put(lr);
        return rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION,
                         "tandemd on %s has no snapshot support (snapshot.list unknown)", r->node);
    }
    struct json_object *s = find_snap(lr, snap);
    if (!s) {
        json_object_put(lr);
        /* snapshots are cut on the primary (one barrier in the write stream); an unpublished
         * volume gets one for the cut */
        vol_lock(v.name);
        bool promoted;
        struct vol_replica *pr = acquire_primary(c, &v, "snapshot", &promoted);
        if (!pr) {
            vol_unlock(v.name);
            return NULL;
        }
        struct json_object *cr =
            snap_op(pr->view->node, "snapshot.create", v.name, snap, NULL, err, sizeof(err));
        release_primary(c, pr, v.name, promoted);
        vol_unlock(v.name);
        if (!ctl_ok(cr) && !(cr && strcmp(ctl_code(cr), "exists") == 0)) {
            ProtobufCMessage *e = ctl_status(c, cr, err, "snapshot.create");
            json_object_put(cr);
            return e;
        }
        json_object_put(cr);
        rpc_note(c, "cut %s on %s", snap, r->node);
        lr = snap_op(r->view->node, "snapshot.list", v.name, NULL, NULL, err, sizeof(err));
        s = find_snap(lr, snap);
        if (!s) {
            json_object_put(lr);
            return rpc_error(c, GRPC_STATUS_INTERNAL, "snapshot %s vanished after create", snap);
        }
    }
    bool ready = true;
    if (p.target) {
        char why[512];
        const char *state = ship_state(s, p.target, why, sizeof(why));
        ready = strcmp(state, "done") == 0 ||
                shipped_anywhere(&c->arena, &pl->cluster, views, v.name, snap, p.target, NULL);
        if (!ready && strcmp(state, "running") != 0 && strcmp(state, "queued") != 0) {
            if (strcmp(state, "failed") == 0)
                log_warn("snap", "ship of %s@%s to %s failed (%s); retrying", v.name, snap,
                         p.target, why);
            if (!start_ship(c, r, v.name, snap, &p, req)) {
                json_object_put(lr);
                return NULL;
            }
            rpc_note(c, "shipping to %s", p.target);
        }
    }
    Csi__V1__CreateSnapshotResponse *resp = arena_new(&c->arena, Csi__V1__CreateSnapshotResponse);
    csi__v1__create_snapshot_response__init(resp);
    resp->snapshot = snapshot_message(&c->arena, v.name, s, p.target, ready);
    json_object_put(lr);
    return &resp->base;
}

/* The primary's snapshot.delete removes the other replicas' copies in the background (the
 * notice is not acknowledged, repl/rsnap.c), so a ListSnapshots right after DeleteSnapshot could
 * still find the snapshot on a secondary. DeleteSnapshot answers only once no data replica but
 * the primary lists it, polling for at most SNAP_DELETE_WAIT_MS; past that it fails UNAVAILABLE
 * so that the CO retries the (idempotent) delete. */
#define SNAP_DELETE_WAIT_MS 15000

static bool replicas_dropped(const struct vol_info *v, const struct vol_replica *primary,
                             const struct snap_id *id)
{
    for (unsigned i = 0; i < v->n_rep; i++) {
        const struct vol_replica *r = &v->rep[i];
        if (r == primary || !r->view || !r->view->up || !r->present)
            continue;
        char err[256];
        struct json_object *res =
            snap_op(r->view->node, "snapshot.list", id->volume, NULL, NULL, err, sizeof(err));
        bool listed = find_snap(res, id->snap) != NULL;
        json_object_put(res);
        if (listed)
            return false;
    }
    return true;
}

static bool wait_replicas_dropped(const struct vol_info *v, const struct vol_replica *primary,
                                  const struct snap_id *id)
{
    for (int waited = 0;; waited += 50) {
        if (replicas_dropped(v, primary, id))
            return true;
        if (waited >= SNAP_DELETE_WAIT_MS)
            return false;
        usleep(50 * 1000);
    }
}

ProtobufCMessage *delete_snapshot(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__DeleteSnapshotRequest *req = (const Csi__V1__DeleteSnapshotRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    if (!req->snapshot_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "DeleteSnapshot: snapshot_id is required");
    Csi__V1__DeleteSnapshotResponse *resp = arena_new(&c->arena, Csi__V1__DeleteSnapshotResponse);
    csi__v1__delete_snapshot_response__init(resp);
    struct snap_id id;
    if (snap_id_parse(req->snapshot_id, &id) < 0) {
        rpc_note(c, "not a Tandem snapshot id: nothing to delete");
        return &resp->base;
    }
    struct node_view *views = cluster_probe(&pl->cluster, &c->arena);
    struct vol_info v;
    vol_find(&pl->cluster, views, id.volume, &v);
    struct vol_replica *r = v.found ? snap_node(&v) : NULL;
    if (!r) {
        /* the source volume is gone (or was never here: a DR snapshot); shipped copies are
         * left to the store's retention (csi/README.md) */
        rpc_note(c, "source volume %s not here", id.volume);
        return &resp->base;
    }
    /* deleting on the primary deletes every replica's copy */
    char err[512];
    vol_lock(v.name);
    bool promoted;
    struct vol_replica *pr = acquire_primary(c, &v, "snapshot delete", &promoted);
    if (!pr) {
        vol_unlock(v.name);
        return NULL;
    }
    struct json_object *res =
        snap_op(pr->view->node, "snapshot.delete", id.volume, id.snap, NULL, err, sizeof(err));
    bool deleted = ctl_ok(res) || (res && strcmp(ctl_code(res), "not_found") == 0);
    bool dropped = deleted && wait_replicas_dropped(&v, pr, &id);
    release_primary(c, pr, v.name, promoted);
    vol_unlock(v.name);
    if (!deleted) {
        ProtobufCMessage *e = ctl_status(c, res, err, "snapshot.delete");
        json_object_put(res);
        return e;
    }
    json_object_put(res);
    if (!dropped)
        return rpc_error(c, GRPC_STATUS_UNAVAILABLE,
                         "DeleteSnapshot: %s@%s is deleted on the primary but a replica still "
                         "lists it after %d s; retry",
                         id.volume, id.snap, SNAP_DELETE_WAIT_MS / 1000);
    return &resp->base;
}

ProtobufCMessage *list_snapshots(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__ListSnapshotsRequest *req = (const Csi__V1__ListSnapshotsRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    struct arena *a = &c->arena;
    if (req->max_entries < 0)
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "ListSnapshots: max_entries < 0");
    size_t start = 0;
    if (req->starting_token[0]) {
        char *end;
        start = strtoul(req->starting_token, &end, 10);
        if (*end)
            return rpc_error(c, GRPC_STATUS_ABORTED, "ListSnapshots: bad starting_token %s",
                             req->starting_token);
    }
    Csi__V1__ListSnapshotsResponse *resp = arena_new(a, Csi__V1__ListSnapshotsResponse);
    csi__v1__list_snapshots_response__init(resp);
    struct snap_id want;
    bool by_id = req->snapshot_id[0] != '\0';
    if (by_id && snap_id_parse(req->snapshot_id, &want) < 0)
        return &resp->base; /* no such snapshot: an empty list, per the spec */
    const char *only_vol = by_id                      ? want.volume
                           : req->source_volume_id[0] ? req->source_volume_id
                                                      : NULL;
    struct node_view *views = cluster_probe(&pl->cluster, a);
    /* volume names, each once, sorted by the order nodes list them */
    size_t cap = 256, n = 0;
    Csi__V1__Snapshot **all = arena_alloc(a, cap * sizeof(*all));
    const char *seen[1024];
    size_t n_seen = 0;
    char err[512];
    for (size_t i = 0; i < pl->cluster.n; i++) {
        if (!views[i].up)
            continue;
        struct json_object *vl = vol_op(views[i].node, "volume.list", NULL, NULL, err, sizeof(err));
        struct json_object *arr;
        if (!ctl_ok(vl) || !json_object_object_get_ex(vl, "volumes", &arr)) {
            json_object_put(vl);
            continue;
        }
        for (size_t k = 0; k < json_object_array_length(arr); k++) {
            const char *vn = ctl_str(json_object_array_get_idx(arr, k), "name");
            bool dup = false;
            for (size_t j = 0; vn && j < n_seen && !dup; j++)
                dup = strcmp(seen[j], vn) == 0;
            if (!vn || dup || (only_vol && strcmp(vn, only_vol) != 0) || n_seen == 1024)
                continue;
            seen[n_seen++] = arena_strdup(a, vn);
            struct json_object *sl =
                snap_op(views[i].node, "snapshot.list", vn, NULL, NULL, err, sizeof(err));
            struct json_object *sarr;
            if (ctl_ok(sl) && json_object_object_get_ex(sl, "snapshots", &sarr))
                for (size_t s = 0; s < json_object_array_length(sarr); s++) {
                    struct json_object *so = json_object_array_get_idx(sarr, s);
                    const char *sn = ctl_str(so, "name");
                    /* a clone's temporary snapshot is no snapshot of the CO's */
                    if (!sn || clone_snap(sn) || (by_id && strcmp(sn, want.snap) != 0))
                        continue;
                    /* the id names the ship target; without an id, the target a replica
                     * shipped (or ships) it to, if any */
                    const char *url = by_id && want.url[0] ? want.url : NULL, *shipped_to = NULL;
                    bool done = shipped_anywhere(a, &pl->cluster, views, vn, sn, url, &shipped_to);
                    if (!url)
                        url = shipped_to;
                    bool ready = !url || done;
                    if (n == cap) {
                        all = arena_grow(a, all, cap * sizeof(*all), 2 * cap * sizeof(*all));
                        cap *= 2;
                    }
                    all[n++] = snapshot_message(a, vn, so, url, ready);
                }
            json_object_put(sl);
        }
        json_object_put(vl);
    }
    if (start > n)
        return rpc_error(c, GRPC_STATUS_ABORTED, "ListSnapshots: starting_token past the end");
    size_t count = n - start;
    if (req->max_entries > 0 && (size_t)req->max_entries < count)
        count = (size_t)req->max_entries;
    resp->entries = arena_alloc(a, sizeof(void *) * (count + 1));
    for (size_t i = 0; i < count; i++) {
        Csi__V1__ListSnapshotsResponse__Entry *e =
            arena_new(a, Csi__V1__ListSnapshotsResponse__Entry);
        csi__v1__list_snapshots_response__entry__init(e);
        e->snapshot = all[start + i];
        resp->entries[resp->n_entries++] = e;
    }
    if (start + count < n)
        resp->next_token = arena_printf(a, "%zu", start + count);
    return &resp->base;
}

/* tandem-restore next to this binary (build/ or the image's /usr/bin), else from PATH. */
static void restore_bin(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            snprintf(out, len, "%.*s/tandem-restore", (int)(slash - self), self);
            if (access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, len, "tandem-restore");
}

/* How tandem-restore reaches the store: the StorageClass's snapshotEndpoint/snapshotRegion and
 * the provisioner secret's keys (as the environment the S3 credential chain reads first). */
struct store_access {
    char bin[PATH_MAX];
    const char *endpoint, *region;
    char ak[512], sk[512], st[2048];
    const char *env[4];
};

static void store_access_init(struct store_access *sa, const Csi__V1__CreateVolumeRequest *req)
{
    memset(sa, 0, sizeof(*sa));
    restore_bin(sa->bin, sizeof(sa->bin));
    sa->endpoint = pb_map_get(req->parameters, req->n_parameters, "snapshotEndpoint");
    sa->region = pb_map_get(req->parameters, req->n_parameters, "snapshotRegion");
    const char *ak = pb_map_get(req->secrets, req->n_secrets, "access-key");
    const char *sk = pb_map_get(req->secrets, req->n_secrets, "secret-key");
    const char *st = pb_map_get(req->secrets, req->n_secrets, "session-token");
    int e = 0;
    if (ak && sk) {
        snprintf(sa->ak, sizeof(sa->ak), "AWS_ACCESS_KEY_ID=%s", ak);
        snprintf(sa->sk, sizeof(sa->sk), "AWS_SECRET_ACCESS_KEY=%s", sk);
        sa->env[e++] = sa->ak;
        sa->env[e++] = sa->sk;
        if (st) {
            snprintf(sa->st, sizeof(sa->st), "AWS_SESSION_TOKEN=%s", st);
            sa->env[e++] = sa->st;
        }
    }
}

static void store_access_wipe(struct store_access *sa)
{
    memset(sa->ak, 0, sizeof(sa->ak));
    memset(sa->sk, 0, sizeof(sa->sk));
    memset(sa->st, 0, sizeof(sa->st));
}

/* Runs tandem-restore with argv (after the binary), plus --endpoint/--region when set. */
static int run_restore_tool(struct store_access *sa, const char *const *args, int timeout_ms,
                            char *out, size_t outlen)
{
    const char *argv[24];
    int k = 0;
    argv[k++] = sa->bin;
    for (int i = 0; args[i] && k < 18; i++)
        argv[k++] = args[i];
    if (sa->endpoint && sa->endpoint[0]) {
        argv[k++] = "--endpoint";
        argv[k++] = sa->endpoint;
    }
    if (sa->region && sa->region[0]) {
        argv[k++] = "--region";
        argv[k++] = sa->region;
    }
    argv[k] = NULL;
    return proc_run_env(argv, sa->env, timeout_ms, out, outlen);
}

void nbd_uri_of(const char *addr, const char *vol, char *out, size_t len)
{
    if (addr[0] == '/')
        snprintf(out, len, "nbd+unix:///%s?socket=%s", vol, addr);
    else
        snprintf(out, len, "nbd://%s/%s", addr, vol);
}

/* Fills the new volume from the shipped snapshot (a fill_fn, ctx = the snap_id). -1 with the
 * call's status set. */
static int restore_fill(struct rpc_call *c, struct csi_plugin *pl,
                        const Csi__V1__CreateVolumeRequest *req, struct vol_info *v, void *ctx)
{
    const struct snap_id *id = ctx;
    /* a volume just created: its first replica is the primary (create_new_volume) */
    struct vol_replica *dst = v->n_rep ? &v->rep[0] : NULL;
    if (!dst || !dst->view || !dst->view->nbd[0]) {
        rpc_error(c, GRPC_STATUS_UNAVAILABLE, "no reachable primary for the restored volume %s",
                  v->name);
        return -1;
    }
    char img[PATH_MAX], uri[PATH_MAX + 128], out[2048];
    snprintf(img, sizeof(img), "%s/restore-%s.img", pl->state_dir, v->name);
    unlink(img);
    struct store_access sa;
    store_access_init(&sa, req);
    const char *const args[] = {"restore",  "--from",        id->url,  "--volume",
                                id->volume, "--snapshot",    id->snap, "--to",
                                img,        "--no-progress", NULL};
    int rc = run_restore_tool(&sa, args, 3600 * 1000, out, sizeof(out));
    store_access_wipe(&sa);
    if (rc != 0) {
        unlink(img);
        rpc_error(c, rc == 127 ? GRPC_STATUS_FAILED_PRECONDITION : GRPC_STATUS_INTERNAL,
                  "restore of %s@%s from %s: %s", id->volume, id->snap, id->url, out);
        return -1;
    }
    nbd_uri_of(dst->view->nbd, v->name, uri, sizeof(uri));
    const char *const cp[] = {"nbdcopy", "--destination-is-zero", img, uri, NULL};
    rc = proc_run(cp, 3600 * 1000, out, sizeof(out));
    unlink(img);
    if (rc != 0) {
        rpc_error(c, GRPC_STATUS_INTERNAL, "copying the restored image into %s: %s", v->name, out);
        return -1;
    }
    return 0;
}

static void marker_path(const struct csi_plugin *pl, const char *vol, char *out, size_t len)
{
    snprintf(out, len, "%s/restoring-%s", pl->state_dir, vol);
}

/* Where a snapshot's size is too small for the request's limit: -1 with OUT_OF_RANGE set, else
 * the size to create (the request's, or the snapshot's if larger). */
static long long size_for_snapshot(struct rpc_call *c, const Csi__V1__CreateVolumeRequest *req,
                                   const char *sid, long long size, long long snap_size)
{
    if (size >= snap_size)
        return size;
    long long lim = req->capacity_range ? req->capacity_range->limit_bytes : 0;
    if (lim && lim < snap_size) {
        rpc_error(c, GRPC_STATUS_OUT_OF_RANGE,
                  "snapshot %s holds %lld bytes, more than limit_bytes %lld", sid, snap_size, lim);
        return -1;
    }
    return snap_size;
}

struct local_src {
    const struct vol_replica *from;
    const struct snap_id *id;
};

/* A fill_fn: the snapshot, still on its volume's replicas, copied by one of them. */
static int local_fill(struct rpc_call *c, struct csi_plugin *pl,
                      const Csi__V1__CreateVolumeRequest *req, struct vol_info *v, void *ctx)
{
    (void)pl;
    (void)req;
    const struct local_src *ls = ctx;
    return copy_snapshot_into(c, ls->from, ls->id->volume, ls->id->snap, v);
}

/* CreateVolume from a snapshot that was not shipped (VOLUME@SNAPSHOT): it lives on the
 * replicas of its volume, and one of them copies it into the new volume's primary (the same
 * snapshot.copy job a clone uses), so no store is needed. */
static int create_from_local_snapshot(struct rpc_call *c, struct csi_plugin *pl,
                                      struct node_view *views,
                                      const Csi__V1__CreateVolumeRequest *req,
                                      const struct snap_id *id, const char *name, long long size,
                                      const struct create_params *p, struct vol_info *out)
{
    const char *sid = req->volume_content_source->snapshot->snapshot_id;
    struct vol_info src;
    vol_find(&pl->cluster, views, id->volume, &src);
    struct local_src ls = {.id = id};
    long long snap_size = -1;
    char err[256];
    /* the primary if it answers (snap_node), else any replica that holds the snapshot */
    struct vol_replica *first = src.found ? snap_node(&src) : NULL;
    for (unsigned k = 0; first && k <= src.n_rep && !ls.from; k++) {
        struct vol_replica *r = k == 0 ? first : &src.rep[k - 1];
        if (!r->present || (k > 0 && r == first))
            continue;
        struct json_object *l =
            snap_op(r->view->node, "snapshot.list", id->volume, NULL, NULL, err, sizeof(err));
        struct json_object *s = find_snap(l, id->snap);
        if (s) {
            ls.from = r;
            snap_size = ctl_int(s, "size");
        }
        json_object_put(l);
    }
    if (!ls.from) {
        rpc_error(c, GRPC_STATUS_NOT_FOUND, "no snapshot %s on the replicas of %s", sid,
                  id->volume);
        return -1;
    }
    if ((size = size_for_snapshot(c, req, sid, size, snap_size)) < 0)
        return -1;
    return create_filled(c, pl, views, req, name, size, p, out, sid, local_fill, &ls);
}

int create_from_snapshot(struct rpc_call *c, struct csi_plugin *pl, struct node_view *views,
                         const Csi__V1__CreateVolumeRequest *req, const char *name, long long size,
                         const struct create_params *p, struct vol_info *out)
{
    struct snap_id id;
    const char *sid = req->volume_content_source->snapshot->snapshot_id;
    if (snap_id_parse(sid, &id) < 0) {
        rpc_error(c, GRPC_STATUS_NOT_FOUND, "no snapshot %s (not a Tandem snapshot id)", sid);
        return -1;
    }
    if (!id.url[0])
        return create_from_local_snapshot(c, pl, views, req, &id, name, size, p, out);
    /* the image's size from the store: the new volume must hold it */
    char outb[8192];
    struct store_access sa;
    store_access_init(&sa, req);
    const char *const ls[] = {"list", "--from", id.url, "--volume", id.volume, "--json", NULL};
    int lrc = run_restore_tool(&sa, ls, 120000, outb, sizeof(outb));
    store_access_wipe(&sa);
    if (lrc != 0) {
        /* the store cannot be read (credentials, endpoint, no such store): not a missing
         * snapshot, and not worth retrying blindly */
        rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION, "cannot list %s in %s: %s", id.volume, id.url,
                  outb);
        return -1;
    }
    long long snap_size = -1;
    struct json_object *lj = json_tokener_parse(outb), *arr = lj;
    if (lj && json_object_is_type(lj, json_type_object))
        json_object_object_get_ex(lj, "snapshots", &arr);
    if (arr && json_object_is_type(arr, json_type_array))
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *s = json_object_array_get_idx(arr, i);
            const char *sn = ctl_str(s, "snapshot") ? ctl_str(s, "snapshot") : ctl_str(s, "name");
            if (sn && strcmp(sn, id.snap) == 0)
                snap_size = ctl_int(s, "size");
        }
    json_object_put(lj);
    if (snap_size < 0) {
        rpc_error(c, GRPC_STATUS_NOT_FOUND, "no snapshot %s of %s in %s", id.snap, id.volume,
                  id.url);
        return -1;
    }
    if ((size = size_for_snapshot(c, req, sid, size, snap_size)) < 0)
        return -1;
    if (create_filled(c, pl, views, req, name, size, p, out, sid, restore_fill, &id) < 0)
        return -1;
    rpc_note(c, "restored %s@%s from %s", id.volume, id.snap, id.url);
    return 0;
}

int create_filled(struct rpc_call *c, struct csi_plugin *pl, struct node_view *views,
                  const Csi__V1__CreateVolumeRequest *req, const char *name, long long size,
                  const struct create_params *p, struct vol_info *out, const char *source,
                  fill_fn fill, void *ctx)
{
    char marker[PATH_MAX];
    marker_path(pl, name, marker, sizeof(marker));
    FILE *m = fopen(marker, "we");
    if (!m) {
        rpc_error(c, GRPC_STATUS_INTERNAL, "cannot write %s: %s", marker, strerror(errno));
        return -1;
    }
    fprintf(m, "%s\n", source);
    fclose(m);
    if (create_new_volume(c, pl, views, req, name, size, p, out) < 0) {
        unlink(marker);
        return -1;
    }
    if (fill(c, pl, req, out, ctx) < 0) {
        /* leave nothing that a retry could take for a finished fill */
        char err[256];
        for (unsigned i = 0; i < vol_members(out); i++)
            if (vol_member(out, i)->view) {
                struct json_object *r = vol_op(vol_member(out, i)->view->node, "volume.delete",
                                               name, NULL, err, sizeof(err));
                json_object_put(r);
            }
        unlink(marker);
        return -1;
    }
    unlink(marker);
    return 0;
}

/* Called by CreateVolume when the volume exists: a restore marker means a previous attempt
 * died mid-restore. */
bool restore_unfinished(const struct csi_plugin *pl, const char *name)
{
    char marker[PATH_MAX];
    marker_path(pl, name, marker, sizeof(marker));
    return access(marker, F_OK) == 0;
}
