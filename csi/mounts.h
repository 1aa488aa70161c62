/* Filesystems and mounts for the node service: is a path a mount point, what filesystem does a
 * device hold, make one only on a blank device, mount, bind, unmount, grow.
 *
 * Contract: blocking, uses the system tools (proc.h) except for the mount table, which is
 * read from /proc/self/mountinfo. Errors: -1 with a one-line message naming the command. */
#ifndef TANDEM_CSI_MOUNTS_H
#define TANDEM_CSI_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

bool mount_is_mountpoint(const char *path);
/* The source device of the mount at path ("" if none). */
void mount_source_of(const char *path, char *dev, size_t len);
/* Filesystem type found on dev: 1 with type set, 0 if the device is blank, -1 on error. */
int mount_probe_fs(const char *dev, char *type, size_t len, char *err, size_t errlen);
/* mkfs only if blank; then mount dev at dir with fstype and comma-joined options (may be ""). */
int mount_format_and_mount(const char *dev, const char *dir, const char *fstype,
                           const char *options, char *note, size_t notelen, char *err,
                           size_t errlen);
int mount_bind(const char *src, const char *target, bool readonly, char *err, size_t errlen);
int mount_unmount(const char *path, char *err, size_t errlen);
/* Grows the filesystem on dev, mounted at dir, to fill the device (resize2fs / xfs_growfs). */
int mount_grow_fs(const char *dev, const char *dir, char *err, size_t errlen);
/* ext2/3/4 without the kernel's online resize (which needs CAP_SYS_RESOURCE): unmount dir,
 * e2fsck -f -p, resize2fs, mount again with the same type and options. Only when nothing else
 * (no publish bind mount) uses the filesystem. */
int mount_grow_fs_offline(const char *dev, const char *dir, char *err, size_t errlen);
/* How many mounts have dev as their source (the staging mount and its bind mounts). */
int mount_count_source(const char *dev);
int mount_mkdir_p(const char *path);

#endif
