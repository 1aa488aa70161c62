/* Snapshots of one replica on disk, and its changed-block tracking (docs/snapshots.md).
 *
 * Layout inside the replica directory:
 *   cbt.bitmap                    1 MiB regions written since the last snapshot was taken
 *   snapshots/state.json          {"next_seq", "cbt_prev_seq"}: survives deleting every snapshot
 *   snapshots/<name>/snap.json    name, seq, prev_seq, created, size
 *   snapshots/<name>/cow.data     sparse; at the volume's offsets, the data a later write replaced
 *   snapshots/<name>/cow.bitmap   64 KiB units present in cow.data
 *   snapshots/<name>/changed.bitmap  1 MiB regions written between snapshot prev_seq and this one
 *
 * A snapshot costs no copy when taken. Writes copy the old content of a 64 KiB unit into the
 * NEWEST snapshot's cow.data before they first overwrite it (vol/volume.c); older snapshots
 * never change, because whatever they lack was unchanged until the next snapshot was taken,
 * which then preserved it. So the image of snapshot S at unit u is: the cow.data of the first
 * snapshot from S towards the newest that holds u, else the live data file.
 *
 * Contract:
 *  - snapset_open/create/delete block on disk: control thread, or the reactor while the volume
 *    is frozen (vol_freeze) for the steps that change what the write path sees (the newest
 *    snapshot, the CBT).
 *  - The chain (older/newer links, newest) changes only under set->lock, which image readers on
 *    other threads take too; cow.bitmap bits are read with bitmap_test_shared().
 *  - Sequence numbers increase per volume and are never reused, even after deletes; on a
 *    replicated volume the primary assigns them, so every replica agrees.
 *  - Errors: -1 with errno and a one-line reason in err. */
#ifndef TANDEM_STORE_SNAPSHOT_H
#define TANDEM_STORE_SNAPSHOT_H

#include "repl/bitmap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SNAP_COW_SHIFT 16 /* copy-before-write unit: 64 KiB */
#define SNAP_COW_BYTES (1ull << SNAP_COW_SHIFT)
#define SNAP_CBT_SHIFT 20 /* changed-block tracking region: 1 MiB */
#define SNAP_NAME_MAX  63

struct snapshot {
    char name[SNAP_NAME_MAX + 1];
    uint64_t seq, prev_seq; /* prev_seq: the snapshot taken before this one (0: none) */
    int64_t created;
    uint64_t size;
    char *dir;
    int cow_fd;
    struct bitmap cow;     /* units held in cow.data; the reactor marks it while newest */
    struct bitmap changed; /* read-only once taken, except when a neighbour is deleted */
    struct snapshot *older, *newer;
    atomic_int pins; /* readers (ships) using it: delete refuses while > 0 */
    bool deleting;   /* under set->lock: no new pins */
};

struct snapset {
    pthread_mutex_t lock;
    char *dir; /* <replica>/snapshots */
    struct snapshot *oldest, *newest;
    unsigned count;
    struct bitmap cbt;
    uint64_t size; /* the volume's */
    uint64_t next_seq, cbt_prev_seq;
    bool direct; /* cow.data opened O_DIRECT like the data file */
};

/* Loads (creating cbt.bitmap and snapshots/ if missing) the snapshots of the replica at
 * replica_dir; removes leftovers of interrupted creates. */
int snapset_open(struct snapset *s, const char *replica_dir, uint64_t size, bool direct,
                 struct io_engine *eng, char *err, size_t errlen);
void snapset_close(struct snapset *s);

bool snapshot_name_valid(const char *name);
struct snapshot *snapset_find(struct snapset *s, const char *name);

/* Takes a snapshot: the caller has frozen the volume and made the data file durable. seq 0
 * assigns the next number; a replica given the primary's number takes it (it must be higher
 * than any it has). The CBT is frozen into the snapshot and starts again empty. EEXIST if the
 * name is taken. */
struct snapshot *snapset_create(struct snapset *s, const char *name, uint64_t seq, int64_t created,
                                char *err, size_t errlen);

/* Deleting snapshot P keeps every other image intact: the units P holds that its older
 * neighbour O lacks are O's image too (unchanged between O and P), so they move into O; and P's
 * changed map folds into its newer neighbour's (or into the CBT if P is the newest).
 *  snapset_pin_for_delete(): refuses (EBUSY) while a reader holds P, then keeps new pins off.
 *  snapset_copy_to_older(): the bulk copy; the control thread may run it while writes go on
 *    (only the newest snapshot gains units, and O is not the newest); run it again with the
 *    volume frozen to catch units P gained meanwhile.
 *  snapset_fold_changed(): volume frozen, reactor. Returns 1 if the bits went into the CBT,
 *    whose commit the caller must see durable (bitmap waiter) before snapset_unlink().
 *  snapset_unlink(): volume frozen, reactor: unlinks P, records the sequence state, removes its
 *    directory (renamed away first, so a crash never leaves half of it) and frees it. */
int snapset_pin_for_delete(struct snapset *s, struct snapshot *snap, char *err, size_t errlen);
void snapset_unpin_delete(struct snapset *s, struct snapshot *snap);
int snapset_copy_to_older(struct snapset *s, struct snapshot *snap, char *err, size_t errlen);
int snapset_fold_changed(struct snapset *s, struct snapshot *snap, char *err, size_t errlen);
int snapset_unlink(struct snapset *s, struct snapshot *snap, char *err, size_t errlen);

/* Pins snap for reading from another thread (a ship); false if it is being deleted. */
bool snapshot_pin(struct snapset *s, struct snapshot *snap);
void snapshot_unpin(struct snapshot *snap);
/* The volume grew: the CBT covers the new size (the regions beyond the old end count as changed,
 * so the next incremental reads them). Snapshots keep their size. Reactor. */
int snapset_grow(struct snapset *s, uint64_t new_size);
/* Whether any snapshot of the set is pinned. */
bool snapset_pinned(struct snapset *s);

/* The regions that may differ between snapshot base_seq and snap: a freshly malloc()ed bitmap
 * of *n_out bits, each covering 1 << *shift_out bytes. While the base snapshot is still here
 * (and the volume has not grown since), that is exact to the 64 KiB unit: a unit written between
 * the two was copied into one of the snapshots from the base up to snap's predecessor. Else the
 * 1 MiB changed maps, unioned back to base_seq. -1 with ENOENT if the chain back to base_seq is
 * not known here. */
int snapset_changed_since(struct snapset *s, struct snapshot *snap, uint64_t base_seq,
                          uint8_t **bits_out, uint64_t *n_out, unsigned *shift_out);

/* Reads [off, off+len) of snap's image. Thread-safe (any thread); off, len and buf aligned to
 * 4096. data_fd is the live data file. 0 or -errno. */
int snapshot_read(struct snapset *s, struct snapshot *snap, int data_fd, uint64_t off, void *buf,
                  size_t len);

#endif
