/* Small json-c helpers shared by the control API and the replication control jobs.
 *
 * Contract: every function returns a new object the caller owns (json_object_put). u64 ids are
 * written as 16 hex digits, because JSON readers commonly lose precision above 2^53. */
#ifndef TANDEM_UTIL_JSON_REPLY_H
#define TANDEM_UTIL_JSON_REPLY_H

#include <json-c/json.h>
#include <stdint.h>

/* {"ok": true} */
struct json_object *json_reply_ok(void);
/* {"ok": false, "code": code, "error": msg} (codes: proto/control-api.md) */
struct json_object *json_reply_fail(const char *code, const char *msg);
/* The control API's code for an errno (not_found, exists, busy, invalid, no_space, internal). */
const char *json_reply_code(int err);
struct json_object *json_hex_u64(uint64_t v);
/* The hex u64 under key, or 0 if absent. */
uint64_t json_get_hex_u64(struct json_object *o, const char *key);

#endif
