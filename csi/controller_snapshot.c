#include "controller.h"
ProtobufCMessage *create_snapshot(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    (void)msg; (void)ctx;
    return rpc_error(c, GRPC_STATUS_UNIMPLEMENTED, "todo");
}
ProtobufCMessage *delete_snapshot(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    (void)msg; (void)ctx;
    return rpc_error(c, GRPC_STATUS_UNIMPLEMENTED, "todo");
}
ProtobufCMessage *list_snapshots(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    (void)msg; (void)ctx;
    return rpc_error(c, GRPC_STATUS_UNIMPLEMENTED, "todo");
}
ProtobufCMessage *create_from_snapshot(struct rpc_call *c, struct csi_plugin *pl,
                                       struct node_view *views,
                                       const Csi__V1__CreateVolumeRequest *req, const char *name,
                                       long long size, const unsigned *replicas,
                                       const char *fs_type, bool remote)
{
    (void)pl; (void)views; (void)req; (void)name; (void)size; (void)replicas; (void)fs_type; (void)remote;
    return rpc_error(c, GRPC_STATUS_UNIMPLEMENTED, "todo");
}
