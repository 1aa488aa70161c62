/* vol/: a real replica on O_DIRECT with a real engine. Hundreds of overlapping, unaligned
 * writes submitted all at once must leave exactly what applying them in submission order
 * leaves (the in-memory model); trims and zeroes take part in the same order; FUA and FLUSH
 * complete; reads of unaligned ranges return the model's bytes. Run on both engines. */
#include "check.h"

#include "io/io_engine.h"
#include "store/replica.h"
#include "util/bufpool.h"
#include "util/log.h"
#include "vol/volume.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VOL_BYTES (1 << 20)
#define N_OPS     400

struct op {
    struct vol_io vio;
    int *done;
};

static void op_done(struct vol_io *v)
{
    struct op *o = (struct op *)v;
    (*o->done)++;
}

static void drive(struct io_engine *e, int *done, int want)
{
    /* reap only when signalled, as the daemon does: a lost wakeup fails the test */
    for (int spins = 0; *done < want && spins < 100000; spins++) {
        io_engine_flush(e);
        if (*done >= want)
            break;
        struct pollfd p = {.fd = io_engine_fd(e), .events = POLLIN};
        if (poll(&p, 1, 2000) != 1) {
            CHECK(0, "completion fd never signalled (%d of %d done)", *done, want);
            break;
        }
        io_engine_reap(e);
    }
}

static void run(enum io_engine_kind kind, const char *dir, enum cache_mode cache)
{
    char err[512];
    struct io_engine *e = io_engine_open(kind, 32, err, sizeof(err));
    struct replica *rep;
    CHECK(e && replica_open(dir, cache, &rep, err, sizeof(err)) == 0, "setup: %s", err);
    if (!e)
        return;
    struct bufpool pool;
    bufpool_init(&pool);
    struct volume v;
    vol_init(&v, rep, e, &pool);

    static uint8_t model[VOL_BYTES];
    memset(model, 0, sizeof(model));
    static struct op ops[N_OPS];
    static uint8_t *bufs[N_OPS];
    int done = 0;
    srand(kind == IO_ENGINE_URING ? 1 : 2);
    /* writes concentrated in 64 KiB so that most of them overlap others */
    for (int i = 0; i < N_OPS; i++) {
        struct op *o = &ops[i];
        memset(o, 0, sizeof(*o));
        o->done = &done;
        o->vio.done = op_done;
        uint64_t off = (uint64_t)(rand() % 65536);
        uint64_t len = 1 + (uint64_t)(rand() % 9000);
        if (off + len > VOL_BYTES)
            len = VOL_BYTES - off;
        o->vio.off = off;
        o->vio.len = len;
        int kindsel = rand() % 20;
        if (kindsel == 0) {
            o->vio.op = VOL_TRIM;
            memset(model + off, 0, len);
        } else if (kindsel == 1) {
            o->vio.op = VOL_WRITE_ZEROES;
            o->vio.flags = VOL_F_NO_HOLE;
            memset(model + off, 0, len);
        } else {
            o->vio.op = VOL_WRITE;
            o->vio.flags = kindsel == 2 ? VOL_F_FUA : 0;
            bufs[i] = bufpool_get(&pool, len);
            memset(bufs[i], 1 + i % 250, len);
            o->vio.buf = bufs[i];
            memset(model + off, 1 + i % 250, len);
        }
        vol_submit(&v, &o->vio);
    }
    drive(e, &done, N_OPS);
    CHECK(done == N_OPS, "all completed (%d)", done);
    int errs = 0;
    for (int i = 0; i < N_OPS; i++)
        errs += ops[i].vio.error != 0;
    CHECK(errs == 0, "%d ops failed", errs);
    CHECK(v.active == NULL && v.waiting == NULL && v.inflight == 0, "volume idle");

    /* flush, then read the first 80 KiB back in unaligned pieces and compare */
    done = 0;
    struct op fl = {.vio = {.op = VOL_FLUSH, .done = op_done}, .done = &done};
    vol_submit(&v, &fl.vio);
    drive(e, &done, 1);
    CHECK(done == 1 && fl.vio.error == 0, "flush");
    uint8_t *rb = bufpool_get(&pool, 81920);
    int bad = 0;
    for (uint64_t off = 0; off < 81920; off += 8191) {
        uint64_t len = off + 8191 > 81920 ? 81920 - off : 8191;
        done = 0;
        struct op rd = {.vio = {.op = VOL_READ, .off = off, .len = len, .buf = rb, .done = op_done},
                        .done = &done};
        vol_submit(&v, &rd.vio);
        drive(e, &done, 1);
        CHECK(rd.vio.error == 0, "read at %llu", (unsigned long long)off);
        bad += memcmp(rb, model + off, len) != 0;
    }
    CHECK(bad == 0, "%s: %d read-back chunks differ from in-order application", io_engine_name(e),
          bad);
    if (cache == CACHE_NONE)
        CHECK(atomic_load(&v.stats.unaligned) > 0, "bounce path exercised");
    bufpool_put(&pool, rb, 81920);
    for (int i = 0; i < N_OPS; i++)
        if (bufs[i]) {
            bufpool_put(&pool, bufs[i], ops[i].vio.len);
            bufs[i] = NULL;
        }
    bufpool_destroy(&pool);
    replica_close(rep);
    io_engine_close(e);
}

int main(void)
{
    log_init("test_volume", LOG_ERROR);
    char tmp[] = "/tmp/tandem-unit-vol.XXXXXX";
    if (!mkdtemp(tmp))
        return 2;
    char dir[256], err[256];
    /* both engines, O_DIRECT (bounce buffers) and page cache (inline buffered writes) */
    for (int k = 0; k < 4; k++) {
        snprintf(dir, sizeof(dir), "%s/v%d", tmp, k);
        CHECK(replica_create(dir, "v", VOL_BYTES, 4096, NULL, NULL, NULL, err, sizeof(err)) == 0,
              "create: %s", err);
        run(k % 2 == 0 ? IO_ENGINE_URING : IO_ENGINE_AIO, dir,
            k < 2 ? CACHE_NONE : CACHE_WRITEBACK);
    }
    remove_tree(tmp);
    return check_done("test_volume");
}
