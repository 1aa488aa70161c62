/* Aligned I/O buffers recycled by size class, so the I/O path does not call malloc per request.
 *
 * Contract:
 *  - Buffers are 4096-byte aligned (good for O_DIRECT on any device) and at least the asked size.
 *  - Size classes are powers of two from 4 KiB to BUFPOOL_MAX; bufpool_get() above that fails.
 *  - A pool is single-threaded: use one per reactor thread.
 *  - Freed buffers are kept for reuse up to a per-class cap (memory stays bounded by the peak
 *    queue depth the clients used); the pool grows from malloc only while it is cold.
 *  - bufpool_get() returns NULL on out-of-memory or an oversized request. */
#ifndef TANDEM_UTIL_BUFPOOL_H
#define TANDEM_UTIL_BUFPOOL_H

#include <stddef.h>

#define BUFPOOL_MIN_SHIFT 12
#define BUFPOOL_MAX_SHIFT 25 /* 32 MiB: the largest NBD request we advertise */
#define BUFPOOL_MAX       ((size_t)1 << BUFPOOL_MAX_SHIFT)
#define BUFPOOL_CLASSES   (BUFPOOL_MAX_SHIFT - BUFPOOL_MIN_SHIFT + 1)

struct bufpool_free;

struct bufpool {
    struct bufpool_free *free[BUFPOOL_CLASSES];
    unsigned n_free[BUFPOOL_CLASSES];
    unsigned long allocs; /* buffers taken from malloc: a test can see the pool working */
};

void bufpool_init(struct bufpool *p);
void bufpool_destroy(struct bufpool *p);
void *bufpool_get(struct bufpool *p, size_t size);
/* size must be the size passed to bufpool_get() for this buffer. */
void bufpool_put(struct bufpool *p, void *buf, size_t size);

#endif
