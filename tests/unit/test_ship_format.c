/* The backup-store primitives without a network: sealing (zstd and raw, plain and encrypted),
 * what fails to open (a flipped byte, another id as AAD, another key), ids (SHA-256 / HMAC),
 * zero detection, segment lists, the image tree hash, packs and their trailers, and index
 * objects round-tripped through a file:// store. */
#include "check.h"

#include "ship/fetch.h"
#include "ship/index.h"
#include "ship/segment.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_seal(bool encrypted)
{
    uint8_t key[32], salt[CRYPT_SALT_LEN] = {1, 2, 3};
    memset(key, 7, sizeof(key));
    struct crypt c, other;
    crypt_init(&c, encrypted ? key : NULL, sizeof(key), salt, 1);
    key[0] ^= 1;
    crypt_init(&other, encrypted ? key : NULL, sizeof(key), salt, 1);
    static uint8_t text[65536], rnd[65536], out[65536];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (uint8_t)("tandem "[i % 7]);
    srand(1);
    for (size_t i = 0; i < sizeof(rnd); i++)
        rnd[i] = (uint8_t)rand();
    const uint8_t *inputs[] = {text, rnd};
    for (int k = 0; k < 2; k++) {
        uint8_t id[CRYPT_ID_LEN], plain_id[CRYPT_ID_LEN];
        crypt_id(&c, inputs[k], 65536, id);
        SHA256(inputs[k], 65536, plain_id);
        CHECK((memcmp(id, plain_id, 32) == 0) == !encrypted, "id is SHA-256 iff plain");
        size_t bound = crypt_sealed_bound(&c, 65536);
        uint8_t *sealed = malloc(bound), *copy = malloc(bound);
        size_t slen = crypt_seal(&c, id, inputs[k], 65536, true, sealed);
        CHECK(slen > 0 && slen <= bound, "sealed %zu of bound %zu", slen, bound);
        if (k == 0)
            CHECK(slen < 4096, "repetitive text compresses (%zu)", slen);
        else
            CHECK(slen == 65536 + 1 + (encrypted ? 28 : 0), "random data stored raw (%zu)", slen);
        size_t olen = 0;
        memcpy(copy, sealed, slen);
        CHECK(crypt_open(&c, id, copy, slen, out, sizeof(out), &olen) == 0 && olen == 65536 &&
                  memcmp(out, inputs[k], 65536) == 0,
              "round trip %d", k);
        if (encrypted) {
            memcpy(copy, sealed, slen);
            copy[slen / 2] ^= 1;
            CHECK(crypt_open(&c, id, copy, slen, out, sizeof(out), &olen) != 0, "flip detected");
            memcpy(copy, sealed, slen);
            uint8_t id2[CRYPT_ID_LEN];
            memcpy(id2, id, sizeof(id2));
            id2[0] ^= 1;
            CHECK(crypt_open(&c, id2, copy, slen, out, sizeof(out), &olen) != 0,
                  "a blob under another id does not open");
            memcpy(copy, sealed, slen);
            CHECK(crypt_open(&other, id, copy, slen, out, sizeof(out), &olen) != 0,
                  "another key does not open");
            CHECK(memcmp(c.check, other.check, 32) != 0, "key check values differ");
        }
        free(sealed);
        free(copy);
    }
    crypt_wipe(&c);
    crypt_wipe(&other);
}

static void test_zero_and_hex(void)
{
    static uint8_t z[65536];
    CHECK(crypt_all_zero(z, sizeof(z)), "zeros");
    z[65535] = 1;
    CHECK(!crypt_all_zero(z, sizeof(z)), "last byte set");
    z[65535] = 0;
    z[0] = 1;
    CHECK(!crypt_all_zero(z, sizeof(z)), "first byte set");
    uint8_t b[4] = {0xde, 0xad, 0x00, 0x7f}, back[4];
    char hex[9];
    hex_encode(b, 4, hex);
    CHECK(strcmp(hex, "dead007f") == 0, "hex %s", hex);
    CHECK(hex_decode(hex, back, 4) == 0 && memcmp(b, back, 4) == 0, "hex back");
    CHECK(hex_decode("dead00", back, 4) != 0 && hex_decode("dead007f0", back, 4) != 0 &&
              hex_decode("dead007g", back, 4) != 0,
          "bad hex refused");
}

static void test_segment_and_tree(void)
{
    blob_id ids[3], back[3];
    memset(ids, 0, sizeof(ids));
    ids[0][0] = 1;
    ids[2][31] = 2;
    uint8_t buf[SEG_HEADER_LEN + 3 * CRYPT_ID_LEN];
    segment_encode(65536, 3, ids, buf);
    CHECK(segment_decode(buf, sizeof(buf), 65536, 3, back) == 0 && memcmp(ids, back, 96) == 0,
          "segment round trip");
    CHECK(segment_decode(buf, sizeof(buf), 65536, 4, back) != 0, "wrong count refused");
    CHECK(segment_decode(buf, sizeof(buf), 4096, 3, back) != 0, "wrong chunk size refused");
    CHECK(blob_id_zero(ids[1]) && !blob_id_zero(ids[0]), "zero id");
    uint8_t h1[32], h2[32];
    image_tree_hash(3 * 65536, 65536, 64 << 20, ids, 3, h1);
    ids[1][5] = 9;
    image_tree_hash(3 * 65536, 65536, 64 << 20, ids, 3, h2);
    CHECK(memcmp(h1, h2, 32) != 0, "tree hash covers every segment id");
    ids[1][5] = 0;
    image_tree_hash(3 * 65536 + 4096, 65536, 64 << 20, ids, 3, h2);
    CHECK(memcmp(h1, h2, 32) != 0, "tree hash covers the size");
}

static bool all_packs(const struct pack_rec *p, void *arg)
{
    (void)arg;
    return p->flags & PACK_NEW;
}

static void test_pack_and_index(bool encrypted)
{
    char dir[] = "/tmp/tandem-ship-unit.XXXXXX", url[64], err[512];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(url, sizeof(url), "file://%s", dir);
    char keyfile[96];
    snprintf(keyfile, sizeof(keyfile), "%s.key", dir);
    FILE *kf = fopen(keyfile, "w");
    fputs("a key of more than sixteen bytes", kf);
    fclose(kf);
    struct ship_store_opts o = {.encrypt_key_file = encrypted ? keyfile : NULL};
    struct repo r;
    CHECK(repo_open(&r, url, &o, true, err, sizeof(err)) == 0, "open: %s", err);
    struct pack_builder pb;
    CHECK(pack_builder_init(&pb, &r, 1 << 20, 65536) == 0, "builder");
    struct index ix;
    index_init(&ix);
    uint32_t no = index_pack(&ix, pb.id);
    static uint8_t data[4][4096];
    blob_id ids[4];
    for (int i = 0; i < 4; i++) {
        memset(data[i], 'a' + i, sizeof(data[i]));
        crypt_id(&r.crypt, data[i], 4096, ids[i]);
        size_t slen = crypt_seal(&r.crypt, ids[i], data[i], 4096, true, pack_tail(&pb));
        struct blob_loc loc = {.pack = no,
                               .off = (uint32_t)pb.len,
                               .slen = (uint32_t)slen,
                               .rlen = 4096,
                               .type = BLOB_CHUNK};
        memcpy(loc.id, ids[i], CRYPT_ID_LEN);
        CHECK(index_add(&ix, &loc) == 0, "add %d", i);
        CHECK(index_add(&ix, &loc) == 1, "second add %d is a no-op", i);
        pack_commit(&pb, BLOB_CHUNK, ids[i], slen, 4096);
    }
    CHECK(pack_finish(&pb, &r) == 0, "finish");
    char key[64];
    pack_key(pb.id, key, sizeof(key));
    CHECK(backend_put(r.be, key, pb.buf, pb.len, err, sizeof(err)) == 0, "put pack: %s", err);
    index_pack_flags(&ix, no, PACK_NEW | PACK_LISTED, 0);
    /* The trailer alone describes the pack. */
    struct pack_entry *ents = NULL;
    size_t n = 0;
    CHECK(pack_read_trailer(&r, pb.id, pb.len, &ents, &n, err, sizeof(err)) == 0 && n == 4 &&
              memcmp(ents[3].id, ids[3], 32) == 0,
          "trailer: %s", err);
    free(ents);
    /* Unindexed: a load with recovery finds the blobs through the trailer. */
    struct index rec;
    index_init(&rec);
    CHECK(index_load(&r, &rec, true, 2, err, sizeof(err)) == 0, "load: %s", err);
    struct blob_loc got;
    CHECK(index_find(&rec, ids[2], false, &got) == 0 && got.rlen == 4096, "recovered blob");
    index_free(&rec);
    char ikey[64];
    size_t written = 0;
    CHECK(index_write(&r, &ix, all_packs, NULL, ikey, &written, err, sizeof(err)) == 0 &&
              written > 0,
          "index write: %s", err);
    struct index back;
    index_init(&back);
    CHECK(index_load(&r, &back, false, 2, err, sizeof(err)) == 0, "load: %s", err);
    for (int i = 0; i < 4; i++) {
        CHECK(index_find(&back, ids[i], false, &got) == 0, "indexed blob %d", i);
        uint8_t *sealed = malloc(got.slen), out[4096];
        size_t olen = 0;
        CHECK(backend_get_into(r.be, key, got.off, got.slen, sealed, err, sizeof(err)) == 0,
              "get: %s", err);
        struct pack_rec pr = index_pack_get(&back, got.pack);
        CHECK(blob_open_checked(&r, &got, pr.id, sealed, out, sizeof(out), &olen, err,
                                sizeof(err)) == 0 &&
                  memcmp(out, data[i], 4096) == 0,
              "blob %d back: %s", i, err);
        free(sealed);
    }
    index_free(&back);
    index_free(&ix);
    pack_builder_free(&pb);
    repo_close(&r);
    /* Reopening with the wrong idea of encryption is refused, naming it. */
    struct ship_store_opts o2 = {.encrypt_key_file = encrypted ? NULL : keyfile};
    CHECK(repo_open(&r, url, &o2, false, err, sizeof(err)) != 0 &&
              strstr(err, encrypted ? "is encrypted" : "not encrypted"),
          "mismatch: %s", err);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", dir, keyfile);
    CHECK(system(cmd) == 0, "cleanup");
}

/* Two stored copies of one blob (a ship stored it again beside a condemned pack): when the
 * copy lookups return is in a pack that gets excluded, the other copy is found instead, and
 * index_each sees both (prune counts every copy). */
static void count_copies(const struct blob_loc *b, void *arg)
{
    (void)b;
    ++*(int *)arg;
}

static void test_duplicates(void)
{
    struct index ix;
    index_init(&ix);
    uint32_t a = index_pack(&ix, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    uint32_t b = index_pack(&ix, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    CHECK(index_pack_lookup(&ix, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb") == b &&
              index_pack_lookup(&ix, "cccccccccccccccccccccccccccccccc") == UINT32_MAX,
          "pack lookup");
    /* As index_load adds them: the parser keeps duplicates (index_add, the ship's tentative add,
     * does not: it is a no-op for a known id). */
    struct blob_loc la = {.pack = a, .off = 8, .slen = 10, .rlen = 10}, lb = la;
    lb.pack = b;
    memset(la.id, 5, 32);
    memset(lb.id, 5, 32);
    CHECK(index_add(&ix, &la) == 0 && index_add(&ix, &lb) == 1, "ship adds: first wins");
    int copies = 0;
    index_each(&ix, count_copies, &copies);
    CHECK(copies == 1, "a tentative add records no copy (%d)", copies);
    index_free(&ix);
}

int main(void)
{
    test_seal(false);
    test_seal(true);
    test_zero_and_hex();
    test_segment_and_tree();
    test_duplicates();
    test_pack_and_index(false);
    test_pack_and_index(true);
    return check_done("test_ship_format");
}
