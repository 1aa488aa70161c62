/* Replication metadata of one replica: its role, disk state, generation ids and the volume's
 * replica set. Stored as "replication.json" in the replica directory (docs/on-disk-format.md),
 * rewritten atomically (temporary file, fsync, rename, directory fsync).
 *
 * Contract: repl_meta_load()/repl_meta_save() block on disk and return 0 or -1 with a message;
 * a missing file means "not replicated" (ENOENT). Generation ids follow proto/replication.md §4.
 * Thread: whoever owns the volume's replication state (the reactor). */
#ifndef TANDEM_REPL_META_H
#define TANDEM_REPL_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPL_MAX_REPLICAS 5
#define REPL_NAME_MAX     63

enum repl_role { ROLE_SECONDARY, ROLE_PRIMARY };
enum disk_state { DISK_UPTODATE, DISK_OUTDATED, DISK_INCONSISTENT, DISK_DISKLESS };

struct repl_member {
    char node[REPL_NAME_MAX + 1];
    char addr[128];       /* HOST:PORT of its peer listener */
    uint64_t bitmap_base; /* our `current` when we began tracking what it missed */
    bool witness;         /* a diskless voter: no data, never primary (proto §11) */
};

struct repl_meta {
    enum repl_role role;
    enum disk_state disk;
    uint64_t current, history[2];
    unsigned n_members; /* every replica, this node included */
    struct repl_member members[REPL_MAX_REPLICAS];
    bool io_error_on_no_quorum; /* else suspend */
};

int repl_meta_load(const char *dir, struct repl_meta *m, char *err, size_t errlen);
int repl_meta_save(const char *dir, const struct repl_meta *m, char *err, size_t errlen);
/* Starts a new generation (proto §4): history shifts, current becomes random. */
void repl_meta_new_generation(struct repl_meta *m);
uint64_t repl_random_u64(void);

const char *role_name(enum repl_role r);
const char *disk_state_name(enum disk_state d);
int disk_state_parse(const char *s, enum disk_state *out);

#endif
