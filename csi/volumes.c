/* Volume lookup and naming (contract in volumes.h). */
#include "volumes.h"

#include "ctl_client.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

bool vol_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > VOL_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* prefix + the first 20 bytes of name's SHA-256 in hex */
static void hashed_name(const char *prefix, const char *name, char out[VOL_NAME_MAX + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)name, strlen(name), md);
    int len = snprintf(out, VOL_NAME_MAX + 1, "%s", prefix);
    for (int i = 0; i < 20; i++)
        len += snprintf(out + len, (size_t)(VOL_NAME_MAX + 1 - len), "%02x", md[i]);
}

void vol_name_for(const char *csi_name, char out[VOL_NAME_MAX + 1])
{
    /* "csi-" names are reserved for hashes, so a CO name can never collide with one */
    if (vol_name_valid(csi_name) && strncmp(csi_name, "csi-", 4) != 0)
        snprintf(out, VOL_NAME_MAX + 1, "%s", csi_name);
    else
        hashed_name("csi-", csi_name, out);
}

void snap_name_for(const char *csi_name, char out[VOL_NAME_MAX + 1])
{
    vol_name_for(csi_name, out);
    if (clone_snap(out))
        hashed_name("csi-", csi_name, out);
}

void clone_snap_name(const char *clone, char out[VOL_NAME_MAX + 1])
{
    if (strlen(CLONE_SNAP_PREFIX) + strlen(clone) <= VOL_NAME_MAX)
        snprintf(out, VOL_NAME_MAX + 1, CLONE_SNAP_PREFIX "%s", clone);
    else
        hashed_name(CLONE_SNAP_PREFIX "-", clone, out);
}

bool clone_snap(const char *snap)
{
    return strncmp(snap, CLONE_SNAP_PREFIX, strlen(CLONE_SNAP_PREFIX)) == 0;
}

struct json_object *vol_op(const struct cluster_node *n, const char *op, const char *name,
                           struct json_object *extra, char *err, size_t errlen)
{
    struct json_object *req = extra ? json_object_get(extra) : json_object_new_object();
    json_object_object_add(req, "op", json_object_new_string(op));
    if (name)
        json_object_object_add(req, "name", json_object_new_string(name));
    struct json_object *r = ctl_call(n->control, req, CTL_CALL_TIMEOUT_MS, err, errlen);
    json_object_put(req);
    return r;
}

static struct vol_replica *member_of(struct vol_info *v, const char *node)
{
    for (unsigned i = 0; i < vol_members(v); i++)
        if (strcmp(vol_member(v, i)->node, node) == 0)
            return vol_member(v, i);
    return NULL;
}

void vol_find(const struct cluster *c, struct node_view *views, const char *name,
              struct vol_info *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    for (size_t i = 0; i < c->n; i++) {
        struct node_view *nv = &views[i];
        if (!nv->up) {
            out->nodes_down++;
            continue;
        }
        char err[256];
        struct json_object *r = vol_op(nv->node, "volume.status", name, NULL, err, sizeof(err));
        struct json_object *vol, *reps;
        if (!ctl_ok(r) || !json_object_object_get_ex(r, "volume", &vol)) {
            if (!r)
                out->nodes_down++;
            json_object_put(r);
            continue;
        }
        if (!out->found) {
            out->found = true;
            out->size = ctl_int(vol, "size");
            if (json_object_object_get_ex(vol, "replicas", &reps) &&
                json_object_is_type(reps, json_type_array)) {
                out->replicated = true;
                for (size_t k = 0; k < json_object_array_length(reps) && k < VOL_MAX_REPLICAS;
                     k++) {
                    struct json_object *m = json_object_array_get_idx(reps, k), *w;
                    bool witness =
                        json_object_object_get_ex(m, "witness", &w) && json_object_get_boolean(w);
                    if (witness && out->has_witness)
                        continue; /* tandem-csi makes at most one; a second is left alone */
                    struct vol_replica *rp = witness ? &out->witness : &out->rep[out->n_rep++];
                    out->has_witness |= witness;
                    snprintf(rp->node, sizeof(rp->node), "%s",
                             ctl_str(m, "node") ? ctl_str(m, "node") : "");
                    snprintf(rp->zone, sizeof(rp->zone), "%s",
                             ctl_str(m, "zone") ? ctl_str(m, "zone") : "");
                }
            } else {
                struct vol_replica *rp = &out->rep[out->n_rep++];
                snprintf(rp->node, sizeof(rp->node), "%s", nv->node->id);
                snprintf(rp->zone, sizeof(rp->zone), "%s", nv->zone);
            }
        }
        struct vol_replica *rp = member_of(out, nv->node->id);
        if (rp) {
            rp->present = true;
            rp->view = nv;
            /* the node's own word on its role and zone beats what a peer last heard */
            snprintf(rp->role, sizeof(rp->role), "%s",
                     ctl_str(vol, "role") ? ctl_str(vol, "role") : "");
            if (nv->zone[0])
                snprintf(rp->zone, sizeof(rp->zone), "%s", nv->zone);
            rp->clients = ctl_int(vol, "clients");
        }
        json_object_put(r);
    }
    for (unsigned i = 0; i < vol_members(out); i++)
        if (!vol_member(out, i)->view)
            for (size_t k = 0; k < c->n; k++)
                if (strcmp(views[k].node->id, vol_member(out, i)->node) == 0)
                    vol_member(out, i)->view = &views[k];
}

#define VOL_LOCK_STRIPES 64

static pthread_mutex_t vol_locks[VOL_LOCK_STRIPES];
static pthread_once_t vol_locks_once = PTHREAD_ONCE_INIT;

static void vol_locks_init(void)
{
    for (int i = 0; i < VOL_LOCK_STRIPES; i++)
        pthread_mutex_init(&vol_locks[i], NULL);
}

static pthread_mutex_t *vol_lock_of(const char *name)
{
    pthread_once(&vol_locks_once, vol_locks_init);
    unsigned h = 5381;
    for (const char *p = name; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return &vol_locks[h % VOL_LOCK_STRIPES];
}

void vol_lock(const char *name)
{
    pthread_mutex_lock(vol_lock_of(name));
}

void vol_unlock(const char *name)
{
    pthread_mutex_unlock(vol_lock_of(name));
}

#define INFLIGHT_MAX 64

static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static char inflight[INFLIGHT_MAX][VOL_NAME_MAX + 1];

bool vol_inflight_begin(const char *name)
{
    pthread_mutex_lock(&inflight_lock);
    int free_slot = -1;
    for (int i = 0; i < INFLIGHT_MAX; i++) {
        if (strcmp(inflight[i], name) == 0) {
            pthread_mutex_unlock(&inflight_lock);
            return false;
        }
        if (!inflight[i][0] && free_slot < 0)
            free_slot = i;
    }
    if (free_slot >= 0)
        snprintf(inflight[free_slot], sizeof(inflight[free_slot]), "%s", name);
    pthread_mutex_unlock(&inflight_lock);
    return free_slot >= 0;
}

void vol_inflight_end(const char *name)
{
    pthread_mutex_lock(&inflight_lock);
    for (int i = 0; i < INFLIGHT_MAX; i++)
        if (strcmp(inflight[i], name) == 0)
            inflight[i][0] = '\0';
    pthread_mutex_unlock(&inflight_lock);
}
