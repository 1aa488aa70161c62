/* snapshot.copy's job: a snapshot image into an NBD export. See ctl/snap_copy.h.
 *
 * Why a job in the daemon rather than nbdcopy in tandem-csi: the image is read where it lies
 * (snapshot_read() on the source's primary, beside the writes that go on) and its bytes travel
 * once, straight to the clone's primary, whose writes replicate to its peers as usual. Nothing
 * has to expose a snapshot over NBD, and the controller never carries data. */
#include "ctl/snap_copy.h"

#include "nbd/nbd_proto.h"
#include "util/bytebuf.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define COPY_BUF   (4u << 20) /* read from the image per step; also the largest write */
#define ZERO_UNIT  65536u     /* granularity of zero skipping (the snapshot's COW unit) */
#define IO_TIMEOUT 30

struct target {
    char host[256], port[16], sock[108], export[256];
    bool unix_sock;
};

static bool parse_uri(const char *uri, struct target *t)
{
    memset(t, 0, sizeof(*t));
    if (strncmp(uri, "nbd+unix:///", 12) == 0) {
        const char *name = uri + 12, *q = strstr(name, "?socket=");
        if (!q || (size_t)(q - name) >= sizeof(t->export) || q[8] != '/' ||
            strlen(q + 8) >= sizeof(t->sock))
            return false;
        memcpy(t->export, name, (size_t)(q - name));
        snprintf(t->sock, sizeof(t->sock), "%s", q + 8);
        t->unix_sock = true;
        return true;
    }
    if (strncmp(uri, "nbd://", 6) != 0)
        return false;
    const char *h = uri + 6, *slash = strchr(h, '/');
    if (!slash || strlen(slash + 1) >= sizeof(t->export))
        return false;
    snprintf(t->export, sizeof(t->export), "%s", slash + 1);
    const char *hend = slash, *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(slash - h));
        if (!rb)
            return false;
        colon = rb[1] == ':' ? rb + 1 : NULL;
        h++;
        hend = rb;
    } else {
        colon = memchr(h, ':', (size_t)(slash - h));
        if (colon)
            hend = colon;
    }
    if (hend == h || (size_t)(hend - h) >= sizeof(t->host))
        return false;
    memcpy(t->host, h, (size_t)(hend - h));
    if (colon) {
        size_t pl = (size_t)(slash - colon - 1);
        if (pl == 0 || pl >= sizeof(t->port))
            return false;
        memcpy(t->port, colon + 1, pl);
    } else {
        snprintf(t->port, sizeof(t->port), "10809");
    }
    return t->export[0] != '\0';
}

bool snap_copy_uri_valid(const char *uri)
{
    struct target t;
    return parse_uri(uri, &t);
}

static int set_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = IO_TIMEOUT};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
        return -errno;
    return 0;
}

static int dial(const struct target *t, char *msg, size_t len)
{
    if (t->unix_sock) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->sock);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || set_timeouts(fd) < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            int e = errno;
            snprintf(msg, len, "connecting to %s: %s", t->sock, strerror(e));
            if (fd >= 0)
                close(fd);
            return -e;
        }
        return fd;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(t->host, t->port, &hints, &res);
    if (gai != 0) {
        snprintf(msg, len, "resolving %s: %s", t->host, gai_strerror(gai));
        return -EHOSTUNREACH;
    }
    int fd = -1, e = ECONNREFUSED;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && (set_timeouts(fd) < 0 || connect(fd, a->ai_addr, a->ai_addrlen) < 0)) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(msg, len, "connecting to %s:%s: %s", t->host, t->port, strerror(e));
        return -e;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return errno == EAGAIN ? -ETIMEDOUT : -(errno ? errno : EIO);
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int recv_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t r = recv(fd, c, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return -ECONNRESET;
        if (r < 0)
            return errno == EAGAIN ? -ETIMEDOUT : -errno;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Fixed-newstyle handshake and NBD_OPT_GO; the export's size and transmission flags out. */
static int handshake(int fd, const struct target *t, uint64_t *size, uint16_t *flags, char *msg,
                     size_t len)
{
    uint8_t b[18 + 256];
    int rc = recv_all(fd, b, 18);
    if (rc < 0 || get_be64(b) != NBD_MAGIC || get_be64(b + 8) != NBD_IHAVEOPT) {
        snprintf(msg, len, "the destination is not a newstyle NBD server%s%s", rc ? ": " : "",
                 rc ? strerror(-rc) : "");
        return rc ? rc : -EPROTO;
    }
    uint16_t hflags = get_be16(b + 16);
    if (!(hflags & NBD_FLAG_FIXED_NEWSTYLE)) {
        snprintf(msg, len, "the destination does not speak fixed newstyle NBD");
        return -EPROTO;
    }
    put_be32(b, NBD_FLAG_C_FIXED_NEWSTYLE | (hflags & NBD_FLAG_NO_ZEROES));
    size_t nl = strlen(t->export);
    put_be64(b + 4, NBD_IHAVEOPT);
    put_be32(b + 12, NBD_OPT_GO);
    put_be32(b + 16, (uint32_t)(4 + nl + 2));
    put_be32(b + 20, (uint32_t)nl);
    memcpy(b + 24, t->export, nl);
    put_be16(b + 24 + nl, 0); /* no information requests: NBD_INFO_EXPORT comes anyway */
    if ((rc = send_all(fd, b, 26 + nl)) < 0) {
        snprintf(msg, len, "NBD handshake: %s", strerror(-rc));
        return rc;
    }
    bool have_export = false;
    for (;;) {
        uint8_t h[20];
        if ((rc = recv_all(fd, h, 20)) < 0) {
            snprintf(msg, len, "NBD handshake: %s", strerror(-rc));
            return rc;
        }
        uint32_t type = get_be32(h + 12), dl = get_be32(h + 16);
        if (get_be64(h) != NBD_REP_MAGIC || get_be32(h + 8) != NBD_OPT_GO || dl > 4096) {
            snprintf(msg, len, "NBD handshake: malformed option reply");
            return -EPROTO;
        }
        char data[4097];
        if ((rc = recv_all(fd, data, dl)) < 0) {
            snprintf(msg, len, "NBD handshake: %s", strerror(-rc));
            return rc;
        }
        data[dl] = '\0';
        if (type == NBD_REP_ACK)
            break;
        if (type & NBD_REP_ERR(0)) {
            snprintf(msg, len, "the destination refused export %s: %s%s", t->export,
                     type == NBD_REP_ERR_TLS_REQD ? "it requires TLS; " : "",
                     dl ? data : "no reason given");
            return type == NBD_REP_ERR_UNKNOWN ? -ENOENT : -EPERM;
        }
        if (type == NBD_REP_INFO && dl >= 12 && get_be16((uint8_t *)data) == NBD_INFO_EXPORT) {
            *size = get_be64((uint8_t *)data + 2);
            *flags = get_be16((uint8_t *)data + 10);
            have_export = true;
        }
    }
    if (!have_export) {
        snprintf(msg, len, "NBD handshake: the destination sent no export size");
        return -EPROTO;
    }
    return 0;
}

struct conn {
    int fd;
    uint64_t next_handle, inflight;
    uint64_t acked; /* bytes acknowledged */
    /* requests in flight (handle 0: a free slot); replies come in any order */
    struct {
        uint64_t handle;
        uint32_t len;
    } slot[SNAP_COPY_WINDOW];
};

static int request(struct conn *c, uint16_t type, uint64_t off, const void *data, uint32_t len)
{
    uint8_t h[NBD_REQUEST_BYTES];
    put_be32(h, NBD_REQUEST_MAGIC);
    put_be16(h + 4, 0);
    put_be16(h + 6, type);
    put_be64(h + 8, c->next_handle);
    put_be64(h + 16, off);
    put_be32(h + 24, len);
    unsigned i = 0;
    while (c->slot[i].handle) /* the caller keeps inflight below the window: one is free */
        i++;
    c->slot[i].handle = c->next_handle++;
    c->slot[i].len = type == NBD_CMD_WRITE ? len : 0;
    c->inflight++;
    int rc = send_all(c->fd, h, sizeof(h));
    return rc < 0 || !data ? rc : send_all(c->fd, data, len);
}

static int reply(struct conn *c, char *msg, size_t len)
{
    uint8_t r[16];
    int rc = recv_all(c->fd, r, sizeof(r));
    if (rc < 0) {
        snprintf(msg, len, "waiting for the destination: %s", strerror(-rc));
        return rc;
    }
    uint64_t handle = get_be64(r + 8);
    unsigned i = 0;
    while (i < SNAP_COPY_WINDOW && (!handle || c->slot[i].handle != handle))
        i++;
    if (get_be32(r) != NBD_SIMPLE_MAGIC || i == SNAP_COPY_WINDOW) {
        snprintf(msg, len, "malformed NBD reply from the destination (magic %08x, handle %llu)",
                 get_be32(r), (unsigned long long)handle);
        return -EPROTO;
    }
    uint32_t err = get_be32(r + 4);
    if (err) {
        snprintf(msg, len, "the destination failed a write: %s", strerror((int)err));
        return -(int)err;
    }
    c->acked += c->slot[i].len;
    c->slot[i].handle = 0;
    c->inflight--;
    return 0;
}

/* One write of a run of non-zero bytes, after making room in the window. */
static int write_run(struct conn *c, uint64_t off, const char *p, size_t n,
                     struct ship_progress *pr, char *msg, size_t len)
{
    int rc = 0;
    if (c->inflight == SNAP_COPY_WINDOW && (rc = reply(c, msg, len)) < 0)
        return rc;
    atomic_store(&pr->bytes_uploaded, c->acked);
    if ((rc = request(c, NBD_CMD_WRITE, off, p, (uint32_t)n)) < 0)
        snprintf(msg, len, "writing to the destination: %s", strerror(-rc));
    return rc;
}

static bool all_zero(const char *p, size_t n)
{
    const uint64_t *q = (const uint64_t *)p;
    for (size_t i = 0; i < n / 8; i++)
        if (q[i])
            return false;
    return true;
}

static int copy_image(struct conn *c, uint64_t size,
                      int (*read)(void *ctx, uint64_t off, void *buf, size_t len), void *ctx,
                      char *buf, struct ship_progress *pr, const atomic_bool *cancel, char *msg,
                      size_t len)
{
    int rc = 0;
    for (uint64_t off = 0; rc == 0 && off < size; off += COPY_BUF) {
        if (atomic_load(cancel))
            return -ECANCELED;
        size_t n = size - off < COPY_BUF ? (size_t)(size - off) : COPY_BUF;
        if ((rc = read(ctx, off, buf, n)) < 0) {
            snprintf(msg, len, "reading the snapshot at %llu: %s", (unsigned long long)off,
                     strerror(-rc));
            return rc;
        }
        /* runs of non-zero units become one write each; zero units are skipped */
        size_t run = 0, b = 0;
        for (; rc == 0 && b < n; b += ZERO_UNIT) {
            size_t bl = n - b < ZERO_UNIT ? n - b : ZERO_UNIT;
            if (!all_zero(buf + b, bl))
                continue;
            if (b > run)
                rc = write_run(c, off + run, buf + run, b - run, pr, msg, len);
            run = b + bl;
        }
        if (rc == 0 && n > run)
            rc = write_run(c, off + run, buf + run, n - run, pr, msg, len);
        /* the buffer is reused: every write sent from it must be fully on the wire, which
         * send_all() guarantees; replies may still be outstanding */
        atomic_store(&pr->bytes_read, off + n);
    }
    return rc;
}

int snap_copy_run(const char *uri, uint64_t size,
                  int (*read)(void *ctx, uint64_t off, void *buf, size_t len), void *ctx,
                  struct ship_progress *progress, const atomic_bool *cancel, char *msg,
                  size_t msglen)
{
    struct target t;
    if (!parse_uri(uri, &t)) {
        snprintf(msg, msglen, "bad NBD URI %s", uri);
        return -EINVAL;
    }
    atomic_store(&progress->bytes_total, size);
    int fd = dial(&t, msg, msglen);
    if (fd < 0)
        return fd;
    uint64_t dsize = 0;
    uint16_t dflags = 0;
    int rc = handshake(fd, &t, &dsize, &dflags, msg, msglen);
    if (rc == 0 && (dflags & NBD_FLAG_READ_ONLY)) {
        snprintf(msg, msglen, "export %s is read-only", t.export);
        rc = -EROFS;
    }
    if (rc == 0 && dsize < size) {
        snprintf(msg, msglen, "export %s holds %llu bytes, less than the snapshot's %llu", t.export,
                 (unsigned long long)dsize, (unsigned long long)size);
        rc = -ENOSPC;
    }
    char *buf = NULL;
    if (rc == 0 && !(buf = malloc(COPY_BUF))) {
        snprintf(msg, msglen, "out of memory");
        rc = -ENOMEM;
    }
    struct conn c = {.fd = fd, .next_handle = 1};
    if (rc == 0)
        rc = copy_image(&c, size, read, ctx, buf, progress, cancel, msg, msglen);
    /* FLUSH covers the writes completed before it was sent: drain them first; then the clone
     * is durable on the destination when the job says done */
    while (rc == 0 && c.inflight)
        rc = reply(&c, msg, msglen);
    if (rc == 0 && (dflags & NBD_FLAG_SEND_FLUSH) &&
        (rc = request(&c, NBD_CMD_FLUSH, 0, NULL, 0)) < 0)
        snprintf(msg, msglen, "flushing the destination: %s", strerror(-rc));
    while (rc == 0 && c.inflight)
        rc = reply(&c, msg, msglen);
    atomic_store(&progress->bytes_uploaded, c.acked);
    if (rc == 0 || rc == -ECANCELED) {
        uint8_t h[NBD_REQUEST_BYTES] = {0};
        put_be32(h, NBD_REQUEST_MAGIC);
        put_be16(h + 6, NBD_CMD_DISC);
        (void)send_all(fd, h, sizeof(h));
    }
    if (rc == -ECANCELED)
        snprintf(msg, msglen, "cancelled");
    free(buf);
    close(fd);
    return rc;
}
