/* The S3 operations, as request builders (submit many, run them in parallel) and a few
 * synchronous helpers for the multi-request ones (listing every page, deleting many keys).
 *
 * Contract: builders only allocate (NULL on out of memory) and never block; the request they
 * return is then submitted to a client (s3_request.h) and freed by the caller. Query strings
 * are percent-encoded here so that what is sent is exactly what is signed. Conditional
 * requests use s3_req_header(r, "If-Match" / "If-None-Match" / "If-Modified-Since", ...).
 * Synchronous helpers block in s3_run() and return 0 or -1 with err filled. */
#ifndef TANDEM_S3_OPS_H
#define TANDEM_S3_OPS_H

#include "s3/s3_request.h"
#include "s3/s3_xml.h"

struct s3_req *s3_op_create_bucket(const char *bucket, const char *region);
struct s3_req *s3_op_delete_bucket(const char *bucket);
struct s3_req *s3_op_put(const char *bucket, const char *key, const struct s3_src *src);
/* len 0: the whole object; else bytes [off, off+len). */
struct s3_req *s3_op_get(const char *bucket, const char *key, const struct s3_sink *sink,
                         uint64_t off, uint64_t len);
struct s3_req *s3_op_head(const char *bucket, const char *key);
struct s3_req *s3_op_delete(const char *bucket, const char *key);
/* Up to 1000 keys; the body is built here and Content-MD5 sent, as S3 requires. */
struct s3_req *s3_op_delete_objects(const char *bucket, const char *const *keys, size_t n);
/* prefix, delimiter, token may be NULL; max_keys 0: the server's default (1000). */
struct s3_req *s3_op_list_v2(const char *bucket, const char *prefix, const char *delimiter,
                             const char *token, int max_keys);
struct s3_req *s3_op_mpu_create(const char *bucket, const char *key);
struct s3_req *s3_op_mpu_part(const char *bucket, const char *key, const char *upload_id,
                              int part_number, const struct s3_src *src);
struct s3_req *s3_op_mpu_complete(const char *bucket, const char *key, const char *upload_id,
                                  char (*etags)[80], size_t nparts);
struct s3_req *s3_op_mpu_abort(const char *bucket, const char *key, const char *upload_id);
struct s3_req *s3_op_list_uploads(const char *bucket, const char *prefix, const char *key_marker,
                                  const char *upload_id_marker);

/* Calls cb for every object under prefix, page after page (continuation tokens). cb returns 0 to
 * go on. *pages, if not NULL, receives the number of pages fetched. */
int s3_list_all(struct s3_client *c, const char *bucket, const char *prefix, int max_keys,
                int (*cb)(const struct s3_object_info *o, void *arg), void *arg, int *pages,
                struct s3_error *err);

/* Deletes keys in DeleteObjects batches of up to 1000, the batches in parallel. A key the server
 * reports as not deleted fails the call (err names it). */
int s3_delete_many(struct s3_client *c, const char *bucket, const char *const *keys, size_t n,
                   struct s3_error *err);

/* Every in-progress multipart upload under prefix: cb(key, upload_id, arg). */
int s3_list_uploads_all(struct s3_client *c, const char *bucket, const char *prefix,
                        int (*cb)(const char *key, const char *upload_id, void *arg), void *arg,
                        struct s3_error *err);

#endif
