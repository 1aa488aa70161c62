/* The reactor: one epoll loop per worker thread, for sockets, the disk engine's completion
 * eventfd, signals and timers.
 *
 * Contract:
 *  - Single-threaded: every function but loop_wake() must be called on the loop's own thread.
 *  - A struct loop_watch is owned by the caller (usually embedded in a connection) and must stay
 *    valid until loop_del(); after loop_del() no further callback fires for it, even if its fd
 *    had events pending in the current batch.
 *  - Callbacks may add, modify and delete watches, including their own.
 *  - loop_defer() runs a function after the current batch of events: the safe place to free
 *    an object whose watch was deleted while other events of the batch may still name it.
 *  - Idle hooks run before every epoll_wait(): the place to push batched work to the kernel
 *    (io_uring submission, corked socket replies), so N events cost one syscall, not N. */
#ifndef TANDEM_UTIL_LOOP_H
#define TANDEM_UTIL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct loop_watch;

typedef void (*loop_cb)(struct loop *l, struct loop_watch *w, uint32_t events);
typedef void (*loop_fn)(void *ctx);

struct loop_watch {
    int fd;
    uint32_t events; /* EPOLLIN | EPOLLOUT ... as registered */
    loop_cb cb;
    void *ctx;
    bool active;
};

#define LOOP_MAX_IDLE_HOOKS 8

struct loop_deferred {
    loop_fn fn;
    void *ctx;
};

struct loop {
    int epfd;
    int wakefd; /* eventfd: loop_wake() from other threads */
    bool stopping;
    struct loop_watch wake_watch;
    struct {
        loop_fn fn;
        void *ctx;
    } idle[LOOP_MAX_IDLE_HOOKS];
    int n_idle;
    struct loop_deferred *deferred;
    int n_deferred, cap_deferred;
    struct loop_watch **batch; /* watches named by the current epoll batch */
    int n_batch;
};

/* Returns 0, or -errno. */
int loop_init(struct loop *l);
void loop_destroy(struct loop *l);

/* Registers w->fd for `events` (level-triggered). Returns 0 or -errno. */
int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_cb cb, void *ctx);
int loop_mod(struct loop *l, struct loop_watch *w, uint32_t events);
void loop_del(struct loop *l, struct loop_watch *w);

int loop_add_idle(struct loop *l, loop_fn fn, void *ctx);
/* Runs fn(ctx) after the current batch; never fails (aborts on out-of-memory). */
void loop_defer(struct loop *l, loop_fn fn, void *ctx);

/* Runs until loop_stop(). Returns 0, or -errno if epoll_wait fails for a reason other than EINTR.
 */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* Thread-safe: makes a blocked loop_run() return from epoll_wait and run its idle hooks. */
void loop_wake(struct loop *l);

#endif
