/* Attaching a Tandem volume's NBD export as a local block device, and the record of it.
 *
 * Two ways, chosen per node (--attach auto|nbd|fuse, auto = nbd when the kernel has the nbd
 * driver, else fuse):
 *   nbd   the kernel's own NBD driver: nbd-client connects /dev/nbdN to the export. This is the
 *         production path on EKS nodes.
 *   fuse  where /dev/nbd* is missing (this build machine's kernel has no nbd driver): nbdfuse
 *         exposes the export as a file in a FUSE mount and losetup turns that file into
 *         /dev/loopN (direct I/O, so the page cache does not hold the data twice).
 * Either way the result is a block device the filesystem code treats the same. Which path was
 * used is logged and returned to the caller to report.
 *
 * Records: STATE_DIR/attach/VOLUME holds what was attached (method, device, FUSE mount, its
 * pid, staging path), so a retried NodeStage finds the attachment instead of making a second
 * one, and NodeUnstage knows what to undo. Written atomically (rename).
 *
 * Contract: blocking; callers serialise operations on one volume (node.c holds a lock). */
#ifndef TANDEM_CSI_ATTACH_H
#define TANDEM_CSI_ATTACH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct attachment {
    char volume[64];
    char method[8];  /* "nbd" or "fuse" */
    char device[64]; /* /dev/nbdN or /dev/loopN */
    char fuse_dir[PATH_MAX];
    int fuse_pid;
    char staging[PATH_MAX];
    bool block;               /* raw block: staged without a filesystem */
    char uri[PATH_MAX + 128]; /* the export's NBD URI: online expansion asks it for its size */
};

/* nbd_addr: the export's address as tandemd's node.status reports it (a Unix socket path or
 * HOST:PORT). method: "auto", "nbd" or "fuse". */
int attach_volume(const char *state_dir, const char *volume, const char *nbd_addr,
                  const char *method, struct attachment *out, char *err, size_t errlen);
int detach_volume(const struct attachment *a, char *err, size_t errlen);
/* How many /dev/nbdN devices the kernel has (0 without the nbd driver: no fixed limit then). */
int attach_nbd_devices(void);
int attach_record_load(const char *state_dir, const char *volume, struct attachment *out);
int attach_record_save(const char *state_dir, const struct attachment *a, char *err, size_t errlen);
void attach_record_remove(const char *state_dir, const char *volume);

#endif
