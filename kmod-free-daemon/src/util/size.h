/* Human sizes: "256M", "10G", "4096", "1.5T" is refused (integers only).
 *
 * Contract: size_parse() returns 0 and stores bytes, or -1 with errno EINVAL (not a size) or
 * ERANGE (overflows 64 bits). Suffixes K, M, G, T, P are binary (KiB...) and case-insensitive;
 * an optional trailing "iB" or "B" is accepted. size_format() writes the shortest exact form. */
#ifndef TANDEM_UTIL_SIZE_H
#define TANDEM_UTIL_SIZE_H

#include <stddef.h>
#include <stdint.h>

int size_parse(const char *s, uint64_t *out);
void size_format(uint64_t bytes, char *buf, size_t len);

#endif
