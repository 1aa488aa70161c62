/* tandemd's control API across the network with mutual TLS (csi/README.md, "Reaching the
 * daemons"): the node plugin serves a bridge from a TLS port to its local tandemd's Unix control
 * socket, and the controller calls it. Both ends present certificates from one CA (TLS 1.3,
 * repl/tls.c: the same certificates tandemd's peers use), and each checks the other's name: the
 * controller that the bridge's certificate is issued for the node id it dialed, the bridge that
 * the client's is issued for the controller's name (--control-peer). Nothing else is accepted:
 * no plain TCP, no certificate from another CA, no other name.
 *
 * Contract:
 *  - ctl_tls_init() loads the certificate, key and CA once at start-up (both modes). -1 + err.
 *  - ctl_tls_call(): one request/reply like ctl_call() on "tls://NAME@HOST:PORT" (NAME: the
 *    name the server's certificate must carry; cluster.c fills it in from the nodes file's node
 *    id). Blocking, bounded by timeout_ms for the connect, handshake and exchange. Thread-safe.
 *  - ctl_tls_bridge_start() listens on HOST:PORT and serves each connection on a thread of its
 *    own: requests (JSON lines up to 64 KiB) are forwarded one by one to the local control
 *    endpoint with ctl_call() and the replies written back. A connection idle for 10 s is
 *    dropped. -1 + err if it cannot listen. */
#ifndef TANDEM_CSI_CTL_TLS_H
#define TANDEM_CSI_CTL_TLS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

int ctl_tls_init(const char *cert, const char *key, const char *ca, char *err, size_t errlen);
bool ctl_tls_ready(void);
struct json_object *ctl_tls_call(const char *endpoint, struct json_object *req, int timeout_ms,
                                 char *err, size_t errlen);
int ctl_tls_bridge_start(const char *listen, const char *peer_name, const char *local_control,
                         char *err, size_t errlen);

#endif
