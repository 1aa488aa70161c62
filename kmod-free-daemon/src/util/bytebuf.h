/* A growable byte buffer with big-endian appenders, for building protocol messages.
 *
 * Contract: append functions never fail visibly: on out-of-memory they set b->oom and drop the
 * data, so a builder writes a whole message and checks once. Not thread-safe. */
#ifndef TANDEM_UTIL_BYTEBUF_H
#define TANDEM_UTIL_BYTEBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bytebuf {
    uint8_t *data;
    size_t len, cap;
    size_t off; /* consumer's read position (bytes already sent) */
    bool oom;
};

void bytebuf_free(struct bytebuf *b);
void bytebuf_reset(struct bytebuf *b);
void bytebuf_put(struct bytebuf *b, const void *p, size_t n);
void bytebuf_be16(struct bytebuf *b, uint16_t v);
void bytebuf_be32(struct bytebuf *b, uint32_t v);
void bytebuf_be64(struct bytebuf *b, uint64_t v);
void bytebuf_zeros(struct bytebuf *b, size_t n);

static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}
static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

#endif
