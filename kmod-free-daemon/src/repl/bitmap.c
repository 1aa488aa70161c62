/* Out-of-sync bitmaps. One bit per MiB keeps a 1 TiB volume's map at 128 KiB, small enough to
 * hold in memory and to write whole when many bits change at once. */
#include "repl/bitmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bitmap_open(struct bitmap *b, const char *path, uint64_t volume_bytes)
{
    memset(b, 0, sizeof(*b));
    b->n_regions = (volume_bytes + REGION_BYTES - 1) >> REGION_SHIFT;
    b->bytes = (size_t)((b->n_regions + 7) / 8);
    b->bits = calloc(1, b->bytes ? b->bytes : 1);
    if (!b->bits)
        return -1;
    b->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (b->fd < 0) {
        free(b->bits);
        return -1;
    }
    ssize_t n = pread(b->fd, b->bits, b->bytes, 0);
    if (n < 0) {
        int e = errno;
        bitmap_close(b);
        errno = e;
        return -1;
    }
    for (size_t i = 0; i < b->bytes; i++)
        b->count += (uint64_t)__builtin_popcount(b->bits[i]);
    return 0;
}

void bitmap_close(struct bitmap *b)
{
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
    free(b->bits);
    b->bits = NULL;
}

static int write_page(struct bitmap *b, size_t byte)
{
    size_t start = byte & ~(size_t)4095;
    size_t len = b->bytes - start < 4096 ? b->bytes - start : 4096;
    if (pwrite(b->fd, b->bits + start, len, (off_t)start) != (ssize_t)len)
        return -1;
    return fdatasync(b->fd);
}

int bitmap_set_range(struct bitmap *b, uint64_t off, uint64_t len)
{
    if (!len)
        return 0;
    uint64_t first = off >> REGION_SHIFT, last = (off + len - 1) >> REGION_SHIFT;
    if (last >= b->n_regions)
        last = b->n_regions - 1;
    size_t lo = SIZE_MAX, hi = 0;
    for (uint64_t r = first; r <= last; r++) {
        if (bitmap_test(b, r))
            continue;
        b->bits[r >> 3] |= (uint8_t)(1u << (r & 7));
        b->count++;
        if ((r >> 3) < lo)
            lo = (size_t)(r >> 3);
        hi = (size_t)(r >> 3);
    }
    if (lo == SIZE_MAX)
        return 0;
    if (b->dirty || hi - lo >= 4096)
        return bitmap_sync(b);
    int rc = write_page(b, lo);
    if (rc == 0 && (hi & ~(size_t)4095) != (lo & ~(size_t)4095))
        rc = write_page(b, hi);
    return rc;
}

void bitmap_clear(struct bitmap *b, uint64_t region)
{
    if (region < b->n_regions && bitmap_test(b, region)) {
        b->bits[region >> 3] &= (uint8_t) ~(1u << (region & 7));
        b->count--;
        b->dirty = true;
    }
}

int bitmap_set_all(struct bitmap *b)
{
    memset(b->bits, 0xff, b->bytes);
    if (b->n_regions % 8)
        b->bits[b->bytes - 1] = (uint8_t)((1u << (b->n_regions % 8)) - 1);
    b->count = b->n_regions;
    return bitmap_sync(b);
}

int bitmap_sync(struct bitmap *b)
{
    if (pwrite(b->fd, b->bits, b->bytes, 0) != (ssize_t)b->bytes)
        return -1;
    b->dirty = false;
    return fdatasync(b->fd);
}

uint64_t bitmap_next(const struct bitmap *b, uint64_t from)
{
    for (uint64_t r = from; r < b->n_regions; r++) {
        if ((r & 7) == 0 && b->bits[r >> 3] == 0) {
            r += 7;
            continue;
        }
        if (bitmap_test(b, r))
            return r;
    }
    return UINT64_MAX;
}
