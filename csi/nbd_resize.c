/* Growing a connected kernel NBD device. See nbd_resize.h. */
#include "nbd_resize.h"

#include "proc.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/nbd.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NL_BUF 4096

/* One generic-netlink request: header, genl header, attributes appended by nl_attr(). */
struct nl_req {
    union {
        struct nlmsghdr h;
        char buf[256];
    } u;
};

static void nl_begin(struct nl_req *r, uint16_t type, uint8_t cmd, uint8_t version, bool ack)
{
    memset(r, 0, sizeof(*r));
    r->u.h.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
    r->u.h.nlmsg_type = type;
    r->u.h.nlmsg_flags = NLM_F_REQUEST | (ack ? NLM_F_ACK : 0);
    r->u.h.nlmsg_seq = 1;
    struct genlmsghdr *g = NLMSG_DATA(&r->u.h);
    g->cmd = cmd;
    g->version = version;
}

static void nl_attr(struct nl_req *r, uint16_t type, const void *data, uint16_t len)
{
    struct nlattr *a = (struct nlattr *)(r->u.buf + NLMSG_ALIGN(r->u.h.nlmsg_len));
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy((char *)a + NLA_HDRLEN, data, len);
    r->u.h.nlmsg_len = NLMSG_ALIGN(r->u.h.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Sends r and reads the answer into buf: the first message, or -errno for an NLMSG_ERROR. */
static int nl_call(int fd, struct nl_req *r, char *buf, struct nlmsghdr **out)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, r->u.buf, r->u.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return -errno;
    ssize_t n = recv(fd, buf, NL_BUF, 0);
    if (n < 0)
        return -errno;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (size_t)n))
        return -EPROTO;
    if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        if (e->error)
            return e->error;
    }
    *out = h;
    return 0;
}

/* The id of the "nbd" generic-netlink family (the nbd module registers it), or -errno. */
static int nbd_family(int fd, char *buf)
{
    struct nl_req r;
    nl_begin(&r, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, false);
    nl_attr(&r, CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME, sizeof(NBD_GENL_FAMILY_NAME));
    struct nlmsghdr *h;
    int rc = nl_call(fd, &r, buf, &h);
    if (rc < 0)
        return rc;
    if (h->nlmsg_type == NLMSG_ERROR)
        return -EPROTO;
    int left = (int)h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);
    struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);
    while (left >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= left) {
        if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID) {
            uint16_t id;
            memcpy(&id, (char *)a + NLA_HDRLEN, sizeof(id));
            return id;
        }
        left -= NLA_ALIGN(a->nla_len);
        a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
    }
    return -ENOENT;
}

static int resize_netlink(uint32_t index, uint64_t bytes)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    if (fd < 0)
        return -errno;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char *buf = malloc(NL_BUF);
    int rc = buf ? nbd_family(fd, buf) : -ENOMEM;
    if (rc >= 0) {
        struct nl_req r;
        nl_begin(&r, (uint16_t)rc, NBD_CMD_RECONFIGURE, NBD_GENL_VERSION, true);
        nl_attr(&r, NBD_ATTR_INDEX, &index, sizeof(index));
        nl_attr(&r, NBD_ATTR_SIZE_BYTES, &bytes, sizeof(bytes));
        struct nlmsghdr *h;
        rc = nl_call(fd, &r, buf, &h);
    }
    free(buf);
    close(fd);
    return rc < 0 ? rc : 0;
}

int nbd_resize(const char *dev, uint64_t bytes, char *err, size_t errlen)
{
    unsigned index;
    if (sscanf(dev, "/dev/nbd%u", &index) != 1) {
        snprintf(err, errlen, "%s is not a kernel NBD device", dev);
        return -1;
    }
    int nl = resize_netlink(index, bytes);
    if (nl == 0) {
        log_info("attach", "%s set to %llu bytes (netlink NBD_CMD_RECONFIGURE)", dev,
                 (unsigned long long)bytes);
        return 0;
    }
    /* an ioctl-configured device refuses netlink reconfiguration (EINVAL): use its interface */
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd >= 0 && ioctl(fd, NBD_SET_SIZE, (unsigned long)bytes) == 0) {
        close(fd);
        log_info("attach", "%s set to %llu bytes (ioctl NBD_SET_SIZE; netlink said: %s)", dev,
                 (unsigned long long)bytes, strerror(-nl));
        return 0;
    }
    int e = errno;
    if (fd >= 0)
        close(fd);
    snprintf(err, errlen,
             "cannot grow %s to %llu bytes: netlink NBD_CMD_RECONFIGURE: %s; ioctl NBD_SET_SIZE: "
             "%s",
             dev, (unsigned long long)bytes, strerror(-nl), strerror(e));
    return -1;
}

int nbd_export_size(const char *uri, uint64_t *bytes, char *err, size_t errlen)
{
    char out[512];
    const char *const argv[] = {"nbdinfo", "--size", uri, NULL};
    int rc = proc_run(argv, 30000, out, sizeof(out));
    char *end = NULL;
    unsigned long long v = rc == 0 ? strtoull(out, &end, 10) : 0;
    if (rc != 0 || !end || end == out || v == 0) {
        snprintf(err, errlen, "nbdinfo --size %s: %s", uri, rc == 0 ? "no size printed" : out);
        return -1;
    }
    *bytes = v;
    return 0;
}
