#include "ship/condemn.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int condemned_add(struct condemned *c, const char *pack_id, int64_t since)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        void *ni = realloc(c->ids, cap * sizeof(*c->ids));
        if (!ni)
            return -ENOMEM;
        c->ids = ni;
        void *ns = realloc(c->since, cap * sizeof(*c->since));
        if (!ns)
            return -ENOMEM;
        c->since = ns;
        c->cap = cap;
    }
    snprintf(c->ids[c->n], sizeof(c->ids[c->n]), "%s", pack_id);
    c->since[c->n++] = since;
    return 0;
}

long condemned_find(const struct condemned *c, const char *pack_id)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->ids[i], pack_id) == 0)
            return (long)i;
    return -1;
}

void condemned_free(struct condemned *c)
{
    free(c->ids);
    free(c->since);
    memset(c, 0, sizeof(*c));
}

int condemned_load(const struct repo *r, struct condemned *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc = backend_get(r->be, CONDEMNED_KEY, 0, 0, &raw, &len, err, errlen);
    if (rc == -ENOENT)
        return 0;
    if (rc)
        return rc;
    struct json_object *j = json_tokener_parse((const char *)raw), *packs;
    free(raw);
    if (!j || !json_object_object_get_ex(j, "packs", &packs) ||
        !json_object_is_type(packs, json_type_object)) {
        json_object_put(j);
        snprintf(err, errlen, "%s is malformed", CONDEMNED_KEY);
        return -EINVAL;
    }
    json_object_object_foreach(packs, k, v)
    {
        if (strlen(k) == PACK_ID_HEX && (rc = condemned_add(c, k, json_object_get_int64(v))))
            break;
    }
    json_object_put(j);
    return rc;
}

int condemned_save(const struct repo *r, const struct condemned *c, char *err, size_t errlen)
{
    struct json_object *j = json_object_new_object(), *packs = json_object_new_object();
    json_object_object_add(j, "format", json_object_new_string("tandem-condemned-packs"));
    for (size_t i = 0; i < c->n; i++)
        json_object_object_add(packs, c->ids[i], json_object_new_int64(c->since[i]));
    json_object_object_add(j, "packs", packs);
    const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY);
    int rc = backend_put(r->be, CONDEMNED_KEY, text, strlen(text), err, errlen);
    json_object_put(j);
    return rc;
}
