/* tandemctl: the operator's CLI over tandemd's control API (proto/control-api.md).
 * Human-readable tables by default, --json for scripts. Exit codes: 0 success, 1 the daemon
 * refused or failed the request, 2 usage error, 3 the daemon cannot be reached. */
#include "ship/backup_cli.h"
#include "util/size.h"
#include "version.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EXIT_REFUSED     1
#define EXIT_USAGE       2
#define EXIT_UNREACHABLE 3

static const char *control_path;
static bool want_json;

static void usage(FILE *f)
{
    fprintf(f, "usage: tandemctl [--control PATH] [--json] COMMAND\n"
               "  volume create NAME --size SIZE     (SIZE like 256M, 10G)\n"
               "         [--replica NODE@HOST:PORT ...] [--witness NODE@HOST:PORT ...]\n"
               "         [--on-no-quorum suspend|io-error]   (a witness votes, holds no data)\n"
               "  volume promote NAME [--force [--no-quorum]] | demote NAME\n"
               "  volume list | status NAME | delete NAME\n"
               "  volume expand NAME --size SIZE     (grow online, on the primary)\n"
               "  volume verify NAME       (on the primary; exit 1 if replicas differ)\n"
               "  volume resolve NAME --discard-local   (on the split-brain victim)\n"
               "  node status\n"
               "  snapshot create|delete VOL SNAP | list VOL\n"
               "  snapshot ship VOL SNAP --to s3://BUCKET/PREFIX|file:///DIR [--full] [--wait]\n"
               "         [--endpoint URL] [--region REGION] [--encrypt-key-file FILE]\n"
               "  snapshot export VOL SNAP --to /PATH [--wait]\n"
               "  snapshot copy VOL SNAP --to nbd://HOST:PORT/EXPORT [--wait]\n"
               "  backup prune --from URL --volume VOL --keep-last N   (no daemon needed)\n"
               "--control defaults to $TANDEM_CONTROL.\n");
}

static int die_usage(const char *msg)
{
    /* one line and a pointer, not the whole usage: errors stay readable in scripts' logs */
    fprintf(stderr, "tandemctl: %s (tandemctl --help lists the commands)\n", msg);
    return EXIT_USAGE;
}

/* Sends one request and returns the parsed response, or NULL after printing why. */
static struct json_object *call(struct json_object *req, int *exit_code)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(control_path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "tandemctl: control socket path too long\n");
        *exit_code = EXIT_USAGE;
        return NULL;
    }
    strcpy(sa.sun_path, control_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "tandemctl: cannot reach tandemd at %s: %s (is tandemd running?)\n",
                control_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        *exit_code = EXIT_UNREACHABLE;
        return NULL;
    }
    struct timeval tv = {.tv_sec = 120};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(s);
    char *line = malloc(len + 2);
    if (!line) {
        fprintf(stderr, "tandemctl: out of memory\n");
        close(fd);
        *exit_code = EXIT_REFUSED;
        return NULL;
    }
    memcpy(line, s, len);
    line[len] = '\n';
    ssize_t w = send(fd, line, len + 1, MSG_NOSIGNAL);
    free(line);
    if (w != (ssize_t)(len + 1)) {
        fprintf(stderr, "tandemctl: sending to %s failed\n", control_path);
        close(fd);
        *exit_code = EXIT_UNREACHABLE;
        return NULL;
    }
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "tandemctl: out of memory\n");
        close(fd);
        *exit_code = EXIT_REFUSED;
        return NULL;
    }
    for (;;) {
        if (got + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + got, cap - got - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(buf + got - n, '\n', (size_t)n))
            break;
    }
    close(fd);
    buf[got] = '\0';
    struct json_object *resp = json_tokener_parse(buf);
    free(buf);
    if (!resp) {
        fprintf(stderr, "tandemctl: tandemd closed the connection without an answer\n");
        *exit_code = EXIT_UNREACHABLE;
    }
    return resp;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static uint64_t ju64(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static void print_volume_row(struct json_object *v)
{
    char size[32] = "-";
    if (strcmp(jstr(v, "state"), "ready") == 0)
        size_format(ju64(v, "size"), size, sizeof(size));
    printf("%-24s %-8s %10s %7s  %s\n", jstr(v, "name"), jstr(v, "state"), size,
           strcmp(jstr(v, "state"), "ready") == 0 ? jstr(v, "clients") : "-",
           strcmp(jstr(v, "state"), "broken") == 0 ? jstr(v, "error") : jstr(v, "uuid"));
}

static void print_status(struct json_object *v)
{
    printf("name:       %s\nstate:      %s\n", jstr(v, "name"), jstr(v, "state"));
    if (strcmp(jstr(v, "state"), "broken") == 0) {
        printf("error:      %s\n", jstr(v, "error"));
        return;
    }
    char size[32], alloc[32];
    size_format(ju64(v, "size"), size, sizeof(size));
    size_format(ju64(v, "allocated"), alloc, sizeof(alloc));
    printf("uuid:       %s\nsize:       %s (%llu bytes)\nallocated:  %s\nblock size: %s\n"
           "cache:      %s\nclients:    %s\npath:       %s\n",
           jstr(v, "uuid"), size, (unsigned long long)ju64(v, "size"), alloc, jstr(v, "block_size"),
           jstr(v, "cache"), jstr(v, "clients"), jstr(v, "path"));
    struct json_object *reps;
    if (json_object_object_get_ex(v, "replicas", &reps)) {
        printf("role:       %s\ndisk:       %s\nquorum:     %s%s\n", jstr(v, "role"),
               jstr(v, "disk"), strcmp(jstr(v, "quorum"), "true") == 0 ? "yes" : "NO",
               strcmp(jstr(v, "suspended_writes"), "true") == 0 ? " (writes suspended)" : "");
        if (strcmp(jstr(v, "split_brain"), "true") == 0)
            printf("!!! SPLIT BRAIN on %s: replicas diverged and exchange nothing. Choose the "
                   "victim and run there: tandemctl volume resolve %s --discard-local !!!\n",
                   jstr(v, "name"), jstr(v, "name"));
        if (strcmp(jstr(v, "quorum_override"), "true") == 0)
            printf("!!! writing WITHOUT QUORUM by operator override !!!\n");
        struct json_object *why;
        if (json_object_object_get_ex(v, "disk_reason", &why))
            printf("outdated:   %s\n", json_object_get_string(why));
        printf("replicas:\n  %-12s %-10s %-10s %-12s %-14s %s\n", "NODE", "ZONE", "ROLE", "DISK",
               "CONNECTION", "RESYNC");
        for (size_t i = 0; i < json_object_array_length(reps); i++) {
            struct json_object *r = json_object_array_get_idx(reps, i), *rs;
            char resync[64] = "";
            if (json_object_object_get_ex(r, "resync", &rs))
                snprintf(resync, sizeof(resync), "%s of %s regions left", jstr(rs, "regions_left"),
                         jstr(rs, "regions_total"));
            printf("  %-12s %-10s %-10s %-12s %-14s %s\n", jstr(r, "node"), jstr(r, "zone"),
                   jstr(r, "role"), jstr(r, "disk"), jstr(r, "connection"), resync);
        }
    }
    struct json_object *io;
    if (json_object_object_get_ex(v, "io", &io))
        printf(
            "io:         %llu reads (%llu bytes), %llu writes (%llu bytes), %llu flushes, "
            "%llu trims, %llu zeroes, %llu errors\n",
            (unsigned long long)ju64(io, "reads"), (unsigned long long)ju64(io, "bytes_read"),
            (unsigned long long)ju64(io, "writes"), (unsigned long long)ju64(io, "bytes_written"),
            (unsigned long long)ju64(io, "flushes"), (unsigned long long)ju64(io, "trims"),
            (unsigned long long)ju64(io, "write_zeroes"), (unsigned long long)ju64(io, "errors"));
}

static int run(struct json_object *req, const char *what)
{
    int code = 0;
    struct json_object *resp = call(req, &code);
    json_object_put(req);
    if (!resp)
        return code;
    struct json_object *okv;
    bool ok = json_object_object_get_ex(resp, "ok", &okv) && json_object_get_boolean(okv);
    if (!ok) {
        fprintf(stderr, "tandemctl: %s\n", jstr(resp, "error"));
        if (want_json)
            printf("%s\n", json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PRETTY));
        json_object_put(resp);
        return EXIT_REFUSED;
    }
    if (want_json) {
        struct json_object *body = NULL;
        if (!json_object_object_get_ex(resp, "volumes", &body) &&
            !json_object_object_get_ex(resp, "volume", &body) &&
            !json_object_object_get_ex(resp, "node", &body))
            body = resp;
        printf("%s\n", json_object_to_json_string_ext(body, JSON_C_TO_STRING_PRETTY));
    } else if (strcmp(what, "list") == 0) {
        struct json_object *arr;
        json_object_object_get_ex(resp, "volumes", &arr);
        printf("%-24s %-8s %10s %7s  %s\n", "NAME", "STATE", "SIZE", "CLIENTS", "UUID / ERROR");
        for (size_t i = 0; i < json_object_array_length(arr); i++)
            print_volume_row(json_object_array_get_idx(arr, i));
    } else if (strcmp(what, "status") == 0) {
        struct json_object *v;
        json_object_object_get_ex(resp, "volume", &v);
        print_status(v);
    } else if (strcmp(what, "create") == 0) {
        struct json_object *v;
        json_object_object_get_ex(resp, "volume", &v);
        printf("created volume %s (%s)\n", jstr(v, "name"), jstr(v, "uuid"));
    } else if (strcmp(what, "node") == 0) {
        struct json_object *n;
        json_object_object_get_ex(resp, "node", &n);
        printf("node:      %s\nzone:      %s\nio engine: %s\ncache:     %s\nnbd:       %s\n"
               "version:   %s\n",
               jstr(n, "node"), jstr(n, "zone"), jstr(n, "io_engine"), jstr(n, "cache"),
               jstr(n, "nbd"), jstr(n, "version"));
    }
    json_object_put(resp);
    return 0;
}

static struct json_object *request(const char *op, const char *name)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "op", json_object_new_string(op));
    if (name)
        json_object_object_add(o, "name", json_object_new_string(name));
    return o;
}

static void print_verify(const char *name, struct json_object *vf)
{
    struct json_object *peers, *list;
    json_object_object_get_ex(vf, "peers", &peers);
    json_object_object_get_ex(vf, "mismatches", &list);
    printf("verify of %s: %s of %s regions in %.1f s\n", name, jstr(vf, "regions_done"),
           jstr(vf, "regions_total"), (double)ju64(vf, "elapsed_ms") / 1000);
    for (size_t i = 0; peers && i < json_object_array_length(peers); i++) {
        struct json_object *p = json_object_array_get_idx(peers, i);
        printf("  %-12s %s regions differ, %s not compared\n", jstr(p, "node"),
               jstr(p, "mismatched_regions"), jstr(p, "regions_not_compared"));
    }
    for (size_t i = 0; list && i < json_object_array_length(list); i++) {
        struct json_object *m = json_object_array_get_idx(list, i);
        printf("  differs: node %s region %s (offset %s, %s bytes): %s\n", jstr(m, "node"),
               jstr(m, "region"), jstr(m, "offset"), jstr(vf, "region_bytes"), jstr(m, "action"));
    }
    if (strcmp(jstr(vf, "mismatches_truncated"), "true") == 0)
        printf("  (list truncated; counts above are complete)\n");
}

/* volume verify: start the pass, then follow it in status until it ends. Exit 0 when every
 * region matched, 1 when some differ (or it could not run). */
static int run_verify(const char *name)
{
    int code = 0;
    struct json_object *req = request("volume.verify", name);
    struct json_object *resp = call(req, &code);
    json_object_put(req);
    if (!resp)
        return code;
    struct json_object *okv;
    if (!json_object_object_get_ex(resp, "ok", &okv) || !json_object_get_boolean(okv)) {
        fprintf(stderr, "tandemctl: %s\n", jstr(resp, "error"));
        json_object_put(resp);
        return EXIT_REFUSED;
    }
    json_object_put(resp);
    for (;;) {
        req = request("volume.status", name);
        resp = call(req, &code);
        json_object_put(req);
        if (!resp)
            return code;
        struct json_object *vol, *vf;
        if (!json_object_object_get_ex(resp, "volume", &vol) ||
            !json_object_object_get_ex(vol, "verify", &vf)) {
            fprintf(stderr, "tandemctl: the daemon reports no verify for %s\n", name);
            json_object_put(resp);
            return EXIT_REFUSED;
        }
        if (strcmp(jstr(vf, "state"), "running") != 0) {
            int rc =
                ju64(vf, "mismatched_regions") || ju64(vf, "local_read_errors") ? EXIT_REFUSED : 0;
            if (want_json)
                printf("%s\n", json_object_to_json_string_ext(vf, JSON_C_TO_STRING_PRETTY));
            else
                print_verify(name, vf);
            json_object_put(resp);
            return rc;
        }
        json_object_put(resp);
        usleep(100 * 1000);
    }
}

/* ---- backup: backup-store commands run here in the client, no daemon (ship/backup_cli.h) ---- */
static int backup_main(int argc, char **argv)
{
    return backup_cli_main(argc, argv);
}

/* ---- snapshot commands ---- */

/* call() that also frees the request. */
static struct json_object *call_put(struct json_object *req, int *exit_code)
{
    struct json_object *resp = call(req, exit_code);
    json_object_put(req);
    return resp;
}

static bool resp_ok(struct json_object *resp)
{
    struct json_object *okv;
    return json_object_object_get_ex(resp, "ok", &okv) && json_object_get_boolean(okv);
}

/* call_put() that also turns a refusal into its printed error: the response only if "ok",
 * else NULL with *exit_code set (EXIT_REFUSED, or call()'s code). */
static struct json_object *call_ok(struct json_object *req, int *exit_code)
{
    struct json_object *resp = call_put(req, exit_code);
    if (resp && !resp_ok(resp)) {
        fprintf(stderr, "tandemctl: %s\n", jstr(resp, "error"));
        json_object_put(resp);
        *exit_code = EXIT_REFUSED;
        return NULL;
    }
    return resp;
}

static struct json_object *snap_request(const char *op, const char *vol, const char *snap)
{
    struct json_object *o = request(op, snap);
    json_object_object_add(o, "volume", json_object_new_string(vol));
    return o;
}

static void print_snapshots(struct json_object *arr)
{
    printf("%-24s %6s %-20s %10s %10s  %s\n", "NAME", "SEQ", "CREATED", "SIZE", "COW", "LAST SHIP");
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *o = json_object_array_get_idx(arr, i), *job, *last;
        char size[32], cow[32], when[32], ship[256] = "-";
        size_format(ju64(o, "size"), size, sizeof(size));
        size_format(ju64(o, "cow_bytes"), cow, sizeof(cow));
        time_t t = (time_t)ju64(o, "created");
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&t));
        if (json_object_object_get_ex(o, "job", &job))
            snprintf(ship, sizeof(ship), "%s %s %s%s%s", jstr(job, "kind"), jstr(job, "state"),
                     jstr(job, "to"), *jstr(job, "error") ? ": " : "", jstr(job, "error"));
        else if (json_object_object_get_ex(o, "last_ship", &last))
            snprintf(ship, sizeof(ship), "%s %s", jstr(last, "state"), jstr(last, "to"));
        printf("%-24s %6llu %-20s %10s %10s  %s\n", jstr(o, "name"),
               (unsigned long long)ju64(o, "seq"), when, size, cow, ship);
    }
}

/* Polls snapshot.list until the snapshot's job ends; a progress bar when stderr is a terminal. */
static int wait_job(const char *vol, const char *snap)
{
    bool tty = isatty(2);
    struct timeval t0, now;
    gettimeofday(&t0, NULL);
    for (;;) {
        int code = 0;
        struct json_object *resp = call_ok(snap_request("snapshot.list", vol, NULL), &code);
        if (!resp)
            return code;
        struct json_object *arr, *job = NULL;
        json_object_object_get_ex(resp, "snapshots", &arr);
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *o = json_object_array_get_idx(arr, i);
            if (strcmp(jstr(o, "name"), snap) == 0)
                json_object_object_get_ex(o, "job", &job);
        }
        if (!job) {
            fprintf(stderr, "tandemctl: no job for snapshot %s\n", snap);
            json_object_put(resp);
            return EXIT_REFUSED;
        }
        const char *state = jstr(job, "state");
        uint64_t total = ju64(job, "bytes_total"), done = ju64(job, "bytes_read");
        uint64_t up = ju64(job, "bytes_uploaded");
        gettimeofday(&now, NULL);
        double secs = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_usec - t0.tv_usec) / 1e6;
        if (tty && strcmp(state, "running") == 0) {
            int pct = total ? (int)(done * 100 / total) : 0, w = pct * 30 / 100;
            fprintf(stderr, "\r[%.*s%*s] %3d%%  read %llu MiB of %llu MiB, stored %llu MiB  ", w,
                    "##############################", 30 - w, "", pct,
                    (unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
                    (unsigned long long)(up >> 20));
        }
        if (strcmp(state, "running") != 0) {
            if (tty)
                fprintf(stderr, "\r%90s\r", "");
            int rc = 0;
            if (want_json) {
                printf("%s\n", json_object_to_json_string_ext(job, JSON_C_TO_STRING_PRETTY));
            } else if (strcmp(state, "done") == 0 && strcmp(jstr(job, "kind"), "ship") != 0) {
                printf("%s of %s/%s done: read %llu bytes, wrote %llu bytes to %s in %.1f s\n",
                       jstr(job, "kind"), vol, snap, (unsigned long long)done,
                       (unsigned long long)up, jstr(job, "to"), secs);
            } else if (strcmp(state, "done") == 0) {
                printf("%s of %s/%s %s: read %llu bytes, stored %llu bytes (%llu new chunks, "
                       "%llu reused, %llu objects) in %.1f s\n",
                       jstr(job, "kind"), vol, snap, "done", (unsigned long long)done,
                       (unsigned long long)up, (unsigned long long)ju64(job, "chunks_new"),
                       (unsigned long long)ju64(job, "chunks_reused"),
                       (unsigned long long)ju64(job, "objects_written"), secs);
            }
            if (strcmp(state, "done") != 0) {
                fprintf(stderr, "tandemctl: %s of %s/%s %s: %s\n", jstr(job, "kind"), vol, snap,
                        state, jstr(job, "error"));
                rc = EXIT_REFUSED;
            }
            json_object_put(resp);
            return rc;
        }
        json_object_put(resp);
        usleep(tty ? 200000 : 100000);
    }
}

/* argv: the words after "snapshot". Options of its own; --control/--json were taken already. */
static int snapshot_cli(int argc, char **argv)
{
    const char *pos[4], *to = NULL, *endpoint = NULL, *region = NULL, *key_file = NULL;
    int npos = 0;
    bool full = false, wait = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(a, "--endpoint") == 0 && i + 1 < argc)
            endpoint = argv[++i];
        else if (strcmp(a, "--region") == 0 && i + 1 < argc)
            region = argv[++i];
        else if (strcmp(a, "--encrypt-key-file") == 0 && i + 1 < argc)
            key_file = argv[++i];
        else if (strcmp(a, "--full") == 0)
            full = true;
        else if (strcmp(a, "--wait") == 0)
            wait = true;
        else if (strcmp(a, "--json") == 0)
            want_json = true;
        else if (a[0] == '-')
            return die_usage("snapshot: unknown option or missing value");
        else if (npos < 4)
            pos[npos++] = a;
        else
            return die_usage("snapshot: too many arguments");
    }
    if (npos < 2)
        return die_usage("snapshot: expected a command and a volume");
    const char *verb = pos[0], *vol = pos[1], *snap = npos > 2 ? pos[2] : NULL;
    if (strcmp(verb, "list") == 0 && npos == 2) {
        int code = 0;
        struct json_object *resp = call_ok(snap_request("snapshot.list", vol, NULL), &code);
        if (!resp)
            return code;
        struct json_object *arr;
        json_object_object_get_ex(resp, "snapshots", &arr);
        if (want_json)
            printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
        else
            print_snapshots(arr);
        json_object_put(resp);
        return 0;
    }
    if (npos != 3)
        return die_usage("snapshot: expected VOL SNAP");
    if (strcmp(verb, "create") == 0 || strcmp(verb, "delete") == 0) {
        bool create = strcmp(verb, "create") == 0;
        int code = 0;
        struct json_object *resp =
            call_ok(snap_request(create ? "snapshot.create" : "snapshot.delete", vol, snap), &code);
        if (!resp)
            return code;
        if (want_json) {
            printf("%s\n", json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PRETTY));
        } else if (create) {
            struct json_object *o, *reps;
            json_object_object_get_ex(resp, "snapshot", &o);
            printf("snapshot %s of %s taken (seq %llu)\n", snap, vol,
                   (unsigned long long)ju64(o, "seq"));
            if (json_object_object_get_ex(o, "replicas", &reps))
                for (size_t i = 0; i < json_object_array_length(reps); i++) {
                    struct json_object *r = json_object_array_get_idx(reps, i);
                    printf("  %-12s %s%s%s\n", jstr(r, "node"), jstr(r, "state"),
                           *jstr(r, "reason") ? ": " : "", jstr(r, "reason"));
                }
        } else {
            printf("snapshot %s of %s deleted\n", snap, vol);
        }
        json_object_put(resp);
        return 0;
    }
    if (strcmp(verb, "ship") == 0 || strcmp(verb, "export") == 0 || strcmp(verb, "copy") == 0) {
        bool ship = strcmp(verb, "ship") == 0, copy = strcmp(verb, "copy") == 0;
        if (!to)
            return die_usage(ship   ? "snapshot ship needs --to s3://BUCKET/PREFIX or file:///DIR"
                             : copy ? "snapshot copy needs --to nbd://HOST:PORT/EXPORT"
                                    : "snapshot export needs --to /PATH");
        struct json_object *req = snap_request(ship   ? "snapshot.ship"
                                               : copy ? "snapshot.copy"
                                                      : "snapshot.export",
                                               vol, snap);
        json_object_object_add(req, ship || copy ? "to" : "path", json_object_new_string(to));
        if (full)
            json_object_object_add(req, "full", json_object_new_boolean(1));
        if (endpoint)
            json_object_object_add(req, "endpoint", json_object_new_string(endpoint));
        if (region)
            json_object_object_add(req, "region", json_object_new_string(region));
        if (key_file)
            json_object_object_add(req, "encrypt_key_file", json_object_new_string(key_file));
        int code = 0;
        struct json_object *resp = call_ok(req, &code);
        if (!resp)
            return code;
        json_object_put(resp);
        if (wait)
            return wait_job(vol, snap);
        if (!want_json)
            printf("%s of %s/%s started; see tandemctl snapshot list %s\n", verb, vol, snap, vol);
        return 0;
    }
    return die_usage("snapshot: unknown command");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "backup") == 0)
        return backup_main(argc - 1, argv + 1);
    control_path = getenv("TANDEM_CONTROL");
    /* "snapshot ..." has options of its own: hand it everything after the word. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--control") == 0 && i + 1 < argc) {
            control_path = argv[++i];
        } else if (strncmp(argv[i], "--control=", 10) == 0) {
            control_path = argv[i] + 10;
        } else if (strcmp(argv[i], "--json") == 0) {
            want_json = true;
        } else if (strcmp(argv[i], "snapshot") == 0) {
            if (!control_path || !*control_path)
                return die_usage("no control socket: pass --control PATH or set TANDEM_CONTROL");
            return snapshot_cli(argc - i - 1, argv + i + 1);
        } else {
            break;
        }
    }
    const char *pos[8];
    int npos = 0;
    const char *size_arg = NULL, *no_quorum = NULL;
    const char *replicas[8], *witnesses[8];
    int nrep = 0, nwit = 0;
    bool force = false, no_quorum_override = false, discard_local = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--control") == 0 && i + 1 < argc)
            control_path = argv[++i];
        else if (strncmp(a, "--control=", 10) == 0)
            control_path = a + 10;
        else if (strcmp(a, "--json") == 0)
            want_json = true;
        else if (strcmp(a, "--force") == 0)
            force = true;
        else if (strcmp(a, "--no-quorum") == 0)
            no_quorum_override = true;
        else if (strcmp(a, "--discard-local") == 0)
            discard_local = true;
        else if (strcmp(a, "--replica") == 0 && i + 1 < argc) {
            if (nrep == 8)
                return die_usage("too many --replica");
            replicas[nrep++] = argv[++i];
        } else if (strcmp(a, "--witness") == 0 && i + 1 < argc) {
            if (nwit == 8)
                return die_usage("too many --witness");
            witnesses[nwit++] = argv[++i];
        } else if (strcmp(a, "--on-no-quorum") == 0 && i + 1 < argc) {
            no_quorum = argv[++i];
            if (strcmp(no_quorum, "suspend") != 0 && strcmp(no_quorum, "io-error") != 0)
                return die_usage("--on-no-quorum takes suspend or io-error");
        } else if (strcmp(a, "--size") == 0 && i + 1 < argc)
            size_arg = argv[++i];
        else if (strncmp(a, "--size=", 7) == 0)
            size_arg = a + 7;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("tandemctl %s\n", TANDEM_VERSION);
            return 0;
        } else if (a[0] == '-' && a[1] == '-')
            return die_usage("unknown option or missing value");
        else if (npos < 8)
            pos[npos++] = a;
        else
            return die_usage("too many arguments");
    }
    if (npos < 2)
        return die_usage("missing command");
    if (!control_path || !*control_path)
        return die_usage("no control socket: pass --control PATH or set TANDEM_CONTROL");
    const char *noun = pos[0], *verb = pos[1];
    if (strcmp(noun, "node") == 0 && strcmp(verb, "status") == 0 && npos == 2)
        return run(request("node.status", NULL), "node");
    if (strcmp(noun, "volume") != 0)
        return die_usage("unknown command");
    if (strcmp(verb, "list") == 0 && npos == 2)
        return run(request("volume.list", NULL), "list");
    if (npos != 3)
        return die_usage("expected: volume create|status|delete NAME");
    const char *name = pos[2];
    if (strcmp(verb, "create") == 0 || strcmp(verb, "expand") == 0) {
        bool create = strcmp(verb, "create") == 0;
        uint64_t size;
        if (!size_arg)
            return die_usage(create ? "volume create needs --size SIZE"
                                    : "volume expand needs --size SIZE");
        if (size_parse(size_arg, &size) < 0 || size == 0) {
            fprintf(stderr,
                    "tandemctl: invalid size \"%s\": use an integer with an optional "
                    "K, M, G, T suffix (e.g. 256M, 10G)\n",
                    size_arg);
            return EXIT_USAGE;
        }
        if (size > INT64_MAX) {
            fprintf(stderr, "tandemctl: size %s is too large\n", size_arg);
            return EXIT_USAGE;
        }
        struct json_object *req = request(create ? "volume.create" : "volume.expand", name);
        json_object_object_add(req, "size", json_object_new_int64((int64_t)size));
        if (!create) {
            int rc = run(req, "expand");
            if (rc == 0 && !want_json)
                printf("volume %s is now %s\n", name, size_arg);
            return rc;
        }
        if (nrep) {
            struct json_object *arr = json_object_new_array();
            for (int k = 0; k < nrep; k++)
                json_object_array_add(arr, json_object_new_string(replicas[k]));
            json_object_object_add(req, "replicas", arr);
        }
        if (nwit && !nrep)
            return die_usage("--witness needs data replicas (--replica) too");
        if (nwit) {
            struct json_object *arr = json_object_new_array();
            for (int k = 0; k < nwit; k++)
                json_object_array_add(arr, json_object_new_string(witnesses[k]));
            json_object_object_add(req, "witnesses", arr);
        }
        if (no_quorum)
            json_object_object_add(req, "on_no_quorum", json_object_new_string(no_quorum));
        return run(req, "create");
    }
    if (strcmp(verb, "status") == 0)
        return run(request("volume.status", name), "status");
    if (strcmp(verb, "verify") == 0)
        return run_verify(name);
    if (strcmp(verb, "resolve") == 0) {
        if (!discard_local)
            return die_usage("volume resolve needs --discard-local (on the split-brain victim)");
        struct json_object *req = request("volume.resolve", name);
        json_object_object_add(req, "discard_local", json_object_new_boolean(1));
        int rc = run(req, "resolve");
        if (rc == 0 && !want_json)
            printf("volume %s: local changes discarded; resyncing from the other side\n", name);
        return rc;
    }
    if (strcmp(verb, "promote") == 0 || strcmp(verb, "demote") == 0) {
        struct json_object *req =
            request(strcmp(verb, "promote") == 0 ? "volume.promote" : "volume.demote", name);
        if (force)
            json_object_object_add(req, "force", json_object_new_boolean(1));
        if (no_quorum_override)
            json_object_object_add(req, "no_quorum", json_object_new_boolean(1));
        int rc = run(req, "role");
        if (rc == 0 && !want_json)
            printf("volume %s is now %s here\n", name,
                   strcmp(verb, "promote") == 0 ? "primary" : "secondary");
        return rc;
    }
    if (strcmp(verb, "delete") == 0) {
        int rc = run(request("volume.delete", name), "delete");
        if (rc == 0 && !want_json)
            printf("deleted volume %s\n", name);
        return rc;
    }
    return die_usage("unknown volume command");
}
