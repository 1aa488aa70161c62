/* The provider chain: picks the first configured source, caches what it returned, refreshes
 * temporary credentials before they expire, and keeps serving still-valid ones when a refresh
 * fails (a short STS outage must not fail every in-flight upload). */
#include "s3/s3_creds.h"

#include "s3/creds_source.h"
#include "util/log.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum source { SRC_NONE, SRC_STATIC, SRC_ENV, SRC_FILE, SRC_WEB, SRC_CONTAINER, SRC_IMDS };

struct s3_creds_provider {
    pthread_mutex_t mu;
    int is_static;
    enum source chosen; /* SRC_NONE until the chain has resolved once */
    struct s3_creds cached;
    int have, force;
    int fetches;
    int margin_s, timeout_ms;
    char profile[128];
    int explicit_profile;
    struct imds_session imds;
};

void s3_creds_wipe(struct s3_creds *c)
{
    OPENSSL_cleanse(c, sizeof(*c));
}

static struct s3_creds_provider *alloc_provider(void)
{
    struct s3_creds_provider *p = calloc(1, sizeof(*p));
    if (p)
        pthread_mutex_init(&p->mu, NULL);
    return p;
}

struct s3_creds_provider *s3_creds_chain_new(const struct s3_creds_opts *opts)
{
    struct s3_creds_provider *p = alloc_provider();
    if (!p)
        return NULL;
    p->margin_s = opts && opts->refresh_margin_s > 0 ? opts->refresh_margin_s : 300;
    p->timeout_ms = opts && opts->http_timeout_ms > 0 ? opts->http_timeout_ms : 5000;
    const char *prof = opts && opts->profile && *opts->profile ? opts->profile : NULL;
    if (!prof) {
        prof = getenv("AWS_PROFILE");
        if (!prof || !*prof)
            prof = NULL;
    }
    p->explicit_profile = prof != NULL;
    snprintf(p->profile, sizeof(p->profile), "%s", prof ? prof : "default");
    return p;
}

struct s3_creds_provider *s3_creds_static_new(const char *access_key, const char *secret,
                                              const char *token)
{
    struct s3_creds_provider *p = alloc_provider();
    if (!p)
        return NULL;
    p->is_static = 1;
    p->chosen = SRC_STATIC;
    p->have = 1;
    snprintf(p->cached.access_key, sizeof(p->cached.access_key), "%s", access_key);
    snprintf(p->cached.secret, sizeof(p->cached.secret), "%s", secret);
    snprintf(p->cached.token, sizeof(p->cached.token), "%s", token ? token : "");
    snprintf(p->cached.source, sizeof(p->cached.source), "static");
    return p;
}

void s3_creds_provider_free(struct s3_creds_provider *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->mu);
    OPENSSL_cleanse(p, sizeof(*p));
    free(p);
}

static int ask(struct s3_creds_provider *p, enum source s, struct s3_creds *out,
               struct s3_error *err)
{
    int imds_timeout = p->timeout_ms < 1000 ? p->timeout_ms : 1000;
    switch (s) {
    case SRC_ENV:
        return creds_from_env(out, err);
    case SRC_FILE:
        return creds_from_file(p->profile, p->explicit_profile, out, err);
    case SRC_WEB:
        return creds_from_web_identity(p->timeout_ms, out, err);
    case SRC_CONTAINER:
        return creds_from_container(p->timeout_ms, out, err);
    case SRC_IMDS:
        return creds_from_imds(&p->imds, imds_timeout, out, err);
    default:
        return CREDS_NOT_CONFIGURED;
    }
}

/* Walks the chain (or re-asks the chosen source). Called with the lock held. */
static int fetch(struct s3_creds_provider *p, struct s3_creds *out, struct s3_error *err)
{
    static const enum source order[] = {SRC_ENV, SRC_FILE, SRC_WEB, SRC_CONTAINER, SRC_IMDS};
    p->fetches++;
    if (p->chosen != SRC_NONE) {
        int rc = ask(p, p->chosen, out, err);
        return rc == CREDS_OK ? 0 : -1;
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        s3_error_clear(err);
        int rc = ask(p, order[i], out, err);
        if (rc == CREDS_OK) {
            p->chosen = order[i];
            return 0;
        }
        if (rc == CREDS_FAIL)
            return -1;
    }
    s3_error_set(err, "credentials", NULL, NULL, "NoCredentials",
                 "no AWS credentials found (tried environment, profile %s in the shared files, "
                 "web identity, container credentials; IMDS is disabled)",
                 p->profile);
    return -1;
}

int s3_creds_get(struct s3_creds_provider *p, struct s3_creds *out, struct s3_error *err)
{
    pthread_mutex_lock(&p->mu);
    time_t now = time(NULL);
    int fresh =
        p->have && !p->force && (p->cached.expires == 0 || now < p->cached.expires - p->margin_s);
    if (p->is_static || fresh) {
        *out = p->cached;
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    struct s3_creds got;
    memset(&got, 0, sizeof(got));
    int rc = fetch(p, &got, err);
    if (rc == 0 && got.expires != 0 && got.expires <= now) {
        s3_error_set(err, "credentials", NULL, NULL, "ExpiredCredentials",
                     "%s returned credentials that have already expired", got.source);
        rc = -1;
    }
    if (rc == 0) {
        p->cached = got;
        p->have = 1;
        p->force = 0;
        *out = got;
        log_debug("s3", "credentials from %s, access key %s%s", got.source, got.access_key,
                  got.expires ? ", temporary" : "");
    } else if (p->have && p->cached.expires > now && !p->force) {
        char buf[600];
        log_warn("s3", "credential refresh failed, using cached ones for %lds more: %s",
                 (long)(p->cached.expires - now), s3_error_str(err, buf, sizeof(buf)));
        *out = p->cached;
        rc = 0;
    }
    s3_creds_wipe(&got);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void s3_creds_invalidate(struct s3_creds_provider *p)
{
    pthread_mutex_lock(&p->mu);
    if (!p->is_static)
        p->force = 1;
    pthread_mutex_unlock(&p->mu);
}

int s3_creds_fetches(struct s3_creds_provider *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->fetches;
    pthread_mutex_unlock(&p->mu);
    return n;
}
