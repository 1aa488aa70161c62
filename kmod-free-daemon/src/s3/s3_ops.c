/* Operation builders and the multi-request helpers. */
#include "s3/s3_ops.h"

#include "s3/sigv4.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "name=" + RFC 3986 encoded value, appended with '&' to a query buffer. */
static void q_add(char *q, size_t cap, const char *name, const char *value)
{
    size_t o = strlen(q);
    if (o && o + 1 < cap)
        q[o++] = '&';
    int n = snprintf(q + o, cap - o, "%s=", name);
    if (n < 0 || (size_t)n >= cap - o)
        return;
    o += (size_t)n;
    if (value)
        sigv4_uri_encode(value, strlen(value), 0, q + o, cap - o);
}

static size_t enc_len(const char *s)
{
    return s ? 3 * strlen(s) : 0;
}

struct s3_req *s3_op_create_bucket(const char *bucket, const char *region)
{
    struct s3_req *r = s3_req_new("CreateBucket", "PUT", bucket, NULL, NULL);
    if (!r || !region || !*region || strcmp(region, "us-east-1") == 0)
        return r;
    if (asprintf(&r->owned_body,
                 "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                 "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
                 region) < 0) {
        r->owned_body = NULL;
        s3_req_free(r);
        return NULL;
    }
    r->src =
        (struct s3_src){.kind = S3_SRC_MEM, .mem = r->owned_body, .len = strlen(r->owned_body)};
    return r;
}

struct s3_req *s3_op_delete_bucket(const char *bucket)
{
    return s3_req_new("DeleteBucket", "DELETE", bucket, NULL, NULL);
}

struct s3_req *s3_op_put(const char *bucket, const char *key, const struct s3_src *src)
{
    struct s3_req *r = s3_req_new("PutObject", "PUT", bucket, key, NULL);
    if (r && src)
        r->src = *src;
    return r;
}

struct s3_req *s3_op_get(const char *bucket, const char *key, const struct s3_sink *sink,
                         uint64_t off, uint64_t len)
{
    struct s3_req *r = s3_req_new("GetObject", "GET", bucket, key, NULL);
    if (!r)
        return NULL;
    if (sink)
        r->sink = *sink;
    if (len) {
        char range[64];
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
        if (s3_req_header(r, "Range", range) != 0) {
            s3_req_free(r);
            return NULL;
        }
    }
    return r;
}

struct s3_req *s3_op_head(const char *bucket, const char *key)
{
    struct s3_req *r = s3_req_new("HeadObject", "HEAD", bucket, key, NULL);
    if (r)
        r->sink.kind = S3_SINK_DISCARD;
    return r;
}

struct s3_req *s3_op_delete(const char *bucket, const char *key)
{
    return s3_req_new("DeleteObject", "DELETE", bucket, key, NULL);
}

struct s3_req *s3_op_delete_objects(const char *bucket, const char *const *keys, size_t n)
{
    struct s3_req *r = s3_req_new("DeleteObjects", "POST", bucket, NULL, "delete=");
    if (!r)
        return NULL;
    r->owned_body = s3_xml_delete_body(keys, n);
    if (!r->owned_body) {
        s3_req_free(r);
        return NULL;
    }
    r->src =
        (struct s3_src){.kind = S3_SRC_MEM, .mem = r->owned_body, .len = strlen(r->owned_body)};
    r->flags |= S3_REQ_MD5;
    if (s3_req_header(r, "Content-Type", "application/xml") != 0) {
        s3_req_free(r);
        return NULL;
    }
    return r;
}

struct s3_req *s3_op_list_v2(const char *bucket, const char *prefix, const char *delimiter,
                             const char *token, int max_keys)
{
    size_t cap = 128 + enc_len(prefix) + enc_len(delimiter) + enc_len(token);
    char *q = calloc(1, cap);
    if (!q)
        return NULL;
    q_add(q, cap, "list-type", "2");
    if (token)
        q_add(q, cap, "continuation-token", token);
    if (delimiter)
        q_add(q, cap, "delimiter", delimiter);
    if (max_keys > 0) {
        char mk[16];
        snprintf(mk, sizeof(mk), "%d", max_keys);
        q_add(q, cap, "max-keys", mk);
    }
    if (prefix)
        q_add(q, cap, "prefix", prefix);
    struct s3_req *r = s3_req_new("ListObjectsV2", "GET", bucket, NULL, q);
    free(q);
    return r;
}

struct s3_req *s3_op_mpu_create(const char *bucket, const char *key)
{
    return s3_req_new("CreateMultipartUpload", "POST", bucket, key, "uploads=");
}

struct s3_req *s3_op_mpu_part(const char *bucket, const char *key, const char *upload_id,
                              int part_number, const struct s3_src *src)
{
    size_t cap = 64 + enc_len(upload_id);
    char *q = calloc(1, cap);
    if (!q)
        return NULL;
    char pn[16];
    snprintf(pn, sizeof(pn), "%d", part_number);
    q_add(q, cap, "partNumber", pn);
    q_add(q, cap, "uploadId", upload_id);
    struct s3_req *r = s3_req_new("UploadPart", "PUT", bucket, key, q);
    free(q);
    if (r) {
        r->src = *src;
        r->user = (uint64_t)part_number;
    }
    return r;
}

static char *upload_query(const char *upload_id)
{
    size_t cap = 32 + enc_len(upload_id);
    char *q = calloc(1, cap);
    if (q)
        q_add(q, cap, "uploadId", upload_id);
    return q;
}

struct s3_req *s3_op_mpu_complete(const char *bucket, const char *key, const char *upload_id,
                                  char (*etags)[80], size_t nparts)
{
    char *q = upload_query(upload_id);
    struct s3_req *r = q ? s3_req_new("CompleteMultipartUpload", "POST", bucket, key, q) : NULL;
    free(q);
    if (!r)
        return NULL;
    r->owned_body = s3_xml_complete_body(etags, nparts);
    if (!r->owned_body || s3_req_header(r, "Content-Type", "application/xml") != 0) {
        s3_req_free(r);
        return NULL;
    }
    r->src =
        (struct s3_src){.kind = S3_SRC_MEM, .mem = r->owned_body, .len = strlen(r->owned_body)};
    r->flags |= S3_REQ_ERROR_IN_200;
    return r;
}

struct s3_req *s3_op_mpu_abort(const char *bucket, const char *key, const char *upload_id)
{
    char *q = upload_query(upload_id);
    struct s3_req *r = q ? s3_req_new("AbortMultipartUpload", "DELETE", bucket, key, q) : NULL;
    free(q);
    return r;
}

struct s3_req *s3_op_list_uploads(const char *bucket, const char *prefix, const char *key_marker,
                                  const char *upload_id_marker)
{
    size_t cap = 64 + enc_len(prefix) + enc_len(key_marker) + enc_len(upload_id_marker);
    char *q = calloc(1, cap);
    if (!q)
        return NULL;
    if (key_marker)
        q_add(q, cap, "key-marker", key_marker);
    if (prefix)
        q_add(q, cap, "prefix", prefix);
    if (upload_id_marker)
        q_add(q, cap, "upload-id-marker", upload_id_marker);
    q_add(q, cap, "uploads", "");
    struct s3_req *r = s3_req_new("ListMultipartUploads", "GET", bucket, NULL, q);
    free(q);
    return r;
}

int s3_list_all(struct s3_client *c, const char *bucket, const char *prefix, int max_keys,
                int (*cb)(const struct s3_object_info *o, void *arg), void *arg, int *pages,
                struct s3_error *err)
{
    char *token = NULL;
    int npages = 0, rc = 0;
    for (;;) {
        struct s3_req *r = s3_op_list_v2(bucket, prefix, NULL, token, max_keys);
        if (!r) {
            s3_error_set(err, "ListObjectsV2", bucket, prefix, "OutOfMemory", "no memory");
            rc = -1;
            break;
        }
        if (s3_run_one(c, r) != 0) {
            *err = r->err;
            s3_req_free(r);
            rc = -1;
            break;
        }
        struct s3_list_page pg;
        if (s3_xml_list_v2(r->body, r->body_len, &pg) != 0) {
            s3_error_set(err, "ListObjectsV2", bucket, prefix, "BadResponse",
                         "the listing is not a ListBucketResult document");
            s3_req_free(r);
            rc = -1;
            break;
        }
        s3_req_free(r);
        npages++;
        for (size_t i = 0; i < pg.n && rc == 0; i++)
            if (cb(&pg.items[i], arg) != 0)
                rc = 1;
        free(token);
        token = pg.truncated && pg.next_token ? strdup(pg.next_token) : NULL;
        int truncated = pg.truncated;
        s3_list_page_free(&pg);
        if (rc)
            break;
        if (truncated && !token) {
            s3_error_set(err, "ListObjectsV2", bucket, prefix, "BadResponse",
                         "truncated listing without NextContinuationToken");
            rc = -1;
            break;
        }
        if (!truncated)
            break;
    }
    free(token);
    if (pages)
        *pages = npages;
    return rc < 0 ? -1 : 0;
}

int s3_delete_many(struct s3_client *c, const char *bucket, const char *const *keys, size_t n,
                   struct s3_error *err)
{
    size_t nb = (n + 999) / 1000;
    struct s3_req **rs = calloc(nb ? nb : 1, sizeof(*rs));
    if (!rs) {
        s3_error_set(err, "DeleteObjects", bucket, NULL, "OutOfMemory", "no memory");
        return -1;
    }
    int rc = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t cnt = n - b * 1000 < 1000 ? n - b * 1000 : 1000;
        rs[b] = s3_op_delete_objects(bucket, keys + b * 1000, cnt);
        if (!rs[b]) {
            s3_error_set(err, "DeleteObjects", bucket, NULL, "OutOfMemory", "no memory");
            rc = -1;
            goto out;
        }
        s3_submit(c, rs[b]);
    }
    s3_run(c);
    for (size_t b = 0; b < nb && rc == 0; b++) {
        if (rs[b]->failed) {
            *err = rs[b]->err;
            rc = -1;
            break;
        }
        struct s3_delete_result dr;
        if (s3_xml_delete_result(rs[b]->body, rs[b]->body_len, &dr) != 0) {
            s3_error_set(err, "DeleteObjects", bucket, NULL, "BadResponse",
                         "the answer is not a DeleteResult document");
            rc = -1;
        } else if (dr.errors) {
            s3_error_set(err, "DeleteObjects", bucket, dr.first_key, dr.first_code,
                         "%zu key(s) not deleted, first: %s", dr.errors, dr.first_message);
            rc = -1;
        }
    }
out:
    for (size_t b = 0; b < nb; b++)
        s3_req_free(rs[b]);
    free(rs);
    return rc;
}

int s3_list_uploads_all(struct s3_client *c, const char *bucket, const char *prefix,
                        int (*cb)(const char *key, const char *upload_id, void *arg), void *arg,
                        struct s3_error *err)
{
    char *km = NULL, *um = NULL;
    int rc = 0;
    for (;;) {
        struct s3_req *r = s3_op_list_uploads(bucket, prefix, km, um);
        if (!r || s3_run_one(c, r) != 0) {
            if (r)
                *err = r->err;
            else
                s3_error_set(err, "ListMultipartUploads", bucket, NULL, "OutOfMemory", "no mem");
            s3_req_free(r);
            rc = -1;
            break;
        }
        struct s3_uploads_page pg;
        int prc = s3_xml_list_uploads(r->body, r->body_len, &pg);
        s3_req_free(r);
        if (prc != 0) {
            s3_error_set(err, "ListMultipartUploads", bucket, NULL, "BadResponse",
                         "not a ListMultipartUploadsResult document");
            rc = -1;
            break;
        }
        for (size_t i = 0; i < pg.n && rc == 0; i++)
            if (cb(pg.items[i].key, pg.items[i].upload_id, arg) != 0)
                rc = 1;
        free(km);
        free(um);
        km = pg.truncated && pg.next_key_marker ? strdup(pg.next_key_marker) : NULL;
        um = pg.truncated && pg.next_upload_id_marker ? strdup(pg.next_upload_id_marker) : NULL;
        int more = pg.truncated && km;
        s3_uploads_page_free(&pg);
        if (rc || !more)
            break;
    }
    free(km);
    free(um);
    return rc < 0 ? -1 : 0;
}
