/* Payload hashing for the engine: SHA-256 (x-amz-content-sha256) and MD5 (Content-MD5) of a
 * request body, computed once per request, either on the thread driving the client or on a
 * small pool of worker threads so that hashing the next parts overlaps the transfer of the
 * current ones.
 *
 * Contract:
 *  - s3_hash_body() is a pure function of r->src: it reads the body (pread for fds, through
 *    scratch, which must hold S3_SCRATCH_SZ bytes) and writes only r->payload_hash, r->md5_b64
 *    and, on failure, r->err. It takes no lock and touches nothing else of r.
 *  - A pool owns a request from s3_hashpool_push() until s3_hashpool_take() hands it back;
 *    in between the driving thread must not read or write r's hash fields or err, nor free r.
 *    r->hnext links the pool's lists; r->next stays the engine's.
 *  - After each finished hash the pool calls wake(wake_arg) from the worker thread (the engine
 *    passes curl_multi_wakeup, which is thread-safe), outside the pool's lock.
 *  - s3_hashpool_free() joins the workers; requests still queued are dropped, not freed (the
 *    engine never frees a client with requests in flight). */
#ifndef TANDEM_S3_HASH_H
#define TANDEM_S3_HASH_H

#include "s3/s3_request.h"

/* 0, or -1 with r->err set (SourceUnreadable, HashFailed). want_sha: SHA-256 hex into
 * r->payload_hash; want_md5: base64 MD5 into r->md5_b64. */
int s3_hash_body(struct s3_req *r, int want_sha, int want_md5, unsigned char *scratch);

struct s3_hashpool;

/* nthreads >= 1 workers, started here. NULL when no thread or memory could be had. */
struct s3_hashpool *s3_hashpool_new(int nthreads, void (*wake)(void *), void *wake_arg);
void s3_hashpool_free(struct s3_hashpool *p);
/* Queues r for hashing with r->hash_sha / r->hash_md5 as decided by the engine. */
void s3_hashpool_push(struct s3_hashpool *p, struct s3_req *r);
/* Takes every finished request (linked through hnext, in no particular order), or NULL. The
 * request's hash_rc says whether hashing succeeded (0) or failed (-1, r->err set). */
struct s3_req *s3_hashpool_take(struct s3_hashpool *p);

#endif
