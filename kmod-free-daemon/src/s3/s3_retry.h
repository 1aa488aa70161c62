/* Which failures are worth another attempt, and how long to wait before it.
 *
 * Contract: pure decisions plus a caller-owned jitter state; thread-compatible (one state per
 * thread or per client). Retries are bounded by max_attempts; the wait before attempt n+1 is
 * "full jitter": uniform in [0, min(max_delay, base_delay * 2^(n-1))] ms, so many clients that
 * failed together do not come back together. */
#ifndef TANDEM_S3_RETRY_H
#define TANDEM_S3_RETRY_H

#include <stdint.h>

struct s3_retry_policy {
    int max_attempts;  /* >= 1; total tries including the first */
    int base_delay_ms; /* first backoff ceiling */
    int max_delay_ms;  /* backoff ceiling cap */
};

enum s3_retry_class {
    S3_FAIL_PERMANENT, /* 4xx and everything not listed below: report at once */
    S3_FAIL_RETRY,     /* 500/502/503/504, SlowDown, RequestTimeout, InternalError, resets, ... */
    S3_FAIL_CREDS,     /* ExpiredToken and friends: refresh credentials, then retry */
};

/* Classifies one attempt. curl_code is a CURLcode; status is 0 when no response arrived; code is
 * the S3 error code from the body ("" if none). */
enum s3_retry_class s3_retry_classify(int curl_code, long status, const char *code);

/* Full-jitter delay in ms before attempt number `next_attempt` (2 for the first retry). */
uint32_t s3_retry_delay_ms(const struct s3_retry_policy *p, int next_attempt, uint64_t *rng);

/* Seeds a jitter state from the kernel's random source. */
void s3_retry_seed(uint64_t *rng);

#endif
