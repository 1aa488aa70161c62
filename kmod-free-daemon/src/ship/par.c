/* par_run: threads take the next index from one atomic counter, so uneven items balance. */
#include "ship/par.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct par {
    size_t n;
    atomic_size_t next;
    atomic_int failed;
    par_fn fn;
    void *arg;
    pthread_mutex_t mu;
    int rc;
    char err[1024];
};

struct par_worker {
    struct par *p;
    int no;
    pthread_t th;
};

static void *par_main(void *a)
{
    struct par_worker *w = a;
    struct par *p = w->p;
    char err[1024];
    while (!atomic_load(&p->failed)) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            break;
        err[0] = '\0';
        int rc = p->fn(i, p->arg, w->no, err, sizeof(err));
        if (rc) {
            pthread_mutex_lock(&p->mu);
            if (!p->rc) {
                p->rc = rc;
                snprintf(p->err, sizeof(p->err), "%s", err);
            }
            pthread_mutex_unlock(&p->mu);
            atomic_store(&p->failed, 1);
        }
    }
    return NULL;
}

int par_run(size_t n, int threads, par_fn fn, void *arg, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    if (threads < 1)
        threads = 1;
    if ((size_t)threads > n)
        threads = (int)n;
    struct par p = {.n = n, .fn = fn, .arg = arg};
    pthread_mutex_init(&p.mu, NULL);
    struct par_worker *ws = calloc((size_t)threads, sizeof(*ws));
    if (!ws) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int started = 0;
    for (int t = 0; t < threads; t++) {
        ws[t] = (struct par_worker){.p = &p, .no = t};
        if (t > 0 && pthread_create(&ws[t].th, NULL, par_main, &ws[t]) != 0)
            break;
        started++;
    }
    par_main(&ws[0]); /* the caller is worker 0 */
    for (int t = 1; t < started; t++)
        pthread_join(ws[t].th, NULL);
    free(ws);
    pthread_mutex_destroy(&p.mu);
    if (p.rc)
        snprintf(err, errlen, "%s", p.err);
    return p.rc;
}
