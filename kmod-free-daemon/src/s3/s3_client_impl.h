/* The client's insides, shared by s3_client.c (lifecycle) and s3_request.c (the engine).
 * Not for use outside src/s3/. */
#ifndef TANDEM_S3_CLIENT_IMPL_H
#define TANDEM_S3_CLIENT_IMPL_H

#include "s3/s3_hash.h"
#include "s3/s3_request.h"

#include <curl/curl.h>

#define S3_EASY_POOL  64
#define S3_SCRATCH_SZ (1u << 20)
/* Bodies up to this size are hashed inline: a thread hand-off costs more than it saves. */
#define S3_HASH_INLINE_MAX (256u << 10)

struct s3_client {
    CURLM *multi;
    struct s3_endpoint ep;
    char region[64];
    enum s3_addressing addressing;
    int parallel;
    struct s3_retry_policy retry;
    int connect_timeout_ms;
    int stall_timeout_s;
    char ca_bundle[1024];
    enum s3_payload_mode payload;
    int verbose;
    struct s3_creds_provider *creds;
    uint64_t rng;

    struct s3_req *queue_head, *queue_tail; /* ready to start, FIFO */
    struct s3_req *waiting;                 /* backing off before a retry */
    int active;                             /* handed to curl */
    int failed_in_run;

    CURL *pool[S3_EASY_POOL]; /* idle easy handles, reused so their buffers are too */
    int npool;
    unsigned char *scratch;       /* S3_SCRATCH_SZ, for hashing fd bodies inline */
    int hash_threads;             /* workers to start at the first large body; 0: hash inline */
    struct s3_hashpool *hashpool; /* started lazily; NULL: inline */
    int hashing;                  /* requests handed to the pool and not taken back */
};

uint64_t s3_now_ms(void);

#endif
