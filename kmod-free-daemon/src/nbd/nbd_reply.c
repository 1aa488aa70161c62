/* Reply encoders and the base:allocation query. Holes are found with SEEK_DATA/SEEK_HOLE on the
 * sparse data file: a hole is reported as HOLE|ZERO (it reads as zeros), data as 0. That is
 * exactly what lets nbdcopy and qemu-img skip unallocated space instead of copying zeros. */
#include "nbd/nbd_reply.h"

#include "nbd/nbd_proto.h"
#include "util/bytebuf.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static size_t chunk_hdr(uint8_t *out, uint16_t flags, uint16_t type, uint64_t cookie, uint32_t len)
{
    put_be32(out, NBD_STRUCTURED_MAGIC);
    put_be16(out + 4, flags);
    put_be16(out + 6, type);
    put_be64(out + 8, cookie);
    put_be32(out + 16, len);
    return 20;
}

size_t nbd_reply_simple(uint8_t *out, uint64_t cookie, uint32_t nbd_error)
{
    put_be32(out, NBD_SIMPLE_MAGIC);
    put_be32(out + 4, nbd_error);
    put_be64(out + 8, cookie);
    return 16;
}

size_t nbd_reply_read_chunk(uint8_t *out, uint64_t cookie, uint64_t offset, uint32_t len)
{
    chunk_hdr(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + len);
    put_be64(out + 20, offset);
    return 28;
}

size_t nbd_reply_done_chunk(uint8_t *out, uint64_t cookie)
{
    return chunk_hdr(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, 0);
}

size_t nbd_reply_error_chunk(uint8_t *out, uint64_t cookie, uint32_t nbd_error, const char *msg)
{
    size_t ml = msg ? strlen(msg) : 0;
    if (ml > 128)
        ml = 128;
    chunk_hdr(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, (uint32_t)(6 + ml));
    put_be32(out + 20, nbd_error);
    put_be16(out + 24, (uint16_t)ml);
    if (ml)
        memcpy(out + 26, msg, ml);
    return 26 + ml;
}

size_t nbd_reply_block_status_chunk(uint8_t *out, uint64_t cookie, uint32_t payload_len)
{
    return chunk_hdr(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, cookie, payload_len);
}

long nbd_extents_fill(int fd, uint64_t offset, uint32_t len, bool req_one, uint8_t *out,
                      unsigned max_extents)
{
    put_be32(out, NBD_META_ID_ALLOCATION);
    size_t n = 0;
    uint64_t pos = offset, end = offset + len;
    while (pos < end && n < max_extents) {
        off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
        uint64_t ext_end;
        uint32_t flags;
        if (data < 0 && errno != ENXIO)
            return -errno;
        if (data < 0 || (uint64_t)data > pos) {
            /* a hole from pos to the next data (or to the end of the file) */
            ext_end = data < 0 ? end : (uint64_t)data;
            flags = NBD_STATE_HOLE | NBD_STATE_ZERO;
        } else {
            off_t hole = lseek(fd, (off_t)pos, SEEK_HOLE);
            if (hole < 0)
                return -errno;
            ext_end = (uint64_t)hole;
            flags = 0;
        }
        if (ext_end > end || ext_end <= pos)
            ext_end = end;
        put_be32(out + 4 + 8 * n, (uint32_t)(ext_end - pos));
        put_be32(out + 8 + 8 * n, flags);
        n++;
        pos = ext_end;
        if (req_one)
            break;
    }
    return (long)(4 + 8 * n);
}
