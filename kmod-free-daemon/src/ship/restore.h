/* Restoring (or verifying) a snapshot from a backup store, with nothing but the store: no
 * daemon, no local state.
 *
 * Contract: restore_run blocks (it runs `parallel` fetch threads itself). Every chunk is
 * checked against its id, every segment list against its id and the segment ids against the
 * manifest's image hash, so it returns 0 only for an image that is exactly the snapshot.
 * target NULL: verify only (fetch and check everything, write nothing). A regular-file target
 * is created or truncated and left sparse where the image has holes; a block device must be at
 * least the image's size and gets its hole ranges zeroed (BLKZEROOUT). On failure a
 * regular-file target (created or truncated by this call) is removed, so no half image is left
 * looking whole. progress (may be NULL) is updated with atomics for another thread to show. Errors:
 * negative errno with one sentence in err (a corrupt chunk is named by id and pack). */
#ifndef TANDEM_SHIP_RESTORE_H
#define TANDEM_SHIP_RESTORE_H

#include "ship/ship.h"

struct restore_params {
    const char *url;
    const char *volume;
    const char *snapshot; /* a name, or "latest" */
    const char *target;   /* file or block device; NULL: verify */
    struct ship_store_opts store;
};

struct restore_progress {
    atomic_uint_fast64_t bytes_total; /* the image's size */
    atomic_uint_fast64_t bytes_done;  /* data and holes written (or checked) so far */
    atomic_uint_fast64_t bytes_fetched;
};

struct restore_result {
    char snapshot[129];
    uint64_t seq, size, data_bytes, hole_bytes, fetched_bytes, chunks, requests;
    char image_hash[65];
};

int restore_run(const struct restore_params *p, struct restore_progress *progress,
                struct restore_result *res, char *err, size_t errlen);

#endif
