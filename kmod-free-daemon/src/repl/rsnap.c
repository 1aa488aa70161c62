/* Snapshots of a replicated volume at one write boundary on every replica (proto/replication.md
 * §8). The primary freezes its volume: writes submitted from then on wait, and once those
 * before have completed here, their WRITE frames have all been sent. It then sends SNAPSHOT to
 * every in-sync peer and takes its own. A peer applies frames in the order they arrive, so when
 * it meets SNAPSHOT it freezes too, lets the writes it already has finish and cuts at the same
 * boundary. Later writes reach every peer after the SNAPSHOT frame. The primary assigns the
 * sequence number, so the replicas agree on it and an incremental ship can start from any. */
#include "repl/repl_internal.h"

#include "util/json_reply.h"
#include "util/log.h"
#include "vol/vsnap.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rsnap_job {
    struct reactor_job *job;
    struct rvol *rv;
    struct vsnap_op op;
    unsigned pending, asked; /* member bits */
    int result[REPL_MAX_REPLICAS];
    bool local_done;
};

static void finish_if_done(struct rsnap_job *sj)
{
    if (!sj->local_done || sj->pending)
        return;
    struct rvol *rv = sj->rv;
    struct json_object *res;
    if (sj->op.error) {
        res = json_reply_fail(sj->op.error == EEXIST ? "exists" : "internal", sj->op.err);
    } else {
        res = json_reply_ok();
        struct json_object *s = json_object_new_object();
        json_object_object_add(s, "name", json_object_new_string(sj->op.name));
        json_object_object_add(s, "seq", json_object_new_uint64(sj->op.seq));
        json_object_object_add(s, "created", json_object_new_int64(sj->op.created));
        json_object_object_add(s, "size", json_object_new_uint64(rv->vol->rep->sb.size));
        struct json_object *arr = json_object_new_array();
        for (unsigned i = 0; i < rv->meta.n_members; i++) {
            if (rvol_is_witness(rv, i))
                continue; /* holds no data, so no snapshot either */
            struct json_object *m = json_object_new_object();
            json_object_object_add(m, "node", json_object_new_string(rv->meta.members[i].node));
            const char *state;
            char why[128] = "";
            if (i == rv->self) {
                state = "taken";
            } else if (!(sj->asked & (1u << i))) {
                state = "missed";
                snprintf(why, sizeof(why), "not connected and in sync when it was taken");
            } else if (sj->result[i]) {
                state = "failed";
                snprintf(why, sizeof(why), "%s", strerror(sj->result[i]));
            } else {
                state = "taken";
            }
            json_object_object_add(m, "state", json_object_new_string(state));
            if (why[0])
                json_object_object_add(m, "reason", json_object_new_string(why));
            json_object_array_add(arr, m);
        }
        json_object_object_add(s, "replicas", arr);
        json_object_object_add(res, "snapshot", s);
    }
    reactor_call_finish(sj->job, res);
    free(sj);
}

static void local_done(struct vsnap_op *op)
{
    struct rsnap_job *sj = op->ctx;
    vol_thaw(sj->rv->vol); /* our own freeze; vsnap_create ended its nested one */
    sj->local_done = true;
    finish_if_done(sj);
}

void rvol_snapshot_ack(void *ptr, unsigned member, int err)
{
    struct rsnap_job *sj = ptr;
    if (!(sj->pending & (1u << member)))
        return;
    sj->pending &= ~(1u << member);
    sj->result[member] = err;
    if (err)
        log_warn("repl", "volume %s: %s did not take snapshot %s: %s", sj->rv->entry->name,
                 sj->rv->meta.members[member].node, sj->op.name, strerror(err));
    finish_if_done(sj);
}

static void primary_quiesced(void *ctx)
{
    struct rsnap_job *sj = ctx;
    struct rvol *rv = sj->rv;
    struct snapset *ss = rv->vol->snaps;
    if (snapset_find(ss, sj->op.name)) {
        vol_thaw(rv->vol);
        snprintf(sj->op.err, sizeof(sj->op.err), "a snapshot named %s exists", sj->op.name);
        sj->op.error = EEXIST;
        sj->local_done = true;
        finish_if_done(sj);
        return;
    }
    sj->op.seq = ss->next_seq;
    sj->op.created = (int64_t)time(NULL);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(sj->op.name));
    json_object_object_add(o, "seq", json_object_new_uint64(sj->op.seq));
    json_object_object_add(o, "created", json_object_new_int64(sj->op.created));
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        struct member_link *l = &rv->links[i];
        if (i == rv->self || !l->peer || l->peer->state != PEER_UP || !l->in_sync ||
            l->link != LINK_ATTACHED)
            continue;
        struct peer *p = l->peer;
        struct ack_slot *a = &p->acks[(p->next_seq + 1) % ACK_RING];
        if (a->kind != ACK_NONE)
            continue; /* ack ring full: reported as missed */
        peer_send_json(p, FRAME_SNAPSHOT, rv->volume_id, o);
        a->kind = ACK_SNAPSHOT;
        a->seq = p->next_seq;
        a->ptr = sj;
        a->region = i;
        sj->asked |= 1u << i;
        sj->pending |= 1u << i;
    }
    json_object_put(o);
    /* already frozen: vsnap_create's nested freeze finds the volume quiet at once */
    vsnap_create(&sj->op);
}

static void job_snapshot(struct reactor_job *job)
{
    struct repl_node *n = job->arg;
    struct json_object *v;
    const char *vol =
        json_object_object_get_ex(job->in, "volume", &v) ? json_object_get_string(v) : "";
    const char *name =
        json_object_object_get_ex(job->in, "name", &v) ? json_object_get_string(v) : "";
    struct rvol *rv = rvol_by_name(n, vol);
    char msg[256];
    if (!rv) {
        snprintf(msg, sizeof(msg), "no replicated volume named %s", vol);
        reactor_call_finish(job, json_reply_fail("not_found", msg));
        return;
    }
    if (rv->meta.role != ROLE_PRIMARY) {
        if (repl_may_serve(rv->vol, msg, sizeof(msg)) == 0)
            snprintf(msg, sizeof(msg), "this node is not the primary of %s", vol);
        char full[320];
        snprintf(full, sizeof(full), "snapshots are taken on the primary: %s", msg);
        reactor_call_finish(job, json_reply_fail("invalid", full));
        return;
    }
    if (rv->meta.disk == DISK_DISKLESS) {
        snprintf(msg, sizeof(msg),
                 "volume %s: this primary's disk is detached (Diskless); take the snapshot on a "
                 "replica with its disk",
                 vol);
        reactor_call_finish(job, json_reply_fail("internal", msg));
        return;
    }
    if (!rvol_has_quorum(rv)) {
        snprintf(msg, sizeof(msg), "volume %s has no quorum; a snapshot would not be on a majority",
                 vol);
        reactor_call_finish(job, json_reply_fail("internal", msg));
        return;
    }
    struct rsnap_job *sj = calloc(1, sizeof(*sj));
    if (!sj) {
        reactor_call_finish(job, json_reply_fail("internal", "out of memory"));
        return;
    }
    sj->job = job;
    sj->rv = rv;
    sj->op.v = rv->vol;
    snprintf(sj->op.name, sizeof(sj->op.name), "%s", name);
    sj->op.done = local_done;
    sj->op.ctx = sj;
    vol_freeze(rv->vol, primary_quiesced, sj);
}

struct json_object *repl_snapshot_ctl(struct repl_node *n, const char *volume, const char *name)
{
    struct json_object *in = json_object_new_object();
    json_object_object_add(in, "volume", json_object_new_string(volume));
    json_object_object_add(in, "name", json_object_new_string(name));
    struct json_object *res = reactor_call(n->q, job_snapshot, n, in, 30000);
    return res ? res : json_reply_fail("internal", "timed out waiting for the snapshot");
}

/* ---- secondary ---- */

struct rsnap_apply {
    struct vsnap_op op;
    struct peer *peer;
    uint64_t volume_id, seq;
};

static void applied(struct vsnap_op *op)
{
    struct rsnap_apply *a = op->ctx;
    if (op->error)
        log_error("repl", "volume %s: snapshot %s from the primary: %s", op->v->rep->sb.name,
                  op->name, op->err);
    struct frame ack = {.type = FRAME_ACK,
                        .volume_id = a->volume_id,
                        .offset = a->seq,
                        .length = (uint32_t)op->error};
    if (a->peer->state == PEER_UP)
        peer_send(a->peer, &ack, NULL, 0, NULL);
    free(a);
}

static void delete_from_primary(struct rvol *rv, const char *name);

void rvol_snapshot_frame(struct rvol *rv, struct peer *p, const struct frame *f,
                         struct json_object *o)
{
    struct json_object *dv;
    if (json_object_object_get_ex(o, "delete", &dv) && json_object_get_boolean(dv)) {
        json_object_object_get_ex(o, "name", &dv);
        delete_from_primary(rv, json_object_get_string(dv));
        return;
    }
    struct member_link *l = rvol_link_of(rv, p);
    int refuse = 0;
    if (rv->meta.role == ROLE_PRIMARY || !l || l->link != LINK_ATTACHED)
        refuse = EPERM;
    else if (rv->meta.disk != DISK_UPTODATE)
        refuse = ESTALE; /* an Inconsistent copy is no image of anything */
    struct rsnap_apply *a = refuse ? NULL : calloc(1, sizeof(*a));
    if (!a) {
        struct frame ack = {.type = FRAME_ACK,
                            .volume_id = rv->volume_id,
                            .offset = f->seq,
                            .length = (uint32_t)(refuse ? refuse : ENOMEM)};
        peer_send(p, &ack, NULL, 0, NULL);
        return;
    }
    struct json_object *v;
    a->peer = p;
    a->volume_id = rv->volume_id;
    a->seq = f->seq;
    a->op.v = rv->vol;
    snprintf(a->op.name, sizeof(a->op.name), "%s",
             json_object_object_get_ex(o, "name", &v) ? json_object_get_string(v) : "");
    a->op.seq = json_object_object_get_ex(o, "seq", &v) ? json_object_get_uint64(v) : 0;
    a->op.created = json_object_object_get_ex(o, "created", &v) ? json_object_get_int64(v) : 0;
    a->op.done = applied;
    a->op.ctx = a;
    if (a->op.seq == 0 || !snapshot_name_valid(a->op.name)) {
        snprintf(a->op.err, sizeof(a->op.err), "malformed SNAPSHOT frame");
        a->op.error = EINVAL;
        applied(&a->op);
        return;
    }
    vsnap_create(&a->op);
}

/* ---- deleting on every replica ---- */

static void job_delete_notify(struct reactor_job *job)
{
    struct repl_node *n = job->arg;
    struct json_object *v;
    const char *vol =
        json_object_object_get_ex(job->in, "volume", &v) ? json_object_get_string(v) : "";
    struct rvol *rv = rvol_by_name(n, vol);
    if (rv && rv->meta.role == ROLE_PRIMARY) {
        for (unsigned i = 0; i < rv->meta.n_members; i++) {
            struct member_link *l = &rv->links[i];
            if (i != rv->self && l->peer && l->peer->state == PEER_UP && !rvol_is_witness(rv, i))
                peer_send_json(l->peer, FRAME_SNAPSHOT, rv->volume_id, job->in);
        }
    }
    reactor_call_finish(job, json_object_new_object());
}

void repl_snapshot_delete_notify(struct repl_node *n, const char *volume, const char *name)
{
    struct json_object *in = json_object_new_object();
    json_object_object_add(in, "volume", json_object_new_string(volume));
    json_object_object_add(in, "name", json_object_new_string(name));
    json_object_object_add(in, "delete", json_object_new_boolean(1));
    struct json_object *res = reactor_call(n->q, job_delete_notify, n, in, 10000);
    if (res)
        json_object_put(res);
}

struct delete_worker {
    struct volume *v;
    struct reactor_queue *q;
    char volume[VOLUME_NAME_MAX + 1];
    char name[SNAP_NAME_MAX + 1];
};

static void *delete_worker(void *arg)
{
    struct delete_worker *w = arg;
    char err[512];
    if (vsnap_delete_blocking(w->v, w->q, w->name, err, sizeof(err)) < 0)
        log_warn("repl", "volume %s: deleting snapshot %s as the primary did: %s", w->volume,
                 w->name, err);
    free(w);
    return NULL;
}

/* The primary deleted a snapshot: delete ours in the background (the bulk copy must not stall
 * this reactor, which carries the write stream). Not acknowledged: nothing waits for it. */
static void delete_from_primary(struct rvol *rv, const char *name)
{
    if (rv->meta.role == ROLE_PRIMARY || !rv->vol->snaps || !snapset_find(rv->vol->snaps, name))
        return;
    struct delete_worker *w = calloc(1, sizeof(*w));
    pthread_t t;
    pthread_attr_t attr;
    if (!w)
        return;
    w->v = rv->vol;
    w->q = rv->node->q;
    snprintf(w->volume, sizeof(w->volume), "%s", rv->entry->name);
    snprintf(w->name, sizeof(w->name), "%s", name);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, delete_worker, w) != 0) {
        log_warn("repl", "volume %s: cannot start deleting snapshot %s", w->volume, name);
        free(w);
    }
    pthread_attr_destroy(&attr);
}
