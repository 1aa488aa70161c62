/* Snapshots on disk: loading the chain, taking one, deleting one, reading an image, and the
 * changed-region walk that incremental shipping asks for. The write path's copy-before-write
 * lives in vol/volume.c; this file only owns files and the chain. */
#include "store/snapshot.h"

#include "store/replica.h"
#include "util/atomic_file.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FILE "state.json"

bool snapshot_name_valid(const char *name)
{
    return store_name_valid(name, SNAP_NAME_MAX);
}

static int save_state(struct snapset *s)
{
    char text[128];
    int n = snprintf(text, sizeof(text), "{\"next_seq\":%llu,\"cbt_prev_seq\":%llu}\n",
                     (unsigned long long)s->next_seq, (unsigned long long)s->cbt_prev_seq);
    return atomic_file_write(s->dir, STATE_FILE, text, (size_t)n);
}

static uint64_t json_u64(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static int save_snap_json(const struct snapshot *snap)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(snap->name));
    json_object_object_add(o, "seq", json_object_new_uint64(snap->seq));
    json_object_object_add(o, "prev_seq", json_object_new_uint64(snap->prev_seq));
    json_object_object_add(o, "created", json_object_new_int64(snap->created));
    json_object_object_add(o, "size", json_object_new_uint64(snap->size));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    int rc = atomic_file_write(snap->dir, "snap.json", text, strlen(text));
    json_object_put(o);
    return rc;
}

static void snap_free(struct snapshot *snap)
{
    if (!snap)
        return;
    if (snap->cow_fd >= 0)
        close(snap->cow_fd);
    if (snap->cow.bits)
        bitmap_close(&snap->cow);
    if (snap->changed.bits)
        bitmap_close(&snap->changed);
    free(snap->dir);
    free(snap);
}

/* Opens the files of a snapshot directory (complete, or being built by create). */
static struct snapshot *snap_load(struct snapset *s, const char *dir, struct io_engine *eng,
                                  char *err, size_t errlen)
{
    struct snapshot *snap = calloc(1, sizeof(*snap));
    if (!snap || !(snap->dir = strdup(dir))) {
        free(snap);
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    snap->cow_fd = -1;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/snap.json", dir);
    struct json_object *o = json_object_from_file(path);
    if (!o) {
        snprintf(err, errlen, "snapshot %s: unreadable snap.json", dir);
        snap_free(snap);
        errno = EINVAL;
        return NULL;
    }
    struct json_object *v;
    snprintf(snap->name, sizeof(snap->name), "%s",
             json_object_object_get_ex(o, "name", &v) ? json_object_get_string(v) : "");
    snap->seq = json_u64(o, "seq");
    snap->prev_seq = json_u64(o, "prev_seq");
    snap->created = json_object_object_get_ex(o, "created", &v) ? json_object_get_int64(v) : 0;
    snap->size = json_u64(o, "size");
    json_object_put(o);
    if (!snapshot_name_valid(snap->name) || snap->seq == 0 || snap->size == 0) {
        snprintf(err, errlen, "snapshot %s: invalid snap.json", dir);
        snap_free(snap);
        errno = EINVAL;
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/cow.data", dir);
    snap->cow_fd = open(path, O_RDWR | O_CLOEXEC | (s->direct ? O_DIRECT : 0));
    if (snap->cow_fd < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        snap_free(snap);
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/cow.bitmap", dir);
    if (bitmap_open_shift(&snap->cow, path, snap->size, SNAP_COW_SHIFT, eng) < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        snap_free(snap);
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/changed.bitmap", dir);
    if (bitmap_open_shift(&snap->changed, path, snap->size, SNAP_CBT_SHIFT, eng) < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        snap_free(snap);
        return NULL;
    }
    return snap;
}

static int by_seq(const void *a, const void *b)
{
    const struct snapshot *x = *(struct snapshot *const *)a, *y = *(struct snapshot *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int snapset_open(struct snapset *s, const char *replica_dir, uint64_t size, bool direct,
                 struct io_engine *eng, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->direct = direct;
    s->size = size;
    s->next_seq = 1;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/snapshots", replica_dir);
    if (!(s->dir = strdup(path)) || (mkdir(path, 0700) < 0 && errno != EEXIST)) {
        snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
        snapset_close(s);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/cbt.bitmap", replica_dir);
    if (bitmap_open_shift(&s->cbt, path, size, SNAP_CBT_SHIFT, eng) < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        snapset_close(s);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/" STATE_FILE, s->dir);
    struct json_object *st = json_object_from_file(path);
    bool have_state = st != NULL;
    if (st) {
        s->next_seq = json_u64(st, "next_seq");
        s->cbt_prev_seq = json_u64(st, "cbt_prev_seq");
        json_object_put(st);
    }
    DIR *d = opendir(s->dir);
    if (!d) {
        snprintf(err, errlen, "opendir %s: %s", s->dir, strerror(errno));
        snapset_close(s);
        return -1;
    }
    struct snapshot **list = NULL;
    unsigned n = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strncmp(e->d_name, STATE_FILE, strlen(STATE_FILE)) == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
        if (e->d_name[0] == '.') { /* .new-* / .del-*: an interrupted create or delete */
            remove_tree(path);
            continue;
        }
        struct snapshot *snap = snap_load(s, path, eng, err, errlen);
        struct snapshot **nl = snap ? realloc(list, (n + 1) * sizeof(*list)) : NULL;
        if (!nl) {
            snap_free(snap);
            rc = -1;
            break;
        }
        list = nl;
        list[n++] = snap;
    }
    closedir(d);
    if (rc == 0) {
        if (n)
            qsort(list, n, sizeof(*list), by_seq);
        for (unsigned i = 0; i < n; i++) {
            list[i]->older = i ? list[i - 1] : NULL;
            list[i]->newer = i + 1 < n ? list[i + 1] : NULL;
            if (list[i]->seq >= s->next_seq)
                s->next_seq = list[i]->seq + 1;
        }
        s->oldest = n ? list[0] : NULL;
        s->newest = n ? list[n - 1] : NULL;
        s->count = n;
        if (!have_state && s->newest)
            s->cbt_prev_seq = s->newest->seq;
    } else {
        for (unsigned i = 0; i < n; i++)
            snap_free(list[i]);
    }
    free(list);
    if (rc < 0)
        snapset_close(s);
    return rc;
}

void snapset_close(struct snapset *s)
{
    for (struct snapshot *p = s->oldest, *next; p; p = next) {
        next = p->newer;
        snap_free(p);
    }
    s->oldest = s->newest = NULL;
    if (s->cbt.bits)
        bitmap_close(&s->cbt);
    free(s->dir);
    s->dir = NULL;
    pthread_mutex_destroy(&s->lock);
}

struct snapshot *snapset_find(struct snapset *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    struct snapshot *p = s->oldest;
    while (p && strcmp(p->name, name) != 0)
        p = p->newer;
    pthread_mutex_unlock(&s->lock);
    return p;
}

static struct snapshot *find_seq(struct snapset *s, uint64_t seq)
{
    for (struct snapshot *p = s->oldest; p; p = p->newer)
        if (p->seq == seq)
            return p;
    return NULL;
}

struct snapshot *snapset_create(struct snapset *s, const char *name, uint64_t seq, int64_t created,
                                char *err, size_t errlen)
{
    if (!snapshot_name_valid(name)) {
        snprintf(err, errlen, "invalid snapshot name \"%s\": 1-%d of [A-Za-z0-9._-]", name,
                 SNAP_NAME_MAX);
        errno = EINVAL;
        return NULL;
    }
    if (snapset_find(s, name)) {
        snprintf(err, errlen, "a snapshot named %s exists", name);
        errno = EEXIST;
        return NULL;
    }
    if (seq == 0)
        seq = s->next_seq;
    if (seq < s->next_seq) {
        snprintf(err, errlen, "snapshot sequence %llu is not newer than this replica's %llu",
                 (unsigned long long)seq, (unsigned long long)s->next_seq - 1);
        errno = EINVAL;
        return NULL;
    }
    char tmp[PATH_MAX], final[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/.new-%s", s->dir, name);
    snprintf(final, sizeof(final), "%s/%s", s->dir, name);
    remove_tree(tmp);
    struct snapshot proto = {.seq = seq, .prev_seq = s->cbt_prev_seq, .created = created};
    snprintf(proto.name, sizeof(proto.name), "%s", name);
    proto.dir = tmp;
    int fd = -1;
    if (mkdir(tmp, 0700) < 0)
        goto fail;
    snprintf(path, sizeof(path), "%s/cow.data", tmp);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    proto.size = s->size;
    if (fd < 0 || ftruncate(fd, (off_t)proto.size) < 0 || fsync(fd) < 0)
        goto fail;
    close(fd);
    fd = -1;
    snprintf(path, sizeof(path), "%s/cow.bitmap", tmp);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || fsync(fd) < 0)
        goto fail;
    close(fd);
    snprintf(path, sizeof(path), "%s/changed.bitmap", tmp);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    /* Nothing was tracked before the first snapshot (vol/volume.c): it counts as all changed. */
    uint8_t *all = NULL;
    bool first = s->cbt_prev_seq == 0 && !s->newest;
    if (first && !(all = malloc(s->cbt.bytes ? s->cbt.bytes : 1)))
        goto fail;
    if (all)
        memset(all, 0xff, s->cbt.bytes);
    ssize_t wn = fd < 0 ? -1 : write(fd, all ? all : s->cbt.bits, s->cbt.bytes);
    free(all);
    if (wn != (ssize_t)s->cbt.bytes || fsync(fd) < 0)
        goto fail;
    close(fd);
    fd = -1;
    if (save_snap_json(&proto) < 0 || fsync_dir(tmp) < 0 || rename(tmp, final) < 0 ||
        fsync_dir(s->dir) < 0)
        goto fail;
    struct snapshot *snap = snap_load(s, final, s->cbt.eng, err, errlen);
    if (!snap) {
        remove_tree(final);
        return NULL;
    }
    s->next_seq = seq + 1;
    s->cbt_prev_seq = seq;
    if (save_state(s) < 0)
        log_warn("snap",
                 "saving %s/" STATE_FILE ": %s (sequence numbers are recovered from the "
                 "snapshots at the next start)",
                 s->dir, strerror(errno));
    pthread_mutex_lock(&s->lock);
    snap->older = s->newest;
    if (s->newest)
        s->newest->newer = snap;
    else
        s->oldest = snap;
    s->newest = snap;
    s->count++;
    pthread_mutex_unlock(&s->lock);
    /* The CBT starts again. Committed asynchronously: until that lands the file still holds
     * the old bits, a superset of the truth, which only makes the next incremental read more. */
    bitmap_clear_all(&s->cbt);
    bitmap_commit(&s->cbt);
    return snap;
fail:;
    int e = errno;
    snprintf(err, errlen, "creating snapshot %s in %s: %s", name, s->dir, strerror(e));
    if (fd >= 0)
        close(fd);
    remove_tree(tmp);
    errno = e;
    return NULL;
}

bool snapshot_pin(struct snapset *s, struct snapshot *snap)
{
    pthread_mutex_lock(&s->lock);
    bool ok = !snap->deleting;
    if (ok)
        atomic_fetch_add(&snap->pins, 1);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void snapshot_unpin(struct snapshot *snap)
{
    atomic_fetch_sub(&snap->pins, 1);
}

int snapset_pin_for_delete(struct snapset *s, struct snapshot *snap, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    if (snap->deleting || atomic_load(&snap->pins) > 0) {
        snprintf(err, errlen, "snapshot %s is %s", snap->name,
                 snap->deleting ? "already being deleted" : "being shipped");
        errno = EBUSY;
        rc = -1;
    } else {
        snap->deleting = true;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void snapset_unpin_delete(struct snapset *s, struct snapshot *snap)
{
    pthread_mutex_lock(&s->lock);
    snap->deleting = false;
    pthread_mutex_unlock(&s->lock);
}

static void *aligned_buf(size_t len)
{
    void *p = NULL;
    return posix_memalign(&p, 4096, len) == 0 ? p : NULL;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO; /* a short file inside the volume's size */
        done += (size_t)n;
    }
    return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        done += (size_t)n;
    }
    return 0;
}

static uint64_t unit_len(const struct snapshot *snap, uint64_t u)
{
    uint64_t off = u << SNAP_COW_SHIFT;
    return snap->size - off < SNAP_COW_BYTES ? snap->size - off : SNAP_COW_BYTES;
}

int snapset_copy_to_older(struct snapset *s, struct snapshot *snap, char *err, size_t errlen)
{
    (void)s;
    struct snapshot *o = snap->older;
    if (!o)
        return 0;
    void *buf = aligned_buf(SNAP_COW_BYTES);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    uint64_t copied = 0;
    for (uint64_t u = 0; u < snap->cow.n_regions && rc == 0; u++) {
        if (!bitmap_test_shared(&snap->cow, u) || bitmap_test(&o->cow, u))
            continue;
        uint64_t len = unit_len(snap, u), off = u << SNAP_COW_SHIFT;
        rc = pread_full(snap->cow_fd, buf, len, off);
        if (rc == 0)
            rc = pwrite_full(o->cow_fd, buf, len, off);
        if (rc == 0) {
            /* set only after the data is in o's file: a reader that sees the bit reads it */
            __atomic_fetch_or(&o->cow.bits[u >> 3], (uint8_t)(1u << (u & 7)), __ATOMIC_RELEASE);
            o->cow.count++;
            copied++;
        }
    }
    free(buf);
    if (rc == 0 && copied && (fdatasync(o->cow_fd) < 0 || bitmap_save_sync(&o->cow) < 0))
        rc = -errno;
    if (rc < 0) {
        snprintf(err, errlen, "moving snapshot %s's data into %s: %s", snap->name, o->name,
                 strerror(-rc));
        errno = -rc;
        return -1;
    }
    return 0;
}

int snapset_fold_changed(struct snapset *s, struct snapshot *snap, char *err, size_t errlen)
{
    struct snapshot *n = snap->newer;
    if (!n) {
        for (uint64_t r = 0; r < snap->changed.n_regions; r++)
            if (bitmap_test(&snap->changed, r))
                bitmap_mark(&s->cbt, r << SNAP_CBT_SHIFT, 1, NULL);
        return 1;
    }
    for (size_t i = 0; i < n->changed.bytes; i++)
        n->changed.bits[i] |= snap->changed.bits[i];
    n->prev_seq = snap->prev_seq;
    if (bitmap_save_sync(&n->changed) < 0 || save_snap_json(n) < 0) {
        snprintf(err, errlen, "folding snapshot %s's changes into %s: %s", snap->name, n->name,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int snapset_unlink(struct snapset *s, struct snapshot *snap, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->lock);
    if (snap->older)
        snap->older->newer = snap->newer;
    else
        s->oldest = snap->newer;
    if (snap->newer)
        snap->newer->older = snap->older;
    else
        s->newest = snap->older;
    s->count--;
    bool was_newest = snap->newer == NULL;
    pthread_mutex_unlock(&s->lock);
    if (was_newest) {
        s->cbt_prev_seq = snap->prev_seq;
        if (save_state(s) < 0)
            log_warn("snap", "saving %s/" STATE_FILE ": %s", s->dir, strerror(errno));
    }
    char gone[PATH_MAX];
    snprintf(gone, sizeof(gone), "%s/.del-%s", s->dir, snap->name);
    int rc = 0;
    if (rename(snap->dir, gone) < 0 || fsync_dir(s->dir) < 0) {
        snprintf(err, errlen, "removing snapshot %s: %s", snap->name, strerror(errno));
        rc = -1;
    }
    snap_free(snap);
    if (rc == 0)
        remove_tree(gone);
    return rc;
}

/* Units copied into the snapshots from base up to snap's predecessor: exactly what was written
 * between base and snap. Lock held. NULL if base is not here or sizes differ. */
static uint8_t *units_since(struct snapshot *base, struct snapshot *snap)
{
    if (base->size != snap->size)
        return NULL; /* grown since: writes past base's end were never copied */
    uint8_t *bits = calloc(1, snap->cow.bytes ? snap->cow.bytes : 1);
    if (!bits)
        return NULL;
    for (struct snapshot *p = base; p && p != snap; p = p->newer)
        for (size_t i = 0; i < p->cow.bytes && i < snap->cow.bytes; i++)
            bits[i] |= __atomic_load_n(&p->cow.bits[i], __ATOMIC_ACQUIRE);
    return bits;
}

int snapset_changed_since(struct snapset *s, struct snapshot *snap, uint64_t base_seq,
                          uint8_t **bits_out, uint64_t *n_out, unsigned *shift_out)
{
    pthread_mutex_lock(&s->lock);
    struct snapshot *base = base_seq < snap->seq ? find_seq(s, base_seq) : NULL;
    uint8_t *units = base ? units_since(base, snap) : NULL;
    if (units) {
        *bits_out = units;
        *n_out = snap->cow.n_regions;
        *shift_out = SNAP_COW_SHIFT;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    uint8_t *bits = calloc(1, snap->changed.bytes ? snap->changed.bytes : 1);
    int rc = bits ? 0 : -1;
    int e = bits ? 0 : ENOMEM;
    struct snapshot *cur = snap;
    if (base_seq >= snap->seq) {
        rc = -1;
        e = ENOENT;
    }
    while (rc == 0) {
        for (size_t i = 0; i < cur->changed.bytes; i++)
            bits[i] |= cur->changed.bits[i];
        if (cur->prev_seq <= base_seq)
            break; /* < : base was deleted and folded in here; what we have is a superset */
        struct snapshot *older = find_seq(s, cur->prev_seq);
        if (!older) {
            rc = -1;
            e = ENOENT;
            break;
        }
        cur = older;
    }
    uint64_t n = snap->changed.n_regions;
    pthread_mutex_unlock(&s->lock);
    if (rc < 0) {
        free(bits);
        errno = e;
        return -1;
    }
    *bits_out = bits;
    *n_out = n;
    *shift_out = SNAP_CBT_SHIFT;
    return 0;
}

/* The first snapshot from snap towards the newest that holds unit u, or NULL: the live file. */
static struct snapshot *holder_of(struct snapshot *snap, uint64_t u)
{
    for (struct snapshot *p = snap; p; p = p->newer)
        if (bitmap_test_shared(&p->cow, u))
            return p;
    return NULL;
}

int snapshot_read(struct snapset *s, struct snapshot *snap, int data_fd, uint64_t off, void *buf,
                  size_t len)
{
    if (off % 4096 || len % 4096 || off > snap->size || len > snap->size - off)
        return -EINVAL;
    /* The lock keeps the chain (and the fds in it) still; the write path never takes it. */
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    uint64_t end = off + len;
    while (off < end && rc == 0) {
        uint64_t u = off >> SNAP_COW_SHIFT;
        struct snapshot *h = holder_of(snap, u);
        /* a run of units with the same source */
        uint64_t run_end = (u + 1) << SNAP_COW_SHIFT;
        while (run_end < end && holder_of(snap, run_end >> SNAP_COW_SHIFT) == h)
            run_end += SNAP_COW_BYTES;
        if (run_end > end)
            run_end = end;
        char *dst = (char *)buf + (len - (end - off));
        if (h) {
            rc = pread_full(h->cow_fd, dst, run_end - off, off);
        } else {
            rc = pread_full(data_fd, dst, run_end - off, off);
            /* A write preserves a unit (and sets its bit) before it overwrites the live data,
             * so a unit whose bit is still clear after the read was read before any overwrite.
             * One that became preserved meanwhile is read again from its copy. */
            for (uint64_t pu = off >> SNAP_COW_SHIFT; rc == 0 && (pu << SNAP_COW_SHIFT) < run_end;
                 pu++) {
                struct snapshot *now = holder_of(snap, pu);
                if (!now)
                    continue;
                uint64_t ulo = pu << SNAP_COW_SHIFT, uhi = ulo + SNAP_COW_BYTES;
                uint64_t lo = ulo > off ? ulo : off, hi = uhi < run_end ? uhi : run_end;
                rc = pread_full(now->cow_fd, (char *)buf + (len - (end - lo)), hi - lo, lo);
            }
        }
        off = run_end;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

bool snapset_pinned(struct snapset *s)
{
    pthread_mutex_lock(&s->lock);
    bool any = false;
    for (struct snapshot *p = s->oldest; p && !any; p = p->newer)
        any = atomic_load(&p->pins) > 0 || p->deleting;
    pthread_mutex_unlock(&s->lock);
    return any;
}

int snapset_grow(struct snapset *s, uint64_t new_size)
{
    uint64_t old = s->size;
    if (bitmap_grow(&s->cbt, new_size) < 0)
        return -1;
    s->size = new_size;
    if (new_size > old && (s->newest || s->cbt_prev_seq))
        bitmap_mark(&s->cbt, old, new_size - old, NULL);
    return 0;
}
