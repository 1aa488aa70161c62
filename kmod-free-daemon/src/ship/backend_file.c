/* file:///DIR: the store is a directory tree, keys are relative paths. Writes go to a temp file
 * beside the target (name starting ".tmp."), fsync, rename, fsync of the directory, so a crash
 * leaves the old object or the new one, never a torn one; listings skip temp files. */
#include "ship/backend_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct file_backend {
    struct backend base;
    char root[PATH_MAX];
};

static atomic_uint tmp_seq;

static int path_of(struct file_backend *f, const char *key, char *out, char *err, size_t errlen)
{
    if (strstr(key, "..") || key[0] == '/') {
        snprintf(err, errlen, "bad key %s", key);
        return -EINVAL;
    }
    if (snprintf(out, PATH_MAX, "%s/%s", f->root, key) >= PATH_MAX) {
        snprintf(err, errlen, "%s/%s: path too long", f->root, key);
        return -ENAMETOOLONG;
    }
    return 0;
}

static int fail_errno(char *err, size_t errlen, const char *what, const char *path)
{
    int e = errno;
    snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
    return e == ENOENT ? -ENOENT : e == EACCES || e == EPERM ? -EACCES : -e;
}

/* mkdir -p of the directory part of path. */
static int mkdirs(char *path)
{
    for (char *p = path + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *s = strrchr(dir, '/');
    if (s)
        *s = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int file_put(struct backend *b, const char *key, const void *buf, size_t len, char *err,
                    size_t errlen)
{
    struct file_backend *f = (struct file_backend *)b;
    char path[PATH_MAX], tmp[PATH_MAX + 64];
    int rc = path_of(f, key, path, err, errlen);
    if (rc)
        return rc;
    if (mkdirs(path) != 0)
        return fail_errno(err, errlen, "mkdir for", path);
    char *slash = strrchr(path, '/');
    snprintf(tmp, sizeof(tmp), "%.*s/.tmp.%d.%u.%s", (int)(slash - path), path, (int)getpid(),
             atomic_fetch_add(&tmp_seq, 1), slash + 1);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail_errno(err, errlen, "create", tmp);
    const uint8_t *p = buf;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = fail_errno(err, errlen, "write", tmp);
            close(fd);
            unlink(tmp);
            return rc ? rc : -EIO;
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = fail_errno(err, errlen, "fsync", tmp);
        close(fd);
        unlink(tmp);
        return rc;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        rc = fail_errno(err, errlen, "rename to", path);
        unlink(tmp);
        return rc;
    }
    if (fsync_dir_of(path) != 0)
        return fail_errno(err, errlen, "fsync directory of", path);
    return 0;
}

static int file_get(struct backend *b, const char *key, uint64_t off, uint64_t len, void *buf,
                    uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
    struct file_backend *f = (struct file_backend *)b;
    char path[PATH_MAX];
    int rc = path_of(f, key, path, err, errlen);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail_errno(err, errlen, "open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = fail_errno(err, errlen, "stat", path);
        close(fd);
        return rc;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (len == 0)
        len = off < size ? size - off : 0;
    if (off + len > size) {
        close(fd);
        snprintf(err, errlen, "%s: range %llu+%llu beyond its %llu bytes", path,
                 (unsigned long long)off, (unsigned long long)len, (unsigned long long)size);
        return -EIO;
    }
    uint8_t *dst = buf;
    if (!dst) {
        dst = malloc(len + 1);
        if (!dst) {
            close(fd);
            snprintf(err, errlen, "%s: out of memory", path);
            return -ENOMEM;
        }
    }
    for (uint64_t done = 0; done < len;) {
        ssize_t r = pread(fd, dst + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? fail_errno(err, errlen, "read", path) : -EIO;
            if (r == 0)
                snprintf(err, errlen, "%s: short read", path);
            close(fd);
            if (!buf)
                free(dst);
            return rc;
        }
        done += (uint64_t)r;
    }
    close(fd);
    if (!buf) {
        dst[len] = '\0';
        *out = dst;
        *outlen = len;
    }
    return 0;
}

/* Calls cb for the regular files under dir (recursively) whose first-level name starts with
 * stem; keys are rel + the path below dir. Temp files and dot files are skipped. */
static int walk(const char *dir, const char *rel, const char *stem,
                int (*cb)(const struct backend_obj *, void *), void *arg, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : fail_errno(err, errlen, "open directory", dir);
    int rc = 0;
    size_t sl = strlen(stem);
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, stem, sl) != 0)
            continue;
        char path[PATH_MAX], key[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(key, sizeof(key), "%s%s", rel, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue; /* removed meanwhile */
        if (S_ISDIR(st.st_mode)) {
            char sub[PATH_MAX];
            snprintf(sub, sizeof(sub), "%s/", key);
            rc = walk(path, sub, "", cb, arg, err, errlen);
        } else if (S_ISREG(st.st_mode)) {
            struct backend_obj o = {.key = key, .size = (uint64_t)st.st_size, .mtime = st.st_mtime};
            if (cb(&o, arg) != 0) {
                snprintf(err, errlen, "listing stopped at %s", key);
                rc = -ECANCELED;
            }
        }
    }
    closedir(d);
    return rc;
}

/* prefix is a directory ("indexes/") or a key prefix within one ("volumes/v/snapshots/a"). */
static int file_list(struct backend *b, const char *prefix,
                     int (*cb)(const struct backend_obj *o, void *arg), void *arg, char *err,
                     size_t errlen)
{
    struct file_backend *f = (struct file_backend *)b;
    char dir[PATH_MAX], rel[PATH_MAX];
    const char *slash = strrchr(prefix, '/');
    size_t dl = slash ? (size_t)(slash - prefix) + 1 : 0;
    snprintf(rel, sizeof(rel), "%.*s", (int)dl, prefix);
    snprintf(dir, sizeof(dir), "%s/%s", f->root, rel);
    return walk(dir, rel, prefix + dl, cb, arg, err, errlen);
}

static int file_del(struct backend *b, const char *const *keys, size_t n, char *err, size_t errlen)
{
    struct file_backend *f = (struct file_backend *)b;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        int rc = path_of(f, keys[i], path, err, errlen);
        if (rc)
            return rc;
        if (unlink(path) != 0 && errno != ENOENT)
            return fail_errno(err, errlen, "remove", path);
    }
    if (n) {
        char path[PATH_MAX];
        if (path_of(f, keys[0], path, err, errlen) == 0)
            fsync_dir_of(path);
    }
    return 0;
}

static void file_close(struct backend *b)
{
    free(b);
}

static const struct backend_ops file_ops = {file_put, file_get, file_list, file_del, file_close};

struct backend *backend_file_open(const char *dir, char *err, size_t errlen)
{
    struct file_backend *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->base.ops = &file_ops;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n >= sizeof(f->root)) {
        free(f);
        snprintf(err, errlen, "%s: path too long", dir);
        return NULL;
    }
    memcpy(f->root, dir, n);
    char probe[PATH_MAX];
    snprintf(probe, sizeof(probe), "%s/x", f->root);
    if (mkdirs(probe) != 0) {
        fail_errno(err, errlen, "create store directory", f->root);
        free(f);
        return NULL;
    }
    return &f->base;
}
