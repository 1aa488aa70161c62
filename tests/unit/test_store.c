/* store/: superblock encode/decode and every refusal, replica create/open, atomic create
 * leftovers, and that a refused replica is never modified. */
#include "check.h"

#include "store/replica.h"
#include "store/superblock.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/tandem-unit-store.XXXXXX";

static void test_superblock(void)
{
    struct superblock sb = {.version = SUPERBLOCK_VERSION,
                            .size = 1ull << 30,
                            .block_size = 4096,
                            .created = 1700000000};
    memset(sb.uuid, 0xab, 16);
    strcpy(sb.name, "vol-1");
    uint8_t buf[SUPERBLOCK_BYTES];
    superblock_encode(&sb, buf);
    struct superblock out;
    char err[256];
    CHECK(superblock_decode(buf, &out, err, sizeof(err)) == 0, "decode: %s", err);
    CHECK(out.size == sb.size && out.block_size == 4096 && strcmp(out.name, "vol-1") == 0 &&
              memcmp(out.uuid, sb.uuid, 16) == 0 && out.created == sb.created,
          "round trip");
    CHECK(memcmp(buf, "TNDMSB", 6) == 0 && buf[32] == 0 && buf[35] == 0x40, "little-endian size");

    for (int i = 0; i < SUPERBLOCK_BYTES; i += 97) { /* any flipped byte is caught */
        uint8_t c[SUPERBLOCK_BYTES];
        memcpy(c, buf, sizeof(c));
        c[i] ^= 0x10;
        CHECK(superblock_decode(c, &out, err, sizeof(err)) < 0, "flip at %d accepted", i);
    }
    uint8_t c[SUPERBLOCK_BYTES];
    memcpy(c, buf, sizeof(c));
    c[100] ^= 1;
    superblock_decode(c, &out, err, sizeof(err));
    CHECK(strstr(err, "checksum mismatch") != NULL, "reason: %s", err);
    memcpy(c, "XFSB", 4);
    superblock_decode(c, &out, err, sizeof(err));
    CHECK(strstr(err, "not a Tandem superblock") != NULL, "foreign reason: %s", err);

    sb.block_size = 3000; /* impossible geometry, but correctly checksummed */
    superblock_encode(&sb, c);
    CHECK(superblock_decode(c, &out, err, sizeof(err)) < 0 && strstr(err, "impossible"),
          "geometry: %s", err);
}

static void test_replica(void)
{
    char dir[512], err[512];
    snprintf(dir, sizeof(dir), "%s/v1", tmpdir);
    CHECK(replica_create(dir, "v1", 8 << 20, 4096, NULL, NULL, NULL, err, sizeof(err)) == 0,
          "create: %s", err);
    CHECK(replica_create(dir, "v1", 8 << 20, 4096, NULL, NULL, NULL, err, sizeof(err)) < 0 &&
              errno == EEXIST,
          "create twice");
    struct replica *r = NULL;
    CHECK(replica_open(dir, CACHE_NONE, &r, err, sizeof(err)) == 0, "open: %s", err);
    if (r) {
        CHECK(r->sb.size == 8 << 20 && strcmp(r->sb.name, "v1") == 0, "superblock read back");
        CHECK((r->sb.uuid[6] >> 4) == 4, "uuid version 4");
        CHECK(replica_allocated_bytes(r) == 0, "data file is sparse (%llu)",
              (unsigned long long)replica_allocated_bytes(r));
        CHECK(!r->direct || r->dio_align >= 512, "dio alignment %u", r->dio_align);
        replica_close(r);
    }
    CHECK(replica_open(dir, CACHE_WRITEBACK, &r, err, sizeof(err)) == 0 && !r->direct,
          "writeback open");
    replica_close(r);

    /* truncated data file: refused, not "repaired" */
    char path[600];
    snprintf(path, sizeof(path), "%s/data", dir);
    CHECK(truncate(path, 4 << 20) == 0, "truncate");
    r = NULL;
    CHECK(replica_open(dir, CACHE_NONE, &r, err, sizeof(err)) < 0 && strstr(err, "refusing"),
          "short data file: %s", err);
    struct stat st;
    stat(path, &st);
    CHECK(st.st_size == 4 << 20, "short data file left as found");

    /* missing superblock */
    snprintf(path, sizeof(path), "%s/superblock", dir);
    unlink(path);
    CHECK(replica_open(dir, CACHE_NONE, &r, err, sizeof(err)) < 0 && strstr(err, "superblock"),
          "missing superblock: %s", err);

    /* a create interrupted before its rename leaves only "<dir>.creating", which the next
     * create of that name clears */
    snprintf(dir, sizeof(dir), "%s/v2", tmpdir);
    snprintf(path, sizeof(path), "%s/v2.creating", tmpdir);
    mkdir(path, 0700);
    CHECK(replica_create(dir, "v2", 1 << 20, 4096, NULL, NULL, NULL, err, sizeof(err)) == 0,
          "create over leftover");
    CHECK(access(path, F_OK) < 0, "leftover removed");

    /* an impossible size is refused by ftruncate limits, with the reason */
    snprintf(dir, sizeof(dir), "%s/huge", tmpdir);
    CHECK(replica_create(dir, "huge", 1ull << 62, 4096, NULL, NULL, NULL, err, sizeof(err)) < 0 &&
              strstr(err, "data file"),
          "huge: %s", err);
    CHECK(access(dir, F_OK) < 0, "failed create leaves nothing");
}

int main(void)
{
    log_init("test_store", LOG_ERROR);
    if (!mkdtemp(tmpdir))
        return 2;
    test_superblock();
    test_replica();
    remove_tree(tmpdir);
    return check_done("test_store");
}
