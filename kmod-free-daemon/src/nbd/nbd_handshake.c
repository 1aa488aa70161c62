/* NBD option haggling. Every option is parsed completely before it is acted on; a malformed one
 * gets NBD_REP_ERR_INVALID and the client may go on, while damage to the framing itself (bad
 * magic, oversized payload, unknown client flags) ends the connection, since nothing after it
 * can be trusted. Export names are limited to 256 bytes, the protocol's SHOULD. */
#include "nbd/nbd_handshake.h"

#include "nbd/nbd_proto.h"

#include <stdio.h>
#include <string.h>

enum { HS_CLIENT_FLAGS, HS_OPTIONS, HS_DONE };

#define NAME_MAX_BYTES 256

const char *nbd_opt_name(uint32_t opt)
{
    switch (opt) {
    case NBD_OPT_EXPORT_NAME:
        return "EXPORT_NAME";
    case NBD_OPT_ABORT:
        return "ABORT";
    case NBD_OPT_LIST:
        return "LIST";
    case NBD_OPT_STARTTLS:
        return "STARTTLS";
    case NBD_OPT_INFO:
        return "INFO";
    case NBD_OPT_GO:
        return "GO";
    case NBD_OPT_STRUCTURED_REPLY:
        return "STRUCTURED_REPLY";
    case NBD_OPT_LIST_META_CONTEXT:
        return "LIST_META_CONTEXT";
    case NBD_OPT_SET_META_CONTEXT:
        return "SET_META_CONTEXT";
    case NBD_OPT_EXTENDED_HEADERS:
        return "EXTENDED_HEADERS";
    default:
        return "unknown";
    }
}

void nbd_hs_init(struct nbd_hs *hs, const struct nbd_export_ops *ops, void *ctx)
{
    memset(hs, 0, sizeof(*hs));
    hs->ops = ops;
    hs->ctx = ctx;
    bytebuf_be64(&hs->out, NBD_MAGIC);
    bytebuf_be64(&hs->out, NBD_IHAVEOPT);
    bytebuf_be16(&hs->out, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

void nbd_hs_free(struct nbd_hs *hs)
{
    bytebuf_free(&hs->out);
}

/* An option reply's header; `len` payload bytes must follow. */
static void reply_hdr(struct nbd_hs *hs, uint32_t opt, uint32_t type, size_t len)
{
    bytebuf_be64(&hs->out, NBD_REP_MAGIC);
    bytebuf_be32(&hs->out, opt);
    bytebuf_be32(&hs->out, type);
    bytebuf_be32(&hs->out, (uint32_t)len);
}

static void reply(struct nbd_hs *hs, uint32_t opt, uint32_t type, const void *data, size_t len)
{
    reply_hdr(hs, opt, type, len);
    bytebuf_put(&hs->out, data, len);
}

/* NBD_REP_INFO carrying a string (NBD_INFO_NAME, NBD_INFO_DESCRIPTION). */
static void info_string(struct nbd_hs *hs, uint32_t opt, uint16_t info, const char *str)
{
    size_t n = strlen(str);
    reply_hdr(hs, opt, NBD_REP_INFO, 2 + n);
    bytebuf_be16(&hs->out, info);
    bytebuf_put(&hs->out, str, n);
}

static void reply_err(struct nbd_hs *hs, uint32_t opt, uint32_t err, const char *msg)
{
    reply(hs, opt, err, msg, strlen(msg));
}

static uint16_t tx_flags(const struct nbd_hs *hs)
{
    uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
                 NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN |
                 (1u << 11) /* NBD_FLAG_SEND_FAST_ZERO: fallocate is always fast */;
    if (hs->structured)
        f |= NBD_FLAG_SEND_DF; /* reads always answer in one chunk */
    return f;
}

/* Copies a length-prefixed string at p (bounded by end) into out. Returns bytes used or -1. */
static long get_string(const uint8_t *p, const uint8_t *end, char *out, size_t outlen)
{
    if (end - p < 4)
        return -1;
    uint32_t n = get_be32(p);
    if (n > (size_t)(end - p - 4) || n >= outlen)
        return -1;
    memcpy(out, p + 4, n);
    out[n] = '\0';
    if (memchr(out, '\0', n))
        return -1;
    return 4 + (long)n;
}

static void list_one(const char *name, void *ctx)
{
    struct nbd_hs *hs = ctx;
    size_t n = strlen(name);
    reply_hdr(hs, NBD_OPT_LIST, NBD_REP_SERVER, 4 + n);
    bytebuf_be32(&hs->out, (uint32_t)n);
    bytebuf_put(&hs->out, name, n);
}

static void info_export(struct nbd_hs *hs, uint32_t opt, uint64_t size)
{
    uint8_t b[12];
    put_be16(b, NBD_INFO_EXPORT);
    put_be64(b + 2, size);
    put_be16(b + 10, tx_flags(hs));
    reply(hs, opt, NBD_REP_INFO, b, sizeof(b));
}

static void info_block_size(struct nbd_hs *hs, uint32_t opt)
{
    /* Any alignment is served (unaligned O_DIRECT requests use a bounce buffer), 4 KiB is
     * what avoids that, and 32 MiB is the largest payload one request may carry. */
    uint8_t b[14];
    put_be16(b, NBD_INFO_BLOCK_SIZE);
    put_be32(b + 2, 1);
    put_be32(b + 6, 4096);
    put_be32(b + 10, NBD_MAX_PAYLOAD);
    reply(hs, opt, NBD_REP_INFO, b, sizeof(b));
}

/* The export is chosen: record it and leave option haggling. */
static enum nbd_hs_result enter_transmission(struct nbd_hs *hs, void *exp, const char *name,
                                             uint64_t size)
{
    hs->export = exp;
    hs->export_size = size;
    hs->tx_flags = tx_flags(hs);
    snprintf(hs->export_name, sizeof(hs->export_name), "%s", name);
    /* A meta context chosen for another export does not carry over (the spec's rule). */
    if (strcmp(hs->meta_export, name) != 0)
        hs->meta_allocation = false;
    hs->state = HS_DONE;
    return NBD_HS_GO;
}

static enum nbd_hs_result opt_info_go(struct nbd_hs *hs, uint32_t opt, const uint8_t *p,
                                      uint32_t len)
{
    const uint8_t *end = p + len;
    char name[NAME_MAX_BYTES + 1];
    long n = get_string(p, end, name, sizeof(name));
    if (n < 0 || end - (p + n) < 2) {
        reply_err(hs, opt, NBD_REP_ERR_INVALID, "malformed option payload");
        return NBD_HS_MORE;
    }
    p += n;
    uint16_t nreq = get_be16(p);
    p += 2;
    if ((size_t)(end - p) != 2u * nreq) {
        reply_err(hs, opt, NBD_REP_ERR_INVALID, "information request count does not match");
        return NBD_HS_MORE;
    }
    bool want_name = false, want_desc = false;
    for (unsigned i = 0; i < nreq; i++) {
        uint16_t t = get_be16(p + 2 * i);
        want_name |= t == NBD_INFO_NAME;
        want_desc |= t == NBD_INFO_DESCRIPTION;
    }
    char msg[512];
    uint64_t size;
    void *exp = NULL;
    if (!name[0]) {
        snprintf(msg, sizeof(msg), "this server has no default export: name a volume");
        reply_err(hs, opt, NBD_REP_ERR_UNKNOWN, msg);
        return NBD_HS_MORE;
    }
    if (opt == NBD_OPT_GO)
        exp = hs->ops->attach(hs->ctx, name, &size, msg, sizeof(msg));
    if ((opt == NBD_OPT_GO && !exp) ||
        (opt == NBD_OPT_INFO && hs->ops->peek(hs->ctx, name, &size, msg, sizeof(msg)) < 0)) {
        reply_err(hs, opt, NBD_REP_ERR_UNKNOWN, msg);
        return NBD_HS_MORE;
    }
    info_export(hs, opt, size);
    if (want_name)
        info_string(hs, opt, NBD_INFO_NAME, name);
    if (want_desc) {
        char d[300];
        snprintf(d, sizeof(d), "Tandem volume %s", name);
        info_string(hs, opt, NBD_INFO_DESCRIPTION, d);
    }
    info_block_size(hs, opt);
    reply(hs, opt, NBD_REP_ACK, NULL, 0);
    if (opt == NBD_OPT_INFO)
        return NBD_HS_MORE;
    return enter_transmission(hs, exp, name, size);
}

static void opt_meta_context(struct nbd_hs *hs, uint32_t opt, const uint8_t *p, uint32_t len)
{
    const uint8_t *end = p + len;
    char name[NAME_MAX_BYTES + 1];
    long n = get_string(p, end, name, sizeof(name));
    if (n < 0 || end - (p + n) < 4) {
        reply_err(hs, opt, NBD_REP_ERR_INVALID, "malformed option payload");
        return;
    }
    p += n;
    uint32_t nq = get_be32(p);
    p += 4;
    if (opt == NBD_OPT_SET_META_CONTEXT && !hs->structured) {
        reply_err(hs, opt, NBD_REP_ERR_INVALID, "structured replies must be negotiated first");
        return;
    }
    char msg[512];
    uint64_t size;
    if (hs->ops->peek(hs->ctx, name, &size, msg, sizeof(msg)) < 0) {
        reply_err(hs, opt, NBD_REP_ERR_UNKNOWN, msg);
        return;
    }
    bool match = opt == NBD_OPT_LIST_META_CONTEXT && nq == 0;
    for (uint32_t i = 0; i < nq; i++) {
        char q[NAME_MAX_BYTES + 1];
        long ql = get_string(p, end, q, sizeof(q));
        if (ql < 0) {
            reply_err(hs, opt, NBD_REP_ERR_INVALID, "malformed meta context query");
            return;
        }
        p += ql;
        if (strcmp(q, NBD_META_BASE_ALLOCATION) == 0 ||
            (opt == NBD_OPT_LIST_META_CONTEXT && strcmp(q, "base:") == 0))
            match = true;
    }
    if (p != end) {
        reply_err(hs, opt, NBD_REP_ERR_INVALID, "trailing bytes after meta context queries");
        return;
    }
    if (opt == NBD_OPT_SET_META_CONTEXT) {
        hs->meta_allocation = match;
        snprintf(hs->meta_export, sizeof(hs->meta_export), "%s", name);
    }
    if (match) {
        size_t nl = strlen(NBD_META_BASE_ALLOCATION);
        reply_hdr(hs, opt, NBD_REP_META_CONTEXT, 4 + nl);
        bytebuf_be32(&hs->out, NBD_META_ID_ALLOCATION);
        bytebuf_put(&hs->out, NBD_META_BASE_ALLOCATION, nl);
    }
    reply(hs, opt, NBD_REP_ACK, NULL, 0);
}

static enum nbd_hs_result opt_export_name(struct nbd_hs *hs, const uint8_t *p, uint32_t len)
{
    char name[NAME_MAX_BYTES + 1];
    if (len > NAME_MAX_BYTES) {
        snprintf(hs->reason, sizeof(hs->reason), "EXPORT_NAME too long (%u bytes)", len);
        return NBD_HS_CLOSE;
    }
    memcpy(name, p, len);
    name[len] = '\0';
    char msg[512];
    uint64_t size;
    /* EXPORT_NAME has no way to report an error: the spec's answer is to disconnect. */
    void *exp = name[0] ? hs->ops->attach(hs->ctx, name, &size, msg, sizeof(msg)) : NULL;
    if (!exp) {
        snprintf(hs->reason, sizeof(hs->reason), "EXPORT_NAME \"%s\": %s", name,
                 name[0] ? msg : "no default export");
        return NBD_HS_CLOSE;
    }
    enum nbd_hs_result res = enter_transmission(hs, exp, name, size);
    bytebuf_be64(&hs->out, size);
    bytebuf_be16(&hs->out, hs->tx_flags);
    if (!(hs->client_flags & NBD_FLAG_C_NO_ZEROES))
        bytebuf_zeros(&hs->out, 124);
    return res;
}

static enum nbd_hs_result handle_option(struct nbd_hs *hs, uint32_t opt, const uint8_t *p,
                                        uint32_t len)
{
    switch (opt) {
    case NBD_OPT_EXPORT_NAME:
        return opt_export_name(hs, p, len);
    case NBD_OPT_ABORT:
        reply(hs, opt, NBD_REP_ACK, NULL, 0);
        snprintf(hs->reason, sizeof(hs->reason), "client sent ABORT");
        return NBD_HS_CLOSE;
    case NBD_OPT_LIST:
        if (len) {
            reply_err(hs, opt, NBD_REP_ERR_INVALID, "LIST takes no payload");
            return NBD_HS_MORE;
        }
        hs->ops->each(hs->ctx, list_one, hs);
        reply(hs, opt, NBD_REP_ACK, NULL, 0);
        return NBD_HS_MORE;
    case NBD_OPT_INFO:
    case NBD_OPT_GO:
        return opt_info_go(hs, opt, p, len);
    case NBD_OPT_STRUCTURED_REPLY:
        if (len) {
            reply_err(hs, opt, NBD_REP_ERR_INVALID, "STRUCTURED_REPLY takes no payload");
            return NBD_HS_MORE;
        }
        hs->structured = true;
        reply(hs, opt, NBD_REP_ACK, NULL, 0);
        return NBD_HS_MORE;
    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT:
        opt_meta_context(hs, opt, p, len);
        return NBD_HS_MORE;
    default: {
        char msg[64];
        snprintf(msg, sizeof(msg), "option %u (%s) is not supported", opt, nbd_opt_name(opt));
        reply_err(hs, opt, NBD_REP_ERR_UNSUP, msg);
        return NBD_HS_MORE;
    }
    }
}

enum nbd_hs_result nbd_hs_feed(struct nbd_hs *hs, const uint8_t *in, size_t len, size_t *consumed)
{
    *consumed = 0;
    if (hs->state == HS_CLIENT_FLAGS) {
        if (len < 4)
            return NBD_HS_MORE;
        hs->client_flags = get_be32(in);
        *consumed = 4;
        if (!(hs->client_flags & NBD_FLAG_C_FIXED_NEWSTYLE)) {
            snprintf(hs->reason, sizeof(hs->reason),
                     "client does not speak fixed newstyle (flags 0x%x)", hs->client_flags);
            return NBD_HS_CLOSE;
        }
        if (hs->client_flags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
            snprintf(hs->reason, sizeof(hs->reason), "unknown client flags 0x%x", hs->client_flags);
            return NBD_HS_CLOSE;
        }
        hs->state = HS_OPTIONS;
        return NBD_HS_MORE;
    }
    if (hs->state != HS_OPTIONS) {
        snprintf(hs->reason, sizeof(hs->reason), "handshake already finished");
        return NBD_HS_CLOSE;
    }
    if (len < 16)
        return NBD_HS_MORE;
    if (get_be64(in) != NBD_IHAVEOPT) {
        snprintf(hs->reason, sizeof(hs->reason), "bad option magic 0x%016llx",
                 (unsigned long long)get_be64(in));
        return NBD_HS_CLOSE;
    }
    uint32_t opt = get_be32(in + 8), olen = get_be32(in + 12);
    if (olen > NBD_HS_MAX_OPTION) {
        snprintf(hs->reason, sizeof(hs->reason), "option %s with %u-byte payload (limit %u)",
                 nbd_opt_name(opt), olen, (unsigned)NBD_HS_MAX_OPTION);
        return NBD_HS_CLOSE;
    }
    if (len < 16 + (size_t)olen)
        return NBD_HS_MORE;
    *consumed = 16 + (size_t)olen;
    if (++hs->n_options > NBD_HS_MAX_OPTIONS) {
        snprintf(hs->reason, sizeof(hs->reason), "more than %d options", NBD_HS_MAX_OPTIONS);
        return NBD_HS_CLOSE;
    }
    return handle_option(hs, opt, in + 16, olen);
}
