/* Taking and deleting a volume's snapshots at a write boundary (store/snapshot.h holds the
 * files; this is the part that has to run on the volume's reactor).
 *
 * Contract:
 *  - Reactor thread. op->done(op) runs on the reactor when the op is over, with op->error 0 or
 *    a positive errno and op->err a one-line reason.
 *  - vsnap_create(): freezes the volume (vol_freeze), makes the data file durable, takes the
 *    snapshot (seq 0: the next number; else the primary's), thaws. Writes wait only while the
 *    in-flight ones drain and the snapshot's files are made.
 *  - vsnap_delete(): the caller has pinned the snapshot for deletion and done the bulk copy
 *    (snapset_pin_for_delete, snapset_copy_to_older) on the control thread; this freezes, copies
 *    what the snapshot gained since, folds its changed map (waiting for the CBT to be durable
 *    when the map goes there), unlinks it and thaws. */
#ifndef TANDEM_VOL_VSNAP_H
#define TANDEM_VOL_VSNAP_H

#include "store/snapshot.h"
#include "util/reactor_call.h"
#include "vol/volume.h"

struct vsnap_op {
    struct volume *v;
    char name[SNAP_NAME_MAX + 1];
    uint64_t seq;
    int64_t created;
    struct snapshot *snap; /* create: the new one; delete: the one going */
    void (*done)(struct vsnap_op *op);
    void *ctx;
    int error;
    char err[512];
    /* private */
    struct io_req io;
    struct bitmap_waiter cbt_wait;
};

void vsnap_create(struct vsnap_op *op);
void vsnap_delete(struct vsnap_op *op);

/* The whole delete from a thread that is not the reactor (the control thread, or a worker a
 * replica starts when its primary deleted a snapshot): pins, does the bulk copy on the calling
 * thread, then finishes on the reactor through q. 0, or -1 with errno and err. */
int vsnap_delete_blocking(struct volume *v, struct reactor_queue *q, const char *name, char *err,
                          size_t errlen);

#endif
