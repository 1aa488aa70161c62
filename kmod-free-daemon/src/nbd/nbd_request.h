/* NBD transmission requests: parsing and validation, kept apart from execution (nbd_conn.c)
 * so that everything a request may do is decided in one place and tested on its own.
 *
 * Contract: pure functions, no I/O, thread-safe.
 *  - nbd_request_parse() decodes the 28-byte header; -1 only for a bad magic (the stream is
 *    then unframed and the connection must close).
 *  - nbd_request_validate() returns 0 for a request the server will execute, or the NBD error
 *    to reply with, and a static reason for the log. A WRITE that fails validation still has
 *    its payload on the wire; the caller must read and discard it to stay in sync.
 *  - nbd_errno() is the single mapping from system errno to the protocol's error values. */
#ifndef TANDEM_NBD_REQUEST_H
#define TANDEM_NBD_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

struct nbd_request {
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint64_t offset;
    uint32_t length;
};

struct nbd_tx_state {
    uint64_t export_size;
    bool structured;
    bool meta_allocation;
};

int nbd_request_parse(const uint8_t hdr[28], struct nbd_request *req);
uint32_t nbd_request_validate(const struct nbd_request *req, const struct nbd_tx_state *tx,
                              const char **why);
uint32_t nbd_errno(int err);
const char *nbd_cmd_name(uint16_t type);

#endif
