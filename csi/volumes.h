/* Finding a Tandem volume across the cluster, and naming volumes after CSI requests.
 *
 * Truth lives in the daemons: a volume exists where a daemon lists it; its replica set, zones
 * and roles come from its replicas' own metadata (volume.status). The CSI volume id is the
 * Tandem volume name, so no mapping table is needed.
 *
 * Contract: blocking (one control-API round trip per reachable node); results in the caller's
 * arena or struct. Thread-safe. */
#ifndef TANDEM_CSI_VOLUMES_H
#define TANDEM_CSI_VOLUMES_H

#include "cluster.h"

#include <json-c/json.h>
#include <stdbool.h>

#define VOL_NAME_MAX     63
#define VOL_MAX_REPLICAS 8

struct vol_replica {
    const struct node_view *view; /* NULL if the node is not in the nodes file */
    char node[NODE_ID_MAX];
    char zone[64];
    bool present;  /* its daemon answered and holds the volume */
    char role[16]; /* "primary", "secondary", "" (unreplicated) as the node itself says */
    long long clients;
};

struct vol_info {
    bool found;
    char name[VOL_NAME_MAX + 1];
    long long size;
    bool replicated;
    struct vol_replica rep[VOL_MAX_REPLICAS]; /* the data replicas only */
    unsigned n_rep;
    /* A diskless voter (proto/replication.md §11): kept apart from rep[] because it is never
     * primary, never published, never in accessible_topology and holds no data; only the
     * calls that remove a volume's metadata everywhere must reach it (vol_member()). */
    bool has_witness;
    struct vol_replica witness; /* role "witness" */
    unsigned nodes_down;        /* nodes of the file that did not answer */
};

/* The Tandem volume name for a CSI CreateVolume name: the name itself when Tandem accepts it
 * (1-63 of [A-Za-z0-9._-], not starting with '.' or '-'; Kubernetes' "pvc-<uuid>" does), else
 * "csi-" + 40 hex digits of its SHA-256, so any CSI name maps to one stable volume. */
void vol_name_for(const char *csi_name, char out[VOL_NAME_MAX + 1]);
bool vol_name_valid(const char *name);

/* The temporary snapshot that a clone into volume `clone` cuts on its source
 * (controller_clone.c): "clone-" + clone when that fits in a name, else "clone--" + 40 hex digits
 * of clone's SHA-256 (a volume name never starts with '-', so the two forms cannot meet). Every
 * snapshot name starting with CLONE_SNAP_PREFIX is such a temporary (clone_snap()): ListSnapshots
 * hides them, and snap_name_for() never gives a CO's snapshot such a name. */
#define CLONE_SNAP_PREFIX "clone-"
void clone_snap_name(const char *clone, char out[VOL_NAME_MAX + 1]);
bool clone_snap(const char *snap);

/* The Tandem snapshot name for a CSI CreateSnapshot name: as vol_name_for(), except that a name
 * starting with CLONE_SNAP_PREFIX is hashed too ("csi-" + hex), so that a CO's snapshot never
 * takes (or is taken for) a clone's temporary one. */
void snap_name_for(const char *csi_name, char out[VOL_NAME_MAX + 1]);

/* Looks the volume up on every node in views (probed by the caller). */
void vol_find(const struct cluster *c, struct node_view *views, const char *name,
              struct vol_info *out);

/* Every member of v, data replicas first, then the witness: for i < vol_members(v). */
static inline unsigned vol_members(const struct vol_info *v)
{
    return v->n_rep + (v->has_witness ? 1u : 0u);
}
static inline struct vol_replica *vol_member(struct vol_info *v, unsigned i)
{
    return i < v->n_rep ? &v->rep[i] : &v->witness;
}

/* Sends {op, name} plus extra fields (may be NULL) to a node; returns the reply or NULL with
 * err. Caller puts the reply. */
struct json_object *vol_op(const struct cluster_node *n, const char *op, const char *name,
                           struct json_object *extra, char *err, size_t errlen);

/* Serialises the controller's role-changing calls on one volume (publish, unpublish, expand,
 * snapshot), so a primary promoted only for an expand or a snapshot cannot be demoted under a
 * concurrent publish, nor the other way round. Striped: two names may share a lock. */
void vol_lock(const char *name);
void vol_unlock(const char *name);

/* CreateVolume calls in progress in this controller, by volume name: a retry that arrives while
 * the first call still runs (a long restore outlives the provisioner's timeout) is answered
 * ABORTED, as the spec asks for an operation pending on the volume, instead of racing it.
 * vol_inflight_begin() returns false if name is already in flight (or the table is full). */
bool vol_inflight_begin(const char *name);
void vol_inflight_end(const char *name);

#endif
