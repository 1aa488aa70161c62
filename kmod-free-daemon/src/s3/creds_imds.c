/* EC2 instance metadata, IMDSv2 only: PUT /latest/api/token (with a TTL header) opens a
 * session; every GET carries X-aws-ec2-metadata-token. If the token PUT is refused or fails,
 * that is the answer: an IMDSv1 GET without a token is never sent, because v1 is what SSRF
 * attacks use and what operators disable. The session token is kept until shortly before its
 * TTL ends and renewed once if a GET says 401. */
#include "s3/creds_source.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IMDS_TTL_S 21600

static void base_url(char *out, size_t cap)
{
    const char *e = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (e && *e)
        snprintf(out, cap, "%s", e);
    else if (mode && strcasecmp(mode, "IPv6") == 0)
        snprintf(out, cap, "http://[fd00:ec2::254]");
    else
        snprintf(out, cap, "http://169.254.169.254");
    size_t n = strlen(out);
    while (n && out[n - 1] == '/')
        out[--n] = '\0';
}

static int get_token(struct imds_session *s, const char *base, int timeout_ms, struct s3_error *err)
{
    char url[1200], why[256], ttl[64];
    snprintf(url, sizeof(url), "%s/latest/api/token", base);
    snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TTL_S);
    const char *hdrs[] = {ttl, NULL};
    struct creds_http_resp r;
    if (creds_http("PUT", url, hdrs, NULL, timeout_ms, 0, &r, why, sizeof(why)) != 0) {
        s3_error_set(err, "IMDSv2", NULL, NULL, "ImdsUnreachable",
                     "token request PUT %s failed: %s (IMDSv1 is never used)", url, why);
        return -1;
    }
    if (r.status != 200 || r.len == 0 || r.len >= sizeof(s->token)) {
        s3_error_set(err, "IMDSv2", NULL, NULL, "ImdsTokenRefused",
                     "token request PUT %s answered HTTP %ld; IMDSv2 is required and IMDSv1 is "
                     "never used",
                     url, r.status);
        err->http_status = (int)r.status;
        creds_http_resp_free(&r);
        return -1;
    }
    memcpy(s->token, r.body, r.len);
    s->token[r.len] = '\0';
    s->token_expires = time(NULL) + IMDS_TTL_S - 60;
    creds_http_resp_free(&r);
    return 0;
}

/* GET path with the session token; renews the token once on 401. */
static int imds_get(struct imds_session *s, const char *base, const char *path, int timeout_ms,
                    struct creds_http_resp *r, struct s3_error *err)
{
    for (int round = 0; round < 2; round++) {
        if (!s->token[0] || time(NULL) >= s->token_expires)
            if (get_token(s, base, timeout_ms, err) != 0)
                return -1;
        char url[1200], why[256], hdr[600];
        snprintf(url, sizeof(url), "%s%s", base, path);
        snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", s->token);
        const char *hdrs[] = {hdr, NULL};
        int rc = creds_http("GET", url, hdrs, NULL, timeout_ms, 0, r, why, sizeof(why));
        OPENSSL_cleanse(hdr, sizeof(hdr));
        if (rc != 0) {
            s3_error_set(err, "IMDSv2", NULL, NULL, "ImdsUnreachable", "GET %s: %s", url, why);
            return -1;
        }
        if (r->status == 401 && round == 0) {
            creds_http_resp_free(r);
            OPENSSL_cleanse(s->token, sizeof(s->token));
            s->token[0] = '\0';
            continue;
        }
        if (r->status != 200) {
            s3_error_set(err, "IMDSv2", NULL, NULL, "ImdsRefused", "GET %s answered HTTP %ld", url,
                         r->status);
            err->http_status = (int)r->status;
            creds_http_resp_free(r);
            return -1;
        }
        return 0;
    }
    return -1;
}

int creds_from_imds(struct imds_session *s, int timeout_ms, struct s3_creds *out,
                    struct s3_error *err)
{
    const char *dis = getenv("AWS_EC2_METADATA_DISABLED");
    if (dis && strcasecmp(dis, "true") == 0)
        return CREDS_NOT_CONFIGURED;
    char base[1024];
    base_url(base, sizeof(base));
    const char *prefix = "/latest/meta-data/iam/security-credentials/";
    struct creds_http_resp r;
    if (imds_get(s, base, prefix, timeout_ms, &r, err) != 0)
        return CREDS_FAIL;
    char role[256];
    size_t n = strcspn(r.body ? r.body : "", "\r\n");
    if (n == 0 || n >= sizeof(role) || strchr(r.body, '/')) {
        s3_error_set(err, "IMDSv2", NULL, NULL, "NoInstanceRole",
                     "the instance has no IAM role attached");
        creds_http_resp_free(&r);
        return CREDS_FAIL;
    }
    memcpy(role, r.body, n);
    role[n] = '\0';
    creds_http_resp_free(&r);
    char path[512], why[256];
    snprintf(path, sizeof(path), "%s%s", prefix, role);
    if (imds_get(s, base, path, timeout_ms, &r, err) != 0)
        return CREDS_FAIL;
    int rc = creds_parse_json(r.body, r.len, out, why, sizeof(why));
    creds_http_resp_free(&r);
    if (rc != 0) {
        s3_error_set(err, "IMDSv2", NULL, NULL, "BadResponse", "role %s: %s", role, why);
        return CREDS_FAIL;
    }
    snprintf(out->source, sizeof(out->source), "imds");
    return CREDS_OK;
}
