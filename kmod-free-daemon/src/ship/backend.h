/* A backup store's object space: s3://BUCKET/PREFIX or file:///DIR, the same key layout in both
 * (keys like "packs/<id>" relative to the prefix or directory).
 *
 * Contract:
 *  - Every call blocks and is thread-safe; callers get parallelism by calling from several
 *    threads (the S3 backend keeps one S3 client per concurrent caller, reused).
 *  - put is atomic: a reader sees the whole object or none (file://: temp file, fsync, rename,
 *    fsync of the directory; S3: a PUT, or a multipart upload above 16 MiB, aborted on failure).
 *  - get of [off, off+len) (len 0: the whole object) into a malloc()ed buffer (*out, *outlen) or
 *    into a caller buffer (get_into, exactly len bytes or an error).
 *  - list calls cb for every key under prefix (relative keys, sizes, modification times).
 *  - Errors: negative errno with one sentence in err: -ENOENT the object (or bucket) does not
 *    exist, -EACCES credentials refused, -EIO anything else. Never a secret in err. */
#ifndef TANDEM_SHIP_BACKEND_H
#define TANDEM_SHIP_BACKEND_H

#include "ship/ship.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct backend;

struct backend_obj {
    const char *key; /* relative to the store's root */
    uint64_t size;
    time_t mtime;
};

struct backend *backend_open(const char *url, const struct ship_store_opts *opts, char *err,
                             size_t errlen);
void backend_close(struct backend *b);
/* "s3://bucket/prefix" or "file:///dir", for messages. */
const char *backend_url(const struct backend *b);

int backend_put(struct backend *b, const char *key, const void *buf, size_t len, char *err,
                size_t errlen);
int backend_get(struct backend *b, const char *key, uint64_t off, uint64_t len, uint8_t **out,
                size_t *outlen, char *err, size_t errlen);
int backend_get_into(struct backend *b, const char *key, uint64_t off, uint64_t len, void *buf,
                     char *err, size_t errlen);
int backend_list(struct backend *b, const char *prefix,
                 int (*cb)(const struct backend_obj *o, void *arg), void *arg, char *err,
                 size_t errlen);
int backend_delete(struct backend *b, const char *const *keys, size_t n, char *err, size_t errlen);

#endif
