/* The condemned-pack list, prune/condemned.json: packs no manifest referenced when a prune last
 * looked, with the time it condemned them. It is how a prune and a ship that run at once agree
 * (proto/backup-store.md, "Prune and concurrent ships"):
 *  - a ship never relies on a condemned pack (it stores such chunks again), and before it writes
 *    its manifest it checks that none of the packs it relies on has been condemned or removed;
 *  - a prune deletes a pack only once it has been condemned for the settle time and is still
 *    unreferenced by every manifest it reads after that.
 * Plain JSON even in encrypted stores (it holds only random pack ids and times).
 *
 * Contract: blocking; a missing list is an empty one. Errors: negative errno with err. */
#ifndef TANDEM_SHIP_CONDEMN_H
#define TANDEM_SHIP_CONDEMN_H

#include "ship/index.h"

#define CONDEMNED_KEY "prune/condemned.json"

struct condemned {
    char (*ids)[PACK_ID_HEX + 1];
    int64_t *since;
    size_t n, cap;
};

int condemned_load(const struct repo *r, struct condemned *c, char *err, size_t errlen);
int condemned_save(const struct repo *r, const struct condemned *c, char *err, size_t errlen);
int condemned_add(struct condemned *c, const char *pack_id, int64_t since);
/* -1 when not condemned, else its position. */
long condemned_find(const struct condemned *c, const char *pack_id);
void condemned_free(struct condemned *c);

#endif
