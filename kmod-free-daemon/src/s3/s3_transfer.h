/* Whole-object transfers: upload (single PUT, or multipart with parallel parts) and download
 * (single GET, or parallel ranged GETs pinned to one ETag), as state machines on the engine so
 * that many objects and their parts share the client's parallelism.
 *
 * Contract: *_begin() only submits requests; progress happens inside s3_run(), where the done
 * callback is called once per transfer. Sources and sinks are borrowed until then. A multipart
 * upload that fails at any step is aborted before done runs (err says if the abort failed too,
 * naming the upload id), so a failed upload leaves nothing that accrues cost. Downloads pin
 * every range to the ETag the HEAD returned (If-Match), so an object overwritten mid-download
 * fails with PreconditionFailed instead of producing a torn file. The synchronous wrappers
 * block in s3_run() and return 0 or -1 with err filled. */
#ifndef TANDEM_S3_TRANSFER_H
#define TANDEM_S3_TRANSFER_H

#include "s3/s3_request.h"

struct s3_xfer_opts {
    uint64_t part_size;        /* 0: by size, 8..64 MiB, ~4 parts per connection (S3 wants
                                  >= 5 MiB except the last part) */
    uint64_t threshold;        /* objects larger than this go multipart/ranged; 0: 16 MiB */
    int window;                /* parts in flight per object; 0: 2 x parallel */
    int md5;                   /* send Content-MD5 with every PUT and part */
    const char *content_type;  /* uploads */
    const char *if_none_match; /* uploads: "*" to refuse overwriting (where supported) */
    const char *if_match;      /* downloads: require this ETag */
};

struct s3_xfer;

struct s3_xfer *s3_upload_begin(struct s3_client *c, const char *bucket, const char *key,
                                const struct s3_src *src, const struct s3_xfer_opts *opts,
                                void (*done)(struct s3_xfer *x, void *arg), void *arg);
/* sink must be S3_SINK_FD (pwrite at offsets) or S3_SINK_BUF. */
struct s3_xfer *s3_download_begin(struct s3_client *c, const char *bucket, const char *key,
                                  const struct s3_sink *sink, const struct s3_xfer_opts *opts,
                                  void (*done)(struct s3_xfer *x, void *arg), void *arg);

/* After done: 0 when it succeeded, else -1 and *err (if not NULL) filled. */
int s3_xfer_result(const struct s3_xfer *x, struct s3_error *err);
uint64_t s3_xfer_size(const struct s3_xfer *x);
const char *s3_xfer_etag(const struct s3_xfer *x);
int s3_xfer_parts(const struct s3_xfer *x); /* 0 for a single request */
void s3_xfer_free(struct s3_xfer *x);

int s3_upload(struct s3_client *c, const char *bucket, const char *key, const struct s3_src *src,
              const struct s3_xfer_opts *opts, struct s3_error *err);
int s3_download(struct s3_client *c, const char *bucket, const char *key,
                const struct s3_sink *sink, const struct s3_xfer_opts *opts, uint64_t *size,
                struct s3_error *err);

#endif
