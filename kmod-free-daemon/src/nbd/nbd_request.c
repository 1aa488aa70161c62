/* Request validation, in the order a careful server checks: command known, flags allowed for
 * that command, length sane for that command, range inside the export. The error values follow
 * the protocol's "Error values" section: ENOSPC for writes past the end, EINVAL for everything
 * else that is malformed, EOVERFLOW for payload-less commands longer than we allow. */
#include "nbd/nbd_request.h"

#include "nbd/nbd_handshake.h"
#include "nbd/nbd_proto.h"
#include "util/bytebuf.h"

#include <errno.h>

const char *nbd_cmd_name(uint16_t type)
{
    switch (type) {
    case NBD_CMD_READ:
        return "READ";
    case NBD_CMD_WRITE:
        return "WRITE";
    case NBD_CMD_DISC:
        return "DISC";
    case NBD_CMD_FLUSH:
        return "FLUSH";
    case NBD_CMD_TRIM:
        return "TRIM";
    case NBD_CMD_CACHE:
        return "CACHE";
    case NBD_CMD_WRITE_ZEROES:
        return "WRITE_ZEROES";
    case NBD_CMD_BLOCK_STATUS:
        return "BLOCK_STATUS";
    default:
        return "unknown";
    }
}

int nbd_request_parse(const uint8_t hdr[28], struct nbd_request *req)
{
    if (get_be32(hdr) != NBD_REQUEST_MAGIC)
        return -1;
    req->flags = get_be16(hdr + 4);
    req->type = get_be16(hdr + 6);
    req->cookie = get_be64(hdr + 8);
    req->offset = get_be64(hdr + 16);
    req->length = get_be32(hdr + 24);
    return 0;
}

/* FUA is allowed on every command: we advertise NBD_FLAG_SEND_FUA, and the spec then says the
 * server "MUST accept all commands with this bit set (even by ignoring the bit)". It means
 * something only for the writing commands; READ, FLUSH (durable anyway) and BLOCK_STATUS
 * ignore it. */
static uint16_t allowed_flags(uint16_t type, const struct nbd_tx_state *tx)
{
    switch (type) {
    case NBD_CMD_READ:
        return NBD_CMD_FLAG_FUA | (tx->structured ? NBD_CMD_FLAG_DF : 0);
    case NBD_CMD_WRITE:
    case NBD_CMD_TRIM:
    case NBD_CMD_FLUSH:
    case NBD_CMD_DISC:
        return NBD_CMD_FLAG_FUA;
    case NBD_CMD_WRITE_ZEROES:
        return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
    case NBD_CMD_BLOCK_STATUS:
        return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
    default:
        return NBD_CMD_FLAG_FUA;
    }
}

uint32_t nbd_request_validate(const struct nbd_request *req, const struct nbd_tx_state *tx,
                              const char **why)
{
    switch (req->type) {
    case NBD_CMD_READ:
    case NBD_CMD_WRITE:
    case NBD_CMD_DISC:
    case NBD_CMD_FLUSH:
    case NBD_CMD_TRIM:
    case NBD_CMD_WRITE_ZEROES:
        break;
    case NBD_CMD_BLOCK_STATUS:
        if (!tx->structured || !tx->meta_allocation) {
            *why = "BLOCK_STATUS without a negotiated meta context";
            return NBD_EINVAL;
        }
        break;
    default:
        *why = "unknown command";
        return NBD_EINVAL;
    }
    if (req->flags & ~allowed_flags(req->type, tx)) {
        *why = "flag not valid for this command";
        return NBD_EINVAL;
    }
    if (req->type == NBD_CMD_DISC || req->type == NBD_CMD_FLUSH)
        return 0; /* offset and length are meaningless; the spec asks clients to send 0 */
    if (req->length == 0) {
        *why = "zero length";
        return NBD_EINVAL;
    }
    if ((req->type == NBD_CMD_READ || req->type == NBD_CMD_WRITE) &&
        req->length > NBD_MAX_PAYLOAD) {
        *why = "payload larger than the advertised maximum";
        return req->type == NBD_CMD_READ ? NBD_EOVERFLOW : NBD_EINVAL;
    }
    if (req->offset > tx->export_size || req->length > tx->export_size - req->offset) {
        *why = "range past the end of the export";
        return req->type == NBD_CMD_WRITE || req->type == NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC
                                                                               : NBD_EINVAL;
    }
    return 0;
}

uint32_t nbd_errno(int err)
{
    switch (err) {
    case 0:
        return 0;
    case EPERM:
    case EROFS:
        return NBD_EPERM;
    case ENOMEM:
        return NBD_ENOMEM;
    case EINVAL:
        return NBD_EINVAL;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return NBD_ENOSPC;
    case EOVERFLOW:
        return NBD_EOVERFLOW;
    case ENOTSUP:
        return NBD_ENOTSUP;
    case ESHUTDOWN:
        return NBD_ESHUTDOWN;
    default:
        return NBD_EIO;
    }
}
