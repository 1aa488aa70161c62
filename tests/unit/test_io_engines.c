/* io/: both engines through the one interface: data round trips, more requests than the kernel
 * queue holds, fdatasync, fallocate (io_uring natively, aio via its helper thread), errors from
 * the kernel delivered as -errno, end of file, and O_DIRECT's alignment refusal. */
#include "check.h"

#include "io/io_engine.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct done_counter {
    struct io_req req;
    int *count;
};

static void on_done(struct io_req *r)
{
    struct done_counter *d = (struct done_counter *)r;
    (*d->count)++;
}

/* Submits n requests and drives the engine until all are done (bounded: 10 s). */
static int run(struct io_engine *e, struct done_counter *reqs, int n)
{
    int count = 0;
    for (int i = 0; i < n; i++) {
        reqs[i].count = &count;
        reqs[i].req.done = on_done;
        io_engine_submit(e, &reqs[i].req);
    }
    /* Like the daemon's loop: reap only when the completion fd says so. A completion that
     * does not signal the fd shows up here as a 2 s stall, i.e. a lost wakeup. */
    for (int spins = 0; count < n && spins < 100000; spins++) {
        io_engine_flush(e);
        if (count == n)
            break;
        struct pollfd p = {.fd = io_engine_fd(e), .events = POLLIN};
        if (poll(&p, 1, 2000) != 1) {
            CHECK(0, "%s: completion fd never signalled (%d of %d done)", io_engine_name(e), count,
                  n);
            break;
        }
        io_engine_reap(e);
    }
    return count;
}

static void set(struct done_counter *d, enum io_op op, int fd, void *buf, uint64_t off,
                uint64_t len)
{
    memset(d, 0, sizeof(*d));
    d->req.op = op;
    d->req.fd = fd;
    d->req.buf = buf;
    d->req.off = off;
    d->req.len = len;
}

static void test_engine(enum io_engine_kind kind, const char *name)
{
    char err[256];
    struct io_engine *e = io_engine_open(kind, 8, err, sizeof(err));
    CHECK(e != NULL, "%s: open: %s", name, err);
    if (!e)
        return;
    CHECK(strcmp(io_engine_name(e), name) == 0, "name %s", io_engine_name(e));
    char path[] = "/tmp/tandem-unit-io.XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    CHECK(ftruncate(fd, 8 << 20) == 0, "truncate");
    int dfd = -1;
    {
        char p2[64];
        snprintf(p2, sizeof(p2), "/proc/self/fd/%d", fd);
        dfd = open(p2, O_RDWR | O_DIRECT);
    }

    /* 256 writes of 4 KiB through a queue of 8, then read them all back */
    enum { N = 256 };
    static struct done_counter reqs[N];
    uint8_t *bufs;
    CHECK(posix_memalign((void **)&bufs, 4096, N * 4096) == 0, "alloc");
    for (int i = 0; i < N; i++) {
        memset(bufs + i * 4096, i, 4096);
        set(&reqs[i], IO_WRITE, dfd >= 0 ? dfd : fd, bufs + i * 4096, (uint64_t)i * 4096, 4096);
        reqs[i].req.flags = i % 16 == 0 ? IO_F_FUA : 0;
    }
    CHECK(run(e, reqs, N) == N, "%s: writes done", name);
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += reqs[i].req.result != 4096;
    CHECK(bad == 0, "%s: %d writes with a wrong result", name, bad);
    memset(bufs, 0xee, N * 4096);
    for (int i = 0; i < N; i++)
        set(&reqs[i], IO_READ, fd, bufs + i * 4096, (uint64_t)i * 4096, 4096);
    CHECK(run(e, reqs, N) == N, "%s: reads done", name);
    bad = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 4096; j++)
            bad += bufs[i * 4096 + j] != (uint8_t)i;
    CHECK(bad == 0, "%s: %d wrong bytes read back", name, bad);

    /* fdatasync, then punch a hole and read zeros */
    set(&reqs[0], IO_FSYNC, fd, NULL, 0, 0);
    CHECK(run(e, reqs, 1) == 1 && reqs[0].req.result == 0, "%s: fsync %lld", name,
          (long long)reqs[0].req.result);
    set(&reqs[0], IO_FALLOCATE, fd, NULL, 4096, 8192);
    reqs[0].req.falloc_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    CHECK(run(e, reqs, 1) == 1 && reqs[0].req.result == 0, "%s: punch %lld", name,
          (long long)reqs[0].req.result);
    set(&reqs[0], IO_READ, fd, bufs, 4096, 8192);
    run(e, reqs, 1);
    int nz = 0;
    for (int j = 0; j < 8192; j++)
        nz += bufs[j] != 0;
    CHECK(reqs[0].req.result == 8192 && nz == 0, "%s: hole reads zeros (%d nonzero)", name, nz);

    /* errors: bad fd, bad fallocate mode, misaligned O_DIRECT */
    set(&reqs[0], IO_READ, 9999, bufs, 0, 4096);
    run(e, reqs, 1);
    CHECK(reqs[0].req.result == -EBADF, "%s: EBADF, got %lld", name, (long long)reqs[0].req.result);
    set(&reqs[0], IO_FALLOCATE, fd, NULL, 0, 4096);
    reqs[0].req.falloc_mode = FALLOC_FL_PUNCH_HOLE; /* without KEEP_SIZE: EOPNOTSUPP */
    run(e, reqs, 1);
    CHECK(reqs[0].req.result == -EOPNOTSUPP, "%s: bad fallocate mode, got %lld", name,
          (long long)reqs[0].req.result);
    if (dfd >= 0) {
        set(&reqs[0], IO_READ, dfd, bufs + 1, 0, 4096);
        run(e, reqs, 1);
        CHECK(reqs[0].req.result == -EINVAL, "%s: misaligned O_DIRECT, got %lld", name,
              (long long)reqs[0].req.result);
    }
    /* reading across end of file returns what exists */
    set(&reqs[0], IO_READ, fd, bufs, (8 << 20) - 4096, 8192);
    run(e, reqs, 1);
    CHECK(reqs[0].req.result == 4096, "%s: EOF read %lld", name, (long long)reqs[0].req.result);
    CHECK(!io_engine_busy(e), "%s: idle at the end", name);

    free(bufs);
    if (dfd >= 0)
        close(dfd);
    close(fd);
    io_engine_close(e);
}

int main(void)
{
    log_init("test_io_engines", LOG_ERROR);
    enum io_engine_kind k;
    CHECK(io_engine_parse_kind("io_uring", &k) == 0 && k == IO_ENGINE_URING, "parse io_uring");
    CHECK(io_engine_parse_kind("aio", &k) == 0 && k == IO_ENGINE_AIO, "parse aio");
    CHECK(io_engine_parse_kind("spdk", &k) < 0, "parse unknown");
    test_engine(IO_ENGINE_URING, "io_uring");
    test_engine(IO_ENGINE_AIO, "aio");
    return check_done("test_io_engines");
}
