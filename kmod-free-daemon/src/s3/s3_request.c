/* The engine: requests in, signed attempts on the curl multi handle, retries, completions.
 *
 * Each attempt is signed afresh (X-Amz-Date moves, credentials may have been refreshed) but the
 * payload is hashed only once per request. Bodies stream through curl's read/write callbacks
 * straight from and to their source and sink; the only copies are curl's own socket buffers.
 * A non-2xx response's body is diverted into req->body (capped) so the sink never sees an
 * error document. */
#include "s3/s3_client_impl.h"

#include "s3/s3_xml.h"
#include "s3/sigv4.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define ERROR_BODY_MAX (1u << 20)

/* ---------- request objects ---------- */

struct s3_req *s3_req_new(const char *op, const char *method, const char *bucket, const char *key,
                          const char *query)
{
    struct s3_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->op = op;
    r->method = method;
    r->bucket = bucket ? strdup(bucket) : NULL;
    r->key = key ? strdup(key) : NULL;
    r->query = query ? strdup(query) : NULL;
    if ((bucket && !r->bucket) || (key && !r->key) || (query && !r->query)) {
        s3_req_free(r);
        return NULL;
    }
    return r;
}

int s3_req_header(struct s3_req *r, const char *name, const char *value)
{
    if (r->nhdr >= S3_MAX_HDRS)
        return -1;
    r->hdr_name[r->nhdr] = strdup(name);
    r->hdr_value[r->nhdr] = strdup(value);
    if (!r->hdr_name[r->nhdr] || !r->hdr_value[r->nhdr]) {
        free(r->hdr_name[r->nhdr]);
        free(r->hdr_value[r->nhdr]);
        return -1;
    }
    r->nhdr++;
    return 0;
}

void s3_req_free(struct s3_req *r)
{
    if (!r)
        return;
    free(r->bucket);
    free(r->key);
    free(r->query);
    for (int i = 0; i < r->nhdr; i++) {
        free(r->hdr_name[i]);
        free(r->hdr_value[i]);
    }
    free(r->owned_body);
    free(r->body);
    s3_target_free(&r->target);
    if (r->slist)
        curl_slist_free_all(r->slist);
    free(r);
}

/* ---------- body callbacks ---------- */

static int body_reserve(struct s3_req *r, size_t need)
{
    if (r->body_len + need + 1 <= r->body_cap)
        return 0;
    size_t cap = r->body_cap ? r->body_cap : 4096;
    while (cap < r->body_len + need + 1)
        cap *= 2;
    char *b = realloc(r->body, cap);
    if (!b)
        return -1;
    r->body = b;
    r->body_cap = cap;
    return 0;
}

static size_t on_write(char *p, size_t sz, size_t n, void *arg)
{
    struct s3_req *r = arg;
    size_t len = sz * n;
    if (r->to_error_body || r->sink.kind == S3_SINK_MEM) {
        if (r->to_error_body && r->body_len + len > ERROR_BODY_MAX)
            return len; /* keep the head of an oversized error document, drop the rest */
        if (body_reserve(r, len) != 0)
            return 0;
        memcpy(r->body + r->body_len, p, len);
        r->body_len += len;
        r->body[r->body_len] = '\0';
        if (!r->to_error_body)
            r->sink_pos += len;
        return len;
    }
    switch (r->sink.kind) {
    case S3_SINK_BUF:
        if (r->sink_pos + len > r->sink.cap) {
            r->sink_overflow = 1;
            return 0;
        }
        memcpy((char *)r->sink.buf + r->sink_pos, p, len);
        break;
    case S3_SINK_FD: {
        size_t done = 0;
        while (done < len) {
            ssize_t w =
                pwrite(r->sink.fd, p + done, len - done, (off_t)(r->sink.off + r->sink_pos + done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                snprintf(r->curl_err, sizeof(r->curl_err), "writing the body: %s", strerror(errno));
                return 0;
            }
            done += (size_t)w;
        }
        break;
    }
    default:
        break;
    }
    r->sink_pos += len;
    return len;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *arg)
{
    struct s3_req *r = arg;
    uint64_t left = r->src.len - r->src_pos;
    size_t want = sz * n < left ? sz * n : (size_t)left;
    if (want == 0)
        return 0;
    if (r->src.kind == S3_SRC_MEM) {
        memcpy(buf, (const char *)r->src.mem + r->src_pos, want);
    } else {
        ssize_t got;
        do
            got = pread(r->src.fd, buf, want, (off_t)(r->src.off + r->src_pos));
        while (got < 0 && errno == EINTR);
        if (got <= 0) {
            snprintf(r->curl_err, sizeof(r->curl_err), "reading the body: %s",
                     got == 0 ? "file shorter than announced" : strerror(errno));
            return CURL_READFUNC_ABORT;
        }
        want = (size_t)got;
    }
    r->src_pos += want;
    return want;
}

static int on_seek(void *arg, curl_off_t off, int origin)
{
    struct s3_req *r = arg;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->src.len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->src_pos = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static void hdr_copy(char *dst, size_t cap, const char *v, size_t n)
{
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct s3_req *r = arg;
    size_t len = sz * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        r->etag[0] = r->request_id[0] = r->last_modified[0] = r->content_type[0] = '\0';
        r->content_length = r->object_size = 0;
        return len;
    }
    if (len <= 2) { /* end of headers: decide where the body goes */
        long st = 0;
        curl_easy_getinfo((CURL *)r->easy, CURLINFO_RESPONSE_CODE, &st);
        r->to_error_body = st < 200 || st > 299;
        if (!r->to_error_body && r->sink.kind == S3_SINK_MEM && r->content_length &&
            r->content_length < ((uint64_t)1 << 32))
            body_reserve(r, (size_t)r->content_length);
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - p);
    const char *v = colon + 1;
    while (v < p + len && *v == ' ')
        v++;
    size_t vlen = (size_t)(p + len - v);
    char tmp[128];
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(p, name, nlen) == 0)
    if (IS("ETag")) {
        hdr_copy(r->etag, sizeof(r->etag), v, vlen);
    } else if (IS("x-amz-request-id")) {
        hdr_copy(r->request_id, sizeof(r->request_id), v, vlen);
    } else if (IS("Last-Modified")) {
        hdr_copy(r->last_modified, sizeof(r->last_modified), v, vlen);
    } else if (IS("Content-Type")) {
        hdr_copy(r->content_type, sizeof(r->content_type), v, vlen);
    } else if (IS("Content-Length")) {
        hdr_copy(tmp, sizeof(tmp), v, vlen);
        r->content_length = strtoull(tmp, NULL, 10);
        if (!r->object_size)
            r->object_size = r->content_length;
    } else if (IS("Content-Range")) {
        hdr_copy(tmp, sizeof(tmp), v, vlen);
        const char *slash = strchr(tmp, '/');
        if (slash && slash[1] != '*')
            r->object_size = strtoull(slash + 1, NULL, 10);
    }
#undef IS
    return len;
}

/* ---------- payload hashing (once per request) ---------- */

static void wake_multi(void *multi)
{
    curl_multi_wakeup(multi);
}

/* Readies r's first attempt: builds the target and settles the payload hash. Returns -1 (r->err
 * set), 0 when r can start, 1 when r went to the hash pool (S3_HASH_BUSY), or 2 when it needs
 * the pool but may_pool is 0 (r untouched, still S3_HASH_QUEUED). */
static int prepare(struct s3_client *c, struct s3_req *r, int may_pool)
{
    int want_sha = r->src.kind != S3_SRC_NONE &&
                   (c->payload == S3_PAYLOAD_SIGNED ||
                    (c->payload == S3_PAYLOAD_AUTO && strcmp(c->ep.scheme, "http") == 0));
    int want_md5 = (r->flags & S3_REQ_MD5) != 0;
    if (r->src.kind == S3_SRC_NONE || r->src.len == 0) {
        snprintf(r->payload_hash, sizeof(r->payload_hash), "%s", SIGV4_EMPTY_SHA256);
        want_sha = 0;
    } else if (!want_sha) {
        snprintf(r->payload_hash, sizeof(r->payload_hash), "%s", SIGV4_UNSIGNED);
    }
    int pooled = (want_sha || want_md5) && c->hash_threads > 0 && r->src.kind != S3_SRC_NONE &&
                 r->src.len > S3_HASH_INLINE_MAX;
    if (pooled && !may_pool)
        return 2;
    s3_target_free(&r->target);
    if (s3_target_build(&c->ep, c->addressing, r->bucket, r->key, r->query, &r->target)) {
        s3_error_set(&r->err, r->op, r->bucket, r->key, "OutOfMemory", "building the URL");
        return -1;
    }
    if (pooled && !c->hashpool) {
        c->hashpool = s3_hashpool_new(c->hash_threads, wake_multi, c->multi);
        if (!c->hashpool) {
            log_warn("s3", "no payload-hashing threads; hashing on the driving thread");
            c->hash_threads = 0;
            pooled = 0;
        }
    }
    r->hash_sha = want_sha;
    r->hash_md5 = want_md5;
    r->hash_rc = 0;
    if (pooled) {
        r->hstate = S3_HASH_BUSY;
        c->hashing++;
        s3_hashpool_push(c->hashpool, r);
        return 1;
    }
    r->hstate = S3_HASH_DONE;
    return s3_hash_body(r, want_sha, want_md5, c->scratch) ? -1 : 0;
}

/* Takes back what the workers finished; failures are completed by start_ready. */
static void drain_hashed(struct s3_client *c)
{
    if (!c->hashing)
        return;
    for (struct s3_req *r = s3_hashpool_take(c->hashpool); r;) {
        struct s3_req *n = r->hnext;
        r->hnext = NULL;
        r->hstate = S3_HASH_DONE;
        c->hashing--;
        r = n;
    }
}

/* ---------- attempts ---------- */

static CURL *easy_get(struct s3_client *c)
{
    if (c->npool > 0) {
        CURL *e = c->pool[--c->npool];
        curl_easy_reset(e);
        return e;
    }
    return curl_easy_init();
}

static void easy_put(struct s3_client *c, CURL *e)
{
    if (c->npool < S3_EASY_POOL)
        c->pool[c->npool++] = e;
    else
        curl_easy_cleanup(e);
}

static struct curl_slist *add_hdr(struct curl_slist *sl, const char *name, const char *value,
                                  int *ok)
{
    char line[4600];
    snprintf(line, sizeof(line), "%s: %s", name, value);
    struct curl_slist *n = curl_slist_append(sl, line);
    if (!n) {
        *ok = 0;
        return sl;
    }
    return n;
}

/* Signs and hands one attempt to curl (r is prepared). -1 with r->err set when it cannot even
 * start. */
static int start_attempt(struct s3_client *c, struct s3_req *r)
{
    struct s3_creds cr;
    struct s3_error cerr;
    s3_error_clear(&cerr);
    if (s3_creds_get(c->creds, &cr, &cerr) != 0) {
        r->err = cerr;
        s3_error_set(&r->err, r->op, r->bucket, r->key, NULL, "%.300s", cerr.message);
        snprintf(r->err.code, sizeof(r->err.code), "%s",
                 cerr.code[0] ? cerr.code : "NoCredentials");
        return -1;
    }
    r->attempts++;
    char date[17];
    sigv4_amz_date(time(NULL), date);
    struct sigv4_header h[S3_MAX_HDRS + 6];
    size_t nh = 0;
    h[nh++] = (struct sigv4_header){"host", r->target.host};
    h[nh++] = (struct sigv4_header){"x-amz-date", date};
    h[nh++] = (struct sigv4_header){"x-amz-content-sha256", r->payload_hash};
    if (cr.token[0])
        h[nh++] = (struct sigv4_header){"x-amz-security-token", cr.token};
    if (r->md5_b64[0])
        h[nh++] = (struct sigv4_header){"content-md5", r->md5_b64};
    for (int i = 0; i < r->nhdr; i++)
        h[nh++] = (struct sigv4_header){r->hdr_name[i], r->hdr_value[i]};
    struct sigv4_input in = {.method = r->method,
                             .path = r->target.path,
                             .query = r->query,
                             .headers = h,
                             .nheaders = nh,
                             .payload_hash = r->payload_hash,
                             .region = c->region,
                             .service = "s3",
                             .amz_date = date};
    char auth[1024];
    int sig_rc = sigv4_authorization(&in, cr.access_key, cr.secret, auth, sizeof(auth), NULL);
    int ok = sig_rc == 0;
    struct curl_slist *sl = NULL;
    for (size_t i = 0; i < nh && ok; i++)
        sl = add_hdr(sl, h[i].name, h[i].value, &ok);
    if (ok)
        sl = add_hdr(sl, "Authorization", auth, &ok);
    if (ok) {
        /* No "Expect: 100-continue": it costs a round trip per upload and our bodies are
         * replayable, so an early rejection only wastes bandwidth once. */
        struct curl_slist *n = curl_slist_append(sl, "Expect:");
        ok = n != NULL;
        sl = n ? n : sl;
    }
    s3_creds_wipe(&cr);
    if (!ok) {
        curl_slist_free_all(sl);
        s3_error_set(&r->err, r->op, r->bucket, r->key, "SigningFailed",
                     "could not sign the request");
        return -1;
    }
    if (r->slist)
        curl_slist_free_all(r->slist);
    r->slist = sl;

    CURL *e = easy_get(c);
    if (!e) {
        s3_error_set(&r->err, r->op, r->bucket, r->key, "OutOfMemory", "curl_easy_init");
        return -1;
    }
    r->easy = e;
    r->src_pos = r->sink_pos = 0;
    r->body_len = 0;
    r->to_error_body = r->sink_overflow = 0;
    r->status = 0;
    r->curl_err[0] = '\0';
    r->t_start_ms = s3_now_ms();
    curl_easy_setopt(e, CURLOPT_URL, r->target.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)c->stall_timeout_s);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (c->ca_bundle[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_bundle);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(r->src.kind == S3_SRC_NONE ? 0 : r->src.len));
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, r);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
        if (strcmp(r->method, "POST") == 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "POST");
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        easy_put(c, e);
        r->easy = NULL;
        s3_error_set(&r->err, r->op, r->bucket, r->key, "CurlMultiFailed",
                     "curl_multi_add_handle failed");
        return -1;
    }
    c->active++;
    return 0;
}

static const char *reason_code(long status)
{
    switch (status) {
    case 304:
        return "NotModified";
    case 400:
        return "BadRequest";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 412:
        return "PreconditionFailed";
    case 416:
        return "InvalidRange";
    case 500:
        return "InternalError";
    case 503:
        return "ServiceUnavailable";
    default:
        return "";
    }
}

static void complete(struct s3_client *c, struct s3_req *r)
{
    if (r->failed) {
        c->failed_in_run++;
        /* Server text is foreign: scrub anything that looks like our credentials from it. */
        struct s3_creds cr;
        struct s3_error ignore;
        if (s3_creds_get(c->creds, &cr, &ignore) == 0) {
            const char *secrets[] = {cr.secret, cr.token, NULL};
            s3_error_redact(r->err.message, secrets);
            s3_creds_wipe(&cr);
        }
        r->err.attempts = r->attempts;
    }
    if (r->done)
        r->done(r, r->arg);
}

static void push_waiting(struct s3_client *c, struct s3_req *r)
{
    r->next = c->waiting;
    c->waiting = r;
}

/* A certificate that does not verify reads the same whether the system CAs or a bundle were
 * used; say which, so a private CA that was never configured (or the wrong bundle) is plain. */
static void tls_trust_note(const struct s3_client *c, CURLcode rc, char *msg, size_t cap)
{
    if (rc != CURLE_PEER_FAILED_VERIFICATION && rc != CURLE_SSL_CACERT_BADFILE &&
        rc != CURLE_SSL_ISSUER_ERROR)
        return;
    size_t o = strlen(msg);
    if (o + 1 >= cap)
        return;
    int n;
    if (c->ca_bundle[0])
        n = snprintf(msg + o, cap - o, " [verified against CA bundle %.200s]", c->ca_bundle);
    else
        n = snprintf(msg + o, cap - o,
                     " [verified against the system CAs; a private CA needs AWS_CA_BUNDLE]");
    (void)n;
}

/* One attempt ended: success, retry later, or final failure. */
static void finish_attempt(struct s3_client *c, struct s3_req *r, CURLcode rc)
{
    CURL *e = r->easy;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_multi_remove_handle(c->multi, e);
    easy_put(c, e);
    r->easy = NULL;
    c->active--;

    char code[64] = "", msg[384] = "", rid[96] = "";
    enum s3_retry_class cls;
    int ok = 0;
    if (rc != CURLE_OK) {
        cls = s3_retry_classify(rc, 0, "");
        if (r->sink_overflow) {
            cls = S3_FAIL_PERMANENT;
            snprintf(code, sizeof(code), "ResponseTooLarge");
            snprintf(msg, sizeof(msg), "the body does not fit the %zu-byte buffer", r->sink.cap);
        } else {
            snprintf(msg, sizeof(msg), "%s", r->curl_err[0] ? r->curl_err : curl_easy_strerror(rc));
            tls_trust_note(c, rc, msg, sizeof(msg));
        }
    } else if (r->status >= 200 && r->status <= 299) {
        struct s3_xml_error xe;
        if ((r->flags & S3_REQ_ERROR_IN_200) &&
            s3_xml_parse_error(r->body, r->body_len, &xe) == 0) {
            snprintf(code, sizeof(code), "%s", xe.code);
            snprintf(msg, sizeof(msg), "%.360s (in a 200 response)", xe.message);
            snprintf(rid, sizeof(rid), "%s", xe.request_id);
            cls = s3_retry_classify(CURLE_OK, 200, xe.code);
        } else {
            ok = 1;
            cls = S3_FAIL_PERMANENT;
        }
    } else {
        struct s3_xml_error xe;
        if (s3_xml_parse_error(r->body, r->body_len, &xe) == 0) {
            snprintf(code, sizeof(code), "%s", xe.code);
            snprintf(msg, sizeof(msg), "%s", xe.message);
            snprintf(rid, sizeof(rid), "%s", xe.request_id);
        } else {
            snprintf(code, sizeof(code), "%s", reason_code(r->status));
        }
        cls = s3_retry_classify(CURLE_OK, r->status, code);
    }
    uint64_t ms = s3_now_ms() - r->t_start_ms;
    if (c->verbose)
        log_info("s3", "%s %s %s -> %s%ld%s%s (attempt %d, %llu ms%s%s)", r->op, r->method,
                 r->target.url, rc != CURLE_OK ? "transport error, " : "HTTP ", r->status,
                 code[0] ? " " : "", code, r->attempts, (unsigned long long)ms,
                 r->request_id[0] || rid[0] ? ", request id " : "",
                 r->request_id[0] ? r->request_id : rid);
    if (ok) {
        r->failed = 0;
        r->sink_written = r->sink_pos;
        complete(c, r);
        return;
    }
    int retry = (cls == S3_FAIL_RETRY && r->attempts < c->retry.max_attempts) ||
                (cls == S3_FAIL_CREDS && r->attempts == 1 && c->retry.max_attempts > 1);
    if (retry) {
        uint32_t delay = 0;
        if (cls == S3_FAIL_CREDS)
            s3_creds_invalidate(c->creds);
        else
            delay = s3_retry_delay_ms(&c->retry, r->attempts + 1, &c->rng);
        char why[448];
        if (rc != CURLE_OK)
            snprintf(why, sizeof(why), "%s", msg);
        else
            snprintf(why, sizeof(why), "HTTP %ld %s", r->status, code);
        log_warn("s3", "%s s3://%s/%s: %s; retry %d of %d in %u ms", r->op,
                 r->bucket ? r->bucket : "", r->key ? r->key : "", why, r->attempts,
                 c->retry.max_attempts - 1, delay);
        r->due_ms = s3_now_ms() + delay;
        push_waiting(c, r);
        return;
    }
    s3_error_clear(&r->err);
    s3_error_set(&r->err, r->op, r->bucket, r->key, code, "%s", msg);
    r->err.http_status = rc == CURLE_OK ? (int)r->status : 0;
    r->err.curl_code = rc;
    snprintf(r->err.request_id, sizeof(r->err.request_id), "%s", rid[0] ? rid : r->request_id);
    r->failed = 1;
    complete(c, r);
}

/* ---------- scheduling ---------- */

void s3_submit(struct s3_client *c, struct s3_req *r)
{
    r->next = NULL;
    r->failed = 0;
    r->attempts = 0;
    r->hstate = S3_HASH_QUEUED;
    r->hash_rc = 0;
    s3_error_clear(&r->err);
    if (c->queue_tail)
        c->queue_tail->next = r;
    else
        c->queue_head = r;
    c->queue_tail = r;
}

/* Moves retries whose backoff has elapsed to the front of the queue; returns ms until the next
 * one is due (or -1 if none waits). */
static int64_t promote_due(struct s3_client *c)
{
    uint64_t now = s3_now_ms();
    int64_t next = -1;
    struct s3_req **pp = &c->waiting;
    while (*pp) {
        struct s3_req *r = *pp;
        if (r->due_ms <= now) {
            *pp = r->next;
            r->next = c->queue_head;
            c->queue_head = r;
            if (!c->queue_tail)
                c->queue_tail = r;
        } else {
            int64_t d = (int64_t)(r->due_ms - now);
            if (next < 0 || d < next)
                next = d;
            pp = &r->next;
        }
    }
    return next;
}

/* Starts what can start, in queue order, while transfer slots are free, and keeps the payload
 * hashes of up to `parallel` queued requests ahead of them computing on the pool, so a finished
 * part is followed at once by one already hashed. A request still hashing is passed over (it
 * does not hold up a small request behind it); the walk stops after 2 x parallel waiting ones. */
static void start_ready(struct s3_client *c)
{
    struct s3_req *prev = NULL, *r = c->queue_head;
    int ahead = 0;
    while (r) {
        int rc = 0;
        int free_slot = c->active < c->parallel;
        if (r->hstate == S3_HASH_QUEUED && (free_slot || ahead < c->parallel))
            rc = prepare(c, r, ahead < c->parallel);
        int fail = rc < 0 || (r->hstate == S3_HASH_DONE && r->hash_rc != 0);
        int start = !fail && r->hstate == S3_HASH_DONE && free_slot;
        if (!fail && !start) {
            prev = r;
            r = r->next;
            if (++ahead >= 2 * c->parallel || (!free_slot && ahead >= c->parallel))
                break;
            continue;
        }
        if (prev)
            prev->next = r->next;
        else
            c->queue_head = r->next;
        if (c->queue_tail == r)
            c->queue_tail = prev;
        r->next = NULL;
        if (start && start_attempt(c, r) != 0)
            fail = 1;
        if (fail) {
            r->failed = 1;
            complete(c, r); /* may submit more (appended) or free r */
        }
        r = prev ? prev->next : c->queue_head;
    }
}

int s3_run(struct s3_client *c)
{
    c->failed_in_run = 0;
    for (;;) {
        drain_hashed(c);
        int64_t next_due = promote_due(c);
        start_ready(c);
        if (!c->active && !c->queue_head && !c->waiting)
            break;
        int finished = 0;
        if (c->active) {
            int running;
            curl_multi_perform(c->multi, &running);
            CURLMsg *m;
            int left;
            while ((m = curl_multi_info_read(c->multi, &left))) {
                if (m->msg != CURLMSG_DONE)
                    continue;
                struct s3_req *r = NULL;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
                finish_attempt(c, r, m->data.result);
                finished++;
            }
        }
        if (finished)
            continue; /* slots freed, callbacks may have queued more: start them first */
        /* Sleep until a socket is ready, a hash worker wakes us, or the next retry is due. */
        int timeout = next_due >= 0 && next_due < 200 ? (int)next_due : 200;
        curl_multi_poll(c->multi, NULL, 0, timeout, NULL);
    }
    return c->failed_in_run;
}

int s3_run_one(struct s3_client *c, struct s3_req *r)
{
    s3_submit(c, r);
    s3_run(c);
    return r->failed ? -1 : 0;
}
