#include "ship/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int blob_open_checked(const struct repo *r, const struct blob_loc *loc, const char *pack_id,
                      uint8_t *sealed, uint8_t *out, size_t cap, size_t *outlen, char *err,
                      size_t errlen)
{
    char hex[65];
    uint8_t got[CRYPT_ID_LEN];
    if (crypt_open(&r->crypt, loc->id, sealed, loc->slen, out, cap, outlen) == 0 &&
        *outlen == loc->rlen) {
        crypt_id(&r->crypt, out, *outlen, got);
        if (memcmp(got, loc->id, CRYPT_ID_LEN) == 0)
            return 0;
    }
    hex_encode(loc->id, CRYPT_ID_LEN, hex);
    snprintf(err, errlen, "%s %s (pack %s, offset %u, %u bytes) is corrupt: %s",
             loc->type == BLOB_SEGMENT ? "segment list" : "chunk", hex, pack_id, loc->off,
             loc->slen,
             r->crypt.encrypted ? "it does not decrypt or does not match its id"
                                : "its content does not match its hash");
    return -EBADMSG;
}

int blob_read(const struct repo *r, struct index *ix, const uint8_t id[CRYPT_ID_LEN],
              uint8_t *scratch, size_t scratch_cap, uint8_t *out, size_t cap, size_t *outlen,
              char *err, size_t errlen)
{
    struct blob_loc loc;
    char hex[65];
    if (index_find(ix, id, false, &loc) != 0) {
        hex_encode(id, CRYPT_ID_LEN, hex);
        snprintf(err, errlen, "blob %s is in no index of the store", hex);
        return -ENOENT;
    }
    struct pack_rec p = index_pack_get(ix, loc.pack);
    if (loc.slen > scratch_cap) {
        snprintf(err, errlen, "pack %s: blob of %u bytes is larger than any valid one", p.id,
                 loc.slen);
        return -EBADMSG;
    }
    char key[64];
    pack_key(p.id, key, sizeof(key));
    int rc = backend_get_into(r->be, key, loc.off, loc.slen, scratch, err, errlen);
    if (rc)
        return rc;
    return blob_open_checked(r, &loc, p.id, scratch, out, cap, outlen, err, errlen);
}

int segment_load(const struct repo *r, struct index *ix, const uint8_t segid[CRYPT_ID_LEN],
                 uint32_t nchunks, blob_id *ids, char *err, size_t errlen)
{
    if (blob_id_zero(segid)) {
        memset(ids, 0, (size_t)nchunks * CRYPT_ID_LEN);
        return 0;
    }
    size_t plen = segment_list_len(nchunks), cap = crypt_sealed_bound(&r->crypt, plen), got = 0;
    uint8_t *scratch = malloc(cap), *plain = malloc(plen);
    int rc = scratch && plain ? 0 : -ENOMEM;
    if (rc == 0)
        rc = blob_read(r, ix, segid, scratch, cap, plain, plen, &got, err, errlen);
    if (rc == 0 && segment_decode(plain, got, r->chunk_size, nchunks, ids) != 0) {
        char hex[65];
        hex_encode(segid, CRYPT_ID_LEN, hex);
        snprintf(err, errlen, "segment list %s is not a list of %u chunks", hex, nchunks);
        rc = -EBADMSG;
    }
    free(scratch);
    free(plain);
    return rc;
}
