/* What content source each volume was created from (contract in controller.h), for
 * CreateVolume's idempotency check: the spec wants a second CreateVolume of the same name with
 * another volume_content_source to be ALREADY_EXISTS, and tandemd's volume metadata has no room
 * for it (size, replicas and witness, the other facts checked, come from the daemons).
 *
 * Kept in STATE_DIR/source-VOLUME, one text: "none", "snapshot ID" or "volume ID", written
 * (atomically, state_record.h) before the volume is created (a crash after the create leaves the
 * record, not a volume without one), removed when the create fails and at DeleteVolume. Like the
 * publish records it is a cache for this check only: a volume without a record (made before there
 * were records, or the controller pod's state dir was lost) is taken to match any source. */
#include "controller.h"
#include "state_record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SOURCE_DESC_MAX 2048

static bool record_name(const struct csi_plugin *pl, const char *vol, char *out, size_t len)
{
    return state_record_name(pl, out, len, "source", vol, NULL);
}

/* "none", "snapshot ID" or "volume ID"; false if the id does not fit. */
static bool describe(const Csi__V1__VolumeContentSource *src, char *out, size_t len)
{
    int n;
    if (src && src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_SNAPSHOT)
        n = snprintf(out, len, "snapshot %s", src->snapshot ? src->snapshot->snapshot_id : "");
    else if (src && src->type_case == CSI__V1__VOLUME_CONTENT_SOURCE__TYPE_VOLUME)
        n = snprintf(out, len, "volume %s", src->volume ? src->volume->volume_id : "");
    else
        n = snprintf(out, len, "none");
    return n >= 0 && (size_t)n < len;
}

static const char *shown(const char *desc)
{
    return strcmp(desc, "none") == 0 ? "no content source" : desc;
}

int source_record_save(struct rpc_call *c, const struct csi_plugin *pl, const char *vol,
                       const Csi__V1__VolumeContentSource *src)
{
    char name[STATE_RECORD_NAME_MAX], want[SOURCE_DESC_MAX];
    if (!record_name(pl, vol, name, sizeof(name)))
        return 0; /* no state dir: no check */
    if (!describe(src, want, sizeof(want))) {
        rpc_error(c, GRPC_STATUS_INVALID_ARGUMENT,
                  "CreateVolume: volume_content_source id longer than %d bytes",
                  SOURCE_DESC_MAX - 16);
        return -1;
    }
    if (state_record_write(pl, name, want) < 0) {
        rpc_error(c, GRPC_STATUS_INTERNAL, "cannot write %s/%s: %s", pl->state_dir, name,
                  strerror(errno));
        return -1;
    }
    return 0;
}

void source_record_drop(const struct csi_plugin *pl, const char *vol)
{
    char name[STATE_RECORD_NAME_MAX];
    if (record_name(pl, vol, name, sizeof(name)))
        state_record_drop(pl, name);
}

int source_record_check(struct rpc_call *c, const struct csi_plugin *pl, const char *vol,
                        const Csi__V1__VolumeContentSource *src)
{
    char name[STATE_RECORD_NAME_MAX], want[SOURCE_DESC_MAX], had[SOURCE_DESC_MAX + 1];
    if (!record_name(pl, vol, name, sizeof(name)) || !state_record_read(pl, name, had, sizeof(had)))
        return 0; /* no record: nothing to hold the request against */
    if (!describe(src, want, sizeof(want)) || strcmp(had, want) != 0) {
        rpc_error(c, GRPC_STATUS_ALREADY_EXISTS,
                  "CreateVolume: volume %s exists, created from %s, not from %s", vol, shown(had),
                  shown(want));
        return -1;
    }
    return 0;
}
