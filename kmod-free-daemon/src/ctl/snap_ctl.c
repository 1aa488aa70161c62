/* Snapshot control ops and the ship/export jobs. See ctl/snap_ctl.h. */
#include "ctl/snap_ctl.h"

#include "ctl/snap_copy.h"

#include "ship/ship.h"
#include "store/snapshot.h"
#include "util/atomic_file.h"
#include "util/json_reply.h"
#include "util/log.h"
#include "vol/vsnap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CREATE_TIMEOUT_MS 30000
#define EXPORT_BUF        (4u << 20)

enum job_kind { JOB_SHIP, JOB_EXPORT, JOB_COPY };

static const char *const kind_names[] = {"ship", "export", "copy"};
static const char *const kind_done[] = {"shipped", "exported", "copied"};

struct snap_job {
    enum job_kind kind;
    char volume[VOLUME_NAME_MAX + 1];
    char snapshot[SNAP_NAME_MAX + 1];
    struct vol_entry *entry;
    struct snapshot *snap;
    pthread_t thread;
    bool running, joined;
    atomic_bool cancel;
    struct ship_progress progress;
    /* inputs, owned */
    char *url, *endpoint, *region, *access_key, *secret_key, *session_token, *key_file, *path;
    bool full;
    /* outcome, under jobs_lock once running is false */
    int error;
    char message[512];
    int64_t started, finished;
    struct snap_job *next;
};

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snap_job *jobs;

static const char *get_string(struct json_object *req, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static bool get_bool(struct json_object *req, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(req, key, &v) && json_object_get_boolean(v);
}

static const char *code_of(int err)
{
    return json_reply_code(err);
}

static struct json_object *fail_errno(int err, const char *msg)
{
    return json_reply_fail(code_of(err), msg);
}

/* ---- create / delete on the reactor ---- */

struct rjob_ctx {
    struct reactor_job *job;
    struct vsnap_op op;
};

static struct json_object *snap_json(const struct snapshot *s)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(s->name));
    json_object_object_add(o, "seq", json_object_new_uint64(s->seq));
    json_object_object_add(o, "created", json_object_new_int64(s->created));
    json_object_object_add(o, "size", json_object_new_uint64(s->size));
    json_object_object_add(o, "cow_bytes", json_object_new_uint64(s->cow.count << SNAP_COW_SHIFT));
    return o;
}

static void op_done(struct vsnap_op *op)
{
    struct rjob_ctx *c = op->ctx;
    struct json_object *res;
    if (op->error) {
        res = fail_errno(op->error, op->err);
    } else {
        res = json_reply_ok();
        if (op->snap)
            json_object_object_add(res, "snapshot", snap_json(op->snap));
    }
    reactor_call_finish(c->job, res);
    free(c);
}

static void start_create(struct reactor_job *job)
{
    struct rjob_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        reactor_call_finish(job, json_reply_fail("internal", "out of memory"));
        return;
    }
    c->job = job;
    c->op.v = &((struct vol_entry *)job->arg)->vol;
    snprintf(c->op.name, sizeof(c->op.name), "%s", get_string(job->in, "name"));
    c->op.created = (int64_t)time(NULL);
    c->op.done = op_done;
    c->op.ctx = c;
    vsnap_create(&c->op);
}

static struct json_object *call_reactor(const struct ctl_node_info *info, reactor_job_fn fn,
                                        struct vol_entry *e, struct json_object *req)
{
    return reactor_call_copy(info->rq, fn, e, req, CREATE_TIMEOUT_MS);
}

/* ---- jobs ---- */

static struct snap_job *job_find(const char *volume, const char *snapshot)
{
    for (struct snap_job *j = jobs; j; j = j->next)
        if (strcmp(j->volume, volume) == 0 && strcmp(j->snapshot, snapshot) == 0)
            return j;
    return NULL;
}

static void job_free(struct snap_job *j)
{
    free(j->url);
    free(j->endpoint);
    free(j->region);
    free(j->access_key);
    if (j->secret_key) {
        memset(j->secret_key, 0, strlen(j->secret_key));
        free(j->secret_key);
    }
    free(j->session_token);
    free(j->key_file);
    free(j->path);
    free(j);
}

static int image_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct snap_job *j = ctx;
    return snapshot_read(j->entry->vol.snaps, j->snap, j->entry->vol.rep->data_fd, off, buf, len);
}

static int image_changed_since(void *ctx, uint64_t base_seq, struct ship_regions *out)
{
    struct snap_job *j = ctx;
    uint8_t *bits;
    uint64_t n;
    unsigned shift;
    if (snapset_changed_since(j->entry->vol.snaps, j->snap, base_seq, &bits, &n, &shift) < 0)
        return -errno;
    out->gran = 1ull << shift;
    out->n = n;
    out->bits = bits;
    return 0;
}

static bool all_zero(const void *buf, size_t len)
{
    const uint64_t *p = buf;
    for (size_t i = 0; i < len / 8; i++)
        if (p[i])
            return false;
    return true;
}

/* Writes the image to a local file, leaving holes where it reads zero. */
static int run_export(struct snap_job *j)
{
    int fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(j->message, sizeof(j->message), "open %s: %s", j->path, strerror(errno));
        return -errno;
    }
    void *buf = NULL;
    int rc = posix_memalign(&buf, 4096, EXPORT_BUF) ? -ENOMEM : 0;
    uint64_t size = j->snap->size;
    atomic_store(&j->progress.bytes_total, size);
    for (uint64_t off = 0; rc == 0 && off < size; off += EXPORT_BUF) {
        if (atomic_load(&j->cancel)) {
            rc = -ECANCELED;
            break;
        }
        size_t len = size - off < EXPORT_BUF ? (size_t)(size - off) : EXPORT_BUF;
        rc = image_read(j, off, buf, len);
        for (size_t b = 0; rc == 0 && b < len; b += 65536) {
            size_t bl = len - b < 65536 ? len - b : 65536;
            if (all_zero((char *)buf + b, bl))
                continue;
            if (pwrite(fd, (char *)buf + b, bl, (off_t)(off + b)) != (ssize_t)bl)
                rc = -(errno ? errno : EIO);
        }
        atomic_store(&j->progress.bytes_read, off + len);
    }
    free(buf);
    if (rc == 0 && (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0))
        rc = -errno;
    close(fd);
    if (rc < 0 && !j->message[0])
        snprintf(j->message, sizeof(j->message), "exporting to %s: %s", j->path, strerror(-rc));
    return rc;
}

static void save_ship_record(struct snap_job *j)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "state", json_object_new_string(j->error ? "failed" : "done"));
    json_object_object_add(o, "to", json_object_new_string(j->url));
    json_object_object_add(o, "finished", json_object_new_int64(j->finished));
    json_object_object_add(o, "base_seq",
                           json_object_new_uint64(atomic_load(&j->progress.base_seq)));
    json_object_object_add(o, "bytes_uploaded",
                           json_object_new_uint64(atomic_load(&j->progress.bytes_uploaded)));
    if (j->error)
        json_object_object_add(o, "error", json_object_new_string(j->message));
    const char *text = json_object_to_json_string(o);
    if (atomic_file_write(j->snap->dir, "ship.json", text, strlen(text)) < 0)
        log_warn("snap", "saving %s/ship.json: %s", j->snap->dir, strerror(errno));
    json_object_put(o);
}

static void *job_thread(void *arg)
{
    struct snap_job *j = arg;
    int rc;
    if (j->kind == JOB_EXPORT) {
        rc = run_export(j);
    } else if (j->kind == JOB_COPY) {
        rc = snap_copy_run(j->url, j->snap->size, image_read, j, &j->progress, &j->cancel,
                           j->message, sizeof(j->message));
    } else {
        char uuid[37];
        uuid_format(j->entry->vol.rep->sb.uuid, uuid);
        struct ship_params p = {.url = j->url,
                                .volume = j->volume,
                                .volume_uuid = uuid,
                                .snapshot = j->snapshot,
                                .seq = j->snap->seq,
                                .created = j->snap->created,
                                .full = j->full,
                                .store = {.endpoint = j->endpoint,
                                          .region = j->region,
                                          .access_key = j->access_key,
                                          .secret_key = j->secret_key,
                                          .session_token = j->session_token,
                                          .encrypt_key_file = j->key_file}};
        struct ship_image img = {.size = j->snap->size,
                                 .read = image_read,
                                 .changed_since = image_changed_since,
                                 .ctx = j};
        rc = ship_run(&p, &img, &j->progress, &j->cancel, j->message, sizeof(j->message));
    }
    pthread_mutex_lock(&jobs_lock);
    j->error = rc < 0 ? -rc : 0;
    j->finished = (int64_t)time(NULL);
    pthread_mutex_unlock(&jobs_lock);
    if (j->kind == JOB_SHIP)
        save_ship_record(j);
    if (rc < 0)
        log_error("snap", "volume %s: %s of snapshot %s failed: %s", j->volume, kind_names[j->kind],
                  j->snapshot, j->message);
    else
        log_info("snap", "volume %s: snapshot %s %s", j->volume, j->snapshot, kind_done[j->kind]);
    snapshot_unpin(j->snap);
    pthread_mutex_lock(&jobs_lock);
    j->running = false;
    pthread_mutex_unlock(&jobs_lock);
    return NULL;
}

static char *dup_opt(struct json_object *req, const char *key)
{
    const char *s = get_string(req, key);
    return s && *s ? strdup(s) : NULL;
}

static struct json_object *start_job(struct vol_entry *e, struct snapshot *snap, enum job_kind kind,
                                     struct json_object *req)
{
    struct snap_job *j = calloc(1, sizeof(*j));
    if (!j)
        return json_reply_fail("internal", "out of memory");
    j->kind = kind;
    snprintf(j->volume, sizeof(j->volume), "%s", e->name);
    snprintf(j->snapshot, sizeof(j->snapshot), "%s", snap->name);
    j->entry = e;
    j->snap = snap;
    j->url = dup_opt(req, "to");
    j->endpoint = dup_opt(req, "endpoint");
    j->region = dup_opt(req, "region");
    j->access_key = dup_opt(req, "access_key");
    j->secret_key = dup_opt(req, "secret_key");
    j->session_token = dup_opt(req, "session_token");
    j->key_file = dup_opt(req, "encrypt_key_file");
    j->path = dup_opt(req, "path");
    j->full = get_bool(req, "full");
    j->started = (int64_t)time(NULL);
    pthread_mutex_lock(&jobs_lock);
    struct snap_job *old = job_find(j->volume, j->snapshot);
    if (old && old->running) {
        pthread_mutex_unlock(&jobs_lock);
        job_free(j);
        return json_reply_fail("busy",
                               "a ship, export or copy of this snapshot is already running");
    }
    if (!snapshot_pin(e->vol.snaps, snap)) {
        pthread_mutex_unlock(&jobs_lock);
        job_free(j);
        return json_reply_fail("busy", "the snapshot is being deleted");
    }
    j->running = true;
    if (pthread_create(&j->thread, NULL, job_thread, j) != 0) {
        pthread_mutex_unlock(&jobs_lock);
        snapshot_unpin(snap);
        job_free(j);
        return json_reply_fail("internal", "cannot start a thread");
    }
    /* the newest job of a snapshot replaces the record of its last one */
    if (old) {
        for (struct snap_job **pp = &jobs; *pp; pp = &(*pp)->next)
            if (*pp == old) {
                *pp = old->next;
                break;
            }
        if (!old->joined)
            pthread_join(old->thread, NULL);
        job_free(old);
    }
    j->next = jobs;
    jobs = j;
    pthread_mutex_unlock(&jobs_lock);
    struct json_object *res = json_reply_ok();
    json_object_object_add(res, "job", json_object_new_string(kind_names[kind]));
    return res;
}

static struct json_object *job_json(struct snap_job *j)
{
    struct json_object *o = json_object_new_object();
    const char *state = j->running              ? "running"
                        : j->error == ECANCELED ? "cancelled"
                        : j->error              ? "failed"
                                                : "done";
    json_object_object_add(o, "state", json_object_new_string(state));
    json_object_object_add(o, "kind", json_object_new_string(kind_names[j->kind]));
    json_object_object_add(o, "to", json_object_new_string(j->url ? j->url : j->path));
    json_object_object_add(o, "started", json_object_new_int64(j->started));
    if (!j->running)
        json_object_object_add(o, "finished", json_object_new_int64(j->finished));
    const struct ship_progress *p = &j->progress;
    json_object_object_add(o, "bytes_total", json_object_new_uint64(atomic_load(&p->bytes_total)));
    json_object_object_add(o, "bytes_read", json_object_new_uint64(atomic_load(&p->bytes_read)));
    json_object_object_add(o, "bytes_uploaded",
                           json_object_new_uint64(atomic_load(&p->bytes_uploaded)));
    json_object_object_add(o, "chunks_new", json_object_new_uint64(atomic_load(&p->chunks_new)));
    json_object_object_add(o, "chunks_reused",
                           json_object_new_uint64(atomic_load(&p->chunks_reused)));
    json_object_object_add(o, "objects_written",
                           json_object_new_uint64(atomic_load(&p->objects_written)));
    json_object_object_add(o, "base_seq", json_object_new_uint64(atomic_load(&p->base_seq)));
    if (j->error)
        json_object_object_add(o, "error", json_object_new_string(j->message));
    return o;
}

void snap_jobs_stop(void)
{
    pthread_mutex_lock(&jobs_lock);
    for (struct snap_job *j = jobs; j; j = j->next)
        atomic_store(&j->cancel, true);
    struct snap_job *list = jobs;
    jobs = NULL;
    pthread_mutex_unlock(&jobs_lock);
    while (list) {
        struct snap_job *next = list->next;
        if (!list->joined)
            pthread_join(list->thread, NULL);
        job_free(list);
        list = next;
    }
}

/* ---- ops ---- */

static struct json_object *op_list(struct vol_entry *e)
{
    struct snapset *s = e->vol.snaps;
    struct json_object *arr = json_object_new_array();
    pthread_mutex_lock(&s->lock);
    for (struct snapshot *p = s->oldest; p; p = p->newer) {
        struct json_object *o = snap_json(p);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/ship.json", p->dir);
        struct json_object *rec = json_object_from_file(path);
        if (rec)
            json_object_object_add(o, "last_ship", rec);
        json_object_array_add(arr, o);
    }
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_lock(&jobs_lock);
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i), *nm;
        json_object_object_get_ex(o, "name", &nm);
        struct snap_job *j = job_find(e->name, json_object_get_string(nm));
        if (j)
            json_object_object_add(o, "job", job_json(j));
    }
    pthread_mutex_unlock(&jobs_lock);
    struct json_object *res = json_reply_ok();
    json_object_object_add(res, "snapshots", arr);
    return res;
}

static bool url_supported(const char *url)
{
    return strncmp(url, "s3://", 5) == 0 || strncmp(url, "file://", 7) == 0;
}

struct json_object *snap_ctl(struct registry *reg, const struct ctl_node_info *info, const char *op,
                             struct json_object *req)
{
    const char *volume = get_string(req, "volume");
    const char *name = get_string(req, "name");
    if (!volume)
        return json_reply_fail("invalid", "snapshot ops need \"volume\"");
    char err[512];
    struct vol_entry *e = registry_lookup(reg, volume, err, sizeof(err));
    if (!e)
        return json_reply_fail(strstr(err, "unusable") ? "internal" : "not_found", err);
    if (!e->vol.snaps)
        return json_reply_fail("internal", "the volume has no snapshot state");
    if (strcmp(op, "snapshot.list") == 0)
        return op_list(e);
    if (!name)
        return json_reply_fail("invalid", "this op needs \"name\" (the snapshot)");
    if (strcmp(op, "snapshot.create") == 0) {
        if (!snapshot_name_valid(name))
            return json_reply_fail("invalid", "invalid snapshot name: use 1-63 letters, digits, "
                                              "'.', '_', '-', not starting with '.' or '-'");
        if (e->vol.repl)
            return repl_snapshot_ctl(info->repl, volume, name);
        return call_reactor(info, start_create, e, req);
    }
    struct snapshot *snap = snapset_find(e->vol.snaps, name);
    if (!snap) {
        snprintf(err, sizeof(err), "volume %s has no snapshot named %s", volume, name);
        return json_reply_fail("not_found", err);
    }
    if (strcmp(op, "snapshot.delete") == 0) {
        pthread_mutex_lock(&jobs_lock);
        struct snap_job *j = job_find(volume, name);
        bool running = j && j->running;
        pthread_mutex_unlock(&jobs_lock);
        if (running)
            return json_reply_fail("busy", "the snapshot is being shipped, exported or copied");
        struct json_object *res;
        if (vsnap_delete_blocking(&e->vol, info->rq, name, err, sizeof(err)) < 0) {
            res = fail_errno(errno, err);
        } else {
            res = json_reply_ok();
            if (e->vol.repl)
                repl_snapshot_delete_notify(info->repl, volume, name);
        }
        pthread_mutex_lock(&jobs_lock);
        for (struct snap_job **pp = &jobs; *pp; pp = &(*pp)->next)
            if (*pp == j) {
                *pp = j->next;
                pthread_join(j->thread, NULL);
                job_free(j);
                break;
            }
        pthread_mutex_unlock(&jobs_lock);
        return res;
    }
    if (strcmp(op, "snapshot.ship") == 0) {
        const char *to = get_string(req, "to");
        if (!to || !url_supported(to))
            return json_reply_fail("invalid",
                                   "snapshot.ship needs \"to\": s3://BUCKET/PREFIX or file:///DIR");
        return start_job(e, snap, JOB_SHIP, req);
    }
    if (strcmp(op, "snapshot.export") == 0) {
        const char *path = get_string(req, "path");
        if (!path || path[0] != '/')
            return json_reply_fail("invalid", "snapshot.export needs an absolute \"path\"");
        return start_job(e, snap, JOB_EXPORT, req);
    }
    if (strcmp(op, "snapshot.copy") == 0) {
        const char *to = get_string(req, "to");
        if (!to || !snap_copy_uri_valid(to))
            return json_reply_fail("invalid", "snapshot.copy needs \"to\": "
                                              "nbd://HOST[:PORT]/EXPORT or "
                                              "nbd+unix:///EXPORT?socket=/PATH");
        return start_job(e, snap, JOB_COPY, req);
    }
    snprintf(err, sizeof(err), "unknown op \"%.100s\"", op);
    return json_reply_fail("invalid", err);
}
