/* Volume registry. The table is small (volumes per node), so it is a plain array searched by
 * name. Disk work (creating or removing files) happens outside the mutex where possible, so a
 * slow create never stalls a client's handshake on the reactor for longer than a lookup. */
#include "vol/registry.h"

#include "store/snapshot.h"

#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

bool volume_name_valid(const char *name)
{
    return store_name_valid(name, VOLUME_NAME_MAX);
}

static struct vol_entry *find(struct registry *r, const char *name)
{
    for (unsigned i = 0; i < r->n; i++)
        if (strcmp(r->entries[i]->name, name) == 0)
            return r->entries[i];
    return NULL;
}

static int add_entry(struct registry *r, struct vol_entry *e)
{
    if (r->n == r->cap) {
        unsigned cap = r->cap ? r->cap * 2 : 16;
        struct vol_entry **p = realloc(r->entries, cap * sizeof(*p));
        if (!p)
            return -1;
        r->entries = p;
        r->cap = cap;
    }
    r->entries[r->n++] = e;
    return 0;
}

static void free_entry(struct vol_entry *e)
{
    if (e->vol.snaps) {
        snapset_close(e->vol.snaps);
        free(e->vol.snaps);
    }
    if (!e->broken)
        replica_close(e->vol.rep);
    free(e->dir);
    free(e->broken_reason);
    free(e);
}

/* Opens <volumes_dir>/<name>; a failure makes a broken entry rather than an error. */
static struct vol_entry *load_entry(struct registry *r, const char *name)
{
    struct vol_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    snprintf(e->name, sizeof(e->name), "%s", name);
    if (asprintf(&e->dir, "%s/%s", r->volumes_dir, name) < 0) {
        free(e);
        return NULL;
    }
    struct replica *rep;
    char err[512];
    if (replica_open(e->dir, r->cache, &rep, err, sizeof(err)) < 0) {
        e->broken = true;
        e->broken_reason = strdup(err);
        log_error("store", "volume %s is unusable: %s", name, err);
        return e;
    }
    if (strcmp(rep->sb.name, name) != 0)
        log_warn("store", "volume directory %s holds a superblock named \"%s\"", e->dir,
                 rep->sb.name);
    vol_init(&e->vol, rep, r->eng, r->pool);
    struct snapset *ss = calloc(1, sizeof(*ss));
    if (!ss || snapset_open(ss, e->dir, rep->sb.size, rep->direct, r->eng, err, sizeof(err)) < 0) {
        /* Serving without the snapshot state would let writes change the snapshots' images. */
        if (!ss)
            snprintf(err, sizeof(err), "out of memory");
        free(ss);
        replica_close(rep);
        e->broken = true;
        if (asprintf(&e->broken_reason, "snapshot state: %s", err) < 0)
            e->broken_reason = NULL;
        log_error("store", "volume %s is unusable: snapshot state: %s", name, err);
        return e;
    }
    e->vol.snaps = ss;
    return e;
}

int registry_open(struct registry *r, const char *data_dir, enum cache_mode cache,
                  struct io_engine *eng, struct bufpool *pool, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->cache = cache;
    r->eng = eng;
    r->pool = pool;
    if (asprintf(&r->volumes_dir, "%s/volumes", data_dir) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (mkdir(r->volumes_dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", r->volumes_dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(r->volumes_dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", r->volumes_dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", r->volumes_dir, n);
        size_t len = strlen(n);
        /* Leftovers of interrupted creates and deletes: neither was ever a live volume. */
        if ((len > 9 && strcmp(n + len - 9, ".creating") == 0) ||
            strncmp(n, ".deleting.", 10) == 0) {
            log_info("store", "removing leftover %s", path);
            remove_tree(path);
            continue;
        }
        if (!volume_name_valid(n)) {
            log_warn("store", "ignoring %s: not a volume name", path);
            continue;
        }
        struct vol_entry *e = load_entry(r, n);
        if (!e || add_entry(r, e) < 0) {
            closedir(d);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (!e->broken)
            log_info("store", "volume %s: %llu bytes, %s", n,
                     (unsigned long long)e->vol.rep->sb.size,
                     e->vol.rep->direct ? "O_DIRECT" : "page cache");
    }
    closedir(d);
    return 0;
}

void registry_close(struct registry *r)
{
    for (unsigned i = 0; i < r->n; i++)
        free_entry(r->entries[i]);
    free(r->entries);
    free(r->volumes_dir);
    pthread_mutex_destroy(&r->lock);
}

int registry_create(struct registry *r, const char *name, uint64_t size, char *err, size_t errlen)
{
    return registry_create_ex(r, name, size, NULL, NULL, NULL, err, errlen);
}

int registry_create_ex(struct registry *r, const char *name, uint64_t size, const uint8_t *uuid,
                       replica_prepare_fn prepare, void *ctx, char *err, size_t errlen)
{
    if (!volume_name_valid(name)) {
        snprintf(err, errlen, "invalid volume name \"%s\": use 1-63 letters, digits, '.', '_', '-'",
                 name);
        errno = EINVAL;
        return -1;
    }
    const uint32_t bs = 4096;
    if (size == 0 || size % bs) {
        snprintf(err, errlen, "invalid size %llu: must be a positive multiple of %u bytes",
                 (unsigned long long)size, bs);
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&r->lock);
    struct vol_entry *old = find(r, name);
    pthread_mutex_unlock(&r->lock);
    if (old) {
        if (old->broken)
            snprintf(err, errlen, "volume %s already exists (unusable: %s)", name,
                     old->broken_reason);
        else
            snprintf(err, errlen, "volume %s already exists", name);
        errno = EEXIST;
        return -1;
    }
    /* Only the control thread creates, so no one can create the same name in between; the
     * O_EXCL-style checks in replica_create back that up. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", r->volumes_dir, name);
    char why[512];
    if (replica_create(dir, name, size, bs, uuid, prepare, ctx, why, sizeof(why)) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create volume %s: %s", name, why);
        errno = e;
        return -1;
    }
    struct vol_entry *e = load_entry(r, name);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    if (e->broken) {
        snprintf(err, errlen, "created volume %s but cannot open it: %s", name, e->broken_reason);
    }
    pthread_mutex_lock(&r->lock);
    int rc = add_entry(r, e);
    pthread_mutex_unlock(&r->lock);
    if (rc < 0) {
        free_entry(e);
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    if (e->broken) {
        errno = EIO;
        return -1;
    }
    log_info("ctl", "created volume %s (%llu bytes)", name, (unsigned long long)size);
    return 0;
}

int registry_delete(struct registry *r, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->lock);
    struct vol_entry *e = find(r, name);
    if (!e) {
        pthread_mutex_unlock(&r->lock);
        snprintf(err, errlen, "no volume named %s", name);
        errno = ENOENT;
        return -1;
    }
    if (e->vol.snaps && snapset_pinned(e->vol.snaps)) {
        pthread_mutex_unlock(&r->lock);
        snprintf(err, errlen, "volume %s has a snapshot being shipped; cancel or wait for it",
                 name);
        errno = EBUSY;
        return -1;
    }
    if (e->attached) {
        unsigned n = e->attached;
        pthread_mutex_unlock(&r->lock);
        snprintf(err, errlen, "volume %s is in use by %u client%s; disconnect them first", name, n,
                 n == 1 ? "" : "s");
        errno = EBUSY;
        return -1;
    }
    for (unsigned i = 0; i < r->n; i++)
        if (r->entries[i] == e) {
            r->entries[i] = r->entries[--r->n];
            break;
        }
    pthread_mutex_unlock(&r->lock);
    /* Rename first: the delete is then atomic for anyone looking, and a crash in the middle of
     * removing a large file leaves a ".deleting." leftover that start-up finishes. */
    char gone[PATH_MAX];
    snprintf(gone, sizeof(gone), "%s/.deleting.%s.%ld", r->volumes_dir, name, (long)time(NULL));
    int rc = rename(e->dir, gone);
    if (rc == 0) {
        fsync_dir(r->volumes_dir);
        remove_tree(gone);
    } else {
        snprintf(err, errlen, "cannot remove %s: %s", e->dir, strerror(errno));
    }
    free_entry(e);
    if (rc == 0)
        log_info("ctl", "deleted volume %s", name);
    return rc;
}

/* The servable entry of that name, or NULL with the reason a client is told. Lock held. */
static struct vol_entry *find_servable(struct registry *r, const char *name, char *err,
                                       size_t errlen)
{
    struct vol_entry *e = find(r, name);
    if (!e)
        snprintf(err, errlen, "no volume named \"%s\" on this node", name);
    else if (e->broken)
        snprintf(err, errlen, "volume %s is unusable: %s", name, e->broken_reason);
    return e && !e->broken ? e : NULL;
}

struct volume *registry_attach(struct registry *r, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->lock);
    struct vol_entry *e = find_servable(r, name, err, errlen);
    if (e)
        e->attached++;
    pthread_mutex_unlock(&r->lock);
    return e ? &e->vol : NULL;
}

struct vol_entry *registry_lookup(struct registry *r, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->lock);
    struct vol_entry *e = find_servable(r, name, err, errlen);
    pthread_mutex_unlock(&r->lock);
    return e;
}

void registry_detach(struct registry *r, struct volume *v)
{
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < r->n; i++)
        if (&r->entries[i]->vol == v) {
            r->entries[i]->attached--;
            break;
        }
    pthread_mutex_unlock(&r->lock);
}

int registry_peek(struct registry *r, const char *name, uint64_t *size, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->lock);
    struct vol_entry *e = find_servable(r, name, err, errlen);
    if (e)
        *size = e->vol.rep->sb.size;
    pthread_mutex_unlock(&r->lock);
    return e ? 0 : -1;
}

void registry_each_name(struct registry *r, void (*fn)(const char *name, void *ctx), void *ctx)
{
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < r->n; i++)
        if (!r->entries[i]->broken)
            fn(r->entries[i]->name, ctx);
    pthread_mutex_unlock(&r->lock);
}

static struct json_object *entry_json(const struct vol_entry *e, bool detail)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(e->name));
    if (e->broken) {
        json_object_object_add(o, "state", json_object_new_string("broken"));
        json_object_object_add(o, "error", json_object_new_string(e->broken_reason));
        return o;
    }
    const struct replica *rep = e->vol.rep;
    char uuid[37];
    uuid_format(rep->sb.uuid, uuid);
    json_object_object_add(o, "state", json_object_new_string("ready"));
    json_object_object_add(o, "size", json_object_new_uint64(rep->sb.size));
    json_object_object_add(o, "uuid", json_object_new_string(uuid));
    json_object_object_add(o, "clients", json_object_new_int((int)e->attached));
    if (!detail)
        return o;
    json_object_object_add(o, "block_size", json_object_new_int((int)rep->sb.block_size));
    json_object_object_add(o, "allocated", json_object_new_uint64(replica_allocated_bytes(rep)));
    json_object_object_add(o, "cache", json_object_new_string(rep->direct ? "none" : "writeback"));
    json_object_object_add(o, "path", json_object_new_string(e->dir));
    json_object_object_add(o, "created", json_object_new_uint64(rep->sb.created));
    const struct vol_stats *s = &e->vol.stats;
    struct json_object *st = json_object_new_object();
    json_object_object_add(st, "reads", json_object_new_uint64(atomic_load(&s->reads)));
    json_object_object_add(st, "writes", json_object_new_uint64(atomic_load(&s->writes)));
    json_object_object_add(st, "flushes", json_object_new_uint64(atomic_load(&s->flushes)));
    json_object_object_add(st, "trims", json_object_new_uint64(atomic_load(&s->trims)));
    json_object_object_add(st, "write_zeroes", json_object_new_uint64(atomic_load(&s->zeroes)));
    json_object_object_add(st, "errors", json_object_new_uint64(atomic_load(&s->errors)));
    json_object_object_add(st, "bytes_read", json_object_new_uint64(atomic_load(&s->bytes_read)));
    json_object_object_add(st, "bytes_written",
                           json_object_new_uint64(atomic_load(&s->bytes_written)));
    json_object_object_add(st, "unaligned", json_object_new_uint64(atomic_load(&s->unaligned)));
    json_object_object_add(o, "io", st);
    return o;
}

struct json_object *registry_list_json(struct registry *r)
{
    struct json_object *arr = json_object_new_array();
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < r->n; i++)
        json_object_array_add(arr, entry_json(r->entries[i], false));
    pthread_mutex_unlock(&r->lock);
    return arr;
}

struct json_object *registry_status_json(struct registry *r, const char *name)
{
    pthread_mutex_lock(&r->lock);
    struct vol_entry *e = find(r, name);
    struct json_object *o = e ? entry_json(e, true) : NULL;
    pthread_mutex_unlock(&r->lock);
    if (!o)
        errno = ENOENT;
    return o;
}
