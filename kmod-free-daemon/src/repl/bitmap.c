/* Region bitmaps. One bit per MiB keeps a 1 TiB volume's map at 128 KiB, small enough to hold
 * in memory and to write whole on every commit, which keeps the file's states totally ordered:
 * a later commit always contains everything an earlier one did, minus only explicit clears. */
#include "repl/bitmap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct commit_req {
    struct io_req io;
    struct bitmap *b;
};

int bitmap_open(struct bitmap *b, const char *path, uint64_t volume_bytes, struct io_engine *eng)
{
    return bitmap_open_shift(b, path, volume_bytes, REGION_SHIFT, eng);
}

int bitmap_open_shift(struct bitmap *b, const char *path, uint64_t volume_bytes, unsigned shift,
                      struct io_engine *eng)
{
    memset(b, 0, sizeof(*b));
    b->eng = eng;
    b->shift = shift;
    b->n_regions = (volume_bytes + (1ull << shift) - 1) >> shift;
    b->bytes = (size_t)((b->n_regions + 7) / 8);
    b->bits = calloc(1, b->bytes ? b->bytes : 1);
    b->shadow = calloc(1, b->bytes ? b->bytes : 1);
    struct commit_req *cr = calloc(1, sizeof(*cr));
    b->fd = -1;
    if (!b->bits || !b->shadow || !cr) {
        free(cr);
        bitmap_close(b);
        errno = ENOMEM;
        return -1;
    }
    b->req = &cr->io;
    cr->b = b;
    b->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (b->fd < 0) {
        int e = errno;
        bitmap_close(b);
        errno = e;
        return -1;
    }
    ssize_t n = pread(b->fd, b->bits, b->bytes, 0);
    if (n < 0) {
        int e = errno;
        bitmap_close(b);
        errno = e;
        return -1;
    }
    for (size_t i = 0; i < b->bytes; i++)
        b->count += (uint64_t)__builtin_popcount(b->bits[i]);
    return 0;
}

static void drain(struct bitmap *b)
{
    /* Shutdown only: drive the engine until the commit in flight lands. */
    for (int i = 0; b->committing && i < 10000; i++) {
        io_engine_flush(b->eng);
        struct pollfd p = {.fd = io_engine_fd(b->eng), .events = POLLIN};
        poll(&p, 1, 10);
        io_engine_reap(b->eng);
    }
}

void bitmap_close(struct bitmap *b)
{
    if (b->committing)
        drain(b);
    if (b->fd >= 0) {
        /* final state, synchronously: nothing else writes this file any more */
        if (pwrite(b->fd, b->bits, b->bytes, 0) == (ssize_t)b->bytes)
            fdatasync(b->fd);
        close(b->fd);
    }
    b->fd = -1;
    free(b->bits);
    free(b->shadow);
    free(b->retired);
    b->retired = NULL;
    if (b->req)
        free((struct commit_req *)b->req);
    b->bits = b->shadow = NULL;
    b->req = NULL;
}

static void start_commit(struct bitmap *b);

static void commit_done(struct io_req *io)
{
    struct commit_req *cr = (struct commit_req *)io;
    struct bitmap *b = cr->b;
    int err = io->result < 0 ? (int)-io->result : 0;
    if (io->op == IO_WRITE && !err) {
        if ((uint64_t)io->result != io->len)
            err = EIO;
        else {
            io->op = IO_FSYNC;
            io_engine_submit(b->eng, io);
            return;
        }
    }
    b->committing = false;
    free(b->retired);
    b->retired = NULL;
    struct bitmap_waiter *w = b->in_commit;
    b->in_commit = NULL;
    while (w) {
        struct bitmap_waiter *next = w->next;
        w->cb(w, err);
        w = next;
    }
    if (b->want_commit || b->waiting)
        start_commit(b);
}

static void start_commit(struct bitmap *b)
{
    if (b->committing) {
        b->want_commit = true;
        return;
    }
    b->want_commit = false;
    b->committing = true;
    memcpy(b->shadow, b->bits, b->bytes);
    b->in_commit = b->waiting;
    b->waiting = NULL;
    struct io_req *io = b->req;
    memset(io, 0, sizeof(*io));
    io->op = IO_WRITE;
    io->fd = b->fd;
    io->buf = b->shadow;
    io->len = b->bytes;
    io->done = commit_done;
    io_engine_submit(b->eng, io);
}

bool bitmap_mark(struct bitmap *b, uint64_t off, uint64_t len, struct bitmap_waiter *w)
{
    bool changed = false;
    if (len) {
        uint64_t first = off >> b->shift, last = (off + len - 1) >> b->shift;
        if (last >= b->n_regions)
            last = b->n_regions - 1;
        for (uint64_t r = first; r <= last; r++) {
            if (bitmap_test(b, r))
                continue;
            __atomic_fetch_or(&b->bits[r >> 3], (uint8_t)(1u << (r & 7)), __ATOMIC_RELEASE);
            b->count++;
            changed = true;
        }
    }
    /* Already durable only if nothing about them can still be on its way to disk. */
    if (!changed && !b->committing && !b->waiting && !b->want_commit)
        return true;
    if (w) {
        w->next = b->waiting;
        b->waiting = w;
    } else {
        b->want_commit = true;
    }
    start_commit(b);
    return false;
}

int bitmap_save_sync(struct bitmap *b)
{
    if (pwrite(b->fd, b->bits, b->bytes, 0) != (ssize_t)b->bytes)
        return -1;
    return fdatasync(b->fd);
}

void bitmap_clear(struct bitmap *b, uint64_t region)
{
    if (region < b->n_regions && bitmap_test(b, region)) {
        b->bits[region >> 3] &= (uint8_t) ~(1u << (region & 7));
        b->count--;
    }
}

void bitmap_clear_all(struct bitmap *b)
{
    memset(b->bits, 0, b->bytes);
    b->count = 0;
}

void bitmap_commit(struct bitmap *b)
{
    start_commit(b);
}

uint64_t bitmap_next(const struct bitmap *b, uint64_t from)
{
    for (uint64_t r = from; r < b->n_regions; r++) {
        if ((r & 7) == 0 && b->bits[r >> 3] == 0) {
            r += 7;
            continue;
        }
        if (bitmap_test(b, r))
            return r;
    }
    return UINT64_MAX;
}

int bitmap_grow(struct bitmap *b, uint64_t volume_bytes)
{
    uint64_t n = (volume_bytes + (1ull << b->shift) - 1) >> b->shift;
    size_t bytes = (size_t)((n + 7) / 8);
    if (bytes <= b->bytes) {
        b->n_regions = n > b->n_regions ? n : b->n_regions;
        return 0;
    }
    uint8_t *bits = calloc(1, bytes), *shadow = calloc(1, bytes);
    if (!bits || !shadow) {
        free(bits);
        free(shadow);
        errno = ENOMEM;
        return -1;
    }
    memcpy(bits, b->bits, b->bytes);
    /* Readers on other threads (bitmap_test_shared) only ever look at maps that do not grow:
     * snapshots keep their size; the CBT and replication maps are the reactor's alone. */
    free(b->bits);
    b->bits = bits;
    if (b->committing) {
        free(b->retired);
        b->retired = b->shadow; /* the kernel may still be reading it */
    } else {
        free(b->shadow);
    }
    b->shadow = shadow;
    b->bytes = bytes;
    b->n_regions = n;
    return 0;
}
