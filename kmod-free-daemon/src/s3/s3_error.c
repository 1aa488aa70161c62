/* Error formatting and redaction. Redaction is a last line of defence: no code path is meant to
 * put a secret into an error, but server messages are foreign text and get scrubbed anyway. */
#include "s3/s3_error.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void s3_error_clear(struct s3_error *e)
{
    memset(e, 0, sizeof(*e));
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

void s3_error_set(struct s3_error *e, const char *op, const char *bucket, const char *key,
                  const char *code, const char *fmt, ...)
{
    if (op)
        copy(e->op, sizeof(e->op), op);
    if (bucket)
        copy(e->bucket, sizeof(e->bucket), bucket);
    if (key)
        copy(e->key, sizeof(e->key), key);
    if (code)
        copy(e->code, sizeof(e->code), code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

const char *s3_error_str(const struct s3_error *e, char *buf, size_t len)
{
    size_t o = 0;
#define PUT(...)                                              \
    do {                                                      \
        if (o < len) {                                        \
            int n_ = snprintf(buf + o, len - o, __VA_ARGS__); \
            if (n_ > 0)                                       \
                o += (size_t)n_;                              \
        }                                                     \
    } while (0)
    if (len)
        buf[0] = '\0';
    PUT("%s", e->op[0] ? e->op : "request");
    if (e->bucket[0])
        PUT(" s3://%s/%s", e->bucket, e->key);
    PUT(":");
    if (e->http_status)
        PUT(" HTTP %d", e->http_status);
    else if (e->curl_code)
        PUT(" %s", curl_easy_strerror((CURLcode)e->curl_code));
    if (e->code[0])
        PUT(" %s", e->code);
    if (e->message[0])
        PUT(": %s", e->message);
    if (e->request_id[0] || e->attempts) {
        PUT(" (");
        if (e->request_id[0])
            PUT("request id %s%s", e->request_id, e->attempts ? ", " : "");
        if (e->attempts)
            PUT("%d attempt%s", e->attempts, e->attempts == 1 ? "" : "s");
        PUT(")");
    }
#undef PUT
    return buf;
}

void s3_error_redact(char *text, const char *const *secrets)
{
    for (; secrets && *secrets; secrets++) {
        size_t n = strlen(*secrets);
        if (n < 4) /* too short to be a credential; scrubbing it would garble messages */
            continue;
        for (char *p = strstr(text, *secrets); p; p = strstr(p + n, *secrets))
            memset(p, '*', n);
    }
}
