#include "ship/backup_cli.h"

#include "ship/prune.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: tandemctl backup prune --from URL --volume VOL --keep-last N\n"
                    "  [--grace SECONDS] [--settle SECONDS] [--no-wait] [--json]\n"
                    "  [--endpoint URL] [--region R] [--encrypt-key-file FILE]\n");
    return 2;
}

static int number(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

int backup_cli_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "prune") != 0)
        return usage();
    struct prune_params p = {.grace_s = 3600, .settle_s = 60, .wait = true};
    bool json = false;
    int64_t keep = 0;
    static const struct option lo[] = {{"from", 1, 0, 'f'},
                                       {"volume", 1, 0, 'v'},
                                       {"keep-last", 1, 0, 'k'},
                                       {"grace", 1, 0, 'g'},
                                       {"settle", 1, 0, 's'},
                                       {"no-wait", 0, 0, 'n'},
                                       {"json", 0, 0, 'j'},
                                       {"endpoint", 1, 0, 'e'},
                                       {"region", 1, 0, 'r'},
                                       {"encrypt-key-file", 1, 0, 'K'},
                                       {0, 0, 0, 0}};
    optind = 2;
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        switch (c) {
        case 'f':
            p.url = optarg;
            break;
        case 'v':
            p.volume = optarg;
            break;
        case 'k':
            if (number(optarg, &keep) || keep < 1 || keep > 1000000)
                return usage();
            p.keep_last = (unsigned)keep;
            break;
        case 'g':
            if (number(optarg, &p.grace_s))
                return usage();
            break;
        case 's':
            if (number(optarg, &p.settle_s))
                return usage();
            break;
        case 'n':
            p.wait = false;
            break;
        case 'j':
            json = true;
            break;
        case 'e':
            p.store.endpoint = optarg;
            break;
        case 'r':
            p.store.region = optarg;
            break;
        case 'K':
            p.store.encrypt_key_file = optarg;
            break;
        default:
            return usage();
        }
    }
    if (optind != argc || !p.url || !p.volume || !p.keep_last)
        return usage();
    struct prune_result r;
    char err[1024] = "";
    if (prune_run(&p, &r, err, sizeof(err)) != 0) {
        fprintf(stderr, "tandemctl: backup prune: %s\n", err);
        return 1;
    }
    if (json)
        printf("{\"manifests_deleted\":%zu,\"manifests_kept\":%zu,\"packs_total\":%zu,"
               "\"packs_live\":%zu,\"packs_deleted\":%zu,\"packs_condemned\":%zu,"
               "\"packs_young\":%zu,\"packs_partly_dead\":%zu,\"packs_rewritten\":%zu,"
               "\"bytes_rewritten\":%" PRIu64 ",\"bytes_freed\":%" PRIu64
               ",\"bytes_dead_in_live_packs\":%" PRIu64 ",\"indexes_replaced\":%zu}\n",
               r.manifests_deleted, r.manifests_kept, r.packs_total, r.packs_live, r.packs_deleted,
               r.packs_condemned, r.packs_young, r.packs_partly_dead, r.packs_rewritten,
               r.bytes_rewritten, r.bytes_freed, r.bytes_dead_in_live_packs, r.indexes_replaced);
    else
        printf("pruned volume %s: %zu snapshot(s) expired, %zu kept; %zu pack(s) deleted "
               "(%" PRIu64 " bytes), %zu condemned (deleted by a later prune), %zu younger "
               "than the grace period, %zu live (%zu with dead chunks, %" PRIu64
               " bytes); %zu mostly-dead pack(s) rewritten\n",
               p.volume, r.manifests_deleted, r.manifests_kept, r.packs_deleted, r.bytes_freed,
               r.packs_condemned, r.packs_young, r.packs_live, r.packs_partly_dead,
               r.bytes_dead_in_live_packs, r.packs_rewritten);
    return 0;
}
