/* The controller's view of the Tandem cluster: which tandemd daemons exist and how to reach
 * them, and what each says about itself right now.
 *
 * The static part is a nodes file (a ConfigMap in Kubernetes), one line per node:
 *     NODE_ID  CONTROL_ENDPOINT  PEER_ADDRESS
 *     node-a   tcp://10.0.1.10:7701  10.0.1.10:7700
 * NODE_ID is the Kubernetes node name (what the node plugin's NodeGetInfo returns), the control
 * endpoint is that node's tandemd control API (ctl_client.h forms), the peer address its
 * replication listener (what volume.create's replica list names). Everything else - zone, free
 * capacity, the NBD address, which volumes exist where and who is primary - is asked of the
 * daemons on every call, so there is no state of our own to go stale (csi/README.md).
 *
 * Contract: cluster_load() once at start-up; the table is read-only afterwards and shared by
 * all handler threads. cluster_probe() asks every daemon for node.status (bounded by a short
 * timeout each) and returns per-call results in the caller's arena. */
#ifndef TANDEM_CSI_CLUSTER_H
#define TANDEM_CSI_CLUSTER_H

#include "arena.h"

#include <stdbool.h>
#include <stddef.h>

#define CLUSTER_MAX_NODES 64
#define NODE_ID_MAX       128

struct cluster_node {
    char id[NODE_ID_MAX];
    char control[256];
    char peer[128];
};

struct cluster {
    struct cluster_node nodes[CLUSTER_MAX_NODES];
    size_t n;
};

/* What a daemon said about itself on this call. */
struct node_view {
    const struct cluster_node *node;
    bool up;
    char error[256]; /* why not up */
    char zone[64];
    long long free_bytes, total_bytes;
    char nbd[256]; /* its NBD export address (a socket path or HOST:PORT) */
};

int cluster_load(struct cluster *c, const char *path, char *err, size_t errlen);
const struct cluster_node *cluster_find(const struct cluster *c, const char *id);
/* One view per node, in file order; *n set to c->n. */
struct node_view *cluster_probe(const struct cluster *c, struct arena *a);
/* Probes one node. */
void cluster_probe_one(const struct cluster_node *node, struct node_view *out);

#endif
