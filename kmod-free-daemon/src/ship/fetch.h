/* Reading single blobs back by id: the index gives pack and range, one ranged GET fetches the
 * sealed bytes, they are opened and checked against the id.
 *
 * Contract: thread-safe; scratch must hold the sealed blob (crypt_sealed_bound of the largest
 * plaintext), out the plaintext. 0, -ENOENT (no such blob in the index), -EBADMSG (the stored
 * blob does not open or does not hash to its id; err names it), or a store error. */
#ifndef TANDEM_SHIP_FETCH_H
#define TANDEM_SHIP_FETCH_H

#include "ship/index.h"
#include "ship/segment.h"

int blob_read(const struct repo *r, struct index *ix, const uint8_t id[CRYPT_ID_LEN],
              uint8_t *scratch, size_t scratch_cap, uint8_t *out, size_t cap, size_t *outlen,
              char *err, size_t errlen);

/* Opens a blob fetched from loc into out and checks its id. 0 or -EBADMSG with err. */
int blob_open_checked(const struct repo *r, const struct blob_loc *loc, const char *pack_id,
                      uint8_t *sealed, uint8_t *out, size_t cap, size_t *outlen, char *err,
                      size_t errlen);

/* The chunk ids of segment segid (nchunks of them) into ids. A zero segid gives holes. */
int segment_load(const struct repo *r, struct index *ix, const uint8_t segid[CRYPT_ID_LEN],
                 uint32_t nchunks, blob_id *ids, char *err, size_t errlen);

#endif
