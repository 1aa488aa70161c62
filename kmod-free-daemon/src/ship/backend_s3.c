/* s3://BUCKET/PREFIX through the project's S3 client. An S3 client is driven by one thread at a
 * time, so this backend keeps a small pool: a caller takes an idle client (or makes one), runs
 * its request to completion on it (retries, backoff, multipart inside), and puts it back. The
 * clients share one credentials provider, which is thread-safe. Payloads are hashed on the
 * calling thread (hash_threads -1): the callers are already one thread per transfer. */
#include "ship/backend_impl.h"

#include "s3/s3_ops.h"
#include "s3/s3_transfer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 64

struct s3_backend {
    struct backend base;
    char bucket[64];
    char prefix[512]; /* "" or ending in '/' */
    struct s3_client_config cfg;
    char endpoint[512], region[64];
    struct s3_creds_provider *creds;
    pthread_mutex_t mu;
    struct s3_client *idle[POOL_MAX];
    int nidle;
};

static struct s3_client *take(struct s3_backend *s, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    struct s3_client *c = s->nidle ? s->idle[--s->nidle] : NULL;
    pthread_mutex_unlock(&s->mu);
    if (c)
        return c;
    struct s3_error e;
    s3_error_clear(&e);
    c = s3_client_new(&s->cfg, s->creds, &e);
    if (!c) {
        char buf[1200];
        snprintf(err, errlen, "%s", s3_error_str(&e, buf, sizeof(buf)));
    }
    return c;
}

static void give(struct s3_backend *s, struct s3_client *c)
{
    pthread_mutex_lock(&s->mu);
    if (s->nidle < POOL_MAX) {
        s->idle[s->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    if (c)
        s3_client_free(c);
}

static int errno_of(const struct s3_error *e)
{
    if (e->http_status == 404)
        return -ENOENT;
    if (e->http_status == 403 || e->http_status == 401)
        return -EACCES;
    return -EIO;
}

static int fail(const struct s3_error *e, char *err, size_t errlen)
{
    char buf[1200];
    s3_error_str(e, buf, sizeof(buf));
    if (e->http_status == 403 && (strstr(e->code, "Signature") || strstr(e->code, "AccessDenied") ||
                                  strstr(e->code, "InvalidAccessKeyId")))
        snprintf(err, errlen, "%s [the store refused the credentials]", buf);
    else
        snprintf(err, errlen, "%s", buf);
    return errno_of(e);
}

static void full_key(struct s3_backend *s, const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", s->prefix, key);
}

static int s3b_put(struct backend *b, const char *key, const void *buf, size_t len, char *err,
                   size_t errlen)
{
    struct s3_backend *s = (struct s3_backend *)b;
    struct s3_client *c = take(s, err, errlen);
    if (!c)
        return -EIO;
    char k[1024];
    full_key(s, key, k, sizeof(k));
    struct s3_src src = {.kind = S3_SRC_MEM, .mem = buf, .len = len};
    struct s3_xfer_opts xo = {0};
    struct s3_error e;
    s3_error_clear(&e);
    int rc = s3_upload(c, s->bucket, k, &src, &xo, &e) == 0 ? 0 : fail(&e, err, errlen);
    give(s, c);
    return rc;
}

static int s3b_get(struct backend *b, const char *key, uint64_t off, uint64_t len, void *buf,
                   uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
    struct s3_backend *s = (struct s3_backend *)b;
    struct s3_client *c = take(s, err, errlen);
    if (!c)
        return -EIO;
    char k[1024];
    full_key(s, key, k, sizeof(k));
    struct s3_sink sink = {.kind = S3_SINK_MEM};
    if (buf)
        sink = (struct s3_sink){.kind = S3_SINK_BUF, .buf = buf, .cap = len};
    struct s3_req *r = s3_op_get(s->bucket, k, &sink, off, len);
    int rc = 0;
    if (!r) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    } else if (s3_run_one(c, r) != 0) {
        rc = fail(&r->err, err, errlen);
    } else if (buf && r->sink_written != len) {
        snprintf(err, errlen, "GetObject s3://%s/%s: %llu of %llu bytes", s->bucket, k,
                 (unsigned long long)r->sink_written, (unsigned long long)len);
        rc = -EIO;
    } else if (!buf) {
        *outlen = r->body_len;
        *out = (uint8_t *)r->body;
        r->body = NULL; /* ours now; the engine keeps a NUL after it */
        if (!*out) {
            *out = calloc(1, 1);
            if (!*out)
                rc = -ENOMEM;
        }
    }
    s3_req_free(r);
    give(s, c);
    return rc;
}

static time_t parse_time(const char *iso)
{
    struct tm tm = {0};
    if (!strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return timegm(&tm);
}

struct list_ctx {
    struct s3_backend *s;
    int (*cb)(const struct backend_obj *, void *);
    void *arg;
};

static int list_one(const struct s3_object_info *o, void *arg)
{
    struct list_ctx *l = arg;
    size_t pl = strlen(l->s->prefix);
    if (strncmp(o->key, l->s->prefix, pl) != 0)
        return 0;
    struct backend_obj bo = {
        .key = o->key + pl, .size = o->size, .mtime = parse_time(o->last_modified)};
    return l->cb(&bo, l->arg);
}

static int s3b_list(struct backend *b, const char *prefix,
                    int (*cb)(const struct backend_obj *o, void *arg), void *arg, char *err,
                    size_t errlen)
{
    struct s3_backend *s = (struct s3_backend *)b;
    struct s3_client *c = take(s, err, errlen);
    if (!c)
        return -EIO;
    char p[1024];
    full_key(s, prefix, p, sizeof(p));
    struct list_ctx l = {s, cb, arg};
    struct s3_error e;
    s3_error_clear(&e);
    int rc =
        s3_list_all(c, s->bucket, p, 0, list_one, &l, NULL, &e) == 0 ? 0 : fail(&e, err, errlen);
    give(s, c);
    return rc;
}

static int s3b_del(struct backend *b, const char *const *keys, size_t n, char *err, size_t errlen)
{
    struct s3_backend *s = (struct s3_backend *)b;
    char **full = calloc(n, sizeof(*full));
    if (!full)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t l = strlen(s->prefix) + strlen(keys[i]) + 1;
        full[i] = malloc(l);
        if (!full[i])
            rc = -ENOMEM;
        else
            full_key(s, keys[i], full[i], l);
    }
    struct s3_client *c = rc ? NULL : take(s, err, errlen);
    if (c) {
        struct s3_error e;
        s3_error_clear(&e);
        if (s3_delete_many(c, s->bucket, (const char *const *)full, n, &e) != 0)
            rc = fail(&e, err, errlen);
        give(s, c);
    } else if (rc == 0) {
        rc = -EIO;
    }
    for (size_t i = 0; i < n; i++)
        free(full[i]);
    free(full);
    return rc;
}

static void s3b_close(struct backend *b)
{
    struct s3_backend *s = (struct s3_backend *)b;
    for (int i = 0; i < s->nidle; i++)
        s3_client_free(s->idle[i]);
    s3_creds_provider_free(s->creds);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const struct backend_ops s3_ops = {s3b_put, s3b_get, s3b_list, s3b_del, s3b_close};

struct backend *backend_s3_open(const char *bucket, const char *prefix,
                                const struct ship_store_opts *opts, char *err, size_t errlen)
{
    struct s3_backend *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &s3_ops;
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->bucket, sizeof(s->bucket), "%s", bucket);
    size_t pl = strlen(prefix);
    snprintf(s->prefix, sizeof(s->prefix), "%s%s", prefix, pl && prefix[pl - 1] != '/' ? "/" : "");
    if (opts->endpoint)
        snprintf(s->endpoint, sizeof(s->endpoint), "%s", opts->endpoint);
    if (opts->region)
        snprintf(s->region, sizeof(s->region), "%s", opts->region);
    s->cfg.endpoint = opts->endpoint ? s->endpoint : NULL;
    s->cfg.region = opts->region ? s->region : NULL;
    /* One big object at a time per client: its parts share this many connections. */
    s->cfg.parallel = opts->parallel > 0 ? opts->parallel : 8;
    s->cfg.hash_threads = -1;
    s->creds = opts->access_key && opts->secret_key
                   ? s3_creds_static_new(opts->access_key, opts->secret_key, opts->session_token)
                   : s3_creds_chain_new(NULL);
    if (!s->creds) {
        snprintf(err, errlen, "out of memory");
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    /* A client now, so a bad endpoint or region fails at open. */
    struct s3_client *c = take(s, err, errlen);
    if (!c) {
        s3b_close(&s->base);
        return NULL;
    }
    give(s, c);
    return &s->base;
}
