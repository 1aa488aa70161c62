/* Upload and download state machines. Each keeps at most `window` part requests alive, so a
 * 10,000-part object costs 10,000 ETags (80 bytes each), not 10,000 live requests. */
#include "s3/s3_transfer.h"

#include "s3/s3_ops.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_AUTO_PART     (8ull << 20)
#define MAX_AUTO_PART     (64ull << 20)
#define DEFAULT_THRESHOLD (16ull << 20)
#define MAX_PARTS         10000
#define WAVES             4 /* auto part size: about this many parts per connection */

/* The part size when the caller set none: 8 MiB, grown for large objects so that each of the
 * `parallel` connections carries about WAVES parts (to at most 64 MiB, MiB-aligned). Every part
 * costs a request and, on the server, an object of its own (Swift: a segment PUT, a container
 * update, a check of the upload marker), which at 8 MiB is a fifth of the work; WAVES parts per
 * connection keep the pipeline full and bound the idle tail when the last parts finish. */
static uint64_t auto_part_size(uint64_t size, int parallel)
{
    uint64_t p = size / (uint64_t)(WAVES * (parallel > 0 ? parallel : 1));
    p = (p + (1ull << 20) - 1) & ~((1ull << 20) - 1);
    return p < MIN_AUTO_PART ? MIN_AUTO_PART : p > MAX_AUTO_PART ? MAX_AUTO_PART : p;
}

struct s3_xfer {
    struct s3_client *c;
    char *bucket, *key;
    int upload;
    struct s3_src src;   /* uploads */
    struct s3_sink sink; /* downloads */
    struct s3_xfer_opts opts;
    void (*done)(struct s3_xfer *x, void *arg);
    void *arg;

    uint64_t size;
    char etag[80];
    char upload_id[512];
    uint64_t part_size;
    uint64_t first_len; /* downloads: the first range, before the size was known */
    int nparts, next_part, inflight, parts_ok;
    char (*etags)[80];

    int failed;
    struct s3_error err;
};

static void finish(struct s3_xfer *x)
{
    if (x->done)
        x->done(x, x->arg);
}

static void fail_with(struct s3_xfer *x, const struct s3_error *e)
{
    if (!x->failed) {
        x->failed = 1;
        x->err = *e;
    }
}

static void fail_oom(struct s3_xfer *x, const char *op)
{
    struct s3_error e;
    s3_error_clear(&e);
    s3_error_set(&e, op, x->bucket, x->key, "OutOfMemory", "no memory");
    fail_with(x, &e);
}

static int add_common_put_headers(struct s3_xfer *x, struct s3_req *r, int whole_object)
{
    if (x->opts.md5)
        r->flags |= S3_REQ_MD5;
    if (whole_object && x->opts.content_type &&
        s3_req_header(r, "Content-Type", x->opts.content_type) != 0)
        return -1;
    if (whole_object && x->opts.if_none_match &&
        s3_req_header(r, "If-None-Match", x->opts.if_none_match) != 0)
        return -1;
    return 0;
}

/* ---------- upload ---------- */

static void on_abort_done(struct s3_req *r, void *arg)
{
    struct s3_xfer *x = arg;
    if (r->failed) {
        char buf[512];
        size_t n = strlen(x->err.message);
        snprintf(x->err.message + n, sizeof(x->err.message) - n,
                 "; aborting upload %.100s failed too (%.150s): it may need "
                 "'tandem-s3 mpu-abort'",
                 x->upload_id, s3_error_str(&r->err, buf, sizeof(buf)));
        log_error("s3", "multipart upload %s of s3://%s/%s was not aborted", x->upload_id,
                  x->bucket, x->key);
    } else {
        log_info("s3", "aborted multipart upload of s3://%s/%s after: %s", x->bucket, x->key,
                 x->err.message);
    }
    s3_req_free(r);
    finish(x);
}

static void start_abort(struct s3_xfer *x)
{
    struct s3_req *r = s3_op_mpu_abort(x->bucket, x->key, x->upload_id);
    if (!r) {
        finish(x);
        return;
    }
    r->done = on_abort_done;
    r->arg = x;
    s3_submit(x->c, r);
}

static void on_complete_done(struct s3_req *r, void *arg)
{
    struct s3_xfer *x = arg;
    if (r->failed) {
        fail_with(x, &r->err);
        s3_req_free(r);
        start_abort(x);
        return;
    }
    /* The final ETag is in the CompleteMultipartUploadResult; the header may be absent. */
    const char *b = s3_req_body(r), *t = strstr(b, "<ETag>");
    if (t) {
        t += 6;
        const char *e = strstr(t, "</ETag>");
        if (e && (size_t)(e - t) < sizeof(x->etag)) {
            memcpy(x->etag, t, (size_t)(e - t));
            x->etag[e - t] = '\0';
        }
    }
    s3_req_free(r);
    finish(x);
}

static void fill_parts(struct s3_xfer *x);

static void on_part_done(struct s3_req *r, void *arg)
{
    struct s3_xfer *x = arg;
    x->inflight--;
    if (r->failed) {
        fail_with(x, &r->err);
    } else if (!r->etag[0]) {
        struct s3_error e;
        s3_error_clear(&e);
        s3_error_set(&e, "UploadPart", x->bucket, x->key, "MissingETag",
                     "part %d: the server returned no ETag", (int)r->user);
        fail_with(x, &e);
    } else {
        snprintf(x->etags[r->user - 1], sizeof(x->etags[0]), "%s", r->etag);
        x->parts_ok++;
    }
    s3_req_free(r);
    if (!x->failed)
        fill_parts(x);
    if (x->inflight > 0)
        return;
    if (x->failed) {
        start_abort(x);
        return;
    }
    if (x->parts_ok == x->nparts) {
        struct s3_req *c =
            s3_op_mpu_complete(x->bucket, x->key, x->upload_id, x->etags, (size_t)x->nparts);
        if (!c) {
            fail_oom(x, "CompleteMultipartUpload");
            start_abort(x);
            return;
        }
        c->done = on_complete_done;
        c->arg = x;
        s3_submit(x->c, c);
    }
}

static void fill_parts(struct s3_xfer *x)
{
    while (!x->failed && x->inflight < x->opts.window && x->next_part <= x->nparts) {
        int pn = x->next_part++;
        uint64_t off = (uint64_t)(pn - 1) * x->part_size;
        uint64_t len = x->size - off < x->part_size ? x->size - off : x->part_size;
        struct s3_src s = x->src;
        if (s.kind == S3_SRC_MEM)
            s.mem = (const char *)x->src.mem + off;
        else
            s.off = x->src.off + off;
        s.len = len;
        struct s3_req *r = s3_op_mpu_part(x->bucket, x->key, x->upload_id, pn, &s);
        if (!r || add_common_put_headers(x, r, 0) != 0) {
            s3_req_free(r);
            fail_oom(x, "UploadPart");
            return;
        }
        r->done = on_part_done;
        r->arg = x;
        x->inflight++;
        s3_submit(x->c, r);
    }
}

static void on_create_done(struct s3_req *r, void *arg)
{
    struct s3_xfer *x = arg;
    if (r->failed) {
        fail_with(x, &r->err);
        s3_req_free(r);
        finish(x);
        return;
    }
    if (s3_xml_upload_id(r->body, r->body_len, x->upload_id, sizeof(x->upload_id)) != 0) {
        struct s3_error e;
        s3_error_clear(&e);
        s3_error_set(&e, "CreateMultipartUpload", x->bucket, x->key, "BadResponse",
                     "no UploadId in the answer");
        fail_with(x, &e);
        s3_req_free(r);
        finish(x);
        return;
    }
    s3_req_free(r);
    x->etags = calloc((size_t)x->nparts, sizeof(*x->etags));
    if (!x->etags) {
        fail_oom(x, "CreateMultipartUpload");
        start_abort(x);
        return;
    }
    fill_parts(x);
    if (x->inflight == 0) /* could not submit anything */
        start_abort(x);
}

static void on_single_done(struct s3_req *r, void *arg)
{
    struct s3_xfer *x = arg;
    if (r->failed)
        fail_with(x, &r->err);
    else
        snprintf(x->etag, sizeof(x->etag), "%s", r->etag);
    s3_req_free(r);
    finish(x);
}

static struct s3_xfer *xfer_new(struct s3_client *c, const char *bucket, const char *key,
                                const struct s3_xfer_opts *opts,
                                void (*done)(struct s3_xfer *, void *), void *arg)
{
    struct s3_xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->c = c;
    x->bucket = strdup(bucket);
    x->key = strdup(key);
    if (!x->bucket || !x->key) {
        s3_xfer_free(x);
        return NULL;
    }
    if (opts)
        x->opts = *opts;
    if (!x->opts.threshold)
        x->opts.threshold = DEFAULT_THRESHOLD;
    if (x->opts.window <= 0)
        x->opts.window = 2 * s3_client_parallel(c);
    x->done = done;
    x->arg = arg;
    return x;
}

struct s3_xfer *s3_upload_begin(struct s3_client *c, const char *bucket, const char *key,
                                const struct s3_src *src, const struct s3_xfer_opts *opts,
                                void (*done)(struct s3_xfer *x, void *arg), void *arg)
{
    struct s3_xfer *x = xfer_new(c, bucket, key, opts, done, arg);
    if (!x)
        return NULL;
    x->upload = 1;
    x->src = *src;
    x->size = src->kind == S3_SRC_NONE ? 0 : src->len;
    struct s3_req *r;
    if (x->size <= x->opts.threshold) {
        r = s3_op_put(bucket, key, src);
        if (r && add_common_put_headers(x, r, 1) == 0) {
            r->done = on_single_done;
        } else {
            s3_req_free(r);
            r = NULL;
        }
    } else {
        x->part_size =
            x->opts.part_size ? x->opts.part_size : auto_part_size(x->size, s3_client_parallel(c));
        uint64_t n = (x->size + x->part_size - 1) / x->part_size;
        if (n > MAX_PARTS) { /* grow parts rather than fail: S3 allows 10,000 at most */
            x->part_size = (x->size + MAX_PARTS - 1) / MAX_PARTS;
            n = (x->size + x->part_size - 1) / x->part_size;
        }
        x->nparts = (int)n;
        x->next_part = 1;
        r = s3_op_mpu_create(bucket, key);
        if (r && add_common_put_headers(x, r, 1) == 0) {
            r->flags &= ~(unsigned)S3_REQ_MD5;
            r->done = on_create_done;
        } else {
            s3_req_free(r);
            r = NULL;
        }
    }
    if (!r) {
        s3_xfer_free(x);
        return NULL;
    }
    r->arg = x;
    s3_submit(c, r);
    return x;
}

/* ---------- download ---------- */

static void on_range_done(struct s3_req *r, void *arg);

static struct s3_req *range_req(struct s3_xfer *x, uint64_t off, uint64_t len)
{
    struct s3_sink s = x->sink;
    if (s.kind == S3_SINK_BUF) {
        s.buf = (char *)x->sink.buf + off;
        s.cap = (size_t)len;
    } else {
        s.off = x->sink.off + off;
    }
    struct s3_req *r = s3_op_get(x->bucket, x->key, &s, off, len);
    if (!r)
        return NULL;
    const char *im = x->opts.if_match ? x->opts.if_match : x->etag;
    if (im[0] && s3_req_header(r, "If-Match", im) != 0) {
        s3_req_free(r);
        return NULL;
    }
    r->user = len;
    r->done = on_range_done;
    r->arg = x;
    return r;
}

static void fill_ranges(struct s3_xfer *x)
{
    while (!x->failed && x->inflight < x->opts.window && x->next_part <= x->nparts) {
        uint64_t off = x->first_len + (uint64_t)(x->next_part - 2) * x->part_size;
        uint64_t len = x->size - off < x->part_size ? x->size - off : x->part_size;
        struct s3_req *r = range_req(x, off, len);
        if (!r) {
            fail_oom(x, "GetObject");
            return;
        }
        x->next_part++;
        x->inflight++;
        s3_submit(x->c, r);
    }
}

static void on_range_done(struct s3_req *r, void *arg)
{
    struct s3_xfer *x = arg;
    x->inflight--;
    if (r->failed) {
        fail_with(x, &r->err);
    } else if (r->sink_written != r->user) {
        struct s3_error e;
        s3_error_clear(&e);
        s3_error_set(&e, "GetObject", x->bucket, x->key, "ShortBody",
                     "expected %llu bytes, got %llu", (unsigned long long)r->user,
                     (unsigned long long)r->sink_written);
        fail_with(x, &e);
    } else {
        x->parts_ok++;
    }
    s3_req_free(r);
    fill_ranges(x);
    if (x->inflight == 0 && (x->failed || x->parts_ok == x->nparts))
        finish(x);
}

/* The first range also tells the object's size (Content-Range) and ETag, so a download costs
 * no separate HEAD, and a failure comes with the S3 error document a HEAD would not carry. */
static void on_first_done(struct s3_req *r, void *arg)
{
    struct s3_xfer *x = arg;
    x->inflight--;
    if (r->failed && r->err.http_status == 416) { /* bytes=0-N of an empty object */
        x->size = 0;
        s3_req_free(r);
        finish(x);
        return;
    }
    if (r->failed) {
        fail_with(x, &r->err);
        s3_req_free(r);
        finish(x);
        return;
    }
    x->size = r->status == 206 ? r->object_size : r->sink_written;
    snprintf(x->etag, sizeof(x->etag), "%s", r->etag);
    uint64_t got = r->sink_written;
    s3_req_free(r);
    if (x->sink.kind == S3_SINK_BUF && x->size > x->sink.cap) {
        struct s3_error e;
        s3_error_clear(&e);
        s3_error_set(&e, "GetObject", x->bucket, x->key, "ResponseTooLarge",
                     "object is %llu bytes, the buffer %zu", (unsigned long long)x->size,
                     x->sink.cap);
        fail_with(x, &e);
        finish(x);
        return;
    }
    if (got >= x->size) {
        finish(x);
        return;
    }
    x->first_len = got;
    x->part_size =
        x->opts.part_size ? x->opts.part_size : auto_part_size(x->size, s3_client_parallel(x->c));
    x->nparts = 1 + (int)((x->size - got + x->part_size - 1) / x->part_size);
    x->next_part = 2;
    x->parts_ok = 1;
    fill_ranges(x);
    if (x->inflight == 0)
        finish(x);
}

struct s3_xfer *s3_download_begin(struct s3_client *c, const char *bucket, const char *key,
                                  const struct s3_sink *sink, const struct s3_xfer_opts *opts,
                                  void (*done)(struct s3_xfer *x, void *arg), void *arg)
{
    if (sink->kind != S3_SINK_FD && sink->kind != S3_SINK_BUF)
        return NULL;
    struct s3_xfer *x = xfer_new(c, bucket, key, opts, done, arg);
    if (!x)
        return NULL;
    x->sink = *sink;
    uint64_t first = x->opts.part_size ? x->opts.part_size : MIN_AUTO_PART;
    if (sink->kind == S3_SINK_BUF && sink->cap < first)
        first = sink->cap ? sink->cap : 1;
    struct s3_req *r = range_req(x, 0, first);
    if (!r) {
        s3_xfer_free(x);
        return NULL;
    }
    r->done = on_first_done;
    x->inflight = 1;
    s3_submit(c, r);
    return x;
}

/* ---------- results ---------- */

int s3_xfer_result(const struct s3_xfer *x, struct s3_error *err)
{
    if (x->failed && err)
        *err = x->err;
    return x->failed ? -1 : 0;
}

uint64_t s3_xfer_size(const struct s3_xfer *x)
{
    return x->size;
}

const char *s3_xfer_etag(const struct s3_xfer *x)
{
    return x->etag;
}

int s3_xfer_parts(const struct s3_xfer *x)
{
    return x->nparts;
}

void s3_xfer_free(struct s3_xfer *x)
{
    if (!x)
        return;
    free(x->bucket);
    free(x->key);
    free(x->etags);
    free(x);
}

int s3_upload(struct s3_client *c, const char *bucket, const char *key, const struct s3_src *src,
              const struct s3_xfer_opts *opts, struct s3_error *err)
{
    struct s3_xfer *x = s3_upload_begin(c, bucket, key, src, opts, NULL, NULL);
    if (!x) {
        s3_error_set(err, "PutObject", bucket, key, "OutOfMemory", "no memory");
        return -1;
    }
    s3_run(c);
    int rc = s3_xfer_result(x, err);
    s3_xfer_free(x);
    return rc;
}

int s3_download(struct s3_client *c, const char *bucket, const char *key,
                const struct s3_sink *sink, const struct s3_xfer_opts *opts, uint64_t *size,
                struct s3_error *err)
{
    struct s3_xfer *x = s3_download_begin(c, bucket, key, sink, opts, NULL, NULL);
    if (!x) {
        s3_error_set(err, "GetObject", bucket, key, "BadArgument",
                     "no memory, or a sink that is neither an fd nor a buffer");
        return -1;
    }
    s3_run(c);
    int rc = s3_xfer_result(x, err);
    if (size)
        *size = x->size;
    s3_xfer_free(x);
    return rc;
}
