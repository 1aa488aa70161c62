/* Kept apart because glibc 2.36's struct statx lacks the dio fields: this file uses the kernel's
 * own struct statx from <linux/stat.h>, which cannot be mixed with <sys/stat.h>. */
#include "store/dio_align.h"

#include <fcntl.h>
#include <linux/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

unsigned dio_offset_align(int fd)
{
    struct statx stx = {0};
    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align &&
        stx.stx_dio_mem_align <= 4096)
        return stx.stx_dio_offset_align;
    return 4096;
}
