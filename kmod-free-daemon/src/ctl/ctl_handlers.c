/* Control API handlers: validate the request, call the registry, shape the answer. Every error
 * carries a machine-readable code next to the human message, so scripts and tandem-csi can map
 * errors (not_found -> NOT_FOUND, exists -> ALREADY_EXISTS) without parsing sentences. */
#include "ctl/ctl_server.h"
#include "ctl/expand_ctl.h"
#include "ctl/snap_ctl.h"

#include "util/json_reply.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

static const char *code_of(int err)
{
    return json_reply_code(err);
}

static const char *get_string(struct json_object *req, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static struct json_object *volume_create(struct registry *reg, struct json_object *req)
{
    const char *name = get_string(req, "name");
    struct json_object *sz;
    if (!name)
        return json_reply_fail("invalid", "volume.create needs \"name\"");
    if (!json_object_object_get_ex(req, "size", &sz) || !json_object_is_type(sz, json_type_int) ||
        json_object_get_int64(sz) <= 0)
        return json_reply_fail("invalid",
                               "volume.create needs a positive integer \"size\" in bytes");
    char err[768];
    if (registry_create(reg, name, (uint64_t)json_object_get_int64(sz), err, sizeof(err)) < 0)
        return json_reply_fail(code_of(errno), err);
    struct json_object *o = json_reply_ok();
    json_object_object_add(o, "volume", registry_status_json(reg, name));
    return o;
}

static struct json_object *volume_delete(struct registry *reg, struct json_object *req)
{
    const char *name = get_string(req, "name");
    if (!name)
        return json_reply_fail("invalid", "volume.delete needs \"name\"");
    char err[768];
    if (registry_delete(reg, name, err, sizeof(err)) < 0)
        return json_reply_fail(code_of(errno), err);
    return json_reply_ok();
}

static struct json_object *volume_status(struct registry *reg, struct json_object *req)
{
    const char *name = get_string(req, "name");
    if (!name)
        return json_reply_fail("invalid", "volume.status needs \"name\"");
    struct json_object *v = registry_status_json(reg, name);
    if (!v) {
        char msg[128];
        snprintf(msg, sizeof(msg), "no volume named %s", name);
        return json_reply_fail("not_found", msg);
    }
    struct json_object *o = json_reply_ok();
    json_object_object_add(o, "volume", v);
    return o;
}

/* Space on the filesystem holding the volumes: what tandem-csi places volumes and answers
 * GetCapacity by. Volume files are sparse, so this is what their data can still fill. */
static struct json_object *capacity_json(const struct registry *reg)
{
    struct statvfs st;
    if (statvfs(reg->volumes_dir, &st) < 0)
        return NULL;
    struct json_object *c = json_object_new_object();
    json_object_object_add(c, "total_bytes",
                           json_object_new_int64((int64_t)((uint64_t)st.f_blocks * st.f_frsize)));
    json_object_object_add(c, "free_bytes",
                           json_object_new_int64((int64_t)((uint64_t)st.f_bavail * st.f_frsize)));
    return c;
}

static struct json_object *node_status(const struct registry *reg, const struct ctl_node_info *info)
{
    struct json_object *o = json_reply_ok(), *n = json_object_new_object();
    json_object_object_add(n, "node", json_object_new_string(info->node));
    json_object_object_add(n, "zone", json_object_new_string(info->zone));
    json_object_object_add(n, "io_engine", json_object_new_string(info->io_engine));
    json_object_object_add(n, "cache", json_object_new_string(info->cache));
    json_object_object_add(n, "nbd", json_object_new_string(info->nbd_address));
    json_object_object_add(n, "version", json_object_new_string(info->version));
    struct json_object *cap = capacity_json(reg);
    if (cap)
        json_object_object_add(n, "capacity", cap);
    json_object_object_add(o, "node", n);
    return o;
}

struct json_object *ctl_handle(struct registry *reg, const struct ctl_node_info *info,
                               struct json_object *req)
{
    const char *op = get_string(req, "op");
    if (!op)
        return json_reply_fail("invalid", "request needs an \"op\" string");
    struct json_object *reps;
    bool replicated = json_object_object_get_ex(req, "replicas", &reps);
    if (info->repl && ((strcmp(op, "volume.create") == 0 && replicated) ||
                       strcmp(op, "volume.promote") == 0 || strcmp(op, "volume.demote") == 0 ||
                       strcmp(op, "volume.status") == 0 || strcmp(op, "volume.delete") == 0 ||
                       strcmp(op, "volume.verify") == 0 || strcmp(op, "volume.resolve") == 0)) {
        if (!get_string(req, "name"))
            return json_reply_fail("invalid", "this op needs \"name\"");
        return repl_ctl(info->repl, op, req);
    }
    if (strcmp(op, "volume.promote") == 0 || strcmp(op, "volume.demote") == 0 ||
        strcmp(op, "volume.verify") == 0 || strcmp(op, "volume.resolve") == 0)
        return json_reply_fail("invalid", "volume has no replicas");
    if (strcmp(op, "volume.create") == 0)
        return volume_create(reg, req);
    if (strcmp(op, "volume.delete") == 0)
        return volume_delete(reg, req);
    if (strcmp(op, "volume.status") == 0)
        return volume_status(reg, req);
    if (strcmp(op, "volume.list") == 0) {
        struct json_object *o = json_reply_ok();
        json_object_object_add(o, "volumes", registry_list_json(reg));
        return o;
    }
    if (strcmp(op, "node.status") == 0)
        return node_status(reg, info);
    if (strcmp(op, "volume.expand") == 0)
        return expand_ctl(reg, info, req);
    if (strncmp(op, "snapshot.", 9) == 0)
        return snap_ctl(reg, info, op, req);
    char msg[160];
    snprintf(msg, sizeof(msg), "unknown op \"%.100s\"", op);
    return json_reply_fail("invalid", msg);
}
