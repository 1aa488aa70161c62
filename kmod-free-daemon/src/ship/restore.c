/* Restore: segments in batches (so memory is bounded by the batch, not the volume); for each
 * batch the segment lists are fetched in parallel, the chunks sorted by pack and offset and
 * coalesced into ranged GETs of up to 8 MiB (a full ship's chunks lie in image order in its
 * packs, so a restore reads packs nearly sequentially in few requests), and `parallel` threads
 * fetch ranges, open and check every chunk, and pwrite it at each offset where the image has it
 * (one decode for chunks the image holds several times). */
#include "ship/restore.h"

#include "ship/fetch.h"
#include "ship/manifest.h"
#include "ship/par.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_SEGMENTS 64
#define RANGE_MAX      (8u << 20)
#define RANGE_GAP      (256u << 10)

struct want { /* one non-hole chunk of the image */
    uint64_t img_off;
    uint32_t len;
    struct blob_loc loc;
};

struct range {
    uint32_t pack;
    uint64_t off, len;
    size_t first, n; /* into the sorted wants */
};

struct rs {
    struct repo repo;
    struct index ix;
    struct manifest m;
    const struct restore_params *p;
    struct restore_progress *prog;
    int fd;
    bool blockdev;
    uint32_t cpseg;
    /* the batch */
    uint64_t seg0, nseg;
    blob_id *ids;
    struct want *wants;
    size_t nwants;
    struct range *ranges;
    size_t nranges;
    /* per thread */
    uint8_t **rbuf, **plain;
    atomic_uint_fast64_t fetched, requests, data_bytes;
};

static int load_segment(size_t i, void *arg, int worker, char *err, size_t errlen)
{
    (void)worker;
    struct rs *r = arg;
    uint64_t seg = r->seg0 + i;
    uint64_t a = seg * r->m.segment_size, b = a + r->m.segment_size;
    if (b > r->m.size)
        b = r->m.size;
    uint32_t nch = (uint32_t)((b - a + r->m.chunk_size - 1) / r->m.chunk_size);
    return segment_load(&r->repo, &r->ix, r->m.segs[seg], nch, r->ids + i * r->cpseg, err, errlen);
}

static int by_pack_off(const void *x, const void *y)
{
    const struct want *a = x, *b = y;
    if (a->loc.pack != b->loc.pack)
        return a->loc.pack < b->loc.pack ? -1 : 1;
    return a->loc.off < b->loc.off ? -1 : a->loc.off > b->loc.off;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int fetch_range(size_t i, void *arg, int worker, char *err, size_t errlen)
{
    struct rs *r = arg;
    struct range *rg = &r->ranges[i];
    struct pack_rec pk = index_pack_get(&r->ix, rg->pack);
    char key[64];
    pack_key(pk.id, key, sizeof(key));
    uint8_t *buf = r->rbuf[worker], *plain = r->plain[worker];
    int rc = backend_get_into(r->repo.be, key, rg->off, rg->len, buf, err, errlen);
    if (rc)
        return rc;
    atomic_fetch_add(&r->fetched, rg->len);
    atomic_fetch_add(&r->requests, 1);
    atomic_fetch_add(&r->prog->bytes_fetched, rg->len);
    size_t plen = 0;
    const struct blob_loc *last = NULL;
    for (size_t k = rg->first; k < rg->first + rg->n; k++) {
        struct want *w = &r->wants[k];
        if (!last || last->off != w->loc.off) {
            rc = blob_open_checked(&r->repo, &w->loc, pk.id, buf + (w->loc.off - rg->off), plain,
                                   r->m.chunk_size, &plen, err, errlen);
            if (rc)
                return rc;
            last = &w->loc;
        }
        if (plen != w->len) {
            char hex[65];
            hex_encode(w->loc.id, CRYPT_ID_LEN, hex);
            snprintf(err, errlen, "chunk %s is %zu bytes where the image needs %u at %llu", hex,
                     plen, w->len, (unsigned long long)w->img_off);
            return -EBADMSG;
        }
        if (r->fd >= 0 && (rc = write_all(r->fd, plain, plen, w->img_off)) != 0) {
            snprintf(err, errlen, "writing %s at %llu: %s", r->p->target,
                     (unsigned long long)w->img_off, strerror(-rc));
            return rc;
        }
        atomic_fetch_add(&r->data_bytes, plen);
        atomic_fetch_add(&r->prog->bytes_done, plen);
    }
    return 0;
}

static int zero_range(struct rs *r, uint64_t off, uint64_t len, char *err, size_t errlen)
{
    atomic_fetch_add(&r->prog->bytes_done, len);
    if (r->fd < 0 || !r->blockdev || !len)
        return 0; /* a fresh file is sparse: a hole reads as zeros */
    uint64_t range[2] = {off, len};
    if (ioctl(r->fd, BLKZEROOUT, range) == 0)
        return 0;
    static const uint8_t zeros[65536];
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < sizeof(zeros) ? (size_t)(len - done) : sizeof(zeros);
        int rc = write_all(r->fd, zeros, n, off + done);
        if (rc) {
            snprintf(err, errlen, "zeroing %s at %llu: %s", r->p->target,
                     (unsigned long long)(off + done), strerror(-rc));
            return rc;
        }
        done += n;
    }
    return 0;
}

static int plan_batch(struct rs *r, char *err, size_t errlen)
{
    const uint32_t cs = r->m.chunk_size;
    r->nwants = 0;
    uint64_t hole_start = 0, hole_len = 0;
    for (uint64_t i = 0; i < r->nseg; i++) {
        uint64_t a = (r->seg0 + i) * r->m.segment_size, b = a + r->m.segment_size;
        if (b > r->m.size)
            b = r->m.size;
        for (uint64_t off = a, c = 0; off < b; off += cs, c++) {
            uint32_t len = (uint32_t)(b - off < cs ? b - off : cs);
            const uint8_t *id = r->ids[i * r->cpseg + c];
            if (blob_id_zero(id)) {
                if (hole_len && hole_start + hole_len == off) {
                    hole_len += len;
                } else {
                    int rc = zero_range(r, hole_start, hole_len, err, errlen);
                    if (rc)
                        return rc;
                    hole_start = off;
                    hole_len = len;
                }
                continue;
            }
            struct want *w = &r->wants[r->nwants++];
            w->img_off = off;
            w->len = len;
            char hex[65];
            if (index_find(&r->ix, id, false, &w->loc) != 0) {
                hex_encode(id, CRYPT_ID_LEN, hex);
                snprintf(err, errlen, "chunk %s (image offset %llu) is in no index of the store",
                         hex, (unsigned long long)off);
                return -ENOENT;
            }
            /* An index entry is data from the store: a length no chunk can have is corruption,
             * refused here before it sizes a read. */
            if (w->loc.slen > crypt_sealed_bound(&r->repo.crypt, cs) || w->loc.rlen != len) {
                hex_encode(id, CRYPT_ID_LEN, hex);
                snprintf(err, errlen, "the index entry of chunk %s is corrupt (%u stored bytes)",
                         hex, w->loc.slen);
                return -EBADMSG;
            }
        }
    }
    int rc = zero_range(r, hole_start, hole_len, err, errlen);
    if (rc)
        return rc;
    qsort(r->wants, r->nwants, sizeof(*r->wants), by_pack_off);
    r->nranges = 0;
    for (size_t k = 0; k < r->nwants; k++) {
        struct want *w = &r->wants[k];
        struct range *rg = r->nranges ? &r->ranges[r->nranges - 1] : NULL;
        uint64_t end = (uint64_t)w->loc.off + w->loc.slen;
        if (rg && rg->pack == w->loc.pack && w->loc.off <= rg->off + rg->len + RANGE_GAP &&
            end - rg->off <= RANGE_MAX) {
            if (end > rg->off + rg->len)
                rg->len = end - rg->off;
            rg->n++;
            continue;
        }
        rg = &r->ranges[r->nranges++];
        *rg = (struct range){
            .pack = w->loc.pack, .off = w->loc.off, .len = w->loc.slen, .first = k, .n = 1};
    }
    return 0;
}

static int open_target(struct rs *r, bool *created, char *err, size_t errlen)
{
    r->fd = -1;
    *created = false;
    if (!r->p->target)
        return 0;
    struct stat st;
    if (stat(r->p->target, &st) == 0 && S_ISBLK(st.st_mode)) {
        r->fd = open(r->p->target, O_WRONLY | O_CLOEXEC);
        uint64_t size = 0;
        if (r->fd < 0 || ioctl(r->fd, BLKGETSIZE64, &size) != 0) {
            snprintf(err, errlen, "%s: %s", r->p->target, strerror(errno));
            return -errno;
        }
        if (size < r->m.size) {
            snprintf(err, errlen, "%s holds %llu bytes; the snapshot needs %llu", r->p->target,
                     (unsigned long long)size, (unsigned long long)r->m.size);
            return -ENOSPC;
        }
        r->blockdev = true;
        return 0;
    }
    r->fd = open(r->p->target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (r->fd < 0 || ftruncate(r->fd, (off_t)r->m.size) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", r->p->target, strerror(e));
        return -e;
    }
    *created = true;
    return 0;
}

static int pick_snapshot(struct rs *r, char *err, size_t errlen)
{
    if (strcmp(r->p->snapshot, "latest") != 0)
        return manifest_load(&r->repo, r->p->volume, r->p->snapshot, &r->m, err, errlen);
    struct manifest *ms = NULL;
    size_t n = 0;
    int rc = manifest_load_all(&r->repo, r->p->volume, &ms, &n, err, errlen);
    if (rc)
        return rc;
    if (n == 0) {
        manifest_free_all(ms, n);
        snprintf(err, errlen, "%s: no snapshot of volume %s", backend_url(r->repo.be),
                 r->p->volume);
        return -ENOENT;
    }
    r->m = ms[n - 1];
    ms[n - 1].segs = NULL;
    manifest_free_all(ms, n);
    return 0;
}

static int run(struct rs *r, struct restore_result *res, char *err, size_t errlen)
{
    int rc;
    if (r->m.chunk_size != r->repo.chunk_size || r->m.segment_size != r->repo.segment_size) {
        snprintf(err, errlen, "snapshot %s: chunk or segment size differs from the store's",
                 r->m.snapshot);
        return -EINVAL;
    }
    uint8_t root[32];
    image_tree_hash(r->m.size, r->m.chunk_size, r->m.segment_size, r->m.segs, r->m.nseg, root);
    if (memcmp(root, r->m.image_hash, 32) != 0) {
        snprintf(err, errlen, "snapshot %s: its segment ids do not hash to its image hash",
                 r->m.snapshot);
        return -EBADMSG;
    }
    snprintf(res->snapshot, sizeof(res->snapshot), "%s", r->m.snapshot);
    hex_encode(r->m.image_hash, 32, res->image_hash);
    res->seq = r->m.seq;
    res->size = r->m.size;
    atomic_store(&r->prog->bytes_total, r->m.size);
    if ((rc = index_init(&r->ix)) != 0 ||
        (rc = index_load(&r->repo, &r->ix, true, r->repo.parallel, err, errlen)) != 0)
        return rc;
    r->cpseg = (uint32_t)(r->m.segment_size / r->m.chunk_size);
    size_t batch_chunks = (size_t)BATCH_SEGMENTS * r->cpseg;
    r->ids = calloc(batch_chunks, CRYPT_ID_LEN);
    r->wants = calloc(batch_chunks, sizeof(*r->wants));
    r->ranges = calloc(batch_chunks, sizeof(*r->ranges));
    int threads = r->repo.parallel;
    r->rbuf = calloc((size_t)threads, sizeof(*r->rbuf));
    r->plain = calloc((size_t)threads, sizeof(*r->plain));
    if (!r->ids || !r->wants || !r->ranges || !r->rbuf || !r->plain)
        return -ENOMEM;
    size_t rcap = RANGE_MAX + crypt_sealed_bound(&r->repo.crypt, r->m.chunk_size);
    for (int t = 0; t < threads; t++) {
        r->rbuf[t] = malloc(rcap);
        r->plain[t] = malloc(r->m.chunk_size);
        if (!r->rbuf[t] || !r->plain[t])
            return -ENOMEM;
    }
    for (r->seg0 = 0; r->seg0 < r->m.nseg; r->seg0 += r->nseg) {
        r->nseg = r->m.nseg - r->seg0 < BATCH_SEGMENTS ? r->m.nseg - r->seg0 : BATCH_SEGMENTS;
        if ((rc = par_run(r->nseg, threads, load_segment, r, err, errlen)) != 0 ||
            (rc = plan_batch(r, err, errlen)) != 0 ||
            (rc = par_run(r->nranges, threads, fetch_range, r, err, errlen)) != 0)
            return rc;
        res->chunks += r->nwants;
    }
    if (r->fd >= 0 && fsync(r->fd) != 0) {
        snprintf(err, errlen, "fsync %s: %s", r->p->target, strerror(errno));
        return -EIO;
    }
    res->data_bytes = atomic_load(&r->data_bytes);
    res->hole_bytes = r->m.size - res->data_bytes;
    res->fetched_bytes = atomic_load(&r->fetched);
    res->requests = atomic_load(&r->requests);
    return 0;
}

int restore_run(const struct restore_params *p, struct restore_progress *progress,
                struct restore_result *res, char *err, size_t errlen)
{
    struct restore_progress dummy;
    if (!progress) {
        memset(&dummy, 0, sizeof(dummy));
        progress = &dummy;
    }
    memset(res, 0, sizeof(*res));
    struct rs *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->p = p;
    r->prog = progress;
    r->fd = -1;
    int rc = repo_open(&r->repo, p->url, &p->store, false, err, errlen);
    if (rc) {
        free(r);
        return rc;
    }
    bool created = false;
    /* The target is opened (and truncated) only once the snapshot is known to exist. */
    rc = pick_snapshot(r, err, errlen);
    if (rc == 0)
        rc = open_target(r, &created, err, errlen);
    if (rc == 0)
        rc = run(r, res, err, errlen);
    if (r->fd >= 0)
        close(r->fd);
    if (rc && created)
        unlink(p->target);
    for (int t = 0; r->rbuf && t < r->repo.parallel; t++)
        free(r->rbuf[t]);
    for (int t = 0; r->plain && t < r->repo.parallel; t++)
        free(r->plain[t]);
    free(r->rbuf);
    free(r->plain);
    free(r->ids);
    free(r->wants);
    free(r->ranges);
    if (r->ix.slots)
        index_free(&r->ix);
    manifest_free(&r->m);
    repo_close(&r->repo);
    free(r);
    if (rc && !err[0])
        snprintf(err, errlen, "%s", strerror(-rc));
    return rc;
}
