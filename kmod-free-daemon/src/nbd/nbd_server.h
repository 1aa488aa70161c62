/* The NBD frontend: listens on a Unix or TCP socket and serves every volume of the registry as
 * an export named after it.
 *
 * Contract:
 *  - Runs entirely on one reactor thread (the loop given to nbd_server_start), the same thread
 *    that owns the volumes' io engine and buffer pool.
 *  - Many requests per connection, each counted from parse until its reply is written: up to
 *    NBD_CONN_MAX_INFLIGHT requests and NBD_CONN_MAX_BUF_BYTES of their I/O buffers, then the
 *    connection stops reading until replies drain. So a client that sends and never reads
 *    costs at most that much memory. Replies go out as requests complete, batched into one
 *    writev per connection per loop iteration.
 *  - A misbehaving client gets the protocol's error or a disconnect with a log line; it never
 *    affects other connections. Requests already handed to the volume always complete before
 *    a connection's memory is released, whatever the client does.
 *  - A client that has not finished the handshake within handshake_timeout_ms (default 30 s) is
 *    disconnected, so idle or hostile connections cannot pile up.
 *  - nbd_server_shutdown() stops accepting, lets in-flight requests finish, and calls
 *    `drained` once no connection is left. Replies are delivered for up to shutdown_grace_ms
 *    (default NBD_SHUTDOWN_GRACE_MS, or $TANDEM_NBD_SHUTDOWN_GRACE_MS); after that a client
 *    that does not take them loses them and is disconnected, so a stalled client cannot hold
 *    the daemon up forever. Requests the volume holds are still waited for. */
#ifndef TANDEM_NBD_SERVER_H
#define TANDEM_NBD_SERVER_H

#include "nbd/nbd_handshake.h"
#include "util/bufpool.h"
#include "util/loop.h"
#include "vol/registry.h"

#include <stdint.h>

#define NBD_CONN_MAX_INFLIGHT 128
#define NBD_SHUTDOWN_GRACE_MS 10000
/* Enough for QD128 of 1 MiB requests (what the kernel's nbd driver sends at most) unthrottled;
 * one request past it may still be parsed, so a connection holds at most this plus 32 MiB. */
#define NBD_CONN_MAX_BUF_BYTES ((size_t)128 << 20)

struct nbd_conn;

struct nbd_server {
    struct loop *loop;
    struct registry *reg;
    struct bufpool *pool;
    int listen_fd;
    char *unix_path; /* unlinked at close */
    struct loop_watch listen_watch;
    struct nbd_conn *conns;
    struct nbd_conn *dirty; /* connections with replies to send */
    uint64_t next_id;
    unsigned n_conns;
    bool shutting_down;
    unsigned handshake_timeout_ms; /* a client must reach transmission within this */
    int timer_fd;
    struct loop_watch timer_watch;
    int accept_timer_fd; /* one-shot: resumes accepting after running out of descriptors */
    struct loop_watch accept_timer_watch;
    bool accept_paused; /* since the last successful accept; the pause is logged once */
    void (*drained)(void *ctx);
    void *drained_ctx;
    unsigned shutdown_grace_ms;    /* how long shutdown waits for clients to take replies */
    uint64_t shutdown_deadline_ms; /* nbd_now_ms() after which they are dropped */
};

/* addr: "/path/to.sock" (Unix) or "HOST:PORT" / "[V6]:PORT" (TCP). Returns 0 or -1 with err. */
int nbd_server_start(struct nbd_server *s, struct loop *l, struct registry *reg,
                     struct bufpool *pool, const char *addr, unsigned handshake_timeout_ms,
                     char *err, size_t errlen);
void nbd_server_shutdown(struct nbd_server *s, void (*drained)(void *ctx), void *ctx);
void nbd_server_close(struct nbd_server *s);

/* Internal, shared by nbd_server.c and nbd_conn.c. */
extern const struct nbd_export_ops nbd_registry_exports;
void nbd_conn_accept(struct nbd_server *s, int fd, const char *peer);
void nbd_conn_begin_close(struct nbd_conn *c, const char *why);
void nbd_server_flush_dirty(void *server);
void nbd_server_conn_gone(struct nbd_server *s);
struct nbd_conn *nbd_conn_next(struct nbd_conn *c);
/* Closes the connection if it has been in the handshake longer than the server allows. */
void nbd_conn_check_handshake(struct nbd_conn *c, uint64_t now_ms);
uint64_t nbd_now_ms(void);
/* Stops reading, answers what is in flight, then closes. */
void nbd_conn_shutdown(struct nbd_conn *c);
/* Shutdown's grace period is over: drops replies the client has not taken, and closes as soon
 * as the volume has returned every request. */
void nbd_conn_abandon(struct nbd_conn *c);

#endif
