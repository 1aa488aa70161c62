/* A small unary gRPC server on gRPC core (grpc/grpc.h) and protobuf-c.
 *
 * What it does: listens on one endpoint, receives unary calls, finds the method by its path in
 * a table the caller gives, unpacks the request with the method's protobuf-c descriptor, runs
 * the handler (a plain C function: request in, response or status out), packs the response and
 * sends it with the status. Every call is logged once, with its request printed with secrets
 * redacted (rpc_log.h), its status and how long it took.
 *
 * Threads: `workers` threads all poll one completion queue. A handler runs on the poller that
 * received its message, so a handler may block (mkfs, mount, control-API round trips) and at
 * most `workers` handlers run at once; further calls wait in gRPC. Handlers must be thread-safe.
 *
 * Endpoint: "unix:///abs/path", "unix:/abs/path", "/abs/path" (all a Unix socket; gRPC itself
 * accepts only the first two and silently misbinds others), or "tcp://HOST:PORT" /
 * "HOST:PORT". A Unix socket is guarded by an exclusive flock on PATH.lock, held for the
 * server's life: gRPC unlinks an existing socket when it binds, so without the lock a second
 * plugin instance would silently steal a live one's socket.
 *
 * Shutdown: rpc_server_stop() stops accepting, gives calls in flight a grace period, cancels the
 * rest, waits for every call context to be freed, and joins the workers. Not signal-safe: call
 * it from a normal thread (the caller blocks signals and sigwait()s). */
#ifndef TANDEM_CSI_RPC_SERVER_H
#define TANDEM_CSI_RPC_SERVER_H

#include "arena.h"

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct rpc_call {
    struct arena arena;    /* the response and everything it points to */
    const char *method;    /* full path, e.g. "/csi.v1.Node/NodeStageVolume" */
    grpc_status_code code; /* set by rpc_error() */
    char message[768];
    char note[256]; /* optional: appended to the call's log line (e.g. "attach: nbdfuse+loop") */
};

/* Returns the response (allocated from c->arena), or NULL after rpc_error(). */
typedef ProtobufCMessage *(*rpc_handler)(struct rpc_call *c, const ProtobufCMessage *req,
                                         void *ctx);

struct rpc_method {
    const char *path;
    const ProtobufCMessageDescriptor *request;
    rpc_handler handler;
    void *ctx;
};

/* Sets the call's status and message; returns NULL so handlers can `return rpc_error(...)`. */
ProtobufCMessage *rpc_error(struct rpc_call *c, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends to the call's log note (printf-style). */
void rpc_note(struct rpc_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Turns a CSI endpoint into a gRPC address and, for Unix sockets, the socket path (empty for
 * TCP). Returns 0, or -1 with a message for an endpoint it does not understand. */
int rpc_endpoint_parse(const char *endpoint, char *addr, size_t addrlen, char *path, size_t pathlen,
                       char *err, size_t errlen);

struct rpc_server;
/* methods[] must outlive the server. Returns NULL with a message on failure. grpc_init() must
 * have been called. */
struct rpc_server *rpc_server_start(const char *endpoint, const struct rpc_method *methods,
                                    size_t n_methods, unsigned workers, char *err, size_t errlen);
void rpc_server_stop(struct rpc_server *s, unsigned grace_ms);

#endif
