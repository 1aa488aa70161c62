/* The set of volumes this node holds, shared by the control thread and the I/O reactor.
 *
 * Layout: <data-dir>/volumes/<name>/ is one replica (store/replica.h).
 *
 * Contract:
 *  - Thread-safe: one mutex guards the table. Functions called from the control thread may
 *    block on disk (create, delete, load); registry_attach()/registry_detach() only take the
 *    mutex and are what the reactor calls when a client picks or leaves an export.
 *  - A volume that cannot be opened (corrupt, foreign or unknown-version superblock, missing
 *    data file) is listed as broken with its reason and is never served or modified; deleting
 *    it is the operator's explicit way out.
 *  - A volume with attached clients cannot be deleted (EBUSY), so no I/O can run on a closed fd.
 *  - Errors: -1 with errno (EEXIST, ENOENT, EBUSY, EINVAL, ENOSPC...) and a one-line message. */
#ifndef TANDEM_VOL_REGISTRY_H
#define TANDEM_VOL_REGISTRY_H

#include "vol/volume.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>

struct vol_entry {
    char name[VOLUME_NAME_MAX + 1];
    char *dir;
    struct volume vol; /* valid only when !broken */
    bool broken;
    char *broken_reason;
    unsigned attached; /* open frontend connections */
};

struct registry {
    pthread_mutex_t lock;
    char *volumes_dir;
    enum cache_mode cache;
    struct io_engine *eng;
    struct bufpool *pool;
    struct vol_entry **entries;
    unsigned n, cap;
};

int registry_open(struct registry *r, const char *data_dir, enum cache_mode cache,
                  struct io_engine *eng, struct bufpool *pool, char *err, size_t errlen);
void registry_close(struct registry *r);

/* Valid names: 1-63 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool volume_name_valid(const char *name);

int registry_create(struct registry *r, const char *name, uint64_t size, char *err, size_t errlen);
/* As registry_create, with a given UUID (NULL: random) and a prepare hook (store/replica.h). */
int registry_create_ex(struct registry *r, const char *name, uint64_t size, const uint8_t *uuid,
                       replica_prepare_fn prepare, void *ctx, char *err, size_t errlen);
int registry_delete(struct registry *r, const char *name, char *err, size_t errlen);

/* For frontends: finds a servable volume and counts the attachment. NULL with a message if
 * the name is unknown or the volume is broken. The volume stays valid until detach. */
struct volume *registry_attach(struct registry *r, const char *name, char *err, size_t errlen);
void registry_detach(struct registry *r, struct volume *v);
/* Looks up without attaching (NBD_OPT_INFO); fills size. Returns 0 or -1 with a message. */
int registry_peek(struct registry *r, const char *name, uint64_t *size, char *err, size_t errlen);
/* The servable volume named name, for control work that does not attach (snapshots), or NULL
 * with a message. Valid until the control thread deletes it (only it deletes). */
struct vol_entry *registry_lookup(struct registry *r, const char *name, char *err, size_t errlen);
/* Calls fn for every servable volume name, under the lock (fn must not call back in). */
void registry_each_name(struct registry *r, void (*fn)(const char *name, void *ctx), void *ctx);

/* JSON descriptions for the control API (caller owns the returned object). */
struct json_object *registry_list_json(struct registry *r);
/* NULL with ENOENT if unknown. */
struct json_object *registry_status_json(struct registry *r, const char *name);

#endif
