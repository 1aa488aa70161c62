/* Container credentials (ECS task roles, EKS Pod Identity). The full URI is only accepted over
 * https, or over http to loopback and the two link-local agent addresses AWS documents, since
 * the request carries an authorization token that must not leave the node. */
#include "s3/creds_source.h"

#include "s3/s3_url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Literal addresses only (a name such as 127.0.0.1.example.com must not pass for loopback):
 * 127.0.0.0/8, ::1, "localhost" (which curl never sends to DNS), and the ECS/EKS agents. */
static int allowed_http_host(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1) {
        static const unsigned char ecs[4] = {169, 254, 170, 2}, eks[4] = {169, 254, 170, 23};
        return a[0] == 127 || memcmp(a, ecs, 4) == 0 || memcmp(a, eks, 4) == 0;
    }
    size_t n = strlen(host);
    char v6[64];
    if (n < 3 || n - 2 >= sizeof(v6) || host[0] != '[' || host[n - 1] != ']')
        return 0;
    memcpy(v6, host + 1, n - 2);
    v6[n - 2] = '\0';
    if (inet_pton(AF_INET6, v6, a) != 1)
        return 0;
    static const unsigned char lo[16] = {[15] = 1};
    static const unsigned char eks6[16] = {0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23};
    return memcmp(a, lo, 16) == 0 || memcmp(a, eks6, 16) == 0;
}

int creds_from_container(int timeout_ms, struct s3_creds *out, struct s3_error *err)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    char url[2048];
    if (rel && *rel) {
        snprintf(url, sizeof(url), "http://169.254.170.2%s", rel);
    } else if (full && *full) {
        struct s3_endpoint ep;
        char why[256];
        if (s3_endpoint_parse(full, &ep, why, sizeof(why)) != 0) {
            s3_error_set(err, "container credentials", NULL, NULL, "BadContainerUri", "%s", why);
            return CREDS_FAIL;
        }
        if (strcmp(ep.scheme, "http") == 0 && !allowed_http_host(ep.host)) {
            s3_error_set(err, "container credentials", NULL, NULL, "BadContainerUri",
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI %s: http is only allowed to "
                         "loopback or the container agent addresses",
                         full);
            return CREDS_FAIL;
        }
        snprintf(url, sizeof(url), "%s", full);
    } else {
        return CREDS_NOT_CONFIGURED;
    }

    char auth[4096 + 32] = "";
    char tok[4096] = "";
    const char *tf = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *te = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (tf && *tf) {
        if (creds_read_token_file(tf, tok, sizeof(tok)) != 0) {
            s3_error_set(err, "container credentials", NULL, NULL, "TokenFileUnreadable",
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s: %s", tf, strerror(errno));
            return CREDS_FAIL;
        }
    } else if (te && *te) {
        snprintf(tok, sizeof(tok), "%s", te);
    }
    if (strpbrk(tok, "\r\n")) {
        s3_error_set(err, "container credentials", NULL, NULL, "BadAuthorizationToken",
                     "the container authorization token contains a line break");
        OPENSSL_cleanse(tok, sizeof(tok));
        return CREDS_FAIL;
    }
    const char *hdrs[3];
    size_t nh = 0;
    if (tok[0]) {
        snprintf(auth, sizeof(auth), "Authorization: %s", tok);
        hdrs[nh++] = auth;
    }
    hdrs[nh++] = "Accept: application/json";
    hdrs[nh] = NULL;
    OPENSSL_cleanse(tok, sizeof(tok));

    struct creds_http_resp r;
    char why[256];
    int rc = CREDS_FAIL;
    if (creds_http("GET", url, hdrs, NULL, timeout_ms, 0, &r, why, sizeof(why)) != 0) {
        s3_error_set(err, "container credentials", NULL, NULL, "EndpointUnreachable", "%s: %s", url,
                     why);
        goto out;
    }
    if (r.status != 200) {
        s3_error_set(err, "container credentials", NULL, NULL, "EndpointRefused",
                     "%s answered HTTP %ld%s", url, r.status,
                     r.status == 401 || r.status == 403 ? " (authorization token rejected)" : "");
        err->http_status = (int)r.status;
    } else if (creds_parse_json(r.body, r.len, out, why, sizeof(why)) != 0) {
        s3_error_set(err, "container credentials", NULL, NULL, "BadResponse", "%s: %s", url, why);
    } else {
        snprintf(out->source, sizeof(out->source), "container");
        rc = CREDS_OK;
    }
    creds_http_resp_free(&r);
out:
    OPENSSL_cleanse(auth, sizeof(auth));
    return rc;
}
