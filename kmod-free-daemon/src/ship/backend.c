/* Picks the backend from the URL scheme and forwards calls to it. */
#include "ship/backend_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct backend *backend_open(const char *url, const struct ship_store_opts *opts, char *err,
                             size_t errlen)
{
    struct backend *b = NULL;
    if (strncmp(url, "file://", 7) == 0) {
        if (url[7] != '/') {
            snprintf(err, errlen, "%s: a file:// store needs an absolute path (file:///DIR)", url);
            return NULL;
        }
        b = backend_file_open(url + 7, err, errlen);
    } else if (strncmp(url, "s3://", 5) == 0) {
        char bucket[64];
        const char *s = url + 5, *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        if (n == 0 || n >= sizeof(bucket)) {
            snprintf(err, errlen, "%s: expected s3://BUCKET[/PREFIX]", url);
            return NULL;
        }
        memcpy(bucket, s, n);
        bucket[n] = '\0';
        b = backend_s3_open(bucket, slash ? slash + 1 : "", opts, err, errlen);
    } else {
        snprintf(err, errlen, "%s: a store URL is s3://BUCKET/PREFIX or file:///DIR", url);
        return NULL;
    }
    if (b)
        snprintf(b->url, sizeof(b->url), "%s", url);
    return b;
}

void backend_close(struct backend *b)
{
    if (b)
        b->ops->close(b);
}

const char *backend_url(const struct backend *b)
{
    return b->url;
}

int backend_put(struct backend *b, const char *key, const void *buf, size_t len, char *err,
                size_t errlen)
{
    return b->ops->put(b, key, buf, len, err, errlen);
}

int backend_get(struct backend *b, const char *key, uint64_t off, uint64_t len, uint8_t **out,
                size_t *outlen, char *err, size_t errlen)
{
    return b->ops->get(b, key, off, len, NULL, out, outlen, err, errlen);
}

int backend_get_into(struct backend *b, const char *key, uint64_t off, uint64_t len, void *buf,
                     char *err, size_t errlen)
{
    if (len == 0)
        return 0;
    return b->ops->get(b, key, off, len, buf, NULL, NULL, err, errlen);
}

int backend_list(struct backend *b, const char *prefix,
                 int (*cb)(const struct backend_obj *o, void *arg), void *arg, char *err,
                 size_t errlen)
{
    return b->ops->list(b, prefix, cb, arg, err, errlen);
}

int backend_delete(struct backend *b, const char *const *keys, size_t n, char *err, size_t errlen)
{
    return n ? b->ops->del(b, keys, n, err, errlen) : 0;
}
