/* tandem-csi: the CSI plugin for Tandem. One binary, two modes:
 *   --mode controller  Identity + Controller: placement, publish (primary role), snapshots;
 *                      reaches every node's tandemd through the nodes file (csi/cluster.h).
 *   --mode node        Identity + Node: attach the local tandemd's export as a block device,
 *                      format, mount, bind into pods.
 * Signals: SIGTERM/SIGINT stop the server cleanly (calls in flight get a grace period). */
#include "plugin.h"
#include "ctl_tls.h"

#include "util/log.h"
#include "version.h"

#include <getopt.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_METHODS 64

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tandem-csi --mode controller|node --endpoint unix:///csi/csi.sock\n"
            "                  --node-id ID [--zone ZONE] [--workers N] [--verbose]\n"
            "  controller: --nodes FILE         node-id, control endpoint, peer address per line\n"
            "              [--state-dir DIR]    scratch space for restores (default /tmp)\n"
            "              [--tls-cert F --tls-key F --tls-ca F]  for tls:// control endpoints\n"
            "  node:       --tandem-control PATH  the local tandemd's control socket\n"
            "              [--state-dir DIR]    attachment records, FUSE mounts\n"
            "                                   (default /var/lib/tandem-csi)\n"
            "              [--attach auto|nbd|fuse]  kernel NBD, or nbdfuse+loop where the\n"
            "                                   kernel has no nbd driver (auto: whichever works)\n"
            "              [--control-listen HOST:PORT --tls-cert F --tls-key F --tls-ca F\n"
            "               [--control-peer NAME]]  serve the local control API with mutual\n"
            "                                   TLS to the controller named NAME (default\n"
            "                                   tandem-csi-controller)\n");
}

int main(int argc, char **argv)
{
    static struct csi_plugin plugin = {.zone = "", .attach_mode = "auto"};
    const char *mode = NULL, *endpoint = NULL, *nodes_file = NULL;
    const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL, *control_listen = NULL;
    const char *control_peer = "tandem-csi-controller";
    unsigned workers = 4;
    bool verbose = false;
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"endpoint", required_argument, NULL, 'e'},
        {"node-id", required_argument, NULL, 'n'},
        {"zone", required_argument, NULL, 'z'},
        {"nodes", required_argument, NULL, 'N'},
        {"tandem-control", required_argument, NULL, 'c'},
        {"state-dir", required_argument, NULL, 's'},
        {"attach", required_argument, NULL, 'a'},
        {"workers", required_argument, NULL, 'w'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"tls-ca", required_argument, NULL, 'A'},
        {"control-listen", required_argument, NULL, 'L'},
        {"control-peer", required_argument, NULL, 'P'},
        {"verbose", no_argument, NULL, 'v'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            mode = optarg;
            break;
        case 'e':
            endpoint = optarg;
            break;
        case 'n':
            plugin.node_id = optarg;
            break;
        case 'z':
            plugin.zone = optarg;
            break;
        case 'N':
            nodes_file = optarg;
            break;
        case 'c':
            plugin.tandem_control = optarg;
            break;
        case 's':
            plugin.state_dir = optarg;
            break;
        case 'a':
            plugin.attach_mode = optarg;
            break;
        case 'w':
            workers = (unsigned)atoi(optarg);
            break;
        case 'C':
            tls_cert = optarg;
            break;
        case 'K':
            tls_key = optarg;
            break;
        case 'A':
            tls_ca = optarg;
            break;
        case 'L':
            control_listen = optarg;
            break;
        case 'P':
            control_peer = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'V':
            printf("tandem-csi %s (%s)\n", TANDEM_VERSION, CSI_DRIVER_NAME);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!mode || !endpoint || !plugin.node_id ||
        (strcmp(mode, "controller") != 0 && strcmp(mode, "node") != 0)) {
        fprintf(stderr, "tandem-csi: --mode controller|node, --endpoint and --node-id are "
                        "required\n");
        usage(stderr);
        return 2;
    }
    log_init("tandem-csi", verbose ? LOG_DEBUG : LOG_INFO);
    plugin.mode = strcmp(mode, "node") == 0 ? MODE_NODE : MODE_CONTROLLER;
    char err[1024];
    if (tls_cert || tls_key || tls_ca) {
        if (!tls_cert || !tls_key || !tls_ca) {
            fprintf(stderr, "tandem-csi: --tls-cert, --tls-key and --tls-ca go together\n");
            return 2;
        }
        if (ctl_tls_init(tls_cert, tls_key, tls_ca, err, sizeof(err)) < 0) {
            fprintf(stderr, "tandem-csi: %s\n", err);
            return 2;
        }
    }
    const struct rpc_method *node_or_ctl;
    size_t n_extra;
    if (plugin.mode == MODE_CONTROLLER) {
        if (!nodes_file) {
            fprintf(stderr, "tandem-csi: --mode controller needs --nodes FILE\n");
            return 2;
        }
        if (cluster_load(&plugin.cluster, nodes_file, err, sizeof(err)) < 0) {
            fprintf(stderr, "tandem-csi: %s\n", err);
            return 2;
        }
        if (!plugin.state_dir)
            plugin.state_dir = "/tmp";
        for (size_t i = 0; i < plugin.cluster.n; i++)
            if (strncmp(plugin.cluster.nodes[i].control, "tls://", 6) == 0 && !ctl_tls_ready()) {
                fprintf(stderr,
                        "tandem-csi: node %s's control endpoint is tls://: --tls-cert, "
                        "--tls-key and --tls-ca are needed\n",
                        plugin.cluster.nodes[i].id);
                return 2;
            }
        node_or_ctl = controller_methods;
        n_extra = controller_methods_n;
    } else {
        if (!plugin.tandem_control) {
            fprintf(stderr, "tandem-csi: --mode node needs --tandem-control PATH\n");
            return 2;
        }
        if (strcmp(plugin.attach_mode, "auto") != 0 && strcmp(plugin.attach_mode, "nbd") != 0 &&
            strcmp(plugin.attach_mode, "fuse") != 0) {
            fprintf(stderr, "tandem-csi: --attach must be auto, nbd or fuse\n");
            return 2;
        }
        if (!plugin.state_dir)
            plugin.state_dir = "/var/lib/tandem-csi";
        if (control_listen && !ctl_tls_ready()) {
            fprintf(stderr, "tandem-csi: --control-listen needs --tls-cert, --tls-key and "
                            "--tls-ca\n");
            return 2;
        }
        node_or_ctl = node_methods;
        n_extra = node_methods_n;
    }
    csi_plugin = &plugin;
    static struct rpc_method methods[MAX_METHODS];
    size_t n = 0;
    for (size_t i = 0; i < identity_methods_n; i++)
        methods[n++] = identity_methods[i];
    for (size_t i = 0; i < n_extra && n < MAX_METHODS; i++)
        methods[n++] = node_or_ctl[i];

    /* gRPC's threads must inherit a mask without SIGTERM/SIGINT, so sigwait() gets them */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* after the mask: the bridge's threads must not take SIGTERM either */
    if (plugin.mode == MODE_NODE && control_listen &&
        ctl_tls_bridge_start(control_listen, control_peer, plugin.tandem_control, err,
                             sizeof(err)) < 0) {
        log_error("main", "%s", err);
        return 1;
    }
    grpc_init();
    struct rpc_server *srv = rpc_server_start(endpoint, methods, n, workers, err, sizeof(err));
    if (!srv) {
        log_error("main", "%s", err);
        grpc_shutdown_blocking();
        return 1;
    }
    log_info("main", "tandem-csi %s: %s mode, node %s%s%s", TANDEM_VERSION, mode, plugin.node_id,
             plugin.zone[0] ? ", zone " : "", plugin.zone);
    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("main", "signal %d: shutting down", sig);
    rpc_server_stop(srv, 5000);
    grpc_shutdown_blocking();
    return 0;
}
