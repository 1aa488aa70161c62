/* The offset alignment O_DIRECT needs on an open file.
 *
 * Contract: returns statx's STATX_DIOALIGN offset alignment (Linux 6.1+) when the kernel and
 * filesystem report it, else 4096, which every Linux block device accepts. Never fails. */
#ifndef TANDEM_STORE_DIO_ALIGN_H
#define TANDEM_STORE_DIO_ALIGN_H

unsigned dio_offset_align(int fd);

#endif
