/* Retry classification and full-jitter backoff (see the AWS architecture blog's "Exponential
 * Backoff and Jitter": full jitter spreads retries best for the fewest total calls). */
#include "s3/s3_retry.h"

#include <curl/curl.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

enum s3_retry_class s3_retry_classify(int curl_code, long status, const char *code)
{
    if (curl_code != CURLE_OK) {
        switch (curl_code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
            return S3_FAIL_RETRY;
        default:
            return S3_FAIL_PERMANENT; /* bad URL, TLS verification, our own callback abort, ... */
        }
    }
    if (code && *code) {
        static const char *const retry_codes[] = {"SlowDown",
                                                  "RequestTimeout",
                                                  "InternalError",
                                                  "ServiceUnavailable",
                                                  "Throttling",
                                                  "ThrottlingException",
                                                  "RequestLimitExceeded",
                                                  "RequestThrottled",
                                                  "BandwidthLimitExceeded",
                                                  NULL};
        for (const char *const *c = retry_codes; *c; c++)
            if (strcmp(code, *c) == 0)
                return S3_FAIL_RETRY;
        if (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "TokenRefreshRequired") == 0 ||
            strcmp(code, "RequestExpired") == 0)
            return S3_FAIL_CREDS;
    }
    if (status == 500 || status == 502 || status == 503 || status == 504)
        return S3_FAIL_RETRY;
    return S3_FAIL_PERMANENT;
}

static uint64_t next(uint64_t *s)
{
    /* xorshift64*: enough for jitter, not for anything secret. */
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

uint32_t s3_retry_delay_ms(const struct s3_retry_policy *p, int next_attempt, uint64_t *rng)
{
    uint64_t ceil = (uint64_t)(p->base_delay_ms > 0 ? p->base_delay_ms : 1);
    for (int i = 2; i < next_attempt && ceil < (uint64_t)p->max_delay_ms; i++)
        ceil *= 2;
    if (ceil > (uint64_t)p->max_delay_ms)
        ceil = (uint64_t)p->max_delay_ms;
    return (uint32_t)(next(rng) % (ceil + 1));
}

void s3_retry_seed(uint64_t *rng)
{
    if (getrandom(rng, sizeof(*rng), 0) != sizeof(*rng))
        *rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)rng;
}
