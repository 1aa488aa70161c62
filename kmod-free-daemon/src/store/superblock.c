/* Superblock encoding. Fields are written byte by byte in little-endian order so the format does
 * not depend on struct layout or host endianness; the checksum covers everything before it, so
 * a torn or bit-rotted superblock is detected rather than half-believed. */
#include "store/superblock.h"

#include "util/crc32c.h"

#include <stdio.h>
#include <string.h>

static const uint8_t sb_magic[8] = {'T', 'N', 'D', 'M', 'S', 'B', 0, 1};
#define SB_HEADER_USED 120
#define SB_CRC_OFF     (SUPERBLOCK_BYTES - 4)

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void superblock_encode(const struct superblock *sb, uint8_t out[SUPERBLOCK_BYTES])
{
    memset(out, 0, SUPERBLOCK_BYTES);
    memcpy(out, sb_magic, 8);
    put32(out + 8, SUPERBLOCK_VERSION);
    put32(out + 12, SB_HEADER_USED);
    memcpy(out + 16, sb->uuid, 16);
    put64(out + 32, sb->size);
    put32(out + 40, sb->block_size);
    put32(out + 44, sb->flags);
    put64(out + 48, sb->created);
    memcpy(out + 56, sb->name, strnlen(sb->name, VOLUME_NAME_MAX));
    put32(out + SB_CRC_OFF, crc32c(0, out, SB_CRC_OFF));
}

int superblock_decode(const uint8_t in[SUPERBLOCK_BYTES], struct superblock *sb, char *err,
                      size_t errlen)
{
    if (memcmp(in, sb_magic, 6) != 0) {
        snprintf(err, errlen, "not a Tandem superblock (foreign magic %02x%02x%02x%02x...)", in[0],
                 in[1], in[2], in[3]);
        return -1;
    }
    uint32_t want = get32(in + SB_CRC_OFF), got = crc32c(0, in, SB_CRC_OFF);
    if (want != got) {
        snprintf(err, errlen, "superblock checksum mismatch (stored %08x, computed %08x)", want,
                 got);
        return -1;
    }
    memset(sb, 0, sizeof(*sb));
    sb->version = get32(in + 8);
    if (sb->version != SUPERBLOCK_VERSION) {
        snprintf(err, errlen, "superblock format version %u; this tandemd reads version %u",
                 sb->version, (unsigned)SUPERBLOCK_VERSION);
        return -1;
    }
    memcpy(sb->uuid, in + 16, 16);
    sb->size = get64(in + 32);
    sb->block_size = get32(in + 40);
    sb->flags = get32(in + 44);
    sb->created = get64(in + 48);
    memcpy(sb->name, in + 56, VOLUME_NAME_MAX);
    sb->name[VOLUME_NAME_MAX] = '\0';
    if (sb->block_size < 512 || sb->block_size > 65536 || (sb->block_size & (sb->block_size - 1)) ||
        sb->size == 0 || sb->size % sb->block_size) {
        snprintf(err, errlen, "superblock geometry is impossible (size %llu, block size %u)",
                 (unsigned long long)sb->size, sb->block_size);
        return -1;
    }
    return 0;
}

void uuid_format(const uint8_t u[16], char *buf)
{
    snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15]);
}
