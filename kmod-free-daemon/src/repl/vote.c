/* Promotion by votes (proto/replication.md §5): a replica becomes primary only when a majority
 * of the voters, itself included, each confirm that they see no live primary.
 *
 * Why: "quorum and no primary in sight" checked by the candidate alone lets two primaries
 * exist when only the link between them is cut: n2 cannot see the primary n1, and n3, which
 * sees both, gives n2 its quorum while it also gives n1 its own. A voter that is connected to
 * a live primary refuses, and says which one; so does a voter that knows the candidate's data
 * is behind its own generation, one that is primary itself, and one that has promised its
 * vote to another candidate in the last two peer timeouts (two candidates at once both fail
 * rather than both win). A promise ends early when its candidate next announces its role
 * (ROLE: it won, or it gave up).
 *
 * Candidate: VOTE_REQ (JSON: its generation ids) to every attached member; each answers with an
 * ACK whose `length` is 0 (granted) or EBUSY (refused) and whose payload is the refusal's
 * reason. The promotion completes as soon as the granted votes are a majority, and fails as
 * soon as they can no longer be, or when the answers do not all come within the peer timeout.
 * Reactor thread only. */
#include "repl/repl_internal.h"

#include "util/json_reply.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned vote_count(unsigned mask)
{
    return (unsigned)__builtin_popcount(mask);
}

/* Voters that promised us hear our role next (a win announces itself; a loss is announced
 * here), which ends their promise. */
static void vote_finish(struct rvol *rv, struct json_object *res, bool announce)
{
    struct vote_run *v = &rv->vote;
    struct reactor_job *job = v->job;
    v->job = NULL;
    if (announce)
        rvol_announce(rv);
    reactor_call_finish(job, res);
}

static void vote_fail(struct rvol *rv, const char *why)
{
    struct vote_run *v = &rv->vote;
    char msg[1024];
    snprintf(msg, sizeof(msg), "cannot promote %s: %s (%u of %u votes; a majority needs %u)%s%s",
             rv->entry->name, why, vote_count(v->granted), rv->meta.n_members,
             rv->meta.n_members / 2 + 1, v->refusals[0] ? ": " : "", v->refusals);
    log_warn("repl", "volume %s: promotion refused: %s", rv->entry->name, msg);
    vote_finish(rv, json_reply_fail("failed_precondition", msg), true);
}

static void vote_check(struct rvol *rv)
{
    struct vote_run *v = &rv->vote;
    if (!v->job)
        return;
    unsigned n = rv->meta.n_members;
    if (2 * vote_count(v->granted) > n) {
        char msg[256];
        if (rvol_become_primary(rv, v->force, msg, sizeof(msg)) < 0) {
            vote_finish(rv, json_reply_fail("failed_precondition", msg), true);
            return;
        }
        vote_finish(rv, json_reply_ok(), false);
        return;
    }
    unsigned pending = v->asked & ~v->answered;
    if (2 * (vote_count(v->granted) + vote_count(pending)) <= n)
        vote_fail(rv, "no majority of the voters agrees");
}

void rvol_vote_start(struct rvol *rv, struct reactor_job *job, bool force)
{
    struct vote_run *v = &rv->vote;
    memset(v, 0, sizeof(*v));
    v->job = job;
    v->force = force;
    v->granted = 1u << rv->self;
    v->deadline_ms = repl_now_ms() + rv->node->timeout_ms;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "current", json_hex_u64(rv->meta.current));
    json_object_object_add(o, "history0", json_hex_u64(rv->meta.history[0]));
    json_object_object_add(o, "history1", json_hex_u64(rv->meta.history[1]));
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        struct member_link *l = &rv->links[i];
        if (i == rv->self || l->peer->state != PEER_UP ||
            (l->link != LINK_ATTACHED && l->link != LINK_SYNC_SOURCE &&
             l->link != LINK_SYNC_TARGET))
            continue;
        struct peer *p = l->peer;
        struct ack_slot *s = &p->acks[(p->next_seq + 1) % ACK_RING];
        if (s->kind != ACK_NONE)
            continue; /* its ring is full: it counts as not answering */
        peer_send_json(p, FRAME_VOTE_REQ, rv->volume_id, o);
        s->kind = ACK_VOTE;
        s->seq = p->next_seq;
        s->ptr = rv;
        s->region = i;
        v->asked |= 1u << i;
    }
    json_object_put(o);
    vote_check(rv);
}

static void add_refusal(struct vote_run *v, const char *text)
{
    size_t len = strlen(v->refusals);
    snprintf(v->refusals + len, sizeof(v->refusals) - len, "%s%s", len ? "; " : "", text);
}

void rvol_vote_answer(struct rvol *rv, unsigned member, int err, const void *reason,
                      uint32_t reason_len)
{
    struct vote_run *v = &rv->vote;
    if (!v->job || member >= rv->meta.n_members || !(v->asked & (1u << member)))
        return;
    v->answered |= 1u << member;
    if (!err) {
        v->granted |= 1u << member;
    } else {
        char text[400];
        if (reason_len)
            snprintf(text, sizeof(text), "%.*s", (int)(reason_len < 380 ? reason_len : 380),
                     (const char *)reason);
        else
            snprintf(text, sizeof(text), "%s did not vote: %s", rv->meta.members[member].node,
                     err == ECONNRESET ? "disconnected before answering" : strerror(err));
        add_refusal(v, text);
    }
    vote_check(rv);
}

void rvol_vote_tick(struct rvol *rv)
{
    struct vote_run *v = &rv->vote;
    if (rv->promised_to && repl_now_ms() - rv->promised_ms > 2ull * rv->node->timeout_ms)
        rv->promised_to = 0;
    if (!v->job || repl_now_ms() < v->deadline_ms)
        return;
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if ((v->asked & ~v->answered) & (1u << i)) {
            char text[160];
            snprintf(text, sizeof(text), "%s did not answer within %u ms", rv->meta.members[i].node,
                     rv->node->timeout_ms);
            add_refusal(v, text);
        }
    vote_fail(rv, "not every voter answered in time");
}

void rvol_vote_cancel(struct rvol *rv)
{
    for (struct peer *p = rv->node->peers; p; p = p->next)
        for (unsigned i = 0; i < ACK_RING; i++)
            if (p->acks[i].kind == ACK_VOTE && p->acks[i].ptr == rv)
                p->acks[i].kind = ACK_NONE;
    if (rv->vote.job) {
        struct reactor_job *job = rv->vote.job;
        rv->vote.job = NULL;
        reactor_call_finish(job, json_reply_fail("not_found", "the volume was closed"));
    }
}

/* ---- voter ---- */

/* Why this node refuses to vote for `cand`, or "" if it grants. */
static void vote_refusal(struct rvol *rv, unsigned cand, struct json_object *o, char *why,
                         size_t len)
{
    struct repl_meta *m = &rv->meta;
    const char *me = m->members[rv->self].node, *cn = m->members[cand].node;
    why[0] = '\0';
    if (m->role == ROLE_PRIMARY) {
        snprintf(why, len, "%s refuses: it is primary itself", me);
        return;
    }
    for (unsigned i = 0; i < m->n_members; i++) {
        const struct member_link *l = &rv->links[i];
        if (i == rv->self || i == cand)
            continue;
        if (l->peer->state == PEER_UP && l->link != LINK_DOWN && l->peer_role == ROLE_PRIMARY) {
            snprintf(why, len, "%s refuses: it is connected to the primary %s (%s)", me, l->m->node,
                     l->m->addr);
            return;
        }
    }
    if (rv->vote.job) {
        snprintf(why, len, "%s refuses: it is being promoted itself", me);
        return;
    }
    if (rv->promised_to && rv->promised_to != cand + 1) {
        snprintf(why, len, "%s refuses: it promised its vote to %s %llu ms ago", me,
                 m->members[rv->promised_to - 1].node,
                 (unsigned long long)(repl_now_ms() - rv->promised_ms));
        return;
    }
    uint64_t cc = json_get_hex_u64(o, "current");
    if (cc != m->current &&
        (cc == m->history[0] || cc == m->history[1] || cc == rv->links[cand].m->bitmap_base)) {
        snprintf(why, len,
                 "%s refuses: %s is behind (its generation %016llx is older than %s's %016llx)", me,
                 cn, (unsigned long long)cc, me, (unsigned long long)m->current);
        return;
    }
}

void rvol_vote_serve(struct rvol *rv, struct peer *p, const struct frame *f, struct json_object *o)
{
    struct member_link *l = rvol_link_of(rv, p);
    char why[320] = "";
    if (!l)
        snprintf(why, sizeof(why), "%s refuses: %s is not a member of volume %s", rv->node->name,
                 p->name, rv->entry->name);
    else
        vote_refusal(rv, (unsigned)(l - rv->links), o, why, sizeof(why));
    struct frame ack = {.type = FRAME_ACK,
                        .volume_id = rv->volume_id,
                        .offset = f->seq,
                        .length = why[0] ? EBUSY : 0};
    if (why[0]) {
        log_info("repl", "volume %s: vote for %s: %s", rv->entry->name, p->name, why);
        size_t wl = strlen(why);
        char *copy = malloc(wl);
        if (copy) {
            memcpy(copy, why, wl);
            peer_send(p, &ack, copy, (uint32_t)wl, repl_release_malloc);
            return;
        }
    } else {
        rv->promised_to = (unsigned)(l - rv->links) + 1;
        rv->promised_ms = repl_now_ms();
        log_info("repl", "volume %s: vote granted to %s", rv->entry->name, p->name);
    }
    peer_send(p, &ack, NULL, 0, NULL);
}
