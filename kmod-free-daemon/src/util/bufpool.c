/* Size-class buffer pool. Free buffers are chained through their own first bytes, so the pool
 * needs no bookkeeping memory of its own. The caps keep a burst of large requests from pinning
 * gigabytes forever: each class keeps at most about BUFPOOL_CLASS_SPARE_BYTES of spares, and all
 * classes together at most BUFPOOL_SPARE_BYTES. */
#include "util/bufpool.h"

#include <stdlib.h>
#include <string.h>

struct bufpool_free {
    struct bufpool_free *next;
};

static unsigned size_class(size_t size)
{
    unsigned c = 0;
    while (c < BUFPOOL_CLASSES - 1 && ((size_t)1 << (c + BUFPOOL_MIN_SHIFT)) < size)
        c++;
    return c;
}

/* Bytes of a buffer of class c: the top class is BUFPOOL_LIMIT, not a power of two, so a
 * 32 MiB bounce plus its alignment slack costs 64 KiB more rather than a 64 MiB class. */
static size_t class_bytes(unsigned c)
{
    return c == BUFPOOL_CLASSES - 1 ? BUFPOOL_LIMIT : (size_t)1 << (c + BUFPOOL_MIN_SHIFT);
}

/* Spares a class keeps: enough for a queue depth of 128 requests of its size at up to 1 MiB
 * (QD128 x 1 MiB must not go to malloc per request), fewer as buffers grow, never fewer than 4
 * (a few 32 MiB requests in a row reuse theirs). BUFPOOL_SPARE_BYTES bounds the sum. */
static unsigned class_cap(unsigned c)
{
    size_t n = BUFPOOL_CLASS_SPARE_BYTES / class_bytes(c);
    return n < 4 ? 4 : n > 1024 ? 1024 : (unsigned)n;
}

void bufpool_init(struct bufpool *p)
{
    memset(p, 0, sizeof(*p));
}

void bufpool_destroy(struct bufpool *p)
{
    for (unsigned c = 0; c < BUFPOOL_CLASSES; c++) {
        while (p->free[c]) {
            struct bufpool_free *f = p->free[c];
            p->free[c] = f->next;
            free(f);
        }
        p->n_free[c] = 0;
    }
    p->spare_bytes = 0;
}

void *bufpool_get(struct bufpool *p, size_t size)
{
    if (size > BUFPOOL_LIMIT)
        return NULL;
    unsigned c = size_class(size ? size : 1);
    struct bufpool_free *f = p->free[c];
    if (f) {
        p->free[c] = f->next;
        p->n_free[c]--;
        p->spare_bytes -= class_bytes(c);
        return f;
    }
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, class_bytes(c)) != 0)
        return NULL;
    p->allocs++;
    return buf;
}

void bufpool_put(struct bufpool *p, void *buf, size_t size)
{
    if (!buf)
        return;
    unsigned c = size_class(size ? size : 1);
    if (p->n_free[c] >= class_cap(c) || p->spare_bytes + class_bytes(c) > BUFPOOL_SPARE_BYTES) {
        free(buf);
        return;
    }
    struct bufpool_free *f = buf;
    f->next = p->free[c];
    p->free[c] = f;
    p->n_free[c]++;
    p->spare_bytes += class_bytes(c);
}
