/* One replica of a volume on this node: a directory holding the superblock and the sparse data
 * file. See docs/on-disk-format.md.
 *
 * Contract:
 *  - replica_create() makes the directory atomically: it is built under "<dir>.creating" and
 *    renamed into place only once complete and fsynced, so a crash never leaves a half-made
 *    replica that looks real. Fails with EEXIST if dir exists.
 *  - replica_open() refuses, with a one-line reason and without modifying anything, a directory
 *    whose superblock is missing, foreign, corrupt or of an unknown version, or whose data file
 *    is shorter than the superblock's size.
 *  - With CACHE_NONE the data file is opened O_DIRECT; if the filesystem refuses O_DIRECT the
 *    replica falls back to the page cache with a log line (r->direct says which is in effect).
 *  - All functions block (they run on the control thread or at start-up, never on the I/O path).
 *  - Errors: return -1 with errno set and a reason in err. */
#ifndef TANDEM_STORE_REPLICA_H
#define TANDEM_STORE_REPLICA_H

#include "store/superblock.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cache_mode { CACHE_NONE, CACHE_WRITEBACK };

struct replica {
    char *dir;
    struct superblock sb;
    int data_fd;
    bool direct;
    unsigned dio_align; /* offsets and lengths must be multiples of this for O_DIRECT; 1 if none */
};

/* uuid: the volume's UUID (a replica created for a peer takes the volume's), or NULL for a new
 * random one. prepare, if set, runs inside the not-yet-visible directory after the superblock is
 * written (to add files that must appear atomically with the replica); non-zero fails the
 * create. */
typedef int (*replica_prepare_fn)(const char *tmpdir, const struct superblock *sb, void *ctx);
int replica_create(const char *dir, const char *name, uint64_t size, uint32_t block_size,
                   const uint8_t *uuid, replica_prepare_fn prepare, void *ctx, char *err,
                   size_t errlen);
int replica_open(const char *dir, enum cache_mode cache, struct replica **out, char *err,
                 size_t errlen);
void replica_close(struct replica *r);
/* Grows the volume to new_size (a multiple of the block size, larger than now): the data file
 * first, then the superblock, replaced atomically, so a crash leaves the old size or the new
 * one (a data file longer than the superblock says is valid). Blocking. */
int replica_grow(struct replica *r, uint64_t new_size, char *err, size_t errlen);
/* Bytes the data file occupies on disk (allocated blocks), for status. */
uint64_t replica_allocated_bytes(const struct replica *r);

/* The one naming rule for volumes and snapshots (they become directory names): 1..max of
 * [A-Za-z0-9._-], not starting with '.' or '-'. */
bool store_name_valid(const char *name, size_t max);

/* Removes a directory tree (used for deletes and leftovers of interrupted creates). */
int remove_tree(const char *path);
/* fsync() on a directory, so a rename or create inside it is durable. */
int fsync_dir(const char *path);

#endif
