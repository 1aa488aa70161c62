/* SigV4 signing: canonical request, string to sign, derived key, signature.
 *
 * The canonical forms follow AWS's "Create a canonical request" rules. Most signing bugs hide in
 * canonicalization, so each step is a separate function the unit tests can compare with AWS's
 * published intermediate strings. Buffers are malloc'd per request (a request is thousands of
 * body bytes; a few small allocations per request are not the hot path). */
#include "s3/sigv4.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable string; all writers stop at the first allocation failure (oom flag). */
struct sb {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_putn(struct sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static char *sb_finish(struct sb *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    if (!b->p)
        return strdup("");
    return b->p;
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(buf, len, md);
    hex(md, sizeof(md), out);
}

static int unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

size_t sigv4_uri_encode(const char *in, size_t n, int keep_slash, char *out, size_t cap)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            if (o + 1 >= cap)
                goto full;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= cap)
                goto full;
            out[o++] = '%';
            out[o++] = digits[c >> 4];
            out[o++] = digits[c & 15];
        }
    }
    if (cap)
        out[o] = '\0';
    return o;
full:
    if (cap)
        out[o] = '\0';
    return (size_t)-1;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes in[0..n) then RFC 3986-encodes it into a new string. */
static char *reencode(const char *in, size_t n)
{
    char *raw = malloc(n + 1);
    char *enc = malloc(3 * n + 1);
    if (!raw || !enc) {
        free(raw);
        free(enc);
        return NULL;
    }
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (in[i] == '%' && i + 2 < n && (h = hexval(in[i + 1])) >= 0 &&
            (l = hexval(in[i + 2])) >= 0) {
            raw[r++] = (char)(h * 16 + l);
            i += 2;
        } else {
            raw[r++] = in[i];
        }
    }
    sigv4_uri_encode(raw, r, 0, enc, 3 * n + 1);
    free(raw);
    return enc;
}

struct qparam {
    char *key, *val;
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->val, y->val);
}

char *sigv4_canonical_query(const char *query)
{
    if (!query || !*query)
        return strdup("");
    size_t n = 1;
    for (const char *p = query; *p; p++)
        n += *p == '&';
    struct qparam *qp = calloc(n, sizeof(*qp));
    if (!qp)
        return NULL;
    size_t cnt = 0;
    int oom = 0;
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        if (!end)
            end = p + strlen(p);
        if (end > p) {
            const char *eq = memchr(p, '=', (size_t)(end - p));
            const char *kend = eq ? eq : end;
            qp[cnt].key = reencode(p, (size_t)(kend - p));
            qp[cnt].val = eq ? reencode(eq + 1, (size_t)(end - eq - 1)) : strdup("");
            if (!qp[cnt].key || !qp[cnt].val)
                oom = 1;
            cnt++;
        }
        p = *end ? end + 1 : end;
    }
    struct sb b = {0};
    if (!oom) {
        qsort(qp, cnt, sizeof(*qp), qparam_cmp);
        for (size_t i = 0; i < cnt; i++) {
            if (i)
                sb_puts(&b, "&");
            sb_puts(&b, qp[i].key);
            sb_puts(&b, "=");
            sb_puts(&b, qp[i].val);
        }
    }
    for (size_t i = 0; i < cnt; i++) {
        free(qp[i].key);
        free(qp[i].val);
    }
    free(qp);
    if (oom) {
        free(b.p);
        return NULL;
    }
    return sb_finish(&b);
}

struct chdr {
    char *name;        /* lowercased */
    const char *value; /* as given */
    size_t order;      /* position given, so duplicates keep their order */
};

static int chdr_cmp(const void *a, const void *b)
{
    const struct chdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends a header value trimmed, with runs of spaces collapsed to one (AWS's rule). */
static void put_trimmed(struct sb *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == ' ' || v[i] == '\t') {
            space = 1;
            continue;
        }
        if (space)
            sb_putn(b, " ", 1);
        space = 0;
        sb_putn(b, &v[i], 1);
    }
}

/* Builds both the canonical headers block and the signed-headers list. */
static int canonical_headers(const struct sigv4_input *in, struct sb *block, struct sb *names)
{
    struct chdr *h = calloc(in->nheaders ? in->nheaders : 1, sizeof(*h));
    if (!h)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < in->nheaders; i++) {
        h[i].name = strdup(in->headers[i].name);
        if (!h[i].name) {
            rc = -1;
            goto out;
        }
        for (char *c = h[i].name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        h[i].value = in->headers[i].value ? in->headers[i].value : "";
        h[i].order = i;
    }
    qsort(h, in->nheaders, sizeof(*h), chdr_cmp);
    for (size_t i = 0; i < in->nheaders; i++) {
        if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
            /* A repeated header: values joined with ',' on one line. */
            struct sb tmp = {0};
            put_trimmed(&tmp, h[i].value);
            block->len--; /* drop the '\n' of the previous value */
            sb_puts(block, ",");
            sb_puts(block, tmp.p ? tmp.p : "");
            sb_puts(block, "\n");
            free(tmp.p);
            continue;
        }
        if (names->len)
            sb_puts(names, ";");
        sb_puts(names, h[i].name);
        sb_puts(block, h[i].name);
        sb_puts(block, ":");
        put_trimmed(block, h[i].value);
        sb_puts(block, "\n");
    }
    if (block->oom || names->oom)
        rc = -1;
out:
    for (size_t i = 0; i < in->nheaders; i++)
        free(h[i].name);
    free(h);
    return rc;
}

static char *canonical_request_and_names(const struct sigv4_input *in, char **signed_names)
{
    struct sb block = {0}, names = {0}, out = {0};
    char *cq = sigv4_canonical_query(in->query);
    if (!cq || canonical_headers(in, &block, &names) != 0) {
        free(cq);
        free(block.p);
        free(names.p);
        return NULL;
    }
    sb_puts(&out, in->method);
    sb_puts(&out, "\n");
    sb_puts(&out, in->path && *in->path ? in->path : "/");
    sb_puts(&out, "\n");
    sb_puts(&out, cq);
    sb_puts(&out, "\n");
    sb_puts(&out, block.p ? block.p : "");
    sb_puts(&out, "\n");
    sb_puts(&out, names.p ? names.p : "");
    sb_puts(&out, "\n");
    sb_puts(&out, in->payload_hash ? in->payload_hash : SIGV4_EMPTY_SHA256);
    free(cq);
    free(block.p);
    if (signed_names)
        *signed_names = sb_finish(&names);
    else
        free(names.p);
    return sb_finish(&out);
}

char *sigv4_canonical_request(const struct sigv4_input *in)
{
    return canonical_request_and_names(in, NULL);
}

char *sigv4_string_to_sign(const struct sigv4_input *in, const char *canonical_request)
{
    char h[65];
    sigv4_sha256_hex(canonical_request, strlen(canonical_request), h);
    struct sb b = {0};
    sb_puts(&b, "AWS4-HMAC-SHA256\n");
    sb_puts(&b, in->amz_date);
    sb_puts(&b, "\n");
    sb_putn(&b, in->amz_date, 8);
    sb_puts(&b, "/");
    sb_puts(&b, in->region);
    sb_puts(&b, "/");
    sb_puts(&b, in->service);
    sb_puts(&b, "/aws4_request\n");
    sb_puts(&b, h);
    return sb_finish(&b);
}

static void hmac(const void *key, size_t klen, const char *msg, size_t mlen, unsigned char out[32])
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &olen);
}

int sigv4_authorization(const struct sigv4_input *in, const char *access_key, const char *secret,
                        char *auth, size_t authlen, char *signature_hex)
{
    char *names = NULL;
    char *creq = canonical_request_and_names(in, &names);
    char *sts = creq ? sigv4_string_to_sign(in, creq) : NULL;
    int rc = -1;
    if (!sts || !names)
        goto out;

    /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
    size_t slen = strlen(secret);
    char *k0 = malloc(slen + 5);
    if (!k0)
        goto out;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen + 1);
    unsigned char k[32], sig[32];
    hmac(k0, slen + 4, in->amz_date, 8, k);
    OPENSSL_cleanse(k0, slen + 4);
    free(k0);
    hmac(k, 32, in->region, strlen(in->region), k);
    hmac(k, 32, in->service, strlen(in->service), k);
    hmac(k, 32, "aws4_request", 12, k);
    hmac(k, 32, sts, strlen(sts), sig);
    OPENSSL_cleanse(k, sizeof(k));
    char sighex[65];
    hex(sig, 32, sighex);
    int n = snprintf(auth, authlen,
                     "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
                     "Signature=%s",
                     access_key, in->amz_date, in->region, in->service, names, sighex);
    if (n < 0 || (size_t)n >= authlen)
        goto out;
    if (signature_hex)
        memcpy(signature_hex, sighex, 65);
    rc = 0;
out:
    free(creq);
    free(sts);
    free(names);
    return rc;
}
