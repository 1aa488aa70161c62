/* tandemd: the per-node daemon. Holds the volumes in its data directory, serves them over NBD
 * and answers the control API.
 *
 * Threads: main runs the I/O reactor (NBD sockets, io engine completions, signals); the control
 * API has a thread of its own (ctl/ctl_server.h). Shutdown on SIGINT/SIGTERM is orderly: stop
 * accepting, answer every request in flight, flush every volume to stable storage, exit 0. */
#include "ctl/ctl_server.h"
#include "io/io_engine.h"
#include "nbd/nbd_server.h"
#include "util/bufpool.h"
#include "util/log.h"
#include "util/loop.h"
#include "util/reactor_call.h"
#include "version.h"
#include "vol/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENGINE_DEPTH 256

struct options {
    const char *data_dir, *node, *zone, *listen, *control, *nbd;
    const char *tls_cert, *tls_key, *tls_ca;
    unsigned resync_rate_mbps; /* 0: unlimited */
    bool resync_rate_set;
    enum io_engine_kind engine;
    enum cache_mode cache;
    unsigned handshake_timeout_ms;
    unsigned peer_timeout_ms;
    unsigned shutdown_grace_ms; /* 0: the NBD server's default (or its environment variable) */
    bool verbose;
};

struct daemon {
    struct loop loop;
    struct io_engine *eng;
    struct bufpool pool;
    struct registry reg;
    struct nbd_server nbd;
    struct loop_watch sig_watch, eng_watch;
    int sig_fd;
    bool stopping;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tandemd --data-dir DIR --node NAME [--zone ZONE] [--listen HOST:PORT]\n"
               "               [--control PATH] [--nbd PATH|HOST:PORT]\n"
               "               [--io-engine auto|io_uring|aio] [--cache none|writeback]\n"
               "               [--nbd-handshake-timeout SECONDS] [--nbd-shutdown-grace SECONDS]\n"
               "               [--peer-timeout SECONDS] [--resync-rate MB/s]\n"
               "               [--tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
               "               [--verbose]\n"
               "defaults: --control DIR/control.sock, --nbd DIR/nbd.sock, --io-engine auto, "
               "--cache none\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"node", required_argument, NULL, 'n'},
        {"zone", required_argument, NULL, 'z'},
        {"listen", required_argument, NULL, 'l'},
        {"control", required_argument, NULL, 'c'},
        {"nbd", required_argument, NULL, 'b'},
        {"io-engine", required_argument, NULL, 'e'},
        {"cache", required_argument, NULL, 'C'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"nbd-handshake-timeout", required_argument, NULL, 'H'},
        {"peer-timeout", required_argument, NULL, 'P'},
        {"nbd-shutdown-grace", required_argument, NULL, 'G'},
        {"tls-cert", required_argument, NULL, 'T'},
        {"tls-key", required_argument, NULL, 'K'},
        {"tls-ca", required_argument, NULL, 'A'},
        {"resync-rate", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->zone = "default";
    o->handshake_timeout_ms = 30000;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            o->data_dir = optarg;
            break;
        case 'n':
            o->node = optarg;
            break;
        case 'z':
            o->zone = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'c':
            o->control = optarg;
            break;
        case 'b':
            o->nbd = optarg;
            break;
        case 'e':
            if (io_engine_parse_kind(optarg, &o->engine) < 0) {
                fprintf(stderr, "tandemd: --io-engine must be auto, io_uring or aio (got %s)\n",
                        optarg);
                return -1;
            }
            break;
        case 'C':
            if (strcmp(optarg, "none") == 0)
                o->cache = CACHE_NONE;
            else if (strcmp(optarg, "writeback") == 0)
                o->cache = CACHE_WRITEBACK;
            else {
                fprintf(stderr, "tandemd: --cache must be none or writeback (got %s)\n", optarg);
                return -1;
            }
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'T':
            o->tls_cert = optarg;
            break;
        case 'K':
            o->tls_key = optarg;
            break;
        case 'A':
            o->tls_ca = optarg;
            break;
        case 'R': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || end == optarg || v > 100000) {
                fprintf(stderr,
                        "tandemd: --resync-rate wants MB/s, 0 (unlimited) to 100000 (got %s)\n",
                        optarg);
                return -1;
            }
            o->resync_rate_mbps = (unsigned)v;
            o->resync_rate_set = true;
            break;
        }
        case 'G': {
            char *end;
            double s = strtod(optarg, &end);
            if (*end || s <= 0 || s > 3600) {
                fprintf(stderr, "tandemd: --nbd-shutdown-grace wants seconds (got %s)\n", optarg);
                return -1;
            }
            o->shutdown_grace_ms = (unsigned)(s * 1000);
            break;
        }
        case 'P': {
            char *end;
            double s = strtod(optarg, &end);
            if (*end || s < 0.2 || s > 600) {
                fprintf(stderr, "tandemd: --peer-timeout wants seconds, 0.2-600 (got %s)\n",
                        optarg);
                return -1;
            }
            o->peer_timeout_ms = (unsigned)(s * 1000);
            break;
        }
        case 'H': {
            char *end;
            double s = strtod(optarg, &end);
            if (*end || s <= 0 || s > 3600) {
                fprintf(stderr, "tandemd: --nbd-handshake-timeout wants seconds (got %s)\n",
                        optarg);
                return -1;
            }
            o->handshake_timeout_ms = (unsigned)(s * 1000);
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("tandemd %s\n", TANDEM_VERSION);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tandemd: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    if ((o->tls_cert || o->tls_key || o->tls_ca) && !(o->tls_cert && o->tls_key && o->tls_ca)) {
        fprintf(stderr, "tandemd: TLS needs all of --tls-cert, --tls-key and --tls-ca\n");
        return -1;
    }
    if (o->tls_cert && !o->listen) {
        fprintf(stderr, "tandemd: --tls-* secure the peer listener: give --listen too\n");
        return -1;
    }
    if (!o->data_dir || !o->node) {
        fprintf(stderr, "tandemd: --data-dir and --node are required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static void on_engine(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    io_engine_reap(w->ctx);
}

static void engine_flush(void *ctx)
{
    io_engine_flush(ctx);
}

static void drained(void *ctx)
{
    struct daemon *d = ctx;
    /* All clients answered; the volumes' engine may still hold nothing. */
    loop_stop(&d->loop);
}

static void on_signal(struct loop *l, struct loop_watch *w, uint32_t events)
{
    (void)l;
    (void)events;
    struct daemon *d = w->ctx;
    struct signalfd_siginfo si;
    if (read(d->sig_fd, &si, sizeof(si)) != sizeof(si))
        return;
    if (d->stopping) {
        log_warn("tandemd", "second signal: exiting now");
        exit(1);
    }
    d->stopping = true;
    log_info("tandemd", "signal %u: shutting down (answering requests in flight)", si.ssi_signo);
    nbd_server_shutdown(&d->nbd, drained, d);
}

/* One daemon per data directory: a second one would corrupt the first one's volumes. */
static int lock_data_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/tandemd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "tandemd: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "tandemd: %s is in use by another tandemd (%s)\n", dir,
                errno == EWOULDBLOCK ? "lock held" : strerror(errno));
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0)
        log_warn("tandemd", "cannot record pid in %s", path);
    return fd;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    log_init("tandemd", o.verbose ? LOG_DEBUG : LOG_INFO);
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    /* Blocked before any thread starts (the aio engine's helper, the control thread), so every
     * thread inherits the mask and the signals arrive only through the signalfd. */
    pthread_sigmask(SIG_BLOCK, &mask, NULL);

    if (mkdir(o.data_dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "tandemd: cannot create %s: %s\n", o.data_dir, strerror(errno));
        return 1;
    }
    int lock_fd = lock_data_dir(o.data_dir);
    if (lock_fd < 0)
        return 1;

    char control_path[PATH_MAX], nbd_path[PATH_MAX], err[1024];
    snprintf(control_path, sizeof(control_path), "%s", o.control ? o.control : "");
    if (!o.control)
        snprintf(control_path, sizeof(control_path), "%s/control.sock", o.data_dir);
    if (o.nbd)
        snprintf(nbd_path, sizeof(nbd_path), "%s", o.nbd);
    else
        snprintf(nbd_path, sizeof(nbd_path), "%s/nbd.sock", o.data_dir);

    static struct daemon d;
    d.eng = io_engine_open(o.engine, ENGINE_DEPTH, err, sizeof(err));
    if (!d.eng) {
        fprintf(stderr, "tandemd: no usable io engine: %s\n", err);
        return 1;
    }
    log_info("tandemd", "node %s, zone %s, io engine %s, cache %s", o.node, o.zone,
             io_engine_name(d.eng), o.cache == CACHE_NONE ? "none (O_DIRECT)" : "writeback");
    bufpool_init(&d.pool);
    int r = loop_init(&d.loop);
    if (r < 0) {
        fprintf(stderr, "tandemd: event loop: %s\n", strerror(-r));
        return 1;
    }
    if (registry_open(&d.reg, o.data_dir, o.cache, d.eng, &d.pool, err, sizeof(err)) < 0) {
        fprintf(stderr, "tandemd: %s\n", err);
        return 1;
    }
    d.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (d.sig_fd < 0 || loop_add(&d.loop, &d.sig_watch, d.sig_fd, EPOLLIN, on_signal, &d) < 0 ||
        loop_add(&d.loop, &d.eng_watch, io_engine_fd(d.eng), EPOLLIN, on_engine, d.eng) < 0 ||
        loop_add_idle(&d.loop, engine_flush, d.eng) < 0) {
        fprintf(stderr, "tandemd: cannot set up the event loop\n");
        return 1;
    }
    if (nbd_server_start(&d.nbd, &d.loop, &d.reg, &d.pool, nbd_path, o.handshake_timeout_ms, err,
                         sizeof(err)) < 0) {
        fprintf(stderr, "tandemd: %s\n", err);
        return 1;
    }
    if (o.shutdown_grace_ms)
        d.nbd.shutdown_grace_ms = o.shutdown_grace_ms;
    struct reactor_queue rq;
    if (reactor_queue_init(&rq, &d.loop) < 0) {
        fprintf(stderr, "tandemd: cannot set up the event loop\n");
        return 1;
    }
    struct repl_config rc = {.node = o.node,
                             .zone = o.zone,
                             .listen = o.listen,
                             .peer_timeout_ms = o.peer_timeout_ms,
                             .tls_cert = o.tls_cert,
                             .tls_key = o.tls_key,
                             .tls_ca = o.tls_ca,
                             .resync_rate_mbps =
                                 o.resync_rate_set ? o.resync_rate_mbps : REPL_DEFAULT_RESYNC_MBPS};
    struct repl_node *repl =
        repl_node_create(&d.loop, &d.reg, d.eng, &d.pool, &rq, &rc, err, sizeof(err));
    if (!repl) {
        fprintf(stderr, "tandemd: %s\n", err);
        return 1;
    }
    struct ctl_node_info info = {.node = o.node,
                                 .zone = o.zone,
                                 .io_engine = io_engine_name(d.eng),
                                 .cache = o.cache == CACHE_NONE ? "none" : "writeback",
                                 .nbd_address = nbd_path,
                                 .version = TANDEM_VERSION,
                                 .repl = repl,
                                 .rq = &rq};
    struct ctl_server ctl;
    if (ctl_server_start(&ctl, control_path, &d.reg, &info, err, sizeof(err)) < 0) {
        fprintf(stderr, "tandemd: %s\n", err);
        return 1;
    }
    log_info("tandemd", "ready");
    r = loop_run(&d.loop);
    if (r < 0)
        log_error("tandemd", "event loop failed: %s", strerror(-r));

    ctl_server_stop(&ctl);
    nbd_server_close(&d.nbd);
    repl_node_destroy(repl);
    reactor_queue_destroy(&rq);
    /* Writes that completed in page-cache mode are made durable before we say goodbye. */
    for (unsigned i = 0; i < d.reg.n; i++)
        if (!d.reg.entries[i]->broken && fdatasync(d.reg.entries[i]->vol.rep->data_fd) < 0)
            log_error("tandemd", "volume %s: fdatasync: %s", d.reg.entries[i]->name,
                      strerror(errno));
    registry_close(&d.reg);
    loop_destroy(&d.loop);
    io_engine_close(d.eng);
    bufpool_destroy(&d.pool);
    close(d.sig_fd);
    close(lock_fd);
    log_info("tandemd", "stopped");
    return r < 0 ? 1 : 0;
}
