/* tandem-s3: the operator's CLI over the S3 client library (and the tool its tests drive).
 *
 *   tandem-s3 [options] COMMAND ARGS...
 *     mb|rb s3://bucket                      create / delete a bucket
 *     put FILE|- s3://bucket/key             upload (multipart above the threshold)
 *     get s3://bucket/key FILE|-             download (parallel ranges above the threshold)
 *     head s3://bucket/key                   size, ETag, Last-Modified
 *     ls s3://bucket[/prefix]                every key, following continuation tokens
 *     rm s3://bucket/key                     DeleteObject
 *     rm-many s3://bucket KEY...|--prefix P  DeleteObjects in batches of 1000
 *     mpu-put FILE s3://bucket/key           upload, always multipart
 *     put-many DIR s3://bucket/prefix/       upload every regular file of DIR in parallel
 *     get-many s3://bucket/prefix/ DIR       download every object under prefix in parallel
 *     mpu-list s3://bucket[/prefix]          in-progress multipart uploads
 *     mpu-abort s3://bucket/key UPLOAD_ID    abort one
 *     creds [--repeat N --interval-ms MS]    which credential source answers (never secrets)
 * Exit status: 0 success, 1 the operation failed (one line on stderr says why), 2 usage. */
#include "s3/s3_ops.h"
#include "s3/s3_transfer.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct cli {
    struct s3_client_config cfg;
    struct s3_xfer_opts xo;
    const char *range, *if_match, *if_none_match, *prefix;
    int max_keys, repeat, interval_ms, show_pages;
    struct s3_creds_provider *creds;
    struct s3_client *c;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: tandem-s3 [--endpoint URL] [--region R] [--path-style|--virtual-host]\n"
            "  [--parallel N] [--part-size BYTES] [--multipart-threshold BYTES] [--md5]\n"
            "  [--max-attempts N] [--retry-base-ms MS] [--retry-max-ms MS]\n"
            "  [--stall-timeout S] [--connect-timeout-ms MS] [--sign-payload|--unsigned-payload]\n"
            "  [--ca-bundle FILE] [--range A-B] [--if-match ETAG] [--if-none-match ETAG|*]\n"
            "  [--max-keys N] [--pages] [--hash-threads N|-1] [--verbose]\n"
            "  mb|rb|put|get|head|ls|rm|rm-many|mpu-put|put-many|get-many|mpu-list|mpu-abort|"
            "creds ...\n");
    exit(2);
}

static int split_url(const char *url, char *bucket, size_t bcap, const char **key)
{
    if (strncmp(url, "s3://", 5) != 0)
        return -1;
    const char *b = url + 5, *slash = strchr(b, '/');
    size_t n = slash ? (size_t)(slash - b) : strlen(b);
    if (n == 0 || n >= bcap)
        return -1;
    memcpy(bucket, b, n);
    bucket[n] = '\0';
    *key = slash ? slash + 1 : "";
    return 0;
}

static int report(const struct s3_error *e)
{
    char buf[1200];
    fprintf(stderr, "tandem-s3: %s\n", s3_error_str(e, buf, sizeof(buf)));
    return 1;
}

static int cmd_bucket(struct cli *cl, int create, const char *url)
{
    char bucket[64];
    const char *key;
    if (split_url(url, bucket, sizeof(bucket), &key))
        usage();
    struct s3_req *r =
        create ? s3_op_create_bucket(bucket, s3_client_region(cl->c)) : s3_op_delete_bucket(bucket);
    int rc = s3_run_one(cl->c, r) ? report(&r->err) : 0;
    s3_req_free(r);
    return rc;
}

static int open_src(const char *path, struct s3_src *src, char **mem)
{
    *mem = NULL;
    if (strcmp(path, "-") == 0) { /* stdin: read it into memory (pipes cannot be pread) */
        size_t cap = 1 << 20, len = 0;
        char *b = malloc(cap);
        for (ssize_t n; b && (n = read(0, b + len, cap - len)) != 0;) {
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                free(b);
                return -1;
            }
            len += (size_t)n;
            if (len == cap) {
                char *nb = realloc(b, cap *= 2);
                if (!nb)
                    free(b);
                b = nb;
            }
        }
        if (!b)
            return -1;
        *mem = b;
        *src = (struct s3_src){.kind = S3_SRC_MEM, .mem = b, .len = len};
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "tandem-s3: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *src = (struct s3_src){.kind = S3_SRC_FD, .fd = fd, .off = 0, .len = (uint64_t)st.st_size};
    return 0;
}

static int cmd_put(struct cli *cl, const char *path, const char *url, int force_mpu)
{
    char bucket[64];
    const char *key;
    if (split_url(url, bucket, sizeof(bucket), &key) || !*key)
        usage();
    struct s3_src src;
    char *mem;
    if (open_src(path, &src, &mem) != 0)
        return 1;
    struct s3_xfer_opts o = cl->xo;
    if (force_mpu)
        o.threshold = 1;
    o.if_none_match = cl->if_none_match;
    struct s3_error err;
    s3_error_clear(&err);
    int rc = s3_upload(cl->c, bucket, key, &src, &o, &err) ? report(&err) : 0;
    if (src.kind == S3_SRC_FD)
        close(src.fd);
    free(mem);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int cmd_get(struct cli *cl, const char *url, const char *path)
{
    char bucket[64];
    const char *key;
    if (split_url(url, bucket, sizeof(bucket), &key) || !*key)
        usage();
    int to_stdout = strcmp(path, "-") == 0;
    if (cl->range || to_stdout) { /* one GET into memory, then out */
        uint64_t a = 0, b = 0;
        if (cl->range && sscanf(cl->range, "%" SCNu64 "-%" SCNu64, &a, &b) != 2)
            usage();
        struct s3_sink sink = {.kind = S3_SINK_MEM};
        struct s3_req *r = s3_op_get(bucket, key, &sink, a, cl->range ? b - a + 1 : 0);
        if (cl->if_match)
            s3_req_header(r, "If-Match", cl->if_match);
        if (cl->if_none_match)
            s3_req_header(r, "If-None-Match", cl->if_none_match);
        int rc = 0;
        if (s3_run_one(cl->c, r) != 0) {
            rc = report(&r->err);
        } else {
            int fd = to_stdout ? 1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0 || write_all(fd, r->body ? r->body : "", r->body_len) != 0) {
                fprintf(stderr, "tandem-s3: %s: %s\n", path, strerror(errno));
                rc = 1;
            }
            if (fd > 1)
                close(fd);
        }
        s3_req_free(r);
        return rc;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "tandem-s3: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct s3_sink sink = {.kind = S3_SINK_FD, .fd = fd};
    struct s3_xfer_opts o = cl->xo;
    o.if_match = cl->if_match;
    struct s3_error err;
    s3_error_clear(&err);
    uint64_t size = 0;
    int rc = s3_download(cl->c, bucket, key, &sink, &o, &size, &err) ? report(&err) : 0;
    if (rc == 0 && ftruncate(fd, (off_t)size) != 0)
        rc = 1;
    close(fd);
    return rc;
}

static int cmd_head(struct cli *cl, const char *url)
{
    char bucket[64];
    const char *key;
    if (split_url(url, bucket, sizeof(bucket), &key) || !*key)
        usage();
    struct s3_req *r = s3_op_head(bucket, key);
    if (cl->if_match)
        s3_req_header(r, "If-Match", cl->if_match);
    if (cl->if_none_match)
        s3_req_header(r, "If-None-Match", cl->if_none_match);
    int rc = 0;
    if (s3_run_one(cl->c, r) != 0)
        rc = report(&r->err);
    else
        printf("size %" PRIu64 "\netag %s\nlast-modified %s\n", r->content_length, r->etag,
               r->last_modified);
    s3_req_free(r);
    return rc;
}

static int print_obj(const struct s3_object_info *o, void *arg)
{
    (void)arg;
    printf("%" PRIu64 " %s\n", o->size, o->key);
    return 0;
}

static int cmd_ls(struct cli *cl, const char *url)
{
    char bucket[64];
    const char *prefix;
    if (split_url(url, bucket, sizeof(bucket), &prefix))
        usage();
    struct s3_error err;
    s3_error_clear(&err);
    int pages = 0;
    if (s3_list_all(cl->c, bucket, *prefix ? prefix : NULL, cl->max_keys, print_obj, NULL, &pages,
                    &err) != 0)
        return report(&err);
    if (cl->show_pages)
        fprintf(stderr, "pages %d\n", pages);
    return 0;
}

static int cmd_rm(struct cli *cl, const char *url)
{
    char bucket[64];
    const char *key;
    if (split_url(url, bucket, sizeof(bucket), &key) || !*key)
        usage();
    struct s3_req *r = s3_op_delete(bucket, key);
    int rc = s3_run_one(cl->c, r) ? report(&r->err) : 0;
    s3_req_free(r);
    return rc;
}

struct keylist {
    char **k;
    size_t n, cap;
};

static int collect_key(const struct s3_object_info *o, void *arg)
{
    struct keylist *kl = arg;
    if (kl->n == kl->cap) {
        size_t cap = kl->cap ? kl->cap * 2 : 256;
        char **k = realloc(kl->k, cap * sizeof(*k));
        if (!k)
            return -1;
        kl->k = k;
        kl->cap = cap;
    }
    kl->k[kl->n] = strdup(o->key);
    return kl->k[kl->n++] ? 0 : -1;
}

static void keylist_free(struct keylist *kl)
{
    for (size_t i = 0; i < kl->n; i++)
        free(kl->k[i]);
    free(kl->k);
}

static int cmd_rm_many(struct cli *cl, int argc, char **argv)
{
    char bucket[64];
    const char *rest;
    if (argc < 1 || split_url(argv[0], bucket, sizeof(bucket), &rest))
        usage();
    struct keylist kl = {0};
    struct s3_error err;
    s3_error_clear(&err);
    int rc = 0;
    if (cl->prefix) {
        if (s3_list_all(cl->c, bucket, cl->prefix, 0, collect_key, &kl, NULL, &err) != 0)
            rc = report(&err);
    } else {
        for (int i = 1; i < argc; i++) {
            struct s3_object_info o = {.key = argv[i]};
            collect_key(&o, &kl);
        }
    }
    if (rc == 0 && kl.n && s3_delete_many(cl->c, bucket, (const char *const *)kl.k, kl.n, &err))
        rc = report(&err);
    if (rc == 0)
        printf("deleted %zu\n", kl.n);
    keylist_free(&kl);
    return rc;
}

struct many {
    struct s3_src *srcs;
    struct s3_xfer **x;
    char **names;
    size_t n;
};

static int cmd_put_many(struct cli *cl, const char *dir, const char *url)
{
    char bucket[64];
    const char *prefix;
    if (split_url(url, bucket, sizeof(bucket), &prefix))
        usage();
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "tandem-s3: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct keylist names = {0};
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        struct s3_object_info o = {.key = e->d_name};
        collect_key(&o, &names);
    }
    closedir(d);
    struct s3_xfer **xs = calloc(names.n + 1, sizeof(*xs));
    struct s3_src *srcs = calloc(names.n + 1, sizeof(*srcs));
    int rc = 0;
    for (size_t i = 0; i < names.n; i++) {
        char path[4096], key[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, names.k[i]);
        snprintf(key, sizeof(key), "%s%s", prefix, names.k[i]);
        char *mem;
        if (open_src(path, &srcs[i], &mem) != 0) {
            rc = 1;
            break;
        }
        xs[i] = s3_upload_begin(cl->c, bucket, key, &srcs[i], &cl->xo, NULL, NULL);
    }
    s3_run(cl->c);
    size_t ok = 0;
    for (size_t i = 0; i < names.n; i++) {
        struct s3_error err;
        if (xs[i] && s3_xfer_result(xs[i], &err) == 0)
            ok++;
        else if (xs[i])
            rc = report(&err);
        s3_xfer_free(xs[i]);
        if (srcs[i].kind == S3_SRC_FD)
            close(srcs[i].fd);
    }
    if (rc == 0)
        printf("uploaded %zu\n", ok);
    free(xs);
    free(srcs);
    keylist_free(&names);
    return rc;
}

static int cmd_get_many(struct cli *cl, const char *url, const char *dir)
{
    char bucket[64];
    const char *prefix;
    if (split_url(url, bucket, sizeof(bucket), &prefix))
        usage();
    struct keylist kl = {0};
    struct s3_error err;
    s3_error_clear(&err);
    if (s3_list_all(cl->c, bucket, *prefix ? prefix : NULL, 0, collect_key, &kl, NULL, &err))
        return report(&err);
    struct s3_xfer **xs = calloc(kl.n + 1, sizeof(*xs));
    int *fds = calloc(kl.n + 1, sizeof(*fds));
    int rc = 0;
    for (size_t i = 0; i < kl.n; i++) {
        const char *base = strrchr(kl.k[i], '/');
        base = base ? base + 1 : kl.k[i];
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, base);
        fds[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fds[i] < 0) {
            fprintf(stderr, "tandem-s3: %s: %s\n", path, strerror(errno));
            rc = 1;
            continue;
        }
        struct s3_sink sink = {.kind = S3_SINK_FD, .fd = fds[i]};
        xs[i] = s3_download_begin(cl->c, bucket, kl.k[i], &sink, &cl->xo, NULL, NULL);
    }
    s3_run(cl->c);
    size_t ok = 0;
    for (size_t i = 0; i < kl.n; i++) {
        if (xs[i] && s3_xfer_result(xs[i], &err) == 0)
            ok++;
        else if (xs[i])
            rc = report(&err);
        if (xs[i] && fds[i] >= 0 && ftruncate(fds[i], (off_t)s3_xfer_size(xs[i])) != 0)
            rc = 1;
        s3_xfer_free(xs[i]);
        if (fds[i] >= 0)
            close(fds[i]);
    }
    if (rc == 0)
        printf("downloaded %zu\n", ok);
    free(xs);
    free(fds);
    keylist_free(&kl);
    return rc;
}

static int print_upload(const char *key, const char *upload_id, void *arg)
{
    (void)arg;
    printf("%s %s\n", upload_id, key);
    return 0;
}

static int cmd_mpu_list(struct cli *cl, const char *url)
{
    char bucket[64];
    const char *prefix;
    if (split_url(url, bucket, sizeof(bucket), &prefix))
        usage();
    struct s3_error err;
    s3_error_clear(&err);
    if (s3_list_uploads_all(cl->c, bucket, *prefix ? prefix : NULL, print_upload, NULL, &err))
        return report(&err);
    return 0;
}

static int cmd_mpu_abort(struct cli *cl, const char *url, const char *upload_id)
{
    char bucket[64];
    const char *key;
    if (split_url(url, bucket, sizeof(bucket), &key) || !*key)
        usage();
    struct s3_req *r = s3_op_mpu_abort(bucket, key, upload_id);
    int rc = s3_run_one(cl->c, r) ? report(&r->err) : 0;
    s3_req_free(r);
    return rc;
}

static int cmd_creds(struct cli *cl)
{
    int n = cl->repeat > 0 ? cl->repeat : 1;
    for (int i = 0; i < n; i++) {
        struct s3_creds cr;
        struct s3_error err;
        s3_error_clear(&err);
        if (s3_creds_get(cl->creds, &cr, &err) != 0)
            return report(&err);
        printf("source=%s access_key=%s session_token=%s expires_in=%ld fetches=%d\n", cr.source,
               cr.access_key, cr.token[0] ? "yes" : "no",
               cr.expires ? (long)(cr.expires - time(NULL)) : -1L, s3_creds_fetches(cl->creds));
        fflush(stdout);
        s3_creds_wipe(&cr);
        if (i + 1 < n && cl->interval_ms > 0)
            usleep((useconds_t)cl->interval_ms * 1000);
    }
    return 0;
}

static uint64_t num(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end == 'K' || *end == 'k')
        v <<= 10;
    else if (*end == 'M' || *end == 'm')
        v <<= 20;
    else if (*end == 'G' || *end == 'g')
        v <<= 30;
    else if (*end)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    struct cli cl = {0};
    enum {
        OPT_ENDPOINT = 256,
        OPT_REGION,
        OPT_PATH,
        OPT_VHOST,
        OPT_PAR,
        OPT_PART,
        OPT_THRESH,
        OPT_MD5,
        OPT_ATT,
        OPT_RBASE,
        OPT_RMAX,
        OPT_STALL,
        OPT_CONN,
        OPT_SIGN,
        OPT_UNSIGNED,
        OPT_CA,
        OPT_RANGE,
        OPT_IFM,
        OPT_IFNM,
        OPT_MAXK,
        OPT_PAGES,
        OPT_VERB,
        OPT_PREFIX,
        OPT_REPEAT,
        OPT_INTERVAL,
        OPT_HASHT
    };
    static const struct option opts[] = {{"endpoint", 1, 0, OPT_ENDPOINT},
                                         {"region", 1, 0, OPT_REGION},
                                         {"path-style", 0, 0, OPT_PATH},
                                         {"virtual-host", 0, 0, OPT_VHOST},
                                         {"parallel", 1, 0, OPT_PAR},
                                         {"part-size", 1, 0, OPT_PART},
                                         {"multipart-threshold", 1, 0, OPT_THRESH},
                                         {"md5", 0, 0, OPT_MD5},
                                         {"max-attempts", 1, 0, OPT_ATT},
                                         {"retry-base-ms", 1, 0, OPT_RBASE},
                                         {"retry-max-ms", 1, 0, OPT_RMAX},
                                         {"stall-timeout", 1, 0, OPT_STALL},
                                         {"connect-timeout-ms", 1, 0, OPT_CONN},
                                         {"sign-payload", 0, 0, OPT_SIGN},
                                         {"unsigned-payload", 0, 0, OPT_UNSIGNED},
                                         {"ca-bundle", 1, 0, OPT_CA},
                                         {"range", 1, 0, OPT_RANGE},
                                         {"if-match", 1, 0, OPT_IFM},
                                         {"if-none-match", 1, 0, OPT_IFNM},
                                         {"max-keys", 1, 0, OPT_MAXK},
                                         {"pages", 0, 0, OPT_PAGES},
                                         {"verbose", 0, 0, OPT_VERB},
                                         {"prefix", 1, 0, OPT_PREFIX},
                                         {"repeat", 1, 0, OPT_REPEAT},
                                         {"interval-ms", 1, 0, OPT_INTERVAL},
                                         {"hash-threads", 1, 0, OPT_HASHT},
                                         {0, 0, 0, 0}};
    for (int o; (o = getopt_long(argc, argv, "+", opts, NULL)) != -1;) {
        switch (o) {
        case OPT_ENDPOINT:
            cl.cfg.endpoint = optarg;
            break;
        case OPT_REGION:
            cl.cfg.region = optarg;
            break;
        case OPT_PATH:
            cl.cfg.addressing = S3_ADDR_PATH;
            break;
        case OPT_VHOST:
            cl.cfg.addressing = S3_ADDR_VHOST;
            break;
        case OPT_PAR:
            cl.cfg.parallel = atoi(optarg);
            break;
        case OPT_PART:
            cl.xo.part_size = num(optarg);
            break;
        case OPT_THRESH:
            cl.xo.threshold = num(optarg);
            break;
        case OPT_MD5:
            cl.xo.md5 = 1;
            break;
        case OPT_ATT:
            cl.cfg.max_attempts = atoi(optarg);
            break;
        case OPT_RBASE:
            cl.cfg.retry_base_ms = atoi(optarg);
            break;
        case OPT_RMAX:
            cl.cfg.retry_max_ms = atoi(optarg);
            break;
        case OPT_STALL:
            cl.cfg.stall_timeout_s = atoi(optarg);
            break;
        case OPT_CONN:
            cl.cfg.connect_timeout_ms = atoi(optarg);
            break;
        case OPT_SIGN:
            cl.cfg.payload = S3_PAYLOAD_SIGNED;
            break;
        case OPT_UNSIGNED:
            cl.cfg.payload = S3_PAYLOAD_UNSIGNED;
            break;
        case OPT_CA:
            cl.cfg.ca_bundle = optarg;
            break;
        case OPT_RANGE:
            cl.range = optarg;
            break;
        case OPT_IFM:
            cl.if_match = optarg;
            break;
        case OPT_IFNM:
            cl.if_none_match = optarg;
            break;
        case OPT_MAXK:
            cl.max_keys = atoi(optarg);
            break;
        case OPT_PAGES:
            cl.show_pages = 1;
            break;
        case OPT_VERB:
            cl.cfg.verbose = 1;
            break;
        case OPT_PREFIX:
            cl.prefix = optarg;
            break;
        case OPT_REPEAT:
            cl.repeat = atoi(optarg);
            break;
        case OPT_INTERVAL:
            cl.interval_ms = atoi(optarg);
            break;
        case OPT_HASHT:
            cl.cfg.hash_threads = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();
    log_init("tandem-s3", cl.cfg.verbose ? LOG_INFO : LOG_WARN);
    const char *cmd = argv[optind];
    int nargs = argc - optind - 1;
    char **args = argv + optind + 1;
    cl.creds = s3_creds_chain_new(NULL);
    if (strcmp(cmd, "creds") == 0) {
        int rc = cmd_creds(&cl);
        s3_creds_provider_free(cl.creds);
        return rc;
    }
    struct s3_error err;
    cl.c = s3_client_new(&cl.cfg, cl.creds, &err);
    if (!cl.c) {
        s3_creds_provider_free(cl.creds);
        return report(&err);
    }
    int rc;
#define NEED(n)           \
    do {                  \
        if (nargs != (n)) \
            usage();      \
    } while (0)
    if (strcmp(cmd, "mb") == 0 || strcmp(cmd, "rb") == 0) {
        NEED(1);
        rc = cmd_bucket(&cl, cmd[0] == 'm', args[0]);
    } else if (strcmp(cmd, "put") == 0 || strcmp(cmd, "mpu-put") == 0) {
        NEED(2);
        rc = cmd_put(&cl, args[0], args[1], cmd[0] == 'm');
    } else if (strcmp(cmd, "get") == 0) {
        NEED(2);
        rc = cmd_get(&cl, args[0], args[1]);
    } else if (strcmp(cmd, "head") == 0) {
        NEED(1);
        rc = cmd_head(&cl, args[0]);
    } else if (strcmp(cmd, "ls") == 0) {
        NEED(1);
        rc = cmd_ls(&cl, args[0]);
    } else if (strcmp(cmd, "rm") == 0) {
        NEED(1);
        rc = cmd_rm(&cl, args[0]);
    } else if (strcmp(cmd, "rm-many") == 0) {
        rc = cmd_rm_many(&cl, nargs, args);
    } else if (strcmp(cmd, "put-many") == 0) {
        NEED(2);
        rc = cmd_put_many(&cl, args[0], args[1]);
    } else if (strcmp(cmd, "get-many") == 0) {
        NEED(2);
        rc = cmd_get_many(&cl, args[0], args[1]);
    } else if (strcmp(cmd, "mpu-list") == 0) {
        NEED(1);
        rc = cmd_mpu_list(&cl, args[0]);
    } else if (strcmp(cmd, "mpu-abort") == 0) {
        NEED(2);
        rc = cmd_mpu_abort(&cl, args[0], args[1]);
    } else {
        usage();
        rc = 2;
    }
    s3_client_free(cl.c);
    s3_creds_provider_free(cl.creds);
    return rc;
}
