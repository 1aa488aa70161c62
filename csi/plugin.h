/* What every CSI handler of tandem-csi shares: the plugin's configuration and small helpers
 * for building protobuf-c messages from the call's arena.
 *
 * Contract: struct csi_plugin is filled by main() before the server starts and is read-only
 * afterwards, so handlers on any worker thread may read it without locks. */
#ifndef TANDEM_CSI_PLUGIN_H
#define TANDEM_CSI_PLUGIN_H

#include "cluster.h"
#include "csi.pb-c.h"
#include "rpc_server.h"

#include <stdbool.h>

#define CSI_DRIVER_NAME  "csi.tandem.io"
#define CSI_TOPOLOGY_KEY "topology.kubernetes.io/zone"
/* Keys of volume_context / publish_context that tandem-csi sets. */
#define CTX_FS_TYPE  "fsType"
#define CTX_REPLICAS "tandem.io/replicas"
#define CTX_REMOTE   "tandem.io/allowRemoteVolumeAccess"
#define CTX_PRIMARY  "tandem.io/primary"
#define CTX_NBD      "tandem.io/nbd"

enum csi_mode { MODE_CONTROLLER, MODE_NODE };

struct csi_plugin {
    enum csi_mode mode;
    const char *node_id;
    const char *zone;           /* node mode: reported in NodeGetInfo ("" = ask tandemd) */
    const char *tandem_control; /* node mode: the local tandemd's control socket */
    const char *state_dir;      /* node: attachments and FUSE mounts; controller: state_record.h */
    const char *attach_mode;    /* node mode: "auto", "nbd" or "fuse" (csi/attach.h) */
    struct cluster cluster;     /* controller mode */
};

/* Identity (csi/identity.c), the same in both modes. */
extern const struct rpc_method identity_methods[];
extern const size_t identity_methods_n;
/* Controller (csi/controller*.c) and Node (csi/node*.c) method tables. */
extern const struct rpc_method controller_methods[];
extern const size_t controller_methods_n;
extern const struct rpc_method node_methods[];
extern const size_t node_methods_n;

/* Method tables take the plugin as ctx; main() sets it before serving. */
extern struct csi_plugin *csi_plugin;

/* ---- protobuf-c helpers (all memory from the call's arena) ---- */

/* Every map<string,string> entry has this layout; maps are looked up through it. */
struct pb_map_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
};
/* Looks key up in a map field: pb_map_get(req->parameters, req->n_parameters, "fsType"). */
#define pb_map_get(entries, n, key) pb_map_get_((void *const *)(entries), (n), (key))
const char *pb_map_get_(void *const *entries, size_t n, const char *key);

/* Builds a map<string,string> field from key/value pairs: sets *n_out and returns the array.
 * desc is the entry descriptor, e.g. &csi__v1__volume__volume_context_entry__descriptor. */
void **pb_map_build(struct arena *a, const ProtobufCMessageDescriptor *desc, const char *const *kv,
                    size_t pairs, size_t *n_out);

/* A deep copy of m in the arena (requests are freed after the handler returns, so a response
 * that echoes part of one needs a copy). */
ProtobufCMessage *pb_copy(struct arena *a, const ProtobufCMessage *m);

/* A Topology {topology.kubernetes.io/zone: zone}. */
Csi__V1__Topology *pb_zone_topology(struct arena *a, const char *zone);
/* The zone named by a Topology, or NULL if it has a segment other than the zone key. */
const char *pb_topology_zone(const Csi__V1__Topology *t);

/* Checks a list of capabilities: -1 = malformed (INVALID_ARGUMENT, message in c), 0 = all
 * supported, 1 = some unsupported (reason in why). Supported: block or mount (ext4, xfs, or
 * empty) with a single-node access mode. */
int pb_check_capabilities(Csi__V1__VolumeCapability *const *caps, size_t n, char *why,
                          size_t whylen);

#endif
