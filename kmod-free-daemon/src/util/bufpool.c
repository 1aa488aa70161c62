/* Size-class buffer pool. Free buffers are chained through their own first bytes, so the pool
 * needs no bookkeeping memory of its own. The caps keep a burst of large requests from pinning
 * gigabytes forever: each class keeps at most about BUFPOOL_CLASS_SPARE_BYTES of spares, and all
 * classes together at most BUFPOOL_SPARE_BYTES. */
#include "util/bufpool.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct bufpool_free {
    struct bufpool_free *next;
};

/* Arena buffers are not malloc's, so AddressSanitizer knows nothing of them: poison the free
 * ones (past the free-list link) so that a use after bufpool_put() is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define BUFPOOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUFPOOL_ASAN 1
#endif
#endif
#ifdef BUFPOOL_ASAN
#include <sanitizer/asan_interface.h>
#define LINK_BYTES             sizeof(struct bufpool_free)
#define POISON_FREE(buf, n)    ASAN_POISON_MEMORY_REGION((char *)(buf) + LINK_BYTES, (n)-LINK_BYTES)
#define UNPOISON_TAKEN(buf, n) ASAN_UNPOISON_MEMORY_REGION(buf, n)
#else
#define POISON_FREE(buf, n)    ((void)(buf), (void)(n))
#define UNPOISON_TAKEN(buf, n) ((void)(buf), (void)(n))
#endif

static unsigned size_class(size_t size)
{
    unsigned c = 0;
    while (c < BUFPOOL_CLASSES - 1 && ((size_t)1 << (c + BUFPOOL_MIN_SHIFT)) < size)
        c++;
    return c;
}

/* Bytes of a buffer of class c: the top class is BUFPOOL_LIMIT, not a power of two, so a
 * 32 MiB bounce plus its alignment slack costs 64 KiB more rather than a 64 MiB class. */
static size_t class_bytes(unsigned c)
{
    return c == BUFPOOL_CLASSES - 1 ? BUFPOOL_LIMIT : (size_t)1 << (c + BUFPOOL_MIN_SHIFT);
}

/* Spares a class keeps: enough for a queue depth of 128 requests of its size at up to 1 MiB
 * (QD128 x 1 MiB must not go to malloc per request), fewer as buffers grow, never fewer than 4
 * (a few 32 MiB requests in a row reuse theirs). BUFPOOL_SPARE_BYTES bounds the sum. */
static unsigned class_cap(unsigned c)
{
    size_t n = BUFPOOL_CLASS_SPARE_BYTES / class_bytes(c);
    return n < 4 ? 4 : n > 1024 ? 1024 : (unsigned)n;
}

/* The arena is reserved as address space only (MAP_NORESERVE, untouched); memory arrives
 * huge page by huge page as buffers are cut from it. */
static void map_arena(struct bufpool *p)
{
    size_t span = BUFPOOL_ARENA_BYTES + BUFPOOL_HUGE_PAGE;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        return;
    char *a =
        (char *)(((uintptr_t)m + BUFPOOL_HUGE_PAGE - 1) & ~(uintptr_t)(BUFPOOL_HUGE_PAGE - 1));
    if (a > m)
        munmap(m, (size_t)(a - m));
    size_t tail = (size_t)(m + span - (a + BUFPOOL_ARENA_BYTES));
    if (tail)
        munmap(a + BUFPOOL_ARENA_BYTES, tail);
    madvise(a, BUFPOOL_ARENA_BYTES, MADV_HUGEPAGE); /* best effort: without THP, 4 KiB pages */
    /* I/O buffers are nobody's business in a child process (helpers we spawn). */
    madvise(a, BUFPOOL_ARENA_BYTES, MADV_DONTFORK);
    p->arena = a;
}

static bool in_arena(const struct bufpool *p, const void *buf)
{
    return p->arena && (const char *)buf >= p->arena &&
           (const char *)buf < p->arena + BUFPOOL_ARENA_BYTES;
}

void bufpool_init(struct bufpool *p)
{
    memset(p, 0, sizeof(*p));
    map_arena(p);
}

void bufpool_destroy(struct bufpool *p)
{
    for (unsigned c = 0; c < BUFPOOL_CLASSES; c++) {
        while (p->free[c]) {
            struct bufpool_free *f = p->free[c];
            p->free[c] = f->next;
            if (!in_arena(p, f))
                free(f);
        }
        p->n_free[c] = 0;
    }
    p->spare_bytes = 0;
    if (p->arena) {
        UNPOISON_TAKEN(p->arena, BUFPOOL_ARENA_BYTES); /* the range may be mapped again */
        munmap(p->arena, BUFPOOL_ARENA_BYTES);
    }
    p->arena = NULL;
}

static void push_free(struct bufpool *p, unsigned c, void *buf)
{
    struct bufpool_free *f = buf;
    f->next = p->free[c];
    p->free[c] = f;
    if (!in_arena(p, buf)) {
        p->n_free[c]++;
        p->spare_bytes += class_bytes(c);
    } else {
        POISON_FREE(buf, class_bytes(c));
    }
}

/* Cuts the next huge page of the arena into buffers of class c (at most a huge page each):
 * returns one, files the rest as spares. NULL when the arena is used up or absent. */
static void *cut_huge_page(struct bufpool *p, unsigned c)
{
    size_t bytes = class_bytes(c);
    if (!p->arena || p->arena_used + BUFPOOL_HUGE_PAGE > BUFPOOL_ARENA_BYTES)
        return NULL;
    char *page = p->arena + p->arena_used;
    p->arena_used += BUFPOOL_HUGE_PAGE;
    for (size_t off = bytes; off < BUFPOOL_HUGE_PAGE; off += bytes)
        push_free(p, c, page + off);
    p->allocs += BUFPOOL_HUGE_PAGE / bytes;
    return page;
}

static void *alloc_buffer(struct bufpool *p, unsigned c)
{
    size_t bytes = class_bytes(c);
    void *buf = NULL;
    if (bytes >= BUFPOOL_HUGE_MIN && bytes <= BUFPOOL_HUGE_PAGE && (buf = cut_huge_page(p, c)))
        return buf;
    size_t align = bytes > BUFPOOL_HUGE_PAGE ? BUFPOOL_HUGE_PAGE : 4096;
    if (posix_memalign(&buf, align, bytes) != 0)
        return NULL;
    if (align == BUFPOOL_HUGE_PAGE) /* whole huge pages of it; malloc has mapped it fresh */
        madvise(buf, bytes & ~(BUFPOOL_HUGE_PAGE - 1), MADV_HUGEPAGE);
    p->allocs++;
    return buf;
}

void *bufpool_get(struct bufpool *p, size_t size)
{
    if (size > BUFPOOL_LIMIT)
        return NULL;
    unsigned c = size_class(size ? size : 1);
    struct bufpool_free *f = p->free[c];
    if (f) {
        p->free[c] = f->next;
        if (!in_arena(p, f)) {
            p->n_free[c]--;
            p->spare_bytes -= class_bytes(c);
        } else {
            UNPOISON_TAKEN(f, class_bytes(c));
        }
        return f;
    }
    return alloc_buffer(p, c);
}

void bufpool_put(struct bufpool *p, void *buf, size_t size)
{
    if (!buf)
        return;
    unsigned c = size_class(size ? size : 1);
    if (in_arena(p, buf)) {
        push_free(p, c, buf); /* arena memory stays with the pool either way */
        return;
    }
    if (p->n_free[c] >= class_cap(c) || p->spare_bytes + class_bytes(c) > BUFPOOL_SPARE_BYTES) {
        free(buf);
        return;
    }
    push_free(p, c, buf);
}
