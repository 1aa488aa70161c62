/* store/snapshot: the chain's bookkeeping without the write path. The first snapshot counts as
 * all changed; changed_since() unions changed maps back to the base and says ENOENT where it
 * cannot tell; deleting a middle snapshot folds its changes into the next one (a superset, never
 * less); sequence numbers survive deleting everything and reopening; a replica given a stale
 * sequence number refuses it; leftovers of an interrupted create are removed at open. */
#include "check.h"

#include "io/io_engine.h"
#include "store/snapshot.h"
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE (16ull << 20)

static char err[512];

static void settle(struct io_engine *e, struct snapset *s)
{
    /* let the asynchronous CBT commit land, as the reactor would */
    for (int i = 0; i < 1000 && s->cbt.committing; i++) {
        io_engine_flush(e);
        struct pollfd p = {.fd = io_engine_fd(e), .events = POLLIN};
        poll(&p, 1, 100);
        io_engine_reap(e);
    }
}

/* What a write to region r does to the maps: the CBT marks the region, and the newest
 * snapshot (if any) gets the region's units copied (vol/volume.c). */
static void set_region(struct snapset *s, unsigned r)
{
    s->cbt.bits[r >> 3] |= (uint8_t)(1u << (r & 7));
    if (s->newest)
        for (unsigned u = r << 4; u < (r + 1) << 4; u++)
            s->newest->cow.bits[u >> 3] |= (uint8_t)(1u << (u & 7));
}

static unsigned bits_to_mask(const uint8_t *bits, uint64_t n)
{
    unsigned m = 0;
    for (uint64_t i = 0; i < n && i < 32; i++)
        if (bits[i >> 3] & (1u << (i & 7)))
            m |= 1u << i;
    return m;
}

static unsigned changed(struct snapset *s, const char *name, uint64_t base, int *rc)
{
    uint8_t *bits = NULL;
    uint64_t n = 0;
    unsigned shift = 0;
    *rc = snapset_changed_since(s, snapset_find(s, name), base, &bits, &n, &shift);
    if (*rc == 0 && shift != SNAP_CBT_SHIFT) { /* exact units: fold to 1 MiB regions to compare */
        uint64_t per = 1ull << (SNAP_CBT_SHIFT - shift), nr = (n + per - 1) / per;
        uint8_t *r = calloc(1, (nr + 7) / 8 + 1);
        for (uint64_t u = 0; u < n; u++)
            if (bits[u >> 3] & (1u << (u & 7)))
                r[(u / per) >> 3] |= (uint8_t)(1u << ((u / per) & 7));
        free(bits);
        bits = r;
        n = nr;
    }
    unsigned m = *rc == 0 ? bits_to_mask(bits, n) : 0;
    free(bits);
    return m;
}

int main(void)
{
    log_init("test_snapshot", LOG_WARN);
    char dir[] = "/tmp/tandem-snap-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    struct io_engine *e = io_engine_open(IO_ENGINE_AUTO, 8, err, sizeof(err));
    CHECK(e != NULL, "engine: %s", err);
    struct snapset s;
    CHECK(snapset_open(&s, dir, SIZE, false, e, err, sizeof(err)) == 0, "open: %s", err);
    CHECK(s.next_seq == 1 && s.count == 0, "fresh set");

    CHECK(snapset_create(&s, "s1", 0, 100, err, sizeof(err)) != NULL, "s1: %s", err);
    settle(e, &s);
    set_region(&s, 3);
    CHECK(snapset_create(&s, "s2", 0, 200, err, sizeof(err)) != NULL, "s2: %s", err);
    settle(e, &s);
    set_region(&s, 5);
    CHECK(snapset_create(&s, "s3", 0, 300, err, sizeof(err)) != NULL, "s3: %s", err);
    settle(e, &s);
    CHECK(s.newest && s.newest->seq == 3 && s.newest->prev_seq == 2, "s3 is seq 3 after 2");
    CHECK(snapset_create(&s, "s3", 0, 300, err, sizeof(err)) == NULL && errno == EEXIST,
          "duplicate name refused");
    CHECK(snapset_create(&s, "x", 2, 300, err, sizeof(err)) == NULL && errno == EINVAL,
          "a stale sequence number refused");
    CHECK(snapset_create(&s, "../x", 0, 300, err, sizeof(err)) == NULL && errno == EINVAL,
          "bad name refused");

    int rc;
    CHECK(changed(&s, "s1", 0, &rc) == 0xffff && rc == 0, "first snapshot is all changed");
    CHECK(changed(&s, "s3", 2, &rc) == (1u << 5) && rc == 0, "s3 since s2: region 5");
    CHECK(changed(&s, "s3", 1, &rc) == ((1u << 3) | (1u << 5)) && rc == 0, "s3 since s1");
    changed(&s, "s2", 2, &rc);
    CHECK(rc < 0 && errno == ENOENT, "since itself: cannot tell");

    /* delete the middle one: s3 now covers s1..s3 */
    struct snapshot *s2 = snapset_find(&s, "s2");
    CHECK(snapset_pin_for_delete(&s, s2, err, sizeof(err)) == 0, "pin s2");
    CHECK(snapset_copy_to_older(&s, s2, err, sizeof(err)) == 0, "copy: %s", err);
    CHECK(snapset_fold_changed(&s, s2, err, sizeof(err)) == 0, "fold into s3");
    CHECK(snapset_unlink(&s, s2, err, sizeof(err)) == 0, "unlink: %s", err);
    CHECK(s.count == 2 && !snapset_find(&s, "s2"), "s2 gone");
    CHECK(changed(&s, "s3", 2, &rc) == ((1u << 3) | (1u << 5)) && rc == 0,
          "since a deleted base: a superset");
    CHECK(changed(&s, "s3", 1, &rc) == ((1u << 3) | (1u << 5)) && rc == 0, "since s1 still");

    /* a pinned snapshot cannot be deleted */
    struct snapshot *s1 = snapset_find(&s, "s1");
    CHECK(snapshot_pin(&s, s1), "pin s1 for reading");
    CHECK(snapset_pin_for_delete(&s, s1, err, sizeof(err)) < 0 && errno == EBUSY,
          "delete of a pinned snapshot refused");
    snapshot_unpin(s1);

    /* delete everything (newest last), reopen: numbers continue, CBT keeps the changes */
    CHECK(snapset_pin_for_delete(&s, s1, err, sizeof(err)) == 0, "pin s1");
    CHECK(snapset_fold_changed(&s, s1, err, sizeof(err)) == 0, "fold s1 into s3");
    CHECK(snapset_unlink(&s, s1, err, sizeof(err)) == 0, "unlink s1");
    struct snapshot *s3 = snapset_find(&s, "s3");
    set_region(&s, 7);
    CHECK(snapset_pin_for_delete(&s, s3, err, sizeof(err)) == 0, "pin s3");
    CHECK(snapset_fold_changed(&s, s3, err, sizeof(err)) == 1, "the newest folds into the CBT");
    settle(e, &s);
    CHECK(snapset_unlink(&s, s3, err, sizeof(err)) == 0, "unlink s3");
    CHECK(s.count == 0 && s.cbt_prev_seq == 0, "empty; the CBT counts from s3's predecessor");
    CHECK(bits_to_mask(s.cbt.bits, s.cbt.n_regions) & (1u << 7), "CBT kept its own bit");
    settle(e, &s);
    snapset_close(&s);

    char leftover[600];
    snprintf(leftover, sizeof(leftover), "%s/snapshots/.new-half", dir);
    CHECK(mkdir(leftover, 0700) == 0, "make a leftover");
    CHECK(snapset_open(&s, dir, SIZE, false, e, err, sizeof(err)) == 0, "reopen: %s", err);
    CHECK(access(leftover, F_OK) < 0, "leftover of an interrupted create removed");
    CHECK(s.next_seq == 4, "sequence numbers continue after deleting everything (%llu)",
          (unsigned long long)s.next_seq);
    CHECK(snapset_create(&s, "s4", 0, 400, err, sizeof(err)) != NULL, "s4");
    CHECK(s.newest->seq == 4 && s.newest->prev_seq == 0, "s4: seq 4, nothing before it");
    settle(e, &s);
    snapset_close(&s);
    CHECK(snapset_open(&s, dir, SIZE, false, e, err, sizeof(err)) == 0, "reopen 2");
    CHECK(s.count == 1 && s.newest && strcmp(s.newest->name, "s4") == 0 && s.newest->seq == 4,
          "s4 persisted");
    snapset_close(&s);
    io_engine_close(e);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return check_done("test_snapshot");
}
