/* The chunk index: which blob (chunk or segment list, by id) is stored where (pack, offset,
 * lengths), built from the store's index objects and, for packs no index names yet (a ship
 * that crashed before writing its index), from the packs' own trailers.
 *
 * Index object (indexes/<random id>, sealed with the id of its key):
 *   "TNDMIDX1" | npacks u32 | npacks x pack id (16 bytes) | nentries u32 |
 *   nentries x (pack ordinal u32 | pack entry, as in pack.h)
 *
 * Contract: an index is thread-safe (one mutex); lookups and adds are O(1). A pack can be
 * excluded (missing from the store, or condemned by prune): its blobs are then not found, so a
 * ship stores them again rather than rely on them. Errors: negative errno with err. */
#ifndef TANDEM_SHIP_INDEX_H
#define TANDEM_SHIP_INDEX_H

#include "ship/pack.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

enum {
    PACK_LISTED = 1 << 0,    /* seen in the packs/ listing (size, mtime valid) */
    PACK_INDEXED = 1 << 1,   /* named by an index object */
    PACK_RECOVERED = 1 << 2, /* read from its trailer: no index names it yet */
    PACK_EXCLUDED = 1 << 3,  /* its blobs are not to be relied on */
    PACK_NEW = 1 << 4,       /* written by this process */
    PACK_RELIED = 1 << 5,    /* a blob of it was found by a lookup that relies on it */
};

struct blob_loc {
    uint8_t id[CRYPT_ID_LEN];
    uint32_t pack;
    uint32_t off, slen, rlen;
    uint8_t type;
    uint8_t used;
};

struct pack_rec {
    char id[PACK_ID_HEX + 1];
    uint64_t size;
    time_t mtime;
    unsigned flags;
};

struct index {
    pthread_mutex_t mu;
    struct blob_loc *slots;
    size_t cap, n;
    struct pack_rec *packs;
    size_t npacks, packs_cap;
    uint32_t *pslots; /* pack number + 1, by hash of the pack id */
    size_t pcap;
    struct blob_loc *dups; /* more copies of ids already in slots, in other packs */
    size_t ndups, dups_cap;
    char **index_keys; /* the index objects loaded */
    size_t nindex_keys;
};

int index_init(struct index *ix);
void index_free(struct index *ix);

/* The number of pack_id, added if new; UINT32_MAX when out of memory. */
uint32_t index_pack(struct index *ix, const char *pack_id);
/* The number of pack_id, or UINT32_MAX when the index has no such pack. */
uint32_t index_pack_lookup(struct index *ix, const char *pack_id);
/* A copy of pack number no. */
struct pack_rec index_pack_get(struct index *ix, uint32_t no);
void index_pack_flags(struct index *ix, uint32_t no, unsigned set, unsigned clear);

/* After packs were excluded: where a blob's looked-up copy is in an excluded pack and another
 * copy is in one that is not, the latter becomes the one lookups return. index_load calls it. */
void index_promote_dups(struct index *ix);

/* 0 and *out when id is stored in a pack that is not excluded; rely marks that pack RELIED. */
int index_find(struct index *ix, const uint8_t id[CRYPT_ID_LEN], bool rely, struct blob_loc *out);
/* Records a further stored copy of a blob (prune's rewrite). 0 or -ENOMEM. */
int index_add_copy(struct index *ix, const struct blob_loc *loc);
/* 0 added, 1 already stored (in a pack not excluded), -ENOMEM. */
int index_add(struct index *ix, const struct blob_loc *loc);

/* Lists packs/ and loads every index object; with recover, reads the trailers of listed packs
 * that no index names. Packs an index names that are not listed are excluded. */
int index_load(const struct repo *r, struct index *ix, bool recover, int threads, char *err,
               size_t errlen);

/* Writes one index object with every blob of the packs want() selects; *written is its size,
 * 0 when there was nothing to write. The key written goes to key_out (cap >= 64). */
int index_write(const struct repo *r, struct index *ix,
                bool (*want)(const struct pack_rec *p, void *arg), void *arg, char *key_out,
                size_t *written, char *err, size_t errlen);

/* Calls fn for every stored copy of every blob, duplicates in other packs included (a ship that
 * had to store chunks again, or two ships racing, leave them), under the lock: fn must not call
 * back into the index. Lookups return one copy; prune must see them all. */
void index_each(struct index *ix, void (*fn)(const struct blob_loc *b, void *arg), void *arg);

#endif
