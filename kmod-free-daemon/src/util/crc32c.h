/* CRC32C (Castagnoli), the checksum on every superblock and replication frame.
 *
 * Contract: pure function, thread-safe. Uses the SSE4.2 crc32 instruction when the CPU has it
 * (checked once at run time), else a table. crc32c(0, NULL, 0) == 0; chaining
 * crc32c(crc32c(0, a, n), b, m) equals the CRC of a followed by b. */
#ifndef TANDEM_UTIL_CRC32C_H
#define TANDEM_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
