/* Cross-thread calls into the reactor. The queue is drained from an idle hook, which runs after
 * every batch of events, and loop_wake() guarantees a batch happens soon after a call is
 * queued. */
#include "util/reactor_call.h"

#include "util/json_reply.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static void job_put(struct reactor_job *job)
{
    pthread_mutex_lock(&job->lock);
    int refs = --job->refs;
    pthread_mutex_unlock(&job->lock);
    if (refs)
        return;
    if (job->result)
        json_object_put(job->result);
    if (job->in)
        json_object_put(job->in);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->cond);
    free(job);
}

static void drain(void *arg)
{
    struct reactor_queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        struct reactor_job *job = q->head;
        if (job) {
            q->head = job->next;
            if (!q->head)
                q->tail = NULL;
        }
        pthread_mutex_unlock(&q->lock);
        if (!job)
            return;
        job->start(job);
    }
}

int reactor_queue_init(struct reactor_queue *q, struct loop *l)
{
    pthread_mutex_init(&q->lock, NULL);
    q->head = q->tail = NULL;
    q->loop = l;
    return loop_add_idle(l, drain, q);
}

void reactor_queue_destroy(struct reactor_queue *q)
{
    pthread_mutex_destroy(&q->lock);
}

struct json_object *reactor_call(struct reactor_queue *q, reactor_job_fn start, void *arg,
                                 struct json_object *in, unsigned timeout_ms)
{
    struct reactor_job *job = calloc(1, sizeof(*job));
    if (!job) {
        json_object_put(in);
        errno = ENOMEM;
        return NULL;
    }
    job->start = start;
    job->arg = arg;
    job->in = in;
    job->refs = 2; /* the caller and the reactor */
    pthread_mutex_init(&job->lock, NULL);
    pthread_cond_init(&job->cond, NULL);

    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    pthread_mutex_unlock(&q->lock);
    loop_wake(q->loop);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    struct json_object *result = NULL;
    pthread_mutex_lock(&job->lock);
    while (!job->finished)
        if (pthread_cond_timedwait(&job->cond, &job->lock, &deadline) == ETIMEDOUT)
            break;
    if (job->finished) {
        result = job->result;
        job->result = NULL;
    }
    pthread_mutex_unlock(&job->lock);
    job_put(job);
    if (!result)
        errno = ETIMEDOUT;
    return result;
}

struct json_object *reactor_call_copy(struct reactor_queue *q, reactor_job_fn start, void *arg,
                                      struct json_object *req, unsigned timeout_ms)
{
    struct json_object *copy = NULL;
    if (json_object_deep_copy(req, &copy, NULL) < 0)
        return json_reply_fail("internal", "out of memory");
    struct json_object *res = reactor_call(q, start, arg, copy, timeout_ms);
    return res ? res : json_reply_fail("internal", "timed out waiting for the daemon");
}

void reactor_call_finish(struct reactor_job *job, struct json_object *result)
{
    pthread_mutex_lock(&job->lock);
    job->result = result;
    job->finished = true;
    pthread_cond_signal(&job->cond);
    pthread_mutex_unlock(&job->lock);
    job_put(job);
}
