/* ship_file: ships a plain image file as a snapshot through ship_run(), standing in for the
 * daemon so the shipper can be tested without it.
 *
 *   ship_file --to URL --volume V --uuid U --snapshot S --seq N [--full]
 *             [--changed OFF[,OFF...]] [--changed-file FILE] [--gran BYTES]
 *             [--endpoint URL] [--region R] [--encrypt-key-file F] [--parallel N]
 *             [--cancel-after-bytes N] [--read-delay-us N] [--started-file F] IMAGE
 * changed_since() answers with the regions (of --gran bytes, default 64 KiB) holding the given
 * offsets (each marks [off, off+4096)); without --changed or --changed-file it answers -ENOENT
 * (the volume cannot tell), so the ship is full. On success prints one JSON line of the
 * progress counters. --started-file F is created at the first read of the image (tests start a
 * concurrent prune or a kill from it, rather than sleeping). Exit 0, 1 failure (one line on
 * stderr), 2 usage, 3 cancelled. */
#include "ship/ship.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct img {
    int fd;
    uint64_t size, gran;
    uint64_t *offs;
    size_t noffs;
    bool tracked;
    uint64_t cancel_after, delay_us;
    atomic_bool *cancel;
    atomic_uint_fast64_t read;
    const char *started_file;
    atomic_bool started;
};

static int img_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct img *m = ctx;
    if (off % 4096 || len % 4096 || (uintptr_t)buf % 4096 || off + len > m->size)
        return -EINVAL;
    if (m->started_file && !atomic_exchange(&m->started, true)) {
        int fd = open(m->started_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
    }
    if (m->delay_us)
        usleep((useconds_t)m->delay_us);
    for (size_t done = 0; done < len;) {
        ssize_t r = pread(m->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        done += (size_t)r;
    }
    uint64_t total = atomic_fetch_add(&m->read, len) + len;
    if (m->cancel_after && total >= m->cancel_after)
        atomic_store(m->cancel, true);
    return 0;
}

static int img_changed(void *ctx, uint64_t base_seq, struct ship_regions *out)
{
    struct img *m = ctx;
    (void)base_seq;
    if (!m->tracked)
        return -ENOENT;
    out->gran = m->gran;
    out->n = (m->size + m->gran - 1) / m->gran;
    out->bits = calloc((out->n + 7) / 8, 1);
    if (!out->bits)
        return -ENOMEM;
    for (size_t i = 0; i < m->noffs; i++)
        for (uint64_t o = m->offs[i]; o < m->offs[i] + 4096 && o < m->size; o += 4096) {
            uint64_t bit = o / m->gran;
            out->bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
        }
    return 0;
}

static void add_offsets(struct img *m, const char *list)
{
    char *dup = strdup(list), *save = NULL;
    for (char *t = strtok_r(dup, ", \n", &save); t; t = strtok_r(NULL, ", \n", &save)) {
        m->offs = realloc(m->offs, (m->noffs + 1) * sizeof(*m->offs));
        m->offs[m->noffs++] = strtoull(t, NULL, 0);
    }
    free(dup);
    m->tracked = true;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    for (size_t n; b && (n = fread(b + len, 1, cap - len - 1, f)) > 0;) {
        len += n;
        if (len + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    fclose(f);
    if (b)
        b[len] = '\0';
    return b;
}

static void usage(void)
{
    fprintf(stderr, "usage: ship_file --to URL --volume V --uuid U --snapshot S --seq N [--full]\n"
                    "  [--changed OFFS] [--changed-file F] [--gran N] [--endpoint URL]\n"
                    "  [--region R] [--encrypt-key-file F] [--parallel N]\n"
                    "  [--cancel-after-bytes N] [--read-delay-us N] [--started-file F] IMAGE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct ship_params p = {.created = 0};
    struct img m = {.gran = 65536};
    atomic_bool cancel = false;
    m.cancel = &cancel;
    static const struct option opts[] = {{"to", 1, 0, 't'},
                                         {"volume", 1, 0, 'v'},
                                         {"uuid", 1, 0, 'u'},
                                         {"snapshot", 1, 0, 's'},
                                         {"seq", 1, 0, 'q'},
                                         {"full", 0, 0, 'f'},
                                         {"changed", 1, 0, 'c'},
                                         {"changed-file", 1, 0, 'C'},
                                         {"gran", 1, 0, 'g'},
                                         {"endpoint", 1, 0, 'e'},
                                         {"region", 1, 0, 'r'},
                                         {"encrypt-key-file", 1, 0, 'k'},
                                         {"parallel", 1, 0, 'p'},
                                         {"cancel-after-bytes", 1, 0, 'x'},
                                         {"read-delay-us", 1, 0, 'd'},
                                         {"started-file", 1, 0, 'S'},
                                         {0, 0, 0, 0}};
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (o) {
        case 't':
            p.url = optarg;
            break;
        case 'v':
            p.volume = optarg;
            break;
        case 'u':
            p.volume_uuid = optarg;
            break;
        case 's':
            p.snapshot = optarg;
            break;
        case 'q':
            p.seq = strtoull(optarg, NULL, 10);
            break;
        case 'f':
            p.full = true;
            break;
        case 'c':
            add_offsets(&m, optarg);
            break;
        case 'C': {
            char *t = slurp(optarg);
            if (!t) {
                perror(optarg);
                return 1;
            }
            add_offsets(&m, t);
            free(t);
            break;
        }
        case 'g':
            m.gran = strtoull(optarg, NULL, 0);
            break;
        case 'e':
            p.store.endpoint = optarg;
            break;
        case 'r':
            p.store.region = optarg;
            break;
        case 'k':
            p.store.encrypt_key_file = optarg;
            break;
        case 'p':
            p.store.parallel = atoi(optarg);
            break;
        case 'x':
            m.cancel_after = strtoull(optarg, NULL, 0);
            break;
        case 'd':
            m.delay_us = strtoull(optarg, NULL, 0);
            break;
        case 'S':
            m.started_file = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind + 1 != argc || !p.url || !p.volume || !p.volume_uuid || !p.snapshot)
        usage();
    m.fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (m.fd < 0 || fstat(m.fd, &st) != 0) {
        perror(argv[optind]);
        return 1;
    }
    m.size = (uint64_t)st.st_size;
    p.created = (int64_t)st.st_mtime;
    struct ship_image img = {
        .size = m.size, .read = img_read, .changed_since = img_changed, .ctx = &m};
    struct ship_progress prog;
    memset(&prog, 0, sizeof(prog));
    char err[1024] = "";
    int rc = ship_run(&p, &img, &prog, &cancel, err, sizeof(err));
    close(m.fd);
    free(m.offs);
    if (rc) {
        fprintf(stderr, "ship_file: %s\n", err);
        return rc == -ECANCELED ? 3 : 1;
    }
    printf("{\"bytes_total\":%" PRIuFAST64 ",\"bytes_read\":%" PRIuFAST64
           ",\"bytes_uploaded\":%" PRIuFAST64 ",\"chunks_new\":%" PRIuFAST64
           ",\"chunks_reused\":%" PRIuFAST64 ",\"objects_written\":%" PRIuFAST64
           ",\"base_seq\":%" PRIuFAST64 "}\n",
           atomic_load(&prog.bytes_total), atomic_load(&prog.bytes_read),
           atomic_load(&prog.bytes_uploaded), atomic_load(&prog.chunks_new),
           atomic_load(&prog.chunks_reused), atomic_load(&prog.objects_written),
           atomic_load(&prog.base_seq));
    return 0;
}
