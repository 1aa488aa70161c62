/* Prune: expire manifests, mark what the rest reference, then condemn and delete dead packs in
 * the order that keeps concurrent ships safe (prune.h, condemn.h). */
#include "ship/prune.h"

#include "ship/condemn.h"
#include "ship/fetch.h"
#include "ship/manifest.h"
#include "ship/par.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A set of ids (open addressing on the first 8 bytes). */
struct idset {
    blob_id *slots;
    uint8_t *used;
    size_t cap, n;
};

static int idset_init(struct idset *s)
{
    s->cap = 1 << 14;
    s->n = 0;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    s->used = calloc(s->cap, 1);
    return s->slots && s->used ? 0 : -ENOMEM;
}

static void idset_free(struct idset *s)
{
    free(s->slots);
    free(s->used);
}

static size_t idset_slot(const struct idset *s, const uint8_t *id)
{
    uint64_t h;
    memcpy(&h, id, 8);
    size_t i = h & (s->cap - 1);
    while (s->used[i] && memcmp(s->slots[i], id, CRYPT_ID_LEN) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static bool idset_has(const struct idset *s, const uint8_t *id)
{
    return s->used[idset_slot(s, id)];
}

/* 1 added, 0 present, -ENOMEM. */
static int idset_add(struct idset *s, const uint8_t *id)
{
    size_t i = idset_slot(s, id);
    if (s->used[i])
        return 0;
    memcpy(s->slots[i], id, CRYPT_ID_LEN);
    s->used[i] = 1;
    if (++s->n * 2 > s->cap) {
        struct idset g = {calloc(s->cap * 2, sizeof(blob_id)), calloc(s->cap * 2, 1), s->cap * 2,
                          0};
        if (!g.slots || !g.used) {
            idset_free(&g);
            return -ENOMEM;
        }
        for (size_t k = 0; k < s->cap; k++)
            if (s->used[k]) {
                size_t j = idset_slot(&g, s->slots[k]);
                memcpy(g.slots[j], s->slots[k], CRYPT_ID_LEN);
                g.used[j] = 1;
                g.n++;
            }
        idset_free(s);
        *s = g;
    }
    return 1;
}

struct marking {
    struct repo *repo;
    struct index ix;
    struct idset live;
    blob_id *segs;     /* unique segment ids to read */
    uint32_t *nchunks; /* each one's chunk count */
    size_t nsegs;
    blob_id **lists; /* per worker */
    pthread_mutex_t mu;
};

static int mark_segment(size_t i, void *arg, int worker, char *err, size_t errlen)
{
    struct marking *m = arg;
    blob_id *ids = m->lists[worker];
    int rc = segment_load(m->repo, &m->ix, m->segs[i], m->nchunks[i], ids, err, errlen);
    if (rc)
        return rc; /* a manifest names a segment we cannot read: delete nothing */
    pthread_mutex_lock(&m->mu);
    for (uint32_t c = 0; c < m->nchunks[i] && rc == 0; c++)
        if (!blob_id_zero(ids[c]) && idset_add(&m->live, ids[c]) < 0)
            rc = -ENOMEM;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* Loads the index and every manifest; fills m->live with every blob a manifest needs. */
static int mark_live(struct marking *m, size_t *nmanifests, char *err, size_t errlen)
{
    int rc = index_init(&m->ix);
    if (rc == 0)
        rc = idset_init(&m->live);
    if (rc == 0)
        rc = index_load(m->repo, &m->ix, true, m->repo->parallel, err, errlen);
    struct manifest *ms = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = manifest_load_all(m->repo, NULL, &ms, &n, err, errlen);
    if (rc)
        return rc;
    *nmanifests = n;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ms[i].nseg;
    m->segs = calloc(total ? total : 1, sizeof(*m->segs));
    m->nchunks = calloc(total ? total : 1, sizeof(*m->nchunks));
    if (!m->segs || !m->nchunks)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        for (uint64_t s = 0; rc == 0 && s < ms[i].nseg; s++) {
            if (blob_id_zero(ms[i].segs[s]))
                continue;
            int added = idset_add(&m->live, ms[i].segs[s]);
            if (added < 0)
                rc = -ENOMEM;
            if (added != 1)
                continue;
            uint64_t a = s * ms[i].segment_size, b = a + ms[i].segment_size;
            if (b > ms[i].size)
                b = ms[i].size;
            memcpy(m->segs[m->nsegs], ms[i].segs[s], CRYPT_ID_LEN);
            m->nchunks[m->nsegs++] = (uint32_t)((b - a + ms[i].chunk_size - 1) / ms[i].chunk_size);
        }
    manifest_free_all(ms, n);
    int threads = m->repo->parallel;
    m->lists = calloc((size_t)threads, sizeof(*m->lists));
    for (int t = 0; rc == 0 && m->lists && t < threads; t++)
        if (!(m->lists[t] = calloc(m->repo->segment_size / m->repo->chunk_size, CRYPT_ID_LEN)))
            rc = -ENOMEM;
    if (rc == 0 && !m->lists)
        rc = -ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    if (rc == 0)
        rc = par_run(m->nsegs, threads, mark_segment, m, err, errlen);
    pthread_mutex_destroy(&m->mu);
    for (int t = 0; m->lists && t < threads; t++)
        free(m->lists[t]);
    free(m->lists);
    m->lists = NULL;
    return rc;
}

static void marking_free(struct marking *m)
{
    if (m->ix.slots)
        index_free(&m->ix);
    if (m->live.slots)
        idset_free(&m->live);
    free(m->segs);
    free(m->nchunks);
    memset(m, 0, sizeof(*m));
}

/* Liveness per pack, over every stored copy of every blob. A live blob in a condemned pack does
 * not keep that pack when a copy of it is in a pack that is not condemned (a ship that refused
 * the condemned pack stored it again there), so the condemned copy can go. */
struct tally {
    struct idset *live, covered;
    const uint8_t *condemned; /* by pack number */
    const struct pack_rec *packs;
    uint64_t *live_blobs, *dead_bytes;
    int rc;
};

static void note_cover(const struct blob_loc *b, void *arg)
{
    struct tally *t = arg;
    if (!t->condemned[b->pack] && (t->packs[b->pack].flags & PACK_LISTED) &&
        idset_has(t->live, b->id) && idset_add(&t->covered, b->id) < 0)
        t->rc = -ENOMEM;
}

static void count_blob(const struct blob_loc *b, void *arg)
{
    struct tally *t = arg;
    bool live = idset_has(t->live, b->id);
    if (live && t->condemned[b->pack] && idset_has(&t->covered, b->id))
        live = false;
    if (live)
        t->live_blobs[b->pack]++;
    else
        t->dead_bytes[b->pack] += b->slen;
}

/* ---- rewriting mostly-dead packs ---- */

#define REWRITE_PACK_TARGET (32u << 20)

struct gather {
    struct idset *live, taken;
    const uint8_t *rewrite; /* by pack number */
    struct blob_loc *locs;
    size_t n, cap;
    int rc;
};

static void gather_live(const struct blob_loc *b, void *arg)
{
    struct gather *g = arg;
    if (g->rc || !g->rewrite[b->pack] || !idset_has(g->live, b->id))
        return;
    int added = idset_add(&g->taken, b->id);
    if (added <= 0) {
        g->rc = added;
        return;
    }
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 1024;
        struct blob_loc *nl = realloc(g->locs, cap * sizeof(*nl));
        if (!nl) {
            g->rc = -ENOMEM;
            return;
        }
        g->locs = nl;
        g->cap = cap;
    }
    g->locs[g->n++] = *b;
}

static int by_pack_then_off(const void *x, const void *y)
{
    const struct blob_loc *a = x, *b = y;
    if (a->pack != b->pack)
        return a->pack < b->pack ? -1 : 1;
    return a->off < b->off ? -1 : a->off > b->off;
}

static int flush_pack(struct repo *r, struct index *ix, struct pack_builder *pb, char *err,
                      size_t errlen)
{
    char key[64];
    pack_key(pb->id, key, sizeof(key));
    int rc = pack_finish(pb, r) ? -ENOMEM : backend_put(r->be, key, pb->buf, pb->len, err, errlen);
    if (rc == 0)
        index_pack_flags(ix, pb->pack_no, PACK_NEW | PACK_LISTED, 0);
    if (rc == 0 && (rc = pack_reset(pb)) == 0) {
        pb->pack_no = index_pack(ix, pb->id);
        if (pb->pack_no == UINT32_MAX)
            rc = -ENOMEM;
    }
    return rc;
}

/* Copies the live blobs of the packs marked in rewrite into new packs (uploaded and known to
 * the index as further copies), then puts the old packs on the condemned list. */
static int rewrite_packs(struct repo *r, struct marking *m, const uint8_t *rewrite,
                         struct condemned *next, struct prune_result *res, int64_t now, char *err,
                         size_t errlen)
{
    struct gather g = {.live = &m->live, .rewrite = rewrite};
    int rc = idset_init(&g.taken);
    if (rc == 0) {
        index_each(&m->ix, gather_live, &g);
        rc = g.rc;
    }
    idset_free(&g.taken);
    struct pack_builder pb = {0};
    size_t max_blob = segment_list_len((uint32_t)(r->segment_size / r->chunk_size));
    if (max_blob < r->chunk_size)
        max_blob = r->chunk_size; /* the largest plaintext blob: a chunk or a segment list */
    if (rc == 0 && g.n)
        rc = pack_builder_init(&pb, r, REWRITE_PACK_TARGET, max_blob);
    if (rc == 0 && g.n && (pb.pack_no = index_pack(&m->ix, pb.id)) == UINT32_MAX)
        rc = -ENOMEM;
    qsort(g.locs, g.n, sizeof(*g.locs), by_pack_then_off);
    uint8_t *src = NULL;
    size_t srclen = 0;
    uint32_t src_pack = UINT32_MAX;
    for (size_t i = 0; rc == 0 && i < g.n; i++) {
        struct blob_loc *b = &g.locs[i];
        if (b->pack != src_pack) {
            free(src);
            src = NULL;
            src_pack = b->pack;
            struct pack_rec pk = index_pack_get(&m->ix, b->pack);
            char key[64];
            pack_key(pk.id, key, sizeof(key));
            rc = backend_get(r->be, key, 0, 0, &src, &srclen, err, errlen);
            if (rc == 0 && condemned_add(next, pk.id, now) == 0) {
                res->packs_rewritten++;
                res->bytes_rewritten += srclen;
            }
        }
        if (rc == 0 && ((uint64_t)b->off + b->slen > srclen ||
                        b->slen > crypt_sealed_bound(&r->crypt, max_blob))) {
            snprintf(err, errlen, "a blob of pack %s (%u+%u, type %u) lies outside its %zu bytes",
                     index_pack_get(&m->ix, b->pack).id, b->off, b->slen, b->type, srclen);
            rc = -EBADMSG;
        }
        if (rc)
            break;
        struct blob_loc copy = *b;
        copy.pack = pb.pack_no;
        copy.off = (uint32_t)pb.len;
        memcpy(pack_tail(&pb), src + b->off, b->slen); /* sealed bytes move as they are */
        rc = pack_commit(&pb, b->type, b->id, b->slen, b->rlen);
        if (rc == 0)
            rc = index_add_copy(&m->ix, &copy);
        if (rc == 0 && pack_full(&pb))
            rc = flush_pack(r, &m->ix, &pb, err, errlen);
    }
    if (rc == 0 && pb.buf && pb.nents)
        rc = flush_pack(r, &m->ix, &pb, err, errlen);
    free(src);
    free(g.locs);
    pack_builder_free(&pb);
    return rc;
}

static int expire_manifests(struct repo *r, const struct prune_params *p, struct prune_result *res,
                            char *err, size_t errlen)
{
    struct manifest *ms = NULL;
    size_t n = 0;
    int rc = manifest_load_all(r, p->volume, &ms, &n, err, errlen);
    if (rc)
        return rc;
    size_t drop = n > p->keep_last ? n - p->keep_last : 0;
    char **keys = calloc(drop ? drop : 1, sizeof(*keys));
    for (size_t i = 0; keys && i < drop; i++) { /* sorted by seq: the oldest first */
        keys[i] = malloc(512);
        if (keys[i])
            manifest_key(ms[i].volume, ms[i].snapshot, keys[i], 512);
        else
            rc = -ENOMEM;
    }
    if (!keys)
        rc = -ENOMEM;
    if (rc == 0)
        rc = backend_delete(r->be, (const char *const *)keys, drop, err, errlen);
    if (rc == 0) {
        res->manifests_deleted = drop;
        res->manifests_kept = n - drop;
    }
    for (size_t i = 0; keys && i < drop; i++)
        free(keys[i]);
    free(keys);
    manifest_free_all(ms, n);
    return rc;
}

struct survivors {
    uint8_t *deleted; /* by pack number */
};

static bool survives(const struct pack_rec *p, void *arg)
{
    (void)arg;
    return (p->flags & PACK_LISTED) && !(p->flags & PACK_EXCLUDED);
}

/* One pass: mark, condemn the newly dead, delete the ones condemned long enough. *fresh: how
 * many were condemned in this pass. */
static int pass(struct repo *r, const struct prune_params *p, struct prune_result *res,
                size_t *fresh, char *err, size_t errlen)
{
    struct marking m = {.repo = r};
    size_t nman = 0;
    int rc = mark_live(&m, &nman, err, errlen);
    struct condemned cd = {0};
    if (rc == 0)
        rc = condemned_load(r, &cd, err, errlen);
    size_t np = m.ix.npacks;
    uint64_t *live_blobs = calloc(np ? np : 1, sizeof(uint64_t));
    uint64_t *dead_bytes = calloc(np ? np : 1, sizeof(uint64_t));
    char **doomed = calloc(np ? np : 1, sizeof(char *));
    size_t ndoomed = 0;
    if (rc == 0 && (!live_blobs || !dead_bytes || !doomed))
        rc = -ENOMEM;
    uint8_t *cpack = calloc(np ? np : 1, 1);
    if (rc == 0 && !cpack)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < cd.n; i++) {
        uint32_t no = index_pack_lookup(&m.ix, cd.ids[i]);
        if (no != UINT32_MAX && no < np)
            cpack[no] = 1;
    }
    if (rc == 0) {
        struct tally t = {.live = &m.live,
                          .condemned = cpack,
                          .packs = m.ix.packs,
                          .live_blobs = live_blobs,
                          .dead_bytes = dead_bytes};
        rc = idset_init(&t.covered);
        if (rc == 0) {
            index_each(&m.ix, note_cover, &t);
            rc = t.rc;
        }
        if (rc == 0)
            index_each(&m.ix, count_blob, &t);
        idset_free(&t.covered);
    }
    free(cpack);
    int64_t now = (int64_t)time(NULL);
    struct condemned next = {0};
    uint8_t *rewrite = calloc(np ? np : 1, 1);
    size_t nrewrite = 0;
    if (rc == 0 && !rewrite)
        rc = -ENOMEM;
    *fresh = 0;
    memset(&res->packs_total, 0,
           offsetof(struct prune_result, indexes_replaced) -
               offsetof(struct prune_result, packs_total));
    size_t unindexed = 0;
    for (size_t i = 0; rc == 0 && i < np; i++) {
        struct pack_rec pk = index_pack_get(&m.ix, (uint32_t)i);
        if (!(pk.flags & PACK_LISTED))
            continue; /* named by an index, gone from the store */
        unindexed += (pk.flags & PACK_RECOVERED) != 0;
        res->packs_total++;
        long at = condemned_find(&cd, pk.id);
        if (live_blobs[i]) {
            res->packs_live++;
            if (dead_bytes[i]) {
                res->packs_partly_dead++;
                res->bytes_dead_in_live_packs += dead_bytes[i];
                if (dead_bytes[i] * 2 >= pk.size && pk.mtime <= now - p->grace_s && at < 0) {
                    rewrite[i] = 1;
                    nrewrite++;
                }
            }
            continue; /* (and off the condemned list, if it was on it) */
        }
        if (pk.mtime > now - p->grace_s) {
            res->packs_young++;
            if (at >= 0)
                rc = condemned_add(&next, pk.id, cd.since[at]);
            continue;
        }
        if (at >= 0 && cd.since[at] <= now - p->settle_s) {
            char key[64];
            pack_key(pk.id, key, sizeof(key));
            if (!(doomed[ndoomed] = strdup(key)))
                rc = -ENOMEM;
            ndoomed++;
            res->bytes_freed += pk.size;
            index_pack_flags(&m.ix, (uint32_t)i, PACK_EXCLUDED, 0);
            continue;
        }
        rc = condemned_add(&next, pk.id, at >= 0 ? cd.since[at] : now);
        res->packs_condemned++;
        if (at < 0)
            ++*fresh;
    }
    if (rc == 0 && nrewrite)
        rc = rewrite_packs(r, &m, rewrite, &next, res, now, err, errlen);
    if (rc == 0 && res->packs_rewritten)
        ++*fresh; /* the rewritten packs go once their copies are known */
    free(rewrite);
    /* The doomed stay on the list until they are gone, so a ship that loaded an old index
     * still refuses them. */
    for (size_t i = 0; rc == 0 && i < ndoomed; i++)
        rc = condemned_add(&next, doomed[i] + strlen("packs/"), now - p->settle_s);
    if (rc == 0)
        rc = condemned_save(r, &next, err, errlen);
    if (rc == 0)
        rc = backend_delete(r->be, (const char *const *)doomed, ndoomed, err, errlen);
    if (rc == 0)
        res->packs_deleted += ndoomed;
    /* One index for every surviving pack replaces the ones read. */
    /* (One-pack ships write no index: their packs are folded in here.) */
    if (rc == 0 && (ndoomed || res->packs_rewritten || unindexed || m.ix.nindex_keys > 1)) {
        char key[64];
        size_t written = 0;
        rc = index_write(r, &m.ix, survives, NULL, key, &written, err, errlen);
        if (rc == 0)
            rc = backend_delete(r->be, (const char *const *)m.ix.index_keys, m.ix.nindex_keys, err,
                                errlen);
        if (rc == 0)
            res->indexes_replaced += m.ix.nindex_keys;
    }
    if (rc == 0 && ndoomed) { /* gone now: off the list */
        struct condemned rest = {0};
        for (size_t i = 0; rc == 0 && i < next.n; i++) {
            bool gone = false;
            for (size_t k = 0; k < ndoomed && !gone; k++)
                gone = strcmp(doomed[k] + strlen("packs/"), next.ids[i]) == 0;
            if (!gone)
                rc = condemned_add(&rest, next.ids[i], next.since[i]);
        }
        if (rc == 0)
            rc = condemned_save(r, &rest, err, errlen);
        condemned_free(&rest);
    }
    for (size_t i = 0; doomed && i < ndoomed; i++)
        free(doomed[i]);
    free(doomed);
    free(live_blobs);
    free(dead_bytes);
    condemned_free(&cd);
    condemned_free(&next);
    marking_free(&m);
    return rc;
}

int prune_run(const struct prune_params *p, struct prune_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    if (!p->volume || !repo_name_ok(p->volume) || p->keep_last < 1) {
        snprintf(err, errlen, "prune: a volume name and --keep-last N (N >= 1) are required");
        return -EINVAL;
    }
    struct repo r;
    int rc = repo_open(&r, p->url, &p->store, false, err, errlen);
    if (rc)
        return rc;
    rc = expire_manifests(&r, p, res, err, errlen);
    size_t fresh = 0;
    if (rc == 0)
        rc = pass(&r, p, res, &fresh, err, errlen);
    if (rc == 0 && fresh && p->wait) {
        size_t deleted = res->packs_deleted, replaced = res->indexes_replaced;
        size_t rewritten = res->packs_rewritten;
        uint64_t freed = res->bytes_freed, rewritten_bytes = res->bytes_rewritten;
        sleep((unsigned)(p->settle_s > 0 ? p->settle_s : 0));
        rc = pass(&r, p, res, &fresh, err, errlen);
        res->packs_deleted += deleted;
        res->indexes_replaced += replaced;
        res->bytes_freed += freed;
        res->packs_rewritten += rewritten;
        res->bytes_rewritten += rewritten_bytes;
    }
    repo_close(&r);
    return rc;
}
