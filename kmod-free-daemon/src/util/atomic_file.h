/* Replacing a small file atomically and durably: write "<name>.tmp", fsync, rename over
 * "<name>", fsync the directory. A crash leaves either the old content or the new, never a mix.
 *
 * Contract: blocking; 0, or -1 with errno set. */
#ifndef TANDEM_UTIL_ATOMIC_FILE_H
#define TANDEM_UTIL_ATOMIC_FILE_H

#include <stddef.h>

int atomic_file_write(const char *dir, const char *name, const void *data, size_t len);
/* fsync() on a directory, so a rename or create inside it is durable. */
int fsync_dir_path(const char *dir);

#endif
