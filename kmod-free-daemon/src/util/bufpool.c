/* Size-class buffer pool. Free buffers are chained through their own first bytes, so the pool
 * needs no bookkeeping memory of its own. The per-class cap keeps a burst of 32 MiB requests
 * from pinning gigabytes forever: large classes keep fewer spares than small ones. */
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

static unsigned class_cap(unsigned c)
{
    /* 256 spares of 4 KiB ... down to 4 spares of 32 MiB */
    unsigned cap = 256u >> (c / 2);
    return cap < 4 ? 4 : cap;
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
    if (p->n_free[c] >= class_cap(c)) {
        free(buf);
        return;
    }
    struct bufpool_free *f = buf;
    f->next = p->free[c];
    p->free[c] = f;
    p->n_free[c]++;
}
