/* Open-addressing hash tables (linear probing, grown at half load) keyed by the blob id's first
 * 8 bytes, which are uniformly distributed (SHA-256/HMAC output), and by an FNV hash of the
 * pack id. */
#include "ship/index.h"

#include "ship/par.h"
#include "util/bytebuf.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MAGIC  "TNDMIDX1"
#define IX_ENTRY_LEN (4 + PACK_ENTRY_LEN)

int index_init(struct index *ix)
{
    memset(ix, 0, sizeof(*ix));
    pthread_mutex_init(&ix->mu, NULL);
    ix->cap = 1 << 14;
    ix->slots = calloc(ix->cap, sizeof(*ix->slots));
    ix->pcap = 1 << 10;
    ix->pslots = calloc(ix->pcap, sizeof(*ix->pslots));
    return ix->slots && ix->pslots ? 0 : -ENOMEM;
}

void index_free(struct index *ix)
{
    free(ix->slots);
    free(ix->packs);
    free(ix->pslots);
    free(ix->dups);
    for (size_t i = 0; i < ix->nindex_keys; i++)
        free(ix->index_keys[i]);
    free(ix->index_keys);
    pthread_mutex_destroy(&ix->mu);
    memset(ix, 0, sizeof(*ix));
}

static uint64_t id_hash(const uint8_t *id)
{
    uint64_t h;
    memcpy(&h, id, 8);
    return h;
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int pslots_grow(struct index *ix)
{
    size_t cap = ix->pcap * 2;
    uint32_t *ns = calloc(cap, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < ix->npacks; i++) {
        size_t s = str_hash(ix->packs[i].id) & (cap - 1);
        while (ns[s])
            s = (s + 1) & (cap - 1);
        ns[s] = (uint32_t)i + 1;
    }
    free(ix->pslots);
    ix->pslots = ns;
    ix->pcap = cap;
    return 0;
}

static uint32_t pack_locked(struct index *ix, const char *pack_id)
{
    size_t s = str_hash(pack_id) & (ix->pcap - 1);
    for (; ix->pslots[s]; s = (s + 1) & (ix->pcap - 1))
        if (strcmp(ix->packs[ix->pslots[s] - 1].id, pack_id) == 0)
            return ix->pslots[s] - 1;
    if (ix->npacks == ix->packs_cap) {
        size_t cap = ix->packs_cap ? ix->packs_cap * 2 : 256;
        struct pack_rec *np = realloc(ix->packs, cap * sizeof(*np));
        if (!np)
            return UINT32_MAX;
        ix->packs = np;
        ix->packs_cap = cap;
    }
    uint32_t no = (uint32_t)ix->npacks++;
    memset(&ix->packs[no], 0, sizeof(ix->packs[no]));
    snprintf(ix->packs[no].id, sizeof(ix->packs[no].id), "%s", pack_id);
    ix->pslots[s] = no + 1;
    if (ix->npacks * 2 > ix->pcap && pslots_grow(ix) != 0)
        return UINT32_MAX;
    return no;
}

uint32_t index_pack_lookup(struct index *ix, const char *pack_id)
{
    pthread_mutex_lock(&ix->mu);
    uint32_t no = UINT32_MAX;
    size_t s = str_hash(pack_id) & (ix->pcap - 1);
    for (; ix->pslots[s]; s = (s + 1) & (ix->pcap - 1))
        if (strcmp(ix->packs[ix->pslots[s] - 1].id, pack_id) == 0) {
            no = ix->pslots[s] - 1;
            break;
        }
    pthread_mutex_unlock(&ix->mu);
    return no;
}

uint32_t index_pack(struct index *ix, const char *pack_id)
{
    pthread_mutex_lock(&ix->mu);
    uint32_t no = pack_locked(ix, pack_id);
    pthread_mutex_unlock(&ix->mu);
    return no;
}

struct pack_rec index_pack_get(struct index *ix, uint32_t no)
{
    pthread_mutex_lock(&ix->mu);
    struct pack_rec p = ix->packs[no];
    pthread_mutex_unlock(&ix->mu);
    return p;
}

void index_pack_flags(struct index *ix, uint32_t no, unsigned set, unsigned clear)
{
    pthread_mutex_lock(&ix->mu);
    ix->packs[no].flags = (ix->packs[no].flags | set) & ~clear;
    pthread_mutex_unlock(&ix->mu);
}

static struct blob_loc *slot_of(struct index *ix, const uint8_t *id)
{
    size_t s = id_hash(id) & (ix->cap - 1);
    while (ix->slots[s].used && memcmp(ix->slots[s].id, id, CRYPT_ID_LEN) != 0)
        s = (s + 1) & (ix->cap - 1);
    return &ix->slots[s];
}

void index_promote_dups(struct index *ix)
{
    pthread_mutex_lock(&ix->mu);
    for (size_t i = 0; i < ix->ndups; i++) {
        struct blob_loc *d = &ix->dups[i], *b = slot_of(ix, d->id);
        if (b->used && (ix->packs[b->pack].flags & PACK_EXCLUDED) &&
            !(ix->packs[d->pack].flags & PACK_EXCLUDED)) {
            struct blob_loc t = *b;
            *b = *d;
            *d = t;
        }
    }
    pthread_mutex_unlock(&ix->mu);
}

int index_find(struct index *ix, const uint8_t id[CRYPT_ID_LEN], bool rely, struct blob_loc *out)
{
    pthread_mutex_lock(&ix->mu);
    struct blob_loc *b = slot_of(ix, id);
    int rc = -1;
    if (b->used && !(ix->packs[b->pack].flags & PACK_EXCLUDED)) {
        if (out)
            *out = *b;
        if (rely)
            ix->packs[b->pack].flags |= PACK_RELIED;
        rc = 0;
    }
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

static int grow(struct index *ix)
{
    size_t cap = ix->cap * 2;
    struct blob_loc *ns = calloc(cap, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < ix->cap; i++) {
        if (!ix->slots[i].used)
            continue;
        size_t s = id_hash(ix->slots[i].id) & (cap - 1);
        while (ns[s].used)
            s = (s + 1) & (cap - 1);
        ns[s] = ix->slots[i];
    }
    free(ix->slots);
    ix->slots = ns;
    ix->cap = cap;
    return 0;
}

static int add_dup(struct index *ix, const struct blob_loc *loc)
{
    if (ix->ndups == ix->dups_cap) {
        size_t cap = ix->dups_cap ? 2 * ix->dups_cap : 256;
        struct blob_loc *d = realloc(ix->dups, cap * sizeof(*d));
        if (!d)
            return -ENOMEM;
        ix->dups = d;
        ix->dups_cap = cap;
    }
    ix->dups[ix->ndups] = *loc;
    ix->dups[ix->ndups++].used = 1;
    return 1;
}

/* keep_dup: loc is stored (read from an index or trailer), so another copy of a known id is
 * recorded; a ship's tentative add (index_add) must not record one, its bytes are dropped. */
static int add_locked(struct index *ix, const struct blob_loc *loc, bool keep_dup)
{
    struct blob_loc *b = slot_of(ix, loc->id);
    if (b->used) {
        if (!(ix->packs[b->pack].flags & PACK_EXCLUDED)) {
            if (!keep_dup || b->pack == loc->pack)
                return 1;
            return add_dup(ix, loc) < 0 ? -ENOMEM : 1;
        }
        if (add_dup(ix, b) < 0) /* the excluded copy stays known (prune counts it) */
            return -ENOMEM;
        *b = *loc; /* the old copy is not to be relied on: this one replaces it */
        b->used = 1;
        return 0;
    }
    *b = *loc;
    b->used = 1;
    ix->n++;
    if (ix->n * 2 > ix->cap && grow(ix) != 0)
        return -ENOMEM;
    return 0;
}

int index_add(struct index *ix, const struct blob_loc *loc)
{
    pthread_mutex_lock(&ix->mu);
    int rc = add_locked(ix, loc, false);
    pthread_mutex_unlock(&ix->mu);
    return rc;
}

int index_add_copy(struct index *ix, const struct blob_loc *loc)
{
    pthread_mutex_lock(&ix->mu);
    int rc = add_locked(ix, loc, true);
    pthread_mutex_unlock(&ix->mu);
    return rc < 0 ? rc : 0;
}

void index_each(struct index *ix, void (*fn)(const struct blob_loc *b, void *arg), void *arg)
{
    pthread_mutex_lock(&ix->mu);
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i].used)
            fn(&ix->slots[i], arg);
    for (size_t i = 0; i < ix->ndups; i++)
        fn(&ix->dups[i], arg);
    pthread_mutex_unlock(&ix->mu);
}

/* ---- loading ---- */

struct load {
    const struct repo *r;
    struct index *ix;
    char **keys;
    size_t n, cap;
    uint32_t *recover; /* pack numbers to read trailers of */
    size_t nrecover;
};

static int collect(const struct backend_obj *o, void *arg)
{
    struct load *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **k = realloc(l->keys, cap * sizeof(*k));
        if (!k)
            return -1;
        l->keys = k;
        l->cap = cap;
    }
    return (l->keys[l->n++] = strdup(o->key)) ? 0 : -1;
}

static int note_pack(const struct backend_obj *o, void *arg)
{
    struct load *l = arg;
    const char *id = o->key + strlen("packs/");
    if (strlen(id) != PACK_ID_HEX)
        return 0;
    pthread_mutex_lock(&l->ix->mu);
    uint32_t no = pack_locked(l->ix, id);
    if (no != UINT32_MAX) {
        l->ix->packs[no].size = o->size;
        l->ix->packs[no].mtime = o->mtime;
        l->ix->packs[no].flags |= PACK_LISTED;
    }
    pthread_mutex_unlock(&l->ix->mu);
    return no == UINT32_MAX ? -1 : 0;
}

static int parse_index(struct index *ix, const uint8_t *p, size_t len)
{
    if (len < 16 || memcmp(p, INDEX_MAGIC, 8) != 0)
        return -1;
    uint32_t np = get_be32(p + 8);
    if (len < 12 + (size_t)np * 16 + 4)
        return -1;
    uint32_t *nos = malloc((np ? np : 1) * sizeof(*nos));
    if (!nos)
        return -1;
    const uint8_t *q = p + 12;
    pthread_mutex_lock(&ix->mu);
    int rc = 0;
    for (uint32_t i = 0; i < np && rc == 0; i++, q += 16) {
        char hex[PACK_ID_HEX + 1];
        hex_encode(q, 16, hex);
        nos[i] = pack_locked(ix, hex);
        if (nos[i] == UINT32_MAX)
            rc = -1;
        else
            ix->packs[nos[i]].flags |= PACK_INDEXED;
    }
    uint32_t ne = rc ? 0 : get_be32(q);
    q += 4;
    if (rc == 0 && (size_t)(p + len - q) != (size_t)ne * IX_ENTRY_LEN)
        rc = -1;
    for (uint32_t i = 0; rc == 0 && i < ne; i++, q += IX_ENTRY_LEN) {
        uint32_t ord = get_be32(q);
        if (ord >= np) {
            rc = -1;
            break;
        }
        struct blob_loc b = {.pack = nos[ord], .type = q[4]};
        memcpy(b.id, q + 5, CRYPT_ID_LEN);
        b.off = get_be32(q + 37);
        b.slen = get_be32(q + 41);
        b.rlen = get_be32(q + 45);
        if (add_locked(ix, &b, true) < 0)
            rc = -1;
    }
    pthread_mutex_unlock(&ix->mu);
    free(nos);
    return rc;
}

static int load_one(size_t i, void *arg, int worker, char *err, size_t errlen)
{
    (void)worker;
    struct load *l = arg;
    uint8_t *raw = NULL, *plain = NULL;
    size_t len = 0, plen = 0;
    int rc = backend_get(l->r->be, l->keys[i], 0, 0, &raw, &len, err, errlen);
    if (rc == -ENOENT)
        return 0; /* deleted by a prune since the listing: its packs are in a newer index */
    if (rc)
        return rc;
    if (repo_open_named(l->r, l->keys[i], raw, len, 1u << 30, &plain, &plen) != 0 ||
        parse_index(l->ix, plain, plen) != 0) {
        snprintf(err, errlen, "%s: index object is corrupt (or sealed with another key)",
                 l->keys[i]);
        rc = -EINVAL;
    }
    free(raw);
    free(plain);
    return rc;
}

static int recover_one(size_t i, void *arg, int worker, char *err, size_t errlen)
{
    (void)worker;
    struct load *l = arg;
    struct pack_rec p = index_pack_get(l->ix, l->recover[i]);
    struct pack_entry *ents = NULL;
    size_t n = 0;
    int rc = pack_read_trailer(l->r, p.id, p.size, &ents, &n, err, errlen);
    if (rc == -ENOENT)
        return 0;
    if (rc == -EINVAL) { /* an unreadable pack is not relied on; prune removes it later */
        free(ents);
        return 0;
    }
    if (rc)
        return rc;
    pthread_mutex_lock(&l->ix->mu);
    for (size_t k = 0; k < n && rc == 0; k++) {
        struct blob_loc b = {.pack = l->recover[i],
                             .type = ents[k].type,
                             .off = ents[k].off,
                             .slen = ents[k].slen,
                             .rlen = ents[k].rlen};
        memcpy(b.id, ents[k].id, CRYPT_ID_LEN);
        if (add_locked(l->ix, &b, true) < 0)
            rc = -ENOMEM;
    }
    l->ix->packs[l->recover[i]].flags |= PACK_RECOVERED;
    pthread_mutex_unlock(&l->ix->mu);
    free(ents);
    return rc;
}

int index_load(const struct repo *r, struct index *ix, bool recover, int threads, char *err,
               size_t errlen)
{
    struct load l = {.r = r, .ix = ix};
    int rc = backend_list(r->be, "packs/", note_pack, &l, err, errlen);
    if (rc == 0)
        rc = backend_list(r->be, "indexes/", collect, &l, err, errlen);
    if (rc == 0)
        rc = par_run(l.n, threads, load_one, &l, err, errlen);
    if (rc == 0) {
        pthread_mutex_lock(&ix->mu);
        l.recover = malloc((ix->npacks ? ix->npacks : 1) * sizeof(*l.recover));
        for (size_t i = 0; l.recover && i < ix->npacks; i++) {
            unsigned f = ix->packs[i].flags;
            if (!(f & PACK_LISTED))
                ix->packs[i].flags |= PACK_EXCLUDED;
            else if (!(f & PACK_INDEXED) && recover)
                l.recover[l.nrecover++] = (uint32_t)i;
        }
        pthread_mutex_unlock(&ix->mu);
        if (!l.recover)
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = par_run(l.nrecover, threads, recover_one, &l, err, errlen);
    if (rc == 0)
        index_promote_dups(ix);
    free(l.recover);
    ix->index_keys = l.keys;
    ix->nindex_keys = l.n;
    return rc;
}

/* ---- writing ---- */

struct wr {
    struct index *ix;
    int32_t *ord; /* pack number -> ordinal in this object, -1 */
    struct bytebuf *b;
    uint32_t count;
};

static void put_blob(const struct blob_loc *bl, void *arg)
{
    struct wr *w = arg;
    if (w->ord[bl->pack] < 0)
        return;
    bytebuf_be32(w->b, (uint32_t)w->ord[bl->pack]);
    bytebuf_put(w->b, &bl->type, 1);
    bytebuf_put(w->b, bl->id, CRYPT_ID_LEN);
    bytebuf_be32(w->b, bl->off);
    bytebuf_be32(w->b, bl->slen);
    bytebuf_be32(w->b, bl->rlen);
    w->count++;
}

int index_write(const struct repo *r, struct index *ix,
                bool (*want)(const struct pack_rec *p, void *arg), void *arg, char *key_out,
                size_t *written, char *err, size_t errlen)
{
    *written = 0;
    struct bytebuf b = {0};
    pthread_mutex_lock(&ix->mu);
    int32_t *ord = malloc((ix->npacks ? ix->npacks : 1) * sizeof(*ord));
    uint32_t np = 0;
    bytebuf_put(&b, INDEX_MAGIC, 8);
    bytebuf_be32(&b, 0); /* npacks, patched below */
    for (size_t i = 0; ord && i < ix->npacks; i++) {
        ord[i] = want(&ix->packs[i], arg) ? (int32_t)np++ : -1;
        if (ord[i] >= 0) {
            uint8_t raw[16];
            hex_decode(ix->packs[i].id, raw, 16);
            bytebuf_put(&b, raw, 16);
        }
    }
    size_t count_at = b.len;
    bytebuf_be32(&b, 0);
    struct wr w = {ix, ord, &b, 0};
    if (ord && np) {
        for (size_t i = 0; i < ix->cap; i++)
            if (ix->slots[i].used)
                put_blob(&ix->slots[i], &w);
        for (size_t i = 0; i < ix->ndups; i++)
            put_blob(&ix->dups[i], &w);
    }
    pthread_mutex_unlock(&ix->mu);
    free(ord);
    if (!ord || b.oom) {
        bytebuf_free(&b);
        snprintf(err, errlen, "out of memory writing an index");
        return -ENOMEM;
    }
    if (np == 0) {
        bytebuf_free(&b);
        return 0;
    }
    put_be32(b.data + 8, np);
    put_be32(b.data + count_at, w.count);
    uint8_t rnd[16];
    char hex[33];
    RAND_bytes(rnd, sizeof(rnd));
    hex_encode(rnd, sizeof(rnd), hex);
    snprintf(key_out, 64, "indexes/%s", hex);
    size_t slen = 0;
    uint8_t *sealed = repo_seal_named(r, key_out, b.data, b.len, true, &slen);
    bytebuf_free(&b);
    if (!sealed) {
        snprintf(err, errlen, "cannot seal an index");
        return -EIO;
    }
    int rc = backend_put(r->be, key_out, sealed, slen, err, errlen);
    free(sealed);
    if (rc == 0)
        *written = slen;
    return rc;
}
