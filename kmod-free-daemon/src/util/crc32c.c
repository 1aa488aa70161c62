/* CRC32C: hardware path with the x86 crc32 instruction (8 bytes per step, three streams at
 * once on buffers of 768 bytes and more), portable
 * byte-at-a-time table otherwise. The hardware path runs at several GB/s, well above any link
 * a replication frame crosses; the table path exists for other CPUs. */
#include "util/crc32c.h"

#include <pthread.h>
#include <string.h>

static uint32_t crc_table[256];
static int have_sse42;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static uint32_t crc_sw(uint32_t c, const unsigned char *p, size_t len)
{
    while (len--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#if defined(__x86_64__)
/* The crc32 instruction has a latency of 3 cycles and a throughput of 1: one dependency chain
 * uses a third of it. Long buffers are therefore cut into chunks of three STRIDE-byte blocks
 * whose CRCs run as three independent chains, then combined: a CRC register advanced over n
 * zero bytes is a linear map of the register, precomputed (as four byte tables) for n = STRIDE
 * and 2 * STRIDE, so crc(A B C) = adv2(crc(A)) ^ adv1(crc0(B)) ^ crc0(C). */
#define STRIDE 4096
/* A 4 KiB replication frame is shorter than one 3 x 4096 chunk and ran as a single chain,
 * three times slower than it could: shorter chunks (1360: 4080 bytes, so a 4 KiB block is one
 * chunk and 16 bytes; 256 for the rest down to 768) keep every length above that on three. */
#define STRIDE_MID   1360
#define STRIDE_SMALL 256
static uint32_t adv1[4][256], adv2[4][256];
static uint32_t adv1_mid[4][256], adv2_mid[4][256];
static uint32_t adv1_small[4][256], adv2_small[4][256];

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (int i = 0; vec; i++, vec >>= 1)
        if (vec & 1)
            sum ^= mat[i];
    return sum;
}

/* out = a after b (apply b, then a) */
static void gf2_mul(uint32_t *out, const uint32_t *a, const uint32_t *b)
{
    uint32_t t[32];
    for (int i = 0; i < 32; i++)
        t[i] = gf2_times(a, b[i]);
    memcpy(out, t, sizeof(t));
}

/* The map "advance the register over n zero bytes", as tables indexed by each register byte. */
static void advance_tables(uint32_t tab[4][256], size_t n)
{
    uint32_t bit[32], byte[32], acc[32];
    bit[0] = 0x82F63B78u; /* one zero bit: shift right, fold the polynomial in */
    for (int i = 1; i < 32; i++)
        bit[i] = 1u << (i - 1);
    memcpy(byte, bit, sizeof(bit));
    for (int k = 1; k < 8; k++)
        gf2_mul(byte, byte, bit);
    for (int i = 0; i < 32; i++)
        acc[i] = 1u << i; /* identity */
    for (; n; n >>= 1) {  /* acc = byte^n by squaring */
        if (n & 1)
            gf2_mul(acc, acc, byte);
        gf2_mul(byte, byte, byte);
    }
    for (int k = 0; k < 4; k++)
        for (uint32_t b = 0; b < 256; b++)
            tab[k][b] = gf2_times(acc, b << (8 * k));
}

static uint32_t advance(uint32_t tab[4][256], uint32_t c)
{
    return tab[0][c & 0xff] ^ tab[1][(c >> 8) & 0xff] ^ tab[2][(c >> 16) & 0xff] ^ tab[3][c >> 24];
}

/* One chunk of three `stride`-byte blocks as three chains; t1/t2 advance over stride/2*stride. */
__attribute__((target("sse4.2"), always_inline)) static inline uint32_t
crc_hw3(uint32_t c, const unsigned char *p, size_t stride, uint32_t t1[4][256], uint32_t t2[4][256])
{
    uint64_t a = c, b = 0, d = 0;
    for (size_t i = 0; i < stride; i += 8) {
        uint64_t va, vb, vd;
        memcpy(&va, p + i, 8);
        memcpy(&vb, p + stride + i, 8);
        memcpy(&vd, p + 2 * stride + i, 8);
        a = __builtin_ia32_crc32di(a, va);
        b = __builtin_ia32_crc32di(b, vb);
        d = __builtin_ia32_crc32di(d, vd);
    }
    return advance(t2, (uint32_t)a) ^ advance(t1, (uint32_t)b) ^ (uint32_t)d;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const unsigned char *p,
                                                         size_t len)
{
    for (; len >= 3 * STRIDE; p += 3 * STRIDE, len -= 3 * STRIDE)
        c = crc_hw3(c, p, STRIDE, adv1, adv2);
    for (; len >= 3 * STRIDE_MID; p += 3 * STRIDE_MID, len -= 3 * STRIDE_MID)
        c = crc_hw3(c, p, STRIDE_MID, adv1_mid, adv2_mid);
    for (; len >= 3 * STRIDE_SMALL; p += 3 * STRIDE_SMALL, len -= 3 * STRIDE_SMALL)
        c = crc_hw3(c, p, STRIDE_SMALL, adv1_small, adv2_small);
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    have_sse42 = __builtin_cpu_supports("sse4.2");
    advance_tables(adv1, STRIDE);
    advance_tables(adv2, 2 * STRIDE);
    advance_tables(adv1_mid, STRIDE_MID);
    advance_tables(adv2_mid, 2 * STRIDE_MID);
    advance_tables(adv1_small, STRIDE_SMALL);
    advance_tables(adv2_small, 2 * STRIDE_SMALL);
#endif
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (have_sse42)
        return ~crc_hw(c, buf, len);
#endif
    return ~crc_sw(c, buf, len);
}
