/* Shipping a snapshot to a backup store (s3://BUCKET/PREFIX or file:///DIR), the interface the
 * daemon's snapshot code calls. The format is documented in proto/backup-store.md.
 *
 * Contract:
 *  - ship_run() blocks; the daemon calls it from a worker thread of its own, never from a
 *    reactor. It reads the snapshot image only through struct ship_image, which the caller makes
 *    thread-safe and stable for the duration of the call (the snapshot is pinned).
 *  - Incremental by default: against the newest manifest of the same volume (same volume UUID)
 *    already in the store, asking image->changed_since() for the regions that may differ since
 *    that snapshot; only those regions are read. -ENOENT from changed_since (the volume cannot
 *    tell), a different UUID, or params->full give a full ship; unchanged content still
 *    deduplicates, so a full ship of known data uploads nothing new.
 *  - Crash safety: the manifest is written last, after everything it names, so a store never
 *    names a missing object; a re-run after a crash or a cancel reuses what was uploaded.
 *  - progress counters are updated as the ship goes (atomics; another thread reads them).
 *  - cancel, if not NULL, is polled; a cancelled ship returns -ECANCELED and writes no manifest.
 *  - Errors: returns 0, or a negative errno with one human sentence in err (never a secret). */
#ifndef TANDEM_SHIP_SHIP_H
#define TANDEM_SHIP_SHIP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A set of regions of the volume: bit i covers [i*gran, (i+1)*gran). */
struct ship_regions {
    uint64_t gran; /* bytes, a power of two >= 65536 */
    uint64_t n;    /* number of regions (bits) */
    uint8_t *bits; /* malloc()ed; the shipper frees it */
};

struct ship_image {
    uint64_t size; /* bytes, a multiple of 4096 */
    /* Reads [off, off+len) of the snapshot image into buf. off and len are multiples of 4096,
     * buf is 4096-aligned. Thread-safe. 0 or a negative errno. */
    int (*read)(void *ctx, uint64_t off, void *buf, size_t len);
    /* Regions that may differ between the snapshot of this volume whose sequence number is
     * base_seq and this one (a superset is fine). 0, or -ENOENT when the volume cannot tell. */
    int (*changed_since)(void *ctx, uint64_t base_seq, struct ship_regions *out);
    void *ctx;
};

/* Where and how to reach the store. NULL/0 fields take the defaults of the S3 client
 * (environment, credential chain); a file:// store ignores the S3 fields. */
struct ship_store_opts {
    const char *endpoint;   /* --endpoint / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL */
    const char *region;     /* AWS_REGION */
    const char *access_key; /* explicit static credentials (CSI snapshotter secrets) */
    const char *secret_key;
    const char *session_token;
    const char *encrypt_key_file; /* client-side AES-256-GCM; NULL: not encrypted */
    int parallel;                 /* concurrent transfers; 0: default */
};

struct ship_params {
    const char *url;         /* s3://BUCKET/PREFIX or file:///DIR */
    const char *volume;      /* volume name */
    const char *volume_uuid; /* canonical text form */
    const char *snapshot;    /* snapshot name */
    uint64_t seq;            /* the snapshot's sequence number within the volume, increasing */
    int64_t created;         /* unix seconds the snapshot was taken */
    bool full;
    struct ship_store_opts store;
};

struct ship_progress {
    atomic_uint_fast64_t bytes_total;    /* bytes of the image this ship will read */
    atomic_uint_fast64_t bytes_read;     /* of those, read so far */
    atomic_uint_fast64_t bytes_uploaded; /* stored bytes written to the store (after compression) */
    atomic_uint_fast64_t chunks_new;     /* chunks stored by this ship */
    atomic_uint_fast64_t chunks_reused;  /* chunks already in the store */
    atomic_uint_fast64_t objects_written;
    atomic_uint_fast64_t base_seq; /* the snapshot this ship is incremental against, 0 if full */
};

int ship_run(const struct ship_params *p, const struct ship_image *image,
             struct ship_progress *progress, const atomic_bool *cancel, char *err, size_t errlen);

#endif
