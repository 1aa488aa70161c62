/* A persistent bitmap of regions (1 MiB unless opened with another shift): the out-of-sync
 * record of what one peer missed, the write-intent record of regions with writes in flight,
 * and the snapshots' changed-block and copy-before-write maps (store/snapshot.h).
 *
 * Contract:
 *  - bitmap_open() loads (or creates zeroed) the file; blocking, for start-up.
 *  - On the I/O path, persistence is asynchronous and group-committed through the io engine:
 *    bitmap_mark() sets bits in memory and returns true if they are already durable; otherwise
 *    it queues the waiter, whose callback runs (reactor thread) once a commit that includes the
 *    bits has been written and fdatasynced. Many marks share one write+fsync. A NULL waiter asks
 *    for a commit without waiting (marks that are not on a client's critical path).
 *  - Commits write the whole in-memory bitmap (1 bit per MiB: 128 KiB for 1 TiB), one at a time,
 *    so the file only ever moves forward to a newer complete state.
 *  - bitmap_clear() is memory-only; bitmap_commit() schedules a commit of everything.
 *  - bitmap_close() waits for a commit in flight (it drives the engine until it lands).
 *  - Other threads may call bitmap_test_shared() while the owner marks: bits are set with
 *    release semantics, after whatever the caller did before marking. */
#ifndef TANDEM_REPL_BITMAP_H
#define TANDEM_REPL_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/io_engine.h"

#define REGION_SHIFT 20
#define REGION_BYTES (1ull << REGION_SHIFT)

struct io_engine;

struct bitmap_waiter {
    void (*cb)(struct bitmap_waiter *w, int err);
    struct bitmap_waiter *next;
};

struct bitmap {
    int fd;
    struct io_engine *eng;
    uint8_t *shadow;  /* the state a commit in flight writes */
    uint8_t *retired; /* a shadow replaced by bitmap_grow while its commit was in flight */
    bool committing, want_commit;
    struct bitmap_waiter *waiting, *in_commit;
    struct io_req *req;
    unsigned shift; /* log2 of the region size */
    uint64_t n_regions;
    uint8_t *bits;
    size_t bytes;
    uint64_t count; /* bits set */
};

int bitmap_open(struct bitmap *b, const char *path, uint64_t volume_bytes, struct io_engine *eng);
/* As bitmap_open, with regions of 1 << shift bytes. */
int bitmap_open_shift(struct bitmap *b, const char *path, uint64_t volume_bytes, unsigned shift,
                      struct io_engine *eng);
/* Covers a volume grown to volume_bytes (new regions clear). Memory only; the next commit writes
 * the larger map. 0 or -1 with ENOMEM. */
int bitmap_grow(struct bitmap *b, uint64_t volume_bytes);
/* Writes the whole map and fdatasyncs, blocking: for a bitmap no commit machinery is using
 * (one the reactor does not mark). 0 or -1 with errno. */
int bitmap_save_sync(struct bitmap *b);
void bitmap_close(struct bitmap *b);
static inline bool bitmap_test(const struct bitmap *b, uint64_t region)
{
    return b->bits[region >> 3] & (1u << (region & 7));
}
static inline bool bitmap_test_shared(const struct bitmap *b, uint64_t region)
{
    return __atomic_load_n(&b->bits[region >> 3], __ATOMIC_ACQUIRE) & (1u << (region & 7));
}
/* Marks every region overlapping [off, off+len). */
bool bitmap_mark(struct bitmap *b, uint64_t off, uint64_t len, struct bitmap_waiter *w);
void bitmap_clear(struct bitmap *b, uint64_t region);
void bitmap_clear_all(struct bitmap *b);
void bitmap_commit(struct bitmap *b);
/* Next set region at or after `from`, or UINT64_MAX. */
uint64_t bitmap_next(const struct bitmap *b, uint64_t from);

#endif
