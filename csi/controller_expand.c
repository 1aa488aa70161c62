#include "controller.h"
ProtobufCMessage *controller_expand(struct rpc_call *c, const ProtobufCMessage *msg, void *ctx)
{
    (void)msg; (void)ctx;
    return rpc_error(c, GRPC_STATUS_UNIMPLEMENTED, "todo");
}
