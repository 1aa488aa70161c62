/* What an S3 operation reports when it fails: one struct, one formatter.
 *
 * Contract: plain data owned by the caller, no allocation. Every field is filled from what the
 * client knows (operation, bucket/key) and what the server said (status, S3 error code, request
 * id, message). Messages from servers are copied only after s3_error_redact() has removed any
 * credential text, so s3_error_str() output is safe for logs and terminals. */
#ifndef TANDEM_S3_ERROR_H
#define TANDEM_S3_ERROR_H

#include <stddef.h>

struct s3_error {
    char op[32]; /* "PutObject", "UploadPart", ... */
    char bucket[64];
    char key[512];
    int http_status;     /* 0: no HTTP response */
    int curl_code;       /* CURLE_OK (0) when the transport worked */
    int attempts;        /* how many times it was tried */
    char code[64];       /* S3 error code ("SlowDown"), or a client-side reason */
    char request_id[96]; /* x-amz-request-id / RequestId */
    char message[384];
};

void s3_error_clear(struct s3_error *e);

/* Fills the client-side context (op, bucket, key) and the reason. fmt is printf-style. */
void s3_error_set(struct s3_error *e, const char *op, const char *bucket, const char *key,
                  const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* One line: "PutObject s3://b/k: HTTP 503 SlowDown: Please reduce... (request id X, 5 attempts)".
 * Returns buf. */
const char *s3_error_str(const struct s3_error *e, char *buf, size_t len);

/* Replaces every occurrence of each non-empty secret in text (in place) with "[redacted]"-style
 * asterisks of the same length; secrets is NULL-terminated. */
void s3_error_redact(char *text, const char *const *secrets);

#endif
