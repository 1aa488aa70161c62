/* Retention for a backup store: keep the newest N snapshots of a volume, then free the packs
 * that no remaining manifest (of any volume) needs.
 *
 * A pack is deleted only when (1) none of its blobs is referenced by a manifest read in this
 * run, (2) it is older than grace_s (a pack that young may belong to a ship still running, whose
 * manifest is not written yet), and (3) it has been on the condemned list (condemn.h) for at
 * least settle_s, so a ship that checked the list just before the pack was condemned has had
 * time to write its manifest, which this run then sees. A run that condemns packs waits settle_s
 * once and looks again, so one run frees what it can (wait false: leave them to the next run).
 * Then one consolidated index replaces the ones read, and removed packs leave the list.
 * A pack that is at least half dead (and older than the grace period) is rewritten: its live
 * blobs are copied, sealed bytes as they are, into a new pack, which is indexed before the old
 * one is condemned; once a copy of each of its live blobs is in a pack that is not condemned,
 * the old pack counts as dead and goes after the settle time like any other.
 *
 * Contract: blocking; one prune at a time per store (they would race on the condemned list);
 * ships may run concurrently. Any error before deleting aborts with nothing deleted but the
 * expired manifests. Errors: negative errno with err. */
#ifndef TANDEM_SHIP_PRUNE_H
#define TANDEM_SHIP_PRUNE_H

#include "ship/ship.h"

#include <stdbool.h>
#include <stdint.h>

struct prune_params {
    const char *url;
    const char *volume;
    unsigned keep_last; /* >= 1 */
    int64_t grace_s;    /* default 3600 */
    int64_t settle_s;   /* default 60 */
    bool wait;          /* wait settle_s for packs condemned in this run */
    struct ship_store_opts store;
};

struct prune_result {
    size_t manifests_deleted, manifests_kept;
    size_t packs_total, packs_live, packs_deleted, packs_condemned, packs_young;
    size_t packs_partly_dead, packs_rewritten;
    uint64_t bytes_freed, bytes_dead_in_live_packs, bytes_rewritten;
    size_t indexes_replaced;
};

int prune_run(const struct prune_params *p, struct prune_result *res, char *err, size_t errlen);

#endif
