/* Packs: many sealed blobs in one object, with a sealed trailer that lists them, so a pack is
 * self-describing and a ship that crashed before writing its index still left reusable data.
 *
 *   "TNDMPAK1" | blob... | sealed trailer | trailer length (u32 BE) | "TNDMPEND"
 *   trailer plaintext: "TNDMPTR1" | count u32 | count x entry
 *   entry: type u8 | id[32] | offset u32 | stored length u32 | plaintext length u32
 * (big-endian; offsets from the start of the pack; the trailer is sealed with the id of the
 * name "pack-trailer/<pack id>"). Details in proto/backup-store.md.
 *
 * Contract: a pack_builder is used by one thread; it owns its buffers and reuses them across
 * packs (pack_reset), so filling a pack allocates nothing per blob. */
#ifndef TANDEM_SHIP_PACK_H
#define TANDEM_SHIP_PACK_H

#include "ship/repo.h"

#include <stddef.h>
#include <stdint.h>

#define PACK_MAGIC      "TNDMPAK1"
#define PACK_END_MAGIC  "TNDMPEND"
#define PACK_FOOTER_LEN 12
#define PACK_ID_HEX     32 /* 128 random bits */
#define BLOB_CHUNK      0
#define BLOB_SEGMENT    1
#define PACK_ENTRY_LEN  45

struct pack_entry {
    uint8_t type;
    uint8_t id[CRYPT_ID_LEN];
    uint32_t off, slen, rlen;
};

struct pack_builder {
    uint8_t *buf;
    size_t len, cap, target;
    struct pack_entry *ents;
    size_t nents, ents_cap;
    char id[PACK_ID_HEX + 1];
    uint32_t pack_no; /* the index's number for this pack */
};

/* target: flush when len reaches it; max_blob: the largest plaintext blob. 0 or -ENOMEM. */
int pack_builder_init(struct pack_builder *pb, const struct repo *r, size_t target,
                      size_t max_blob);
void pack_builder_free(struct pack_builder *pb);
/* Starts a new pack with a fresh random id. */
int pack_reset(struct pack_builder *pb);
/* Where the next blob's sealed bytes go (room for crypt_sealed_bound of max_blob). */
static inline uint8_t *pack_tail(struct pack_builder *pb)
{
    return pb->buf + pb->len;
}
/* Keeps the blob just sealed at pack_tail. 0 or -ENOMEM. */
int pack_commit(struct pack_builder *pb, uint8_t type, const uint8_t id[CRYPT_ID_LEN], size_t slen,
                size_t rlen);
/* Appends the trailer and footer. 0 or -1. After this buf[0..len) is the object. */
int pack_finish(struct pack_builder *pb, const struct repo *r);
static inline int pack_full(const struct pack_builder *pb)
{
    return pb->len >= pb->target;
}

/* Reads a pack's trailer from the store (two ranged GETs at its end). *ents malloc()ed. */
int pack_read_trailer(const struct repo *r, const char *pack_id, uint64_t size,
                      struct pack_entry **ents, size_t *n, char *err, size_t errlen);

void pack_key(const char *pack_id, char *out, size_t cap); /* "packs/<id>" */

#endif
