/* Segments and the image hash.
 *
 * The image is cut into segments of segment_size bytes (64 MiB: 1024 chunks of 64 KiB). A
 * segment's chunk list is a blob (type BLOB_SEGMENT, stored in packs like chunks):
 *   "TNDMSEG1" | chunk_size u32 | nchunks u32 | nchunks x chunk id[32]   (an all-zero id: hole)
 * and its id is the id of that plaintext; a segment of nothing but holes has the all-zero id
 * and is not stored. The manifest lists segment ids.
 *
 * The image hash is a hash tree, so an incremental ship can record it without reading the
 * unchanged segments: SHA-256("tandem-image-v1" | size u64 | chunk_size u32 | segment_size u64
 * | segment id...). Restore checks every chunk against its id, every segment list against its
 * id, and this root against the manifest, so a restored image matches it bit for bit.
 *
 * Contract: pure functions. */
#ifndef TANDEM_SHIP_SEGMENT_H
#define TANDEM_SHIP_SEGMENT_H

#include "ship/crypt.h"

#include <stddef.h>
#include <stdint.h>

#define SEG_MAGIC      "TNDMSEG1"
#define SEG_HEADER_LEN 16

typedef uint8_t blob_id[CRYPT_ID_LEN];

static inline size_t segment_list_len(uint32_t nchunks)
{
    return SEG_HEADER_LEN + (size_t)nchunks * CRYPT_ID_LEN;
}
/* Writes the chunk list into out (segment_list_len bytes). */
void segment_encode(uint32_t chunk_size, uint32_t nchunks, const blob_id *ids, uint8_t *out);
/* Parses a chunk list that must hold exactly nchunks ids of chunk_size. 0 or -1. */
int segment_decode(const uint8_t *p, size_t len, uint32_t chunk_size, uint32_t nchunks,
                   blob_id *ids);
/* 1 when id is the all-zero id (a hole). */
int blob_id_zero(const uint8_t *id);

void image_tree_hash(uint64_t size, uint32_t chunk_size, uint64_t segment_size, const blob_id *segs,
                     uint64_t nseg, uint8_t out[32]);

#endif
