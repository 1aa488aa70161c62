/* Reading fields of the store's JSON documents (tandem-store.json, manifests) with defaults,
 * so a missing or mistyped field becomes a value the caller's validation rejects. */
#ifndef TANDEM_SHIP_JSON_FIELD_H
#define TANDEM_SHIP_JSON_FIELD_H

#include <json-c/json.h>
#include <stdint.h>

static inline const char *json_field_str(struct json_object *j, const char *k, const char *def)
{
    struct json_object *v;
    return json_object_object_get_ex(j, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : def;
}

static inline uint64_t json_field_u64(struct json_object *j, const char *k, uint64_t def)
{
    struct json_object *v;
    return json_object_object_get_ex(j, k, &v) ? json_object_get_uint64(v) : def;
}

static inline int64_t json_field_i64(struct json_object *j, const char *k, int64_t def)
{
    struct json_object *v;
    return json_object_object_get_ex(j, k, &v) ? json_object_get_int64(v) : def;
}

#endif
