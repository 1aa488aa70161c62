/* Payload hashing, inline or on worker threads (see s3_hash.h). */
#include "s3/s3_hash.h"

#include "s3/s3_client_impl.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int s3_hash_body(struct s3_req *r, int want_sha, int want_md5, unsigned char *scratch)
{
    if (!want_sha && !want_md5)
        return 0;
    EVP_MD_CTX *sha = want_sha ? EVP_MD_CTX_new() : NULL;
    EVP_MD_CTX *md5 = want_md5 ? EVP_MD_CTX_new() : NULL;
    int rc = -1;
    if ((want_sha && (!sha || !EVP_DigestInit_ex(sha, EVP_sha256(), NULL))) ||
        (want_md5 && (!md5 || !EVP_DigestInit_ex(md5, EVP_md5(), NULL))))
        goto out;
    for (uint64_t pos = 0; pos < r->src.len;) {
        const void *chunk;
        size_t n = r->src.len - pos < S3_SCRATCH_SZ ? (size_t)(r->src.len - pos) : S3_SCRATCH_SZ;
        if (r->src.kind == S3_SRC_MEM) {
            chunk = (const char *)r->src.mem + pos;
            n = (size_t)(r->src.len - pos);
        } else {
            ssize_t got;
            do
                got = pread(r->src.fd, scratch, n, (off_t)(r->src.off + pos));
            while (got < 0 && errno == EINTR);
            if (got <= 0) {
                s3_error_set(&r->err, r->op, r->bucket, r->key, "SourceUnreadable",
                             "reading the body to hash it: %s",
                             got == 0 ? "file shorter than announced" : strerror(errno));
                goto out;
            }
            n = (size_t)got;
            chunk = scratch;
        }
        if ((sha && !EVP_DigestUpdate(sha, chunk, n)) || (md5 && !EVP_DigestUpdate(md5, chunk, n)))
            goto out;
        pos += n;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen;
    if (sha) {
        if (!EVP_DigestFinal_ex(sha, md, &mdlen))
            goto out;
        static const char digits[] = "0123456789abcdef";
        for (unsigned i = 0; i < mdlen; i++) {
            r->payload_hash[2 * i] = digits[md[i] >> 4];
            r->payload_hash[2 * i + 1] = digits[md[i] & 15];
        }
        r->payload_hash[2 * mdlen] = '\0';
    }
    if (md5) {
        if (!EVP_DigestFinal_ex(md5, md, &mdlen))
            goto out;
        EVP_EncodeBlock((unsigned char *)r->md5_b64, md, (int)mdlen);
    }
    rc = 0;
out:
    EVP_MD_CTX_free(sha);
    EVP_MD_CTX_free(md5);
    if (rc && !r->err.code[0])
        s3_error_set(&r->err, r->op, r->bucket, r->key, "HashFailed", "hashing the body failed");
    return rc;
}

/* ---------- the pool ---------- */

#define POOL_MAX 16

struct s3_hashpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct s3_req *todo_head, *todo_tail; /* FIFO: parts are hashed in the order they go out */
    struct s3_req *done;
    int stop;
    int nthreads;
    pthread_t th[POOL_MAX];
    void (*wake)(void *);
    void *wake_arg;
};

static void *worker(void *arg)
{
    struct s3_hashpool *p = arg;
    unsigned char *scratch = malloc(S3_SCRATCH_SZ);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->todo_head)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop)
            break;
        struct s3_req *r = p->todo_head;
        p->todo_head = r->hnext;
        if (!p->todo_head)
            p->todo_tail = NULL;
        pthread_mutex_unlock(&p->mu);

        if (scratch) {
            r->hash_rc = s3_hash_body(r, r->hash_sha, r->hash_md5, scratch);
        } else {
            s3_error_set(&r->err, r->op, r->bucket, r->key, "OutOfMemory",
                         "no memory to hash the body");
            r->hash_rc = -1;
        }

        pthread_mutex_lock(&p->mu);
        r->hnext = p->done;
        p->done = r;
        pthread_mutex_unlock(&p->mu);
        p->wake(p->wake_arg);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    free(scratch);
    return NULL;
}

struct s3_hashpool *s3_hashpool_new(int nthreads, void (*wake)(void *), void *wake_arg)
{
    if (nthreads < 1)
        return NULL;
    if (nthreads > POOL_MAX)
        nthreads = POOL_MAX;
    struct s3_hashpool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->wake = wake;
    p->wake_arg = wake_arg;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->th[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        s3_hashpool_free(p);
        return NULL;
    }
    return p;
}

void s3_hashpool_free(struct s3_hashpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void s3_hashpool_push(struct s3_hashpool *p, struct s3_req *r)
{
    r->hnext = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->todo_tail)
        p->todo_tail->hnext = r;
    else
        p->todo_head = r;
    p->todo_tail = r;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

struct s3_req *s3_hashpool_take(struct s3_hashpool *p)
{
    pthread_mutex_lock(&p->mu);
    struct s3_req *list = p->done;
    p->done = NULL;
    pthread_mutex_unlock(&p->mu);
    return list;
}
