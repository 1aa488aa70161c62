/* The S3 transfer engine: a client (libcurl multi handle, endpoint, credentials, retry policy)
 * and the requests it runs in parallel.
 *
 * Pipeline of one request: build target (s3_url) -> hash the payload once (SHA-256 and, when
 * asked, MD5; fd bodies are read with pread through a scratch buffer; large bodies on a small
 * pool of worker threads, up to `parallel` queued requests ahead of the transfers, so hashing
 * the next parts overlaps sending the current ones; see s3_hash.h) ->
 * per attempt: get credentials, sign (sigv4), hand to curl -> stream the body from memory or
 * an fd range, stream the response into memory, a caller buffer or an fd at an offset (no
 * whole-object copies) -> classify the outcome (s3_retry) -> retry after a full-jitter backoff,
 * or complete and call the request's done callback.
 *
 * Contract:
 *  - A client is used by one thread at a time; the credentials provider it holds may be shared.
 *  - s3_submit() never blocks; s3_run() blocks until no request is queued, running or waiting
 *    for a retry, with at most config.parallel transfers at once over reused connections.
 *  - done callbacks run inside s3_run() and may submit more requests or free their own request.
 *  - On failure req->failed is set and req->err says what happened (status, S3 code, request
 *    id, bucket/key, attempts); error text never contains credentials.
 *  - Requests and their strings are owned by the caller (s3_req_free); a request's fds and
 *    memory must stay valid until done runs. */
#ifndef TANDEM_S3_REQUEST_H
#define TANDEM_S3_REQUEST_H

#include "s3/s3_creds.h"
#include "s3/s3_error.h"
#include "s3/s3_retry.h"
#include "s3/s3_url.h"

#include <stddef.h>
#include <stdint.h>

enum s3_payload_mode {
    S3_PAYLOAD_AUTO,     /* signed SHA-256 over http, UNSIGNED-PAYLOAD over https (as aws-cli) */
    S3_PAYLOAD_SIGNED,   /* always hash the body into the signature */
    S3_PAYLOAD_UNSIGNED, /* always UNSIGNED-PAYLOAD */
};

struct s3_client_config {
    const char *endpoint; /* NULL: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS */
    const char *region;   /* NULL: AWS_REGION / AWS_DEFAULT_REGION / config / us-east-1 */
    enum s3_addressing addressing;
    int parallel;           /* concurrent transfers; 0: 8 */
    int max_attempts;       /* 0: 5 */
    int retry_base_ms;      /* 0: 100 */
    int retry_max_ms;       /* 0: 10000 */
    int connect_timeout_ms; /* 0: 10000 */
    int stall_timeout_s;    /* abort an attempt that moves no byte for this long; 0: 30 */
    const char *ca_bundle;  /* NULL: AWS_CA_BUNDLE, else the system CAs */
    enum s3_payload_mode payload;
    int verbose;      /* log one line per attempt (never headers or secrets) */
    int hash_threads; /* payload-hashing workers; 0: online CPUs, at most 4; -1: none (hash on
                         the thread that drives s3_run) */
};

struct s3_client;

/* Creates a client; creds is borrowed (must outlive the client). NULL with err on failure. */
struct s3_client *s3_client_new(const struct s3_client_config *cfg, struct s3_creds_provider *creds,
                                struct s3_error *err);
void s3_client_free(struct s3_client *c);
const char *s3_client_region(const struct s3_client *c);
int s3_client_parallel(const struct s3_client *c);

enum s3_src_kind { S3_SRC_NONE, S3_SRC_MEM, S3_SRC_FD };
struct s3_src {
    enum s3_src_kind kind;
    const void *mem; /* S3_SRC_MEM: borrowed */
    int fd;          /* S3_SRC_FD: read with pread from off, len bytes */
    uint64_t off;
    uint64_t len;
};

enum s3_sink_kind {
    S3_SINK_MEM,     /* grows req->body (default) */
    S3_SINK_BUF,     /* caller's buffer buf[0..cap): a longer body fails the request */
    S3_SINK_FD,      /* pwrite at off + position */
    S3_SINK_DISCARD, /* drop the body */
};
struct s3_sink {
    enum s3_sink_kind kind;
    void *buf;
    size_t cap;
    int fd;
    uint64_t off;
};

enum {
    S3_REQ_MD5 = 1 << 0,          /* send Content-MD5 (DeleteObjects requires it) */
    S3_REQ_ERROR_IN_200 = 1 << 1, /* a 200 whose body is <Error> failed (CompleteMultipartUpload) */
};

#define S3_MAX_HDRS 8

struct s3_req {
    /* ---- what to send (set by s3_req_new / the ops) ---- */
    const char *op;     /* static name: "PutObject" */
    const char *method; /* static: "GET", "PUT", ... */
    char *bucket, *key, *query;
    char *hdr_name[S3_MAX_HDRS], *hdr_value[S3_MAX_HDRS];
    int nhdr;
    struct s3_src src;
    struct s3_sink sink;
    char *owned_body; /* freed with the request (XML bodies the ops build) */
    unsigned flags;
    void (*done)(struct s3_req *r, void *arg);
    void *arg;
    uint64_t user; /* free for the caller (part number, ...) */

    /* ---- what came back ---- */
    long status;
    int failed;
    struct s3_error err;
    char etag[80];
    char request_id[96];
    char last_modified[40];
    char content_type[96];
    uint64_t content_length; /* of this response */
    uint64_t object_size;    /* whole object: Content-Range total, else Content-Length */
    char *body;              /* S3_SINK_MEM body, or the error document */
    size_t body_len;
    uint64_t sink_written; /* bytes delivered to the sink by the final attempt */

    /* ---- engine private ---- */
    struct s3_req *next;
    void *easy;
    void *slist;
    struct s3_target target;
    int attempts;
    uint64_t due_ms;
    uint64_t src_pos, sink_pos;
    size_t body_cap;
    int to_error_body; /* this attempt's status is not 2xx: body goes to the error buffer */
    int sink_overflow;
    char payload_hash[65];
    char md5_b64[32];
    char curl_err[256];
    uint64_t t_start_ms;
    int hstate;             /* S3_HASH_*: where the payload hash stands */
    int hash_sha, hash_md5; /* what to hash (decided on the driving thread) */
    int hash_rc;            /* set by the hash worker: 0 or -1 with err */
    struct s3_req *hnext;   /* the hash pool's link */
};

enum { S3_HASH_QUEUED, S3_HASH_BUSY, S3_HASH_DONE };

/* A request for method on bucket/key (key may be NULL) with a pre-encoded query (may be NULL).
 * NULL on allocation failure. */
struct s3_req *s3_req_new(const char *op, const char *method, const char *bucket, const char *key,
                          const char *query);
/* Adds a header that is sent and signed. 0, or -1 when full or out of memory. */
int s3_req_header(struct s3_req *r, const char *name, const char *value);
void s3_req_free(struct s3_req *r);

void s3_submit(struct s3_client *c, struct s3_req *r);
/* Runs until idle. Returns the number of requests that completed failed in this run. */
int s3_run(struct s3_client *c);
/* Submits r and runs until idle; 0 when r succeeded, else -1 (r->err says why). */
int s3_run_one(struct s3_client *c, struct s3_req *r);

/* A copy of r->body as a NUL-terminated string view (the engine keeps a NUL after the body). */
static inline const char *s3_req_body(const struct s3_req *r)
{
    return r->body ? r->body : "";
}

#endif
