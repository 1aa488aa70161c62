/* Growing a replicated volume online (proto/replication.md §9). The primary freezes its volume,
 * grows its replica and its bitmaps, sends EXPAND{size} to every connected peer and thaws.
 * EXPAND travels in the write stream, so a peer grows before it meets any write beyond the old
 * end. A peer that is down then grows when it next attaches: ATTACH carries the primary's size,
 * and a secondary smaller than its primary grows to it first. */
#include "repl/repl_internal.h"

#include "util/json_reply.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rvol_grow(struct rvol *rv, uint64_t size, char *err, size_t errlen)
{
    if (size <= rv->vol->rep->sb.size)
        return 0;
    if (vol_grow(rv->vol, size, err, errlen) < 0)
        return -1;
    /* a witness keeps no bitmaps, and none is kept for one (witness.c) */
    int rc = rv->wi.bits ? bitmap_grow(&rv->wi, size) : 0;
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if (i != rv->self && rc == 0 && rv->links[i].oos.bits)
            rc = bitmap_grow(&rv->links[i].oos, size);
    if (rc < 0) {
        snprintf(err, errlen, "out of memory growing the replication bitmaps");
        return -1;
    }
    log_info("repl", "volume %s grown to %llu bytes", rv->entry->name, (unsigned long long)size);
    return 0;
}

struct expand_job {
    struct reactor_job *job;
    struct rvol *rv;
    uint64_t size;
    unsigned pending, asked;
    int result[REPL_MAX_REPLICAS];
    int error;
    char err[512];
    bool local_done;
};

static void finish_if_done(struct expand_job *x)
{
    if (!x->local_done || x->pending)
        return;
    struct rvol *rv = x->rv;
    struct json_object *res;
    if (x->error) {
        res = json_reply_fail(x->error == ENOSPC ? "no_space" : "internal", x->err);
    } else {
        res = json_reply_ok();
        struct json_object *arr = json_object_new_array();
        for (unsigned i = 0; i < rv->meta.n_members; i++) {
            struct json_object *m = json_object_new_object();
            json_object_object_add(m, "node", json_object_new_string(rv->meta.members[i].node));
            const char *state = i == rv->self             ? "grown"
                                : !(x->asked & (1u << i)) ? "at next attach"
                                : x->result[i]            ? "failed (at next attach)"
                                                          : "grown";
            json_object_object_add(m, "state", json_object_new_string(state));
            json_object_array_add(arr, m);
        }
        json_object_object_add(res, "replicas", arr);
    }
    reactor_call_finish(x->job, res);
    free(x);
}

void rvol_expand_ack(void *ptr, unsigned member, int err)
{
    struct expand_job *x = ptr;
    if (!(x->pending & (1u << member)))
        return;
    x->pending &= ~(1u << member);
    x->result[member] = err;
    if (err)
        log_warn("repl", "volume %s: %s did not grow: %s (it will when it next attaches)",
                 x->rv->entry->name, x->rv->meta.members[member].node, strerror(err));
    finish_if_done(x);
}

static void primary_quiesced(void *ctx)
{
    struct expand_job *x = ctx;
    struct rvol *rv = x->rv;
    if (rvol_grow(rv, x->size, x->err, sizeof(x->err)) < 0) {
        x->error = errno ? errno : EIO;
    } else {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "size", json_object_new_uint64(x->size));
        for (unsigned i = 0; i < rv->meta.n_members; i++) {
            struct member_link *l = &rv->links[i];
            if (i == rv->self || !l->peer || l->peer->state != PEER_UP ||
                (l->link != LINK_ATTACHED && l->link != LINK_SYNC_SOURCE))
                continue;
            struct peer *p = l->peer;
            struct ack_slot *a = &p->acks[(p->next_seq + 1) % ACK_RING];
            if (a->kind != ACK_NONE)
                continue;
            peer_send_json(p, FRAME_EXPAND, rv->volume_id, o);
            a->kind = ACK_EXPAND;
            a->seq = p->next_seq;
            a->ptr = x;
            a->region = i;
            x->asked |= 1u << i;
            x->pending |= 1u << i;
        }
        json_object_put(o);
    }
    vol_thaw(rv->vol);
    x->local_done = true;
    finish_if_done(x);
}

static void job_expand(struct reactor_job *job)
{
    struct repl_node *n = job->arg;
    struct json_object *v;
    const char *name =
        json_object_object_get_ex(job->in, "name", &v) ? json_object_get_string(v) : "";
    struct rvol *rv = rvol_by_name(n, name);
    char msg[320];
    if (!rv) {
        snprintf(msg, sizeof(msg), "no replicated volume named %s", name);
        reactor_call_finish(job, json_reply_fail("not_found", msg));
        return;
    }
    if (rv->meta.role != ROLE_PRIMARY) {
        char why[256];
        if (repl_may_serve(rv->vol, why, sizeof(why)) == 0)
            snprintf(why, sizeof(why), "this node is not the primary of %s", name);
        snprintf(msg, sizeof(msg), "a volume is expanded on its primary: %s", why);
        reactor_call_finish(job, json_reply_fail("invalid", msg));
        return;
    }
    struct expand_job *x = calloc(1, sizeof(*x));
    if (!x) {
        reactor_call_finish(job, json_reply_fail("internal", "out of memory"));
        return;
    }
    x->job = job;
    x->rv = rv;
    x->size = json_object_object_get_ex(job->in, "size", &v) ? json_object_get_uint64(v) : 0;
    vol_freeze(rv->vol, primary_quiesced, x);
}

struct json_object *repl_expand_ctl(struct repl_node *n, const char *volume, uint64_t size)
{
    struct json_object *in = json_object_new_object();
    json_object_object_add(in, "name", json_object_new_string(volume));
    json_object_object_add(in, "size", json_object_new_uint64(size));
    struct json_object *res = reactor_call(n->q, job_expand, n, in, 30000);
    return res ? res : json_reply_fail("internal", "timed out waiting for the expansion");
}

/* ---- secondary ---- */

struct expand_apply {
    struct rvol *rv;
    struct peer *peer;
    uint64_t seq, size;
};

static void apply_quiesced(void *ctx)
{
    struct expand_apply *a = ctx;
    char err[512];
    int e = 0;
    if (rvol_grow(a->rv, a->size, err, sizeof(err)) < 0) {
        e = errno ? errno : EIO;
        log_error("repl", "volume %s: growing as the primary asked: %s", a->rv->entry->name, err);
    }
    vol_thaw(a->rv->vol);
    struct frame ack = {
        .type = FRAME_ACK, .volume_id = a->rv->volume_id, .offset = a->seq, .length = (uint32_t)e};
    if (a->peer->state == PEER_UP)
        peer_send(a->peer, &ack, NULL, 0, NULL);
    free(a);
}

void rvol_expand_frame(struct rvol *rv, struct peer *p, const struct frame *f,
                       struct json_object *o)
{
    struct json_object *v;
    uint64_t size = json_object_object_get_ex(o, "size", &v) ? json_object_get_uint64(v) : 0;
    struct expand_apply *a = NULL;
    int refuse = 0;
    if (rv->meta.role == ROLE_PRIMARY)
        refuse = EPERM;
    else if (size == 0 || size % rv->vol->rep->sb.block_size)
        refuse = EINVAL;
    else if (!(a = calloc(1, sizeof(*a))))
        refuse = ENOMEM;
    if (refuse) {
        struct frame ack = {.type = FRAME_ACK,
                            .volume_id = rv->volume_id,
                            .offset = f->seq,
                            .length = (uint32_t)refuse};
        peer_send(p, &ack, NULL, 0, NULL);
        return;
    }
    a->rv = rv;
    a->peer = p;
    a->seq = f->seq;
    a->size = size;
    vol_freeze(rv->vol, apply_quiesced, a);
}
