/* Control API ops on snapshots (proto/control-api.md): snapshot.create, snapshot.list,
 * snapshot.delete, snapshot.ship, snapshot.export, snapshot.copy; and the background jobs that
 * ship, export or copy (ctl/snap_copy.c: into an NBD export) a snapshot image.
 *
 * Contract:
 *  - snap_ctl() runs on the control thread. Work that must happen at a write boundary runs on
 *    the reactor (util/reactor_call.h); shipping, exporting and copying run on a thread per
 *    job, which pins the snapshot (it cannot be deleted meanwhile) and reads it with
 *    snapshot_read().
 *  - A job's state is visible in snapshot.list while it runs and after it ends; the outcome of
 *    the last ship of a snapshot is also kept in its directory (ship.json), so it survives a
 *    restart. At most one job per snapshot runs at a time.
 *  - snap_jobs_stop() cancels running jobs and joins their threads (shutdown). */
#ifndef TANDEM_CTL_SNAP_CTL_H
#define TANDEM_CTL_SNAP_CTL_H

#include "ctl/ctl_server.h"

#include <json-c/json.h>

struct json_object *snap_ctl(struct registry *reg, const struct ctl_node_info *info, const char *op,
                             struct json_object *req);
void snap_jobs_stop(void);

#endif
