/* Content ids, compression and client-side encryption of everything stored in a backup store.
 *
 * A blob (a chunk of the image, a segment's chunk list, a pack's trailer, an index, an encrypted
 * manifest) is stored "sealed":
 *   plaintext store:  [mode u8][payload]                     mode 0: raw, 1: zstd
 *   encrypted store:  [nonce 12][AES-256-GCM([mode u8][payload])][tag 16], AAD = the blob's id
 * so a blob moved to another id, truncated or flipped fails to open. Ids are SHA-256 of the
 * plaintext, or HMAC-SHA256 with the store's id key when encrypted (names reveal nothing).
 * Keys: the key file's bytes are the master secret; enc and id keys are HMAC-SHA256(master,
 * label || salt) with the salt from tandem-store.json, and a key check value lets a wrong key be
 * told apart from corruption (proto/backup-store.md).
 *
 * Contract: a struct crypt is immutable after crypt_init and shared by threads; every function
 * is thread-safe. Seal/open never allocate except a thread's zstd context (cached per thread).
 * Errors: -1 (open: corrupt, truncated, wrong key), no partial output promised. */
#ifndef TANDEM_SHIP_CRYPT_H
#define TANDEM_SHIP_CRYPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPT_ID_LEN    32
#define CRYPT_SALT_LEN  16
#define CRYPT_NONCE_LEN 12
#define CRYPT_TAG_LEN   16
#define CRYPT_MODE_RAW  0
#define CRYPT_MODE_ZSTD 1

struct crypt {
    bool encrypted;
    int zstd_level;
    uint8_t enc_key[32];
    uint8_t id_key[32];
    uint8_t check[32]; /* the key check value recorded in tandem-store.json */
};

/* Plain (no key) when key/keylen is NULL/0; else derives the keys from key and salt. */
int crypt_init(struct crypt *c, const uint8_t *key, size_t keylen, const uint8_t *salt,
               int zstd_level);
void crypt_wipe(struct crypt *c);

/* Reads a key file (at least 16 bytes, at most 4096; used as is). 0, or -errno with err. */
int crypt_read_key_file(const char *path, uint8_t *key, size_t cap, size_t *len, char *err,
                        size_t errlen);

/* The id of a plaintext. */
void crypt_id(const struct crypt *c, const void *data, size_t len, uint8_t id[CRYPT_ID_LEN]);

/* The most a sealed blob of len plaintext bytes can take. */
size_t crypt_sealed_bound(const struct crypt *c, size_t len);

/* Seals data into out (capacity crypt_sealed_bound). Compresses when compress and it helps.
 * Returns the sealed length, or 0 on failure. */
size_t crypt_seal(const struct crypt *c, const uint8_t id[CRYPT_ID_LEN], const void *data,
                  size_t len, bool compress, uint8_t *out);

/* Opens a sealed blob into out (capacity cap). *outlen = plaintext length. May decrypt in place
 * in sealed (it is modified). 0, or -1: corrupt, wrong key, or larger than cap. */
int crypt_open(const struct crypt *c, const uint8_t id[CRYPT_ID_LEN], uint8_t *sealed,
               size_t sealed_len, uint8_t *out, size_t cap, size_t *outlen);

/* As crypt_open, into a malloc()ed buffer (NUL-terminated) of at most max bytes. */
int crypt_open_alloc(const struct crypt *c, const uint8_t id[CRYPT_ID_LEN], uint8_t *sealed,
                     size_t sealed_len, size_t max, uint8_t **out, size_t *outlen);

/* 1 when every byte of p[0..n) is zero. */
bool crypt_all_zero(const void *p, size_t n);

void hex_encode(const uint8_t *in, size_t n, char *out); /* out: 2n+1 bytes */
int hex_decode(const char *in, uint8_t *out, size_t n);  /* exactly 2n hex digits; 0 or -1 */

#endif
