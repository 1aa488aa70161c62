/* AWS credentials and the provider chain, in the AWS SDKs' order:
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), AWS_CONFIG_FILE
 *      (~/.aws/config), profile AWS_PROFILE or "default"
 *   3. web identity (IRSA): AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN via STS
 *      AssumeRoleWithWebIdentity (endpoint AWS_ENDPOINT_URL_STS)
 *   4. container (ECS, EKS Pod Identity): AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI,
 *      with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / _TOKEN
 *   5. EC2 instance metadata, IMDSv2 only (AWS_EC2_METADATA_SERVICE_ENDPOINT,
 *      AWS_EC2_METADATA_DISABLED); a refused token PUT is an error, never a fall back to IMDSv1.
 * The first source that is configured is used; its failure is reported, not skipped, so a
 * broken IRSA setup never silently runs with the node's instance role.
 *
 * Contract: a provider is thread-safe (one mutex); s3_creds_get() may block on HTTP for a
 * refresh (bounded by http_timeout_ms per request). Temporary credentials are refreshed
 * refresh_margin_s before they expire; if a refresh fails while the cached ones are still
 * valid, those are returned and a warning logged. Secrets are never logged or put in errors;
 * callers wipe their copies with s3_creds_wipe(). */
#ifndef TANDEM_S3_CREDS_H
#define TANDEM_S3_CREDS_H

#include "s3/s3_error.h"

#include <time.h>

struct s3_creds {
    char access_key[128];
    char secret[128];
    char token[4096];
    time_t expires;  /* 0: does not expire */
    char source[48]; /* "env", "profile default", "web-identity", "container", "imds" */
};

struct s3_creds_opts {
    const char *profile;  /* NULL: AWS_PROFILE, else "default" */
    int refresh_margin_s; /* 0: 300 */
    int http_timeout_ms;  /* 0: 5000 (IMDS connects use min(this, 1000)) */
};

struct s3_creds_provider;

struct s3_creds_provider *s3_creds_chain_new(const struct s3_creds_opts *opts);
/* Fixed credentials (explicit configuration, tests); token may be NULL. */
struct s3_creds_provider *s3_creds_static_new(const char *access_key, const char *secret,
                                              const char *token);
void s3_creds_provider_free(struct s3_creds_provider *p);

/* Copies current credentials into out (refreshing if due). 0, or -1 with err filled. */
int s3_creds_get(struct s3_creds_provider *p, struct s3_creds *out, struct s3_error *err);
/* Forces the next get to fetch anew (after the server said the token expired). */
void s3_creds_invalidate(struct s3_creds_provider *p);
/* How many times a source was asked for credentials (tests check caching with it). */
int s3_creds_fetches(struct s3_creds_provider *p);

void s3_creds_wipe(struct s3_creds *c);

/* The region for a profile: AWS_REGION, AWS_DEFAULT_REGION, the config file's "region", else
 * "us-east-1". Writes into out. */
void s3_config_region(const char *profile, char *out, size_t cap);

#endif
