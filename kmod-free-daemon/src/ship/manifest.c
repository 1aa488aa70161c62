/* Manifest JSON through json-c. Segment ids are hex strings (null for a segment of holes): a
 * 1 TiB volume's manifest is 16384 ids, about 1 MiB of text, 32 bytes per 64 MiB. */
#include "ship/manifest.h"

#include "ship/json_field.h"
#include "ship/par.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_SUFFIX ".manifest"

void manifest_key(const char *volume, const char *snapshot, char *out, size_t cap)
{
    snprintf(out, cap, "volumes/%s/snapshots/%s%s", volume, snapshot, MANIFEST_SUFFIX);
}

void manifest_free(struct manifest *m)
{
    free(m->segs);
    m->segs = NULL;
}

static void add_u64(struct json_object *j, const char *k, uint64_t v)
{
    json_object_object_add(j, k, json_object_new_uint64(v));
}

int manifest_put(const struct repo *r, const struct manifest *m, const struct manifest *base,
                 size_t *written, char *err, size_t errlen)
{
    struct json_object *j = json_object_new_object();
    json_object_object_add(j, "format", json_object_new_string("tandem-snapshot-manifest"));
    json_object_object_add(j, "version", json_object_new_int(1));
    json_object_object_add(j, "volume", json_object_new_string(m->volume));
    json_object_object_add(j, "volume_uuid", json_object_new_string(m->volume_uuid));
    json_object_object_add(j, "snapshot", json_object_new_string(m->snapshot));
    add_u64(j, "seq", m->seq);
    json_object_object_add(j, "created", json_object_new_int64(m->created));
    json_object_object_add(j, "shipped", json_object_new_int64(m->shipped));
    add_u64(j, "size", m->size);
    add_u64(j, "chunk_size", m->chunk_size);
    add_u64(j, "segment_size", m->segment_size);
    add_u64(j, "base_seq", base ? base->seq : 0);
    json_object_object_add(j, "base_snapshot", json_object_new_string(base ? base->snapshot : ""));
    char hex[65];
    hex_encode(m->image_hash, 32, hex);
    json_object_object_add(j, "image_hash", json_object_new_string(hex));
    json_object_object_add(j, "image_hash_alg", json_object_new_string("tandem-tree-sha256-v1"));
    struct json_object *segs = json_object_new_array_ext((int)m->nseg);
    struct json_object *changed = json_object_new_array();
    for (uint64_t i = 0; i < m->nseg; i++) {
        if (blob_id_zero(m->segs[i])) {
            json_object_array_add(segs, NULL);
        } else {
            hex_encode(m->segs[i], 32, hex);
            json_object_array_add(segs, json_object_new_string(hex));
        }
        if (!base || i >= base->nseg || memcmp(base->segs[i], m->segs[i], 32) != 0)
            json_object_array_add(changed, json_object_new_uint64(i));
    }
    json_object_object_add(j, "segments", segs);
    json_object_object_add(j, "changed_segments", changed);
    struct json_object *st = json_object_new_object();
    add_u64(st, "bytes_read", m->stat_bytes_read);
    add_u64(st, "bytes_uploaded", m->stat_bytes_uploaded);
    add_u64(st, "chunks_new", m->stat_chunks_new);
    add_u64(st, "chunks_reused", m->stat_chunks_reused);
    add_u64(st, "objects_written", m->stat_objects);
    json_object_object_add(j, "stats", st);
    const char *text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
    char key[512];
    manifest_key(m->volume, m->snapshot, key, sizeof(key));
    int rc;
    if (r->crypt.encrypted) {
        size_t slen = 0;
        uint8_t *sealed = repo_seal_named(r, key, text, strlen(text), true, &slen);
        rc = sealed ? backend_put(r->be, key, sealed, slen, err, errlen) : -ENOMEM;
        free(sealed);
        *written = slen;
    } else {
        rc = backend_put(r->be, key, text, strlen(text), err, errlen);
        *written = strlen(text);
    }
    json_object_put(j);
    return rc;
}

static int parse(struct manifest *m, const char *text, const char *key, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    struct json_object *j = json_tokener_parse(text), *segs;
    if (!j || strcmp(json_field_str(j, "format", ""), "tandem-snapshot-manifest") != 0 ||
        json_field_u64(j, "version", 0) != 1 || !json_object_object_get_ex(j, "segments", &segs) ||
        !json_object_is_type(segs, json_type_array)) {
        snprintf(err, errlen, "%s: not a snapshot manifest this tool reads", key);
        json_object_put(j);
        return -EINVAL;
    }
    snprintf(m->volume, sizeof(m->volume), "%s", json_field_str(j, "volume", ""));
    snprintf(m->volume_uuid, sizeof(m->volume_uuid), "%s", json_field_str(j, "volume_uuid", ""));
    snprintf(m->snapshot, sizeof(m->snapshot), "%s", json_field_str(j, "snapshot", ""));
    snprintf(m->base_snapshot, sizeof(m->base_snapshot), "%s",
             json_field_str(j, "base_snapshot", ""));
    m->seq = json_field_u64(j, "seq", 0);
    m->base_seq = json_field_u64(j, "base_seq", 0);
    m->size = json_field_u64(j, "size", 0);
    m->created = (int64_t)json_field_u64(j, "created", 0);
    m->shipped = (int64_t)json_field_u64(j, "shipped", 0);
    m->chunk_size = (uint32_t)json_field_u64(j, "chunk_size", 0);
    m->segment_size = json_field_u64(j, "segment_size", 0);
    struct json_object *st;
    if (json_object_object_get_ex(j, "stats", &st)) {
        m->stat_bytes_read = json_field_u64(st, "bytes_read", 0);
        m->stat_bytes_uploaded = json_field_u64(st, "bytes_uploaded", 0);
        m->stat_chunks_new = json_field_u64(st, "chunks_new", 0);
        m->stat_chunks_reused = json_field_u64(st, "chunks_reused", 0);
        m->stat_objects = json_field_u64(st, "objects_written", 0);
    }
    int rc = 0;
    m->nseg = json_object_array_length(segs);
    uint64_t want = m->segment_size ? (m->size + m->segment_size - 1) / m->segment_size : 0;
    m->segs = calloc(m->nseg ? m->nseg : 1, sizeof(*m->segs));
    if (!m->segs || m->nseg != want || m->chunk_size == 0 ||
        hex_decode(json_field_str(j, "image_hash", ""), m->image_hash, 32) != 0)
        rc = -EINVAL;
    for (uint64_t i = 0; rc == 0 && i < m->nseg; i++) {
        struct json_object *s = json_object_array_get_idx(segs, i);
        if (s && hex_decode(json_object_get_string(s), m->segs[i], 32) != 0)
            rc = -EINVAL;
    }
    if (rc) {
        snprintf(err, errlen, "%s: malformed manifest", key);
        manifest_free(m);
    }
    json_object_put(j);
    return rc;
}

int manifest_load(const struct repo *r, const char *volume, const char *snapshot,
                  struct manifest *m, char *err, size_t errlen)
{
    char key[512];
    manifest_key(volume, snapshot, key, sizeof(key));
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc = backend_get(r->be, key, 0, 0, &raw, &len, err, errlen);
    if (rc == -ENOENT) {
        snprintf(err, errlen, "%s: no snapshot %s of volume %s (%s missing)", backend_url(r->be),
                 snapshot, volume, key);
        return rc;
    }
    if (rc)
        return rc;
    if (r->crypt.encrypted) {
        uint8_t *plain = NULL;
        size_t plen = 0;
        if (repo_open_named(r, key, raw, len, 64u << 20, &plain, &plen) != 0) {
            free(raw);
            snprintf(err, errlen, "%s: manifest does not open (corrupt, or another key)", key);
            return -EINVAL;
        }
        free(raw);
        raw = plain;
    }
    rc = parse(m, (const char *)raw, key, err, errlen);
    free(raw);
    if (rc == 0 && (strcmp(m->volume, volume) != 0 || strcmp(m->snapshot, snapshot) != 0)) {
        snprintf(err, errlen, "%s: names volume %s snapshot %s", key, m->volume, m->snapshot);
        manifest_free(m);
        rc = -EINVAL;
    }
    return rc;
}

struct listing {
    struct snap_ref *refs;
    size_t n, cap;
};

static int note(const struct backend_obj *o, void *arg)
{
    struct listing *l = arg;
    char vol[256], snap[256];
    const char *k = o->key;
    if (strncmp(k, "volumes/", 8) != 0)
        return 0;
    const char *v = k + 8, *s = strstr(v, "/snapshots/");
    if (!s || (size_t)(s - v) >= sizeof(vol))
        return 0;
    snprintf(vol, sizeof(vol), "%.*s", (int)(s - v), v);
    s += strlen("/snapshots/");
    size_t sl = strlen(s), suf = strlen(MANIFEST_SUFFIX);
    if (sl <= suf || sl - suf >= sizeof(snap) || strcmp(s + sl - suf, MANIFEST_SUFFIX) != 0)
        return 0;
    snprintf(snap, sizeof(snap), "%.*s", (int)(sl - suf), s);
    if (!repo_name_ok(vol) || !repo_name_ok(snap))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        struct snap_ref *nr = realloc(l->refs, cap * sizeof(*nr));
        if (!nr)
            return -1;
        l->refs = nr;
        l->cap = cap;
    }
    snprintf(l->refs[l->n].volume, sizeof(l->refs[l->n].volume), "%s", vol);
    snprintf(l->refs[l->n].snapshot, sizeof(l->refs[l->n].snapshot), "%s", snap);
    l->n++;
    return 0;
}

int manifest_list(const struct repo *r, const char *volume, struct snap_ref **refs, size_t *n,
                  char *err, size_t errlen)
{
    char prefix[256];
    if (volume)
        snprintf(prefix, sizeof(prefix), "volumes/%s/snapshots/", volume);
    else
        snprintf(prefix, sizeof(prefix), "volumes/");
    struct listing l = {0};
    int rc = backend_list(r->be, prefix, note, &l, err, errlen);
    if (rc) {
        free(l.refs);
        return rc;
    }
    *refs = l.refs;
    *n = l.n;
    return 0;
}

struct load_all {
    const struct repo *r;
    struct snap_ref *refs;
    struct manifest *ms;
};

static int load_one(size_t i, void *arg, int worker, char *err, size_t errlen)
{
    (void)worker;
    struct load_all *l = arg;
    int rc = manifest_load(l->r, l->refs[i].volume, l->refs[i].snapshot, &l->ms[i], err, errlen);
    if (rc == -ENOENT) { /* pruned since the listing */
        memset(&l->ms[i], 0, sizeof(l->ms[i]));
        return 0;
    }
    return rc;
}

static int by_volume_seq(const void *a, const void *b)
{
    const struct manifest *x = a, *y = b;
    int c = strcmp(x->volume, y->volume);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int manifest_load_all(const struct repo *r, const char *volume, struct manifest **ms, size_t *n,
                      char *err, size_t errlen)
{
    struct snap_ref *refs = NULL;
    size_t nr = 0;
    int rc = manifest_list(r, volume, &refs, &nr, err, errlen);
    if (rc)
        return rc;
    struct load_all l = {r, refs, calloc(nr ? nr : 1, sizeof(struct manifest))};
    if (!l.ms) {
        free(refs);
        return -ENOMEM;
    }
    rc = par_run(nr, 8, load_one, &l, err, errlen);
    free(refs);
    if (rc) {
        manifest_free_all(l.ms, nr);
        return rc;
    }
    size_t k = 0; /* drop the ones that vanished */
    for (size_t i = 0; i < nr; i++)
        if (l.ms[i].volume[0])
            l.ms[k++] = l.ms[i];
    qsort(l.ms, k, sizeof(*l.ms), by_volume_seq);
    *ms = l.ms;
    *n = k;
    return 0;
}

void manifest_free_all(struct manifest *ms, size_t n)
{
    for (size_t i = 0; ms && i < n; i++)
        manifest_free(&ms[i]);
    free(ms);
}
