/* Control socket plumbing: accept, read a line, answer a line. Blocking I/O on a thread of its
 * own is the simple and right tool here: requests are rare and sequential, and a poll() on the
 * listening socket plus a stop pipe is all the event handling it needs. */
#include "ctl/ctl_server.h"
#include "ctl/snap_ctl.h"

#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void answer(int fd, struct json_object *resp)
{
    const char *s = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
    send_all(fd, s, strlen(s));
    send_all(fd, "\n", 1);
    json_object_put(resp);
}

static void serve_client(struct ctl_server *s, int fd)
{
    struct timeval tv = {.tv_sec = CTL_CLIENT_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char *buf = malloc(CTL_MAX_REQUEST + 1);
    if (!buf)
        return;
    size_t len = 0;
    for (;;) {
        char *nl = memchr(buf, '\n', len);
        if (!nl) {
            if (len == CTL_MAX_REQUEST) {
                struct json_object *o = json_object_new_object();
                json_object_object_add(o, "ok", json_object_new_boolean(0));
                json_object_object_add(o, "code", json_object_new_string("invalid"));
                json_object_object_add(o, "error", json_object_new_string("request too large"));
                answer(fd, o);
                break;
            }
            ssize_t n = recv(fd, buf + len, CTL_MAX_REQUEST - len, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            len += (size_t)n;
            continue;
        }
        *nl = '\0';
        enum json_tokener_error jerr;
        struct json_object *req = json_tokener_parse_verbose(buf, &jerr);
        struct json_object *resp;
        if (!req || !json_object_is_type(req, json_type_object)) {
            resp = json_object_new_object();
            json_object_object_add(resp, "ok", json_object_new_boolean(0));
            json_object_object_add(resp, "code", json_object_new_string("invalid"));
            char msg[160];
            snprintf(msg, sizeof(msg), "request is not a JSON object: %s",
                     req ? "wrong type" : json_tokener_error_desc(jerr));
            json_object_object_add(resp, "error", json_object_new_string(msg));
        } else {
            resp = ctl_handle(s->reg, &s->info, req);
        }
        json_object_put(req);
        answer(fd, resp);
        size_t used = (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, len - used);
        len -= used;
    }
    free(buf);
}

static void *ctl_thread(void *arg)
{
    struct ctl_server *s = arg;
    struct pollfd pfd[2] = {{.fd = s->fd, .events = POLLIN},
                            {.fd = s->stop_pipe[0], .events = POLLIN}};
    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("ctl", "poll: %s", strerror(errno));
            break;
        }
        if (pfd[1].revents)
            break;
        int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve_client(s, fd);
        close(fd);
    }
    return NULL;
}

int ctl_server_start(struct ctl_server *s, const char *path, struct registry *reg,
                     const struct ctl_node_info *info, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->reg = reg;
    s->info = *info;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "control socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || pipe2(s->stop_pipe, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "control socket: %s", strerror(errno));
        return -1;
    }
    unlink(path); /* stale: the caller holds the data directory's lock */
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
        listen(s->fd, 16) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        close(s->fd);
        return -1;
    }
    s->path = strdup(path);
    if (pthread_create(&s->thread, NULL, ctl_thread, s) != 0) {
        snprintf(err, errlen, "cannot start the control thread");
        close(s->fd);
        return -1;
    }
    log_info("ctl", "control API on %s", path);
    return 0;
}

void ctl_server_stop(struct ctl_server *s)
{
    ssize_t w = write(s->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(s->thread, NULL);
    snap_jobs_stop();
    close(s->fd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    if (s->path)
        unlink(s->path);
    free(s->path);
}
