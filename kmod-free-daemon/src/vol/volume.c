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

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stddef.h>
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

static void submit_io(struct vol_io *vio, enum io_op op, void *buf, uint64_t off, uint64_t len,
                      unsigned flags, int falloc_mode)
{
    struct io_req *io = &vio->io;
    io->op = op;
    io->fd = vio->vol->rep->data_fd;
    io->buf = buf;
    io->off = off;
    io->len = len;
    io->flags = flags;
    io->falloc_mode = falloc_mode;
    io->done = io_done;
    io_engine_submit(vio->vol->eng, io);
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
    return a->lock_lo < hi && lo < a->lock_hi;
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
        if (!blocked_by(v->active, NULL, w->lock_lo, w->lock_hi) &&
            !blocked_by(v->waiting, w, w->lock_lo, w->lock_hi)) {
            *pp = w->next;
            if (v->waiting_tail == &w->next)
                v->waiting_tail = pp;
            start_write_class(w);
        } else {
            pp = &w->next;
        }
    }
}

static void complete(struct vol_io *vio, int error)
{
    struct volume *v = vio->vol;
    release_bounce(vio);
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

static void start_write_class(struct vol_io *vio)
{
    struct volume *v = vio->vol;
    vio->next = v->active;
    v->active = vio;
    if (vio->on_start)
        vio->on_start(vio);
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
    vio->next = NULL;
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
    if (blocked_by(v->active, NULL, vio->lock_lo, vio->lock_hi) ||
        blocked_by(v->waiting, NULL, vio->lock_lo, vio->lock_hi)) {
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
