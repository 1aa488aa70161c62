/* Where a request goes: endpoint resolution and bucket addressing.
 *
 * Contract: pure functions (the resolver reads the environment); thread-safe. The endpoint comes
 * from the explicit override, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS's
 * regional endpoint https://s3.<region>.amazonaws.com. Virtual-host style puts the bucket in the
 * host name ("bucket.vpce-123.s3.us-east-1.vpce.amazonaws.com" for a VPC endpoint works the same
 * way); path style puts it first in the path. Auto picks path style for IP-address and localhost
 * endpoints and for bucket names that cannot be a DNS label (dots over https, upper case, '_').
 * Errors: -1 with a reason in err. */
#ifndef TANDEM_S3_URL_H
#define TANDEM_S3_URL_H

#include <stddef.h>

enum s3_addressing { S3_ADDR_AUTO, S3_ADDR_PATH, S3_ADDR_VHOST };

struct s3_endpoint {
    char scheme[8];      /* "http" or "https" */
    char host[256];      /* IPv6 literals keep their brackets */
    int port;            /* 0: the scheme's default */
    char base_path[256]; /* a path prefix of the endpoint, "" usually; no trailing '/' */
    int custom;          /* 1 when not AWS's own endpoint */
};

/* Resolves the endpoint for region; override may be NULL. */
int s3_endpoint_resolve(const char *override, const char *region, struct s3_endpoint *out,
                        char *err, size_t errlen);

/* Parses an http(s) URL into an endpoint. */
int s3_endpoint_parse(const char *url, struct s3_endpoint *out, char *err, size_t errlen);

/* A built request target; the strings are malloc'd, free with s3_target_free(). */
struct s3_target {
    char *url;      /* full URL as passed to libcurl */
    char *path;     /* the wire path, also the SigV4 canonical URI */
    char host[320]; /* the Host header value, port included when not the default */
};

/* Builds the target for bucket (may be NULL: the service root), key (may be NULL or "") and a
 * pre-encoded query (may be NULL). */
int s3_target_build(const struct s3_endpoint *ep, enum s3_addressing mode, const char *bucket,
                    const char *key, const char *query, struct s3_target *out);
void s3_target_free(struct s3_target *t);

/* 1 when the bucket goes in the path for this endpoint and mode. */
int s3_uses_path_style(const struct s3_endpoint *ep, enum s3_addressing mode, const char *bucket);

#endif
