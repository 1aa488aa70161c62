/* Internal interface between the Controller service's files (controller.c: lifecycle,
 * controller_publish.c, controller_expand.c, controller_snapshot.c). Each handler follows
 * rpc_handler's contract (rpc_server.h) with ctx = &csi_plugin. */
#ifndef TANDEM_CSI_CONTROLLER_H
#define TANDEM_CSI_CONTROLLER_H

#include "plugin.h"
#include "volumes.h"

#include <json-c/json.h>

/* Maps a failed control-API reply (or no reply: err) to the call's gRPC status; returns NULL.
 * The one place tandemd's error codes become gRPC codes. */
ProtobufCMessage *ctl_status(struct rpc_call *c, struct json_object *reply, const char *err,
                             const char *what);

/* The CSI Volume message for a found or just-created volume. */
Csi__V1__Volume *volume_message(struct arena *a, const struct vol_info *v, const char *fs_type,
                                bool remote, const Csi__V1__VolumeContentSource *src);

/* The replica to run primary-only ops on (volume.expand, snapshot.*): the primary if one
 * answers; else (an unpublished volume) a present replica, promoted for the op, *promoted set.
 * NULL with the call's status set. Call with vol_lock held; release_primary() after. */
struct vol_replica *acquire_primary(struct rpc_call *c, struct vol_info *v, const char *why,
                                    bool *promoted);
void release_primary(struct rpc_call *c, struct vol_replica *r, const char *name, bool promoted);

/* The content source volume vol was created from, kept by the controller (controller_source.c:
 * a cache in the state dir, as the publish records are). save: before the create (0, or -1 with
 * the call's status set); drop: when the create failed and at DeleteVolume; check: 0 when src
 * is the recorded one (or there is no record), else -1 with ALREADY_EXISTS set. */
int source_record_save(struct rpc_call *c, const struct csi_plugin *pl, const char *vol,
                       const Csi__V1__VolumeContentSource *src);
void source_record_drop(const struct csi_plugin *pl, const char *vol);
int source_record_check(struct rpc_call *c, const struct csi_plugin *pl, const char *vol,
                        const Csi__V1__VolumeContentSource *src);

/* Forgets what publishes of vol were asked for (controller_publish.c), at DeleteVolume. */
void publish_records_drop(const struct csi_plugin *pl, const char *vol);

ProtobufCMessage *controller_publish(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);
ProtobufCMessage *controller_unpublish(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);
ProtobufCMessage *controller_expand(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);
ProtobufCMessage *create_snapshot(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);
ProtobufCMessage *delete_snapshot(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);
ProtobufCMessage *list_snapshots(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);

/* CreateVolume's StorageClass parameters (csi/README.md). */
struct create_params {
    unsigned replicas;
    const char *zones; /* comma list, or NULL */
    const char *fs_type;
    const char *on_no_quorum;
    bool remote_access;
    bool witness; /* plus one diskless voter in a zone of its own (replicas 2 or 4) */
};

/* Places and creates a new volume (no source); fills out. -1 with the call's status set. */
int create_new_volume(struct rpc_call *c, struct csi_plugin *pl, struct node_view *views,
                      const Csi__V1__CreateVolumeRequest *req, const char *name, long long size,
                      const struct create_params *p, struct vol_info *out);

/* CreateVolume with a snapshot source (controller_snapshot.c): a new volume named name with the
 * snapshot's data. -1 with the call's status set. */
int create_from_snapshot(struct rpc_call *c, struct csi_plugin *pl, struct node_view *views,
                         const Csi__V1__CreateVolumeRequest *req, const char *name, long long size,
                         const struct create_params *p, struct vol_info *out);

/* Fills a just-created volume v (its first replica is the primary). -1 with the call's status
 * set. */
typedef int (*fill_fn)(struct rpc_call *c, struct csi_plugin *pl,
                       const Csi__V1__CreateVolumeRequest *req, struct vol_info *v, void *ctx);

/* Creates volume name as create_new_volume() does and fills it with fill(ctx); source (the
 * content source's id) goes in a marker file in the state dir while that runs, so a retry
 * after a crash finds the half-filled volume (restore_unfinished) and starts over; a failed
 * fill deletes the new volume's replicas. -1 with the call's status set. */
int create_filled(struct rpc_call *c, struct csi_plugin *pl, struct node_view *views,
                  const Csi__V1__CreateVolumeRequest *req, const char *name, long long size,
                  const struct create_params *p, struct vol_info *out, const char *source,
                  fill_fn fill, void *ctx);

/* CreateVolume with a volume source (controller_clone.c): a crash-consistent copy of the
 * source as it was at one write boundary. -1 with the call's status set. */
int create_from_volume(struct rpc_call *c, struct csi_plugin *pl, struct node_view *views,
                       const Csi__V1__CreateVolumeRequest *req, const char *name, long long size,
                       const struct create_params *p, struct vol_info *out);

/* Sends a snapshot op {op, volume: vol, name: snap (if set)} plus extra's fields (may be NULL)
 * to a node; the reply, or NULL with err. Caller puts the reply. */
struct json_object *snap_op(const struct cluster_node *n, const char *op, const char *vol,
                            const char *snap, struct json_object *extra, char *err, size_t errlen);

/* Copies snapshot vol@snap, held by replica `from`, into the just-created volume dst (its first
 * replica is the primary) with tandemd's snapshot.copy job, and waits for it (controller_clone.c).
 * -1 with the call's status set. */
int copy_snapshot_into(struct rpc_call *c, const struct vol_replica *from, const char *vol,
                       const char *snap, const struct vol_info *dst);

/* The NBD URI of export vol at a daemon's NBD address (host:port or a Unix socket path). */
void nbd_uri_of(const char *addr, const char *vol, char *out, size_t len);

/* True when a restore (or clone) into volume name was started and never finished
 * (controller_snapshot.c). */
bool restore_unfinished(const struct csi_plugin *pl, const char *name);

#endif
