/* Size parsing for command-line and control-API sizes. Integers with binary suffixes only:
 * storage users mean 2^30 by "G", and a fractional size would hide a rounding decision. */
#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int size_parse(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s)) {
        errno = EINVAL;
        return -1;
    }
    uint64_t v = 0;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            errno = ERANGE;
            return -1;
        }
        v = v * 10 + d;
    }
    unsigned shift = 0;
    if (*s) {
        const char *units = "KMGTP";
        const char *u = strchr(units, toupper((unsigned char)*s));
        if (u) {
            shift = 10 * (unsigned)(u - units + 1);
            s++;
        }
        /* Accept "M", "MB", "MiB" alike, and a bare "B" for bytes. */
        if (*s && strcasecmp(s, "iB") != 0 && strcasecmp(s, "B") != 0) {
            errno = EINVAL;
            return -1;
        }
        if (!u && !*s) {
            errno = EINVAL;
            return -1;
        }
    }
    if (shift && v > (UINT64_MAX >> shift)) {
        errno = ERANGE;
        return -1;
    }
    *out = v << shift;
    return 0;
}

void size_format(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "KMGTP";
    int u = -1;
    while (u < 4 && bytes && (bytes & 1023) == 0) {
        bytes >>= 10;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%llu", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%llu%c", (unsigned long long)bytes, units[u]);
}
