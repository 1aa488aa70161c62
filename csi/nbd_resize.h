/* Growing a connected kernel NBD device (/dev/nbdN) to its export's new size, for online
 * expansion (node.c NodeExpandVolume). NBD has no resize notice: the server's export grew, but
 * the kernel keeps the size nbd-client gave it at connect, so the node plugin tells the kernel.
 *
 * Contract: blocking; needs CAP_SYS_ADMIN (the node plugin is privileged). Tries the netlink
 * interface first (NBD_CMD_RECONFIGURE with NBD_ATTR_SIZE_BYTES: devices nbd-client set up over
 * netlink, its default, Linux >= 5.3), then the NBD_SET_SIZE ioctl (devices set up with the
 * ioctl interface, which refuse netlink reconfiguration). The kernel announces the new capacity
 * to the block layer itself (a uevent; BLKGETSIZE64 answers the new size at once). 0, or -1
 * with a sentence in err naming both attempts. */
#ifndef TANDEM_CSI_NBD_RESIZE_H
#define TANDEM_CSI_NBD_RESIZE_H

#include <stddef.h>
#include <stdint.h>

int nbd_resize(const char *dev, uint64_t bytes, char *err, size_t errlen);

/* The size of an NBD export by URI (nbdinfo --size, from libnbd-bin like nbdfuse). 0, or -1
 * with err. */
int nbd_export_size(const char *uri, uint64_t *bytes, char *err, size_t errlen);

#endif
