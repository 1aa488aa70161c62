/* Printing protobuf-c messages for the log, with secrets redacted.
 *
 * protoc-c drops the CSI spec's `csi_secret` field option, so the rule is applied here by field
 * name: every field the spec marks csi_secret is a map named "secrets", printed as the number of
 * keys only; `mount_flags` (which the spec says MAY carry sensitive values) is printed the same
 * way. This is the only place requests are turned into text, so nothing else can leak them.
 *
 * Contract: never allocates; output truncated to len (ending in "..."). Thread-safe. */
#ifndef TANDEM_CSI_RPC_LOG_H
#define TANDEM_CSI_RPC_LOG_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

void rpc_log_format(const ProtobufCMessage *m, char *buf, size_t len);
/* "NOT_FOUND", "INVALID_ARGUMENT", ... */
const char *rpc_status_name(grpc_status_code code);

#endif
