/* Backing-disk failures (proto/replication.md §8): a replica whose disk returns EIO detaches
 * it (disk state Diskless) and goes on without it. A diskless primary keeps serving: reads go
 * to an UpToDate peer (READ_REQ / READ_DATA), writes go to the peers only. A diskless
 * secondary refuses further frames with EIO, so the primary records what it misses.
 *
 * Reads on a replicated volume pass through here even while the disk is healthy, so that a
 * read that fails with EIO can be retried on a peer: the client sees no error while any
 * UpToDate replica remains. The wrapper is one struct from a free list per read, no copy. */
#include "repl/repl_internal.h"

#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

struct rread {
    struct vol_io inner; /* the local attempt */
    struct vol_io *outer;
    struct rvol *rv;
    unsigned tried; /* members already asked */
    struct rread *next;
};

static struct rread *rread_get(struct repl_node *n)
{
    struct rread *r = n->free_rread;
    if (r)
        n->free_rread = r->next;
    else
        r = malloc(sizeof(*r));
    if (r)
        memset(r, 0, sizeof(*r));
    return r;
}

static void rread_finish(struct rread *r, int err)
{
    struct vol_io *outer = r->outer;
    struct repl_node *n = r->rv->node;
    r->next = n->free_rread;
    n->free_rread = r;
    outer->error = err;
    outer->done(outer);
}

void rvol_detach(struct rvol *rv, int err, const char *what)
{
    if (rv->meta.disk == DISK_DISKLESS)
        return;
    const char *from = NULL;
    for (unsigned i = 0; i < rv->meta.n_members && !from; i++)
        if (i != rv->self && rv->links[i].link == LINK_ATTACHED &&
            rv->links[i].peer_disk == DISK_UPTODATE)
            from = rv->links[i].m->node;
    log_error("repl", "volume %s: backing disk failed (%s: %s): detaching it; disk is Diskless%s%s",
              rv->entry->name, what, strerror(err),
              rv->meta.role == ROLE_PRIMARY ? (from ? "; reads are served by "
                                                    : "; no UpToDate "
                                                      "peer to read from")
                                            : "",
              rv->meta.role == ROLE_PRIMARY && from ? from : "");
    rv->meta.disk = DISK_DISKLESS;
    rvol_save_meta(rv); /* fails if the disk is gone: Diskless is then kept in memory */
    rvol_announce(rv);
}

/* An UpToDate peer that has every region of [off, off+len): none marked out of sync. */
static struct member_link *read_source(struct rvol *rv, uint64_t off, uint64_t len, unsigned skip)
{
    uint64_t lo = off >> REGION_SHIFT, hi = (off + (len ? len : 1) - 1) >> REGION_SHIFT;
    for (unsigned i = 0; i < rv->meta.n_members; i++) {
        struct member_link *l = &rv->links[i];
        if (i == rv->self || (skip & (1u << i)) || !l->peer || l->peer->state != PEER_UP ||
            l->link != LINK_ATTACHED || l->peer_disk != DISK_UPTODATE)
            continue;
        bool clean = true;
        for (uint64_t g = lo; g <= hi && clean; g++)
            clean = !bitmap_test(&l->oos, g);
        if (clean)
            return l;
    }
    return NULL;
}

static void remote_read(struct rread *r)
{
    struct rvol *rv = r->rv;
    struct vol_io *o = r->outer;
    for (;;) {
        struct member_link *l = read_source(rv, o->off, o->len, r->tried);
        if (!l) {
            log_error("repl", "volume %s: read at %llu: no UpToDate peer can serve it",
                      rv->entry->name, (unsigned long long)o->off);
            rread_finish(r, EIO);
            return;
        }
        r->tried |= 1u << (unsigned)(l - rv->links);
        struct peer *p = l->peer;
        struct ack_slot *a = &p->acks[(p->next_seq + 1) % ACK_RING];
        if (a->kind != ACK_NONE)
            continue; /* that peer's window is full: try another */
        struct frame f = {.type = FRAME_READ_REQ,
                          .volume_id = rv->volume_id,
                          .offset = o->off,
                          .length = (uint32_t)o->len};
        peer_send(p, &f, NULL, 0, NULL);
        a->kind = ACK_READ;
        a->seq = f.seq;
        a->ptr = r;
        return;
    }
}

static void local_read_done(struct vol_io *inner)
{
    struct rread *r = container_of(inner, struct rread, inner);
    if (inner->error == EIO) {
        char what[64];
        snprintf(what, sizeof(what), "read at %llu", (unsigned long long)inner->off);
        rvol_detach(r->rv, EIO, what);
        remote_read(r);
        return;
    }
    rread_finish(r, inner->error);
}

void rvol_read(struct rvol *rv, struct vol_io *vio)
{
    struct rread *r = rread_get(rv->node);
    if (!r) {
        vio->error = ENOMEM;
        vio->done(vio);
        return;
    }
    r->rv = rv;
    r->outer = vio;
    if (rv->meta.disk == DISK_DISKLESS) {
        remote_read(r);
        return;
    }
    r->inner.op = VOL_READ;
    r->inner.off = vio->off;
    r->inner.len = vio->len;
    r->inner.buf = vio->buf;
    r->inner.done = local_read_done;
    vol_local_submit(rv->vol, &r->inner);
}

void rvol_read_answer(struct peer *p, void *ptr, int err, const struct frame *f,
                      const void *payload)
{
    struct rread *r = ptr;
    struct vol_io *o = r->outer;
    if (!err && f && f->type == FRAME_READ_DATA && payload && f->payload_len == o->len) {
        memcpy(o->buf, payload, o->len);
        rread_finish(r, 0);
        return;
    }
    if (err != ECONNRESET)
        log_warn("repl", "volume %s: %s could not serve a read at %llu: %s", r->rv->entry->name,
                 p->name, (unsigned long long)o->off, strerror(err ? err : EPROTO));
    remote_read(r); /* another peer, or EIO */
}

/* ---- the peer's side ---- */

struct read_serve {
    struct vol_io vio;
    struct rvol *rv;
    struct peer *peer;
    uint64_t seq;
};

static void serve_done(struct vol_io *vio)
{
    struct read_serve *s = container_of(vio, struct read_serve, vio);
    struct rvol *rv = s->rv;
    rv->node->local_ops--;
    struct frame f = {.type = FRAME_READ_DATA,
                      .volume_id = rv->volume_id,
                      .offset = s->seq,
                      .length = (uint32_t)vio->error};
    if (vio->error == EIO) {
        char what[64];
        snprintf(what, sizeof(what), "read at %llu for %s", (unsigned long long)vio->off,
                 s->peer->name);
        rvol_detach(rv, EIO, what);
    }
    if (vio->error) {
        peer_send(s->peer, &f, NULL, 0, NULL);
        bufpool_put(rv->node->pool, vio->buf, vio->len);
    } else {
        peer_send(s->peer, &f, vio->buf, (uint32_t)vio->len, repl_release_pool);
    }
    free(s);
}

void rvol_read_serve(struct rvol *rv, struct peer *p, const struct frame *f)
{
    struct member_link *l = rvol_link_of(rv, p);
    int err = 0;
    if (!l || l->link == LINK_DOWN || l->link == LINK_SPLIT_BRAIN || l->link == LINK_REFUSED)
        err = EPERM;
    else if (rv->meta.disk != DISK_UPTODATE)
        err = ENODATA;
    else if (f->length == 0 || f->length > FRAME_MAX_PAYLOAD || f->offset > rv->vol->rep->sb.size ||
             f->length > rv->vol->rep->sb.size - f->offset)
        err = EINVAL;
    struct read_serve *s = err ? NULL : calloc(1, sizeof(*s));
    void *buf = s ? bufpool_get(rv->node->pool, f->length) : NULL;
    if (!buf) {
        free(s);
        struct frame ans = {.type = FRAME_READ_DATA,
                            .volume_id = rv->volume_id,
                            .offset = f->seq,
                            .length = (uint32_t)(err ? err : ENOMEM)};
        peer_send(p, &ans, NULL, 0, NULL);
        return;
    }
    s->rv = rv;
    s->peer = p;
    s->seq = f->seq;
    s->vio.op = VOL_READ;
    s->vio.off = f->offset;
    s->vio.len = f->length;
    s->vio.buf = buf;
    s->vio.done = serve_done;
    rv->node->local_ops++;
    vol_local_submit(rv->vol, &s->vio);
}

void rvol_free_reads(struct repl_node *n)
{
    while (n->free_rread) {
        struct rread *r = n->free_rread;
        n->free_rread = r->next;
        free(r);
    }
}
