/* Growable buffer. Doubling growth; the sticky oom flag keeps builders free of per-field error
 * checks, which is where protocol code usually hides its bugs. */
#include "util/bytebuf.h"

#include <stdlib.h>
#include <string.h>

void bytebuf_free(struct bytebuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void bytebuf_reset(struct bytebuf *b)
{
    b->len = 0;
    b->off = 0;
    b->oom = false;
}

static bool reserve(struct bytebuf *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void bytebuf_put(struct bytebuf *b, const void *p, size_t n)
{
    if (!n || !reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void bytebuf_be16(struct bytebuf *b, uint16_t v)
{
    uint8_t x[2];
    put_be16(x, v);
    bytebuf_put(b, x, 2);
}

void bytebuf_be32(struct bytebuf *b, uint32_t v)
{
    uint8_t x[4];
    put_be32(x, v);
    bytebuf_put(b, x, 4);
}

void bytebuf_be64(struct bytebuf *b, uint64_t v)
{
    uint8_t x[8];
    put_be64(x, v);
    bytebuf_put(b, x, 8);
}

void bytebuf_zeros(struct bytebuf *b, size_t n)
{
    if (!n || !reserve(b, n))
        return;
    memset(b->data + b->len, 0, n);
    b->len += n;
}
