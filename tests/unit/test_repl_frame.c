/* repl/frame: round trip of every field, and that every single-bit flip anywhere in a header
 * or a payload is detected (a corrupted frame must never be applied). */
#include "check.h"

#include "repl/frame.h"

#include <string.h>

int main(void)
{
    uint8_t payload[4096];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 31 + 7);
    struct frame f = {.type = FRAME_WRITE,
                      .flags = FRAME_F_FUA,
                      .seq = 0x0102030405060708ull,
                      .volume_id = 0xdeadbeefcafef00dull,
                      .offset = 1ull << 40,
                      .length = 4096,
                      .payload_len = sizeof(payload)};
    f.payload_crc = frame_payload_crc(payload, sizeof(payload));
    uint8_t h[FRAME_HEADER_BYTES];
    frame_encode_header(&f, h);
    struct frame g;
    CHECK(frame_decode_header(h, &g) == FRAME_OK, "decode");
    CHECK(g.version == FRAME_VERSION && g.type == FRAME_WRITE && g.flags == FRAME_F_FUA &&
              g.seq == f.seq && g.volume_id == f.volume_id && g.offset == f.offset &&
              g.length == 4096 && g.payload_len == 4096 && g.payload_crc == f.payload_crc,
          "fields round trip");
    CHECK(frame_check_payload(&g, payload) == FRAME_OK, "payload ok");

    int missed = 0;
    for (int bit = 0; bit < FRAME_HEADER_BYTES * 8; bit++) {
        uint8_t c[FRAME_HEADER_BYTES];
        memcpy(c, h, sizeof(c));
        c[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        missed += frame_decode_header(c, &g) == FRAME_OK;
    }
    CHECK(missed == 0, "%d header bit flips accepted", missed);
    frame_decode_header(h, &g);
    missed = 0;
    for (int bit = 0; bit < 4096 * 8; bit += 7) {
        payload[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        missed += frame_check_payload(&g, payload) == FRAME_OK;
        payload[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    CHECK(missed == 0, "%d payload bit flips accepted", missed);

    struct frame bad = f;
    bad.type = 99;
    frame_encode_header(&bad, h);
    CHECK(frame_decode_header(h, &g) == FRAME_E_TYPE, "unknown type");
    bad = f;
    bad.version = 2;
    frame_encode_header(&bad, h);
    CHECK(frame_decode_header(h, &g) == FRAME_E_VERSION, "future version");
    bad = f;
    bad.payload_len = FRAME_MAX_PAYLOAD + 1;
    frame_encode_header(&bad, h);
    CHECK(frame_decode_header(h, &g) == FRAME_E_TOO_BIG, "oversized payload");
    memset(h, 0, 4);
    CHECK(frame_decode_header(h, &g) == FRAME_E_MAGIC, "magic");
    CHECK(strcmp(frame_type_name(FRAME_RS_DATA), "RS_DATA") == 0, "names");
    return check_done("test_repl_frame");
}
