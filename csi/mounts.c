/* Mounts and filesystems (contract in mounts.h). */
#include "mounts.h"

#include "proc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MKFS_TIMEOUT_MS  300000
#define MOUNT_TIMEOUT_MS 60000

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] && r[3]) {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Finds the last mount at path (the one visible); fills its source, fstype and per-mount
 * options if asked (NULL: not wanted). */
static bool find_mount_ex(const char *path, char *src, size_t len, char *type, size_t tlen,
                          char *opts, size_t olen)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        snprintf(real, sizeof(real), "%s", path);
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (fgets(line, sizeof(line), f)) {
        /* id parent major:minor root mountpoint opts ... - fstype source superopts */
        char mp[PATH_MAX], mo[1024] = "", source[PATH_MAX] = "", fstype[64] = "";
        if (sscanf(line, "%*s %*s %*s %*s %4095s %1023s", mp, mo) != 2)
            continue;
        unescape(mp);
        if (strcmp(mp, real) != 0)
            continue;
        const char *dash = strstr(line, " - ");
        if (dash && sscanf(dash, " - %63s %4095s", fstype, source) == 2)
            unescape(source);
        found = true;
        if (src)
            snprintf(src, len, "%s", source);
        if (type)
            snprintf(type, tlen, "%s", fstype);
        if (opts)
            snprintf(opts, olen, "%s", mo);
    }
    fclose(f);
    return found;
}

static bool find_mount(const char *path, char *src, size_t len)
{
    return find_mount_ex(path, src, len, NULL, 0, NULL, 0);
}

int mount_count_source(const char *dev)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        char source[PATH_MAX] = "";
        const char *dash = strstr(line, " - ");
        if (dash && sscanf(dash, " - %*s %4095s", source) == 1) {
            unescape(source);
            n += strcmp(source, dev) == 0;
        }
    }
    fclose(f);
    return n;
}

int mount_grow_fs_offline(const char *dev, const char *dir, char *err, size_t errlen)
{
    char type[64], opts[1024], out[1024];
    if (!find_mount_ex(dir, NULL, 0, type, sizeof(type), opts, sizeof(opts))) {
        snprintf(err, errlen, "%s is not mounted", dir);
        return -1;
    }
    if (mount_unmount(dir, err, errlen) < 0)
        return -1;
    /* resize2fs insists on a freshly checked filesystem; -p fixes only what is safe */
    const char *const fsck[] = {"e2fsck", "-f", "-p", dev, NULL};
    int rc = proc_run(fsck, MKFS_TIMEOUT_MS, out, sizeof(out));
    const char *const grow[] = {"resize2fs", dev, NULL};
    if (rc != 0 && rc != 1)
        snprintf(err, errlen, "e2fsck -f -p %s exited %d: %s", dev, rc, out);
    else if ((rc = proc_run(grow, MKFS_TIMEOUT_MS, out, sizeof(out))) != 0)
        snprintf(err, errlen, "resize2fs %s: %s", dev, out);
    /* mount again whatever happened: the staging path must not be left empty */
    const char *const mnt[] = {"mount", "-t", type, "-o", opts, dev, dir, NULL};
    char out2[1024];
    if (proc_run(mnt, MOUNT_TIMEOUT_MS, out2, sizeof(out2)) != 0) {
        snprintf(err, errlen, "remount %s on %s after resize: %s", dev, dir, out2);
        return -1;
    }
    return rc == 0 ? 0 : -1;
}

bool mount_is_mountpoint(const char *path)
{
    return find_mount(path, NULL, 0);
}

void mount_source_of(const char *path, char *dev, size_t len)
{
    if (!find_mount(path, dev, len) && len)
        dev[0] = '\0';
}

int mount_probe_fs(const char *dev, char *type, size_t len, char *err, size_t errlen)
{
    char out[256];
    const char *const argv[] = {"blkid", "-p", "-o", "value", "-s", "TYPE", dev, NULL};
    int rc = proc_run(argv, 30000, out, sizeof(out));
    if (rc == 2) /* blkid: nothing found */
        return 0;
    if (rc != 0) {
        snprintf(err, errlen, "blkid %s: %s", dev, out);
        return -1;
    }
    snprintf(type, len, "%s", out);
    return type[0] ? 1 : 0;
}

int mount_format_and_mount(const char *dev, const char *dir, const char *fstype,
                           const char *options, char *note, size_t notelen, char *err,
                           size_t errlen)
{
    char found[64], out[1024];
    int rc = mount_probe_fs(dev, found, sizeof(found), err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        /* nodiscard: a new Tandem volume reads as zeroes already, and discarding every block
         * through NBD would cost minutes on a large volume */
        const char *const ext4[] = {"mkfs.ext4", "-q", "-F", "-E", "nodiscard", dev, NULL};
        const char *const xfs[] = {"mkfs.xfs", "-q", "-K", dev, NULL};
        bool is_xfs = strcmp(fstype, "xfs") == 0;
        if (proc_run(is_xfs ? xfs : ext4, MKFS_TIMEOUT_MS, out, sizeof(out)) != 0) {
            snprintf(err, errlen, "mkfs.%s %s: %s", fstype, dev, out);
            return -1;
        }
        snprintf(note, notelen, "formatted %s as %s", dev, fstype);
        snprintf(found, sizeof(found), "%s", fstype);
    } else {
        snprintf(note, notelen, "found %s on %s (not formatted)", found, dev);
    }
    if (mount_mkdir_p(dir) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    const char *const with_opts[] = {"mount", "-t", found, "-o", options, dev, dir, NULL};
    const char *const plain[] = {"mount", "-t", found, dev, dir, NULL};
    if (proc_run(options[0] ? with_opts : plain, MOUNT_TIMEOUT_MS, out, sizeof(out)) != 0) {
        snprintf(err, errlen, "mount %s on %s: %s", dev, dir, out);
        return -1;
    }
    return 0;
}

int mount_bind(const char *src, const char *target, bool readonly, char *err, size_t errlen)
{
    char out[1024];
    const char *const bind[] = {"mount", "--bind", src, target, NULL};
    if (proc_run(bind, MOUNT_TIMEOUT_MS, out, sizeof(out)) != 0) {
        snprintf(err, errlen, "mount --bind %s %s: %s", src, target, out);
        return -1;
    }
    if (readonly) {
        const char *const ro[] = {"mount", "-o", "remount,bind,ro", target, NULL};
        if (proc_run(ro, MOUNT_TIMEOUT_MS, out, sizeof(out)) != 0) {
            snprintf(err, errlen, "remount %s read-only: %s", target, out);
            return -1;
        }
    }
    return 0;
}

int mount_unmount(const char *path, char *err, size_t errlen)
{
    char out[1024];
    const char *const argv[] = {"umount", path, NULL};
    if (proc_run(argv, MOUNT_TIMEOUT_MS, out, sizeof(out)) != 0) {
        snprintf(err, errlen, "umount %s: %s", path, out);
        return -1;
    }
    return 0;
}

int mount_grow_fs(const char *dev, const char *dir, char *err, size_t errlen)
{
    char type[64], out[1024];
    int rc = mount_probe_fs(dev, type, sizeof(type), err, errlen);
    if (rc <= 0) {
        if (rc == 0)
            snprintf(err, errlen, "no filesystem on %s to grow", dev);
        return -1;
    }
    const char *const ext[] = {"resize2fs", dev, NULL};
    const char *const xfs[] = {"xfs_growfs", dir, NULL};
    bool is_xfs = strcmp(type, "xfs") == 0;
    if (!is_xfs && strncmp(type, "ext", 3) != 0) {
        snprintf(err, errlen, "cannot grow a %s filesystem", type);
        return -1;
    }
    if (proc_run(is_xfs ? xfs : ext, MKFS_TIMEOUT_MS, out, sizeof(out)) != 0) {
        /* online ext4 growth is EXT4_IOC_RESIZE_FS, which needs CAP_SYS_RESOURCE: say so
         * rather than pass on resize2fs's bare EPERM */
        bool perm = strstr(out, "Operation not permitted") != NULL;
        snprintf(err, errlen, "%s%s: %s", is_xfs ? "xfs_growfs" : "resize2fs",
                 perm && !is_xfs ? " (online ext4 growth needs CAP_SYS_RESOURCE, which this node "
                                   "plugin does not have)"
                                 : "",
                 out);
        errno = perm ? EPERM : EIO;
        return -1;
    }
    return 0;
}

int mount_mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0750) < 0 && errno != EEXIST ? -1 : 0;
}
