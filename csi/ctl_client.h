/* A client for tandemd's control API (proto/control-api.md): one JSON request, one JSON reply.
 *
 * Endpoint: "unix:/path", "unix:///path" or "/path" for the daemon's Unix socket, "tcp://HOST:PORT"
 * or "HOST:PORT" for a control API reached over TCP, "tls://NAME@HOST:PORT" for a node plugin's
 * mutual-TLS bridge whose certificate must be issued for NAME (ctl_tls.h).
 *
 * Contract: opens a connection per call (the daemon serves one request at a time per connection
 * anyway, and this keeps concurrent handlers independent). Blocks for at most timeout_ms.
 * Returns the parsed reply (caller owns it; it may say "ok": false), or NULL with a message in
 * err when the daemon cannot be reached or answers garbage. Thread-safe. */
#ifndef TANDEM_CSI_CTL_CLIENT_H
#define TANDEM_CSI_CTL_CLIENT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define CTL_CALL_TIMEOUT_MS 30000

struct json_object *ctl_call(const char *endpoint, struct json_object *req, int timeout_ms,
                             char *err, size_t errlen);

/* Helpers for reading replies: NULL / 0 / false when absent or of another type. */
const char *ctl_str(struct json_object *o, const char *key);
long long ctl_int(struct json_object *o, const char *key);
bool ctl_ok(struct json_object *reply);
/* The reply's "code" ("not_found", "exists", ...) or "" */
const char *ctl_code(struct json_object *reply);

#endif
