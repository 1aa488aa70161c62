/* repl/meta_saver: metadata saves leave the calling (reactor) thread, complete on the loop in
 * version order, a save queued behind another of the same owner supersedes it (the file ends
 * with the newest state), drain waits for an owner's saves and drops its completions, and
 * destroy lands every queued save. */
#include "check.h"

#include "repl/meta_saver.h"
#include "util/loop.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t last_version[2];
static unsigned calls[2];
static struct loop loop;
static int owners[2];
static uint64_t stop_at;

static void saved(void *owner, uint64_t version, int err, const char *msg)
{
    int i = owner == &owners[0] ? 0 : 1;
    CHECK(err == 0, "save failed: %s", msg);
    CHECK(version > last_version[i], "versions in order (%llu after %llu)",
          (unsigned long long)version, (unsigned long long)last_version[i]);
    last_version[i] = version;
    calls[i]++;
    if (version >= stop_at)
        loop_stop(&loop);
}

static struct repl_meta meta(enum repl_role role, uint64_t current)
{
    struct repl_meta m = {.role = role, .disk = DISK_UPTODATE, .current = current, .n_members = 1};
    strcpy(m.members[0].node, "n1");
    strcpy(m.members[0].addr, "127.0.0.1:1");
    return m;
}

int main(void)
{
    char dir[] = "/tmp/tandem-meta-saver-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char err[256];
    CHECK(loop_init(&loop) == 0, "loop_init");
    struct meta_saver *s = meta_saver_create(&loop, saved, err, sizeof(err));
    CHECK(s != NULL, "create: %s", err);

    /* many saves in a row: completions arrive on the loop, the last one is on disk */
    uint64_t v = 0;
    for (uint64_t i = 1; i <= 50; i++) {
        struct repl_meta m = meta(i % 2 ? ROLE_PRIMARY : ROLE_SECONDARY, i);
        v = meta_saver_save(s, &owners[0], dir, &m);
    }
    stop_at = v;
    loop_run(&loop);
    CHECK(last_version[0] == v, "the newest version completed (%llu, want %llu)",
          (unsigned long long)last_version[0], (unsigned long long)v);
    CHECK(calls[0] >= 1 && calls[0] <= 50, "superseded saves coalesce: %u completions", calls[0]);
    struct repl_meta back;
    CHECK(repl_meta_load(dir, &back, err, sizeof(err)) == 0, "load: %s", err);
    CHECK(back.current == 50 && back.role == ROLE_SECONDARY, "file holds the newest state");

    /* drain: returns with nothing pending for that owner and runs none of its completions */
    unsigned before = calls[1];
    struct repl_meta m = meta(ROLE_PRIMARY, 77);
    meta_saver_save(s, &owners[1], dir, &m);
    meta_saver_drain(s, &owners[1]);
    CHECK(calls[1] == before, "drained owner gets no completion");
    CHECK(repl_meta_load(dir, &back, err, sizeof(err)) == 0 && back.current == 77,
          "drained save is on disk");

    /* destroy lands what is queued */
    m = meta(ROLE_SECONDARY, 99);
    meta_saver_save(s, &owners[0], dir, &m);
    meta_saver_destroy(s);
    CHECK(repl_meta_load(dir, &back, err, sizeof(err)) == 0 && back.current == 99,
          "destroy finished the queued save");
    loop_destroy(&loop);
    char path[600];
    snprintf(path, sizeof(path), "%s/replication.json", dir);
    unlink(path);
    rmdir(dir);
    return check_done("test_repl_meta_saver");
}
