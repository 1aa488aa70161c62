/* The control API over mutual TLS: the controller's client and the node plugin's bridge. See
 * ctl_tls.h. */
#include "ctl_tls.h"

#include "ctl_client.h"
#include "repl/tls.h"
#include "util/log.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define LINE_MAX_BYTES  (64u << 10)
#define REPLY_MAX_BYTES (16u << 20)
#define BRIDGE_IDLE_S   10

static SSL_CTX *tls_ctx;

int ctl_tls_init(const char *cert, const char *key, const char *ca, char *err, size_t errlen)
{
    tls_ctx = tls_ctx_create(cert, key, ca, err, errlen);
    return tls_ctx ? 0 : -1;
}

bool ctl_tls_ready(void)
{
    return tls_ctx != NULL;
}

static void set_timeouts(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Splits "HOST:PORT" (IPv6 in brackets); false if malformed. */
static bool split_hostport(const char *hp, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return false;
    const char *h = hp, *he = colon;
    if (*h == '[' && he[-1] == ']')
        h++, he--;
    if ((size_t)(he - h) >= hlen || strlen(colon + 1) >= plen || !colon[1])
        return false;
    snprintf(host, hlen, "%.*s", (int)(he - h), h);
    snprintf(port, plen, "%s", colon + 1);
    return true;
}

static int dial(const char *hostport, int timeout_ms, char *err, size_t errlen)
{
    char host[256], port[16];
    if (!split_hostport(hostport, host, sizeof(host), port, sizeof(port))) {
        snprintf(err, errlen, "bad control endpoint %s: want tls://HOST:PORT", hostport);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", hostport, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = ECONNREFUSED;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        set_timeouts(fd, timeout_ms);
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot reach the control bridge at %s: %s", hostport, strerror(e));
    return fd;
}

/* Blocking handshake on a socket with timeouts: a WANT_* answer means one timed out. */
static bool handshake(SSL *ssl, char *why, size_t len)
{
    enum tls_step st = tls_handshake(ssl, why, len);
    if (st == TLS_WANT_READ || st == TLS_WANT_WRITE)
        snprintf(why, len, "TLS handshake timed out");
    return st == TLS_DONE;
}

static bool write_all(SSL *ssl, const char *p, size_t n)
{
    while (n) {
        ssize_t w = tls_write(ssl, p, n);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads up to and including a newline into a growing buffer (NUL-terminated, without the
 * newline). NULL on EOF, error, timeout or a line longer than max. */
static char *read_line(SSL *ssl, size_t max)
{
    size_t cap = 4096, have = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (have + 1 >= cap) {
            char *nb = cap < max ? realloc(buf, cap * 2) : NULL;
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t n = tls_read(ssl, buf + have, 1); /* one byte: never read past the line */
        if (n <= 0)
            break;
        if (buf[have] == '\n') {
            buf[have] = '\0';
            return buf;
        }
        have++;
    }
    free(buf);
    return NULL;
}

struct json_object *ctl_tls_call(const char *endpoint, struct json_object *req, int timeout_ms,
                                 char *err, size_t errlen)
{
    if (!tls_ctx) {
        snprintf(err, errlen, "%s needs --tls-cert, --tls-key and --tls-ca", endpoint);
        return NULL;
    }
    const char *spec = endpoint + 6, *at = strchr(spec, '@');
    if (strncmp(endpoint, "tls://", 6) != 0 || !at || at == spec) {
        snprintf(err, errlen, "bad control endpoint %s: want tls://NAME@HOST:PORT", endpoint);
        return NULL;
    }
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(at - spec), spec);
    int fd = dial(at + 1, timeout_ms, err, errlen);
    if (fd < 0)
        return NULL;
    SSL *ssl = tls_new(tls_ctx, fd, false);
    struct json_object *reply = NULL;
    char why[256] = "";
    if (!ssl) {
        snprintf(err, errlen, "out of memory for TLS");
    } else if (!handshake(ssl, why, sizeof(why))) {
        snprintf(err, errlen, "TLS with the control bridge at %s refused: %s", at + 1, why);
        log_warn("bridge", "%s", err); /* a security refusal: always in the log */
    } else if (!tls_peer_is(ssl, name)) {
        snprintf(err, errlen, "the control bridge at %s presented a certificate not issued for %s",
                 at + 1, name);
        log_warn("bridge", "%s", err);
    } else {
        const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
        char *line = NULL;
        if (!write_all(ssl, text, strlen(text)) || !write_all(ssl, "\n", 1))
            snprintf(err, errlen, "sending to the control bridge at %s: %s", at + 1,
                     strerror(errno));
        else if (!(line = read_line(ssl, REPLY_MAX_BYTES)))
            snprintf(err, errlen, "the control bridge at %s closed without answering", at + 1);
        else if (!(reply = json_tokener_parse(line)) ||
                 !json_object_is_type(reply, json_type_object)) {
            json_object_put(reply);
            reply = NULL;
            snprintf(err, errlen, "the control bridge at %s answered something that is not JSON",
                     at + 1);
        }
        free(line);
    }
    tls_free(ssl);
    close(fd);
    return reply;
}

/* ---- the bridge (node plugin) ---- */

struct bridge {
    int fd;
    char peer[256];
    char local[512];
};

struct bridge_conn {
    const struct bridge *b;
    int fd;
    char from[64];
};

static void serve(struct bridge_conn *bc)
{
    SSL *ssl = tls_new(tls_ctx, bc->fd, true);
    char why[256] = "";
    if (!ssl || !handshake(ssl, why, sizeof(why))) {
        log_warn("bridge", "control client %s refused: %s", bc->from, why);
    } else if (!tls_peer_is(ssl, bc->b->peer)) {
        log_warn("bridge", "control client %s refused: its certificate is not issued for %s",
                 bc->from, bc->b->peer);
    } else {
        for (char *line; (line = read_line(ssl, LINE_MAX_BYTES));) {
            char err[512];
            struct json_object *req = json_tokener_parse(line), *reply = NULL;
            free(line);
            if (!req || !json_object_is_type(req, json_type_object)) {
                json_object_put(req);
                break; /* tandemd would drop such a client too */
            }
            reply = ctl_call(bc->b->local, req, CTL_CALL_TIMEOUT_MS, err, sizeof(err));
            json_object_put(req);
            if (!reply) {
                reply = json_object_new_object();
                json_object_object_add(reply, "ok", json_object_new_boolean(0));
                json_object_object_add(reply, "code", json_object_new_string("unavailable"));
                json_object_object_add(reply, "error", json_object_new_string(err));
            }
            const char *text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
            bool ok = write_all(ssl, text, strlen(text)) && write_all(ssl, "\n", 1);
            json_object_put(reply);
            if (!ok)
                break;
        }
    }
    tls_free(ssl);
    close(bc->fd);
    free(bc);
}

static void *conn_thread(void *arg)
{
    serve(arg);
    return NULL;
}

static void *accept_thread(void *arg)
{
    const struct bridge *b = arg;
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof(sa);
        int fd = accept4(b->fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                usleep(100000); /* out of descriptors: back off instead of spinning */
            continue;
        }
        struct bridge_conn *bc = calloc(1, sizeof(*bc));
        char host[48] = "?", port[8] = "";
        getnameinfo((struct sockaddr *)&sa, sl, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV);
        pthread_t t;
        if (bc) {
            bc->b = b;
            bc->fd = fd;
            snprintf(bc->from, sizeof(bc->from), "%s:%s", host, port);
            set_timeouts(fd, BRIDGE_IDLE_S * 1000);
        }
        if (!bc || pthread_create(&t, NULL, conn_thread, bc) != 0) {
            close(fd);
            free(bc);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

int ctl_tls_bridge_start(const char *listen_on, const char *peer_name, const char *local_control,
                         char *err, size_t errlen)
{
    if (!tls_ctx) {
        snprintf(err, errlen, "--control-listen needs --tls-cert, --tls-key and --tls-ca");
        return -1;
    }
    char host[256], port[16];
    if (!split_hostport(listen_on, host, sizeof(host), port, sizeof(port))) {
        snprintf(err, errlen, "--control-listen %s: want HOST:PORT", listen_on);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "--control-listen %s: %s", listen_on, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0) {
        snprintf(err, errlen, "--control-listen %s: %s", listen_on, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    static struct bridge b; /* lives as long as the process */
    b.fd = fd;
    snprintf(b.peer, sizeof(b.peer), "%s", peer_name);
    snprintf(b.local, sizeof(b.local), "%s", local_control);
    pthread_t t;
    if (pthread_create(&t, NULL, accept_thread, &b) != 0) {
        snprintf(err, errlen, "cannot start the control bridge thread");
        close(fd);
        return -1;
    }
    pthread_detach(t);
    log_info("bridge", "control API of %s served with mutual TLS on %s to clients named %s",
             local_control, listen_on, peer_name);
    return 0;
}
