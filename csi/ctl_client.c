/* Control-API client (contract in ctl_client.h). */
#include "ctl_client.h"

#include "ctl_tls.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_unix(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "control socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        snprintf(err, errlen, "cannot reach tandemd at %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int connect_tcp(const char *hostport, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host)) {
        snprintf(err, errlen, "bad control endpoint %s: want HOST:PORT", hostport);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", hostport, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    if (fd < 0)
        snprintf(err, errlen, "cannot reach tandemd at %s: %s", hostport, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

static int ctl_connect(const char *ep, char *err, size_t errlen)
{
    if (strncmp(ep, "unix://", 7) == 0)
        return connect_unix(ep + 7, err, errlen);
    if (strncmp(ep, "unix:", 5) == 0)
        return connect_unix(ep + 5, err, errlen);
    if (ep[0] == '/')
        return connect_unix(ep, err, errlen);
    if (strncmp(ep, "tcp://", 6) == 0)
        return connect_tcp(ep + 6, err, errlen);
    return connect_tcp(ep, err, errlen);
}

/* Waits for fd to be ready for events until deadline; -1 with a message on timeout. */
static int wait_fd(int fd, short events, long long deadline, const char *ep, char *err,
                   size_t errlen)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            snprintf(err, errlen, "tandemd at %s did not answer in time", ep);
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", strerror(errno));
            return -1;
        }
    }
}

struct json_object *ctl_call(const char *endpoint, struct json_object *req, int timeout_ms,
                             char *err, size_t errlen)
{
    if (strncmp(endpoint, "tls://", 6) == 0)
        return ctl_tls_call(endpoint, req, timeout_ms, err, errlen);
    long long deadline = now_ms() + timeout_ms;
    int fd = ctl_connect(endpoint, err, errlen);
    if (fd < 0)
        return NULL;
    const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(text), off = 0;
    char *line = malloc(len + 1);
    if (!line)
        abort();
    memcpy(line, text, len);
    line[len++] = '\n';
    while (off < len) {
        if (wait_fd(fd, POLLOUT, deadline, endpoint, err, errlen) < 0)
            goto fail;
        ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "sending to tandemd at %s: %s", endpoint, strerror(errno));
            goto fail;
        }
        off += (size_t)n;
    }
    free(line);
    line = NULL;
    size_t cap = 4096, have = 0;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    for (;;) {
        if (have + 1 >= cap) {
            if (cap >= (16u << 20)) {
                snprintf(err, errlen, "reply from %s is too large", endpoint);
                free(buf);
                goto fail;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                abort();
            buf = nb;
        }
        if (wait_fd(fd, POLLIN, deadline, endpoint, err, errlen) < 0) {
            free(buf);
            goto fail;
        }
        ssize_t n = recv(fd, buf + have, cap - have - 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "tandemd at %s closed the connection without answering",
                     endpoint);
            free(buf);
            goto fail;
        }
        have += (size_t)n;
        if (memchr(buf + have - (size_t)n, '\n', (size_t)n))
            break;
    }
    buf[have] = '\0';
    close(fd);
    struct json_object *reply = json_tokener_parse(buf);
    free(buf);
    if (!reply || !json_object_is_type(reply, json_type_object)) {
        snprintf(err, errlen, "tandemd at %s answered something that is not a JSON object",
                 endpoint);
        json_object_put(reply);
        return NULL;
    }
    return reply;
fail:
    free(line);
    close(fd);
    return NULL;
}

const char *ctl_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

long long ctl_int(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return 0;
    return (long long)json_object_get_int64(v);
}

bool ctl_ok(struct json_object *reply)
{
    struct json_object *v;
    return reply && json_object_object_get_ex(reply, "ok", &v) && json_object_get_boolean(v);
}

const char *ctl_code(struct json_object *reply)
{
    const char *c = ctl_str(reply, "code");
    return c ? c : "";
}
