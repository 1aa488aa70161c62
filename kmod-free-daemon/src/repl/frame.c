/* Frame codec. The header carries its own CRC32C so that a flipped bit in a length or an offset
 * is caught before the length is used to read a payload or the offset to place data. */
#include "repl/frame.h"

#include "util/bytebuf.h"
#include "util/crc32c.h"

uint32_t frame_payload_crc(const void *payload, size_t len)
{
    return crc32c(0, payload, len);
}

void frame_encode_header(const struct frame *f, uint8_t out[FRAME_HEADER_BYTES])
{
    put_be32(out, FRAME_MAGIC);
    out[4] = f->version ? f->version : FRAME_VERSION;
    out[5] = f->type;
    put_be16(out + 6, f->flags);
    put_be64(out + 8, f->seq);
    put_be64(out + 16, f->volume_id);
    put_be64(out + 24, f->offset);
    put_be32(out + 32, f->length);
    put_be32(out + 36, f->payload_len);
    put_be32(out + 40, f->payload_crc);
    put_be32(out + 44, crc32c(0, out, 44));
}

enum frame_status frame_decode_header(const uint8_t in[FRAME_HEADER_BYTES], struct frame *f)
{
    if (get_be32(in) != FRAME_MAGIC)
        return FRAME_E_MAGIC;
    if (get_be32(in + 44) != crc32c(0, in, 44))
        return FRAME_E_HEADER_CRC;
    f->version = in[4];
    f->type = in[5];
    f->flags = get_be16(in + 6);
    f->seq = get_be64(in + 8);
    f->volume_id = get_be64(in + 16);
    f->offset = get_be64(in + 24);
    f->length = get_be32(in + 32);
    f->payload_len = get_be32(in + 36);
    f->payload_crc = get_be32(in + 40);
    if (f->version != FRAME_VERSION)
        return FRAME_E_VERSION;
    if (f->type == 0 || f->type > FRAME_TYPE_MAX)
        return FRAME_E_TYPE;
    if (f->payload_len > FRAME_MAX_PAYLOAD)
        return FRAME_E_TOO_BIG;
    return FRAME_OK;
}

enum frame_status frame_check_payload(const struct frame *f, const void *payload)
{
    return frame_payload_crc(payload, f->payload_len) == f->payload_crc ? FRAME_OK
                                                                        : FRAME_E_PAYLOAD_CRC;
}

const char *frame_status_str(enum frame_status s)
{
    switch (s) {
    case FRAME_OK:
        return "ok";
    case FRAME_E_MAGIC:
        return "bad frame magic";
    case FRAME_E_HEADER_CRC:
        return "frame header checksum mismatch";
    case FRAME_E_VERSION:
        return "unsupported frame version";
    case FRAME_E_TYPE:
        return "unknown frame type";
    case FRAME_E_TOO_BIG:
        return "frame payload too large";
    case FRAME_E_PAYLOAD_CRC:
        return "frame payload checksum mismatch";
    }
    return "?";
}

const char *frame_type_name(uint8_t type)
{
    static const char *const names[] = {
        "?",       "HELLO",    "ATTACH",   "ATTACH_REFUSE", "CREATE",     "WRITE",
        "TRIM",    "ZERO",     "FLUSH",    "ACK",           "PING",       "PONG",
        "BITMAP",  "RS_DATA",  "RS_ACK",   "VERIFY_REQ",    "VERIFY_SUM", "ROLE",
        "RS_DONE", "SNAPSHOT", "READ_REQ", "READ_DATA",     "EXPAND",     "VOTE_REQ"};
    return type <= FRAME_TYPE_MAX ? names[type] : "?";
}
