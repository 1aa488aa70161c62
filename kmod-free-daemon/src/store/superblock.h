/* The replica superblock: the small, checksummed record that says what a volume directory is.
 *
 * On disk (little-endian, 4096 bytes, file "superblock" in the volume directory; see
 * docs/on-disk-format.md):
 *   0  magic "TNDMSB\0\1"     8  u32 format version     12 u32 header bytes used
 *   16 uuid[16]               32 u64 size in bytes      40 u32 block size   44 u32 flags
 *   48 u64 created (unix s)   56 name[64], NUL-padded   ... zero ...       4092 u32 crc32c(0..4092)
 *
 * Contract: superblock_encode() fills exactly SUPERBLOCK_BYTES; superblock_decode() never trusts
 * its input: it returns 0, or -1 with a one-line reason in err (foreign magic, bad checksum,
 * unsupported version, impossible geometry). Pure functions, no I/O. */
#ifndef TANDEM_STORE_SUPERBLOCK_H
#define TANDEM_STORE_SUPERBLOCK_H

#include <stddef.h>
#include <stdint.h>

#define SUPERBLOCK_BYTES   4096
#define SUPERBLOCK_VERSION 1
#define VOLUME_NAME_MAX    63

struct superblock {
    uint32_t version;
    uint8_t uuid[16];
    uint64_t size;
    uint32_t block_size;
    uint32_t flags;
    uint64_t created;
    char name[VOLUME_NAME_MAX + 1];
};

void superblock_encode(const struct superblock *sb, uint8_t out[SUPERBLOCK_BYTES]);
int superblock_decode(const uint8_t in[SUPERBLOCK_BYTES], struct superblock *sb, char *err,
                      size_t errlen);
/* "0f1e...-..." canonical UUID text; buf must hold 37 bytes. */
void uuid_format(const uint8_t uuid[16], char *buf);

#endif
