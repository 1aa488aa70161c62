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

ProtobufCMessage *controller_publish(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);
ProtobufCMessage *controller_unpublish(struct rpc_call *c, const ProtobufCMessage *msg,
                                       void *ctx);
ProtobufCMessage *controller_expand(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);
ProtobufCMessage *create_snapshot(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);
ProtobufCMessage *delete_snapshot(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);
ProtobufCMessage *list_snapshots(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx);

/* CreateVolume with a snapshot source (controller_snapshot.c): restores the snapshot into a new
 * volume named name. */
ProtobufCMessage *create_from_snapshot(struct rpc_call *c, struct csi_plugin *pl,
                                       struct node_view *views,
                                       const Csi__V1__CreateVolumeRequest *req, const char *name,
                                       long long size, const unsigned *replicas,
                                       const char *fs_type, bool remote);

#endif
