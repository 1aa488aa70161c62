/* Blocking HTTP for credential endpoints (STS, container, IMDS) and the helpers they share.
 * Credential requests are rare (once per expiry), so a fresh easy handle each time is fine. */
#include "s3/creds_source.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CREDS_BODY_MAX (64 * 1024)

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct creds_http_resp *r = arg;
    size_t len = sz * n;
    if (r->len + len > CREDS_BODY_MAX)
        return 0; /* aborts the transfer: no credential document is this big */
    char *b = realloc(r->body, r->len + len + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, len);
    r->body = b;
    r->len += len;
    b[r->len] = '\0';
    return len;
}

int creds_http(const char *method, const char *url, const char *const *headers, const char *body,
               int timeout_ms, int use_proxy, struct creds_http_resp *out, char *errbuf,
               size_t errlen)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(errbuf, errlen, "curl_easy_init failed");
        return -1;
    }
    struct curl_slist *sl = NULL;
    for (const char *const *h = headers; h && *h; h++)
        sl = curl_slist_append(sl, *h);
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (!use_proxy)
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    const char *ca = getenv("AWS_CA_BUNDLE");
    if (ca && *ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    else
        snprintf(errbuf, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
    curl_slist_free_all(sl);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        creds_http_resp_free(out);
        return -1;
    }
    return 0;
}

void creds_http_resp_free(struct creds_http_resp *r)
{
    if (r->body) {
        OPENSSL_cleanse(r->body, r->len);
        free(r->body);
    }
    memset(r, 0, sizeof(*r));
}

time_t creds_parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return -1;
    if (*end == '.')
        while (*++end >= '0' && *end <= '9')
            ;
    if (*end && strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0)
        return -1;
    return timegm(&tm);
}

static int json_str(json_object *o, const char *name, char *out, size_t cap)
{
    json_object *v;
    if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return -1;
    const char *s = json_object_get_string(v);
    if (strlen(s) >= cap)
        return -1;
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

int creds_parse_json(const char *body, size_t len, struct s3_creds *out, char *why, size_t whylen)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
    if (tok)
        json_tokener_free(tok);
    int rc = -1;
    if (!o || !json_object_is_type(o, json_type_object)) {
        snprintf(why, whylen, "response is not a JSON object");
        goto out;
    }
    char code[64];
    if (json_str(o, "Code", code, sizeof(code)) == 0 && strcmp(code, "Success") != 0) {
        snprintf(why, whylen, "endpoint answered Code=%s", code);
        goto out;
    }
    if (json_str(o, "AccessKeyId", out->access_key, sizeof(out->access_key)) ||
        json_str(o, "SecretAccessKey", out->secret, sizeof(out->secret))) {
        snprintf(why, whylen, "response lacks AccessKeyId/SecretAccessKey");
        goto out;
    }
    if (json_str(o, "Token", out->token, sizeof(out->token)))
        out->token[0] = '\0';
    char exp[64];
    out->expires = 0;
    if (json_str(o, "Expiration", exp, sizeof(exp)) == 0) {
        out->expires = creds_parse_time(exp);
        if (out->expires == (time_t)-1) {
            snprintf(why, whylen, "unreadable Expiration \"%s\"", exp);
            goto out;
        }
    }
    rc = 0;
out:
    if (o)
        json_object_put(o); /* json-c does not wipe; the parsed copy is short-lived */
    if (rc)
        s3_creds_wipe(out);
    return rc;
}

int creds_read_token_file(const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap - 1) {
            close(fd);
            errno = EFBIG;
            return -1;
        }
    }
    close(fd);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        n--;
    out[n] = '\0';
    return 0;
}
