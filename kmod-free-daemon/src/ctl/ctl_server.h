/* The control API server: newline-delimited JSON requests and responses over a Unix socket
 * (protocol in proto/control-api.md), used by tandemctl and, later, tandem-csi.
 *
 * Contract:
 *  - Runs on its own thread, so slow control work (creating a large file, fsyncs) never stalls
 *    the I/O reactor. Requests are handled one at a time, in arrival order.
 *  - A client that stalls is dropped after CTL_CLIENT_TIMEOUT_S seconds.
 *  - ctl_server_stop() joins the thread and removes the socket. */
#ifndef TANDEM_CTL_SERVER_H
#define TANDEM_CTL_SERVER_H

#include "repl/repl.h"
#include "vol/registry.h"

#include <json-c/json.h>
#include <pthread.h>

#define CTL_CLIENT_TIMEOUT_S 10
#define CTL_MAX_REQUEST      65536

struct ctl_node_info {
    const char *node;
    const char *zone;
    const char *io_engine;
    const char *cache;
    const char *nbd_address;
    const char *version;
    struct repl_node *repl;   /* replication ops go here (repl/repl.h) */
    struct reactor_queue *rq; /* work that must run on the I/O reactor */
};

struct ctl_server {
    int fd;
    char *path;
    int stop_pipe[2];
    pthread_t thread;
    struct registry *reg;
    struct ctl_node_info info;
};

int ctl_server_start(struct ctl_server *s, const char *path, struct registry *reg,
                     const struct ctl_node_info *info, char *err, size_t errlen);
void ctl_server_stop(struct ctl_server *s);

/* Executes one request object; returns a new response object. Thread: control thread. */
struct json_object *ctl_handle(struct registry *reg, const struct ctl_node_info *info,
                               struct json_object *req);

#endif
