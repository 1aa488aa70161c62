/* Control op volume.expand {name, size}: grows a volume online (proto/control-api.md). Growing
 * to the current size succeeds (the op is idempotent, as CSI retries need); shrinking is refused.
 * A replicated volume grows on every replica (repl/rexpand.c); a local one here, with the volume
 * frozen so no write is in flight while the size changes. */
#include "ctl/ctl_server.h"
#include "ctl/expand_ctl.h"

#include "util/json_reply.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct expand_job {
    struct reactor_job *job;
    struct volume *v;
    uint64_t size;
};

static void quiesced(void *ctx)
{
    struct expand_job *x = ctx;
    char err[512];
    struct json_object *res;
    if (vol_grow(x->v, x->size, err, sizeof(err)) < 0) {
        res = json_reply_fail(errno == ENOSPC ? "no_space" : "internal", err);
    } else {
        log_info("ctl", "volume %s grown to %llu bytes", x->v->rep->sb.name,
                 (unsigned long long)x->size);
        res = json_reply_ok();
    }
    vol_thaw(x->v);
    reactor_call_finish(x->job, res);
    free(x);
}

static void start(struct reactor_job *job)
{
    struct expand_job *x = calloc(1, sizeof(*x));
    if (!x) {
        reactor_call_finish(job, json_reply_fail("internal", "out of memory"));
        return;
    }
    struct json_object *v;
    x->job = job;
    x->v = &((struct vol_entry *)job->arg)->vol;
    x->size = json_object_object_get_ex(job->in, "size", &v) ? json_object_get_uint64(v) : 0;
    vol_freeze(x->v, quiesced, x);
}

struct json_object *expand_ctl(struct registry *reg, const struct ctl_node_info *info,
                               struct json_object *req)
{
    struct json_object *nv, *sv;
    if (!json_object_object_get_ex(req, "name", &nv) || !json_object_is_type(nv, json_type_string))
        return json_reply_fail("invalid", "volume.expand needs \"name\"");
    if (!json_object_object_get_ex(req, "size", &sv) || !json_object_is_type(sv, json_type_int) ||
        json_object_get_int64(sv) <= 0)
        return json_reply_fail("invalid", "volume.expand needs a positive integer \"size\"");
    const char *name = json_object_get_string(nv);
    uint64_t size = (uint64_t)json_object_get_int64(sv);
    char err[512];
    struct vol_entry *e = registry_lookup(reg, name, err, sizeof(err));
    if (!e)
        return json_reply_fail(strstr(err, "unusable") ? "internal" : "not_found", err);
    uint64_t cur = e->vol.rep->sb.size;
    if (size % e->vol.rep->sb.block_size) {
        snprintf(err, sizeof(err), "size %llu is not a multiple of the %u-byte block",
                 (unsigned long long)size, e->vol.rep->sb.block_size);
        return json_reply_fail("invalid", err);
    }
    if (size < cur) {
        snprintf(err, sizeof(err), "volume %s is %llu bytes; shrinking is not supported", name,
                 (unsigned long long)cur);
        return json_reply_fail("invalid", err);
    }
    if (e->vol.repl)
        return repl_expand_ctl(info->repl, name, size);
    if (size == cur)
        return json_reply_ok();
    return reactor_call_copy(info->rq, start, e, req, 30000);
}
