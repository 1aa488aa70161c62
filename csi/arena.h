/* A per-call allocation arena for response messages.
 *
 * Why: a handler builds a protobuf-c response out of many small pieces (strings, repeated
 * entries, nested messages). Giving each piece to an arena that the server layer frees after
 * the reply is packed keeps handlers free of cleanup code and of the question "which fields
 * were malloc'd and which point to static text".
 *
 * Contract: one arena per call, used by one thread. Allocation failure aborts (a CSI plugin
 * that cannot allocate a few hundred bytes cannot answer anyway). arena_free() releases
 * everything at once; the arena can be reused after it. */
#ifndef TANDEM_CSI_ARENA_H
#define TANDEM_CSI_ARENA_H

#include <stddef.h>

struct arena_block;
struct arena {
    struct arena_block *head;
};

void *arena_alloc(struct arena *a, size_t size); /* zeroed */
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A bigger copy of old (old_size bytes) in the arena; old stays allocated until arena_free. */
void *arena_grow(struct arena *a, const void *old, size_t old_size, size_t new_size);
void arena_free(struct arena *a);

/* arena_new(a, T): a zeroed T. */
#define arena_new(a, T) ((T *)arena_alloc((a), sizeof(T)))

#endif
