/* Local volume I/O: ordering of overlapping writes, alignment for O_DIRECT, FUA and FLUSH.
 *
 * Each request is a small state machine driven by io engine completions (io_done). The
 * overlap check is a linear scan: the lists hold at most the clients' queue depth (tens), and a
 * scan of tens of cache-resident entries is cheaper than maintaining an interval tree.
 *
 * WRITE_ZEROES without NO_HOLE punches a hole (reads as zero, frees space); with NO_HOLE it asks
 * for FALLOC_FL_ZERO_RANGE and, on filesystems without it (tmpfs), punches instead: the bytes
 * read back as zero either way, only the allocation differs. */
#include "vol/volume.h"

#include "repl/repl.h"
#include "store/snapshot.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum step {
    ST_READ,         /* plain read into the caller's buffer */
    ST_READ_BOUNCE,  /* aligned read into the bounce buffer, then copy out */
    ST_RMW_HEAD,     /* unaligned write: reading the first partial block */
    ST_RMW_TAIL,     /* unaligned write: reading the last partial block */
    ST_WRITE,        /* the write itself */
    ST_FALLOC,       /* TRIM / WRITE_ZEROES */
    ST_FALLOC_PUNCH, /* WRITE_ZEROES retried as a hole punch */
    ST_SYNC,         /* FLUSH, or the durability step after FUA fallocate */
    ST_COW_READ,     /* copy-before-write: reading units a snapshot still needs */
    ST_COW_WRITE,    /* ... and writing them into the newest snapshot's cow.data */
};

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static void io_done(struct io_req *io);
static void start_write_class(struct vol_io *vio);

void vol_init(struct volume *v, struct replica *rep, struct io_engine *eng, struct bufpool *pool)
{
    memset(v, 0, sizeof(*v));
    v->rep = rep;
    v->eng = eng;
    v->pool = pool;
    v->waiting_tail = &v->waiting;
    v->frozen_tail = &v->frozen_head;
}

static uint64_t align_down(uint64_t x, uint64_t a)
{
    return x - x % a;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return align_down(x + a - 1, a);
}

static bool is_write_class(enum vol_op op)
{
    return op == VOL_WRITE || op == VOL_TRIM || op == VOL_WRITE_ZEROES || op == VOL_LOCKED_READ;
}

static void submit_io_fd(struct vol_io *vio, int fd, enum io_op op, void *buf, uint64_t off,
                         uint64_t len, unsigned flags)
{
    struct io_req *io = &vio->io;
    io->op = op;
    io->fd = fd;
    io->buf = buf;
    io->off = off;
    io->len = len;
    io->flags = flags;
    io->done = io_done;
    io_engine_submit(vio->vol->eng, io);
}

static void submit_io(struct vol_io *vio, enum io_op op, void *buf, uint64_t off, uint64_t len,
                      unsigned flags, int falloc_mode)
{
    vio->io.falloc_mode = falloc_mode;
    submit_io_fd(vio, vio->vol->rep->data_fd, op, buf, off, len, flags);
}

static void release_bounce(struct vol_io *vio)
{
    if (vio->bounce) {
        bufpool_put(vio->vol->pool, vio->bounce, vio->bounce_len);
        vio->bounce = NULL;
    }
}

static bool overlaps(const struct vol_io *a, uint64_t lo, uint64_t hi)
{
    return a->excl_lo < hi && lo < a->excl_hi;
}

static bool blocked_by(const struct vol_io *list, const struct vol_io *stop, uint64_t lo,
                       uint64_t hi)
{
    for (const struct vol_io *p = list; p && p != stop; p = p->next)
        if (overlaps(p, lo, hi))
            return true;
    return false;
}

static void unlink_active(struct volume *v, struct vol_io *vio)
{
    for (struct vol_io **pp = &v->active; *pp; pp = &(*pp)->next)
        if (*pp == vio) {
            *pp = vio->next;
            return;
        }
}

/* Starts every waiting request that no longer overlaps an active one or an earlier waiter
 * (the second condition keeps overlapping requests in their submission order). */
static void wake_waiters(struct volume *v)
{
    struct vol_io **pp = &v->waiting;
    while (*pp) {
        struct vol_io *w = *pp;
        if (!blocked_by(v->active, NULL, w->excl_lo, w->excl_hi) &&
            !blocked_by(v->waiting, w, w->excl_lo, w->excl_hi)) {
            *pp = w->next;
            if (v->waiting_tail == &w->next)
                v->waiting_tail = pp;
            start_write_class(w);
        } else {
            pp = &w->next;
        }
    }
}

static void maybe_quiesced(struct volume *v)
{
    while (v->frozen && v->n_quiesce && !v->active && !v->waiting) {
        /* first come, first called; a callback may freeze again (nested) or thaw */
        void (*cb)(void *) = v->quiesce[0].cb;
        void *ctx = v->quiesce[0].ctx;
        memmove(&v->quiesce[0], &v->quiesce[1], (v->n_quiesce - 1) * sizeof(v->quiesce[0]));
        v->n_quiesce--;
        cb(ctx);
    }
}

static void complete(struct vol_io *vio, int error)
{
    struct volume *v = vio->vol;
    release_bounce(vio);
    if (vio->cow_buf) {
        bufpool_put(v->pool, vio->cow_buf, vio->cow_hi - vio->cow_lo);
        vio->cow_buf = NULL;
    }
    vio->error = error;
    if (error)
        atomic_fetch_add(&v->stats.errors, 1);
    else if (vio->op == VOL_READ)
        atomic_fetch_add(&v->stats.bytes_read, vio->len);
    else if (vio->op == VOL_WRITE)
        atomic_fetch_add(&v->stats.bytes_written, vio->len);
    v->inflight--;
    if (!is_write_class(vio->op)) {
        vio->done(vio);
        return;
    }
    /* done() runs before the waiters start: whatever it sends about this range (a resync
     * copy, an acknowledgement) goes out before anything a later overlapping write sends. */
    unlink_active(v, vio);
    vio->done(vio);
    wake_waiters(v);
    maybe_quiesced(v);
}

static bool needs_bounce(const struct vol_io *vio)
{
    unsigned a = vio->vol->rep->dio_align;
    return a > 1 && (vio->off % a || vio->len % a || (uintptr_t)vio->buf % 4096);
}

static bool get_bounce(struct vol_io *vio)
{
    vio->bounce_len = vio->lock_hi - vio->lock_lo;
    vio->bounce = bufpool_get(vio->vol->pool, vio->bounce_len);
    if (vio->bounce)
        atomic_fetch_add(&vio->vol->stats.unaligned, 1);
    return vio->bounce != NULL;
}

static void start_read(struct vol_io *vio)
{
    if (!needs_bounce(vio)) {
        vio->step = ST_READ;
        submit_io(vio, IO_READ, vio->buf, vio->off, vio->len, 0, 0);
        return;
    }
    unsigned a = vio->vol->rep->dio_align;
    vio->lock_lo = align_down(vio->off, a);
    vio->lock_hi = align_up(vio->off + vio->len, a);
    if (!get_bounce(vio)) {
        complete(vio, ENOMEM);
        return;
    }
    vio->step = ST_READ_BOUNCE;
    submit_io(vio, IO_READ, vio->bounce, vio->lock_lo, vio->bounce_len, 0, 0);
}

static void write_bounce(struct vol_io *vio)
{
    memcpy((char *)vio->bounce + (vio->off - vio->lock_lo), vio->buf, vio->len);
    vio->step = ST_WRITE;
    submit_io(vio, IO_WRITE, vio->bounce, vio->lock_lo, vio->bounce_len,
              vio->flags & VOL_F_FUA ? IO_F_FUA : 0, 0);
}

/* Unaligned write: read the partial first block, then the partial last block, then write. */
static void rmw_next(struct vol_io *vio)
{
    unsigned a = vio->vol->rep->dio_align;
    uint64_t end = vio->off + vio->len;
    if (vio->step == ST_WRITE && vio->off != vio->lock_lo) {
        vio->step = ST_RMW_HEAD;
        submit_io(vio, IO_READ, vio->bounce, vio->lock_lo, a, 0, 0);
        return;
    }
    bool tail_partial = end != vio->lock_hi;
    bool tail_is_head = vio->lock_hi - vio->lock_lo == a && vio->off != vio->lock_lo;
    if (vio->step != ST_RMW_TAIL && tail_partial && !tail_is_head) {
        vio->step = ST_RMW_TAIL;
        submit_io(vio, IO_READ, (char *)vio->bounce + vio->bounce_len - a, vio->lock_hi - a, a, 0,
                  0);
        return;
    }
    write_bounce(vio);
}

static void issue_write_class(struct vol_io *vio);

/* ---- snapshots: copy-before-write into the newest snapshot, changed-block tracking ---- */

static bool cbt_active(const struct volume *v)
{
    /* Only once a snapshot was ever taken: before that, the first snapshot counts as all
     * changed (store/snapshot.c), so tracking earlier writes would buy nothing. */
    return v->snaps && (v->snaps->newest || v->snaps->cbt_prev_seq);
}

static void cow_next(struct vol_io *vio);

static void bitmaps_durable(struct vol_io *vio, int err)
{
    if (err && !vio->wait_err)
        vio->wait_err = err;
    if (--vio->waits)
        return;
    if (vio->wait_err)
        complete(vio, vio->wait_err);
    else
        issue_write_class(vio);
}

static void cow_durable(struct bitmap_waiter *w, int err)
{
    bitmaps_durable(container_of(w, struct vol_io, cow_wait), err);
}

static void cbt_durable(struct bitmap_waiter *w, int err)
{
    bitmaps_durable(container_of(w, struct vol_io, cbt_wait), err);
}

#define COW_RUN_MAX ((uint64_t)1 << 20)

/* Copies, one run at a time, the units of the request's range that the newest snapshot does
 * not hold yet; then waits until the snapshot's map and the CBT say so durably; then issues the
 * request. The request holds whole units (excl_lo..hi), so no other write races the copy. */
static void cow_next(struct vol_io *vio)
{
    struct volume *v = vio->vol;
    struct snapshot *n = v->snaps->newest;
    uint64_t end = vio->off + vio->len, size = n ? n->size : vol_size(v);
    if (end > size)
        end = size; /* beyond a snapshot's end (the volume grew since) there is nothing to keep */
    if (n) {
        uint64_t lo = vio->cursor;
        while (lo < end && bitmap_test(&n->cow, lo >> SNAP_COW_SHIFT))
            lo += SNAP_COW_BYTES;
        if (lo < end) {
            uint64_t hi = lo + SNAP_COW_BYTES;
            while (hi < end && hi - lo < COW_RUN_MAX && !bitmap_test(&n->cow, hi >> SNAP_COW_SHIFT))
                hi += SNAP_COW_BYTES;
            if (hi > size)
                hi = size;
            vio->cow_lo = lo;
            vio->cow_hi = hi;
            vio->cow_buf = bufpool_get(v->pool, hi - lo);
            if (!vio->cow_buf) {
                complete(vio, ENOMEM);
                return;
            }
            vio->step = ST_COW_READ;
            submit_io(vio, IO_READ, vio->cow_buf, lo, hi - lo, 0, 0);
            return;
        }
    }
    vio->waits = 1;
    vio->wait_err = 0;
    vio->cow_wait.cb = cow_durable;
    vio->cbt_wait.cb = cbt_durable;
    if (n && vio->off < n->size &&
        !bitmap_mark(&n->cow, vio->off, (end > vio->off ? end : vio->off) - vio->off,
                     &vio->cow_wait))
        vio->waits++;
    if (!bitmap_mark(&v->snaps->cbt, vio->off, vio->len, &vio->cbt_wait))
        vio->waits++;
    bitmaps_durable(vio, 0);
}

static void cow_step_done(struct vol_io *vio)
{
    struct volume *v = vio->vol;
    struct snapshot *n = v->snaps->newest;
    if (vio->step == ST_COW_READ) {
        /* FUA: the copy is durable before the map that points at it can be */
        vio->step = ST_COW_WRITE;
        vio->io.falloc_mode = 0;
        submit_io_fd(vio, n->cow_fd, IO_WRITE, vio->cow_buf, vio->cow_lo, vio->cow_hi - vio->cow_lo,
                     IO_F_FUA);
        return;
    }
    bitmap_mark(&n->cow, vio->cow_lo, vio->cow_hi - vio->cow_lo, NULL);
    bufpool_put(v->pool, vio->cow_buf, vio->cow_hi - vio->cow_lo);
    vio->cow_buf = NULL;
    vio->cursor = vio->cow_hi;
    cow_next(vio);
}

static void start_write_class(struct vol_io *vio)
{
    struct volume *v = vio->vol;
    vio->next = v->active;
    v->active = vio;
    if (vio->on_start)
        vio->on_start(vio);
    if (vio->op != VOL_LOCKED_READ && vio->len && cbt_active(v)) {
        vio->cursor = align_down(vio->off, SNAP_COW_BYTES);
        cow_next(vio);
        return;
    }
    issue_write_class(vio);
}

static void issue_write_class(struct vol_io *vio)
{
    struct volume *v = vio->vol;
    switch (vio->op) {
    case VOL_LOCKED_READ:
        if (needs_bounce(vio)) {
            complete(vio, EINVAL); /* resync reads are always region-aligned */
            return;
        }
        vio->step = ST_READ;
        submit_io(vio, IO_READ, vio->buf, vio->off, vio->len, 0, 0);
        break;
    case VOL_WRITE:
        if (!needs_bounce(vio)) {
            vio->step = ST_WRITE;
            /* page cache: copy inline (io/io_engine.h IO_F_INLINE); FUA goes the queue's way */
            submit_io(vio, IO_WRITE, vio->buf, vio->off, vio->len,
                      vio->flags & VOL_F_FUA ? IO_F_FUA : (v->rep->direct ? 0 : IO_F_INLINE), 0);
        } else if (!get_bounce(vio)) {
            complete(vio, ENOMEM);
        } else {
            vio->step = ST_WRITE; /* rmw_next moves on from here */
            rmw_next(vio);
        }
        break;
    case VOL_TRIM:
        vio->step = ST_FALLOC;
        submit_io(vio, IO_FALLOCATE, NULL, vio->off, vio->len, 0,
                  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
        break;
    case VOL_WRITE_ZEROES:
        vio->step = ST_FALLOC;
        submit_io(vio, IO_FALLOCATE, NULL, vio->off, vio->len, 0,
                  (vio->flags & VOL_F_NO_HOLE ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE) |
                      FALLOC_FL_KEEP_SIZE);
        break;
    default:
        break;
    }
}

static void io_done(struct io_req *io)
{
    struct vol_io *vio = container_of(io, struct vol_io, io);
    int64_t res = io->result;
    if (res < 0) {
        /* ZERO_RANGE unsupported (tmpfs): zeroes by punching instead. */
        if (vio->step == ST_FALLOC && vio->op == VOL_WRITE_ZEROES && res == -EOPNOTSUPP &&
            (vio->flags & VOL_F_NO_HOLE)) {
            vio->step = ST_FALLOC_PUNCH;
            submit_io(vio, IO_FALLOCATE, NULL, vio->off, vio->len, 0,
                      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
            return;
        }
        complete(vio, (int)-res);
        return;
    }
    if ((io->op == IO_READ || io->op == IO_WRITE) && (uint64_t)res != io->len) {
        complete(vio, EIO); /* end of file inside the volume: the data file was truncated */
        return;
    }
    switch (vio->step) {
    case ST_COW_READ:
    case ST_COW_WRITE:
        cow_step_done(vio);
        break;
    case ST_READ:
    case ST_WRITE:
    case ST_SYNC:
        complete(vio, 0);
        break;
    case ST_READ_BOUNCE:
        memcpy(vio->buf, (char *)vio->bounce + (vio->off - vio->lock_lo), vio->len);
        complete(vio, 0);
        break;
    case ST_RMW_HEAD:
    case ST_RMW_TAIL:
        rmw_next(vio);
        break;
    case ST_FALLOC:
    case ST_FALLOC_PUNCH:
        if (vio->flags & VOL_F_FUA) {
            vio->step = ST_SYNC;
            submit_io(vio, IO_FSYNC, NULL, 0, 0, 0, 0);
        } else {
            complete(vio, 0);
        }
        break;
    }
}

void vol_local_submit(struct volume *v, struct vol_io *vio)
{
    vio->vol = v;
    vio->error = 0;
    vio->bounce = NULL;
    vio->cow_buf = NULL;
    vio->next = NULL;
    if (v->frozen && is_write_class(vio->op)) {
        *v->frozen_tail = vio;
        v->frozen_tail = &vio->next;
        return;
    }
    v->inflight++;
    switch (vio->op) {
    case VOL_READ:
        atomic_fetch_add(&v->stats.reads, 1);
        start_read(vio);
        return;
    case VOL_FLUSH:
        atomic_fetch_add(&v->stats.flushes, 1);
        vio->step = ST_SYNC;
        submit_io(vio, IO_FSYNC, NULL, 0, 0, 0, 0);
        return;
    case VOL_WRITE:
        atomic_fetch_add(&v->stats.writes, 1);
        break;
    case VOL_TRIM:
        atomic_fetch_add(&v->stats.trims, 1);
        break;
    case VOL_WRITE_ZEROES:
        atomic_fetch_add(&v->stats.zeroes, 1);
        break;
    case VOL_LOCKED_READ:
        break;
    }
    unsigned a = v->rep->dio_align;
    if (vio->op == VOL_WRITE && a > 1) {
        vio->lock_lo = align_down(vio->off, a);
        vio->lock_hi = align_up(vio->off + vio->len, a);
    } else {
        /* TRIM and WRITE_ZEROES go through fallocate, which is byte-exact. A partial-block
         * punch still rewrites the rest of that block, so lock whole blocks all the same. */
        uint64_t b = a > 1 ? a : 1;
        vio->lock_lo = align_down(vio->off, b);
        vio->lock_hi = align_up(vio->off + vio->len, b);
    }
    vio->excl_lo = vio->lock_lo;
    vio->excl_hi = vio->lock_hi;
    if (v->snaps && v->snaps->newest) {
        vio->excl_lo = align_down(vio->lock_lo, SNAP_COW_BYTES);
        vio->excl_hi = align_up(vio->lock_hi, SNAP_COW_BYTES);
    }
    if (blocked_by(v->active, NULL, vio->excl_lo, vio->excl_hi) ||
        blocked_by(v->waiting, NULL, vio->excl_lo, vio->excl_hi)) {
        *v->waiting_tail = vio;
        v->waiting_tail = &vio->next;
        return;
    }
    start_write_class(vio);
}

void vol_submit(struct volume *v, struct vol_io *vio)
{
    if (v->repl)
        repl_submit(v->repl, vio);
    else
        vol_local_submit(v, vio);
}

void vol_freeze(struct volume *v, void (*quiesced)(void *ctx), void *ctx)
{
    if (v->n_quiesce == VOL_FREEZE_MAX) {
        /* a bug (each op freezes once and thaws once); losing the callback would hang it */
        log_error("vol", "volume %s: more than %d freezes at once", v->rep->sb.name,
                  VOL_FREEZE_MAX);
        abort();
    }
    v->frozen = true;
    v->freeze_depth++;
    v->quiesce[v->n_quiesce].cb = quiesced;
    v->quiesce[v->n_quiesce].ctx = ctx;
    v->n_quiesce++;
    maybe_quiesced(v);
}

void vol_thaw(struct volume *v)
{
    if (v->freeze_depth && --v->freeze_depth)
        return;
    struct vol_io *list = v->frozen_head;
    v->frozen = false;
    v->frozen_head = NULL;
    v->frozen_tail = &v->frozen_head;
    while (list) {
        struct vol_io *next = list->next;
        vol_local_submit(v, list);
        list = next;
    }
}

int vol_grow(struct volume *v, uint64_t new_size, char *err, size_t errlen)
{
    if (replica_grow(v->rep, new_size, err, errlen) < 0)
        return -1;
    if (v->snaps && snapset_grow(v->snaps, new_size) < 0) {
        snprintf(err, errlen, "out of memory growing the changed-block map");
        return -1;
    }
    return 0;
}
