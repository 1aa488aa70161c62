/* Snapshot manifests: volumes/<volume>/snapshots/<snapshot>.manifest, written last by a ship.
 * JSON (sealed like any blob, with the id of its key, when the store is encrypted):
 *   format, version, volume, volume_uuid, snapshot, seq, created, shipped, size, chunk_size,
 *   segment_size, base_seq / base_snapshot (0 / "" for a full ship), image_hash (hex) with
 *   image_hash_alg "tandem-tree-sha256-v1", segments: [hex id | null (all holes)...],
 *   changed_segments: [indexes of the segments whose id differs from the base's], stats.
 *
 * Contract: functions block on the store; results are owned by the caller (manifest_free).
 * Errors: negative errno with err; a manifest that does not parse or open is -EINVAL. */
#ifndef TANDEM_SHIP_MANIFEST_H
#define TANDEM_SHIP_MANIFEST_H

#include "ship/repo.h"
#include "ship/segment.h"

struct manifest {
    char volume[129], volume_uuid[64], snapshot[129], base_snapshot[129];
    uint64_t seq, base_seq, size;
    int64_t created, shipped;
    uint32_t chunk_size;
    uint64_t segment_size;
    uint64_t nseg;
    blob_id *segs;
    uint8_t image_hash[32];
    uint64_t stat_bytes_read, stat_bytes_uploaded, stat_chunks_new, stat_chunks_reused,
        stat_objects;
};

struct snap_ref {
    char volume[129], snapshot[129];
};

void manifest_key(const char *volume, const char *snapshot, char *out, size_t cap);
void manifest_free(struct manifest *m);

/* Writes m (changed_segments against base, which may be NULL); *written: bytes stored. */
int manifest_put(const struct repo *r, const struct manifest *m, const struct manifest *base,
                 size_t *written, char *err, size_t errlen);
int manifest_load(const struct repo *r, const char *volume, const char *snapshot,
                  struct manifest *m, char *err, size_t errlen);
/* Every manifest key of volume (NULL: of every volume). *refs malloc()ed. */
int manifest_list(const struct repo *r, const char *volume, struct snap_ref **refs, size_t *n,
                  char *err, size_t errlen);
/* Loads every manifest of volume (NULL: all), sorted by volume, then seq. */
int manifest_load_all(const struct repo *r, const char *volume, struct manifest **ms, size_t *n,
                      char *err, size_t errlen);
void manifest_free_all(struct manifest *ms, size_t n);

#endif
