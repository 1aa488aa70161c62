/* io/: a submission the kernel refuses for now (io_submit or io_uring_submit returning -EAGAIN)
 * must not strand requests. The engine's flush runs from the loop's idle hook, just before the
 * loop sleeps on the completion fd; with nothing in the kernel nothing would ever wake it, so
 * the engine must signal that fd itself and take the requests on the next flush. Also: aio's
 * fallocate helper runs and completes requests in the order they were queued.
 *
 * The refusals are injected by interposing io_submit and io_uring_submit (this program's
 * definitions win over the shared libraries'); the real ones are called through RTLD_NEXT. */
#include "check.h"

#include "io/io_engine.h"

#include <dlfcn.h>
#include <errno.h>
#include <libaio.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int refuse_submits; /* how many upcoming submit calls fail with -EAGAIN */
static int refused;

int io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
    static int (*real)(io_context_t, long, struct iocb *[]);
    if (refuse_submits > 0) {
        refuse_submits--;
        refused++;
        return -EAGAIN;
    }
    if (!real)
        real = (int (*)(io_context_t, long, struct iocb *[]))dlsym(RTLD_NEXT, "io_submit");
    return real(ctx, nr, ios);
}

int io_uring_submit(struct io_uring *ring)
{
    static int (*real)(struct io_uring *);
    if (refuse_submits > 0) {
        refuse_submits--;
        refused++;
        return -EAGAIN;
    }
    if (!real)
        real = (int (*)(struct io_uring *))dlsym(RTLD_NEXT, "io_uring_submit");
    return real(ring);
}

struct rec {
    struct io_req req;
    int idx;
};

static int order[64], n_done;

static void on_done(struct io_req *r)
{
    order[n_done++] = ((struct rec *)r)->idx;
}

/* The daemon's loop in miniature: flush, sleep on the completion fd, reap. Returns false if
 * the fd stayed silent for 2 s while requests were outstanding (the loop would hang). */
static bool drive(struct io_engine *e, int want)
{
    for (int spins = 0; n_done < want && spins < 1000; spins++) {
        io_engine_flush(e);
        if (n_done == want)
            break;
        struct pollfd p = {.fd = io_engine_fd(e), .events = POLLIN};
        if (poll(&p, 1, 2000) != 1)
            return false;
        io_engine_reap(e);
    }
    return n_done == want;
}

static void test_refused_submit(enum io_engine_kind kind, const char *name, int fd, void *buf)
{
    char err[256];
    struct io_engine *e = io_engine_open(kind, 8, err, sizeof(err));
    CHECK(e != NULL, "%s: open: %s", name, err);
    if (!e)
        return;
    struct rec r[4];
    n_done = refused = 0;
    refuse_submits = 1;
    for (int i = 0; i < 4; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].idx = i;
        r[i].req.op = IO_READ;
        r[i].req.fd = fd;
        r[i].req.buf = (char *)buf + i * 4096;
        r[i].req.off = (uint64_t)i * 4096;
        r[i].req.len = 4096;
        r[i].req.done = on_done;
        io_engine_submit(e, &r[i].req);
    }
    bool ok = drive(e, 4);
    CHECK(refused == 1, "%s: the refusal was injected (%d)", name, refused);
    CHECK(ok, "%s: after a refused submit, %d of 4 reads done and the completion fd is silent",
          name, n_done);
    for (int i = 0; ok && i < 4; i++)
        CHECK(r[i].req.result == 4096, "%s: read %d result %lld", name, i,
              (long long)r[i].req.result);
    refuse_submits = 0;
    if (!ok) {
        /* let the requests finish before the engine and buffers go away */
        io_engine_flush(e);
        drive(e, 4);
    }
    io_engine_close(e);
}

static void test_falloc_order(int fd)
{
    char err[256];
    struct io_engine *e = io_engine_open(IO_ENGINE_AIO, 8, err, sizeof(err));
    CHECK(e != NULL, "aio: open: %s", err);
    if (!e)
        return;
    enum { N = 32 };
    struct rec r[N];
    n_done = 0;
    for (int i = 0; i < N; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].idx = i;
        r[i].req.op = IO_FALLOCATE;
        r[i].req.fd = fd;
        r[i].req.off = (uint64_t)i * 65536;
        r[i].req.len = 65536;
        r[i].req.falloc_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        r[i].req.done = on_done;
        io_engine_submit(e, &r[i].req);
    }
    CHECK(drive(e, N), "aio: %d of %d fallocates done", n_done, N);
    int inversions = 0;
    for (int i = 1; i < n_done; i++)
        inversions += order[i] < order[i - 1];
    CHECK(inversions == 0, "aio: fallocates completed out of order (%d inversions, first %d %d %d)",
          inversions, order[0], order[1], order[2]);
    io_engine_close(e);
}

int main(void)
{
    char path[] = "/tmp/tandem-unit-retry.XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    CHECK(fd >= 0 && ftruncate(fd, 4 << 20) == 0, "scratch file");
    void *buf = NULL;
    CHECK(posix_memalign(&buf, 4096, 4 * 4096) == 0, "buffer");
    test_refused_submit(IO_ENGINE_URING, "io_uring", fd, buf);
    test_refused_submit(IO_ENGINE_AIO, "aio", fd, buf);
    test_falloc_order(fd);
    free(buf);
    close(fd);
    return check_done("test_io_submit_retry");
}
