/* Shared helpers for the CSI handlers (contract in plugin.h). */
#include "plugin.h"

#include <stdio.h>
#include <string.h>

struct csi_plugin *csi_plugin;

const char *pb_map_get_(void *const *entries, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        const struct pb_map_entry *e = entries[i];
        if (e->key && strcmp(e->key, key) == 0)
            return e->value ? e->value : "";
    }
    return NULL;
}

void **pb_map_build(struct arena *a, const ProtobufCMessageDescriptor *desc, const char *const *kv,
                    size_t pairs, size_t *n_out)
{
    void **arr = arena_alloc(a, sizeof(void *) * (pairs ? pairs : 1));
    size_t n = 0;
    for (size_t i = 0; i < pairs; i++) {
        if (!kv[2 * i + 1])
            continue; /* NULL value: leave the key out */
        struct pb_map_entry *e = arena_alloc(a, desc->sizeof_message);
        protobuf_c_message_init(desc, e);
        e->key = arena_strdup(a, kv[2 * i]);
        e->value = arena_strdup(a, kv[2 * i + 1]);
        arr[n++] = e;
    }
    *n_out = n;
    return arr;
}

Csi__V1__Topology *pb_zone_topology(struct arena *a, const char *zone)
{
    Csi__V1__Topology *t = arena_new(a, Csi__V1__Topology);
    csi__v1__topology__init(t);
    const char *kv[] = {CSI_TOPOLOGY_KEY, zone};
    t->segments = (Csi__V1__Topology__SegmentsEntry **)pb_map_build(
        a, &csi__v1__topology__segments_entry__descriptor, kv, 1, &t->n_segments);
    return t;
}

const char *pb_topology_zone(const Csi__V1__Topology *t)
{
    const char *zone = NULL;
    for (size_t i = 0; i < t->n_segments; i++) {
        if (strcmp(t->segments[i]->key, CSI_TOPOLOGY_KEY) != 0)
            return NULL;
        zone = t->segments[i]->value;
    }
    return zone;
}

int pb_check_capabilities(Csi__V1__VolumeCapability *const *caps, size_t n, char *why,
                          size_t whylen)
{
    if (n == 0) {
        snprintf(why, whylen, "volume_capabilities are required");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const Csi__V1__VolumeCapability *c = caps[i];
        if (!c->access_mode) {
            snprintf(why, whylen, "volume capability %zu has no access_mode", i);
            return -1;
        }
        if (c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE__NOT_SET) {
            snprintf(why, whylen, "volume capability %zu has neither block nor mount", i);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const Csi__V1__VolumeCapability *c = caps[i];
        switch (c->access_mode->mode) {
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER:
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY:
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER:
        case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER:
            break;
        default:
            /* one primary serves the volume; other nodes' replicas are not mountable */
            snprintf(why, whylen,
                     "access mode %d is not supported: a Tandem volume is served by one node at "
                     "a time",
                     (int)c->access_mode->mode);
            return 1;
        }
        if (c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT) {
            const char *fs = c->mount->fs_type;
            if (fs && fs[0] && strcmp(fs, "ext4") != 0 && strcmp(fs, "xfs") != 0) {
                snprintf(why, whylen, "filesystem %s is not supported (ext4 or xfs)", fs);
                return 1;
            }
        }
    }
    return 0;
}

static void *arena_pb_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
}

static void arena_pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* freed with the arena */
}

ProtobufCMessage *pb_copy(struct arena *a, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = arena_alloc(a, len + 1);
    protobuf_c_message_pack(m, buf);
    ProtobufCAllocator alloc = {arena_pb_alloc, arena_pb_free, a};
    return protobuf_c_message_unpack(m->descriptor, &alloc, len, buf);
}
