#include "ship/segment.h"

#include "util/bytebuf.h"

#include <openssl/evp.h>
#include <string.h>

void segment_encode(uint32_t chunk_size, uint32_t nchunks, const blob_id *ids, uint8_t *out)
{
    memcpy(out, SEG_MAGIC, 8);
    put_be32(out + 8, chunk_size);
    put_be32(out + 12, nchunks);
    memcpy(out + SEG_HEADER_LEN, ids, (size_t)nchunks * CRYPT_ID_LEN);
}

int segment_decode(const uint8_t *p, size_t len, uint32_t chunk_size, uint32_t nchunks,
                   blob_id *ids)
{
    if (len != segment_list_len(nchunks) || memcmp(p, SEG_MAGIC, 8) != 0 ||
        get_be32(p + 8) != chunk_size || get_be32(p + 12) != nchunks)
        return -1;
    memcpy(ids, p + SEG_HEADER_LEN, (size_t)nchunks * CRYPT_ID_LEN);
    return 0;
}

int blob_id_zero(const uint8_t *id)
{
    static const uint8_t z[CRYPT_ID_LEN];
    return memcmp(id, z, CRYPT_ID_LEN) == 0;
}

void image_tree_hash(uint64_t size, uint32_t chunk_size, uint64_t segment_size, const blob_id *segs,
                     uint64_t nseg, uint8_t out[32])
{
    uint8_t hdr[15 + 8 + 4 + 8];
    memcpy(hdr, "tandem-image-v1", 15);
    put_be64(hdr + 15, size);
    put_be32(hdr + 23, chunk_size);
    put_be64(hdr + 27, segment_size);
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    unsigned int l = 32;
    EVP_DigestInit_ex(x, EVP_sha256(), NULL);
    EVP_DigestUpdate(x, hdr, sizeof(hdr));
    EVP_DigestUpdate(x, segs, (size_t)nseg * CRYPT_ID_LEN);
    EVP_DigestFinal_ex(x, out, &l);
    EVP_MD_CTX_free(x);
}
