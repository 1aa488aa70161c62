/* Replication frames (proto/replication.md §2): encoding, and decoding that trusts nothing.
 *
 * Contract: pure functions, no I/O, thread-safe.
 *  - frame_encode_header() fills FRAME_HEADER_BYTES from a struct frame and the payload CRC
 *    (computed by frame_payload_crc() so large payloads are checksummed where they live).
 *  - frame_decode_header() returns FRAME_OK, or a FRAME_E_* reason: the header CRC is checked
 *    first, so no field of a damaged header is ever believed.
 *  - frame_check_payload() verifies the payload CRC; a mismatch means the frame must not be
 *    applied (the connection is then closed by the caller). */
#ifndef TANDEM_REPL_FRAME_H
#define TANDEM_REPL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC        0x544e4452u /* "TNDR" */
#define FRAME_VERSION      1
#define FRAME_HEADER_BYTES 48
#define FRAME_MAX_PAYLOAD  ((32u << 20) + 4096)

enum frame_type {
    FRAME_HELLO = 1,
    FRAME_ATTACH = 2,
    FRAME_ATTACH_REFUSE = 3,
    FRAME_CREATE = 4,
    FRAME_WRITE = 5,
    FRAME_TRIM = 6,
    FRAME_ZERO = 7,
    FRAME_FLUSH = 8,
    FRAME_ACK = 9,
    FRAME_PING = 10,
    FRAME_PONG = 11,
    FRAME_BITMAP = 12,
    FRAME_RS_DATA = 13,
    FRAME_RS_ACK = 14,
    FRAME_VERIFY_REQ = 15,
    FRAME_VERIFY_SUM = 16,
    FRAME_ROLE = 17,
    FRAME_RS_DONE = 18,
    FRAME_SNAPSHOT = 19,
    FRAME_READ_REQ = 20,
    FRAME_READ_DATA = 21,
    FRAME_EXPAND = 22,
    FRAME_VOTE_REQ = 23,
    FRAME_TYPE_MAX = 23,
};

#define FRAME_F_FUA     1u
#define FRAME_F_NO_HOLE 2u

struct frame {
    uint8_t version;
    uint8_t type;
    uint16_t flags;
    uint64_t seq;
    uint64_t volume_id;
    uint64_t offset;
    uint32_t length;
    uint32_t payload_len;
    uint32_t payload_crc;
};

enum frame_status {
    FRAME_OK = 0,
    FRAME_E_MAGIC,
    FRAME_E_HEADER_CRC,
    FRAME_E_VERSION,
    FRAME_E_TYPE,
    FRAME_E_TOO_BIG,
    FRAME_E_PAYLOAD_CRC,
};

uint32_t frame_payload_crc(const void *payload, size_t len);
void frame_encode_header(const struct frame *f, uint8_t out[FRAME_HEADER_BYTES]);
enum frame_status frame_decode_header(const uint8_t in[FRAME_HEADER_BYTES], struct frame *f);
enum frame_status frame_check_payload(const struct frame *f, const void *payload);
const char *frame_status_str(enum frame_status s);
const char *frame_type_name(uint8_t type);

#endif
