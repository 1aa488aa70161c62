/* The asynchronous disk I/O engine: one interface, two backends (io_uring via liburing, and
 * Linux AIO via libaio), chosen at start-up.
 *
 * Contract:
 *  - An engine belongs to one reactor thread. io_engine_submit() queues a request and never
 *    blocks; io_engine_flush() hands everything queued to the kernel in one syscall (call it
 *    from the loop's idle hook); completions are signalled on io_engine_fd() (an eventfd, or
 *    io_uring's registered eventfd) and delivered by io_engine_reap(), which calls each
 *    request's done() on the same thread.
 *  - The engine never allocates per request: struct io_req is the caller's (embedded in its own
 *    request object) and stays the caller's; the engine links queued requests through req->next.
 *  - Short reads and writes are finished by the engine (it resubmits the remainder), so done()
 *    sees either the full length or a negative errno in req->result. A read that hits end of
 *    file reports the bytes it got.
 *  - IO_FSYNC means fdatasync(2). IO_F_FUA on a write makes it durable before done() (RWF_DSYNC).
 *  - Requests complete in any order; callers that need order must wait for the completion.
 *  - The engine accepts any number of requests; past its kernel queue depth it holds them and
 *    submits as completions free slots. */
#ifndef TANDEM_IO_ENGINE_H
#define TANDEM_IO_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum io_op { IO_READ, IO_WRITE, IO_FSYNC, IO_FALLOCATE };

#define IO_F_FUA 1u
/* IO_WRITE on a page-cache (not O_DIRECT) fd: copy it in now, synchronously, instead of via
 * the kernel queue. May block when the kernel throttles dirty pages; never used with FUA. */
#define IO_F_INLINE 2u

struct io_req {
    enum io_op op;
    int fd;
    void *buf;
    uint64_t off;
    uint64_t len;
    unsigned flags;
    int falloc_mode; /* IO_FALLOCATE: FALLOC_FL_* */
    int64_t result;  /* bytes transferred, or -errno */
    void (*done)(struct io_req *req);
    /* engine-private */
    struct io_req *next;
    uint64_t done_bytes;
};

enum io_engine_kind { IO_ENGINE_AUTO, IO_ENGINE_URING, IO_ENGINE_AIO };

struct io_engine;

struct io_engine_ops {
    const char *name;
    /* Hands one request to the kernel queue. Returns 0, -EAGAIN when the kernel queue is full
     * (the generic layer keeps it and retries after completions), or another -errno. */
    int (*queue)(struct io_engine *e, struct io_req *req);
    void (*flush)(struct io_engine *e);
    /* Harvests completions and calls io_engine_complete() for each. */
    void (*reap)(struct io_engine *e);
    /* Optional: harvests completions already posted without touching the completion fd (no
     * syscall). io_uring completes page-cache hits inside the submit call; answering them in
     * the same loop iteration saves a wakeup per batch. Returns the number harvested. */
    unsigned (*reap_posted)(struct io_engine *e);
    void (*destroy)(struct io_engine *e);
};

struct io_engine {
    const struct io_engine_ops *ops;
    int fd;            /* readable when completions are waiting */
    unsigned depth;    /* kernel queue depth */
    unsigned inflight; /* requests in the kernel */
    struct io_req *backlog, *backlog_tail;
    struct io_req *completed; /* done, awaiting done() callbacks (reentrancy-safe delivery) */
    bool reaping;
    bool inline_done; /* inline completions await delivery by io_engine_flush() */
};

/* Opens an engine. AUTO tries io_uring and falls back to AIO with a log line saying why.
 * On failure returns NULL and writes a one-line reason into err. */
struct io_engine *io_engine_open(enum io_engine_kind kind, unsigned depth, char *err,
                                 size_t errlen);
void io_engine_close(struct io_engine *e);
int io_engine_parse_kind(const char *s, enum io_engine_kind *out);
const char *io_engine_name(const struct io_engine *e);

void io_engine_submit(struct io_engine *e, struct io_req *req);
void io_engine_flush(struct io_engine *e);
void io_engine_reap(struct io_engine *e);
static inline int io_engine_fd(const struct io_engine *e)
{
    return e->fd;
}
/* True while any request is queued or in the kernel. */
bool io_engine_busy(const struct io_engine *e);

/* For backends: report that the kernel finished one submission of req with result res. */
void io_engine_complete(struct io_engine *e, struct io_req *req, int64_t res);

/* Backend constructors (used by io_engine_open and by the engine unit tests). */
struct io_engine *io_uring_engine_open(unsigned depth, char *err, size_t errlen);
struct io_engine *io_aio_engine_open(unsigned depth, char *err, size_t errlen);

#endif
