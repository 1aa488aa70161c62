/* Control operations on replicated volumes, run on the reactor (util/reactor_call.h):
 * create across the replica set, promote, demote, status, verify; and the receiving side of
 * CREATE.
 *
 * Create: the local replica is made first (with replication.json inside, atomically), then
 * CREATE goes to every other member (connecting to it if needed) and the call answers when all
 * have acknowledged, or fails after CREATE_TIMEOUT_MS naming who did not; a failed create
 * removes the local replica again. Replicas already made on peers stay (harmless: they have
 * this volume's UUID and take no I/O until a primary with that UUID attaches). */
#include "repl/repl_internal.h"

#include "util/json_reply.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CREATE_TIMEOUT_MS 10000

struct create_job {
    struct reactor_job *job;
    struct rvol *rv;
    char name[VOLUME_NAME_MAX + 1];
    bool sent[REPL_MAX_REPLICAS], acked[REPL_MAX_REPLICAS];
    uint64_t deadline;
    char error[512];
    struct create_job *next;
};

static struct vol_entry *entry_by_name(struct registry *reg, const char *name)
{
    for (unsigned i = 0; i < reg->n; i++)
        if (strcmp(reg->entries[i]->name, name) == 0)
            return reg->entries[i];
    return NULL;
}

/* ---- create ---- */

static int write_meta(const char *tmpdir, const struct superblock *sb, void *ctx)
{
    (void)sb;
    char err[256];
    return repl_meta_save(tmpdir, ctx, err, sizeof(err));
}

static void send_create(struct create_job *cj, unsigned i)
{
    struct rvol *rv = cj->rv;
    struct peer *p = rv->links[i].peer;
    char uuid[37];
    uuid_format(rv->uuid, uuid);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(rv->entry->name));
    json_object_object_add(o, "uuid", json_object_new_string(uuid));
    json_object_object_add(o, "size", json_object_new_uint64(rv->vol->rep->sb.size));
    json_object_object_add(o, "current", json_hex_u64(rv->meta.current));
    json_object_object_add(
        o, "on_no_quorum",
        json_object_new_string(rv->meta.io_error_on_no_quorum ? "io-error" : "suspend"));
    struct json_object *arr = json_object_new_array();
    for (unsigned k = 0; k < rv->meta.n_members; k++) {
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "node", json_object_new_string(rv->meta.members[k].node));
        json_object_object_add(m, "addr", json_object_new_string(rv->meta.members[k].addr));
        if (rv->meta.members[k].witness)
            json_object_object_add(m, "witness", json_object_new_boolean(1));
        json_object_array_add(arr, m);
    }
    json_object_object_add(o, "replicas", arr);
    struct ack_slot *s = &p->acks[(p->next_seq + 1) % ACK_RING];
    if (s->kind == ACK_NONE) {
        peer_send_json(p, FRAME_CREATE, rv->volume_id, o);
        s->kind = ACK_CREATE;
        s->seq = p->next_seq;
        s->ptr = cj;
        cj->sent[i] = true;
    }
    json_object_put(o);
}

static void create_finish(struct repl_node *n, struct create_job *cj, bool success)
{
    for (struct create_job **pp = &n->creates; *pp; pp = &(*pp)->next)
        if (*pp == cj) {
            *pp = cj->next;
            break;
        }
    /* forget any ack still pointing at this job */
    for (struct peer *p = n->peers; p; p = p->next)
        for (unsigned i = 0; i < ACK_RING; i++)
            if (p->acks[i].kind == ACK_CREATE && p->acks[i].ptr == cj)
                p->acks[i].kind = ACK_NONE;
    struct json_object *res;
    if (success) {
        res = json_reply_ok();
        struct json_object *v = registry_status_json(n->reg, cj->name);
        if (v) {
            repl_status_json(cj->rv, v);
            json_object_object_add(res, "volume", v);
        }
        log_info("repl", "volume %s created on %u replicas", cj->name, cj->rv->meta.n_members);
    } else {
        res = json_reply_fail("unavailable", cj->error);
        for (struct rvol **pp = &n->vols; *pp; pp = &(*pp)->next)
            if (*pp == cj->rv) {
                *pp = cj->rv->next;
                break;
            }
        rvol_close(cj->rv);
        char err[256];
        registry_delete(n->reg, cj->name, err, sizeof(err));
        log_warn("repl", "volume %s not created: %s", cj->name, cj->error);
    }
    reactor_call_finish(cj->job, res);
    free(cj);
}

static void create_check(struct repl_node *n, struct create_job *cj)
{
    struct rvol *rv = cj->rv;
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if (i != rv->self && !cj->acked[i])
            return;
    create_finish(n, cj, true);
}

void create_job_ack(struct repl_node *n, void *job, struct peer *p, int err)
{
    struct create_job *cj = job;
    struct rvol *rv = cj->rv;
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        if (i == rv->self || rv->links[i].peer != p)
            continue;
        if (err) {
            snprintf(cj->error, sizeof(cj->error),
                     "node %s could not create its replica: %s (see its log)", p->name,
                     strerror(err));
            create_finish(n, cj, false);
            return;
        }
        cj->acked[i] = true;
    }
    create_check(n, cj);
}

void create_job_peer_up(struct repl_node *n, struct peer *p)
{
    for (struct create_job *cj = n->creates; cj; cj = cj->next)
        for (unsigned i = 0; i < cj->rv->meta.n_members; i++)
            if (i != cj->rv->self && cj->rv->links[i].peer == p && !cj->sent[i])
                send_create(cj, i);
}

void create_jobs_tick(struct repl_node *n)
{
    uint64_t now = repl_now_ms();
    for (struct create_job *cj = n->creates, *next; cj; cj = next) {
        next = cj->next;
        for (unsigned i = 0; i < cj->rv->meta.n_members; i++)
            if (i != cj->rv->self && cj->rv->links[i].peer->state == PEER_DOWN && !cj->acked[i] &&
                now >= cj->rv->links[i].peer->next_connect_ms)
                peer_kick_connect(cj->rv->links[i].peer);
        if (now < cj->deadline)
            continue;
        size_t len = (size_t)snprintf(cj->error, sizeof(cj->error), "no answer from");
        for (unsigned i = 0; i < cj->rv->meta.n_members; i++)
            if (i != cj->rv->self && !cj->acked[i])
                len += (size_t)snprintf(cj->error + len, sizeof(cj->error) - len, " %s (%s)",
                                        cj->rv->meta.members[i].node, cj->rv->meta.members[i].addr);
        snprintf(cj->error + len, sizeof(cj->error) - len, " within %d s; volume not created",
                 CREATE_TIMEOUT_MS / 1000);
        create_finish(n, cj, false);
    }
}

/* reactor job: the local replica exists; attach and reach the others */
static void job_create(struct reactor_job *job)
{
    struct repl_node *n = job->arg;
    struct json_object *v;
    const char *name =
        json_object_object_get_ex(job->in, "name", &v) ? json_object_get_string(v) : "";
    struct vol_entry *e = entry_by_name(n->reg, name);
    char err[512];
    struct rvol *rv = e ? rvol_open(n, e, err, sizeof(err)) : NULL;
    if (!rv) {
        reactor_call_finish(job, json_reply_fail("internal", e ? err : "volume vanished"));
        return;
    }
    struct create_job *cj = calloc(1, sizeof(*cj));
    cj->job = job;
    cj->rv = rv;
    snprintf(cj->name, sizeof(cj->name), "%s", name);
    cj->deadline = repl_now_ms() + CREATE_TIMEOUT_MS;
    cj->next = n->creates;
    n->creates = cj;
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        if (i == rv->self)
            continue;
        struct peer *p = rv->links[i].peer;
        if (p->state == PEER_UP)
            send_create(cj, i);
        else if (p->state == PEER_DOWN)
            peer_kick_connect(p);
    }
    create_check(n, cj);
}

static struct json_object *ctl_create(struct repl_node *n, struct json_object *req)
{
    struct json_object *v, *reps;
    const char *name =
        json_object_object_get_ex(req, "name", &v) ? json_object_get_string(v) : NULL;
    if (!name || !json_object_object_get_ex(req, "size", &v))
        return json_reply_fail("invalid", "volume.create needs \"name\" and \"size\"");
    uint64_t size = (uint64_t)json_object_get_int64(v);
    if (!json_object_object_get_ex(req, "replicas", &reps) ||
        !json_object_is_type(reps, json_type_array))
        return json_reply_fail("invalid", "\"replicas\" must be a list of NODE@HOST:PORT");
    struct json_object *wits = NULL;
    if (json_object_object_get_ex(req, "witnesses", &wits) &&
        !json_object_is_type(wits, json_type_array))
        return json_reply_fail("invalid", "\"witnesses\" must be a list of NODE@HOST:PORT");
    size_t nrep = json_object_array_length(reps), nwit = wits ? json_object_array_length(wits) : 0;
    if (nrep < 2 || nrep + nwit > REPL_MAX_REPLICAS) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "a replicated volume has 2 to %d members, at least 2 of them data replicas "
                 "(got %zu replicas and %zu witnesses)",
                 REPL_MAX_REPLICAS, nrep, nwit);
        return json_reply_fail("invalid", msg);
    }
    if (!n->listen_addr[0])
        return json_reply_fail("invalid",
                               "this tandemd has no --listen address: it cannot replicate");
    struct repl_meta m = {.role = ROLE_PRIMARY, .disk = DISK_UPTODATE};
    m.current = repl_random_u64();
    m.io_error_on_no_quorum = json_object_object_get_ex(req, "on_no_quorum", &v) &&
                              strcmp(json_object_get_string(v), "io-error") == 0;
    bool self = false;
    for (size_t i = 0; i < nrep + nwit; i++) {
        bool witness = i >= nrep;
        const char *spec =
            json_object_get_string(witness ? json_object_array_get_idx(wits, i - nrep)
                                           : json_object_array_get_idx(reps, i));
        const char *at = spec ? strchr(spec, '@') : NULL;
        if (!at || at == spec || !strchr(at, ':')) {
            char msg[160];
            snprintf(msg, sizeof(msg), "bad %s \"%s\": want NODE@HOST:PORT",
                     witness ? "witness" : "replica", spec ? spec : "");
            return json_reply_fail("invalid", msg);
        }
        struct repl_member *mb = &m.members[m.n_members++];
        mb->witness = witness;
        snprintf(mb->node, sizeof(mb->node), "%.*s", (int)(at - spec), spec);
        snprintf(mb->addr, sizeof(mb->addr), "%s", at + 1);
        for (unsigned k = 0; k + 1 < m.n_members; k++)
            if (strcmp(m.members[k].node, mb->node) == 0)
                return json_reply_fail("invalid", "a node appears twice in the replica list");
        if (strcmp(mb->node, n->name) == 0 && witness)
            return json_reply_fail("invalid", "this node is the one that creates the volume and "
                                              "becomes its primary: it cannot be a witness; "
                                              "run the create on a data replica");
        self |= strcmp(mb->node, n->name) == 0;
    }
    if (!self) {
        char msg[160];
        snprintf(msg, sizeof(msg), "this node (%s) must be one of the data replicas", n->name);
        return json_reply_fail("invalid", msg);
    }
    char err[768];
    if (registry_create_ex(n->reg, name, size, NULL, write_meta, &m, err, sizeof(err)) < 0)
        return json_reply_fail(errno == EEXIST   ? "exists"
                               : errno == EINVAL ? "invalid"
                                                 : "internal",
                               err);
    struct json_object *in = json_object_new_object();
    json_object_object_add(in, "name", json_object_new_string(name));
    struct json_object *res = reactor_call(n->q, job_create, n, in, CREATE_TIMEOUT_MS + 5000);
    return res ? res : json_reply_fail("internal", "timed out waiting for the daemon");
}

/* CREATE arrived from a peer (reactor thread). */
int frame_create_received(struct repl_node *n, struct peer *p, struct json_object *o, char *err,
                          size_t errlen)
{
    struct json_object *v, *arr;
    const char *name = json_object_object_get_ex(o, "name", &v) ? json_object_get_string(v) : "";
    const char *uuid_s = json_object_object_get_ex(o, "uuid", &v) ? json_object_get_string(v) : "";
    uint64_t size = json_object_object_get_ex(o, "size", &v) ? json_object_get_uint64(v) : 0;
    uint8_t uuid[16];
    unsigned k = 0;
    for (const char *c = uuid_s; *c && k < 16; c++) {
        if (*c == '-')
            continue;
        unsigned x;
        if (sscanf(c, "%2x", &x) != 1) {
            snprintf(err, errlen, "bad uuid");
            errno = EINVAL;
            return -1;
        }
        uuid[k++] = (uint8_t)x;
        c++;
    }
    if (k != 16) {
        snprintf(err, errlen, "bad uuid %s", uuid_s);
        errno = EINVAL;
        return -1;
    }
    struct vol_entry *e = entry_by_name(n->reg, name);
    if (e) {
        if (!e->broken && memcmp(e->vol.rep->sb.uuid, uuid, 16) == 0 && e->vol.repl)
            return 0; /* a retried CREATE */
        snprintf(err, errlen, "a different volume named %s exists here", name);
        errno = EEXIST;
        return -1;
    }
    struct repl_meta m = {.role = ROLE_SECONDARY, .disk = DISK_UPTODATE};
    m.current = json_object_object_get_ex(o, "current", &v)
                    ? strtoull(json_object_get_string(v), NULL, 16)
                    : 0;
    m.io_error_on_no_quorum = json_object_object_get_ex(o, "on_no_quorum", &v) &&
                              strcmp(json_object_get_string(v), "io-error") == 0;
    if (!json_object_object_get_ex(o, "replicas", &arr) ||
        json_object_array_length(arr) > REPL_MAX_REPLICAS) {
        snprintf(err, errlen, "bad replica list");
        errno = EINVAL;
        return -1;
    }
    bool self = false;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *r = json_object_array_get_idx(arr, i), *nn, *aa;
        if (!json_object_object_get_ex(r, "node", &nn) ||
            !json_object_object_get_ex(r, "addr", &aa))
            continue;
        struct repl_member *mb = &m.members[m.n_members++];
        snprintf(mb->node, sizeof(mb->node), "%s", json_object_get_string(nn));
        snprintf(mb->addr, sizeof(mb->addr), "%s", json_object_get_string(aa));
        mb->witness = json_object_object_get_ex(r, "witness", &aa) && json_object_get_boolean(aa);
        if (strcmp(mb->node, n->name) == 0) {
            self = true;
            if (mb->witness)
                m.disk = DISK_DISKLESS; /* metadata only (witness.c) */
        }
    }
    if (!self) {
        snprintf(err, errlen, "this node (%s) is not in the replica list", n->name);
        errno = EINVAL;
        return -1;
    }
    /* Blocks the reactor for the file creation: a rare, explicit operator action. */
    if (registry_create_ex(n->reg, name, size, uuid, write_meta, &m, err, errlen) < 0)
        return -1;
    e = entry_by_name(n->reg, name);
    struct rvol *rv = e ? rvol_open(n, e, err, errlen) : NULL;
    if (!rv)
        return -1;
    log_info("repl", "volume %s: replica created for %s", name, p->name);
    return 0;
}

/* ---- promote / demote / status ---- */

static struct rvol *find_rvol(struct repl_node *n, const char *name)
{
    for (struct rvol *rv = n->vols; rv; rv = rv->next)
        if (strcmp(rv->entry->name, name) == 0)
            return rv;
    return NULL;
}

/* The replicated volume a job names, or NULL after finishing the job with not_found. */
static struct rvol *job_rvol(struct reactor_job *job, const char **name)
{
    struct json_object *v;
    *name = json_object_object_get_ex(job->in, "name", &v) ? json_object_get_string(v) : "";
    struct rvol *rv = find_rvol(job->arg, *name);
    if (!rv) {
        char msg[160];
        snprintf(msg, sizeof(msg), "no replicated volume named %s", *name);
        reactor_call_finish(job, json_reply_fail("not_found", msg));
    }
    return rv;
}

static void job_role(struct reactor_job *job)
{
    struct json_object *v;
    const char *name;
    const char *op = json_object_object_get_ex(job->in, "op", &v) ? json_object_get_string(v) : "";
    bool force = json_object_object_get_ex(job->in, "force", &v) && json_object_get_boolean(v);
    bool no_quorum =
        json_object_object_get_ex(job->in, "no_quorum", &v) && json_object_get_boolean(v);
    struct rvol *rv = job_rvol(job, &name);
    char msg[512];
    if (!rv)
        return;
    struct repl_meta *m = &rv->meta;
    if (strcmp(op, "volume.demote") == 0) {
        if (m->role == ROLE_PRIMARY) {
            if (rv->entry->attached) {
                snprintf(msg, sizeof(msg), "volume %s has %u attached clients; detach them first",
                         name, rv->entry->attached);
                reactor_call_finish(job, json_reply_fail("busy", msg));
                return;
            }
            m->role = ROLE_SECONDARY;
            rvol_save_meta(rv);
            rvol_role_changed(rv);
            log_info("repl", "volume %s: demoted to secondary", name);
        }
        reactor_call_finish(job, json_reply_ok());
        return;
    }
    /* promote */
    if (rvol_is_witness(rv, rv->self)) {
        snprintf(msg, sizeof(msg),
                 "cannot promote %s: this node is a witness for it (it votes, it holds no data); "
                 "promote one of its data replicas",
                 name);
        reactor_call_finish(job, json_reply_fail("failed_precondition", msg));
        return;
    }
    if (no_quorum && !force) {
        reactor_call_finish(job, json_reply_fail("invalid", "--no-quorum needs --force"));
        return;
    }
    if (no_quorum && !rvol_has_quorum(rv)) {
        /* Disaster recovery: the operator knows the other zones are gone for good. */
        rv->quorum_override = true;
        log_error("repl",
                  "volume %s: operator override: writing WITHOUT QUORUM until quorum returns; "
                  "if other replicas are alive and write too, this makes a split brain",
                  name);
    }
    if (m->role == ROLE_PRIMARY) {
        reactor_call_finish(job, json_reply_ok());
        return;
    }
    if (m->disk != DISK_UPTODATE) {
        snprintf(msg, sizeof(msg), "cannot promote %s: local data is %s, not UpToDate%s%s", name,
                 disk_state_name(m->disk), rv->outdated_why[0] ? ": " : "", rv->outdated_why);
        reactor_call_finish(job, json_reply_fail("failed_precondition", msg));
        return;
    }
    if (!rvol_may_write(rv)) {
        snprintf(msg, sizeof(msg),
                 "cannot promote %s: no quorum (a majority of the %u "
                 "replicas must be connected)",
                 name, m->n_members);
        reactor_call_finish(job, json_reply_fail("failed_precondition", msg));
        return;
    }
    for (unsigned i = 0; i < m->n_members; i++) {
        struct member_link *l = &rv->links[i];
        if (i == rv->self)
            continue;
        if (l->link != LINK_DOWN && l->peer_role == ROLE_PRIMARY) {
            snprintf(msg, sizeof(msg), "cannot promote %s: %s is primary; demote it first", name,
                     l->m->node);
            reactor_call_finish(job, json_reply_fail("failed_precondition", msg));
            return;
        }
        if (l->link == LINK_DOWN && l->peer_role == ROLE_PRIMARY && !force) {
            snprintf(msg, sizeof(msg),
                     "cannot promote %s: the primary %s is unreachable; if it "
                     "is dead, promote with --force",
                     name, l->m->node);
            reactor_call_finish(job, json_reply_fail("failed_precondition", msg));
            return;
        }
    }
    if (rv->vote.job) {
        snprintf(msg, sizeof(msg), "cannot promote %s: a promotion is already under way here",
                 name);
        reactor_call_finish(job, json_reply_fail("busy", msg));
        return;
    }
    if (rv->promised_to) {
        snprintf(msg, sizeof(msg),
                 "cannot promote %s: this node just voted for %s's promotion; retry in a "
                 "few seconds if %s did not become primary",
                 name, m->members[rv->promised_to - 1].node, m->members[rv->promised_to - 1].node);
        reactor_call_finish(job, json_reply_fail("failed_precondition", msg));
        return;
    }
    if (rv->quorum_override && !rvol_has_quorum(rv)) {
        /* the operator's disaster-recovery override: no majority to ask */
        if (rvol_become_primary(rv, force, msg, sizeof(msg)) < 0) {
            reactor_call_finish(job, json_reply_fail("failed_precondition", msg));
            return;
        }
        reactor_call_finish(job, json_reply_ok());
        return;
    }
    rvol_vote_start(rv, job, force); /* finishes the job */
}

int rvol_become_primary(struct rvol *rv, bool force, char *msg, size_t msglen)
{
    struct repl_meta *m = &rv->meta;
    const char *name = rv->entry->name;
    if (m->role == ROLE_PRIMARY)
        return 0;
    if (m->disk != DISK_UPTODATE) {
        snprintf(msg, msglen, "cannot promote %s: local data became %s meanwhile", name,
                 disk_state_name(m->disk));
        return -1;
    }
    for (unsigned i = 0; i < m->n_members; i++)
        if (i != rv->self && rv->links[i].link != LINK_DOWN &&
            rv->links[i].peer_role == ROLE_PRIMARY) {
            snprintf(msg, msglen, "cannot promote %s: %s became primary meanwhile", name,
                     m->members[i].node);
            return -1;
        }
    m->role = ROLE_PRIMARY;
    /* Members not with us now will be behind: start a generation they do not have. */
    bool absent = false;
    for (unsigned i = 0; i < m->n_members; i++)
        if (i != rv->self && rv->links[i].link == LINK_DOWN) {
            rv->links[i].m->bitmap_base = m->current;
            rv->links[i].peer_role = ROLE_SECONDARY;
            absent = true;
        }
    if (absent)
        repl_meta_new_generation(m);
    rvol_save_meta(rv);
    rvol_role_changed(rv);
    log_info("repl", "volume %s: promoted to primary%s", name, force ? " (forced)" : "");
    return 0;
}

static void job_verify(struct reactor_job *job)
{
    const char *name;
    struct rvol *rv = job_rvol(job, &name);
    char msg[512];
    if (!rv)
        return;
    if (rvol_verify_start(rv, msg, sizeof(msg)) < 0) {
        reactor_call_finish(job, json_reply_fail("failed_precondition", msg));
        return;
    }
    reactor_call_finish(job, json_reply_ok());
}

static void job_resolve(struct reactor_job *job)
{
    const char *name;
    struct rvol *rv = job_rvol(job, &name);
    char msg[512];
    if (!rv)
        return;
    struct json_object *v;
    if (!json_object_object_get_ex(job->in, "discard_local", &v) || !json_object_get_boolean(v)) {
        reactor_call_finish(job, json_reply_fail("invalid",
                                                 "resolve needs --discard-local (run it on the "
                                                 "replica whose changes are to be thrown away)"));
        return;
    }
    if (rvol_discard_local(rv, msg, sizeof(msg)) < 0) {
        reactor_call_finish(job, json_reply_fail("failed_precondition", msg));
        return;
    }
    reactor_call_finish(job, json_reply_ok());
}

static void job_status(struct reactor_job *job)
{
    struct repl_node *n = job->arg;
    struct json_object *v;
    const char *name =
        json_object_object_get_ex(job->in, "name", &v) ? json_object_get_string(v) : "";
    struct json_object *vol = registry_status_json(n->reg, name);
    if (!vol) {
        char msg[128];
        snprintf(msg, sizeof(msg), "no volume named %s", name);
        reactor_call_finish(job, json_reply_fail("not_found", msg));
        return;
    }
    struct rvol *rv = find_rvol(n, name);
    if (rv)
        repl_status_json(rv, vol);
    struct json_object *res = json_reply_ok();
    json_object_object_add(res, "volume", vol);
    reactor_call_finish(job, res);
}

/* volume.delete of a replicated volume: its rvol must go before the registry entry it points
 * into (deleting the entry alone left the rvol with a freed entry: a use-after-free on the next
 * frame or timer). Runs on the reactor, as the failed-create rollback does, so no frame for the
 * volume is handled between the two steps. Unreplicated names fall through to the registry. */
static void job_delete(struct reactor_job *job)
{
    struct repl_node *n = job->arg;
    struct json_object *v;
    const char *name =
        json_object_object_get_ex(job->in, "name", &v) ? json_object_get_string(v) : "";
    struct rvol *rv = find_rvol(n, name);
    char msg[512];
    if (rv) {
        if (rv->entry->attached) {
            snprintf(msg, sizeof(msg), "volume %s is in use by %u clients; disconnect them first",
                     name, rv->entry->attached);
            reactor_call_finish(job, json_reply_fail("busy", msg));
            return;
        }
        for (struct rvol **pp = &n->vols; *pp; pp = &(*pp)->next)
            if (*pp == rv) {
                *pp = rv->next;
                break;
            }
        rvol_close(rv);
    }
    if (registry_delete(n->reg, name, msg, sizeof(msg)) < 0) {
        reactor_call_finish(job, json_reply_fail(errno == ENOENT  ? "not_found"
                                                 : errno == EBUSY ? "busy"
                                                                  : "internal",
                                                 msg));
        return;
    }
    reactor_call_finish(job, json_reply_ok());
}

struct json_object *repl_ctl(struct repl_node *n, const char *op, struct json_object *req)
{
    if (strcmp(op, "volume.create") == 0)
        return ctl_create(n, req);
    reactor_job_fn fn = strcmp(op, "volume.delete") == 0    ? job_delete
                        : strcmp(op, "volume.status") == 0  ? job_status
                        : strcmp(op, "volume.verify") == 0  ? job_verify
                        : strcmp(op, "volume.resolve") == 0 ? job_resolve
                                                            : job_role;
    return reactor_call_copy(n->q, fn, n, req, 10000);
}
