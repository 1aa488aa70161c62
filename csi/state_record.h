/* The controller's small records in the plugin's state dir: what a publish was asked for
 * (published-VOLUME@NODE) and what a volume was created from (source-VOLUME). They back the
 * spec's ALREADY_EXISTS checks, which nothing in the daemons remembers. A record is a cache
 * for those checks, not the truth: a missing one means "no check".
 *
 * Contract:
 *  - state_record_name() builds KIND-KEY or KIND-KEY@SUB; false (no record kept) when the
 *    plugin has no state dir, or KEY or SUB is empty or holds a '/'.
 *  - Writes are atomic and durable (util/atomic_file.h): a crash leaves the old text or the new,
 *    never a truncated record that a later check would hold a request against.
 *  - Blocking file I/O; callers hold the volume's lock. */
#ifndef TANDEM_CSI_STATE_RECORD_H
#define TANDEM_CSI_STATE_RECORD_H

#include "plugin.h"

#include <stdbool.h>
#include <stddef.h>

#define STATE_RECORD_NAME_MAX 512

bool state_record_name(const struct csi_plugin *pl, char *out, size_t len, const char *kind,
                       const char *key, const char *sub);
/* The record's text (without a trailing newline) into buf; false if there is none. */
bool state_record_read(const struct csi_plugin *pl, const char *name, char *buf, size_t len);
/* 0, or -1 with errno set. */
int state_record_write(const struct csi_plugin *pl, const char *name, const char *text);
void state_record_drop(const struct csi_plugin *pl, const char *name);
/* Drops every record whose name starts with prefix (all publishes of a volume). */
void state_record_drop_prefix(const struct csi_plugin *pl, const char *prefix);

#endif
