/* NBD fixed-newstyle handshake (option haggling), as a socket-free state machine.
 *
 * The connection feeds bytes in and sends whatever the machine appends to hs->out; this keeps
 * the protocol logic testable with byte strings and no sockets (tests/unit/test_nbd_handshake.c).
 *
 * Contract:
 *  - nbd_hs_init() queues the server greeting in hs->out.
 *  - nbd_hs_feed() consumes at most one complete client message from `in` and reports how many
 *    bytes it used in *consumed (0 when the message is still incomplete). It returns
 *      NBD_HS_MORE   keep feeding (after sending hs->out),
 *      NBD_HS_GO     transmission starts after hs->out is sent: hs->export is attached,
 *      NBD_HS_CLOSE  send hs->out (if any) and disconnect; hs->reason says why.
 *  - Option payloads above NBD_HS_MAX_OPTION bytes end the connection (a client that sends one
 *    is broken or hostile); so the caller's input buffer must hold NBD_HS_MAX_OPTION + 16.
 *  - Exports are found through the ops: attach() is called once, on GO/EXPORT_NAME, and its
 *    result is owned by the caller from NBD_HS_GO on. */
#ifndef TANDEM_NBD_HANDSHAKE_H
#define TANDEM_NBD_HANDSHAKE_H

#include "util/bytebuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NBD_HS_MAX_OPTION  65536
#define NBD_HS_MAX_OPTIONS 256
#define NBD_MAX_PAYLOAD    (32u << 20)

struct nbd_export_ops {
    /* 0 and the size, or -1 and a message for the client ("no volume named x"). */
    int (*peek)(void *ctx, const char *name, uint64_t *size, char *msg, size_t msglen);
    /* As peek, but takes a reference the caller later drops; NULL on failure. */
    void *(*attach)(void *ctx, const char *name, uint64_t *size, char *msg, size_t msglen);
    void (*each)(void *ctx, void (*fn)(const char *name, void *fnctx), void *fnctx);
};

enum nbd_hs_result { NBD_HS_MORE, NBD_HS_GO, NBD_HS_CLOSE };

struct nbd_hs {
    int state;
    uint32_t client_flags;
    bool structured;
    bool meta_allocation; /* base:allocation selected for meta_export */
    char meta_export[256 + 1];
    unsigned n_options;
    const struct nbd_export_ops *ops;
    void *ctx;
    struct bytebuf out;

    /* results, valid after NBD_HS_GO */
    void *export;
    char export_name[256 + 1];
    uint64_t export_size;
    uint16_t tx_flags;
    char reason[256];
};

void nbd_hs_init(struct nbd_hs *hs, const struct nbd_export_ops *ops, void *ctx);
enum nbd_hs_result nbd_hs_feed(struct nbd_hs *hs, const uint8_t *in, size_t len, size_t *consumed);
void nbd_hs_free(struct nbd_hs *hs);
const char *nbd_opt_name(uint32_t opt);

#endif
