/* Endpoint resolution and addressing. Keys are percent-encoded here, once: the same string is
 * sent on the wire and signed, so the server's canonical URI matches ours byte for byte. */
#include "s3/s3_url.h"

#include "s3/sigv4.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int s3_endpoint_parse(const char *url, struct s3_endpoint *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->custom = 1;
    const char *p;
    if (strncmp(url, "https://", 8) == 0) {
        strcpy(out->scheme, "https");
        p = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        strcpy(out->scheme, "http");
        p = url + 7;
    } else {
        snprintf(err, errlen, "endpoint %s: only http:// and https:// are supported", url);
        return -1;
    }
    const char *slash = strchr(p, '/');
    size_t hostport_len = slash ? (size_t)(slash - p) : strlen(p);
    char hp[256];
    if (hostport_len == 0 || hostport_len >= sizeof(hp)) {
        snprintf(err, errlen, "endpoint %s: bad host", url);
        return -1;
    }
    memcpy(hp, p, hostport_len);
    hp[hostport_len] = '\0';
    char *colon = NULL;
    if (hp[0] == '[') {
        char *rb = strchr(hp, ']');
        if (!rb) {
            snprintf(err, errlen, "endpoint %s: bad IPv6 literal", url);
            return -1;
        }
        if (rb[1] == ':')
            colon = rb + 1;
    } else {
        colon = strrchr(hp, ':');
    }
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535) {
            snprintf(err, errlen, "endpoint %s: bad port", url);
            return -1;
        }
        out->port = (int)port;
        *colon = '\0';
    }
    snprintf(out->host, sizeof(out->host), "%s", hp);
    if (slash) {
        snprintf(out->base_path, sizeof(out->base_path), "%s", slash);
        size_t n = strlen(out->base_path);
        while (n && out->base_path[n - 1] == '/')
            out->base_path[--n] = '\0';
    }
    return 0;
}

int s3_endpoint_resolve(const char *override, const char *region, struct s3_endpoint *out,
                        char *err, size_t errlen)
{
    const char *url = override;
    if (!url || !*url)
        url = getenv("AWS_ENDPOINT_URL_S3");
    if (!url || !*url)
        url = getenv("AWS_ENDPOINT_URL");
    if (url && *url)
        return s3_endpoint_parse(url, out, err, errlen);
    memset(out, 0, sizeof(*out));
    strcpy(out->scheme, "https");
    snprintf(out->host, sizeof(out->host), "s3.%s.amazonaws.com",
             region && *region ? region : "us-east-1");
    return 0;
}

static int host_is_ip(const char *host)
{
    unsigned char buf[16];
    if (host[0] == '[')
        return 1;
    return inet_pton(AF_INET, host, buf) == 1 || strcmp(host, "localhost") == 0;
}

static int dns_compatible(const char *bucket, int https)
{
    size_t n = strlen(bucket);
    if (n < 3 || n > 63)
        return 0;
    for (const char *c = bucket; *c; c++) {
        if (isupper((unsigned char)*c) || *c == '_')
            return 0;
        if (*c == '.' && https) /* the wildcard certificate covers one label only */
            return 0;
    }
    return 1;
}

int s3_uses_path_style(const struct s3_endpoint *ep, enum s3_addressing mode, const char *bucket)
{
    if (!bucket || !*bucket)
        return 1;
    if (mode == S3_ADDR_PATH)
        return 1;
    if (mode == S3_ADDR_VHOST)
        return 0;
    if (host_is_ip(ep->host))
        return 1;
    return !dns_compatible(bucket, strcmp(ep->scheme, "https") == 0);
}

int s3_target_build(const struct s3_endpoint *ep, enum s3_addressing mode, const char *bucket,
                    const char *key, const char *query, struct s3_target *out)
{
    memset(out, 0, sizeof(*out));
    int path_style = s3_uses_path_style(ep, mode, bucket);
    size_t klen = key ? strlen(key) : 0;
    size_t blen = bucket ? strlen(bucket) : 0;
    size_t cap = strlen(ep->base_path) + 3 * (klen + blen) + 8;
    out->path = malloc(cap);
    if (!out->path)
        return -1;
    size_t o = (size_t)snprintf(out->path, cap, "%s/", ep->base_path);
    if (path_style && blen) {
        o += sigv4_uri_encode(bucket, blen, 0, out->path + o, cap - o);
        out->path[o++] = '/';
        out->path[o] = '\0';
    }
    if (klen)
        sigv4_uri_encode(key, klen, 1, out->path + o, cap - o);

    int default_port = ep->port == 0 || (strcmp(ep->scheme, "https") == 0 && ep->port == 443) ||
                       (strcmp(ep->scheme, "http") == 0 && ep->port == 80);
    char hostname[300];
    if (!path_style)
        snprintf(hostname, sizeof(hostname), "%s.%s", bucket, ep->host);
    else
        snprintf(hostname, sizeof(hostname), "%s", ep->host);
    if (default_port)
        snprintf(out->host, sizeof(out->host), "%s", hostname);
    else
        snprintf(out->host, sizeof(out->host), "%s:%d", hostname, ep->port);

    size_t ucap = strlen(out->host) + strlen(out->path) + (query ? strlen(query) : 0) + 16;
    out->url = malloc(ucap);
    if (!out->url) {
        s3_target_free(out);
        return -1;
    }
    snprintf(out->url, ucap, "%s://%s%s%s%s", ep->scheme, out->host, out->path,
             query && *query ? "?" : "", query && *query ? query : "");
    return 0;
}

void s3_target_free(struct s3_target *t)
{
    free(t->url);
    free(t->path);
    t->url = t->path = NULL;
}
