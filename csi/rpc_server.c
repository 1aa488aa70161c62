/* The unary gRPC server (contract in rpc_server.h).
 *
 * Each call is a small state machine driven by completion-queue events, one outstanding batch
 * at a time:  REQUESTED --(new call)--> RECEIVING --(message)--> handler --> SENDING --> freed.
 * The context's state is set before grpc_call_start_batch(), because the completion may be
 * delivered to another poller before start_batch returns. A fresh request is posted as soon as
 * one is taken, so there is always one call waiting to be accepted until shutdown begins. */
#include "rpc_server.h"

#include "rpc_log.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 16

enum call_state { CS_REQUESTED, CS_RECEIVING, CS_SENDING };

struct call_ctx {
    enum call_state state;
    struct rpc_server *srv;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array metadata;
    grpc_byte_buffer *recv_buf, *send_buf;
    grpc_slice status_details;
    bool have_status_details;
    int cancelled;
};

struct rpc_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    const struct rpc_method *methods;
    size_t n_methods;
    pthread_t workers[MAX_WORKERS];
    unsigned n_workers;
    int lock_fd;
    char lock_path[4200];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool shutting_down, shutdown_done;
    unsigned live_calls;
    int shutdown_tag; /* its address is the tag */
};

ProtobufCMessage *rpc_error(struct rpc_call *c, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
    c->code = code;
    return NULL;
}

void rpc_note(struct rpc_call *c, const char *fmt, ...)
{
    size_t len = strlen(c->note);
    if (len && len + 2 < sizeof(c->note)) {
        memcpy(c->note + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->note + len, sizeof(c->note) - len, fmt, ap);
    va_end(ap);
}

int rpc_endpoint_parse(const char *endpoint, char *addr, size_t addrlen, char *path, size_t pathlen,
                       char *err, size_t errlen)
{
    const char *p = NULL;
    if (strncmp(endpoint, "unix:///", 8) == 0)
        p = endpoint + 7;
    else if (strncmp(endpoint, "unix://", 7) == 0) {
        /* unix://relative/x: gRPC binds it but nobody can connect; refuse instead */
        snprintf(err, errlen, "endpoint %s: a Unix socket path must be absolute (unix:///path)",
                 endpoint);
        return -1;
    } else if (strncmp(endpoint, "unix:/", 6) == 0)
        p = endpoint + 5;
    else if (endpoint[0] == '/')
        p = endpoint;
    if (p) {
        if (strlen(p) >= 108 || strlen(p) >= pathlen) {
            snprintf(err, errlen, "endpoint %s: socket path too long for a Unix socket", endpoint);
            return -1;
        }
        snprintf(path, pathlen, "%s", p);
        snprintf(addr, addrlen, "unix:%s", p);
        return 0;
    }
    const char *hp = strncmp(endpoint, "tcp://", 6) == 0 ? endpoint + 6 : endpoint;
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp || !colon[1] || strchr(hp, '/')) {
        snprintf(err, errlen, "endpoint %s: want unix:///PATH or tcp://HOST:PORT", endpoint);
        return -1;
    }
    path[0] = '\0';
    snprintf(addr, addrlen, "%s", hp);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void post_request(struct rpc_server *s);

static void ctx_free(struct call_ctx *cc)
{
    struct rpc_server *s = cc->srv;
    if (cc->recv_buf)
        grpc_byte_buffer_destroy(cc->recv_buf);
    if (cc->send_buf)
        grpc_byte_buffer_destroy(cc->send_buf);
    if (cc->have_status_details)
        grpc_slice_unref(cc->status_details);
    if (cc->call)
        grpc_call_unref(cc->call);
    grpc_call_details_destroy(&cc->details);
    grpc_metadata_array_destroy(&cc->metadata);
    free(cc);
    pthread_mutex_lock(&s->mu);
    s->live_calls--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void post_request(struct rpc_server *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->shutting_down) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->live_calls++;
    pthread_mutex_unlock(&s->mu);
    struct call_ctx *cc = calloc(1, sizeof(*cc));
    if (!cc)
        abort();
    cc->srv = s;
    cc->state = CS_REQUESTED;
    grpc_call_details_init(&cc->details);
    grpc_metadata_array_init(&cc->metadata);
    if (grpc_server_request_call(s->server, &cc->call, &cc->details, &cc->metadata, s->cq, s->cq,
                                 cc) != GRPC_CALL_OK) {
        log_error("rpc", "grpc_server_request_call failed; not accepting further calls");
        ctx_free(cc);
    }
}

static void start_receive(struct call_ctx *cc)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &cc->recv_buf;
    cc->state = CS_RECEIVING;
    if (grpc_call_start_batch(cc->call, &op, 1, cc, NULL) != GRPC_CALL_OK)
        ctx_free(cc);
}

static const struct rpc_method *find_method(struct rpc_server *s, const char *path)
{
    for (size_t i = 0; i < s->n_methods; i++)
        if (strcmp(s->methods[i].path, path) == 0)
            return &s->methods[i];
    return NULL;
}

/* Decodes, runs the handler, packs the answer into cc->send_buf; status in c. */
static void run_call(struct call_ctx *cc, const char *path, bool received, struct rpc_call *c)
{
    const struct rpc_method *m = find_method(cc->srv, path);
    if (!m) {
        rpc_error(c, GRPC_STATUS_UNIMPLEMENTED, "%s is not implemented by this plugin", path);
        log_info("rpc", "%s -> UNIMPLEMENTED", path);
        return;
    }
    if (!received || !cc->recv_buf) {
        rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "%s: no request message", path);
        return;
    }
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, cc->recv_buf)) {
        rpc_error(c, GRPC_STATUS_INTERNAL, "cannot read the request");
        return;
    }
    grpc_slice in = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCMessage *req = protobuf_c_message_unpack(m->request, NULL, GRPC_SLICE_LENGTH(in),
                                                      GRPC_SLICE_START_PTR(in));
    grpc_slice_unref(in);
    if (!req) {
        rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT, "request does not decode as %s",
                  m->request->name);
        return;
    }
    char text[2048];
    rpc_log_format(req, text, sizeof(text));
    log_info("rpc", "%s %s", path, text);
    double t0 = now_ms();
    ProtobufCMessage *resp = m->handler(c, req, m->ctx);
    protobuf_c_message_free_unpacked(req, NULL);
    if (resp) {
        size_t len = protobuf_c_message_get_packed_size(resp);
        grpc_slice out = grpc_slice_malloc(len);
        protobuf_c_message_pack(resp, GRPC_SLICE_START_PTR(out));
        cc->send_buf = grpc_raw_byte_buffer_create(&out, 1);
        grpc_slice_unref(out);
        c->code = GRPC_STATUS_OK;
        rpc_log_format(resp, text, sizeof(text));
        log_info("rpc", "%s -> OK in %.0f ms%s%s: %s", path, now_ms() - t0, c->note[0] ? "; " : "",
                 c->note, text);
    } else {
        if (c->code == GRPC_STATUS_OK)
            rpc_error(c, GRPC_STATUS_INTERNAL, "handler returned no response");
        log_info("rpc", "%s -> %s in %.0f ms%s%s: %s", path, rpc_status_name(c->code),
                 now_ms() - t0, c->note[0] ? "; " : "", c->note, c->message);
    }
}

static void start_send(struct call_ctx *cc, bool received)
{
    char path[256];
    size_t mlen = GRPC_SLICE_LENGTH(cc->details.method);
    if (mlen >= sizeof(path))
        mlen = sizeof(path) - 1;
    memcpy(path, GRPC_SLICE_START_PTR(cc->details.method), mlen);
    path[mlen] = '\0';

    struct rpc_call c = {.method = path};
    run_call(cc, path, received, &c);

    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (cc->send_buf) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = cc->send_buf;
    }
    cc->status_details = grpc_slice_from_copied_string(c.code == GRPC_STATUS_OK ? "" : c.message);
    cc->have_status_details = true;
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = c.code;
    ops[n++].data.send_status_from_server.status_details = &cc->status_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &cc->cancelled;
    arena_free(&c.arena); /* the response is packed into send_buf already */
    cc->state = CS_SENDING;
    if (grpc_call_start_batch(cc->call, ops, n, cc, NULL) != GRPC_CALL_OK)
        ctx_free(cc);
}

static void *worker_main(void *arg)
{
    struct rpc_server *s = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        if (ev.tag == &s->shutdown_tag) {
            pthread_mutex_lock(&s->mu);
            s->shutdown_done = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        struct call_ctx *cc = ev.tag;
        switch (cc->state) {
        case CS_REQUESTED:
            if (!ev.success) { /* the server is shutting down */
                ctx_free(cc);
                break;
            }
            post_request(s);
            start_receive(cc);
            break;
        case CS_RECEIVING:
            start_send(cc, ev.success);
            break;
        case CS_SENDING:
            ctx_free(cc);
            break;
        }
    }
    return NULL;
}

static int take_lock(struct rpc_server *s, const char *sock_path, char *err, size_t errlen)
{
    snprintf(s->lock_path, sizeof(s->lock_path), "%s.lock", sock_path);
    s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0) {
        snprintf(err, errlen, "cannot open lock file %s: %s", s->lock_path, strerror(errno));
        return -1;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen,
                 "another tandem-csi is serving %s (it holds %s); refusing to steal its socket",
                 sock_path, s->lock_path);
        close(s->lock_fd);
        s->lock_fd = -1;
        return -1;
    }
    return 0;
}

struct rpc_server *rpc_server_start(const char *endpoint, const struct rpc_method *methods,
                                    size_t n_methods, unsigned workers, char *err, size_t errlen)
{
    char addr[4200], path[4200];
    if (rpc_endpoint_parse(endpoint, addr, sizeof(addr), path, sizeof(path), err, errlen) < 0)
        return NULL;
    struct rpc_server *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->lock_fd = -1;
    s->methods = methods;
    s->n_methods = n_methods;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (path[0] && take_lock(s, path, err, errlen) < 0) {
        free(s);
        return NULL;
    }
    s->cq = grpc_completion_queue_create_for_next(NULL);
    s->server = grpc_server_create(NULL, NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(s->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
        snprintf(err, errlen, "cannot listen on %s (%s)", endpoint, addr);
        grpc_server_destroy(s->server);
        grpc_completion_queue_shutdown(s->cq);
        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(s->cq);
        if (s->lock_fd >= 0)
            close(s->lock_fd);
        free(s);
        return NULL;
    }
    grpc_server_start(s->server);
    s->n_workers = workers < 1 ? 1 : workers > MAX_WORKERS ? MAX_WORKERS : workers;
    for (unsigned i = 0; i < s->n_workers; i++)
        pthread_create(&s->workers[i], NULL, worker_main, s);
    post_request(s);
    log_info("rpc", "serving %zu methods on %s with %u workers", n_methods, endpoint, s->n_workers);
    return s;
}

/* Waits until pred holds or deadline (CLOCK_REALTIME ms) passes; returns whether it holds. */
static bool wait_for(struct rpc_server *s, bool (*pred)(struct rpc_server *), unsigned ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    bool ok;
    while (!(ok = pred(s)))
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) {
            ok = pred(s);
            break;
        }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static bool all_done(struct rpc_server *s)
{
    return s->shutdown_done && s->live_calls == 0;
}

void rpc_server_stop(struct rpc_server *s, unsigned grace_ms)
{
    pthread_mutex_lock(&s->mu);
    s->shutting_down = true;
    pthread_mutex_unlock(&s->mu);
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    if (!wait_for(s, all_done, grace_ms)) {
        log_info("rpc", "cancelling calls still running after %u ms", grace_ms);
        grpc_server_cancel_all_calls(s->server);
        /* Handlers are not interruptible; wait for them (each has its own bounded timeouts). */
        while (!wait_for(s, all_done, 60000))
            log_warn("rpc", "still waiting for %u calls to finish", s->live_calls);
    }
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    for (unsigned i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    grpc_completion_queue_destroy(s->cq);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* the lock file stays: unlinking it would let two instances lock
                              different files of the same name */
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    log_info("rpc", "server stopped");
}
