/* Encoding of NBD transmission replies (simple and structured) and of base:allocation extents.
 *
 * Contract: the encoders write into a caller's buffer of at least NBD_REPLY_HDR_MAX bytes and
 * return the header length; data (READ payload) is sent separately by the caller, so a read's
 * bytes go from the I/O buffer to the socket without a copy. Pure functions except
 * nbd_extents_fill(), which queries the file's holes (lseek SEEK_DATA/SEEK_HOLE; no data I/O). */
#ifndef TANDEM_NBD_REPLY_H
#define TANDEM_NBD_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NBD_REPLY_HDR_MAX 160 /* structured error with a message of up to 128 bytes */

/* Simple reply: 16 bytes. */
size_t nbd_reply_simple(uint8_t *out, uint64_t cookie, uint32_t nbd_error);
/* Structured OFFSET_DATA chunk header (DONE set) for `len` data bytes at `offset`: 28 bytes. */
size_t nbd_reply_read_chunk(uint8_t *out, uint64_t cookie, uint64_t offset, uint32_t len);
/* Structured NONE chunk with DONE (success of a non-read command): 20 bytes. */
size_t nbd_reply_done_chunk(uint8_t *out, uint64_t cookie);
/* Structured ERROR chunk with DONE and a human message (truncated to 128 bytes). */
size_t nbd_reply_error_chunk(uint8_t *out, uint64_t cookie, uint32_t nbd_error, const char *msg);
/* Structured BLOCK_STATUS chunk header (DONE set) announcing `payload_len` bytes: 20 bytes. */
size_t nbd_reply_block_status_chunk(uint8_t *out, uint64_t cookie, uint32_t payload_len);

/* Fills `out` with the base:allocation payload (context id, then up to max_extents
 * (length, flags) pairs) for [offset, offset+len) of the file `fd`, stopping at the first
 * extent when req_one. Returns the payload length, or -errno. */
long nbd_extents_fill(int fd, uint64_t offset, uint32_t len, bool req_one, uint8_t *out,
                      unsigned max_extents);

#endif
