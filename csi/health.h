/* Volume health as kubelet's volume-health monitoring sees it (NodeGetVolumeStats'
 * volume_condition), read from the replicas' own status on this node's tandemd.
 *
 * Abnormal when the volume cannot give the redundancy it was made with, or cannot write:
 * the local disk not UpToDate (e.g. Diskless after an I/O error), no quorum, writes suspended,
 * split brain, a replica not connected, a replica still resyncing. The message names what and
 * who, so `kubectl describe pvc` says which zone is missing.
 *
 * Contract: blocking (one control-API call); message allocated in the arena. */
#ifndef TANDEM_CSI_HEALTH_H
#define TANDEM_CSI_HEALTH_H

#include "arena.h"

#include <json-c/json.h>
#include <stdbool.h>

/* From a volume.status object; pure, for tests and for health_of(). */
bool health_from_status(struct json_object *vol, char *msg, size_t len);
/* Asks the tandemd at control for volume's status; abnormal if it cannot be asked. */
bool health_of(const char *control, const char *volume, char *msg, size_t len);

#endif
