/* Synchronous replication (proto/replication.md): the peer listener and connections, and the
 * replicated-volume logic that sits behind vol_submit() for volumes with peers.
 *
 * Contract:
 *  - Everything runs on the reactor thread, except repl_ctl(), which the control thread calls
 *    and which runs its work on the reactor (util/reactor_call.h) and waits for the answer.
 *  - A write to a replicated volume completes when it is on this node's disk and acknowledged
 *    by every connected, attached peer; a peer that fails or times out is dropped from the write
 *    path and the regions it missed are recorded durably (repl/bitmap.h) before the write
 *    completes, so nothing acknowledged is ever lost for it.
 *  - Without quorum (a majority of the replica set connected, this node included) writes are
 *    held (default) or fail with EIO (on_no_quorum io-error).
 *  - Only the primary serves the volume to frontends (repl_may_serve). */
#ifndef TANDEM_REPL_REPL_H
#define TANDEM_REPL_REPL_H

#include "io/io_engine.h"
#include "util/bufpool.h"
#include "util/loop.h"
#include "util/reactor_call.h"

#include <json-c/json.h>
#include <stddef.h>

struct registry;
struct volume;
struct vol_io;
struct rvol;
struct repl_node;

#define REPL_DEFAULT_RESYNC_MBPS 100

struct repl_config {
    const char *node;
    const char *zone;
    const char *listen; /* HOST:PORT, or NULL: this node takes no part in replication */
    unsigned peer_timeout_ms;
    unsigned resync_inflight;  /* regions copied at once */
    unsigned resync_rate_mbps; /* resync bandwidth cap in MB/s (10^6 bytes), 0 = none */
    /* Mutual TLS between peers: all three, or none (plain TCP). */
    const char *tls_cert, *tls_key, *tls_ca;
};

/* Creates the node's replication state and, if configured, the listener; attaches every
 * registered volume that has replication metadata. Reactor thread, before the loop runs. */
struct repl_node *repl_node_create(struct loop *l, struct registry *reg, struct io_engine *eng,
                                   struct bufpool *pool, struct reactor_queue *q,
                                   const struct repl_config *cfg, char *err, size_t errlen);
void repl_node_destroy(struct repl_node *n);

/* Control API ops "volume.create" (with replicas), "volume.promote", "volume.demote",
 * "volume.status" (replication part). Control thread. Returns a response object. */
struct json_object *repl_ctl(struct repl_node *n, const char *op, struct json_object *req);

/* Control op "snapshot.create" on a replicated volume: the same write boundary on every in-sync
 * replica (rsnap.c). Control thread. */
struct json_object *repl_snapshot_ctl(struct repl_node *n, const char *volume, const char *name);
/* After snapshot.delete here: asks every connected replica to delete its copy too (each does
 * so in the background; one that is away keeps it until deleted there). Control thread. */
void repl_snapshot_delete_notify(struct repl_node *n, const char *volume, const char *name);

/* Control op "volume.expand" on a replicated volume (rexpand.c): grows this replica and tells
 * every peer; a peer that misses it grows when it next attaches. Control thread. */
struct json_object *repl_expand_ctl(struct repl_node *n, const char *volume, uint64_t size);

void repl_submit(struct rvol *rv, struct vol_io *vio);
/* 0 if this node may serve the volume now, else -1 and a message naming the primary. */
int repl_may_serve(struct volume *v, char *msg, size_t msglen);
/* Adds the replication view of a volume (role, replicas, quorum) to a status object. */
void repl_status_json(struct rvol *rv, struct json_object *out);

#endif
