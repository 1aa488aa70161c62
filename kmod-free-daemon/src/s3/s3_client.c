/* Client lifecycle: configuration defaults, endpoint and region resolution, the curl multi
 * handle (its connection cache is what makes requests reuse connections). */
#include "s3/s3_client_impl.h"

#include "s3/s3_xml.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t s3_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s3_xml_init();
}

struct s3_client *s3_client_new(const struct s3_client_config *cfg, struct s3_creds_provider *creds,
                                struct s3_error *err)
{
    pthread_once(&global_once, global_init);
    s3_error_clear(err);
    struct s3_client *c = calloc(1, sizeof(*c));
    if (!c) {
        s3_error_set(err, "client", NULL, NULL, "OutOfMemory", "no memory");
        return NULL;
    }
    if (cfg->region && *cfg->region)
        snprintf(c->region, sizeof(c->region), "%s", cfg->region);
    else
        s3_config_region(NULL, c->region, sizeof(c->region));
    char why[256];
    if (s3_endpoint_resolve(cfg->endpoint, c->region, &c->ep, why, sizeof(why)) != 0) {
        s3_error_set(err, "client", NULL, NULL, "BadEndpoint", "%s", why);
        free(c);
        return NULL;
    }
    c->addressing = cfg->addressing;
    c->parallel = cfg->parallel > 0 ? cfg->parallel : 8;
    c->retry.max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : 5;
    c->retry.base_delay_ms = cfg->retry_base_ms > 0 ? cfg->retry_base_ms : 100;
    c->retry.max_delay_ms = cfg->retry_max_ms > 0 ? cfg->retry_max_ms : 10000;
    c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000;
    c->stall_timeout_s = cfg->stall_timeout_s > 0 ? cfg->stall_timeout_s : 30;
    const char *ca = cfg->ca_bundle && *cfg->ca_bundle ? cfg->ca_bundle : getenv("AWS_CA_BUNDLE");
    if (ca && *ca)
        snprintf(c->ca_bundle, sizeof(c->ca_bundle), "%s", ca);
    c->payload = cfg->payload;
    c->verbose = cfg->verbose;
    if (cfg->hash_threads < 0) {
        c->hash_threads = 0;
    } else if (cfg->hash_threads > 0) {
        c->hash_threads = cfg->hash_threads;
    } else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->hash_threads = n < 1 ? 1 : n > 4 ? 4 : (int)n;
    }
    c->creds = creds;
    s3_retry_seed(&c->rng);
    c->scratch = malloc(S3_SCRATCH_SZ);
    c->multi = curl_multi_init();
    if (!c->multi || !c->scratch) {
        s3_error_set(err, "client", NULL, NULL, "OutOfMemory", "no memory for the curl multi");
        s3_client_free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->parallel);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->parallel + 4);
    return c;
}

void s3_client_free(struct s3_client *c)
{
    if (!c)
        return;
    s3_hashpool_free(c->hashpool); /* joins the workers before the multi handle they wake goes */
    for (int i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c->scratch);
    free(c);
}

const char *s3_client_region(const struct s3_client *c)
{
    return c->region;
}

int s3_client_parallel(const struct s3_client *c)
{
    return c->parallel;
}
