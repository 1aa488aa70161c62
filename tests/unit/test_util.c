/* util/: CRC32C against the standard check value and chaining, size parsing and formatting,
 * the buffer pool's reuse and alignment, the byte buffer's big-endian encoders. */
#include "check.h"

#include "util/bufpool.h"
#include "util/bytebuf.h"
#include "util/crc32c.h"
#include "util/size.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static void test_crc32c(void)
{
    CHECK(crc32c(0, "123456789", 9) == 0xE3069283u, "check value %08x", crc32c(0, "123456789", 9));
    CHECK(crc32c(0, NULL, 0) == 0, "empty");
    uint8_t buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (uint8_t)(i * 7);
    uint32_t whole = crc32c(0, buf, sizeof(buf));
    CHECK(crc32c(crc32c(0, buf, 333), buf + 333, 667) == whole, "chaining");
    /* 32 zero bytes: RFC 3720 B.4 test vector */
    uint8_t z[32] = {0};
    CHECK(crc32c(0, z, 32) == 0x8A9136AAu, "iSCSI zeros vector %08x", crc32c(0, z, 32));
    /* long buffers take the three-stream path: compare with a bit-at-a-time reference, at
     * lengths around each chunk size (768, 4080, 12 KiB) and odd offsets, chained and not */
    static unsigned char big[40000];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(big); i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (unsigned char)(x >> 16);
    }
    const size_t lens[] = {767,  768,   1000,  4079,  4080,      4096,
                           4097, 12287, 12288, 12289, 24576 + 7, 39000};
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        for (size_t off = 0; off < 3; off++) {
            uint32_t ref = 0xffffffffu;
            for (size_t i = 0; i < lens[k]; i++) {
                ref ^= big[off + i];
                for (int b = 0; b < 8; b++)
                    ref = (ref >> 1) ^ (ref & 1 ? 0x82F63B78u : 0);
            }
            ref = ~ref;
            CHECK(crc32c(0, big + off, lens[k]) == ref, "long crc len %zu off %zu", lens[k], off);
            size_t cut = lens[k] > 5000 ? 5000 : lens[k] / 3;
            uint32_t part = crc32c(crc32c(0, big + off, cut), big + off + cut, lens[k] - cut);
            CHECK(part == ref, "long chained crc len %zu off %zu", lens[k], off);
        }
    }
}

static void test_size(void)
{
    struct {
        const char *s;
        uint64_t v;
    } ok[] = {{"4096", 4096}, {"256M", 256ull << 20}, {"10G", 10ull << 30},
              {"1k", 1024},   {"2MiB", 2ull << 20},   {"3GB", 3ull << 30},
              {"512B", 512},  {"1T", 1ull << 40},     {"16383P", 16383ull << 50}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 0;
        CHECK(size_parse(ok[i].s, &v) == 0 && v == ok[i].v, "%s -> %llu", ok[i].s,
              (unsigned long long)v);
    }
    const char *bad[] = {"", "M", "-1", "1.5G", "12Q", "10 G", "0x10", "1MM"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v;
        errno = 0;
        CHECK(size_parse(bad[i], &v) < 0 && errno == EINVAL, "\"%s\" refused", bad[i]);
    }
    uint64_t v;
    CHECK(size_parse("16384P", &v) < 0 && errno == ERANGE, "overflow");
    CHECK(size_parse("99999999999999999999", &v) < 0 && errno == ERANGE, "digits overflow");
    char b[32];
    size_format(256ull << 20, b, sizeof(b));
    CHECK(strcmp(b, "256M") == 0, "format %s", b);
    size_format(4097, b, sizeof(b));
    CHECK(strcmp(b, "4097") == 0, "format %s", b);
}

static void test_bufpool(void)
{
    struct bufpool p;
    bufpool_init(&p);
    void *a = bufpool_get(&p, 4096);
    CHECK(a && (uintptr_t)a % 4096 == 0, "aligned");
    bufpool_put(&p, a, 4096);
    void *b = bufpool_get(&p, 3000);
    CHECK(b == a, "same class reused");
    bufpool_put(&p, bufpool_get(&p, 65536), 65536);
    unsigned long allocs = p.allocs;
    for (int i = 0; i < 1000; i++) {
        void *x = bufpool_get(&p, 65536);
        bufpool_put(&p, x, 65536);
    }
    CHECK(p.allocs == allocs, "steady state allocates nothing (%lu)", p.allocs - allocs);
    CHECK(bufpool_get(&p, BUFPOOL_LIMIT + 1) == NULL, "oversized refused");
    /* the bounce of a 32 MiB request at an unaligned O_DIRECT offset: 32 MiB + one block */
    void *bounce = bufpool_get(&p, BUFPOOL_MAX + 65536);
    CHECK(bounce != NULL, "32 MiB + 64 KiB bounce buffer");
    if (bounce) {
        memset(bounce, 2, BUFPOOL_MAX + 65536);
        bufpool_put(&p, bounce, BUFPOOL_MAX + 65536);
    }
    void *big = bufpool_get(&p, BUFPOOL_MAX);
    CHECK(big != NULL, "max size");
    if (big) {
        memset(big, 1, BUFPOOL_MAX);
        bufpool_put(&p, big, BUFPOOL_MAX);
    }
    bufpool_put(&p, b, 3000);
    bufpool_destroy(&p);
}

/* QD128 of 1 MiB requests is steady state, not a malloc per request; and whatever burst the
 * pool saw, it keeps at most BUFPOOL_SPARE_BYTES of spares. */
static void test_bufpool_caps(void)
{
    struct bufpool p;
    bufpool_init(&p);
    enum { QD = 128, BIG = 12 };
    static void *bufs[QD];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < QD; i++)
            bufs[i] = bufpool_get(&p, 1 << 20);
        for (int i = 0; i < QD; i++)
            bufpool_put(&p, bufs[i], 1 << 20);
    }
    CHECK(p.allocs == QD, "QD%d x 1 MiB reuses its buffers (%lu allocations)", QD, p.allocs);
    /* on top of the 128 MiB of 1 MiB spares: a burst of 32 MiB and 8 MiB buffers */
    for (int i = 0; i < BIG; i++)
        bufs[i] = bufpool_get(&p, BUFPOOL_MAX);
    for (int i = 0; i < BIG; i++)
        bufpool_put(&p, bufs[i], BUFPOOL_MAX);
    for (int i = 0; i < BIG; i++)
        bufs[i] = bufpool_get(&p, 8 << 20);
    for (int i = 0; i < BIG; i++)
        bufpool_put(&p, bufs[i], 8 << 20);
    CHECK(p.spare_bytes <= BUFPOOL_SPARE_BYTES, "spares bounded (%zu bytes)", p.spare_bytes);
    CHECK(p.spare_bytes >= BUFPOOL_SPARE_BYTES - BUFPOOL_LIMIT, "spares kept (%zu bytes)",
          p.spare_bytes);
    bufpool_destroy(&p);
}

static bool in_one_huge_page(const void *buf, size_t len)
{
    uintptr_t a = (uintptr_t)buf;
    return a / BUFPOOL_HUGE_PAGE == (a + len - 1) / BUFPOOL_HUGE_PAGE;
}

/* Buffers of 64 KiB to 2 MiB are cut from the huge-page arena, each inside one huge page (one
 * device segment); past the arena they still come, from malloc; nothing is lost either way. */
static void test_bufpool_arena(void)
{
    struct bufpool p;
    bufpool_init(&p);
    CHECK(p.arena != NULL, "arena mapped");
    enum { N = 80 }; /* 80 MiB of 1 MiB buffers: more than the 64 MiB arena */
    static void *bufs[N];
    unsigned from_arena = 0;
    for (int i = 0; i < N; i++) {
        bufs[i] = bufpool_get(&p, 1 << 20);
        CHECK(bufs[i] && (uintptr_t)bufs[i] % 4096 == 0, "1 MiB buffer %d aligned", i);
        if (bufs[i] && (char *)bufs[i] >= p.arena &&
            (char *)bufs[i] < p.arena + BUFPOOL_ARENA_BYTES) {
            from_arena++;
            CHECK(in_one_huge_page(bufs[i], 1 << 20), "1 MiB buffer %d within one huge page", i);
        }
        memset(bufs[i], i, 1 << 20);
    }
    CHECK(from_arena == BUFPOOL_ARENA_BYTES >> 20, "%u of %d from the arena", from_arena, N);
    for (int i = 0; i < N; i++) {
        unsigned char *b = bufs[i];
        CHECK(b[0] == (unsigned char)i && b[(1 << 20) - 1] == (unsigned char)i,
              "buffer %d kept its bytes", i);
    }
    for (int i = 0; i < N; i++)
        bufpool_put(&p, bufs[i], 1 << 20);
    CHECK(p.spare_bytes == (size_t)(N - from_arena) << 20, "malloc'd spares counted (%zu)",
          p.spare_bytes);
    /* the arena is used up: 64 KiB buffers come from malloc now, and work */
    void *small = bufpool_get(&p, 65536);
    CHECK(small != NULL, "64 KiB buffer after the arena is full");
    bufpool_put(&p, small, 65536);
    /* reuse takes the same buffers back, arena ones included */
    unsigned long allocs = p.allocs;
    for (int i = 0; i < N; i++)
        bufs[i] = bufpool_get(&p, 1 << 20);
    CHECK(p.allocs == allocs, "all %d reused (%lu new)", N, p.allocs - allocs);
    for (int i = 0; i < N; i++)
        bufpool_put(&p, bufs[i], 1 << 20);
    bufpool_destroy(&p);
}

static void test_bytebuf(void)
{
    struct bytebuf b = {0};
    bytebuf_be16(&b, 0x0102);
    bytebuf_be32(&b, 0x03040506);
    bytebuf_be64(&b, 0x0708090a0b0c0d0eull);
    bytebuf_zeros(&b, 2);
    const uint8_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0, 0};
    CHECK(b.len == sizeof(want) && memcmp(b.data, want, sizeof(want)) == 0, "encoding");
    CHECK(get_be64(b.data + 6) == 0x0708090a0b0c0d0eull, "decode 64");
    for (int i = 0; i < 10000; i++)
        bytebuf_be32(&b, (uint32_t)i);
    CHECK(b.len == sizeof(want) + 40000 && get_be32(b.data + b.len - 4) == 9999, "growth");
    bytebuf_free(&b);
}

int main(void)
{
    test_crc32c();
    test_size();
    test_bufpool();
    test_bufpool_caps();
    test_bufpool_arena();
    test_bytebuf();
    return check_done("test_util");
}
