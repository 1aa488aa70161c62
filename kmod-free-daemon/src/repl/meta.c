/* Replication metadata file. JSON because it is small, rarely written and read by humans
 * debugging a cluster; u64 ids are hex strings so no JSON reader rounds them. */
#include "repl/meta.h"

#include "store/replica.h"
#include "util/json_reply.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define META_FILE "replication.json"

const char *role_name(enum repl_role r)
{
    return r == ROLE_PRIMARY ? "primary" : "secondary";
}

const char *disk_state_name(enum disk_state d)
{
    switch (d) {
    case DISK_UPTODATE:
        return "UpToDate";
    case DISK_OUTDATED:
        return "Outdated";
    case DISK_INCONSISTENT:
        return "Inconsistent";
    case DISK_DISKLESS:
        return "Diskless";
    }
    return "?";
}

int disk_state_parse(const char *s, enum disk_state *out)
{
    for (int d = DISK_UPTODATE; d <= DISK_DISKLESS; d++)
        if (strcmp(s, disk_state_name((enum disk_state)d)) == 0) {
            *out = (enum disk_state)d;
            return 0;
        }
    return -1;
}

uint64_t repl_random_u64(void)
{
    uint64_t v = 0;
    while (v == 0) /* 0 means "none" in generation fields */
        if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
            abort();
    return v;
}

void repl_meta_new_generation(struct repl_meta *m)
{
    m->history[1] = m->history[0];
    m->history[0] = m->current;
    m->current = repl_random_u64();
}

int repl_meta_save(const char *dir, const struct repl_meta *m, char *err, size_t errlen)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "format", json_object_new_int(1));
    json_object_object_add(o, "role", json_object_new_string(role_name(m->role)));
    json_object_object_add(o, "disk", json_object_new_string(disk_state_name(m->disk)));
    json_object_object_add(o, "current", json_hex_u64(m->current));
    json_object_object_add(o, "history0", json_hex_u64(m->history[0]));
    json_object_object_add(o, "history1", json_hex_u64(m->history[1]));
    json_object_object_add(
        o, "on_no_quorum",
        json_object_new_string(m->io_error_on_no_quorum ? "io-error" : "suspend"));
    struct json_object *arr = json_object_new_array();
    for (unsigned i = 0; i < m->n_members; i++) {
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "node", json_object_new_string(m->members[i].node));
        json_object_object_add(r, "addr", json_object_new_string(m->members[i].addr));
        json_object_object_add(r, "bitmap_base", json_hex_u64(m->members[i].bitmap_base));
        if (m->members[i].witness)
            json_object_object_add(r, "witness", json_object_new_boolean(1));
        json_object_array_add(arr, r);
    }
    json_object_object_add(o, "replicas", arr);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/" META_FILE ".tmp", dir);
    snprintf(path, sizeof(path), "%s/" META_FILE, dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    int rc = -1;
    if (fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 && close(fd) == 0) {
        fd = -1;
        if (rename(tmp, path) == 0 && fsync_dir(dir) == 0)
            rc = 0;
    }
    if (rc < 0) {
        snprintf(err, errlen, "saving %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    json_object_put(o);
    return rc;
}

int repl_meta_load(const char *dir, struct repl_meta *m, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/" META_FILE, dir);
    struct json_object *o = json_object_from_file(path);
    if (!o) {
        int e = access(path, F_OK) == 0 ? EINVAL : ENOENT;
        snprintf(err, errlen, "%s: %s", path, e == ENOENT ? "missing" : "not valid JSON");
        errno = e;
        return -1;
    }
    memset(m, 0, sizeof(*m));
    struct json_object *v, *arr;
    int rc = -1;
    if (!json_object_object_get_ex(o, "role", &v))
        goto bad;
    m->role = strcmp(json_object_get_string(v), "primary") == 0 ? ROLE_PRIMARY : ROLE_SECONDARY;
    if (!json_object_object_get_ex(o, "disk", &v) ||
        disk_state_parse(json_object_get_string(v), &m->disk) < 0)
        goto bad;
    m->current = json_get_hex_u64(o, "current");
    m->history[0] = json_get_hex_u64(o, "history0");
    m->history[1] = json_get_hex_u64(o, "history1");
    m->io_error_on_no_quorum = json_object_object_get_ex(o, "on_no_quorum", &v) &&
                               strcmp(json_object_get_string(v), "io-error") == 0;
    if (!json_object_object_get_ex(o, "replicas", &arr) ||
        !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) < 1 ||
        json_object_array_length(arr) > REPL_MAX_REPLICAS)
        goto bad;
    m->n_members = (unsigned)json_object_array_length(arr);
    for (unsigned i = 0; i < m->n_members; i++) {
        struct json_object *r = json_object_array_get_idx(arr, i), *n, *a;
        if (!json_object_object_get_ex(r, "node", &n) || !json_object_object_get_ex(r, "addr", &a))
            goto bad;
        snprintf(m->members[i].node, sizeof(m->members[i].node), "%s", json_object_get_string(n));
        snprintf(m->members[i].addr, sizeof(m->members[i].addr), "%s", json_object_get_string(a));
        m->members[i].bitmap_base = json_get_hex_u64(r, "bitmap_base");
        m->members[i].witness =
            json_object_object_get_ex(r, "witness", &n) && json_object_get_boolean(n);
    }
    rc = 0;
bad:
    if (rc < 0) {
        snprintf(err, errlen, "%s: malformed replication metadata", path);
        errno = EINVAL;
    }
    json_object_put(o);
    return rc;
}
