/* Sealing blobs: zstd, then AES-256-GCM with a random nonce (96 bits; at most 2^32 blobs per key
 * keeps the collision odds negligible), the blob id as AAD. Ids and keys via OpenSSL HMAC. The
 * zstd contexts are per thread (created once, kept for the thread's life), so the hot path does
 * not allocate. */
#include "ship/crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* Per-thread zstd contexts, freed by a thread-specific-data destructor when the thread ends. */
struct zctx {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
};
static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;

static void zctx_free(void *p)
{
    struct zctx *z = p;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    free(z);
}

static void zkey_make(void)
{
    pthread_key_create(&zkey, zctx_free);
}

static struct zctx *zctx_get(void)
{
    pthread_once(&zonce, zkey_make);
    struct zctx *z = pthread_getspecific(zkey);
    if (!z) {
        z = calloc(1, sizeof(*z));
        if (!z)
            return NULL;
        z->c = ZSTD_createCCtx();
        z->d = ZSTD_createDCtx();
        if (!z->c || !z->d || pthread_setspecific(zkey, z) != 0) {
            zctx_free(z);
            return NULL;
        }
    }
    return z;
}

static void derive(const uint8_t *key, size_t keylen, const char *label, const uint8_t *salt,
                   uint8_t out[32])
{
    uint8_t msg[64 + CRYPT_SALT_LEN];
    size_t l = strlen(label);
    memcpy(msg, label, l);
    memcpy(msg + l, salt, CRYPT_SALT_LEN);
    unsigned int outl = 32;
    HMAC(EVP_sha256(), key, (int)keylen, msg, l + CRYPT_SALT_LEN, out, &outl);
}

int crypt_init(struct crypt *c, const uint8_t *key, size_t keylen, const uint8_t *salt,
               int zstd_level)
{
    memset(c, 0, sizeof(*c));
    c->zstd_level = zstd_level;
    if (!key || !keylen)
        return 0;
    c->encrypted = true;
    derive(key, keylen, "tandem-store v1 aes-256-gcm", salt, c->enc_key);
    derive(key, keylen, "tandem-store v1 chunk-id", salt, c->id_key);
    derive(key, keylen, "tandem-store v1 key-check", salt, c->check);
    return 0;
}

void crypt_wipe(struct crypt *c)
{
    OPENSSL_cleanse(c, sizeof(*c));
}

int crypt_read_key_file(const char *path, uint8_t *key, size_t cap, size_t *len, char *err,
                        size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "encryption key file %s: %s", path, strerror(e));
        return -e;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, key + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap)
            break;
    }
    close(fd);
    if (n < 16 || n >= cap) {
        OPENSSL_cleanse(key, cap);
        snprintf(err, errlen, "encryption key file %s: needs 16 to %zu bytes, has %s", path,
                 cap - 1, n < 16 ? "fewer" : "more");
        return -EINVAL;
    }
    *len = n;
    return 0;
}

void crypt_id(const struct crypt *c, const void *data, size_t len, uint8_t id[CRYPT_ID_LEN])
{
    if (c->encrypted) {
        unsigned int outl = CRYPT_ID_LEN;
        HMAC(EVP_sha256(), c->id_key, 32, data, len, id, &outl);
    } else {
        SHA256(data, len, id);
    }
}

size_t crypt_sealed_bound(const struct crypt *c, size_t len)
{
    size_t b = 1 + ZSTD_compressBound(len);
    return c->encrypted ? b + CRYPT_NONCE_LEN + CRYPT_TAG_LEN : b;
}

static size_t compress_into(const struct crypt *c, const void *data, size_t len, bool compress,
                            uint8_t *out)
{
    /* Below 1/16 saved, storing raw keeps restore's CPU for the data that compresses. */
    if (compress && len >= 512) {
        struct zctx *zc = zctx_get();
        if (zc) {
            size_t z = ZSTD_compressCCtx(zc->c, out + 1, ZSTD_compressBound(len), data, len,
                                         c->zstd_level);
            if (!ZSTD_isError(z) && z < len - len / 16) {
                out[0] = CRYPT_MODE_ZSTD;
                return z + 1;
            }
        }
    }
    out[0] = CRYPT_MODE_RAW;
    memcpy(out + 1, data, len);
    return len + 1;
}

size_t crypt_seal(const struct crypt *c, const uint8_t id[CRYPT_ID_LEN], const void *data,
                  size_t len, bool compress, uint8_t *out)
{
    if (!c->encrypted)
        return compress_into(c, data, len, compress, out);
    uint8_t *nonce = out, *body = out + CRYPT_NONCE_LEN;
    size_t plen = compress_into(c, data, len, compress, body);
    if (RAND_bytes(nonce, CRYPT_NONCE_LEN) != 1)
        return 0;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int ok = x && EVP_EncryptInit_ex(x, EVP_aes_256_gcm(), NULL, c->enc_key, nonce) == 1;
    int l = 0, l2 = 0;
    ok = ok && EVP_EncryptUpdate(x, NULL, &l, id, CRYPT_ID_LEN) == 1;
    ok = ok && EVP_EncryptUpdate(x, body, &l, body, (int)plen) == 1;
    ok = ok && EVP_EncryptFinal_ex(x, body + l, &l2) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_GET_TAG, CRYPT_TAG_LEN, body + plen) == 1;
    EVP_CIPHER_CTX_free(x);
    return ok ? CRYPT_NONCE_LEN + plen + CRYPT_TAG_LEN : 0;
}

/* Decrypts in place (encrypted stores) and finds the mode byte and payload. 0 or -1. */
static int unseal(const struct crypt *c, const uint8_t id[CRYPT_ID_LEN], uint8_t *sealed,
                  size_t sealed_len, uint8_t **payload, size_t *plen)
{
    uint8_t *p = sealed;
    size_t n = sealed_len;
    if (c->encrypted) {
        if (sealed_len < CRYPT_NONCE_LEN + 1 + CRYPT_TAG_LEN)
            return -1;
        n = sealed_len - CRYPT_NONCE_LEN - CRYPT_TAG_LEN;
        p = sealed + CRYPT_NONCE_LEN;
        EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
        int l = 0, l2 = 0;
        int ok = x && EVP_DecryptInit_ex(x, EVP_aes_256_gcm(), NULL, c->enc_key, sealed) == 1;
        ok = ok && EVP_DecryptUpdate(x, NULL, &l, id, CRYPT_ID_LEN) == 1;
        ok = ok && EVP_DecryptUpdate(x, p, &l, p, (int)n) == 1;
        ok = ok && EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_GCM_SET_TAG, CRYPT_TAG_LEN, p + n) == 1;
        ok = ok && EVP_DecryptFinal_ex(x, p + l, &l2) == 1;
        EVP_CIPHER_CTX_free(x);
        if (!ok)
            return -1;
    }
    if (n < 1 || (p[0] != CRYPT_MODE_RAW && p[0] != CRYPT_MODE_ZSTD))
        return -1;
    *payload = p;
    *plen = n;
    return 0;
}

static int expand(const uint8_t *p, size_t plen, uint8_t *out, size_t cap, size_t *outlen)
{
    if (p[0] == CRYPT_MODE_RAW) {
        if (plen - 1 > cap)
            return -1;
        memcpy(out, p + 1, plen - 1);
        *outlen = plen - 1;
        return 0;
    }
    struct zctx *zc = zctx_get();
    if (!zc)
        return -1;
    size_t n = ZSTD_decompressDCtx(zc->d, out, cap, p + 1, plen - 1);
    if (ZSTD_isError(n))
        return -1;
    *outlen = n;
    return 0;
}

int crypt_open(const struct crypt *c, const uint8_t id[CRYPT_ID_LEN], uint8_t *sealed,
               size_t sealed_len, uint8_t *out, size_t cap, size_t *outlen)
{
    uint8_t *p;
    size_t plen;
    if (unseal(c, id, sealed, sealed_len, &p, &plen) != 0)
        return -1;
    return expand(p, plen, out, cap, outlen);
}

int crypt_open_alloc(const struct crypt *c, const uint8_t id[CRYPT_ID_LEN], uint8_t *sealed,
                     size_t sealed_len, size_t max, uint8_t **out, size_t *outlen)
{
    uint8_t *p;
    size_t plen;
    if (unseal(c, id, sealed, sealed_len, &p, &plen) != 0)
        return -1;
    unsigned long long size = plen - 1;
    if (p[0] == CRYPT_MODE_ZSTD) {
        size = ZSTD_getFrameContentSize(p + 1, plen - 1);
        if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
            return -1;
    }
    if (size > max)
        return -1;
    uint8_t *b = malloc(size + 1);
    if (!b)
        return -1;
    if (expand(p, plen, b, size, outlen) != 0) {
        free(b);
        return -1;
    }
    b[*outlen] = '\0';
    *out = b;
    return 0;
}

bool crypt_all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    if (n == 0)
        return true;
    /* The first byte is zero and every byte equals the one 1 later: all are zero. */
    return b[0] == 0 && memcmp(b, b + 1, n - 1) == 0;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int h = hexval(in[2 * i]), l = h < 0 ? -1 : hexval(in[2 * i + 1]);
        if (h < 0 || l < 0)
            return -1;
        out[i] = (uint8_t)(h << 4 | l);
    }
    return in[2 * n] == '\0' ? 0 : -1;
}
