/* tandem-store.json: the store's format version and parameters, written once by the first ship.
 * Two first ships at once may both write it; each re-reads after writing and adopts what is
 * stored, before it stores anything else, so at worst one of them starts a moment later. */
#include "ship/repo.h"

#include "ship/json_field.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int load_key(const struct ship_store_opts *o, uint8_t *key, size_t cap, size_t *len,
                    char *err, size_t errlen)
{
    *len = 0;
    if (!o->encrypt_key_file || !*o->encrypt_key_file)
        return 0;
    return crypt_read_key_file(o->encrypt_key_file, key, cap, len, err, errlen);
}

static int write_config(struct repo *r, bool encrypted, const uint8_t *key, size_t keylen,
                        char *err, size_t errlen)
{
    uint8_t salt[CRYPT_SALT_LEN];
    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        snprintf(err, errlen, "no random bytes for the store's salt");
        return -EIO;
    }
    struct crypt c;
    crypt_init(&c, encrypted ? key : NULL, keylen, salt, 1);
    char salt_hex[2 * CRYPT_SALT_LEN + 1], check_hex[65];
    hex_encode(salt, sizeof(salt), salt_hex);
    hex_encode(c.check, 32, check_hex);
    crypt_wipe(&c);
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "format", json_object_new_string("tandem-backup-store"));
    json_object_object_add(j, "version", json_object_new_int(STORE_FORMAT_VERSION));
    json_object_object_add(j, "chunk_size", json_object_new_int64(DEFAULT_CHUNK_SIZE));
    json_object_object_add(j, "segment_size", json_object_new_int64(DEFAULT_SEGMENT_SIZE));
    json_object_object_add(j, "compression", json_object_new_string("zstd"));
    json_object_object_add(j, "encryption",
                           json_object_new_string(encrypted ? "aes-256-gcm" : "none"));
    json_object_object_add(j, "salt", json_object_new_string(salt_hex));
    if (encrypted)
        json_object_object_add(j, "key_check", json_object_new_string(check_hex));
    json_object_object_add(j, "created", json_object_new_int64((int64_t)time(NULL)));
    const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY);
    int rc = backend_put(r->be, STORE_CONFIG_KEY, text, strlen(text), err, errlen);
    json_object_put(j);
    return rc;
}

static int parse_config(struct repo *r, const char *text, const uint8_t *key, size_t keylen,
                        char *err, size_t errlen)
{
    const char *url = backend_url(r->be);
    struct json_object *j = json_tokener_parse(text);
    const char *fmt = j ? json_field_str(j, "format", NULL) : NULL;
    if (!fmt || strcmp(fmt, "tandem-backup-store") != 0) {
        snprintf(err, errlen, "%s: %s is not a tandem backup store description", url,
                 STORE_CONFIG_KEY);
        json_object_put(j);
        return -EINVAL;
    }
    int rc = 0;
    int64_t ver = json_field_i64(j, "version", -1), cs = json_field_i64(j, "chunk_size", -1),
            ss = json_field_i64(j, "segment_size", -1);
    const char *enc = json_field_str(j, "encryption", NULL),
               *salt_hex = json_field_str(j, "salt", NULL);
    const char *check_hex = json_field_str(j, "key_check", NULL);
    uint8_t salt[CRYPT_SALT_LEN], check[32];
    if (ver != STORE_FORMAT_VERSION) {
        snprintf(err, errlen, "%s: store format version %lld; this tool reads version %d", url,
                 (long long)ver, STORE_FORMAT_VERSION);
        rc = -EPROTONOSUPPORT;
    } else if (cs < 4096 || cs > (1 << 20) || (cs & (cs - 1)) || ss < cs || ss % cs ||
               ss / cs > (1 << 16) || !enc || !salt_hex ||
               hex_decode(salt_hex, salt, sizeof(salt)) != 0) {
        snprintf(err, errlen, "%s: %s has invalid parameters", url, STORE_CONFIG_KEY);
        rc = -EINVAL;
    } else if (strcmp(enc, "aes-256-gcm") == 0) {
        if (!keylen) {
            snprintf(err, errlen,
                     "%s: the store is encrypted; pass its key with --encrypt-key-file", url);
            rc = -ENOKEY;
        } else if (!check_hex || hex_decode(check_hex, check, 32) != 0) {
            snprintf(err, errlen, "%s: %s has no valid key_check", url, STORE_CONFIG_KEY);
            rc = -EINVAL;
        } else {
            crypt_init(&r->crypt, key, keylen, salt, 1);
            if (CRYPTO_memcmp(r->crypt.check, check, 32) != 0) {
                snprintf(err, errlen,
                         "%s: wrong encryption key (its check value does not match the store's)",
                         url);
                rc = -EKEYREJECTED;
            }
        }
    } else if (strcmp(enc, "none") == 0) {
        if (keylen) {
            snprintf(err, errlen, "%s: the store is not encrypted, but an encryption key was given",
                     url);
            rc = -EINVAL;
        } else {
            crypt_init(&r->crypt, NULL, 0, salt, 1);
        }
    } else {
        snprintf(err, errlen, "%s: unknown encryption \"%s\"", url, enc);
        rc = -EPROTONOSUPPORT;
    }
    r->chunk_size = (uint32_t)cs;
    r->segment_size = (uint64_t)ss;
    json_object_put(j);
    return rc;
}

int repo_open(struct repo *r, const char *url, const struct ship_store_opts *opts, bool create,
              char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->parallel = opts->parallel > 0 ? opts->parallel : 8;
    uint8_t key[4096];
    size_t keylen = 0;
    int rc = load_key(opts, key, sizeof(key), &keylen, err, errlen);
    if (rc)
        return rc;
    r->be = backend_open(url, opts, err, errlen);
    if (!r->be) {
        OPENSSL_cleanse(key, sizeof(key));
        return -EIO;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        uint8_t *text = NULL;
        size_t len = 0;
        rc = backend_get(r->be, STORE_CONFIG_KEY, 0, 0, &text, &len, err, errlen);
        if (rc == 0) {
            rc = parse_config(r, (const char *)text, key, keylen, err, errlen);
            free(text);
            break;
        }
        if (rc != -ENOENT)
            break;
        if (!create || attempt) {
            if (strstr(err, "NoSuchBucket"))
                break;
            snprintf(err, errlen, "%s: no backup store here (%s is missing)", url,
                     STORE_CONFIG_KEY);
            break;
        }
        rc = write_config(r, keylen > 0, key, keylen, err, errlen);
        if (rc)
            break;
    }
    OPENSSL_cleanse(key, sizeof(key));
    if (rc) {
        backend_close(r->be);
        r->be = NULL;
    }
    return rc;
}

void repo_close(struct repo *r)
{
    backend_close(r->be);
    crypt_wipe(&r->crypt);
    r->be = NULL;
}

void repo_name_id(const struct repo *r, const char *name, uint8_t id[CRYPT_ID_LEN])
{
    crypt_id(&r->crypt, name, strlen(name), id);
}

uint8_t *repo_seal_named(const struct repo *r, const char *name, const void *data, size_t len,
                         bool compress, size_t *outlen)
{
    uint8_t id[CRYPT_ID_LEN];
    repo_name_id(r, name, id);
    uint8_t *out = malloc(crypt_sealed_bound(&r->crypt, len));
    if (!out)
        return NULL;
    *outlen = crypt_seal(&r->crypt, id, data, len, compress, out);
    if (!*outlen) {
        free(out);
        return NULL;
    }
    return out;
}

int repo_open_named(const struct repo *r, const char *name, uint8_t *sealed, size_t len,
                    size_t max_plain, uint8_t **out, size_t *outlen)
{
    uint8_t id[CRYPT_ID_LEN];
    repo_name_id(r, name, id);
    return crypt_open_alloc(&r->crypt, id, sealed, len, max_plain, out, outlen);
}

bool repo_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}
