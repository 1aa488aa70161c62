/* epoll reactor. Level-triggered, because a connection that stops reading on purpose
 * (backpressure: too many requests in flight) must be woken again by the same readiness later
 * without re-arming tricks. A deleted watch is unlinked from the current batch, so no callback
 * runs on a watch its owner already gave up. */
#include "util/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOOP_BATCH 128

static void wake_cb(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)events;
    (void)l;
    uint64_t v;
    ssize_t r = read(w->fd, &v, sizeof(v));
    (void)r;
}

int loop_init(struct loop *l)
{
    memset(l, 0, sizeof(*l));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        return -errno;
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wakefd < 0) {
        int e = errno;
        close(l->epfd);
        return -e;
    }
    l->batch = calloc(LOOP_BATCH, sizeof(*l->batch));
    if (!l->batch) {
        close(l->epfd);
        close(l->wakefd);
        return -ENOMEM;
    }
    return loop_add(l, &l->wake_watch, l->wakefd, EPOLLIN, wake_cb, NULL);
}

void loop_destroy(struct loop *l)
{
    if (l->wake_watch.active)
        loop_del(l, &l->wake_watch);
    close(l->wakefd);
    close(l->epfd);
    free(l->deferred);
    free(l->batch);
}

int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_cb cb, void *ctx)
{
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->ctx = ctx;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    w->active = true;
    return 0;
}

int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events)
{
    if (w->events == events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

void loop_del(struct loop *l, struct loop_watch *w)
{
    if (!w->active)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->active = false;
    for (int i = 0; i < l->n_batch; i++)
        if (l->batch[i] == w)
            l->batch[i] = NULL;
}

int loop_add_idle(struct loop *l, loop_fn fn, void *ctx)
{
    if (l->n_idle == LOOP_MAX_IDLE_HOOKS)
        return -ENOSPC;
    l->idle[l->n_idle].fn = fn;
    l->idle[l->n_idle].ctx = ctx;
    l->n_idle++;
    return 0;
}

void loop_defer(struct loop *l, loop_fn fn, void *ctx)
{
    if (l->n_deferred == l->cap_deferred) {
        int cap = l->cap_deferred ? l->cap_deferred * 2 : 16;
        struct loop_deferred *d = realloc(l->deferred, (size_t)cap * sizeof(*d));
        if (!d)
            abort();
        l->deferred = d;
        l->cap_deferred = cap;
    }
    l->deferred[l->n_deferred].fn = fn;
    l->deferred[l->n_deferred].ctx = ctx;
    l->n_deferred++;
}

static void run_deferred(struct loop *l)
{
    /* A deferred function may defer more; run until none is left. */
    for (int i = 0; i < l->n_deferred; i++)
        l->deferred[i].fn(l->deferred[i].ctx);
    l->n_deferred = 0;
}

int loop_run(struct loop *l)
{
    struct epoll_event evs[LOOP_BATCH];
    while (!l->stopping) {
        for (int i = 0; i < l->n_idle; i++)
            l->idle[i].fn(l->idle[i].ctx);
        run_deferred(l);
        if (l->stopping)
            break; /* stopped by the hooks or deferred work: do not sleep first */
        int n = epoll_wait(l->epfd, evs, LOOP_BATCH, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        l->n_batch = n;
        for (int i = 0; i < n; i++)
            l->batch[i] = evs[i].data.ptr;
        for (int i = 0; i < n; i++) {
            struct loop_watch *w = l->batch[i];
            if (w && w->active)
                w->cb(l, w, evs[i].events);
        }
        l->n_batch = 0;
        run_deferred(l);
    }
    return 0;
}

void loop_stop(struct loop *l)
{
    l->stopping = true;
}

void loop_wake(struct loop *l)
{
    uint64_t one = 1;
    ssize_t r = write(l->wakefd, &one, sizeof(one));
    (void)r;
}
