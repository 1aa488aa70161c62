/* The copy job of snapshot.copy (proto/control-api.md): writes a snapshot's image into a
 * volume exported over NBD, typically a fresh volume on another node (tandem-csi's clones).
 *
 * Contract:
 *  - Runs on the job's own thread with blocking sockets (30 s timeout per send/receive), never
 *    on the reactor. Speaks NBD as a plain client: fixed newstyle handshake, NBD_OPT_GO, simple
 *    replies, up to SNAP_COPY_WINDOW writes in flight, a FLUSH at the end.
 *  - The destination must read zero before the copy (a volume just created): blocks of the
 *    image that read zero are skipped, not written. It must not be read-only and must hold at
 *    least `size` bytes; both are checked in the handshake, before anything is written.
 *  - Returns 0, or -errno with a sentence in msg (the NBD error, the handshake refusal, or
 *    ECANCELED when *cancel became true). Progress: bytes_total/bytes_read as the image is read,
 *    bytes_uploaded as bytes are acknowledged by the destination. */
#ifndef TANDEM_CTL_SNAP_COPY_H
#define TANDEM_CTL_SNAP_COPY_H

#include "ship/ship.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_COPY_WINDOW 8

/* True when uri is a form snap_copy_run() accepts: nbd://HOST[:PORT]/EXPORT (IPv6 in
 * brackets) or nbd+unix:///EXPORT?socket=/PATH. */
bool snap_copy_uri_valid(const char *uri);

int snap_copy_run(const char *uri, uint64_t size,
                  int (*read)(void *ctx, uint64_t off, void *buf, size_t len), void *ctx,
                  struct ship_progress *progress, const atomic_bool *cancel, char *msg,
                  size_t msglen);

#endif
