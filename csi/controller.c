/* The CSI Controller service, volume lifecycle: CreateVolume (placement across zones),
 * DeleteVolume, ValidateVolumeCapabilities, ListVolumes, GetCapacity,
 * ControllerGetCapabilities. Publishing is in controller_publish.c, expansion in
 * controller_expand.c, snapshots in controller_snapshot.c, clones in controller_clone.c.
 *
 * Every request is validated first (INVALID_ARGUMENT naming the field), then executed against
 * the daemons; tandemd's error codes map to gRPC codes in one place, ctl_status(). */
#include "controller.h"

#include "ctl_client.h"
#include "volumes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SIZE (1LL << 30)
#define MIB          (1LL << 20)

ProtobufCMessage *ctl_status(struct rpc_call *c, struct json_object *reply, const char *err,
                             const char *what)
{
    if (!reply)
        return rpc_error(c, GRPC_STATUS_UNAVAILABLE, "%s: %s", what, err);
    const char *code = ctl_code(reply);
    const char *msg = ctl_str(reply, "error") ? ctl_str(reply, "error") : "no reason given";
    grpc_status_code st = GRPC_STATUS_INTERNAL;
    if (strcmp(code, "not_found") == 0)
        st = GRPC_STATUS_NOT_FOUND;
    else if (strcmp(code, "exists") == 0)
        st = GRPC_STATUS_ALREADY_EXISTS;
    else if (strcmp(code, "invalid") == 0)
        st = GRPC_STATUS_INVALID_ARGUMENT;
    else if (strcmp(code, "no_space") == 0)
        st = GRPC_STATUS_RESOURCE_EXHAUSTED;
    else if (strcmp(code, "busy") == 0 || strcmp(code, "failed_precondition") == 0)
        st = GRPC_STATUS_FAILED_PRECONDITION;
    else if (strcmp(code, "unavailable") == 0)
        st = GRPC_STATUS_UNAVAILABLE;
    return rpc_error(c, st, "%s: %s", what, msg);
}

/* ---- CreateVolume ---- */

static bool parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "1") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "0") == 0 || !s[0])
        *out = false;
    else
        return false;
    return true;
}

/* StorageClass parameters (csi/README.md lists them). Returns -1 with the call's status set. */
static int parse_params(struct rpc_call *c, const Csi__V1__CreateVolumeRequest *req,
                        struct create_params *p)
{
    *p = (struct create_params){.replicas = 1, .fs_type = "ext4", .on_no_quorum = "suspend"};
    for (size_t i = 0; i < req->n_parameters; i++) {
        const char *k = req->parameters[i]->key, *v = req->parameters[i]->value;
        if (strcmp(k, "replicas") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 5) {
                rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                          "parameter replicas=%s: want 1 to 5 (one per zone)", v);
                return -1;
            }
            p->replicas = (unsigned)n;
        } else if (strcmp(k, "zones") == 0) {
            p->zones = v[0] ? v : NULL;
        } else if (strcmp(k, "fsType") == 0 || strcmp(k, "csi.storage.k8s.io/fstype") == 0) {
            if (v[0] && strcmp(v, "ext4") != 0 && strcmp(v, "xfs") != 0) {
                rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "parameter %s=%s: want ext4 or xfs", k,
                          v);
                return -1;
            }
            if (v[0])
                p->fs_type = v;
        } else if (strcmp(k, "onNoQuorum") == 0) {
            if (strcmp(v, "suspend") != 0 && strcmp(v, "io-error") != 0) {
                rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                          "parameter onNoQuorum=%s: want suspend or io-error", v);
                return -1;
            }
            p->on_no_quorum = v;
        } else if (strcmp(k, "witness") == 0) {
            bool w;
            if (!parse_bool(v, &w)) {
                rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "parameter witness=%s: want true/false",
                          v);
                return -1;
            }
            p->witness = w;
        } else if (strcmp(k, "allowRemoteVolumeAccess") == 0) {
            if (!parse_bool(v, &p->remote_access)) {
                rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                          "parameter allowRemoteVolumeAccess=%s: want true/false", v);
                return -1;
            }
        } else if (strcmp(k, "snapshotEndpoint") == 0 || strcmp(k, "snapshotRegion") == 0) {
            continue; /* for restores from an S3 snapshot (controller_snapshot.c) */
        } else if (strncmp(k, "csi.storage.k8s.io/", 19) == 0) {
            continue; /* the provisioner's own metadata (PVC name...) */
        } else {
            rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                      "unknown parameter %s (known: replicas, zones, fsType, onNoQuorum, witness, "
                      "allowRemoteVolumeAccess, snapshotEndpoint, snapshotRegion)",
                      k);
            return -1;
        }
    }
    /* A witness makes the voters an odd number: with 2 data replicas, the loss of one zone
     * leaves a majority. With an odd count of data replicas it would make them even, and
     * tandemd wants at least two data replicas beside it and at most 5 members. */
    if (p->witness && p->replicas != 2 && p->replicas != 4) {
        rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                  "parameter witness=true needs replicas=2 or 4 (data replicas plus the witness "
                  "must be an odd number of voters), not replicas=%u",
                  p->replicas);
        return -1;
    }
    return 0;
}

/* The size to create: at least required, at most limit, rounded up to 1 MiB where the limit
 * allows (else 4 KiB, tandemd's unit). -1 with the status set when impossible. */
static long long pick_size(struct rpc_call *c, const Csi__V1__CapacityRange *r)
{
    long long req = r ? r->required_bytes : 0, lim = r ? r->limit_bytes : 0;
    if (req < 0 || lim < 0) {
        rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "capacity_range must not be negative");
        return -1;
    }
    if (lim && req > lim) {
        rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                  "capacity_range: required_bytes %lld is more than limit_bytes %lld", req, lim);
        return -1;
    }
    long long size = req ? req : DEFAULT_SIZE;
    if (!req && lim && lim < size)
        size = lim;
    long long up = (size + MIB - 1) / MIB * MIB;
    if (lim && up > lim)
        up = (size + 4095) / 4096 * 4096;
    if (lim && up > lim) {
        rpc_error(c, GRPC_STATUS_OUT_OF_RANGE,
                  "capacity_range: no multiple of 4096 bytes lies between %lld and %lld", req, lim);
        return -1;
    }
    return up;
}

static bool zone_in_list(const char *zone, const char *list)
{
    size_t zl = strlen(zone);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && *p == ' ')
            p++, n--;
        while (n && p[n - 1] == ' ')
            n--;
        if (n == zl && strncmp(p, zone, n) == 0)
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

static bool zone_allowed(const char *zone, const Csi__V1__TopologyRequirement *tr,
                         const char *zones_param)
{
    if (zones_param && !zone_in_list(zone, zones_param))
        return false;
    if (!tr || tr->n_requisite == 0)
        return true;
    for (size_t i = 0; i < tr->n_requisite; i++) {
        const char *z = pb_topology_zone(tr->requisite[i]);
        if (z && strcmp(z, zone) == 0)
            return true;
    }
    return false;
}

/* Rank for ordering candidates: the index of the first preferred topology naming the zone
 * (the first preferred is where the CO will run the consumer: it gets the primary), else a
 * large number; ties go to the node with more free space. */
static size_t preference(const char *zone, const Csi__V1__TopologyRequirement *tr)
{
    if (tr)
        for (size_t i = 0; i < tr->n_preferred; i++) {
            const char *z = pb_topology_zone(tr->preferred[i]);
            if (z && strcmp(z, zone) == 0)
                return i;
        }
    return (size_t)-1;
}

/* Chooses p->replicas nodes in distinct zones. Returns the count chosen (== replicas on
 * success) with the reason for a shortfall in why. */
static unsigned place(const struct cluster *cl, struct node_view *views,
                      const Csi__V1__TopologyRequirement *tr, const struct create_params *p,
                      long long size, struct node_view **chosen, char *why, size_t whylen)
{
    struct node_view *cand[CLUSTER_MAX_NODES];
    size_t nc = 0, down = 0, small = 0, excluded = 0;
    for (size_t i = 0; i < cl->n; i++) {
        struct node_view *v = &views[i];
        if (!v->up)
            down++;
        else if (!zone_allowed(v->zone, tr, p->zones))
            excluded++;
        else if (v->free_bytes < size)
            small++;
        else
            cand[nc++] = v;
    }
    /* insertion sort: by preference, then free space (descending) */
    for (size_t i = 1; i < nc; i++)
        for (size_t k = i; k > 0; k--) {
            size_t pa = preference(cand[k - 1]->zone, tr), pb = preference(cand[k]->zone, tr);
            if (pa < pb || (pa == pb && cand[k - 1]->free_bytes >= cand[k]->free_bytes))
                break;
            struct node_view *t = cand[k];
            cand[k] = cand[k - 1];
            cand[k - 1] = t;
        }
    unsigned n = 0;
    for (size_t i = 0; i < nc && n < p->replicas; i++) {
        bool dup = false;
        for (unsigned k = 0; k < n; k++)
            dup |= strcmp(chosen[k]->zone, cand[i]->zone) == 0;
        if (!dup)
            chosen[n++] = cand[i];
    }
    if (n < p->replicas)
        snprintf(why, whylen,
                 "need %u replicas in distinct zones, found %u (%zu nodes: %zu unreachable, %zu "
                 "outside the allowed topology, %zu with less than %lld bytes free)",
                 p->replicas, n, cl->n, down, excluded, small, size);
    return n;
}

/* Chooses the witness for the data replicas chosen[0..n): an answering node in a zone none of
 * them is in (a witness sharing a data replica's zone would let the loss of that one zone take
 * two of the three votes), allowed by the zones parameter, the most free space first. Not the
 * requisite topology: the witness serves no consumer and is not in accessible_topology. Nor
 * the volume's size: it holds no data (a sparse file, never written). NULL with why. */
static struct node_view *place_witness(const struct cluster *cl, struct node_view *views,
                                       const struct create_params *p, struct node_view **chosen,
                                       unsigned n, char *why, size_t whylen)
{
    struct node_view *best = NULL;
    size_t down = 0, excluded = 0, same_zone = 0;
    for (size_t i = 0; i < cl->n; i++) {
        struct node_view *v = &views[i];
        bool dup = false;
        for (unsigned k = 0; k < n; k++)
            dup |= strcmp(chosen[k]->zone, v->zone) == 0;
        if (!v->up)
            down++;
        else if (p->zones && !zone_in_list(v->zone, p->zones))
            excluded++;
        else if (dup)
            same_zone++;
        else if (!best || v->free_bytes > best->free_bytes)
            best = v;
    }
    if (!best)
        snprintf(why, whylen,
                 "witness=true needs a node in a zone without a data replica, found none (%zu "
                 "nodes: %zu unreachable, %zu outside the zones parameter, %zu in the data "
                 "replicas' zones)",
                 cl->n, down, excluded, same_zone);
    return best;
}

Csi__V1__Volume *volume_message(struct arena *a, const struct vol_info *v, const char *fs_type,
                                bool remote, const Csi__V1__VolumeContentSource *src)
{
    Csi__V1__Volume *m = arena_new(a, Csi__V1__Volume);
    csi__v1__volume__init(m);
    m->volume_id = arena_strdup(a, v->name);
    m->capacity_bytes = v->size;
    char reps[VOL_MAX_REPLICAS * (NODE_ID_MAX + 1)] = "";
    size_t len = 0;
    m->accessible_topology = arena_alloc(a, sizeof(void *) * (v->n_rep + 1));
    for (unsigned i = 0; i < v->n_rep; i++) {
        len +=
            (size_t)snprintf(reps + len, sizeof(reps) - len, "%s%s", i ? "," : "", v->rep[i].node);
        bool dup = false;
        for (size_t k = 0; k < m->n_accessible_topology; k++)
            dup |= strcmp(pb_topology_zone(m->accessible_topology[k]), v->rep[i].zone) == 0;
        if (!dup && !remote)
            m->accessible_topology[m->n_accessible_topology++] =
                pb_zone_topology(a, v->rep[i].zone);
    }
    const char *kv[] = {CTX_FS_TYPE, fs_type,    CTX_REPLICAS,
                        reps,        CTX_REMOTE, remote ? "true" : NULL};
    m->volume_context = (Csi__V1__Volume__VolumeContextEntry **)pb_map_build(
        a, &csi__v1__volume__volume_context_entry__descriptor, kv, 3, &m->n_volume_context);
    if (src) {
        Csi__V1__VolumeContentSource *s = arena_new(a, Csi__V1__VolumeContentSource);
        csi__v1__volume_content_source__init(s);
        s->type_case = src->type_case;
        if (src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT) {
            s->snapshot = arena_new(a, Csi__V1__VolumeContentSource__SnapshotSource);
            csi__v1__volume_content_source__snapshot_source__init(s->snapshot);
            s->snapshot->snapshot_id = arena_strdup(a, src->snapshot->snapshot_id);
        } else if (src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME) {
            s->volume = arena_new(a, Csi__V1__VolumeContentSource__VolumeSource);
            csi__v1__volume_content_source__volume_source__init(s->volume);
            s->volume->volume_id = arena_strdup(a, src->volume->volume_id);
        }
        m->content_source = s;
    }
    return m;
}

static ProtobufCMessage *create_response(struct rpc_call *c, const struct vol_info *v,
                                         const struct create_params *p,
                                         const Csi__V1__VolumeContentSource *src)
{
    Csi__V1__CreateVolumeResponse *r = arena_new(&c->arena, Csi__V1__CreateVolumeResponse);
    csi__v1__create_volume_response__init(r);
    r->volume = volume_message(&c->arena, v, p->fs_type, p->remote_access, src);
    return &r->base;
}

static ProtobufCMessage *create_volume_named(struct rpc_call *c, struct csi_plugin *pl,
                                             const Csi__V1__CreateVolumeRequest *req,
                                             const char *name, const struct create_params *pp,
                                             long long size,
                                             const Csi__V1__VolumeContentSource *src);

static ProtobufCMessage *create_volume(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__CreateVolumeRequest *req = (const Csi__V1__CreateVolumeRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    char why[512];
    if (!req->name[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "CreateVolume: name is required");
    if (pb_check_capabilities(req->volume_capabilities, req->n_volume_capabilities, why,
                              sizeof(why)) != 0)
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "CreateVolume: %s", why);
    struct create_params p;
    if (parse_params(c, req, &p) < 0)
        return NULL;
    long long size = pick_size(c, req->capacity_range);
    if (size < 0)
        return NULL;
    const Csi__V1__VolumeContentSource *src = req->volume_content_source;
    if (src && src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE__NOT_SET)
        src = NULL;
    char name[VOL_NAME_MAX + 1];
    vol_name_for(req->name, name);
    if (!vol_inflight_begin(name))
        return rpc_error(c, GRPC_STATUS_ABORTED,
                         "CreateVolume %s is already in progress (a restore can take long); "
                         "retry later",
                         name);
    ProtobufCMessage *r = create_volume_named(c, pl, req, name, &p, size, src);
    vol_inflight_end(name);
    return r;
}

/* CreateVolume once the request is valid and no other call for name is in flight. */
static ProtobufCMessage *create_volume_named(struct rpc_call *c, struct csi_plugin *pl,
                                             const Csi__V1__CreateVolumeRequest *req,
                                             const char *name, const struct create_params *pp,
                                             long long size,
                                             const Csi__V1__VolumeContentSource *src)
{
    struct create_params p = *pp;
    struct node_view *views = cluster_probe(&pl->cluster, &c->arena);
    struct vol_info v;
    vol_find(&pl->cluster, views, name, &v);
    if (v.found && restore_unfinished(pl, name)) {
        /* a restore into it died half-way: drop it and start over */
        rpc_note(c, "removing %s left by an unfinished restore", name);
        for (unsigned i = 0; i < vol_members(&v); i++)
            if (vol_member(&v, i)->present) {
                char err[256];
                json_object_put(vol_op(vol_member(&v, i)->view->node, "volume.delete", name, NULL,
                                       err, sizeof(err)));
            }
        vol_find(&pl->cluster, views, name, &v);
    }
    if (v.found) {
        long long req_b = req->capacity_range ? req->capacity_range->required_bytes : 0;
        long long lim_b = req->capacity_range ? req->capacity_range->limit_bytes : 0;
        if (v.size < req_b || (lim_b && v.size > lim_b))
            return rpc_error(c, GRPC_STATUS_ALREADY_EXISTS,
                             "CreateVolume: volume %s exists with %lld bytes, outside the "
                             "requested range",
                             name, v.size);
        if (v.n_rep != p.replicas || v.has_witness != p.witness)
            return rpc_error(c, GRPC_STATUS_ALREADY_EXISTS,
                             "CreateVolume: volume %s exists with %u replicas%s, not %u%s", name,
                             v.n_rep, v.has_witness ? " and a witness" : "", p.replicas,
                             p.witness ? " and a witness" : "");
        if (source_record_check(c, pl, name, src) < 0)
            return NULL;
        rpc_note(c, "exists already");
        return create_response(c, &v, &p, src);
    }
    if (source_record_save(c, pl, name, src) < 0)
        return NULL;
    int rc = !src ? create_new_volume(c, pl, views, req, name, size, &p, &v)
             : src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME
                 ? create_from_volume(c, pl, views, req, name, size, &p, &v)
                 : create_from_snapshot(c, pl, views, req, name, size, &p, &v);
    if (rc < 0) {
        source_record_drop(pl, name);
        return NULL;
    }
    return create_response(c, &v, &p, src);
}

int create_new_volume(struct rpc_call *c, struct csi_plugin *pl, struct node_view *views,
                      const Csi__V1__CreateVolumeRequest *req, const char *name, long long size,
                      const struct create_params *pp, struct vol_info *out)
{
    const struct create_params p = *pp;
    struct vol_info v;
    char why[512];
    struct node_view *chosen[CLUSTER_MAX_NODES];
    unsigned n = place(&pl->cluster, views, req->accessibility_requirements, &p, size, chosen, why,
                       sizeof(why));
    if (n < p.replicas) {
        rpc_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "CreateVolume %s: %s", name, why);
        return -1;
    }
    struct node_view *wit = NULL;
    if (p.witness && !(wit = place_witness(&pl->cluster, views, &p, chosen, n, why, sizeof(why)))) {
        rpc_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "CreateVolume %s: %s", name, why);
        return -1;
    }

    struct json_object *extra = json_object_new_object();
    json_object_object_add(extra, "size", json_object_new_int64(size));
    if (p.replicas > 1) {
        struct json_object *arr = json_object_new_array();
        for (unsigned i = 0; i < n; i++) {
            char spec[NODE_ID_MAX + 130];
            snprintf(spec, sizeof(spec), "%s@%s", chosen[i]->node->id, chosen[i]->node->peer);
            json_object_array_add(arr, json_object_new_string(spec));
        }
        json_object_object_add(extra, "replicas", arr);
        if (wit) {
            char spec[NODE_ID_MAX + 130];
            snprintf(spec, sizeof(spec), "%s@%s", wit->node->id, wit->node->peer);
            struct json_object *w = json_object_new_array();
            json_object_array_add(w, json_object_new_string(spec));
            json_object_object_add(extra, "witnesses", w);
        }
        json_object_object_add(extra, "on_no_quorum", json_object_new_string(p.on_no_quorum));
    }
    char err[512];
    struct json_object *r = vol_op(chosen[0]->node, "volume.create", name, extra, err, sizeof(err));
    json_object_put(extra);
    if (!ctl_ok(r)) {
        /* another CreateVolume of the same name may have won the race: answer as for a retry */
        if (r && strcmp(ctl_code(r), "exists") == 0) {
            vol_find(&pl->cluster, views, name, &v);
            if (v.found && v.size == size && v.n_rep == p.replicas && v.has_witness == p.witness) {
                json_object_put(r);
                *out = v;
                return 0;
            }
        }
        ctl_status(c, r, err, "CreateVolume");
        json_object_put(r);
        return -1;
    }
    json_object_put(r);
    memset(&v, 0, sizeof(v));
    v.found = true;
    snprintf(v.name, sizeof(v.name), "%s", name);
    v.size = size;
    v.replicated = p.replicas > 1;
    for (unsigned i = 0; i < n; i++) {
        snprintf(v.rep[i].node, sizeof(v.rep[i].node), "%s", chosen[i]->node->id);
        snprintf(v.rep[i].zone, sizeof(v.rep[i].zone), "%s", chosen[i]->zone);
        v.rep[i].view = chosen[i];
    }
    v.n_rep = n;
    if (wit) {
        v.has_witness = true;
        snprintf(v.witness.node, sizeof(v.witness.node), "%s", wit->node->id);
        snprintf(v.witness.zone, sizeof(v.witness.zone), "%s", wit->zone);
        v.witness.view = wit;
    }
    rpc_note(c, "placed on %s%s%s%s%s%s%s", chosen[0]->node->id, n > 1 ? "," : "",
             n > 1 ? chosen[1]->node->id : "", n > 2 ? "," : "", n > 2 ? chosen[2]->node->id : "",
             wit ? ", witness on " : "", wit ? wit->node->id : "");
    *out = v;
    return 0;
}

/* ---- DeleteVolume ---- */

static ProtobufCMessage *delete_volume(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__DeleteVolumeRequest *req = (const Csi__V1__DeleteVolumeRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "DeleteVolume: volume_id is required");
    struct node_view *views = cluster_probe(&pl->cluster, &c->arena);
    struct vol_info v;
    vol_find(&pl->cluster, views, req->volume_id, &v);
    Csi__V1__DeleteVolumeResponse *resp = arena_new(&c->arena, Csi__V1__DeleteVolumeResponse);
    csi__v1__delete_volume_response__init(resp);
    if (!v.found) {
        source_record_drop(pl, req->volume_id);
        rpc_note(c, "no such volume (already deleted)");
        return &resp->base;
    }
    for (unsigned i = 0; i < v.n_rep; i++)
        if (v.rep[i].present && v.rep[i].clients > 0)
            return rpc_error(c, GRPC_STATUS_FAILED_PRECONDITION,
                             "DeleteVolume: %s is in use on node %s (%lld clients)", v.name,
                             v.rep[i].node, v.rep[i].clients);
    /* A replica whose node is down now would be left behind; refuse so the CO retries later
     * instead of us forgetting it (nothing else remembers it). */
    for (unsigned i = 0; i < vol_members(&v); i++) {
        const struct vol_replica *m = vol_member(&v, i);
        if (!m->present && m->view && !m->view->up)
            return rpc_error(c, GRPC_STATUS_UNAVAILABLE,
                             "DeleteVolume: node %s, which holds a %s of %s, is unreachable (%s)",
                             m->node, i < v.n_rep ? "replica" : "witness", v.name, m->view->error);
    }
    /* the witness too: its metadata (and sparse file) would otherwise stay for ever */
    for (unsigned i = 0; i < vol_members(&v); i++) {
        const struct vol_replica *m = vol_member(&v, i);
        if (!m->present)
            continue;
        char err[512];
        struct json_object *r =
            vol_op(m->view->node, "volume.delete", v.name, NULL, err, sizeof(err));
        if (!ctl_ok(r) && !(r && strcmp(ctl_code(r), "not_found") == 0)) {
            ProtobufCMessage *e = ctl_status(c, r, err, "DeleteVolume");
            json_object_put(r);
            return e;
        }
        json_object_put(r);
    }
    publish_records_drop(pl, v.name);
    source_record_drop(pl, v.name);
    rpc_note(c, "deleted %u replicas%s", v.n_rep, v.has_witness ? " and the witness" : "");
    return &resp->base;
}

/* ---- ValidateVolumeCapabilities ---- */

static ProtobufCMessage *validate_caps(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__ValidateVolumeCapabilitiesRequest *req =
        (const Csi__V1__ValidateVolumeCapabilitiesRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    char why[512];
    if (!req->volume_id[0])
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "ValidateVolumeCapabilities: volume_id is required");
    int rc = pb_check_capabilities(req->volume_capabilities, req->n_volume_capabilities, why,
                                   sizeof(why));
    if (rc < 0)
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "ValidateVolumeCapabilities: %s", why);
    struct node_view *views = cluster_probe(&pl->cluster, &c->arena);
    struct vol_info v;
    vol_find(&pl->cluster, views, req->volume_id, &v);
    if (!v.found)
        return rpc_error(c, GRPC_STATUS_NOT_FOUND, "no volume %s", req->volume_id);
    Csi__V1__ValidateVolumeCapabilitiesResponse *r =
        arena_new(&c->arena, Csi__V1__ValidateVolumeCapabilitiesResponse);
    csi__v1__validate_volume_capabilities_response__init(r);
    if (rc > 0) {
        r->message = arena_strdup(&c->arena, why);
        return &r->base;
    }
    Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed *conf =
        arena_new(&c->arena, Csi__V1__ValidateVolumeCapabilitiesResponse__Confirmed);
    csi__v1__validate_volume_capabilities_response__confirmed__init(conf);
    /* echo what was confirmed; the request's messages are freed after the handler, so the
     * response points at copies */
    conf->n_volume_capabilities = req->n_volume_capabilities;
    conf->volume_capabilities = arena_alloc(&c->arena, sizeof(void *) * req->n_volume_capabilities);
    for (size_t i = 0; i < req->n_volume_capabilities; i++)
        conf->volume_capabilities[i] =
            (Csi__V1__VolumeCapability *)pb_copy(&c->arena, &req->volume_capabilities[i]->base);
    r->confirmed = conf;
    return &r->base;
}

/* ---- ListVolumes ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static ProtobufCMessage *list_volumes(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__ListVolumesRequest *req = (const Csi__V1__ListVolumesRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    struct arena *a = &c->arena;
    if (req->max_entries < 0)
        return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "ListVolumes: max_entries < 0");
    size_t start = 0;
    if (req->starting_token[0]) {
        char *end;
        unsigned long t = strtoul(req->starting_token, &end, 10);
        if (*end)
            return rpc_error(c, GRPC_STATUS_ABORTED, "ListVolumes: bad starting_token %s",
                             req->starting_token);
        start = t;
    }
    struct node_view *views = cluster_probe(&pl->cluster, a);
    size_t cap = 64, n = 0;
    const char **names = arena_alloc(a, cap * sizeof(*names));
    long long *sizes = arena_alloc(a, cap * sizeof(*sizes));
    struct json_object *replies[CLUSTER_MAX_NODES] = {0};
    for (size_t i = 0; i < pl->cluster.n; i++) {
        if (!views[i].up)
            continue;
        char err[256];
        replies[i] = vol_op(views[i].node, "volume.list", NULL, NULL, err, sizeof(err));
        struct json_object *arr;
        if (!ctl_ok(replies[i]) || !json_object_object_get_ex(replies[i], "volumes", &arr))
            continue;
        for (size_t k = 0; k < json_object_array_length(arr); k++) {
            struct json_object *e = json_object_array_get_idx(arr, k);
            const char *nm = ctl_str(e, "name");
            if (!nm)
                continue;
            bool dup = false;
            for (size_t j = 0; j < n && !dup; j++)
                dup = strcmp(names[j], nm) == 0;
            if (dup)
                continue;
            if (n == cap) {
                names = arena_grow(a, names, cap * sizeof(*names), 2 * cap * sizeof(*names));
                sizes = arena_grow(a, sizes, cap * sizeof(*sizes), 2 * cap * sizeof(*sizes));
                cap *= 2;
            }
            names[n] = arena_strdup(a, nm);
            sizes[n++] = ctl_int(e, "size");
        }
    }
    for (size_t i = 0; i < pl->cluster.n; i++)
        json_object_put(replies[i]);
    /* sort names with their sizes: sort an index */
    const char **sorted = arena_alloc(a, sizeof(*sorted) * (n + 1));
    memcpy(sorted, names, n * sizeof(*names));
    qsort(sorted, n, sizeof(*sorted), cmp_str);
    if (start > n)
        return rpc_error(c, GRPC_STATUS_ABORTED, "ListVolumes: starting_token %zu is past the end",
                         start);
    size_t count = n - start;
    if (req->max_entries > 0 && (size_t)req->max_entries < count)
        count = (size_t)req->max_entries;
    Csi__V1__ListVolumesResponse *r = arena_new(a, Csi__V1__ListVolumesResponse);
    csi__v1__list_volumes_response__init(r);
    r->entries = arena_alloc(a, sizeof(void *) * (count + 1));
    for (size_t i = 0; i < count; i++) {
        const char *nm = sorted[start + i];
        long long sz = 0;
        for (size_t j = 0; j < n; j++)
            if (names[j] == nm)
                sz = sizes[j];
        Csi__V1__ListVolumesResponse__Entry *e = arena_new(a, Csi__V1__ListVolumesResponse__Entry);
        csi__v1__list_volumes_response__entry__init(e);
        e->volume = arena_new(a, Csi__V1__Volume);
        csi__v1__volume__init(e->volume);
        e->volume->volume_id = (char *)nm;
        e->volume->capacity_bytes = sz;
        r->entries[r->n_entries++] = e;
    }
    if (start + count < n)
        r->next_token = arena_printf(a, "%zu", start + count);
    return &r->base;
}

/* ---- GetCapacity ---- */

static ProtobufCMessage *get_capacity(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    const Csi__V1__GetCapacityRequest *req = (const Csi__V1__GetCapacityRequest *)msg;
    struct csi_plugin *pl = *(struct csi_plugin **)ctx;
    char why[512];
    if (req->n_volume_capabilities &&
        pb_check_capabilities(req->volume_capabilities, req->n_volume_capabilities, why,
                              sizeof(why)) != 0) {
        /* capacity for capabilities we cannot serve is zero, not an error */
        Csi__V1__GetCapacityResponse *z = arena_new(&c->arena, Csi__V1__GetCapacityResponse);
        csi__v1__get_capacity_response__init(z);
        rpc_note(c, "%s", why);
        return &z->base;
    }
    const char *zone = NULL;
    if (req->accessible_topology) {
        zone = pb_topology_zone(req->accessible_topology);
        if (!zone)
            return rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                             "GetCapacity: accessible_topology may only name %s", CSI_TOPOLOGY_KEY);
    }
    const char *zones = pb_map_get(req->parameters, req->n_parameters, "zones");
    struct node_view *views = cluster_probe(&pl->cluster, &c->arena);
    long long sum = 0, max = 0;
    for (size_t i = 0; i < pl->cluster.n; i++) {
        const struct node_view *v = &views[i];
        if (!v->up || (zone && strcmp(v->zone, zone) != 0) ||
            (zones && zones[0] && !zone_in_list(v->zone, zones)))
            continue;
        sum += v->free_bytes;
        if (v->free_bytes > max)
            max = v->free_bytes;
    }
    Csi__V1__GetCapacityResponse *r = arena_new(&c->arena, Csi__V1__GetCapacityResponse);
    csi__v1__get_capacity_response__init(r);
    r->available_capacity = sum;
    /* every replica of a volume is a full copy on one node */
    r->maximum_volume_size = arena_new(&c->arena, Google__Protobuf__Int64Value);
    google__protobuf__int64_value__init(r->maximum_volume_size);
    r->maximum_volume_size->value = max;
    return &r->base;
}

/* ---- ControllerGetCapabilities ---- */

static ProtobufCMessage *get_capabilities(struct rpc_call *c, const ProtobufCMessage *msg,
                                          void *ctx)
{
    (void)msg;
    (void)ctx;
    static const Csi__V1__ControllerServiceCapability__RPC__Type types[] = {
        CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME,
        CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__PUBLISH_UNPUBLISH_VOLUME,
        CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES,
        CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_CAPACITY,
        CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__PUBLISH_READONLY,
        CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
        CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_SNAPSHOT,
        CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_SNAPSHOTS,
        CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CLONE_VOLUME,
    };
    struct arena *a = &c->arena;
    size_t n = sizeof(types) / sizeof(types[0]);
    Csi__V1__ControllerGetCapabilitiesResponse *r =
        arena_new(a, Csi__V1__ControllerGetCapabilitiesResponse);
    csi__v1__controller_get_capabilities_response__init(r);
    r->capabilities = arena_alloc(a, sizeof(void *) * n);
    for (size_t i = 0; i < n; i++) {
        Csi__V1__ControllerServiceCapability *cap =
            arena_new(a, Csi__V1__ControllerServiceCapability);
        csi__v1__controller_service_capability__init(cap);
        cap->type_case = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC;
        cap->rpc = arena_new(a, Csi__V1__ControllerServiceCapability__RPC);
        csi__v1__controller_service_capability__rpc__init(cap->rpc);
        cap->rpc->type = types[i];
        r->capabilities[r->n_capabilities++] = cap;
    }
    return &r->base;
}

const struct rpc_method controller_methods[] = {
    {"/csi.v1.Controller/CreateVolume", &csi__v1__create_volume_request__descriptor, create_volume,
     &csi_plugin},
    {"/csi.v1.Controller/DeleteVolume", &csi__v1__delete_volume_request__descriptor, delete_volume,
     &csi_plugin},
    {"/csi.v1.Controller/ControllerPublishVolume",
     &csi__v1__controller_publish_volume_request__descriptor, controller_publish, &csi_plugin},
    {"/csi.v1.Controller/ControllerUnpublishVolume",
     &csi__v1__controller_unpublish_volume_request__descriptor, controller_unpublish, &csi_plugin},
    {"/csi.v1.Controller/ValidateVolumeCapabilities",
     &csi__v1__validate_volume_capabilities_request__descriptor, validate_caps, &csi_plugin},
    {"/csi.v1.Controller/ListVolumes", &csi__v1__list_volumes_request__descriptor, list_volumes,
     &csi_plugin},
    {"/csi.v1.Controller/GetCapacity", &csi__v1__get_capacity_request__descriptor, get_capacity,
     &csi_plugin},
    {"/csi.v1.Controller/ControllerGetCapabilities",
     &csi__v1__controller_get_capabilities_request__descriptor, get_capabilities, &csi_plugin},
    {"/csi.v1.Controller/ControllerExpandVolume",
     &csi__v1__controller_expand_volume_request__descriptor, controller_expand, &csi_plugin},
    {"/csi.v1.Controller/CreateSnapshot", &csi__v1__create_snapshot_request__descriptor,
     create_snapshot, &csi_plugin},
    {"/csi.v1.Controller/DeleteSnapshot", &csi__v1__delete_snapshot_request__descriptor,
     delete_snapshot, &csi_plugin},
    {"/csi.v1.Controller/ListSnapshots", &csi__v1__list_snapshots_request__descriptor,
     list_snapshots, &csi_plugin},
};
const size_t controller_methods_n = sizeof(controller_methods) / sizeof(controller_methods[0]);
