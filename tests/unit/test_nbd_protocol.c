/* nbd/: the handshake state machine fed byte strings (no sockets), request validation for
 * every command, flag and range rule, the errno mapping, and reply encodings. */
#include "check.h"

#include "nbd/nbd_handshake.h"
#include "nbd/nbd_proto.h"
#include "nbd/nbd_reply.h"
#include "nbd/nbd_request.h"
#include "util/bytebuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- a fake export table: one export "disk" of 1 MiB ---- */
static int attached;
static int fake_peek(void *ctx, const char *name, uint64_t *size, char *msg, size_t len)
{
    (void)ctx;
    if (strcmp(name, "disk") != 0) {
        snprintf(msg, len, "no volume named \"%s\"", name);
        return -1;
    }
    *size = 1 << 20;
    return 0;
}
static void *fake_attach(void *ctx, const char *name, uint64_t *size, char *msg, size_t len)
{
    if (fake_peek(ctx, name, size, msg, len) < 0)
        return NULL;
    attached++;
    return &attached;
}
static void fake_each(void *ctx, void (*fn)(const char *, void *), void *fnctx)
{
    (void)ctx;
    fn("disk", fnctx);
}
static const struct nbd_export_ops fake = {fake_peek, fake_attach, fake_each};

static void opt(struct bytebuf *b, uint32_t o, const void *data, uint32_t len)
{
    bytebuf_be64(b, NBD_IHAVEOPT);
    bytebuf_be32(b, o);
    bytebuf_be32(b, len);
    bytebuf_put(b, data, len);
}

/* Feeds everything in `in`, one message at a time; returns the last result. */
static enum nbd_hs_result feed_all(struct nbd_hs *hs, struct bytebuf *in)
{
    size_t off = 0;
    enum nbd_hs_result r = NBD_HS_MORE;
    while (off < in->len) {
        size_t used;
        r = nbd_hs_feed(hs, in->data + off, in->len - off, &used);
        off += used;
        if (r != NBD_HS_MORE || used == 0)
            break;
    }
    return r;
}

/* Walks the replies in hs->out from offset `at`; returns the type of reply number `idx`. */
static uint32_t reply_type(struct nbd_hs *hs, size_t at, int idx, uint32_t *len)
{
    size_t p = at;
    for (int i = 0;; i++) {
        if (p + 20 > hs->out.len)
            return 0;
        uint32_t l = get_be32(hs->out.data + p + 16);
        if (i == idx) {
            if (len)
                *len = l;
            return get_be32(hs->out.data + p + 12);
        }
        p += 20 + l;
    }
}

static void test_handshake(void)
{
    struct nbd_hs hs;
    nbd_hs_init(&hs, &fake, NULL);
    CHECK(hs.out.len == 18 && get_be64(hs.out.data) == NBD_MAGIC &&
              get_be16(hs.out.data + 16) == (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES),
          "greeting");
    bytebuf_reset(&hs.out);
    struct bytebuf in = {0};
    bytebuf_be32(&in, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    size_t used;
    CHECK(nbd_hs_feed(&hs, in.data, 3, &used) == NBD_HS_MORE && used == 0, "partial flags");
    CHECK(feed_all(&hs, &in) == NBD_HS_MORE, "flags accepted");

    /* options, one partial feed first */
    bytebuf_reset(&in);
    opt(&in, NBD_OPT_LIST, NULL, 0);
    CHECK(nbd_hs_feed(&hs, in.data, 10, &used) == NBD_HS_MORE && used == 0, "partial option");
    feed_all(&hs, &in);
    CHECK(reply_type(&hs, 0, 0, NULL) == NBD_REP_SERVER &&
              reply_type(&hs, 0, 1, NULL) == NBD_REP_ACK,
          "LIST: SERVER then ACK");
    bytebuf_reset(&hs.out);

    bytebuf_reset(&in);
    opt(&in, 77, "abc", 3);
    feed_all(&hs, &in);
    CHECK(reply_type(&hs, 0, 0, NULL) == NBD_REP_ERR_UNSUP, "unknown option");
    bytebuf_reset(&hs.out);

    uint8_t info[64];
    put_be32(info, 6);
    memcpy(info + 4, "nosuch", 6);
    put_be16(info + 10, 0);
    bytebuf_reset(&in);
    opt(&in, NBD_OPT_GO, info, 12);
    CHECK(feed_all(&hs, &in) == NBD_HS_MORE, "GO unknown keeps haggling");
    uint32_t l;
    CHECK(reply_type(&hs, 0, 0, &l) == NBD_REP_ERR_UNKNOWN &&
              memmem(hs.out.data + 20, l, "nosuch", 6),
          "GO unknown: ERR_UNKNOWN with the name");
    bytebuf_reset(&hs.out);

    /* SET_META_CONTEXT before STRUCTURED_REPLY is invalid; after, it selects base:allocation */
    uint8_t meta[64];
    put_be32(meta, 4);
    memcpy(meta + 4, "disk", 4);
    put_be32(meta + 8, 1);
    put_be32(meta + 12, 15);
    memcpy(meta + 16, "base:allocation", 15);
    bytebuf_reset(&in);
    opt(&in, NBD_OPT_SET_META_CONTEXT, meta, 31);
    feed_all(&hs, &in);
    CHECK(reply_type(&hs, 0, 0, NULL) == NBD_REP_ERR_INVALID, "meta before structured");
    bytebuf_reset(&hs.out);
    bytebuf_reset(&in);
    opt(&in, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
    opt(&in, NBD_OPT_SET_META_CONTEXT, meta, 31);
    feed_all(&hs, &in);
    CHECK(reply_type(&hs, 0, 0, NULL) == NBD_REP_ACK &&
              reply_type(&hs, 0, 1, NULL) == NBD_REP_META_CONTEXT &&
              reply_type(&hs, 0, 2, NULL) == NBD_REP_ACK,
          "structured + meta context");
    CHECK(hs.structured && hs.meta_allocation, "negotiated state");
    bytebuf_reset(&hs.out);

    /* GO "disk" with an INFO_BLOCK_SIZE request */
    put_be32(info, 4);
    memcpy(info + 4, "disk", 4);
    put_be16(info + 8, 1);
    put_be16(info + 10, NBD_INFO_BLOCK_SIZE);
    bytebuf_reset(&in);
    opt(&in, NBD_OPT_GO, info, 12);
    CHECK(feed_all(&hs, &in) == NBD_HS_GO, "GO disk");
    CHECK(attached == 1 && hs.export == &attached && hs.export_size == 1 << 20, "attached once");
    CHECK(reply_type(&hs, 0, 0, NULL) == NBD_REP_INFO &&
              reply_type(&hs, 0, 1, NULL) == NBD_REP_INFO &&
              reply_type(&hs, 0, 2, NULL) == NBD_REP_ACK,
          "INFO_EXPORT, INFO_BLOCK_SIZE, ACK");
    CHECK(hs.tx_flags & NBD_FLAG_CAN_MULTI_CONN && hs.tx_flags & NBD_FLAG_SEND_DF, "tx flags");
    nbd_hs_free(&hs);

    /* framing errors close the connection */
    nbd_hs_init(&hs, &fake, NULL);
    bytebuf_reset(&in);
    bytebuf_be32(&in, 0);
    CHECK(feed_all(&hs, &in) == NBD_HS_CLOSE && strstr(hs.reason, "fixed newstyle"), "old client");
    nbd_hs_free(&hs);
    nbd_hs_init(&hs, &fake, NULL);
    bytebuf_reset(&in);
    bytebuf_be32(&in, 1);
    bytebuf_be64(&in, NBD_IHAVEOPT);
    bytebuf_be32(&in, NBD_OPT_GO);
    bytebuf_be32(&in, NBD_HS_MAX_OPTION + 1);
    CHECK(feed_all(&hs, &in) == NBD_HS_CLOSE && strstr(hs.reason, "limit"), "oversized option");
    nbd_hs_free(&hs);
    /* EXPORT_NAME of an unknown export can only disconnect */
    nbd_hs_init(&hs, &fake, NULL);
    bytebuf_reset(&in);
    bytebuf_be32(&in, 1);
    opt(&in, NBD_OPT_EXPORT_NAME, "zzz", 3);
    CHECK(feed_all(&hs, &in) == NBD_HS_CLOSE && strstr(hs.reason, "zzz"), "EXPORT_NAME unknown");
    nbd_hs_free(&hs);
    /* EXPORT_NAME success without NO_ZEROES: 8 + 2 + 124 bytes */
    nbd_hs_init(&hs, &fake, NULL);
    bytebuf_reset(&hs.out);
    bytebuf_reset(&in);
    bytebuf_be32(&in, 1);
    opt(&in, NBD_OPT_EXPORT_NAME, "disk", 4);
    CHECK(feed_all(&hs, &in) == NBD_HS_GO && hs.out.len == 134 && get_be64(hs.out.data) == 1 << 20,
          "EXPORT_NAME reply (%zu bytes)", hs.out.len);
    nbd_hs_free(&hs);
    bytebuf_free(&in);
}

static void test_validate(void)
{
    struct nbd_tx_state tx = {.export_size = 1 << 20, .structured = false};
    struct {
        uint16_t type, flags;
        uint64_t off;
        uint32_t len;
        uint32_t want;
    } cases[] = {
        {NBD_CMD_READ, 0, 0, 4096, 0},
        {NBD_CMD_READ, 0, (1 << 20) - 1, 1, 0},
        {NBD_CMD_READ, 0, (1 << 20) - 1, 2, NBD_EINVAL},
        {NBD_CMD_READ, 0, UINT64_MAX - 10, 4096, NBD_EINVAL}, /* overflow */
        {NBD_CMD_READ, 0, 0, 0, NBD_EINVAL},
        {NBD_CMD_READ, 0, 0, NBD_MAX_PAYLOAD + 1, NBD_EOVERFLOW},
        {NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 4096, NBD_EINVAL}, /* DF needs structured */
        /* SEND_FUA is advertised, so FUA is accepted (and ignored where meaningless) on every
         * command */
        {NBD_CMD_READ, NBD_CMD_FLAG_FUA, 0, 4096, 0},
        {NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 4096, 0},
        {NBD_CMD_WRITE, 0, 1 << 20, 1, NBD_ENOSPC},
        {NBD_CMD_WRITE, NBD_CMD_FLAG_NO_HOLE, 0, 4096, NBD_EINVAL},
        {NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_FAST_ZERO, 0,
         4096, 0},
        {NBD_CMD_WRITE_ZEROES, 0, (1 << 20) - 4096, 8192, NBD_ENOSPC},
        {NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 0, 1 << 20, 0},
        {NBD_CMD_TRIM, 0, 4096, 1 << 20, NBD_EINVAL},
        {NBD_CMD_FLUSH, 0, 0, 0, 0},
        {NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA, 0, 0, 0},
        {NBD_CMD_FLUSH, NBD_CMD_FLAG_NO_HOLE, 0, 0, NBD_EINVAL},
        {NBD_CMD_DISC, NBD_CMD_FLAG_FUA, 0, 0, 0},
        {NBD_CMD_DISC, 0, 0, 0, 0},
        {NBD_CMD_CACHE, 0, 0, 4096, NBD_EINVAL},                       /* not advertised */
        {NBD_CMD_BLOCK_STATUS, 0, 0, 4096, NBD_EINVAL},                /* no meta context */
        {NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_FUA, 0, 4096, NBD_EINVAL}, /* still none */
        {99, 0, 0, 4096, NBD_EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nbd_request r = {.type = cases[i].type,
                                .flags = cases[i].flags,
                                .offset = cases[i].off,
                                .length = cases[i].len};
        const char *why = "";
        uint32_t got = nbd_request_validate(&r, &tx, &why);
        CHECK(got == cases[i].want, "case %zu (%s flags 0x%x off %llu len %u): got %u want %u (%s)",
              i, nbd_cmd_name(r.type), r.flags, (unsigned long long)r.offset, r.length, got,
              cases[i].want, why);
    }
    tx.structured = tx.meta_allocation = true;
    struct nbd_request bs = {
        .type = NBD_CMD_BLOCK_STATUS, .flags = NBD_CMD_FLAG_REQ_ONE, .length = 4096};
    const char *why;
    CHECK(nbd_request_validate(&bs, &tx, &why) == 0, "block status with meta");
    bs.flags |= NBD_CMD_FLAG_FUA;
    CHECK(nbd_request_validate(&bs, &tx, &why) == 0, "block status with FUA");
    struct nbd_request rdfua = {
        .type = NBD_CMD_READ, .flags = NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_DF, .length = 4096};
    CHECK(nbd_request_validate(&rdfua, &tx, &why) == 0, "structured READ with FUA and DF");
    struct nbd_request df = {.type = NBD_CMD_READ, .flags = NBD_CMD_FLAG_DF, .length = 4096};
    CHECK(nbd_request_validate(&df, &tx, &why) == 0, "DF with structured");

    uint8_t hdr[28];
    put_be32(hdr, NBD_REQUEST_MAGIC);
    put_be16(hdr + 4, 1);
    put_be16(hdr + 6, NBD_CMD_WRITE);
    put_be64(hdr + 8, 0x1122334455667788ull);
    put_be64(hdr + 16, 4096);
    put_be32(hdr + 24, 512);
    struct nbd_request r;
    CHECK(nbd_request_parse(hdr, &r) == 0 && r.type == NBD_CMD_WRITE && r.flags == 1 &&
              r.cookie == 0x1122334455667788ull && r.offset == 4096 && r.length == 512,
          "parse");
    hdr[0] ^= 1;
    CHECK(nbd_request_parse(hdr, &r) < 0, "bad magic");

    CHECK(nbd_errno(ENOSPC) == NBD_ENOSPC && nbd_errno(EDQUOT) == NBD_ENOSPC &&
              nbd_errno(EFBIG) == NBD_ENOSPC && nbd_errno(EIO) == NBD_EIO &&
              nbd_errno(ENODEV) == NBD_EIO && nbd_errno(EROFS) == NBD_EPERM &&
              nbd_errno(ENOMEM) == NBD_ENOMEM && nbd_errno(0) == 0,
          "errno mapping");
}

static void test_replies(void)
{
    uint8_t b[NBD_REPLY_HDR_MAX];
    CHECK(nbd_reply_simple(b, 7, NBD_EIO) == 16 && get_be32(b) == NBD_SIMPLE_MAGIC &&
              get_be32(b + 4) == NBD_EIO && get_be64(b + 8) == 7,
          "simple");
    CHECK(nbd_reply_read_chunk(b, 8, 4096, 512) == 28 && get_be32(b) == NBD_STRUCTURED_MAGIC &&
              get_be16(b + 4) == NBD_REPLY_FLAG_DONE &&
              get_be16(b + 6) == NBD_REPLY_TYPE_OFFSET_DATA && get_be32(b + 16) == 520 &&
              get_be64(b + 20) == 4096,
          "read chunk");
    char longmsg[300];
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = 0;
    size_t n = nbd_reply_error_chunk(b, 9, NBD_EINVAL, longmsg);
    CHECK(n == 26 + 128 && get_be16(b + 6) == NBD_REPLY_TYPE_ERROR && get_be32(b + 16) == 6 + 128 &&
              get_be32(b + 20) == NBD_EINVAL && get_be16(b + 24) == 128,
          "error chunk truncates its message");
}

int main(void)
{
    test_handshake();
    test_validate();
    test_replies();
    return check_done("test_nbd_protocol");
}
