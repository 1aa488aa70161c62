/* The credential sources behind s3_creds.c, one file each, and what they share.
 *
 * Contract: each source returns CREDS_OK with out filled, CREDS_NOT_CONFIGURED when its
 * environment/config is absent (the chain moves on), or CREDS_FAIL with err filled (the chain
 * stops). Sources block on at most a few bounded HTTP requests; they keep no state except the
 * IMDS session token, which the caller owns. Nothing here logs a secret. */
#ifndef TANDEM_S3_CREDS_SOURCE_H
#define TANDEM_S3_CREDS_SOURCE_H

#include "s3/s3_creds.h"

#include <stddef.h>

enum { CREDS_OK = 0, CREDS_NOT_CONFIGURED = 1, CREDS_FAIL = -1 };

int creds_from_env(struct s3_creds *out, struct s3_error *err);
int creds_from_file(const char *profile, int explicit_profile, struct s3_creds *out,
                    struct s3_error *err);
int creds_from_web_identity(int timeout_ms, struct s3_creds *out, struct s3_error *err);
int creds_from_container(int timeout_ms, struct s3_creds *out, struct s3_error *err);

struct imds_session {
    char token[512];
    time_t token_expires;
};
int creds_from_imds(struct imds_session *s, int timeout_ms, struct s3_creds *out,
                    struct s3_error *err);

/* One blocking HTTP request for a credential endpoint. headers is NULL-terminated "Name: value"
 * lines. The body is capped at 64 KiB. use_proxy 0 disables any proxy (metadata endpoints must
 * be reached directly). Returns 0 when a response arrived (any status), -1 on transport failure
 * with a reason in errbuf. */
struct creds_http_resp {
    long status;
    char *body;
    size_t len;
};
int creds_http(const char *method, const char *url, const char *const *headers, const char *body,
               int timeout_ms, int use_proxy, struct creds_http_resp *out, char *errbuf,
               size_t errlen);
void creds_http_resp_free(struct creds_http_resp *r); /* wipes the body: it may hold secrets */

/* {"AccessKeyId","SecretAccessKey","Token","Expiration"} as IMDS and container endpoints send. */
int creds_parse_json(const char *body, size_t len, struct s3_creds *out, char *why, size_t whylen);
/* "2026-12-01T08:00:00Z" (fractional seconds allowed) -> time_t, or -1. */
time_t creds_parse_time(const char *s);
/* Reads a small token file whole, dropping trailing whitespace. 0 or -1 (errno set). */
int creds_read_token_file(const char *path, char *out, size_t cap);

#endif
