/* ship_run: one snapshot image into a backup store.
 *
 * Pipeline: W compute workers take whole segments (64 MiB) from one counter. For a segment the
 * base snapshot has and changed_since() says is untouched, the base's segment id is reused and
 * nothing is read. Otherwise the worker reads the changed chunks (runs of up to 1 MiB), skips
 * zero chunks (holes), hashes each into its id, and seals the ones the index does not know into
 * its own scratch buffer; under the pack lock the sealed blob is copied into the one pack being
 * filled (so a ship ends with one partial pack, not one per worker). Unchanged chunks of a
 * changed segment keep the base's ids (its chunk list is fetched: one small GET). A full pack
 * goes to U upload threads (multipart above 16 MiB, through the S3 client's retries); at most
 * W + U + 1 packs are in memory, so reading waits for the network rather than filling RAM.
 *
 * Then, in this order: the index of the packs this ship wrote (and of packs an interrupted
 * earlier ship left without one; none for a ship of a single pack), a check that nothing this ship
 * relies on was condemned or removed by a concurrent prune (else the ship is redone without those
 * packs), the manifest. A crash or cancel before the manifest leaves packs (and maybe an index)
 * that the next run finds and reuses. */
#include "ship/ship.h"

#include "ship/condemn.h"
#include "ship/fetch.h"
#include "ship/manifest.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READ_RUN    (1u << 20) /* bytes per image->read */
#define PACK_TARGET (32u << 20)
#define MAX_TRIES   3

struct ship {
    const struct ship_params *p;
    const struct ship_image *img;
    struct ship_progress *prog;
    const atomic_bool *cancel;
    struct repo *repo;
    struct index ix;
    struct manifest base;
    bool have_base;
    struct ship_regions changed; /* valid when incremental */
    bool incremental;
    struct manifest out;
    uint32_t cpseg; /* chunks per segment */
    atomic_uint_fast64_t next_seg;
    atomic_uint_fast64_t segs_done; /* a manifest is written only when this is out.nseg */

    /* packs: one being filled, a queue of full ones, a free list */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pack_builder *cur;
    struct pack_builder **queue, **free_list;
    size_t nqueue, nfree, npacks;
    bool closing;

    atomic_bool failed;
    int rc;
    char err[1024];
};

static void fail(struct ship *s, int rc, const char *msg)
{
    pthread_mutex_lock(&s->mu);
    if (!s->rc) {
        s->rc = rc;
        snprintf(s->err, sizeof(s->err), "%s", msg);
    }
    atomic_store(&s->failed, true);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static bool stopped(struct ship *s)
{
    if (s->cancel && atomic_load(s->cancel)) {
        fail(s, -ECANCELED, "the ship was cancelled");
        return true;
    }
    return atomic_load(&s->failed);
}

/* ---- packs ---- */

static int start_pack(struct ship *s, struct pack_builder *pb)
{
    if (pack_reset(pb) != 0)
        return -EIO;
    pb->pack_no = index_pack(&s->ix, pb->id);
    return pb->pack_no == UINT32_MAX ? -ENOMEM : 0;
}

/* Under s->mu: queues the current pack and takes a free one (waiting for an upload to finish). */
static int rotate_locked(struct ship *s)
{
    s->queue[s->nqueue++] = s->cur;
    s->cur = NULL;
    pthread_cond_broadcast(&s->cv);
    while (!s->nfree && !atomic_load(&s->failed))
        pthread_cond_wait(&s->cv, &s->mu);
    if (atomic_load(&s->failed))
        return -ECANCELED;
    s->cur = s->free_list[--s->nfree];
    int rc = start_pack(s, s->cur);
    pthread_cond_broadcast(&s->cv); /* workers waiting in store_blob for a current pack */
    return rc;
}

/* Stores a sealed blob unless another worker stored the same id first. 1 stored, 0 already
 * there, <0 error. */
static int store_blob(struct ship *s, uint8_t type, const uint8_t *id, const uint8_t *sealed,
                      size_t slen, size_t rlen)
{
    pthread_mutex_lock(&s->mu);
    while (!s->cur && !atomic_load(&s->failed)) /* another worker is rotating packs */
        pthread_cond_wait(&s->cv, &s->mu);
    if (!s->cur) {
        pthread_mutex_unlock(&s->mu);
        return -ECANCELED;
    }
    struct blob_loc loc = {.pack = s->cur->pack_no,
                           .off = (uint32_t)s->cur->len,
                           .slen = (uint32_t)slen,
                           .rlen = (uint32_t)rlen,
                           .type = type};
    memcpy(loc.id, id, CRYPT_ID_LEN);
    int rc = index_add(&s->ix, &loc);
    if (rc == 0) {
        memcpy(pack_tail(s->cur), sealed, slen);
        rc = pack_commit(s->cur, type, id, slen, rlen);
        if (rc == 0 && pack_full(s->cur))
            rc = rotate_locked(s);
        rc = rc ? rc : 1;
    } else if (rc == 1) {
        rc = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

struct uploader {
    struct ship *s;
    pthread_t th;
};

static void *upload_main(void *a)
{
    struct ship *s = ((struct uploader *)a)->s;
    char err[1024];
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->nqueue && !s->closing && !atomic_load(&s->failed))
            pthread_cond_wait(&s->cv, &s->mu);
        if (atomic_load(&s->failed) || !s->nqueue)
            break;
        struct pack_builder *pb = s->queue[0];
        memmove(s->queue, s->queue + 1, --s->nqueue * sizeof(*s->queue));
        pthread_mutex_unlock(&s->mu);
        int rc = -ECANCELED;
        char key[64];
        pack_key(pb->id, key, sizeof(key));
        err[0] = '\0';
        if (!stopped(s)) {
            rc = pack_finish(pb, s->repo) ? -ENOMEM : 0;
            if (rc == 0)
                rc = backend_put(s->repo->be, key, pb->buf, pb->len, err, sizeof(err));
        }
        if (rc == 0) {
            atomic_fetch_add(&s->prog->bytes_uploaded, pb->len);
            atomic_fetch_add(&s->prog->objects_written, 1);
            index_pack_flags(&s->ix, pb->pack_no, PACK_NEW | PACK_LISTED, 0);
        } else if (rc != -ECANCELED) {
            fail(s, rc, err);
        }
        pthread_mutex_lock(&s->mu);
        s->free_list[s->nfree++] = pb;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- workers ---- */

struct worker {
    struct ship *s;
    pthread_t th;
    uint8_t *rbuf;   /* READ_RUN, 4096-aligned */
    uint8_t *sealed; /* one sealed chunk or segment list */
    size_t sealed_cap;
    blob_id *ids, *base_ids;
    uint8_t *seglist;
};

static bool chunk_changed(const struct ship *s, uint64_t off)
{
    if (!s->incremental || off >= s->base.size)
        return true;
    uint64_t bit = off / s->changed.gran;
    if (bit >= s->changed.n)
        return true;
    return s->changed.bits[bit / 8] >> (bit % 8) & 1;
}

static bool segment_changed(const struct ship *s, uint64_t seg)
{
    if (!s->incremental || seg >= s->base.nseg)
        return true;
    uint64_t a = seg * s->repo->segment_size, b = a + s->repo->segment_size;
    if (b > s->out.size)
        b = s->out.size;
    if (b > s->base.size || (b < a + s->repo->segment_size && b != s->base.size))
        return true; /* the segment's length differs from the base's */
    for (uint64_t off = a; off < b; off += s->repo->chunk_size)
        if (chunk_changed(s, off))
            return true;
    return false;
}

/* Hashes, dedups and stores one chunk read into data; its id into id (zero for a hole). */
static int put_chunk(struct worker *w, const uint8_t *data, size_t len, uint8_t *id)
{
    struct ship *s = w->s;
    if (crypt_all_zero(data, len)) {
        memset(id, 0, CRYPT_ID_LEN);
        return 0;
    }
    crypt_id(&s->repo->crypt, data, len, id);
    if (index_find(&s->ix, id, true, NULL) == 0) {
        atomic_fetch_add(&s->prog->chunks_reused, 1);
        return 0;
    }
    size_t slen = crypt_seal(&s->repo->crypt, id, data, len, true, w->sealed);
    if (!slen)
        return -EIO;
    int rc = store_blob(s, BLOB_CHUNK, id, w->sealed, slen, len);
    if (rc < 0)
        return rc;
    atomic_fetch_add(rc ? &s->prog->chunks_new : &s->prog->chunks_reused, 1);
    return 0;
}

static int do_segment(struct worker *w, uint64_t seg, char *err, size_t errlen)
{
    struct ship *s = w->s;
    const uint32_t cs = s->repo->chunk_size;
    uint64_t a = seg * s->repo->segment_size, b = a + s->repo->segment_size;
    if (b > s->out.size)
        b = s->out.size;
    uint32_t nch = (uint32_t)((b - a + cs - 1) / cs);
    if (!segment_changed(s, seg)) {
        memcpy(s->out.segs[seg], s->base.segs[seg], CRYPT_ID_LEN);
        return 0;
    }
    bool have_base_list = false;
    if (s->incremental && seg < s->base.nseg && b <= s->base.size) {
        int rc = segment_load(s->repo, &s->ix, s->base.segs[seg], nch, w->base_ids, err, errlen);
        if (rc == 0)
            have_base_list = true;
        else if (rc != -ENOENT) /* a base list in an excluded pack: read the segment whole */
            return rc;
    }
    for (uint32_t c = 0; c < nch;) {
        uint64_t off = a + (uint64_t)c * cs;
        if (have_base_list && !chunk_changed(s, off)) {
            memcpy(w->ids[c], w->base_ids[c], CRYPT_ID_LEN);
            c++;
            continue;
        }
        uint32_t run = 1; /* changed chunks read together */
        while (c + run < nch && (uint64_t)(run + 1) * cs <= READ_RUN &&
               (!have_base_list || chunk_changed(s, off + (uint64_t)run * cs)))
            run++;
        uint64_t len = (uint64_t)run * cs;
        if (off + len > b)
            len = b - off;
        if (stopped(s))
            return -ECANCELED;
        int rc = s->img->read(s->img->ctx, off, w->rbuf, len);
        if (rc) {
            snprintf(err, errlen, "reading the snapshot at %llu (+%llu): %s",
                     (unsigned long long)off, (unsigned long long)len, strerror(-rc));
            return rc;
        }
        atomic_fetch_add(&s->prog->bytes_read, len);
        for (uint32_t k = 0; k < run; k++) {
            uint64_t cl = len - (uint64_t)k * cs < cs ? len - (uint64_t)k * cs : cs;
            rc = put_chunk(w, w->rbuf + (size_t)k * cs, cl, w->ids[c + k]);
            if (rc) {
                snprintf(err, errlen, "storing a chunk: %s", strerror(-rc));
                return rc;
            }
        }
        c += run;
    }
    bool holes = true;
    for (uint32_t c = 0; c < nch && holes; c++)
        holes = blob_id_zero(w->ids[c]);
    if (holes) {
        memset(s->out.segs[seg], 0, CRYPT_ID_LEN);
        return 0;
    }
    size_t plen = segment_list_len(nch);
    segment_encode(cs, nch, w->ids, w->seglist);
    uint8_t *id = s->out.segs[seg];
    crypt_id(&s->repo->crypt, w->seglist, plen, id);
    if (index_find(&s->ix, id, true, NULL) == 0)
        return 0;
    size_t slen = crypt_seal(&s->repo->crypt, id, w->seglist, plen, true, w->sealed);
    int rc = slen ? store_blob(s, BLOB_SEGMENT, id, w->sealed, slen, plen) : -EIO;
    if (rc < 0) {
        snprintf(err, errlen, "storing a segment list: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

static void *work_main(void *a)
{
    struct worker *w = a;
    struct ship *s = w->s;
    char err[1024];
    uint64_t nseg = s->out.nseg;
    while (!stopped(s)) {
        uint64_t seg = atomic_fetch_add(&s->next_seg, 1);
        if (seg >= nseg)
            break;
        err[0] = '\0';
        int rc = do_segment(w, seg, err, sizeof(err));
        if (rc == 0)
            atomic_fetch_add(&s->segs_done, 1);
        if (rc) {
            /* -ECANCELED means cancel or another thread's failure, already recorded; anything
             * else is recorded here, so no segment is ever left out silently. */
            if (rc != -ECANCELED || !atomic_load(&s->failed))
                fail(s, rc, rc == -ECANCELED ? "a worker stopped unexpectedly" : err);
            break;
        }
    }
    return NULL;
}

static void worker_free(struct worker *w)
{
    free(w->rbuf);
    free(w->sealed);
    free(w->ids);
    free(w->base_ids);
    free(w->seglist);
}

static int worker_init(struct worker *w, struct ship *s)
{
    memset(w, 0, sizeof(*w));
    w->s = s;
    size_t plen = segment_list_len(s->cpseg);
    w->sealed_cap = crypt_sealed_bound(&s->repo->crypt, plen > READ_RUN ? plen : READ_RUN);
    w->sealed = malloc(w->sealed_cap);
    w->ids = calloc(s->cpseg, CRYPT_ID_LEN);
    w->base_ids = calloc(s->cpseg, CRYPT_ID_LEN);
    w->seglist = malloc(plen);
    if (posix_memalign((void **)&w->rbuf, 4096, READ_RUN) != 0)
        w->rbuf = NULL;
    if (!w->sealed || !w->ids || !w->base_ids || !w->seglist || !w->rbuf) {
        worker_free(w);
        return -ENOMEM;
    }
    return 0;
}

/* ---- the whole ship ---- */

static int pick_base(struct ship *s, char *err, size_t errlen)
{
    struct manifest *ms = NULL;
    size_t n = 0;
    int rc = manifest_load_all(s->repo, s->p->volume, &ms, &n, err, errlen);
    if (rc)
        return rc;
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ms[i].snapshot, s->p->snapshot) == 0) {
            bool same = ms[i].seq == s->p->seq && strcmp(ms[i].volume_uuid, s->p->volume_uuid) == 0;
            manifest_free_all(ms, n);
            if (same)
                return 1; /* shipped already (a re-run after the manifest landed) */
            snprintf(err, errlen, "the store already has a different snapshot %s of volume %s",
                     s->p->snapshot, s->p->volume);
            return -EEXIST;
        }
        if (strcmp(ms[i].volume_uuid, s->p->volume_uuid) == 0 && ms[i].seq < s->p->seq &&
            ms[i].chunk_size == s->repo->chunk_size && ms[i].segment_size == s->repo->segment_size)
            best = (long)i; /* sorted by seq: the last one is the newest */
    }
    if (best >= 0) {
        s->base = ms[best];
        s->have_base = true;
        ms[best].segs = NULL;
    }
    manifest_free_all(ms, n);
    return 0;
}

static bool want_in_index(const struct pack_rec *p, void *arg)
{
    (void)arg;
    return ((p->flags & PACK_NEW) && (p->flags & PACK_LISTED)) || (p->flags & PACK_RECOVERED);
}

struct listed {
    struct index *ix;
    uint8_t *seen; /* by pack number */
    size_t n;
};

static int mark_listed(const struct backend_obj *o, void *arg)
{
    struct listed *l = arg;
    const char *id = o->key + strlen("packs/");
    uint32_t no = strlen(id) == PACK_ID_HEX ? index_pack_lookup(l->ix, id) : UINT32_MAX;
    if (no != UINT32_MAX && no < l->n) /* a pack we do not know is not one we rely on */
        l->seen[no] = 1;
    return 0;
}

/* Before the manifest: every pack this ship relies on still exists and is not condemned, and
 * the base manifest (which keeps the reused segments referenced) is still there. 0, or -EAGAIN
 * when the ship must be redone without the packs now excluded. */
static int check_relied(struct ship *s, char *err, size_t errlen)
{
    struct condemned cd;
    int rc = condemned_load(s->repo, &cd, err, errlen);
    if (rc)
        return rc;
    size_t np = s->ix.npacks;
    struct listed l = {&s->ix, calloc(np ? np : 1, 1), np};
    if (!l.seen) {
        condemned_free(&cd);
        return -ENOMEM;
    }
    rc = backend_list(s->repo->be, "packs/", mark_listed, &l, err, errlen);
    int bad = 0;
    char what[128] = "";
    for (size_t i = 0; rc == 0 && i < np; i++) {
        struct pack_rec p = index_pack_get(&s->ix, (uint32_t)i);
        if (!(p.flags & (PACK_RELIED | PACK_NEW)) || (p.flags & PACK_EXCLUDED))
            continue;
        if (!l.seen[i] || condemned_find(&cd, p.id) >= 0) {
            if (!bad++)
                snprintf(what, sizeof(what), "pack %s %s", p.id,
                         l.seen[i] ? "was condemned" : "is gone");
        }
    }
    free(l.seen);
    condemned_free(&cd);
    if (rc == 0 && s->have_base) {
        struct manifest again;
        rc = manifest_load(s->repo, s->p->volume, s->base.snapshot, &again, err, errlen);
        if (rc == 0)
            manifest_free(&again);
        else if (rc == -ENOENT) {
            if (!bad++)
                snprintf(what, sizeof(what), "base snapshot %s is gone", s->base.snapshot);
            rc = 0;
        }
    }
    if (rc == 0 && bad) {
        snprintf(err, errlen,
                 "a concurrent prune removed or condemned what this ship relied on "
                 "(%s, %d in all)",
                 what, bad);
        return -EAGAIN;
    }
    return rc;
}

static int exclude_condemned(struct ship *s, char *err, size_t errlen)
{
    struct condemned cd;
    int rc = condemned_load(s->repo, &cd, err, errlen);
    if (rc)
        return rc;
    for (size_t i = 0; i < cd.n; i++)
        index_pack_flags(&s->ix, index_pack(&s->ix, cd.ids[i]), PACK_EXCLUDED, 0);
    condemned_free(&cd);
    index_promote_dups(&s->ix);
    return 0;
}

static int run_pipeline(struct ship *s, int nworkers, int nup)
{
    size_t npool = (size_t)(nworkers + nup + 1);
    struct pack_builder *pool = calloc(npool, sizeof(*pool));
    struct worker *ws = calloc((size_t)nworkers, sizeof(*ws));
    struct uploader *us = calloc((size_t)nup, sizeof(*us));
    s->queue = calloc(npool, sizeof(*s->queue));
    s->free_list = calloc(npool, sizeof(*s->free_list));
    int rc = pool && ws && us && s->queue && s->free_list ? 0 : -ENOMEM;
    size_t max_blob = segment_list_len(s->cpseg);
    if (max_blob < s->repo->chunk_size)
        max_blob = s->repo->chunk_size;
    for (size_t i = 0; rc == 0 && i < npool; i++) {
        rc = pack_builder_init(&pool[i], s->repo, PACK_TARGET, max_blob);
        if (rc == 0)
            s->free_list[s->nfree++] = &pool[i];
    }
    if (rc == 0) {
        s->cur = s->free_list[--s->nfree];
        rc = start_pack(s, s->cur);
    }
    int nw = 0, nu = 0;
    for (; rc == 0 && nw < nworkers; nw++)
        if ((rc = worker_init(&ws[nw], s)) == 0 &&
            pthread_create(&ws[nw].th, NULL, work_main, &ws[nw]) != 0) {
            worker_free(&ws[nw]);
            rc = -EAGAIN;
        }
    if (rc)
        nw = nw > 0 ? nw - 1 : 0;
    for (; rc == 0 && nu < nup; nu++) {
        us[nu].s = s;
        if (pthread_create(&us[nu].th, NULL, upload_main, &us[nu]) != 0)
            rc = -EAGAIN;
    }
    if (rc)
        fail(s, rc, "out of memory or threads starting the ship");
    for (int i = 0; i < nw; i++) {
        pthread_join(ws[i].th, NULL);
        worker_free(&ws[i]);
    }
    pthread_mutex_lock(&s->mu);
    if (s->cur && s->cur->nents)
        s->queue[s->nqueue++] = s->cur;
    s->cur = NULL;
    s->closing = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < nu; i++)
        pthread_join(us[i].th, NULL);
    for (size_t i = 0; pool && i < npool; i++)
        pack_builder_free(&pool[i]);
    free(pool);
    free(ws);
    free(us);
    free(s->queue);
    free(s->free_list);
    s->queue = s->free_list = NULL;
    s->nqueue = s->nfree = 0;
    s->closing = false;
    return s->rc;
}

static uint64_t bytes_to_read(const struct ship *s)
{
    uint64_t total = 0;
    for (uint64_t seg = 0; seg < s->out.nseg; seg++) {
        uint64_t a = seg * s->repo->segment_size, b = a + s->repo->segment_size;
        if (b > s->out.size)
            b = s->out.size;
        if (!segment_changed(s, seg))
            continue;
        for (uint64_t off = a; off < b; off += s->repo->chunk_size)
            if (!s->incremental || chunk_changed(s, off))
                total += b - off < s->repo->chunk_size ? b - off : s->repo->chunk_size;
    }
    return total;
}

static int ship_once(struct ship *s, char *err, size_t errlen)
{
    int rc = index_init(&s->ix);
    if (rc == 0)
        rc = index_load(s->repo, &s->ix, true, s->repo->parallel, err, errlen);
    if (rc == 0)
        rc = exclude_condemned(s, err, errlen);
    if (rc)
        return rc;
    s->out.nseg = (s->out.size + s->repo->segment_size - 1) / s->repo->segment_size;
    s->out.segs = calloc(s->out.nseg ? s->out.nseg : 1, CRYPT_ID_LEN);
    if (!s->out.segs)
        return -ENOMEM;
    atomic_store(&s->prog->bytes_total, bytes_to_read(s));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nworkers = cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
    int nup = (s->repo->parallel + 3) / 4;
    atomic_store(&s->next_seg, 0);
    rc = run_pipeline(s, nworkers, nup < 1 ? 1 : nup);
    if (rc) {
        snprintf(err, errlen, "%s", s->err);
        return rc;
    }
    if (atomic_load(&s->segs_done) != s->out.nseg) {
        snprintf(err, errlen, "internal error: %llu of %llu segments shipped",
                 (unsigned long long)atomic_load(&s->segs_done), (unsigned long long)s->out.nseg);
        return -EIO;
    }
    /* A ship that wrote one pack and found no unindexed ones writes no index: the pack's
     * trailer describes it (every reader recovers unindexed packs, and prune folds them into
     * its index), so a small incremental costs two objects, its pack and its manifest. */
    char key[64];
    size_t written = 0, nnew = 0, nrecovered = 0;
    for (size_t i = 0; i < s->ix.npacks; i++) {
        unsigned f = index_pack_get(&s->ix, (uint32_t)i).flags;
        nnew += (f & PACK_NEW) && (f & PACK_LISTED);
        nrecovered += (f & PACK_RECOVERED) != 0;
    }
    if (nnew + nrecovered > 1)
        rc = index_write(s->repo, &s->ix, want_in_index, NULL, key, &written, err, errlen);
    if (rc)
        return rc;
    if (written) {
        atomic_fetch_add(&s->prog->objects_written, 1);
        atomic_fetch_add(&s->prog->bytes_uploaded, written);
    }
    if (s->cancel && atomic_load(s->cancel)) {
        snprintf(err, errlen, "the ship was cancelled");
        return -ECANCELED;
    }
    rc = check_relied(s, err, errlen);
    if (rc)
        return rc;
    image_tree_hash(s->out.size, s->repo->chunk_size, s->repo->segment_size, s->out.segs,
                    s->out.nseg, s->out.image_hash);
    s->out.shipped = time(NULL);
    s->out.stat_bytes_read = atomic_load(&s->prog->bytes_read);
    s->out.stat_bytes_uploaded = atomic_load(&s->prog->bytes_uploaded);
    s->out.stat_chunks_new = atomic_load(&s->prog->chunks_new);
    s->out.stat_chunks_reused = atomic_load(&s->prog->chunks_reused);
    s->out.stat_objects = atomic_load(&s->prog->objects_written) + 1;
    size_t mlen = 0;
    rc = manifest_put(s->repo, &s->out, s->have_base ? &s->base : NULL, &mlen, err, errlen);
    if (rc == 0) {
        atomic_fetch_add(&s->prog->objects_written, 1);
        atomic_fetch_add(&s->prog->bytes_uploaded, mlen);
    }
    return rc;
}

static int validate(const struct ship_params *p, const struct ship_image *img, char *err,
                    size_t errlen)
{
    if (!p->url || !p->volume || !p->snapshot || !p->volume_uuid || !img || !img->read) {
        snprintf(err, errlen, "ship: url, volume, snapshot, volume_uuid and image are required");
        return -EINVAL;
    }
    if (!repo_name_ok(p->volume) || !repo_name_ok(p->snapshot)) {
        snprintf(err, errlen, "ship: volume and snapshot names are 1-128 of [A-Za-z0-9._-]");
        return -EINVAL;
    }
    if (img->size % 4096) {
        snprintf(err, errlen, "ship: image size %llu is not a multiple of 4096",
                 (unsigned long long)img->size);
        return -EINVAL;
    }
    return 0;
}

int ship_run(const struct ship_params *p, const struct ship_image *image,
             struct ship_progress *progress, const atomic_bool *cancel, char *err, size_t errlen)
{
    int rc = validate(p, image, err, errlen);
    if (rc)
        return rc;
    struct ship_progress dummy;
    if (!progress) {
        memset(&dummy, 0, sizeof(dummy));
        progress = &dummy;
    }
    struct repo repo;
    rc = repo_open(&repo, p->url, &p->store, true, err, errlen);
    if (rc)
        return rc;
    for (int attempt = 1; attempt <= MAX_TRIES; attempt++) {
        struct ship s = {.p = p, .img = image, .prog = progress, .cancel = cancel, .repo = &repo};
        pthread_mutex_init(&s.mu, NULL);
        pthread_cond_init(&s.cv, NULL);
        snprintf(s.out.volume, sizeof(s.out.volume), "%s", p->volume);
        snprintf(s.out.volume_uuid, sizeof(s.out.volume_uuid), "%s", p->volume_uuid);
        snprintf(s.out.snapshot, sizeof(s.out.snapshot), "%s", p->snapshot);
        s.out.seq = p->seq;
        s.out.created = p->created;
        s.out.size = image->size;
        s.out.chunk_size = repo.chunk_size;
        s.out.segment_size = repo.segment_size;
        s.cpseg = (uint32_t)(repo.segment_size / repo.chunk_size);
        rc = pick_base(&s, err, errlen);
        if (rc == 0 && s.have_base && !p->full && image->changed_since) {
            int c = image->changed_since(image->ctx, s.base.seq, &s.changed);
            if (c == 0 && s.changed.gran >= repo.chunk_size &&
                !(s.changed.gran & (s.changed.gran - 1)))
                s.incremental = true;
            else if (c != 0 && c != -ENOENT) {
                snprintf(err, errlen, "changed-block tracking failed: %s", strerror(-c));
                rc = c;
            }
        }
        atomic_store(&progress->base_seq, s.incremental ? s.base.seq : 0);
        if (rc == 0)
            rc = ship_once(&s, err, errlen);
        else if (rc == 1)
            rc = 0;
        index_free(&s.ix);
        manifest_free(&s.base);
        manifest_free(&s.out);
        free(s.changed.bits);
        pthread_mutex_destroy(&s.mu);
        pthread_cond_destroy(&s.cv);
        if (rc != -EAGAIN)
            break;
    }
    repo_close(&repo);
    return rc;
}
