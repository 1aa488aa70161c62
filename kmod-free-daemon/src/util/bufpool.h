/* Aligned I/O buffers recycled by size class, so the I/O path does not call malloc per request.
 *
 * Contract:
 *  - Buffers are 4096-byte aligned (good for O_DIRECT on any device) and at least the asked size.
 *  - Size classes are powers of two from 4 KiB to BUFPOOL_MAX; the top class also takes sizes up
 *    to BUFPOOL_LIMIT (its buffers are BUFPOOL_LIMIT bytes), so the bounce buffer of a
 *    largest-size request at an unaligned O_DIRECT offset (BUFPOOL_MAX plus one alignment unit)
 *    fits. bufpool_get() above BUFPOOL_LIMIT fails.
 *  - A pool is single-threaded: use one per reactor thread.
 *  - Freed buffers are kept for reuse up to a per-class cap (about BUFPOOL_CLASS_SPARE_BYTES, at
 *    least 4 buffers) and a total of BUFPOOL_SPARE_BYTES; the pool grows from malloc only while
 *    it is cold.
 *  - bufpool_get() returns NULL on out-of-memory or an oversized request. */
#ifndef TANDEM_UTIL_BUFPOOL_H
#define TANDEM_UTIL_BUFPOOL_H

#include <stddef.h>

#define BUFPOOL_MIN_SHIFT 12
#define BUFPOOL_MAX_SHIFT 25 /* 32 MiB: the largest NBD request we advertise */
#define BUFPOOL_MAX       ((size_t)1 << BUFPOOL_MAX_SHIFT)
#define BUFPOOL_CLASSES   (BUFPOOL_MAX_SHIFT - BUFPOOL_MIN_SHIFT + 1)
/* An unaligned request's bounce spans align_up(off + len) - align_down(off) <= len + one
 * O_DIRECT alignment unit, and that unit is at most a volume block (64 KiB at most, see
 * store/superblock.c). */
#define BUFPOOL_SLACK ((size_t)64 * 1024)
#define BUFPOOL_LIMIT (BUFPOOL_MAX + BUFPOOL_SLACK)
/* Spares kept per class and in all: 128 MiB covers QD128 of 1 MiB requests (or 4 of 32 MiB);
 * the total bounds what an idle reactor keeps after any burst. */
#define BUFPOOL_CLASS_SPARE_BYTES ((size_t)128 << 20)
#define BUFPOOL_SPARE_BYTES       ((size_t)256 << 20)

struct bufpool_free;

struct bufpool {
    struct bufpool_free *free[BUFPOOL_CLASSES];
    unsigned n_free[BUFPOOL_CLASSES];
    size_t spare_bytes;   /* bytes held in the free lists */
    unsigned long allocs; /* buffers taken from malloc: a test can see the pool working */
};

void bufpool_init(struct bufpool *p);
void bufpool_destroy(struct bufpool *p);
void *bufpool_get(struct bufpool *p, size_t size);
/* size must be the size passed to bufpool_get() for this buffer. */
void bufpool_put(struct bufpool *p, void *buf, size_t size);

#endif
