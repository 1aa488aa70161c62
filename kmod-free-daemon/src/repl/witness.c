/* Witnesses (proto/replication.md §11): members that vote and hold no data.
 *
 * A witness's replica is metadata only in use (its registry entry has a sparse data file that
 * nothing writes: WRITE and RS_DATA are never sent to it, and refused and counted if they
 * come); disk state Diskless for ever; never promoted; no out-of-sync bitmaps are kept for it.
 * What it does keep is generation ids, because "acknowledged means on a majority" (§5) must
 * stay true when the witness is one of that majority: with data replicas A, B and witness W,
 * B down, A writing with W's vote, A dying and B returning, only W can tell B that it is
 * behind. So:
 *  - the primary tells every following witness each new generation (RS_DONE), and the witness
 *    acknowledges it only once its metadata holding it is durable;
 *  - the first write of a generation is issued only once every attached following witness has
 *    acknowledged it (as it waits for the local metadata), and a write counts a witness toward
 *    its majority only while the witness holds the primary's current generation;
 *  - a data replica attaching to a witness compares generations as with any peer, only to
 *    learn that it is behind (Outdated, demoted if primary, and the reason kept for status and
 *    promote); there is never a resync to or from a witness, and a witness is never in split
 *    brain: it adopts the generation a primary tells it, unless that primary is behind it.
 * Reactor thread only. */
#include "repl/repl_internal.h"

#include "util/json_reply.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void witness_send_gen(struct rvol *rv, struct member_link *l)
{
    struct peer *p = l->peer;
    if (!p || p->state != PEER_UP)
        return;
    struct ack_slot *s = &p->acks[(p->next_seq + 1) % ACK_RING];
    if (s->kind != ACK_NONE) {
        peer_drop(p, "too many frames awaiting acknowledgement");
        return;
    }
    rvol_send_gens(rv, p, FRAME_RS_DONE);
    s->kind = ACK_GEN;
    s->seq = p->next_seq;
    s->ptr = rv;
    s->region = rv->meta.current;
    s->len = (uint32_t)(l - rv->links);
}

static bool witness_attached(const struct member_link *l)
{
    return l->peer && l->peer->state == PEER_UP && l->link == LINK_ATTACHED;
}

bool witness_gens_ok(const struct rvol *rv)
{
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        const struct member_link *l = &rv->links[i];
        if (i != rv->self && rvol_is_witness(rv, i) && witness_attached(l) && l->witness_follows &&
            l->witness_gen != rv->meta.current)
            return false;
    }
    return true;
}

bool witness_holds_gen(const struct rvol *rv, const struct member_link *l)
{
    return witness_attached(l) && l->witness_gen && l->witness_gen == rv->meta.current;
}

bool witness_on_attach(struct rvol *rv, struct member_link *l, uint64_t rc, bool peer_behind,
                       bool we_behind)
{
    struct repl_meta *m = &rv->meta;
    l->link = LINK_ATTACHED;
    l->in_sync = false; /* no snapshots, resyncs or RS_DONE of the data kind */
    l->refuse_reason[0] = '\0';
    if (rvol_is_witness(rv, rv->self)) {
        log_info("repl", "volume %s: witness attached to %s (%s)", rv->entry->name, l->m->node,
                 role_name(l->peer_role));
        return false; /* a witness decides nothing at attach: primaries tell it */
    }
    l->peer_disk = DISK_DISKLESS;
    l->witness_gen = rc == m->current ? rc : 0; /* it holds what its metadata says, durably */
    l->witness_follows = rc == m->current || (peer_behind && !we_behind);
    if (we_behind && !peer_behind) {
        snprintf(rv->outdated_why, sizeof(rv->outdated_why),
                 "the witness %s holds generation %016llx, newer than this replica's %016llx: "
                 "writes were acknowledged without this replica",
                 l->m->node, (unsigned long long)rc, (unsigned long long)m->current);
        log_warn("repl", "volume %s: %s", rv->entry->name, rv->outdated_why);
        return true;
    }
    if (!l->witness_follows) {
        snprintf(l->refuse_reason, sizeof(l->refuse_reason),
                 "witness generation %016llx is unrelated to ours (%016llx): it counts toward "
                 "no write until a primary it follows tells it one",
                 (unsigned long long)rc, (unsigned long long)m->current);
        log_warn("repl", "volume %s: %s: %s", rv->entry->name, l->m->node, l->refuse_reason);
    }
    log_info("repl", "volume %s: attached to witness %s%s", rv->entry->name, l->m->node,
             rc == m->current ? ", same generation" : (l->witness_follows ? ", it is behind" : ""));
    if (m->role == ROLE_PRIMARY && l->witness_follows && l->witness_gen != m->current)
        witness_send_gen(rv, l);
    return false;
}

void witness_take_gen(struct rvol *rv, struct peer *p, struct member_link *l, const struct frame *f,
                      struct json_object *o)
{
    struct repl_meta *m = &rv->meta;
    unsigned i = (unsigned)(l - rv->links);
    uint64_t c = json_get_hex_u64(o, "current");
    if (!c || c == m->history[0] || c == m->history[1]) {
        log_warn("repl",
                 "volume %s: %s told this witness generation %016llx, older than ours "
                 "(%016llx): not taken",
                 rv->entry->name, p->name, (unsigned long long)c, (unsigned long long)m->current);
        struct frame nack = {
            .type = FRAME_ACK, .volume_id = rv->volume_id, .offset = f->seq, .length = ESTALE};
        peer_send(p, &nack, NULL, 0, NULL);
        return;
    }
    l->peer_role = ROLE_PRIMARY;
    if (c != m->current) {
        m->current = c;
        m->history[0] = json_get_hex_u64(o, "history0");
        m->history[1] = json_get_hex_u64(o, "history1");
        rvol_save_meta(rv);
    }
    /* acknowledged when the save holding it (or an earlier one, if it was ours already) lands */
    rv->gen_acks[i].seq = f->seq;
    rv->gen_acks[i].version = rv->meta_version;
    rv->gen_acks[i].pending = true;
    witness_meta_durable(rv);
}

void witness_meta_durable(struct rvol *rv)
{
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        if (!rv->gen_acks[i].pending || rv->meta_durable < rv->gen_acks[i].version)
            continue;
        rv->gen_acks[i].pending = false;
        struct peer *p = rv->links[i].peer;
        if (!p || p->state != PEER_UP)
            continue;
        struct frame ack = {.type = FRAME_ACK,
                            .volume_id = rv->volume_id,
                            .offset = rv->gen_acks[i].seq,
                            .length = 0};
        peer_send(p, &ack, NULL, 0, NULL);
    }
}

void witness_gen_acked(struct rvol *rv, unsigned member, uint64_t gen, int err)
{
    if (member >= rv->meta.n_members)
        return;
    struct member_link *l = &rv->links[member];
    if (err) {
        log_warn("repl", "volume %s: witness %s did not take generation %016llx: %s",
                 rv->entry->name, l->m->node, (unsigned long long)gen, strerror(err));
        /* it counts toward no write, and writes no longer wait for it */
        l->witness_follows = false;
        snprintf(l->refuse_reason, sizeof(l->refuse_reason), "refused generation %016llx: %s",
                 (unsigned long long)gen, strerror(err));
        rvol_gen_ready(rv);
        return;
    }
    l->witness_gen = gen;
    rvol_gen_ready(rv);
}
