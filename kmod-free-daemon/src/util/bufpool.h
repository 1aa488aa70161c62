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
 *  - bufpool_get() returns NULL on out-of-memory or an oversized request.
 *  - Physically contiguous where it pays: buffers from BUFPOOL_HUGE_MIN up to one huge page are
 *    cut from transparent huge pages (an arena of at most BUFPOOL_ARENA_BYTES, kept until
 *    bufpool_destroy), and larger ones are huge-page aligned and advised, so an O_DIRECT
 *    request reaches the device as one segment per 2 MiB rather than one per 4 KiB page. (On a
 *    virtio disk a 1 MiB read of 4 KiB pages is 256 descriptors, two requests of 512 KiB and
 *    most of the ring; measured on this kind of machine: 0.6-0.8 GB/s with 4 KiB pages, 2.4-3.3
 *    GB/s with huge pages, QD8.) Without THP, or once the arena is used up, buffers come from
 *    malloc as before: only the speed differs. */
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

#define BUFPOOL_HUGE_PAGE   ((size_t)2 << 20)
#define BUFPOOL_HUGE_MIN    ((size_t)64 << 10)
#define BUFPOOL_ARENA_BYTES ((size_t)64 << 20) /* QD32 of 1 MiB requests, twice */

struct bufpool_free;

struct bufpool {
    struct bufpool_free *free[BUFPOOL_CLASSES];
    unsigned n_free[BUFPOOL_CLASSES]; /* malloc'd spares (arena buffers are not counted) */
    size_t spare_bytes;               /* bytes of malloc'd spares in the free lists */
    unsigned long allocs;             /* buffers made (malloc'd or cut from the arena) */
    char *arena;                      /* huge-page arena, or NULL if it could not be mapped */
    size_t arena_used;                /* bytes of it cut into buffers so far */
};

void bufpool_init(struct bufpool *p);
void bufpool_destroy(struct bufpool *p);
void *bufpool_get(struct bufpool *p, size_t size);
/* size must be the size passed to bufpool_get() for this buffer. */
void bufpool_put(struct bufpool *p, void *buf, size_t size);

#endif
