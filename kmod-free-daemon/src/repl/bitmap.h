/* A persistent bitmap of 1 MiB regions: the out-of-sync record of what one peer missed.
 *
 * Contract:
 *  - bitmap_open() loads (or creates zeroed) the file; bitmap_set() marks a region and makes the
 *    mark durable before returning (pwrite of the 4 KiB page holding it + fdatasync) when the bit
 *    was clear, so a write acknowledged while the peer was away is never forgotten, even if this
 *    node crashes right after; bitmap_clear() is lazy (durable at the next set or sync).
 *  - Blocking: set() touches disk only on a 0->1 transition (the first write to a region while
 *    the peer is away), which is rare by construction.
 *  - Errors: -1 with errno. */
#ifndef TANDEM_REPL_BITMAP_H
#define TANDEM_REPL_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REGION_SHIFT 20
#define REGION_BYTES (1ull << REGION_SHIFT)

struct bitmap {
    int fd;
    uint64_t n_regions;
    uint8_t *bits;
    size_t bytes;
    uint64_t count; /* bits set */
    bool dirty;     /* clears not yet on disk */
};

int bitmap_open(struct bitmap *b, const char *path, uint64_t volume_bytes);
void bitmap_close(struct bitmap *b);
static inline bool bitmap_test(const struct bitmap *b, uint64_t region)
{
    return b->bits[region >> 3] & (1u << (region & 7));
}
/* Marks every region overlapping [off, off+len). */
int bitmap_set_range(struct bitmap *b, uint64_t off, uint64_t len);
void bitmap_clear(struct bitmap *b, uint64_t region);
int bitmap_set_all(struct bitmap *b);
int bitmap_sync(struct bitmap *b);
/* Next set region at or after `from`, or UINT64_MAX. */
uint64_t bitmap_next(const struct bitmap *b, uint64_t from);

#endif
