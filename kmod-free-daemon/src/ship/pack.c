/* Building packs in memory (one reused buffer per builder) and reading their trailers back. */
#include "ship/pack.h"

#include "util/bytebuf.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRAILER_MAGIC "TNDMPTR1"

void pack_key(const char *pack_id, char *out, size_t cap)
{
    snprintf(out, cap, "packs/%s", pack_id);
}

static void trailer_name(const char *pack_id, char *out, size_t cap)
{
    snprintf(out, cap, "pack-trailer/%s", pack_id);
}

int pack_builder_init(struct pack_builder *pb, const struct repo *r, size_t target, size_t max_blob)
{
    memset(pb, 0, sizeof(*pb));
    pb->target = target;
    pb->cap = target + crypt_sealed_bound(&r->crypt, max_blob) + 64;
    pb->buf = malloc(pb->cap);
    pb->ents_cap = 1024;
    pb->ents = malloc(pb->ents_cap * sizeof(*pb->ents));
    if (!pb->buf || !pb->ents) {
        pack_builder_free(pb);
        return -ENOMEM;
    }
    return pack_reset(pb);
}

void pack_builder_free(struct pack_builder *pb)
{
    free(pb->buf);
    free(pb->ents);
    memset(pb, 0, sizeof(*pb));
}

int pack_reset(struct pack_builder *pb)
{
    uint8_t rnd[PACK_ID_HEX / 2];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -EIO;
    hex_encode(rnd, sizeof(rnd), pb->id);
    memcpy(pb->buf, PACK_MAGIC, 8);
    pb->len = 8;
    pb->nents = 0;
    return 0;
}

int pack_commit(struct pack_builder *pb, uint8_t type, const uint8_t id[CRYPT_ID_LEN], size_t slen,
                size_t rlen)
{
    if (pb->nents == pb->ents_cap) {
        struct pack_entry *e = realloc(pb->ents, 2 * pb->ents_cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        pb->ents = e;
        pb->ents_cap *= 2;
    }
    struct pack_entry *e = &pb->ents[pb->nents++];
    e->type = type;
    memcpy(e->id, id, CRYPT_ID_LEN);
    e->off = (uint32_t)pb->len;
    e->slen = (uint32_t)slen;
    e->rlen = (uint32_t)rlen;
    pb->len += slen;
    return 0;
}

static void put_entry(struct bytebuf *b, const struct pack_entry *e)
{
    bytebuf_put(b, &e->type, 1);
    bytebuf_put(b, e->id, CRYPT_ID_LEN);
    bytebuf_be32(b, e->off);
    bytebuf_be32(b, e->slen);
    bytebuf_be32(b, e->rlen);
}

static void get_entry(const uint8_t *p, struct pack_entry *e)
{
    e->type = p[0];
    memcpy(e->id, p + 1, CRYPT_ID_LEN);
    e->off = get_be32(p + 33);
    e->slen = get_be32(p + 37);
    e->rlen = get_be32(p + 41);
}

int pack_finish(struct pack_builder *pb, const struct repo *r)
{
    struct bytebuf t = {0};
    bytebuf_put(&t, TRAILER_MAGIC, 8);
    bytebuf_be32(&t, (uint32_t)pb->nents);
    for (size_t i = 0; i < pb->nents; i++)
        put_entry(&t, &pb->ents[i]);
    if (t.oom) {
        bytebuf_free(&t);
        return -1;
    }
    char name[64];
    trailer_name(pb->id, name, sizeof(name));
    size_t slen = 0;
    uint8_t *sealed = repo_seal_named(r, name, t.data, t.len, true, &slen);
    bytebuf_free(&t);
    if (!sealed)
        return -1;
    if (pb->len + slen + PACK_FOOTER_LEN > pb->cap) {
        uint8_t *nb = realloc(pb->buf, pb->len + slen + PACK_FOOTER_LEN);
        if (!nb) {
            free(sealed);
            return -1;
        }
        pb->buf = nb;
        pb->cap = pb->len + slen + PACK_FOOTER_LEN;
    }
    memcpy(pb->buf + pb->len, sealed, slen);
    pb->len += slen;
    free(sealed);
    put_be32(pb->buf + pb->len, (uint32_t)slen);
    memcpy(pb->buf + pb->len + 4, PACK_END_MAGIC, 8);
    pb->len += PACK_FOOTER_LEN;
    return 0;
}

int pack_read_trailer(const struct repo *r, const char *pack_id, uint64_t size,
                      struct pack_entry **ents, size_t *n, char *err, size_t errlen)
{
    char key[64], name[64];
    pack_key(pack_id, key, sizeof(key));
    trailer_name(pack_id, name, sizeof(name));
    uint8_t foot[PACK_FOOTER_LEN];
    if (size < 8 + PACK_FOOTER_LEN) {
        snprintf(err, errlen, "%s: too short to be a pack", key);
        return -EINVAL;
    }
    int rc =
        backend_get_into(r->be, key, size - PACK_FOOTER_LEN, PACK_FOOTER_LEN, foot, err, errlen);
    if (rc)
        return rc;
    uint32_t tl = get_be32(foot);
    if (memcmp(foot + 4, PACK_END_MAGIC, 8) != 0 || tl > size - 8 - PACK_FOOTER_LEN) {
        snprintf(err, errlen, "%s: no pack footer", key);
        return -EINVAL;
    }
    uint8_t *sealed = malloc(tl ? tl : 1);
    if (!sealed)
        return -ENOMEM;
    rc = backend_get_into(r->be, key, size - PACK_FOOTER_LEN - tl, tl, sealed, err, errlen);
    uint8_t *plain = NULL;
    size_t plen = 0;
    if (rc == 0 && repo_open_named(r, name, sealed, tl, 64u << 20, &plain, &plen) != 0) {
        snprintf(err, errlen, "%s: its trailer does not open (corrupt, or another key)", key);
        rc = -EINVAL;
    }
    free(sealed);
    if (rc)
        return rc;
    uint32_t cnt = plen >= 12 ? get_be32(plain + 8) : 0;
    if (plen < 12 || memcmp(plain, TRAILER_MAGIC, 8) != 0 ||
        plen != 12 + (size_t)cnt * PACK_ENTRY_LEN) {
        free(plain);
        snprintf(err, errlen, "%s: malformed trailer", key);
        return -EINVAL;
    }
    *ents = malloc((cnt ? cnt : 1) * sizeof(**ents));
    if (!*ents) {
        free(plain);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < cnt; i++)
        get_entry(plain + 12 + (size_t)i * PACK_ENTRY_LEN, &(*ents)[i]);
    *n = cnt;
    free(plain);
    return 0;
}
