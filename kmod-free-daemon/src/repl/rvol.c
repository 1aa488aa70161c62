/* Replicated volumes: the protocol-C write path, attach decisions from generation ids, and
 * bitmap-driven resync (proto/replication.md §3, §4, §6).
 *
 * Primary write: the region is marked in the write-intent bitmap (durably, first write only),
 * the write is issued locally, and when the volume layer admits it (on_start, i.e. in overlap
 * order) it is sent to every attached peer; it completes when local and all acks are in. A
 * member not attached gets the region in its out-of-sync bitmap instead, durably, before the
 * client hears back. Secondary: frames are applied through the same volume layer in arrival
 * order and acknowledged when done. */
#include "repl/repl_internal.h"

#include "util/json_reply.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

uint64_t uuid_to_id(const uint8_t uuid[16])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | uuid[i];
    return v;
}

struct rvol *rvol_by_id(struct repl_node *n, uint64_t volume_id)
{
    for (struct rvol *rv = n->vols; rv; rv = rv->next)
        if (rv->volume_id == volume_id)
            return rv;
    return NULL;
}

struct rvol *rvol_by_name(struct repl_node *n, const char *name)
{
    for (struct rvol *rv = n->vols; rv; rv = rv->next)
        if (strcmp(rv->entry->name, name) == 0)
            return rv;
    return NULL;
}

struct member_link *rvol_link_of(struct rvol *rv, struct peer *p)
{
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if (i != rv->self && rv->links[i].peer == p)
            return &rv->links[i];
    return NULL;
}

static bool link_gets_writes(const struct member_link *l)
{
    return l->peer && l->peer->state == PEER_UP && l->peer_disk != DISK_DISKLESS &&
           (l->link == LINK_ATTACHED || l->link == LINK_SYNC_SOURCE);
}

bool rvol_has_quorum(const struct rvol *rv)
{
    unsigned up = 1;
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        const struct member_link *l = &rv->links[i];
        if (i != rv->self && l->peer && l->peer->state == PEER_UP &&
            (l->link == LINK_ATTACHED || l->link == LINK_SYNC_SOURCE ||
             l->link == LINK_SYNC_TARGET))
            up++;
    }
    return 2 * up > rv->meta.n_members;
}

bool rvol_may_write(const struct rvol *rv)
{
    return rv->quorum_override || rvol_has_quorum(rv);
}

static void start_rio(struct rvol *rv, struct rio *r);

/* Takes every write off a waiting list and starts it again, in order. */
static void restart_rios(struct rvol *rv, struct rio **head, struct rio ***tail)
{
    struct rio *list = *head;
    *head = NULL;
    *tail = head;
    while (list) {
        struct rio *r = list;
        list = r->next;
        start_rio(rv, r);
    }
}

void rvol_save_meta(struct rvol *rv)
{
    if (rv->node->saver) {
        rv->meta_version = meta_saver_save(rv->node->saver, rv, rv->dir, &rv->meta);
        return;
    }
    char err[256];
    if (repl_meta_save(rv->dir, &rv->meta, err, sizeof(err)) < 0)
        log_error("repl", "volume %s: %s", rv->entry->name, err);
}

void rvol_meta_saved(void *owner, uint64_t version, int err, const char *msg)
{
    struct rvol *rv = owner;
    if (err)
        log_error("repl", "volume %s: %s", rv->entry->name, msg);
    if (version > rv->meta_durable)
        rv->meta_durable = version;
    witness_meta_durable(rv);
    rvol_gen_ready(rv);
}

void rvol_gen_ready(struct rvol *rv)
{
    /* Without quorum they keep waiting (suspend policy; the tick retries) or go on to fail
     * for want of a majority (io-error policy). */
    if (rv->meta_wait && rv->meta_durable >= rv->gen_version && witness_gens_ok(rv) &&
        (rvol_may_write(rv) || rv->meta.io_error_on_no_quorum))
        restart_rios(rv, &rv->meta_wait, &rv->meta_wait_tail);
}

static void save_meta(struct rvol *rv)
{
    rvol_save_meta(rv);
}

/* Marks off the client's critical path (attach, start-up): committed in the background. */
static void mark_oos(struct rvol *rv, struct member_link *l, uint64_t off, uint64_t len)
{
    (void)rv;
    bitmap_mark(&l->oos, off, len, NULL);
}

static void rio_maybe_complete(struct rio *r);

static void oos_durable(struct bitmap_waiter *w, int err)
{
    struct oos_waiter *ow = (struct oos_waiter *)w;
    struct rio *r = ow->r;
    if (err)
        log_error("repl", "volume %s: cannot persist an out-of-sync bitmap: %s", r->rv->entry->name,
                  strerror(err));
    r->persist_pending--;
    rio_maybe_complete(r);
}

/* A client write the member will not get: the write may complete only once that is durable. */
static void mark_oos_rio(struct rio *r, struct member_link *l)
{
    unsigned i = (unsigned)(l - r->rv->links);
    struct oos_waiter *ow = &r->oosw[i];
    ow->r = r;
    ow->w.cb = oos_durable;
    if (!bitmap_mark(&l->oos, r->outer->off, r->outer->len, &ow->w))
        r->persist_pending++;
}

static void send_attach(struct rvol *rv, struct peer *p, bool want_reply);

/* ---- opening ---- */

struct rvol *rvol_open(struct repl_node *n, struct vol_entry *e, char *err, size_t errlen)
{
    struct rvol *rv = calloc(1, sizeof(*rv));
    if (!rv) {
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    if (repl_meta_load(e->dir, &rv->meta, err, errlen) < 0) {
        int e2 = errno;
        free(rv);
        errno = e2;
        return NULL;
    }
    rv->node = n;
    rv->entry = e;
    rv->vol = &e->vol;
    snprintf(rv->dir, sizeof(rv->dir), "%s", e->dir);
    memcpy(rv->uuid, e->vol.rep->sb.uuid, 16);
    rv->volume_id = uuid_to_id(rv->uuid);
    rv->suspended_tail = &rv->suspended;
    rv->meta_wait_tail = &rv->meta_wait;
    rv->self = UINT32_MAX;
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if (strcmp(rv->meta.members[i].node, n->name) == 0)
            rv->self = i;
    if (rv->self == UINT32_MAX) {
        snprintf(err, errlen, "this node (%s) is not in the volume's replica set", n->name);
        free(rv);
        errno = EINVAL;
        return NULL;
    }
    uint64_t size = e->vol.rep->sb.size;
    char path[600];
    /* A witness writes nothing and resyncs nobody: it keeps no bitmaps (witness.c). */
    bool witness = rvol_is_witness(rv, rv->self);
    snprintf(path, sizeof(path), "%s/write-intent.bitmap", e->dir);
    if (!witness && bitmap_open(&rv->wi, path, size, n->eng) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(rv);
        return NULL;
    }
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        struct member_link *l = &rv->links[i];
        l->m = &rv->meta.members[i];
        if (i == rv->self)
            continue;
        if (witness || rvol_is_witness(rv, i)) {
            l->peer = peer_get(n, l->m->node, l->m->addr);
            continue;
        }
        snprintf(path, sizeof(path), "%s/oos.%s.bitmap", e->dir, l->m->node);
        if (bitmap_open(&l->oos, path, size, n->eng) < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rvol_close(rv);
            return NULL;
        }
        l->peer = peer_get(n, l->m->node, l->m->addr);
        /* Regions that were being written when this node stopped may differ anywhere:
         * whoever ends up the resync source copies them (proto §3.2). */
        for (uint64_t r = bitmap_next(&rv->wi, 0); r != UINT64_MAX; r = bitmap_next(&rv->wi, r + 1))
            mark_oos(rv, l, r << REGION_SHIFT, REGION_BYTES);
    }
    if (rv->wi.count) {
        log_warn("repl",
                 "volume %s: %llu regions were being written at the last stop; they "
                 "will be resynced",
                 e->name, (unsigned long long)rv->wi.count);
        bitmap_clear_all(&rv->wi);
        bitmap_commit(&rv->wi);
    }
    if (witness)
        rv->meta.disk = DISK_DISKLESS; /* for ever */
    rv->had_quorum = true;
    e->vol.repl = rv;
    rv->next = n->vols;
    n->vols = rv;
    log_info("repl", "volume %s: %s, disk %s, %u replicas", e->name, role_name(rv->meta.role),
             disk_state_name(rv->meta.disk), rv->meta.n_members);
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if (i != rv->self && rv->links[i].peer->state == PEER_UP)
            send_attach(rv, rv->links[i].peer, true);
    return rv;
}

void rvol_close(struct rvol *rv)
{
    if (rv->node && rv->node->saver)
        meta_saver_drain(rv->node->saver, rv);
    if (rv->node)
        rvol_vote_cancel(rv);
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if (i != rv->self && rv->links[i].oos.bits)
            bitmap_close(&rv->links[i].oos);
    if (rv->wi.bits)
        bitmap_close(&rv->wi);
    if (rv->vol)
        rv->vol->repl = NULL;
    free(rv);
}

/* ---- attach ---- */

static void runs_from_bitmap(const struct bitmap *b, struct json_object *arr)
{
    for (uint64_t r = bitmap_next(b, 0); r != UINT64_MAX;) {
        uint64_t e = r;
        while (e + 1 < b->n_regions && bitmap_test(b, e + 1))
            e++;
        struct json_object *pair = json_object_new_array();
        json_object_array_add(pair, json_object_new_uint64(r));
        json_object_array_add(pair, json_object_new_uint64(e));
        json_object_array_add(arr, pair);
        r = bitmap_next(b, e + 1);
    }
}

void rvol_send_gens(struct rvol *rv, struct peer *p, uint8_t type)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "current", json_hex_u64(rv->meta.current));
    json_object_object_add(o, "history0", json_hex_u64(rv->meta.history[0]));
    json_object_object_add(o, "history1", json_hex_u64(rv->meta.history[1]));
    json_object_object_add(o, "role", json_object_new_string(role_name(rv->meta.role)));
    json_object_object_add(o, "disk", json_object_new_string(disk_state_name(rv->meta.disk)));
    peer_send_json(p, type, rv->volume_id, o);
    json_object_put(o);
}

void rvol_announce(struct rvol *rv)
{
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if (i != rv->self && rv->links[i].peer->state == PEER_UP)
            rvol_send_gens(rv, rv->links[i].peer, FRAME_ROLE);
}

void rvol_peer_up(struct rvol *rv, struct peer *p)
{
    send_attach(rv, p, false); /* the peer sends its own on the same event */
}

/* want_reply: we opened the volume while the connection was already up (a CREATE, a restart
 * of the volume), so the peer's ATTACH may have been sent before we could take it. */
static void send_attach(struct rvol *rv, struct peer *p, bool want_reply)
{
    struct member_link *l = rvol_link_of(rv, p);
    if (!l)
        return;
    char uuid[37];
    uuid_format(rv->uuid, uuid);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "uuid", json_object_new_string(uuid));
    json_object_object_add(o, "name", json_object_new_string(rv->entry->name));
    json_object_object_add(o, "size", json_object_new_uint64(rv->vol->rep->sb.size));
    json_object_object_add(o, "role", json_object_new_string(role_name(rv->meta.role)));
    json_object_object_add(o, "disk", json_object_new_string(disk_state_name(rv->meta.disk)));
    json_object_object_add(o, "current", json_hex_u64(rv->meta.current));
    json_object_object_add(o, "history0", json_hex_u64(rv->meta.history[0]));
    json_object_object_add(o, "history1", json_hex_u64(rv->meta.history[1]));
    json_object_object_add(o, "base_for_you", json_hex_u64(l->m->bitmap_base));
    struct json_object *dirty = json_object_new_array();
    runs_from_bitmap(&l->oos, dirty);
    json_object_object_add(o, "dirty", dirty);
    json_object_object_add(o, "want_reply", json_object_new_boolean(want_reply));
    peer_send_json(p, FRAME_ATTACH, rv->volume_id, o);
    json_object_put(o);
}

static void demote_local(struct rvol *rv, const char *why);
static void resync_pump(struct rvol *rv, struct member_link *l);

static void on_attach(struct rvol *rv, struct peer *p, struct member_link *l, struct json_object *o)
{
    struct json_object *v;
    char uuid[37];
    uuid_format(rv->uuid, uuid);
    const char *ru = json_object_object_get_ex(o, "uuid", &v) ? json_object_get_string(v) : "";
    if (strcmp(ru, uuid) != 0) {
        snprintf(l->refuse_reason, sizeof(l->refuse_reason),
                 "peer announced volume UUID %s, ours is %s", ru, uuid);
        log_error("repl", "volume %s: refusing %s: %s", rv->entry->name, p->name, l->refuse_reason);
        l->link = LINK_REFUSED;
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "reason", json_object_new_string(l->refuse_reason));
        peer_send_json(p, FRAME_ATTACH_REFUSE, rv->volume_id, r);
        json_object_put(r);
        return;
    }
    l->peer_role = json_object_object_get_ex(o, "role", &v) &&
                           strcmp(json_object_get_string(v), "primary") == 0
                       ? ROLE_PRIMARY
                       : ROLE_SECONDARY;
    uint64_t psize = json_object_object_get_ex(o, "size", &v) ? json_object_get_uint64(v) : 0;
    if (l->peer_role == ROLE_PRIMARY && rv->meta.role != ROLE_PRIMARY &&
        psize > rv->vol->rep->sb.size) {
        /* the primary grew while we were away (rexpand.c) */
        char gerr[512];
        if (rvol_grow(rv, psize, gerr, sizeof(gerr)) < 0)
            log_error("repl", "volume %s: cannot grow to the primary's %llu bytes: %s",
                      rv->entry->name, (unsigned long long)psize, gerr);
    }
    if (json_object_object_get_ex(o, "disk", &v))
        disk_state_parse(json_object_get_string(v), &l->peer_disk);
    uint64_t rc = json_get_hex_u64(o, "current"), rh0 = json_get_hex_u64(o, "history0"),
             rh1 = json_get_hex_u64(o, "history1");
    uint64_t rbase = json_get_hex_u64(o, "base_for_you");
    struct repl_meta *m = &rv->meta;
    /* regions the peer says it may hold differently: ours to resync if we are the source */
    if (json_object_object_get_ex(o, "dirty", &v))
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            struct json_object *pair = json_object_array_get_idx(v, i);
            uint64_t a = json_object_get_uint64(json_object_array_get_idx(pair, 0));
            uint64_t b = json_object_get_uint64(json_object_array_get_idx(pair, 1));
            if (b >= a && b < l->oos.n_regions)
                mark_oos(rv, l, a << REGION_SHIFT, (b - a + 1) << REGION_SHIFT);
        }
    bool peer_behind = rc == l->m->bitmap_base || rc == m->history[0] || rc == m->history[1];
    bool we_behind = m->current == rbase || m->current == rh0 || m->current == rh1;
    l->in_sync = false;
    if (rvol_is_witness(rv, rv->self) || rvol_is_witness(rv, (unsigned)(l - rv->links))) {
        if (witness_on_attach(rv, l, rc, peer_behind, we_behind)) {
            if (m->role == ROLE_PRIMARY)
                demote_local(rv, "a witness holds a newer generation (this node was a stale "
                                 "primary)");
            if (m->disk == DISK_UPTODATE) {
                m->disk = DISK_OUTDATED;
                save_meta(rv);
            }
        }
        return;
    }
    if (rc == m->current) {
        l->link = LINK_ATTACHED;
        l->in_sync = l->oos.count == 0;
    } else if (peer_behind && !we_behind) {
        l->link = LINK_ATTACHED; /* the primary syncs it */
    } else if (we_behind && !peer_behind) {
        if (m->role == ROLE_PRIMARY)
            demote_local(rv, "a peer holds newer data (this node was a stale primary)");
        l->link = LINK_ATTACHED;
        if (m->disk == DISK_UPTODATE) {
            m->disk = DISK_OUTDATED;
            snprintf(rv->outdated_why, sizeof(rv->outdated_why),
                     "%s holds newer data (generation %016llx)", p->name, (unsigned long long)rc);
            save_meta(rv);
        }
    } else {
        l->link = LINK_SPLIT_BRAIN;
        log_error("repl",
                  "volume %s: SPLIT BRAIN with %s: both sides wrote since they last "
                  "agreed; nothing is exchanged until an operator resolves it",
                  rv->entry->name, p->name);
        return;
    }
    log_info("repl", "volume %s: attached to %s (%s, %s)%s", rv->entry->name, p->name,
             role_name(l->peer_role), disk_state_name(l->peer_disk),
             rc == m->current ? ", in sync" : (we_behind ? ", we are behind" : ", it is behind"));
    if (m->role == ROLE_PRIMARY && (rc != m->current || l->oos.count))
        rvol_start_resync(rv, l);
}

void rvol_start_resync(struct rvol *rv, struct member_link *l)
{
    l->link = LINK_SYNC_SOURCE;
    l->in_sync = false;
    l->resync_next = 0;
    l->resync_bytes = 0;
    l->resync_total = l->oos.count;
    log_info("repl", "volume %s: resync to %s: %llu regions", rv->entry->name, l->peer->name,
             (unsigned long long)l->oos.count);
    resync_pump(rv, l);
}

/* ---- write path (primary) ---- */

static struct rio *rio_get(struct repl_node *n)
{
    struct rio *r = n->free_rio;
    if (r)
        n->free_rio = r->next;
    else
        r = malloc(sizeof(*r));
    if (r)
        memset(r, 0, sizeof(*r));
    return r;
}

static void rio_put(struct repl_node *n, struct rio *r)
{
    r->next = n->free_rio;
    n->free_rio = r;
}

/* Members holding the write now: this node if its write succeeded, peers that acked it, and
 * peers that have since been resynced over all of its regions. */
static bool rio_on_majority(struct rio *r)
{
    struct rvol *rv = r->rv;
    unsigned have = r->error || r->diskless ? 0 : 1;
    uint64_t lo = r->outer->off >> REGION_SHIFT;
    uint64_t hi = (r->outer->off + (r->outer->len ? r->outer->len : 1) - 1) >> REGION_SHIFT;
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        struct member_link *l = &rv->links[i];
        if (i == rv->self)
            continue;
        if (r->acked_mask & (1u << i)) {
            have++;
            continue;
        }
        if (rvol_is_witness(rv, i)) {
            have += witness_holds_gen(rv, l); /* a vote, once it holds this generation */
            continue;
        }
        if (!l->peer || l->peer->state != PEER_UP ||
            (l->link != LINK_ATTACHED && l->link != LINK_SYNC_SOURCE))
            continue;
        bool clean = true;
        for (uint64_t g = lo; g <= hi && clean; g++)
            clean = !bitmap_test(&l->oos, g);
        have += clean;
    }
    return 2 * have > rv->meta.n_members;
}

static void rio_complete(struct rio *r)
{
    struct rvol *rv = r->rv;
    struct vol_io *outer = r->outer;
    if (outer->op != VOL_FLUSH)
        rv->writes_inflight--;
    outer->error = r->error;
    rio_put(rv->node, r);
    outer->done(outer);
}

static void rio_maybe_complete(struct rio *r)
{
    if (!r->local_done || r->acks_pending || r->persist_pending)
        return;
    struct rvol *rv = r->rv;
    /* Acknowledged means on a majority. Peers lost while the write was in flight can leave it
     * on too few replicas; the majority may then have promoted another primary that would
     * resync the region away, so the client must not hear "done" yet: the write is held until
     * a majority has it again (resynced), or fails with EIO (io-error policy, or demotion). */
    if (r->outer->op != VOL_FLUSH && !r->error && !rv->quorum_override && !rio_on_majority(r)) {
        if (rv->eio_no_majority++ % 1000 == 0)
            log_error("repl",
                      "volume %s: a write at %llu is on too few replicas (quorum lost while it "
                      "was in flight): %s",
                      rv->entry->name, (unsigned long long)r->outer->off,
                      rv->meta.io_error_on_no_quorum ? "failed with EIO"
                                                     : "held until a majority has it");
        if (rv->meta.io_error_on_no_quorum) {
            r->error = EIO;
        } else {
            r->next = rv->held;
            rv->held = r;
            return;
        }
    }
    rio_complete(r);
}

/* Tick: release held writes that a majority now has; fail them on a node no longer primary. */
static void release_held(struct rvol *rv)
{
    struct rio **pp = &rv->held;
    while (*pp) {
        struct rio *r = *pp;
        if (rv->meta.role != ROLE_PRIMARY)
            r->error = EIO;
        else if (!rio_on_majority(r)) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        rio_complete(r);
    }
}

static void rio_local_done(struct vol_io *inner)
{
    struct rio *r = container_of(inner, struct rio, inner);
    r->local_done = true;
    if (inner->error == EIO && r->outer->op != VOL_FLUSH) {
        /* The disk failed, not the request: detach it; the peers' copies decide. */
        char what[64];
        snprintf(what, sizeof(what), "write at %llu", (unsigned long long)inner->off);
        rvol_detach(r->rv, EIO, what);
        r->diskless = true;
    } else if (inner->error == EIO) {
        rvol_detach(r->rv, EIO, "flush");
    } else if (inner->error && !r->error) {
        r->error = inner->error;
    }
    rio_maybe_complete(r);
}

static void send_to_peer(struct rio *r, struct member_link *l)
{
    struct vol_io *o = r->outer;
    struct peer *p = l->peer;
    struct frame f = {.volume_id = r->rv->volume_id, .offset = o->off, .length = (uint32_t)o->len};
    const void *payload = NULL;
    uint32_t plen = 0;
    switch (o->op) {
    case VOL_WRITE:
        f.type = FRAME_WRITE;
        payload = o->buf;
        plen = (uint32_t)o->len;
        break;
    case VOL_TRIM:
        f.type = FRAME_TRIM;
        break;
    case VOL_WRITE_ZEROES:
        f.type = FRAME_ZERO;
        break;
    case VOL_FLUSH:
        f.type = FRAME_FLUSH;
        f.length = 0;
        break;
    default:
        return;
    }
    if (o->flags & VOL_F_FUA)
        f.flags |= FRAME_F_FUA;
    if (o->flags & VOL_F_NO_HOLE)
        f.flags |= FRAME_F_NO_HOLE;
    struct ack_slot *s = &p->acks[(p->next_seq + 1) % ACK_RING];
    if (s->kind != ACK_NONE) {
        peer_drop(p, "too many frames awaiting acknowledgement");
        mark_oos_rio(r, l);
        return;
    }
    peer_send(p, &f, payload, plen, NULL);
    s->kind = ACK_RIO;
    s->seq = f.seq;
    s->ptr = r;
    r->acks_pending++;
}

/* on_start: the volume admitted the write; fan it out in exactly this order. */
static void rio_started(struct vol_io *inner)
{
    struct rio *r = container_of(inner, struct rio, inner);
    struct rvol *rv = r->rv;
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        struct member_link *l = &rv->links[i];
        if (i == rv->self || rvol_is_witness(rv, i))
            continue; /* a witness gets no data and keeps no out-of-sync bitmap */
        if (link_gets_writes(l))
            send_to_peer(r, l);
        else
            mark_oos_rio(r, l);
    }
}

static void wi_durable(struct bitmap_waiter *w, int err)
{
    struct rio *r = (struct rio *)((char *)w - offsetof(struct rio, wiw));
    if (err)
        log_error("repl", "volume %s: cannot persist the write-intent bitmap: %s",
                  r->rv->entry->name, strerror(err));
    vol_local_submit(r->rv->vol, &r->inner);
}

/* First write since a member was lost: start a new generation (proto §4). */
static void begin_generation(struct rvol *rv)
{
    rv->gen_pending = false;
    repl_meta_new_generation(&rv->meta);
    save_meta(rv);
    rv->gen_version = rv->meta_version;
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        struct member_link *l = &rv->links[i];
        if (i != rv->self && link_gets_writes(l) && l->in_sync)
            rvol_send_gens(rv, l->peer, FRAME_RS_DONE);
        else if (i != rv->self && rvol_is_witness(rv, i) && l->witness_follows &&
                 l->link == LINK_ATTACHED)
            witness_send_gen(rv, l); /* writes wait for its ack (witness_gens_ok) */
    }
}

void rvol_role_changed(struct rvol *rv)
{
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        struct member_link *l = &rv->links[i];
        if (i == rv->self || l->peer->state != PEER_UP)
            continue;
        rvol_send_gens(rv, l->peer, FRAME_ROLE);
        if (l->in_sync && rv->meta.role == ROLE_PRIMARY)
            rvol_send_gens(rv, l->peer, FRAME_RS_DONE);
        else if (l->link != LINK_SPLIT_BRAIN && l->link != LINK_REFUSED)
            send_attach(rv, l->peer, true);
    }
}

static void start_rio(struct rvol *rv, struct rio *r)
{
    if (rv->gen_pending && r->outer->op != VOL_FLUSH)
        begin_generation(rv);
    if (r->outer->op != VOL_FLUSH && (rv->meta_durable < rv->gen_version || !witness_gens_ok(rv))) {
        /* The new generation is not durable here, or not yet acknowledged by a witness
         * (rvol_gen_ready resumes). */
        r->next = NULL;
        *rv->meta_wait_tail = r;
        rv->meta_wait_tail = &r->next;
        return;
    }
    struct vol_io *o = r->outer;
    r->inner = *o;
    r->inner.done = rio_local_done;
    r->inner.ctx = r;
    r->inner.on_start = NULL;
    if (rv->meta.disk == DISK_DISKLESS) {
        /* Nothing goes to the local disk: straight to the peers, in submission order (each
         * peer's volume layer orders overlapping writes as they arrive). */
        r->diskless = true;
        r->local_done = true;
        if (o->op == VOL_FLUSH) {
            for (unsigned i = 0; i < rv->meta.n_members; i++)
                if (i != rv->self && link_gets_writes(&rv->links[i]))
                    send_to_peer(r, &rv->links[i]);
        } else {
            rv->writes_inflight++;
            rv->last_write_ms = repl_now_ms();
            rio_started(&r->inner);
        }
        rio_maybe_complete(r);
        return;
    }
    if (o->op == VOL_FLUSH) {
        for (unsigned i = 0; i < rv->meta.n_members; i++)
            if (i != rv->self && link_gets_writes(&rv->links[i]))
                send_to_peer(r, &rv->links[i]);
    } else {
        rv->writes_inflight++;
        rv->last_write_ms = repl_now_ms();
        r->inner.on_start = rio_started;
        /* The write-intent mark must be durable before the data may reach any disk. */
        r->wiw.cb = wi_durable;
        if (!bitmap_mark(&rv->wi, o->off, o->len, &r->wiw))
            return;
    }
    vol_local_submit(rv->vol, &r->inner);
}

void repl_submit(struct rvol *rv, struct vol_io *vio)
{
    if (vio->op == VOL_READ) {
        rvol_read(rv, vio);
        return;
    }
    if (rv->meta.role != ROLE_PRIMARY) {
        vio->error = EIO; /* demoted while a client was attached */
        vio->done(vio);
        return;
    }
    struct rio *r = rio_get(rv->node);
    if (!r) {
        vio->error = ENOMEM;
        vio->done(vio);
        return;
    }
    r->rv = rv;
    r->outer = vio;
    /* A FLUSH changes no data: it only makes writes already acknowledged (by every replica
     * attached at the time) durable, so it needs no quorum and must not hang a client's close. */
    if (vio->op != VOL_FLUSH && !rvol_may_write(rv)) {
        if (rv->meta.io_error_on_no_quorum) {
            rio_put(rv->node, r);
            vio->error = EIO;
            vio->done(vio);
            return;
        }
        r->next = NULL;
        *rv->suspended_tail = r;
        rv->suspended_tail = &r->next;
        return;
    }
    start_rio(rv, r);
}

static void fail_suspended(struct rvol *rv)
{
    release_held(rv); /* no longer primary: they fail */
    while (rv->suspended) {
        struct rio *r = rv->suspended;
        rv->suspended = r->next;
        struct vol_io *o = r->outer;
        rio_put(rv->node, r);
        o->error = EIO;
        o->done(o);
    }
    rv->suspended_tail = &rv->suspended;
}

static void demote_local(struct rvol *rv, const char *why)
{
    log_warn("repl", "volume %s: demoted to secondary: %s", rv->entry->name, why);
    rv->meta.role = ROLE_SECONDARY;
    save_meta(rv);
    fail_suspended(rv);
    rvol_role_changed(rv);
}

void rvol_ack(struct peer *p, const struct frame *f, const void *payload)
{
    struct ack_slot *s = &p->acks[f->offset % ACK_RING];
    if (s->kind == ACK_NONE || s->seq != f->offset)
        return; /* answered already (connection reset) or never asked */
    enum ack_kind kind = s->kind;
    void *ptr = s->ptr;
    uint64_t region = s->region;
    s->kind = ACK_NONE;
    int err = (int)f->length;
    if (kind == ACK_CREATE) {
        create_job_ack(p->node, ptr, p, err);
        return;
    }
    if (kind == ACK_READ) {
        rvol_read_answer(p, ptr, err, f, payload);
        return;
    }
    if (kind == ACK_SNAPSHOT) {
        rvol_snapshot_ack(ptr, (unsigned)region, err);
        return;
    }
    if (kind == ACK_EXPAND) {
        rvol_expand_ack(ptr, (unsigned)region, err);
        return;
    }
    if (kind == ACK_VOTE) {
        rvol_vote_answer(ptr, (unsigned)region, err, payload, payload ? f->payload_len : 0);
        return;
    }
    if (kind == ACK_GEN) {
        witness_gen_acked(ptr, s->len, region, err);
        return;
    }
    if (kind == ACK_VERIFY) {
        struct ack_slot a = *s;
        a.kind = ACK_VERIFY;
        if (f->type == FRAME_VERIFY_SUM)
            rvol_verify_answer(ptr, p, &a, err, payload, f->payload_len);
        else
            rvol_verify_answer(ptr, p, &a, err ? err : EPROTO, NULL, 0);
        return;
    }
    if (kind == ACK_RESYNC) {
        struct rvol *rv = ptr;
        struct member_link *l = rvol_link_of(rv, p);
        if (!l)
            return;
        l->resync_inflight--;
        if (err) {
            log_error("repl", "volume %s: %s failed a resync write: %s", rv->entry->name, p->name,
                      strerror(err));
            return;
        }
        bitmap_clear(&l->oos, region);
        l->resync_bytes += s->len;
        resync_pump(rv, l);
        return;
    }
    struct rio *r = ptr;
    struct member_link *l = rvol_link_of(r->rv, p);
    if (err && l) {
        /* the peer could not write: it no longer has this data; remember it */
        log_error("repl", "volume %s: %s failed a write at %llu: %s", r->rv->entry->name, p->name,
                  (unsigned long long)r->outer->off, strerror(err));
        mark_oos_rio(r, l);
        l->peer_disk = err == EIO ? DISK_DISKLESS : DISK_OUTDATED;
    } else if (!err && l) {
        r->acked_mask |= 1u << (unsigned)(l - r->rv->links);
    }
    r->acks_pending--;
    rio_maybe_complete(r);
}

void peer_fail_acks(struct peer *p)
{
    for (unsigned i = 0; i < ACK_RING; i++) {
        struct ack_slot *s = &p->acks[i];
        if (s->kind == ACK_NONE)
            continue;
        enum ack_kind kind = s->kind;
        s->kind = ACK_NONE;
        if (kind == ACK_CREATE) {
            create_job_ack(p->node, s->ptr, p, ECONNRESET);
        } else if (kind == ACK_SNAPSHOT) {
            rvol_snapshot_ack(s->ptr, (unsigned)s->region, ECONNRESET);
        } else if (kind == ACK_EXPAND) {
            rvol_expand_ack(s->ptr, (unsigned)s->region, ECONNRESET);
        } else if (kind == ACK_VOTE) {
            rvol_vote_answer(s->ptr, (unsigned)s->region, ECONNRESET, NULL, 0);
        } else if (kind == ACK_GEN) {
            /* the link is lost: the witness counts again once it acks after reattaching */
        } else if (kind == ACK_VERIFY) {
            rvol_verify_answer(s->ptr, p, s, ECONNRESET, NULL, 0);
        } else if (kind == ACK_READ) {
            rvol_read_answer(p, s->ptr, ECONNRESET, NULL, NULL);
        } else if (kind == ACK_RESYNC) {
            struct member_link *l = rvol_link_of(s->ptr, p);
            if (l)
                l->resync_inflight--;
        } else {
            struct rio *r = s->ptr;
            struct member_link *l = rvol_link_of(r->rv, p);
            if (l && r->outer->op != VOL_FLUSH)
                mark_oos_rio(r, l);
            r->acks_pending--;
            rio_maybe_complete(r);
        }
    }
}

void rvol_peer_lost(struct rvol *rv, struct peer *p)
{
    struct member_link *l = rvol_link_of(rv, p);
    if (!l)
        return;
    enum link_state was = l->link;
    l->link = LINK_DOWN;
    l->in_sync = false;
    l->witness_gen = 0;
    l->witness_follows = false;
    rv->gen_acks[l - rv->links].pending = false;
    if (rv->meta.role == ROLE_PRIMARY && was != LINK_SPLIT_BRAIN && was != LINK_REFUSED) {
        /* It has everything of the current generation. The next write starts a generation
         * it does not have (begin_generation), so that at reconnect its generation says it is
         * behind and our bitmap says by how much. Not before that write: a primary that is cut
         * off and writes nothing must not look diverged (split brain) when it returns. */
        l->m->bitmap_base = rv->meta.current;
        save_meta(rv);
        rv->gen_pending = true;
    }
    if (!rvol_has_quorum(rv) && rv->had_quorum) {
        rv->had_quorum = false;
        log_warn("repl", "volume %s: lost quorum; writes %s", rv->entry->name,
                 rv->meta.io_error_on_no_quorum ? "fail with EIO" : "are suspended");
    }
    rvol_gen_ready(rv); /* writes that waited for a witness that is gone */
}

/* ---- resync ---- */

struct rs_op {
    struct vol_io vio;
    struct rvol *rv;
    struct member_link *l;
    uint64_t region;
};

static void rs_read_done(struct vol_io *vio)
{
    struct rs_op *op = container_of(vio, struct rs_op, vio);
    struct rvol *rv = op->rv;
    rv->node->local_ops--;
    struct member_link *l = op->l;
    struct peer *p = l->peer;
    void *buf = vio->buf;
    uint32_t len = (uint32_t)vio->len;
    if (vio->error || l->link != LINK_SYNC_SOURCE || p->state != PEER_UP) {
        bufpool_put(rv->node->pool, buf, len);
        l->resync_inflight--;
        free(op);
        return;
    }
    struct ack_slot *s = &p->acks[(p->next_seq + 1) % ACK_RING];
    if (s->kind != ACK_NONE) {
        bufpool_put(rv->node->pool, buf, len);
        l->resync_inflight--;
        free(op);
        peer_drop(p, "too many frames awaiting acknowledgement");
        return;
    }
    struct frame f = {.type = FRAME_RS_DATA,
                      .volume_id = rv->volume_id,
                      .offset = op->region << REGION_SHIFT,
                      .length = len};
    peer_send(p, &f, buf, len, repl_release_pool);
    s->kind = ACK_RESYNC;
    s->seq = f.seq;
    s->ptr = rv;
    s->region = op->region;
    s->len = len;
    free(op);
}

static void resync_pump(struct rvol *rv, struct member_link *l)
{
    while (l->link == LINK_SYNC_SOURCE && l->peer->state == PEER_UP &&
           l->resync_inflight < rv->node->resync_inflight) {
        uint64_t r = bitmap_next(&l->oos, l->resync_next);
        if (r == UINT64_MAX)
            break;
        uint64_t off = r << REGION_SHIFT, size = rv->vol->rep->sb.size;
        uint64_t len = size - off < REGION_BYTES ? size - off : REGION_BYTES;
        if (!repl_resync_take(rv->node, len))
            break; /* over --resync-rate: the tick pumps again */
        l->resync_next = r + 1;
        struct rs_op *op = calloc(1, sizeof(*op));
        void *buf = op ? bufpool_get(rv->node->pool, len) : NULL;
        if (!buf) {
            free(op);
            l->resync_next = r; /* try again next tick */
            return;
        }
        op->rv = rv;
        op->l = l;
        op->region = r;
        op->vio.op = VOL_LOCKED_READ;
        op->vio.off = off;
        op->vio.len = len;
        op->vio.buf = buf;
        op->vio.done = rs_read_done;
        l->resync_inflight++;
        rv->node->local_ops++;
        vol_local_submit(rv->vol, &op->vio);
    }
    if (l->link == LINK_SYNC_SOURCE && l->resync_inflight == 0 &&
        bitmap_next(&l->oos, 0) == UINT64_MAX) {
        bitmap_commit(&l->oos);
        l->link = LINK_ATTACHED;
        l->peer_disk = DISK_UPTODATE;
        l->in_sync = true;
        log_info("repl", "volume %s: resync to %s done (%llu bytes)", rv->entry->name,
                 l->peer->name, (unsigned long long)l->resync_bytes);
        rvol_send_gens(rv, l->peer, FRAME_RS_DONE);
    } else if (l->link == LINK_SYNC_SOURCE && l->resync_inflight == 0 &&
               bitmap_next(&l->oos, l->resync_next) == UINT64_MAX) {
        l->resync_next = 0; /* bits set behind the cursor while copying: go round again */
        resync_pump(rv, l);
    }
}

/* ---- secondary: applying the primary's frames ---- */

struct sio {
    struct vol_io vio;
    struct rvol *rv;
    struct peer *peer;
    uint64_t seq;
    uint8_t ack_type;
    void *buf;
    uint32_t buflen;
    struct sio *next; /* free list */
};

/* One per frame applied: taken from the node's free list (a secondary applies every write of
 * the primary; malloc and free per frame showed in its profile). */
static struct sio *sio_get(struct repl_node *n)
{
    struct sio *s = n->free_sio;
    if (s)
        n->free_sio = s->next;
    else
        s = malloc(sizeof(*s));
    if (s)
        memset(s, 0, sizeof(*s));
    return s;
}

static void sio_put(struct repl_node *n, struct sio *s)
{
    s->next = n->free_sio;
    n->free_sio = s;
}

void rvol_free_sios(struct repl_node *n)
{
    while (n->free_sio) {
        struct sio *s = n->free_sio;
        n->free_sio = s->next;
        free(s);
    }
}

static void sio_done(struct vol_io *vio)
{
    struct sio *s = container_of(vio, struct sio, vio);
    if (vio->error == EIO) {
        char what[80];
        snprintf(what, sizeof(what), "applying a frame from %s at %llu", s->peer->name,
                 (unsigned long long)vio->off);
        rvol_detach(s->rv, EIO, what);
    }
    struct frame ack = {.type = s->ack_type,
                        .volume_id = s->rv->volume_id,
                        .offset = s->seq,
                        .length = (uint32_t)vio->error};
    peer_send(s->peer, &ack, NULL, 0, NULL);
    if (s->buf)
        bufpool_put(s->rv->node->pool, s->buf, s->buflen);
    s->rv->node->local_ops--;
    sio_put(s->rv->node, s);
}

static void apply(struct rvol *rv, struct peer *p, const struct frame *f, void *payload)
{
    struct member_link *l = rvol_link_of(rv, p);
    int refuse = 0;
    if (!l || l->link == LINK_SPLIT_BRAIN || l->link == LINK_REFUSED || l->link == LINK_DOWN)
        refuse = EPERM;
    else if (rv->meta.role == ROLE_PRIMARY)
        refuse = EPERM; /* two primaries must never both write */
    else if (rvol_is_witness(rv, rv->self)) {
        refuse = EPERM; /* holds no data; counted so that tests can see it never happens */
        rv->witness_data_frames++;
    } else if (rv->meta.disk == DISK_DISKLESS)
        refuse = EIO; /* detached: the primary records what we miss */
    else if (f->type == FRAME_WRITE || f->type == FRAME_RS_DATA) {
        if (f->payload_len != f->length)
            refuse = EINVAL;
    }
    if (!refuse && f->length &&
        (f->offset > rv->vol->rep->sb.size || f->length > rv->vol->rep->sb.size - f->offset))
        refuse = EINVAL;
    struct sio *s = refuse ? NULL : sio_get(rv->node);
    if (!s) {
        struct frame ack = {.type = f->type == FRAME_RS_DATA ? FRAME_RS_ACK : FRAME_ACK,
                            .volume_id = rv->volume_id,
                            .offset = f->seq,
                            .length = (uint32_t)(refuse ? refuse : ENOMEM)};
        peer_send(p, &ack, NULL, 0, NULL);
        if (payload)
            bufpool_put(rv->node->pool, payload, f->payload_len);
        return;
    }
    s->rv = rv;
    s->peer = p;
    s->seq = f->seq;
    s->ack_type = f->type == FRAME_RS_DATA ? FRAME_RS_ACK : FRAME_ACK;
    s->buf = payload;
    s->buflen = f->payload_len;
    s->vio.off = f->offset;
    s->vio.len = f->length;
    s->vio.buf = payload;
    s->vio.flags =
        (f->flags & FRAME_F_FUA ? VOL_F_FUA : 0) | (f->flags & FRAME_F_NO_HOLE ? VOL_F_NO_HOLE : 0);
    s->vio.done = sio_done;
    switch (f->type) {
    case FRAME_WRITE:
    case FRAME_RS_DATA:
        s->vio.op = VOL_WRITE;
        break;
    case FRAME_TRIM:
        s->vio.op = VOL_TRIM;
        break;
    case FRAME_ZERO:
        s->vio.op = VOL_WRITE_ZEROES;
        break;
    default:
        s->vio.op = VOL_FLUSH;
        break;
    }
    if (f->type == FRAME_RS_DATA && rv->meta.disk == DISK_UPTODATE) {
        rv->meta.disk = DISK_INCONSISTENT; /* until RS_DONE */
        save_meta(rv);
    }
    if (f->type == FRAME_RS_DATA)
        l->link = LINK_SYNC_TARGET;
    rv->node->local_ops++;
    vol_local_submit(rv->vol, &s->vio);
}

void rvol_frame(struct rvol *rv, struct peer *p, const struct frame *f, void *payload)
{
    struct member_link *l = rvol_link_of(rv, p);
    switch (f->type) {
    case FRAME_WRITE:
    case FRAME_TRIM:
    case FRAME_ZERO:
    case FRAME_FLUSH:
    case FRAME_RS_DATA:
        apply(rv, p, f, payload);
        return;
    case FRAME_VERIFY_REQ:
        if (payload)
            bufpool_put(rv->node->pool, payload, f->payload_len);
        rvol_verify_serve(rv, p, f);
        return;
    case FRAME_READ_REQ:
        if (payload)
            bufpool_put(rv->node->pool, payload, f->payload_len);
        rvol_read_serve(rv, p, f);
        return;
    default:
        break;
    }
    struct json_object *o = payload; /* control frames arrive parsed */
    if (!l)
        return;
    struct json_object *v;
    switch (f->type) {
    case FRAME_ATTACH: {
        struct json_object *wr;
        if (json_object_object_get_ex(o, "want_reply", &wr) && json_object_get_boolean(wr))
            send_attach(rv, p, false);
        on_attach(rv, p, l, o);
        break;
    }
    case FRAME_ATTACH_REFUSE:
        snprintf(l->refuse_reason, sizeof(l->refuse_reason), "%s",
                 json_object_object_get_ex(o, "reason", &v) ? json_object_get_string(v) : "?");
        l->link = LINK_REFUSED;
        log_error("repl", "volume %s: %s refused us: %s", rv->entry->name, p->name,
                  l->refuse_reason);
        break;
    case FRAME_ROLE:
        l->peer_role = json_object_object_get_ex(o, "role", &v) &&
                               strcmp(json_object_get_string(v), "primary") == 0
                           ? ROLE_PRIMARY
                           : ROLE_SECONDARY;
        if (json_object_object_get_ex(o, "disk", &v))
            disk_state_parse(json_object_get_string(v), &l->peer_disk);
        if (rv->promised_to == (unsigned)(l - rv->links) + 1)
            rv->promised_to = 0; /* our candidate won or gave up */
        break;
    case FRAME_SNAPSHOT:
        rvol_snapshot_frame(rv, p, f, o);
        break;
    case FRAME_EXPAND:
        rvol_expand_frame(rv, p, f, o);
        break;
    case FRAME_VOTE_REQ:
        rvol_vote_serve(rv, p, f, o);
        break;
    case FRAME_RS_DONE:
        /* the primary says: you hold everything of generation `current` */
        if (rv->meta.role == ROLE_PRIMARY)
            break;
        if (rvol_is_witness(rv, rv->self)) {
            witness_take_gen(rv, p, l, f, o);
            break;
        }
        rv->outdated_why[0] = '\0';
        rv->meta.current = json_get_hex_u64(o, "current");
        rv->meta.history[0] = json_get_hex_u64(o, "history0");
        rv->meta.history[1] = json_get_hex_u64(o, "history1");
        rv->meta.disk = DISK_UPTODATE;
        if (l->link == LINK_SYNC_TARGET)
            l->link = LINK_ATTACHED;
        l->peer_role = ROLE_PRIMARY;
        /* We now hold exactly the source's data: nothing of ours is missing there. */
        if (l->oos.count) {
            bitmap_clear_all(&l->oos);
            bitmap_commit(&l->oos);
        }
        save_meta(rv);
        break;
    default:
        break;
    }
}

void rvol_tick(struct rvol *rv)
{
    bool q = rvol_has_quorum(rv);
    if (q && !rv->had_quorum) {
        rv->had_quorum = true;
        log_info("repl", "volume %s: quorum regained", rv->entry->name);
    }
    if (q && rv->quorum_override) {
        rv->quorum_override = false;
        log_info("repl", "volume %s: quorum is back; the no-quorum override ends", rv->entry->name);
    }
    if ((q || rv->quorum_override) && rv->suspended && rv->meta.role == ROLE_PRIMARY)
        restart_rios(rv, &rv->suspended, &rv->suspended_tail);
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if (i != rv->self && rv->links[i].link == LINK_SYNC_SOURCE)
            resync_pump(rv, &rv->links[i]);
    rvol_verify_tick(rv);
    rvol_vote_tick(rv);
    rvol_gen_ready(rv);
    release_held(rv);
    /* Write intent is cleared once nothing is in flight and every member is attached and in
     * sync: then no region can differ anywhere. Only after 5 s without writes, because every
     * clear makes the next first write to each region wait for a bitmap commit. */
    if (rv->wi.count && rv->writes_inflight == 0 && rv->node->ticks % 20 == 0 &&
        repl_now_ms() - rv->last_write_ms > 5000) {
        bool all = true;
        for (unsigned i = 0; i < rv->meta.n_members; i++)
            if (i != rv->self && (rv->links[i].link != LINK_ATTACHED || rv->links[i].oos.count))
                all = false;
        if (all) {
            bitmap_clear_all(&rv->wi);
            bitmap_commit(&rv->wi);
        }
    }
}

/* ---- split brain ---- */

int rvol_discard_local(struct rvol *rv, char *msg, size_t msglen)
{
    struct repl_meta *m = &rv->meta;
    struct member_link *survivor = NULL;
    for (unsigned i = 0; i < m->n_members; i++)
        if (i != rv->self && rv->links[i].link == LINK_SPLIT_BRAIN && !survivor)
            survivor = &rv->links[i];
    if (!survivor) {
        snprintf(msg, msglen,
                 "volume %s is not in split brain with any connected replica; nothing to "
                 "resolve",
                 rv->entry->name);
        return -1;
    }
    if (m->role == ROLE_PRIMARY && rv->entry->attached) {
        snprintf(msg, msglen, "volume %s has %u attached clients here; detach them first",
                 rv->entry->name, rv->entry->attached);
        return -1;
    }
    /* Go back to the generation both sides last shared (where we began recording what the
     * survivor missed): the survivor then sees us as behind, resyncs its own changes since
     * then, and takes the regions we changed from our ATTACH's dirty list, so the union of
     * both sides' changes is copied over ours. */
    uint64_t base = survivor->m->bitmap_base;
    log_warn("repl",
             "volume %s: split brain resolved by discarding this node's changes since "
             "generation %016llx; %s becomes the resync source",
             rv->entry->name, (unsigned long long)base, survivor->m->node);
    m->role = ROLE_SECONDARY;
    m->disk = DISK_OUTDATED;
    m->current = base;
    m->history[0] = m->history[1] = 0;
    rv->gen_pending = false;
    rv->quorum_override = false;
    save_meta(rv);
    fail_suspended(rv);
    for (unsigned i = 0; i < m->n_members; i++) {
        struct member_link *l = &rv->links[i];
        if (i == rv->self)
            continue;
        if (l->link == LINK_SPLIT_BRAIN)
            l->link = LINK_DOWN;
        if (l->peer->state == PEER_UP) {
            rvol_send_gens(rv, l->peer, FRAME_ROLE);
            send_attach(rv, l->peer, true);
        }
    }
    return 0;
}

/* ---- what frontends and status see ---- */

int repl_may_serve(struct volume *v, char *msg, size_t msglen)
{
    struct rvol *rv = v->repl;
    if (!rv || rv->meta.role == ROLE_PRIMARY)
        return 0;
    if (rvol_is_witness(rv, rv->self)) {
        snprintf(msg, msglen,
                 "this node is a witness for volume %s: it holds no data and never serves it",
                 rv->entry->name);
        return -1;
    }
    const char *primary = NULL, *addr = "";
    for (unsigned i = 0; i < rv->meta.n_members; i++)
        if (i != rv->self && rv->links[i].peer_role == ROLE_PRIMARY &&
            rv->links[i].link != LINK_DOWN) {
            primary = rv->links[i].m->node;
            addr = rv->links[i].m->addr;
        }
    if (primary)
        snprintf(msg, msglen, "volume %s is a secondary replica here; its primary is %s (%s)",
                 rv->entry->name, primary, addr);
    else
        snprintf(msg, msglen,
                 "volume %s is a secondary replica here and no primary is "
                 "connected; promote one with tandemctl volume promote",
                 rv->entry->name);
    return -1;
}

static const char *link_name(enum link_state s)
{
    switch (s) {
    case LINK_DOWN:
        return "Disconnected";
    case LINK_ATTACHED:
        return "Connected";
    case LINK_SYNC_SOURCE:
        return "SyncSource";
    case LINK_SYNC_TARGET:
        return "SyncTarget";
    case LINK_SPLIT_BRAIN:
        return "SplitBrain";
    case LINK_REFUSED:
        return "StandAlone";
    }
    return "?";
}

void repl_status_json(struct rvol *rv, struct json_object *out)
{
    struct repl_node *n = rv->node;
    json_object_object_add(out, "role", json_object_new_string(role_name(rv->meta.role)));
    json_object_object_add(out, "disk", json_object_new_string(disk_state_name(rv->meta.disk)));
    json_object_object_add(out, "quorum", json_object_new_boolean(rvol_has_quorum(rv)));
    json_object_object_add(out, "generation", json_hex_u64(rv->meta.current));
    json_object_object_add(out, "suspended_writes", json_object_new_boolean(rv->suspended != NULL));
    json_object_object_add(out, "quorum_override", json_object_new_boolean(rv->quorum_override));
    if (rv->outdated_why[0] && rv->meta.disk == DISK_OUTDATED)
        json_object_object_add(out, "disk_reason", json_object_new_string(rv->outdated_why));
    if (rvol_is_witness(rv, rv->self)) {
        json_object_object_add(out, "role", json_object_new_string("witness"));
        json_object_object_add(out, "data_frames_received",
                               json_object_new_uint64(rv->witness_data_frames));
    }
    bool split = false;
    struct json_object *arr = json_object_new_array();
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        struct member_link *l = &rv->links[i];
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "node", json_object_new_string(l->m->node));
        json_object_object_add(r, "addr", json_object_new_string(l->m->addr));
        bool w = rvol_is_witness(rv, i);
        if (w)
            json_object_object_add(r, "witness", json_object_new_boolean(1));
        if (i == rv->self) {
            json_object_object_add(r, "zone", json_object_new_string(n->zone));
            json_object_object_add(
                r, "role", json_object_new_string(w ? "witness" : role_name(rv->meta.role)));
            json_object_object_add(r, "disk",
                                   json_object_new_string(disk_state_name(rv->meta.disk)));
            json_object_object_add(r, "connection", json_object_new_string("local"));
        } else {
            json_object_object_add(r, "zone", json_object_new_string(l->peer->zone));
            json_object_object_add(r, "role",
                                   json_object_new_string(w ? "witness" : role_name(l->peer_role)));
            if (w && !rvol_is_witness(rv, rv->self))
                json_object_object_add(r, "generation_acked", json_hex_u64(l->witness_gen));
            json_object_object_add(r, "disk",
                                   json_object_new_string(l->link == LINK_DOWN
                                                              ? "unknown"
                                                              : disk_state_name(l->peer_disk)));
            json_object_object_add(r, "connection", json_object_new_string(link_name(l->link)));
            json_object_object_add(r, "out_of_sync_bytes",
                                   json_object_new_uint64(l->oos.count << REGION_SHIFT));
            if (l->link == LINK_SYNC_SOURCE || l->resync_bytes) {
                struct json_object *rs = json_object_new_object();
                json_object_object_add(rs, "bytes_sent", json_object_new_uint64(l->resync_bytes));
                json_object_object_add(rs, "regions_left", json_object_new_uint64(l->oos.count));
                json_object_object_add(rs, "regions_total",
                                       json_object_new_uint64(l->resync_total));
                json_object_object_add(r, "resync", rs);
            }
            if (l->refuse_reason[0])
                json_object_object_add(r, "error", json_object_new_string(l->refuse_reason));
            split |= l->link == LINK_SPLIT_BRAIN;
        }
        json_object_array_add(arr, r);
    }
    json_object_object_add(out, "replicas", arr);
    json_object_object_add(out, "split_brain", json_object_new_boolean(split));
    rvol_verify_status(rv, out);
}
