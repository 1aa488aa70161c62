/* Volume health from volume.status (contract in health.h). */
#include "health.h"

#include "ctl_client.h"

#include <stdio.h>
#include <string.h>

static bool get_bool(struct json_object *o, const char *key, bool dflt)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
        return dflt;
    return json_object_get_boolean(v);
}

bool health_from_status(struct json_object *vol, char *msg, size_t len)
{
    struct json_object *reps;
    if (!json_object_object_get_ex(vol, "replicas", &reps) ||
        !json_object_is_type(reps, json_type_array)) {
        snprintf(msg, len, "one replica (no redundancy), %s",
                 ctl_str(vol, "state") ? ctl_str(vol, "state") : "?");
        return strcmp(ctl_str(vol, "state") ? ctl_str(vol, "state") : "", "ready") != 0;
    }
    const char *disk = ctl_str(vol, "disk");
    if (disk && strcmp(disk, "UpToDate") != 0) {
        snprintf(msg, len, "the local replica's disk is %s", disk);
        return true;
    }
    if (get_bool(vol, "split_brain", false)) {
        snprintf(msg, len,
                 "split brain: replicas diverged; an operator must choose (tandemctl "
                 "volume resolve)");
        return true;
    }
    if (!get_bool(vol, "quorum", true)) {
        snprintf(msg, len, "no quorum: fewer than a majority of the replicas are connected");
        return true;
    }
    if (get_bool(vol, "suspended_writes", false)) {
        snprintf(msg, len, "writes are suspended");
        return true;
    }
    size_t n = json_object_array_length(reps), pos = 0;
    bool bad = false;
    msg[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        struct json_object *r = json_object_array_get_idx(reps, i);
        const char *conn = ctl_str(r, "connection") ? ctl_str(r, "connection") : "?";
        const char *node = ctl_str(r, "node") ? ctl_str(r, "node") : "?";
        const char *zone = ctl_str(r, "zone") ? ctl_str(r, "zone") : "?";
        long long oos = ctl_int(r, "out_of_sync_bytes");
        if (strcmp(conn, "local") == 0)
            continue;
        if (strcmp(conn, "Connected") != 0) {
            pos += (size_t)snprintf(msg + pos, pos < len ? len - pos : 0, "%sreplica %s (%s) is %s",
                                    bad ? "; " : "", node, zone, conn);
            bad = true;
        } else if (oos > 0) {
            pos += (size_t)snprintf(msg + pos, pos < len ? len - pos : 0,
                                    "%sreplica %s (%s) is resyncing, %lld bytes behind",
                                    bad ? "; " : "", node, zone, oos);
            bad = true;
        }
    }
    if (!bad)
        snprintf(msg, len, "%zu replicas in sync", n);
    return bad;
}

bool health_of(const char *control, const char *volume, char *msg, size_t len)
{
    struct json_object *q = json_object_new_object(), *vol;
    json_object_object_add(q, "op", json_object_new_string("volume.status"));
    json_object_object_add(q, "name", json_object_new_string(volume));
    char err[256];
    struct json_object *r = ctl_call(control, q, 5000, err, sizeof(err));
    json_object_put(q);
    bool abnormal = true;
    if (!r)
        snprintf(msg, len, "the local tandemd does not answer: %s", err);
    else if (!ctl_ok(r) || !json_object_object_get_ex(r, "volume", &vol))
        snprintf(msg, len, "tandemd: %s", ctl_str(r, "error") ? ctl_str(r, "error") : "?");
    else
        abnormal = health_from_status(vol, msg, len);
    json_object_put(r);
    return abnormal;
}
