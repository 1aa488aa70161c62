/* json-c helpers: one definition of the control API's answer shapes. */
#include "util/json_reply.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>

struct json_object *json_reply_ok(void)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(1));
    return o;
}

struct json_object *json_reply_fail(const char *code, const char *msg)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(0));
    json_object_object_add(o, "code", json_object_new_string(code));
    json_object_object_add(o, "error", json_object_new_string(msg));
    return o;
}

struct json_object *json_hex_u64(uint64_t v)
{
    char b[20];
    snprintf(b, sizeof(b), "%016llx", (unsigned long long)v);
    return json_object_new_string(b);
}

uint64_t json_get_hex_u64(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    return strtoull(json_object_get_string(v), NULL, 16);
}

const char *json_reply_code(int err)
{
    switch (err) {
    case ENOENT:
        return "not_found";
    case EEXIST:
        return "exists";
    case EBUSY:
        return "busy";
    case EINVAL:
        return "invalid";
    case ENOSPC:
    case EFBIG:
        return "no_space";
    default:
        return "internal";
    }
}
