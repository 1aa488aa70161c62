/* util/loop: a stop requested by an idle hook or by deferred work ends loop_run() at once.
 * This is how the daemon stops: the last connection is freed from deferred work scheduled by
 * the reply-sending idle hook, and its `drained` callback calls loop_stop(). If the loop then
 * slept in epoll_wait, only some unrelated event (a timer tick) would ever end it. Here nothing
 * else is registered, so a loop that sleeps first never returns. */
#include "check.h"

#include "util/loop.h"

#include <pthread.h>
#include <time.h>

static struct loop l;
static int idle_calls;

static void stop_now(void *ctx)
{
    loop_stop(ctx);
}

static void idle_defers_stop(void *ctx)
{
    (void)ctx;
    if (idle_calls++ == 0)
        loop_defer(&l, stop_now, &l);
}

static void idle_stops(void *ctx)
{
    loop_stop(ctx);
}

static void *runner(void *arg)
{
    *(int *)arg = loop_run(&l);
    return NULL;
}

/* Runs the loop in a thread; true if loop_run returned within 2 s. */
static bool runs_to_stop(void)
{
    int rc = -1;
    pthread_t t;
    pthread_create(&t, NULL, runner, &rc);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 2;
    if (pthread_timedjoin_np(t, NULL, &deadline) == 0)
        return rc == 0;
    loop_wake(&l); /* stopping is set: the woken loop returns */
    pthread_join(t, NULL);
    return false;
}

int main(void)
{
    CHECK(loop_init(&l) == 0, "loop_init");
    CHECK(loop_add_idle(&l, idle_defers_stop, NULL) == 0, "idle hook");
    CHECK(runs_to_stop(), "loop_run slept after deferred work called loop_stop");
    CHECK(idle_calls == 1, "idle hooks ran %d times", idle_calls);
    loop_destroy(&l);

    CHECK(loop_init(&l) == 0, "loop_init");
    CHECK(loop_add_idle(&l, idle_stops, &l) == 0, "idle hook");
    CHECK(runs_to_stop(), "loop_run slept after an idle hook called loop_stop");
    loop_destroy(&l);
    return check_done("test_loop");
}
