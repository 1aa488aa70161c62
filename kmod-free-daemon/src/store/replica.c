/* Replica directories. The superblock is written last during create, and a replica is only
 * visible under its real name after a directory rename, so an operator never finds a volume
 * directory whose state we cannot explain. Nothing here ever rewrites an existing superblock:
 * a replica we cannot read is left exactly as found for a human to inspect. */
#include "store/replica.h"

#include "util/atomic_file.h"

#include "store/dio_align.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define SB_FILE   "superblock"
#define DATA_FILE "data"

int fsync_dir(const char *path)
{
    return fsync_dir_path(path);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int remove_tree(const char *path)
{
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_file_durable(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t w = pwrite(fd, buf, len, 0);
    if (w != (ssize_t)len || fsync(fd) < 0) {
        int e = w < 0 ? errno : (w != (ssize_t)len ? EIO : errno);
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

int replica_create(const char *dir, const char *name, uint64_t size, uint32_t block_size,
                   const uint8_t *uuid, replica_prepare_fn prepare, void *ctx, char *err,
                   size_t errlen)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    struct stat st;
    if (stat(dir, &st) == 0) {
        snprintf(err, errlen, "%s already exists", dir);
        errno = EEXIST;
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.creating", dir);
    remove_tree(tmp); /* leftover of an interrupted create: never held client data */
    if (mkdir(tmp, 0700) < 0) {
        snprintf(err, errlen, "mkdir %s: %s", tmp, strerror(errno));
        return -1;
    }
    struct superblock sb = {.version = SUPERBLOCK_VERSION,
                            .size = size,
                            .block_size = block_size,
                            .created = (uint64_t)time(NULL)};
    snprintf(sb.name, sizeof(sb.name), "%s", name);
    if (uuid) {
        memcpy(sb.uuid, uuid, sizeof(sb.uuid));
    } else if (RAND_bytes(sb.uuid, sizeof(sb.uuid)) != 1) {
        snprintf(err, errlen, "cannot generate a volume UUID (OpenSSL RAND_bytes failed)");
        goto fail_eio;
    }
    if (!uuid) {
        sb.uuid[6] = (uint8_t)((sb.uuid[6] & 0x0f) | 0x40); /* RFC 4122 version 4 */
        sb.uuid[8] = (uint8_t)((sb.uuid[8] & 0x3f) | 0x80);
    }

    snprintf(path, sizeof(path), "%s/" DATA_FILE, tmp);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0) {
        int e = errno;
        snprintf(err, errlen, "data file %s: %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        remove_tree(tmp);
        errno = e;
        return -1;
    }
    close(fd);

    uint8_t buf[SUPERBLOCK_BYTES];
    superblock_encode(&sb, buf);
    snprintf(path, sizeof(path), "%s/" SB_FILE, tmp);
    if (write_file_durable(path, buf, sizeof(buf)) < 0) {
        int e = errno;
        snprintf(err, errlen, "writing %s: %s", path, strerror(e));
        remove_tree(tmp);
        errno = e;
        return -1;
    }
    if (prepare && prepare(tmp, &sb, ctx) != 0) {
        int e = errno ? errno : EIO;
        snprintf(err, errlen, "preparing %s: %s", tmp, strerror(e));
        remove_tree(tmp);
        errno = e;
        return -1;
    }
    if (fsync_dir(tmp) < 0 || rename(tmp, dir) < 0) {
        int e = errno;
        snprintf(err, errlen, "writing %s: %s", path, strerror(e));
        remove_tree(tmp);
        errno = e;
        return -1;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s/..", dir);
    if (fsync_dir(parent) < 0) {
        snprintf(err, errlen, "fsync %s: %s", parent, strerror(errno));
        return -1;
    }
    return 0;
fail_eio:
    remove_tree(tmp);
    errno = EIO;
    return -1;
}

int replica_open(const char *dir, enum cache_mode cache, struct replica **out, char *err,
                 size_t errlen)
{
    char path[PATH_MAX];
    uint8_t buf[SUPERBLOCK_BYTES];
    snprintf(path, sizeof(path), "%s/" SB_FILE, dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    close(fd);
    if (n != (ssize_t)sizeof(buf)) {
        snprintf(err, errlen, "%s: short superblock (%zd of %d bytes)", path, n, SUPERBLOCK_BYTES);
        errno = EINVAL;
        return -1;
    }
    struct replica *r = calloc(1, sizeof(*r));
    if (!r || !(r->dir = strdup(dir))) {
        free(r);
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return -1;
    }
    r->data_fd = -1;
    char why[200];
    if (superblock_decode(buf, &r->sb, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s; refusing to use it (left unmodified)", path, why);
        replica_close(r);
        errno = EINVAL;
        return -1;
    }
    snprintf(path, sizeof(path), "%s/" DATA_FILE, dir);
    int flags = O_RDWR | O_CLOEXEC;
    if (cache == CACHE_NONE) {
        r->data_fd = open(path, flags | O_DIRECT);
        struct statfs sf;
        if (r->data_fd >= 0 && fstatfs(r->data_fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC) {
            /* tmpfs accepts O_DIRECT (Linux 6.6+) but its "disk" is the page cache: the write
             * is the same memory copy either way, except that io_uring cannot do it without
             * blocking and hands every one to an io-wq worker thread (a wakeup and two context
             * switches per write). The page-cache path copies it inline instead. */
            close(r->data_fd);
            r->data_fd = -1;
            log_info("store", "%s: on tmpfs, O_DIRECT bypasses nothing; using the page cache",
                     path);
        } else if (r->data_fd >= 0) {
            r->direct = true;
        } else if (errno == EINVAL) {
            log_warn("store", "%s: filesystem refuses O_DIRECT; using the page cache", path);
        }
    }
    if (r->data_fd < 0)
        r->data_fd = open(path, flags);
    if (r->data_fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        replica_close(r);
        return -1;
    }
    struct stat st;
    if (fstat(r->data_fd, &st) < 0 || (uint64_t)st.st_size < r->sb.size) {
        snprintf(err, errlen, "%s: data file is %lld bytes, superblock says %llu; refusing", path,
                 (long long)st.st_size, (unsigned long long)r->sb.size);
        replica_close(r);
        errno = EINVAL;
        return -1;
    }
    r->dio_align = r->direct ? dio_offset_align(r->data_fd) : 1;
    if (r->dio_align > r->sb.block_size) {
        /* Aligned I/O could then reach past the end of the volume; the page cache is safer. */
        log_warn("store",
                 "%s: O_DIRECT needs %u-byte alignment, above the %u-byte block; "
                 "using the page cache",
                 path, r->dio_align, r->sb.block_size);
        close(r->data_fd);
        r->data_fd = open(path, flags);
        r->direct = false;
        r->dio_align = 1;
        if (r->data_fd < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            replica_close(r);
            return -1;
        }
    }
    *out = r;
    return 0;
}

void replica_close(struct replica *r)
{
    if (!r)
        return;
    if (r->data_fd >= 0)
        close(r->data_fd);
    free(r->dir);
    free(r);
}

uint64_t replica_allocated_bytes(const struct replica *r)
{
    struct stat st;
    if (fstat(r->data_fd, &st) < 0)
        return 0;
    return (uint64_t)st.st_blocks * 512;
}

int replica_grow(struct replica *r, uint64_t new_size, char *err, size_t errlen)
{
    if (new_size <= r->sb.size || new_size % r->sb.block_size) {
        snprintf(err, errlen, "cannot grow from %llu to %llu bytes (larger, in %u-byte blocks)",
                 (unsigned long long)r->sb.size, (unsigned long long)new_size, r->sb.block_size);
        errno = EINVAL;
        return -1;
    }
    if (ftruncate(r->data_fd, (off_t)new_size) < 0 || fsync(r->data_fd) < 0) {
        int e = errno;
        snprintf(err, errlen, "growing %s/" DATA_FILE ": %s", r->dir, strerror(e));
        errno = e == EFBIG ? ENOSPC : e;
        return -1;
    }
    struct superblock sb = r->sb;
    sb.size = new_size;
    uint8_t buf[SUPERBLOCK_BYTES];
    superblock_encode(&sb, buf);
    if (atomic_file_write(r->dir, SB_FILE, buf, sizeof(buf)) < 0) {
        int e = errno;
        snprintf(err, errlen, "writing %s/" SB_FILE ": %s", r->dir, strerror(e));
        errno = e;
        return -1;
    }
    r->sb = sb;
    return 0;
}

bool store_name_valid(const char *name, size_t max)
{
    size_t n = strlen(name);
    if (n == 0 || n > max || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}
