/* Running work on the reactor thread from another thread (the control API), and waiting for
 * its answer.
 *
 * Contract:
 *  - reactor_call() queues job on the loop, wakes it, and blocks the caller until the job is
 *    finished with reactor_call_finish() or timeout_ms passes. On timeout it returns -1 with
 *    ETIMEDOUT and the job keeps running; the job's memory is reference-counted, so whichever of
 *    the two sides lets go last frees it.
 *  - job->start runs on the reactor thread; it may finish the job at once or later (after
 *    network round trips), always on the reactor thread.
 *  - result is a json-c object handed to the caller (who puts it); a timed-out result is freed.
 *  - A json-c object is owned by one thread at a time: json-c's reference counts are not
 *    atomic (Debian builds it without threading support), so in and result change hands and
 *    are never shared. A caller that keeps its request uses reactor_call_copy(). */
#ifndef TANDEM_UTIL_REACTOR_CALL_H
#define TANDEM_UTIL_REACTOR_CALL_H

#include "util/loop.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>

struct reactor_job;
typedef void (*reactor_job_fn)(struct reactor_job *job);

struct reactor_job {
    reactor_job_fn start;
    void *arg;              /* the caller's input */
    struct json_object *in; /* request, owned by the job */
    struct json_object *result;
    /* private */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    bool finished;
    struct reactor_job *next;
};

struct reactor_queue {
    pthread_mutex_t lock;
    struct reactor_job *head, *tail;
    struct loop *loop;
};

/* Registers the queue's drain with the loop (an idle hook). */
int reactor_queue_init(struct reactor_queue *q, struct loop *l);
void reactor_queue_destroy(struct reactor_queue *q);

/* Caller thread. in is consumed. Returns the result (caller puts it) or NULL on timeout. */
struct json_object *reactor_call(struct reactor_queue *q, reactor_job_fn start, void *arg,
                                 struct json_object *in, unsigned timeout_ms);
/* Caller thread. Like reactor_call(), but the job gets a deep copy of req and the caller keeps
 * req, and it always returns a control reply: a timeout or a failed copy becomes an "internal"
 * failure reply. (Sharing req through json_object_get() lost a reference-count decrement when the
 * control thread and the reactor put it at the same moment: a leaked request object.) */
struct json_object *reactor_call_copy(struct reactor_queue *q, reactor_job_fn start, void *arg,
                                      struct json_object *req, unsigned timeout_ms);
/* Reactor thread. Takes ownership of result. */
void reactor_call_finish(struct reactor_job *job, struct json_object *result);

#endif
