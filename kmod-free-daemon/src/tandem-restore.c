/* tandem-restore: disaster recovery from a backup store alone (no daemon, no local state).
 *
 *   tandem-restore list    --from URL [--volume VOL] [--json]
 *   tandem-restore restore --from URL --volume VOL --snapshot SNAP|latest --to PATH
 *   tandem-restore verify  --from URL --volume VOL --snapshot SNAP|latest
 *   options: --endpoint URL (else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL), --region R (else
 *            AWS_REGION), --encrypt-key-file FILE, --parallel N, --no-progress
 * S3 credentials come from the usual chain (environment, shared files, web identity,
 * container, IMDSv2; docs/s3-client.md). Exit status: 0 success, 1 failure (one line on stderr
 * says why: a missing snapshot, a corrupt chunk by id, a wrong key, refused credentials), 2
 * usage. A failed restore never leaves a file that looks whole (restore.h). */
#include "ship/manifest.h"
#include "ship/restore.h"
#include "util/log.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *from, *volume, *snapshot, *to;
    struct ship_store_opts store;
    bool json, progress;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: tandem-restore list    --from URL [--volume VOL] [--json]\n"
            "       tandem-restore restore --from URL --volume VOL --snapshot SNAP|latest --to "
            "PATH\n"
            "       tandem-restore verify  --from URL --volume VOL --snapshot SNAP|latest\n"
            "  URL: s3://BUCKET/PREFIX or file:///DIR\n"
            "  [--endpoint URL] [--region R] [--encrypt-key-file FILE] [--parallel N]\n"
            "  [--no-progress]\n");
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void when(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int cmd_list(const struct opts *o)
{
    struct repo r;
    char err[1024] = "";
    int rc = repo_open(&r, o->from, &o->store, false, err, sizeof(err));
    struct manifest *ms = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = manifest_load_all(&r, o->volume, &ms, &n, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "tandem-restore: %s\n", err);
        if (r.be)
            repo_close(&r);
        return 1;
    }
    struct json_object *arr = json_object_new_array();
    if (!o->json)
        printf("%-20s %-24s %8s %14s %-20s %s\n", "VOLUME", "SNAPSHOT", "SEQ", "SIZE", "CREATED",
               "BASE");
    for (size_t i = 0; i < n; i++) {
        const struct manifest *m = &ms[i];
        char created[32], hash[65];
        when(m->created, created, sizeof(created));
        hex_encode(m->image_hash, 32, hash);
        if (!o->json) {
            printf("%-20s %-24s %8" PRIu64 " %14" PRIu64 " %-20s %s\n", m->volume, m->snapshot,
                   m->seq, m->size, created, m->base_snapshot[0] ? m->base_snapshot : "-");
            continue;
        }
        struct json_object *j = json_object_new_object();
        json_object_object_add(j, "volume", json_object_new_string(m->volume));
        json_object_object_add(j, "volume_uuid", json_object_new_string(m->volume_uuid));
        json_object_object_add(j, "snapshot", json_object_new_string(m->snapshot));
        json_object_object_add(j, "seq", json_object_new_uint64(m->seq));
        json_object_object_add(j, "size", json_object_new_uint64(m->size));
        json_object_object_add(j, "created", json_object_new_int64(m->created));
        json_object_object_add(j, "shipped", json_object_new_int64(m->shipped));
        json_object_object_add(j, "base_snapshot", json_object_new_string(m->base_snapshot));
        json_object_object_add(j, "base_seq", json_object_new_uint64(m->base_seq));
        json_object_object_add(j, "image_hash", json_object_new_string(hash));
        json_object_object_add(j, "bytes_uploaded", json_object_new_uint64(m->stat_bytes_uploaded));
        json_object_object_add(j, "objects_written", json_object_new_uint64(m->stat_objects));
        json_object_array_add(arr, j);
    }
    if (o->json)
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
    json_object_put(arr);
    manifest_free_all(ms, n);
    repo_close(&r);
    return 0;
}

struct shower {
    struct restore_progress *prog;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    double t0;
};

static void *show_progress(void *a)
{
    struct shower *s = a;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        uint64_t total = atomic_load(&s->prog->bytes_total),
                 done = atomic_load(&s->prog->bytes_done);
        double dt = now_s() - s->t0;
        if (total)
            fprintf(stderr, "\r%5.1f%%  %" PRIu64 " / %" PRIu64 " MiB  %.1f MB/s   ",
                    100.0 * (double)done / (double)total, done >> 20, total >> 20,
                    dt > 0 ? (double)done / dt / 1e6 : 0.0);
    }
    pthread_mutex_unlock(&s->mu);
    fprintf(stderr, "\r%60s\r", "");
    return NULL;
}

static int cmd_restore(const struct opts *o, bool verify)
{
    struct restore_params p = {.url = o->from,
                               .volume = o->volume,
                               .snapshot = o->snapshot,
                               .target = verify ? NULL : o->to,
                               .store = o->store};
    struct restore_progress prog;
    memset(&prog, 0, sizeof(prog));
    struct restore_result res;
    char err[1024] = "";
    struct shower sh = {.prog = &prog, .t0 = now_s()};
    pthread_mutex_init(&sh.mu, NULL);
    pthread_cond_init(&sh.cv, NULL);
    pthread_t th;
    bool shown = o->progress && isatty(2) && pthread_create(&th, NULL, show_progress, &sh) == 0;
    int rc = restore_run(&p, &prog, &res, err, sizeof(err));
    if (shown) {
        pthread_mutex_lock(&sh.mu);
        sh.stop = true;
        pthread_cond_signal(&sh.cv);
        pthread_mutex_unlock(&sh.mu);
        pthread_join(th, NULL);
    }
    double dt = now_s() - sh.t0;
    if (rc) {
        fprintf(stderr, "tandem-restore: %s\n", err);
        return 1;
    }
    printf("%s volume %s snapshot %s (seq %" PRIu64 "): %" PRIu64 " bytes (%" PRIu64
           " data, %" PRIu64 " holes), %" PRIu64 " chunks checked, %" PRIu64
           " bytes fetched in %" PRIu64 " requests, %.2f s, %.1f MB/s; image hash %s\n",
           verify ? "verified" : "restored", o->volume, res.snapshot, res.seq, res.size,
           res.data_bytes, res.hole_bytes, res.chunks, res.fetched_bytes, res.requests, dt,
           dt > 0 ? (double)res.size / dt / 1e6 : 0.0, res.image_hash);
    return 0;
}

int main(int argc, char **argv)
{
    log_init("tandem-restore", LOG_WARN);
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    struct opts o = {.progress = true};
    static const struct option lo[] = {{"from", 1, 0, 'f'},
                                       {"volume", 1, 0, 'v'},
                                       {"snapshot", 1, 0, 's'},
                                       {"to", 1, 0, 't'},
                                       {"endpoint", 1, 0, 'e'},
                                       {"region", 1, 0, 'r'},
                                       {"encrypt-key-file", 1, 0, 'k'},
                                       {"parallel", 1, 0, 'p'},
                                       {"json", 0, 0, 'j'},
                                       {"no-progress", 0, 0, 'n'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    optind = 2;
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        switch (c) {
        case 'f':
            o.from = optarg;
            break;
        case 'v':
            o.volume = optarg;
            break;
        case 's':
            o.snapshot = optarg;
            break;
        case 't':
            o.to = optarg;
            break;
        case 'e':
            o.store.endpoint = optarg;
            break;
        case 'r':
            o.store.region = optarg;
            break;
        case 'k':
            o.store.encrypt_key_file = optarg;
            break;
        case 'p':
            o.store.parallel = atoi(optarg);
            break;
        case 'j':
            o.json = true;
            break;
        case 'n':
            o.progress = false;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || !o.from)
        usage();
    if (o.store.parallel < 0 || o.store.parallel > 64) {
        fprintf(stderr, "tandem-restore: --parallel takes 1 to 64\n");
        return 2;
    }
    if (strcmp(cmd, "list") == 0)
        return cmd_list(&o);
    if (!o.volume || !o.snapshot)
        usage();
    if (strcmp(cmd, "restore") == 0) {
        if (!o.to)
            usage();
        return cmd_restore(&o, false);
    }
    if (strcmp(cmd, "verify") == 0)
        return cmd_restore(&o, true);
    usage();
}
