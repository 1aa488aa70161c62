/* The volume: the one interface every frontend (NBD today, ublk later) calls to do I/O.
 *
 * A frontend hands a struct vol_io to vol_submit() and gets done() back; it never learns how the
 * volume is stored or, later, replicated. What the volume guarantees:
 *  - Writes, TRIMs and WRITE_ZEROES that overlap (after rounding to the backing alignment) are
 *    never in flight together: a later one waits for the earlier one, in submission order. This is
 *    what later lets every replica apply overlapping writes in the same order, and what makes the
 *    read-modify-write of unaligned writes safe.
 *  - Any offset and length are accepted (the frontend has checked bounds): with O_DIRECT backing,
 *    unaligned requests go through an aligned bounce buffer.
 *  - VOL_F_FUA: the data is durable when done() runs. VOL_FLUSH: every write that completed
 *    before the flush was submitted is durable when done() runs.
 *  - vio->error is 0 or a positive errno (EIO, ENOSPC, ...).
 *  - Thread: a volume is driven from one reactor thread (the one owning its io engine and
 *    buffer pool); vol_submit() never blocks. Counters in struct vol_stats are atomics that
 *    other threads may read.
 *  - Buffers: vio->buf belongs to the caller and must be 4096-aligned (from util/bufpool). */
#ifndef TANDEM_VOL_VOLUME_H
#define TANDEM_VOL_VOLUME_H

#include "io/io_engine.h"
#include "repl/bitmap.h"
#include "store/replica.h"
#include "util/bufpool.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* VOL_LOCKED_READ: a read that holds the range against overlapping writes, like a write does,
 * and completes (done()) before any write waiting for that range starts. Resync uses it so
 * that the copy it sends a peer is ordered exactly between the writes around it. */
enum vol_op { VOL_READ, VOL_WRITE, VOL_FLUSH, VOL_TRIM, VOL_WRITE_ZEROES, VOL_LOCKED_READ };

#define VOL_F_FUA     1u
#define VOL_F_NO_HOLE 2u /* WRITE_ZEROES: allocate, don't punch */

struct volume;

struct vol_io {
    enum vol_op op;
    unsigned flags;
    uint64_t off;
    uint64_t len;
    void *buf; /* READ: filled; WRITE: source */
    int error;
    void (*done)(struct vol_io *vio);
    /* Optional, write-class ops: called once the range is held and the op is about to be
     * issued, i.e. in the order the volume applies overlapping writes. Replication sends the
     * write to peers from here, so every replica applies overlapping writes in that order. */
    void (*on_start)(struct vol_io *vio);
    void *ctx; /* the caller's */

    /* private to the volume */
    struct volume *vol;
    struct vol_io *next;
    uint64_t lock_lo, lock_hi; /* aligned range of the request (bounce buffers) */
    uint64_t excl_lo, excl_hi; /* range held against overlapping writes: lock_lo..hi, widened to
                                  whole copy-before-write units while a snapshot exists */
    int step;
    void *bounce;
    size_t bounce_len;
    uint64_t cursor;
    struct io_req io;
    /* copy-before-write and changed-block tracking (snapshots) */
    void *cow_buf;
    uint64_t cow_lo, cow_hi;
    struct bitmap_waiter cow_wait, cbt_wait;
    unsigned waits;
    int wait_err;
};

struct vol_stats {
    atomic_uint_fast64_t reads, writes, flushes, trims, zeroes, errors;
    atomic_uint_fast64_t bytes_read, bytes_written;
    atomic_uint_fast64_t unaligned; /* requests that needed a bounce buffer */
};

struct rvol;
struct snapset;

#define VOL_FREEZE_MAX 16 /* freezes in force at once (snapshot, expand, delete: a few) */

struct volume {
    struct replica *rep;
    struct rvol *repl; /* replication state, or NULL for a volume without peers */
    struct io_engine *eng;
    struct bufpool *pool;
    struct vol_io *active;  /* write-class requests in flight */
    struct vol_io *waiting; /* write-class requests waiting for an overlap to clear */
    struct vol_io **waiting_tail;
    unsigned inflight; /* all requests in flight, for drain on close */
    struct vol_stats stats;
    struct snapset *snaps; /* store/snapshot.h, or NULL */
    /* vol_freeze(): write-class requests submitted meanwhile wait here, in order */
    bool frozen;
    unsigned freeze_depth;
    struct vol_io *frozen_head, **frozen_tail;
    struct {
        void (*cb)(void *ctx);
        void *ctx;
    } quiesce[VOL_FREEZE_MAX];
    unsigned n_quiesce;
};

/* Binds a replica to the reactor's engine and pool. Never fails. */
void vol_init(struct volume *v, struct replica *rep, struct io_engine *eng, struct bufpool *pool);
/* The frontends' entry point: replicated volumes go through repl/, others straight to disk. */
void vol_submit(struct volume *v, struct vol_io *vio);
/* This node's copy only (what replication itself calls). */
void vol_local_submit(struct volume *v, struct vol_io *vio);
/* Holds back every write-class request submitted from now on (reads and flushes go on) and
 * calls quiesced(ctx) once those submitted before have completed, at once if there are none.
 * The volume then stands at one write boundary, which is where a snapshot is cut. Freezes nest
 * (a replica may meet SNAPSHOT and EXPAND back to back): each is ended by one vol_thaw(), and
 * the held requests go only when the last one ends, so none overtakes an op before it in the
 * stream. Reactor. */
void vol_freeze(struct volume *v, void (*quiesced)(void *ctx), void *ctx);
/* Ends one freeze; the last lets the held requests go, in their submission order. */
void vol_thaw(struct volume *v);
/* Grows the volume (store/replica.h replica_grow) and its snapshot state. Blocking; reactor,
 * volume frozen or otherwise idle. 0 or -1 with errno and err. */
int vol_grow(struct volume *v, uint64_t new_size, char *err, size_t errlen);
static inline uint64_t vol_size(const struct volume *v)
{
    return v->rep->sb.size;
}

#endif
