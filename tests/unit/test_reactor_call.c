/* util/reactor_call: a control thread hands the same request to the reactor thousands of times
 * and keeps it. json-c's reference counts are not atomic, so a request shared with the reactor
 * (json_object_get) could lose a decrement when both threads put it at once: the daemon leaked
 * a volume.status request now and then (LeakSanitizer, ship/test_daemon_encrypted_prune).
 * reactor_call_copy() gives the job a copy of its own; this test checks that the caller's
 * request keeps exactly its one reference, that every answer arrives, and (under ASan) that
 * nothing leaks. */
#include "check.h"

#include "util/json_reply.h"
#include "util/reactor_call.h"

#include <pthread.h>
#include <string.h>

#define CALLS 20000

static struct loop l;
static struct reactor_queue q;
static int started;

/* Reactor thread: reads the request and answers at once, putting its copy as the caller may
 * be putting its own. */
static void echo_name(struct reactor_job *job)
{
    started++;
    struct json_object *v, *res = json_reply_ok();
    if (json_object_object_get_ex(job->in, "name", &v))
        json_object_object_add(res, "name", json_object_new_string(json_object_get_string(v)));
    reactor_call_finish(job, res);
}

static void *runner(void *arg)
{
    (void)arg;
    loop_run(&l);
    return NULL;
}

int main(void)
{
    CHECK(loop_init(&l) == 0, "loop_init");
    CHECK(reactor_queue_init(&q, &l) == 0, "reactor_queue_init");
    pthread_t t;
    pthread_create(&t, NULL, runner, NULL);

    struct json_object *req = json_object_new_object();
    json_object_object_add(req, "op", json_object_new_string("volume.status"));
    json_object_object_add(req, "name", json_object_new_string("v"));
    int answered = 0;
    for (int i = 0; i < CALLS; i++) {
        struct json_object *res = reactor_call_copy(&q, echo_name, NULL, req, 5000), *v;
        if (res && json_object_object_get_ex(res, "name", &v) &&
            strcmp(json_object_get_string(v), "v") == 0)
            answered++;
        json_object_put(res);
    }
    CHECK(answered == CALLS, "%d of %d calls answered with the request's name", answered, CALLS);
    /* json_object_put returns 1 when it frees the object: the caller's reference is the only
     * one left, however the two threads' puts interleaved. */
    CHECK(json_object_put(req) == 1, "the caller's request lost or gained a reference");

    loop_stop(&l);
    loop_wake(&l);
    pthread_join(t, NULL);
    CHECK(started == CALLS, "the reactor ran %d jobs", started);
    reactor_queue_destroy(&q);
    loop_destroy(&l);
    return check_done("test_reactor_call");
}
